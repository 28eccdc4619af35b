package balance

import (
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestStrategyModules(t *testing.T) {
	for _, tc := range []struct {
		input string
		want  Policy
		err   bool
	}{
		{"balanced", Policy{Kind: Balanced}, false},
		{"weighted", Policy{Kind: Weighted}, false},
		{"dynamic_weighted", Policy{Kind: DynamicWeighted}, false},
		{"first_available", Policy{Kind: FirstAvailable}, false},
		{"first_available 30s", Policy{Kind: FirstAvailable, QueueTimeout: 30 * time.Second}, false},
		{"first_available_optim {\n queue_timeout 2m\n}", Policy{Kind: FirstAvailableOptim, QueueTimeout: 2 * time.Minute}, false},
		{"balanced extra", Policy{}, true},
		{"weighted {\n speed 3\n}", Policy{}, true},
		{"first_available soon", Policy{}, true},
		{"first_available {\n queue_timeout\n}", Policy{}, true},
		{"first_available {\n retries 3\n}", Policy{}, true},
	} {
		name := caddyfile.NewTestDispenser(tc.input)
		name.Next()
		mod, err := caddy.GetModule("llm_router.strategies." + name.Val())
		if err != nil {
			t.Fatalf("%q: %v", tc.input, err)
		}
		m := mod.New()
		err = m.(caddyfile.Unmarshaler).UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.input))
		if (err != nil) != tc.err {
			t.Errorf("%q: error %v, want error %v", tc.input, err, tc.err)
			continue
		}
		if !tc.err && m.(Strategy).Policy() != tc.want {
			t.Errorf("%q: policy %+v, want %+v", tc.input, m.(Strategy).Policy(), tc.want)
		}
	}
}
