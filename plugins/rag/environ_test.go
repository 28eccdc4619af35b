package rag

import (
	"context"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// TestProvisionEnviron checks that Provision reads the environment the
// llm_router app hands down (svcmod.WithEnviron), not the process's, and
// the process's when the module is provisioned on its own.
func TestProvisionEnviron(t *testing.T) {
	t.Setenv(EnvCollection, "process-collection")
	base, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	tests := []struct {
		name    string
		ctx     caddy.Context
		wantErr string // "" means Provision opens the collection
	}{
		{"snapshot", svcmod.WithEnviron(base, []string{EnvCollection + "=handbook"}), ""},
		{"no snapshot", base, `no collection "process-collection"`},
	}
	for _, tt := range tests {
		m := &Module{PersistDir: t.TempDir(), MinScore: new(float64), open: (&memOpener{}).open}
		err := m.Provision(tt.ctx)
		if tt.wantErr == "" && err != nil || tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
			t.Errorf("%s: Provision: %v, want %q", tt.name, err, tt.wantErr)
		}
		if err == nil {
			if err := m.Cleanup(); err != nil {
				t.Errorf("%s: Cleanup: %v", tt.name, err)
			}
		}
	}
}
