package svcmod

import (
	"context"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
)

// TestEnviron checks that a snapshot handed down with WithEnviron is what
// Getenv and Environ read, and that without one they read the process.
func TestEnviron(t *testing.T) {
	const key = "LLM_ROUTER_SVCMOD_ENVIRON_TEST"
	t.Setenv(key, "process")
	base := caddy.Context{Context: context.Background()}
	tests := []struct {
		name    string
		ctx     caddy.Context
		want    string
		wantKV  bool // Environ lists key=want
		inverse bool // Environ must not list key=process
	}{
		{"snapshot", WithEnviron(base, []string{"A=1", key + "=snap", key + "=second", "B"}), "snap", true, true},
		{"empty snapshot", WithEnviron(base, nil), "", false, true},
		{"no snapshot", base, "process", true, false},
		{"zero context", caddy.Context{}, "process", true, false},
	}
	for _, tt := range tests {
		if got := Getenv(tt.ctx)(key); got != tt.want {
			t.Errorf("%s: Getenv(%s) = %q, want %q", tt.name, key, got, tt.want)
		}
		list := Environ(tt.ctx)
		if tt.wantKV && !slices.Contains(list, key+"="+tt.want) {
			t.Errorf("%s: Environ() lacks %s=%s", tt.name, key, tt.want)
		}
		if tt.inverse && slices.Contains(list, key+"=process") {
			t.Errorf("%s: Environ() lists the process's %s", tt.name, key)
		}
	}
}

// TestWithEnvironCopies checks that the snapshot does not change when the
// caller's slice or the one Environ returned is modified afterwards.
func TestWithEnvironCopies(t *testing.T) {
	in := []string{"K=v"}
	ctx := WithEnviron(caddy.Context{Context: context.Background()}, in)
	in[0] = "K=changed"
	Environ(ctx)[0] = "K=changed"
	if got := Getenv(ctx)("K"); got != "v" {
		t.Errorf("Getenv(K) = %q, want v", got)
	}
	if got := Environ(ctx); !slices.Equal(got, []string{"K=v"}) {
		t.Errorf("Environ() = %q, want [K=v]", got)
	}
}
