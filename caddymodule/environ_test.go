package caddymodule

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// envProbe is a utils plugin that keeps the environment lookup it was
// provisioned with.
type envProbe struct{ getenv func(string) string }

func (envProbe) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils.envprobe_test", New: func() caddy.Module { return new(envProbe) }}
}

func (p *envProbe) Provision(ctx caddy.Context) error {
	p.getenv = svcmod.Getenv(ctx)
	return nil
}

func (*envProbe) Apply(context.Context, *plugins.Request) error { return nil }

func init() { caddy.RegisterModule(envProbe{}) }

// TestAppHandsPluginsItsEnviron checks that the plugins the app loads read
// the environment the app read at its config load, not the process's
// current one.
func TestAppHandsPluginsItsEnviron(t *testing.T) {
	const key = "LLM_ROUTER_ENVPROBE_TEST"
	t.Setenv(key, "at-load")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &App{UtilsRaw: []json.RawMessage{json.RawMessage(`{"util":"envprobe_test"}`)}}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	defer a.Cleanup()
	if len(a.pipeline.Utils) != 1 {
		t.Fatalf("utils %v, want the probe", a.pipeline.Utils)
	}
	probe, ok := a.pipeline.Utils[0].(*envProbe)
	if !ok {
		t.Fatalf("utils[0] is %T", a.pipeline.Utils[0])
	}
	t.Setenv(key, "after-load")
	if got := probe.getenv(key); got != "at-load" {
		t.Errorf("plugin reads %s = %q, want the app's snapshot %q", key, got, "at-load")
	}
}
