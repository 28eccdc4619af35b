package semrouting

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// TestProvisionEnviron checks that Provision reads the environment the
// llm_router app hands down (svcmod.WithEnviron), not the process's, and
// the process's when the module is provisioned on its own: the config file
// it tries to read is the one the snapshot names.
func TestProvisionEnviron(t *testing.T) {
	dir := t.TempDir()
	process, snapshot := filepath.Join(dir, "process.json"), filepath.Join(dir, "snapshot.json")
	t.Setenv(EnvConfig, process)
	base := caddy.Context{Context: context.Background()}
	tests := []struct {
		name string
		ctx  caddy.Context
		want string // in the error: neither file exists
	}{
		{"snapshot", svcmod.WithEnviron(base, []string{EnvConfig + "=" + snapshot}), snapshot},
		{"empty snapshot", svcmod.WithEnviron(base, nil), "no routing config"},
		{"no snapshot", base, process},
	}
	for _, tt := range tests {
		err := (&Module{}).Provision(tt.ctx)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Provision: %v, want an error naming %q", tt.name, err, tt.want)
		}
	}
}
