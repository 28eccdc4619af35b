package piimasker

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins/plugintest"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in   string
		want Module
		err  string
	}{
		{in: `pii_masker`, want: Module{}},
		{in: `pii_masker http://pii:8000`, want: Module{Options: svcmod.Options{Host: "http://pii:8000"}}},
		{in: `pii_masker {
			host {env.PII}
			timeout 3s
			fail_open
			cache_size 500
			cache_ttl 10m
			concurrency 8
		}`, want: Module{Options: svcmod.Options{Host: "{env.PII}", Timeout: caddy.Duration(3 * time.Second), AllowFailOpen: true},
			CacheSize: 500, CacheTTL: caddy.Duration(10 * time.Minute), Concurrency: 8}},
		{in: "pii_masker {\ncache_size off\n}", want: Module{CacheSize: -1}},
		{in: `pii_masker a b`, err: "wrong argument count"},
		{in: "pii_masker {\ntimeout soon\n}", err: `timeout: invalid duration "soon"`},
		{in: "pii_masker {\ntimeout -1s\n}", err: "invalid duration"},
		{in: "pii_masker {\ncache_size 0\n}", err: "cache_size: want a positive number or off"},
		{in: "pii_masker {\nconcurrency x\n}", err: "concurrency: want a positive number"},
		{in: "pii_masker {\nfail_open yes\n}", err: "wrong argument count"},
		{in: "pii_masker {\nhost\n}", err: "wrong argument count"},
		{in: "pii_masker {\ncolour red\n}", err: `unknown pii_masker option "colour"`},
	}
	for _, tt := range tests {
		var m Module
		err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%s: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m, tt.want) {
			t.Errorf("%s: got %+v, %v; want %+v", tt.in, m, err, tt.want)
		}
	}
}

func TestModuleJSONAndProvision(t *testing.T) {
	srv := plugintest.NewServer(t)
	t.Setenv("LLM_ROUTER_MASKER_PII_HOST", srv.URL)

	info := Module{}.CaddyModule()
	if info.ID != "llm_router.maskers.pii_masker" {
		t.Errorf("module ID %q", info.ID)
	}
	mod := info.New().(*Module)
	if err := json.Unmarshal([]byte(`{"timeout":"2s","fail_open":true,"cache_size":3}`), mod); err != nil {
		t.Fatal(err)
	}
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	defer mod.Cleanup()
	if err := mod.Validate(); err != nil {
		t.Fatal(err)
	}
	if !mod.FailOpen() || mod.ServiceName() != "pii_masker" || mod.PingURL() != srv.URL+"/api/ping" {
		t.Errorf("service: %v %q %q", mod.FailOpen(), mod.ServiceName(), mod.PingURL())
	}
	out, _, err := mod.MaskTexts(context.Background(), []string{"x@y.pl"})
	if err != nil || out[0] != "{PII_1}" {
		t.Errorf("MaskTexts = %q, %v", out, err)
	}
}

func TestProvisionNeedsHost(t *testing.T) {
	t.Setenv("LLM_ROUTER_MASKER_PII_HOST", "")
	err := (&Module{}).Provision(caddy.Context{})
	if err == nil || !strings.Contains(err.Error(), "LLM_ROUTER_MASKER_PII_HOST") {
		t.Errorf("err = %v; want a hint naming the variable", err)
	}
	if err := (&Module{Options: svcmod.Options{Host: "pii:1"}}).Provision(caddy.Context{}); err == nil {
		t.Error("host without scheme accepted")
	}
}
