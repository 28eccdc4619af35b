package simplerouting

import (
	"context"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// TestProvisionEnviron checks that Provision reads the environment the
// llm_router app hands down (svcmod.WithEnviron), not the process's, and
// the process's when the module is provisioned on its own.
func TestProvisionEnviron(t *testing.T) {
	t.Setenv(EnvModels, "p1|p2|p3")
	t.Setenv(EnvDefaultModel, "process-default")
	base := caddy.Context{Context: context.Background()}
	tests := []struct {
		name string
		ctx  caddy.Context
		pool []string
		def  string
	}{
		{"snapshot", svcmod.WithEnviron(base, []string{EnvModels + "=s1|s2|s3", EnvDefaultModel + "=snapshot-default"}),
			[]string{"s1", "s2", "s3"}, "snapshot-default"},
		{"no snapshot", base, []string{"p1", "p2", "p3"}, "process-default"},
	}
	for _, tt := range tests {
		m := &Module{}
		if err := m.Provision(tt.ctx); err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !slices.Equal(m.r.pool, tt.pool) || m.r.defaultModel != tt.def {
			t.Errorf("%s: pool %v default %q, want %v %q", tt.name, m.r.pool, m.r.defaultModel, tt.pool, tt.def)
		}
	}
}
