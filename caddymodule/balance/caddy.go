package balance

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func init() {
	caddy.RegisterModule(BalancedStrategy{})
	caddy.RegisterModule(WeightedStrategy{})
	caddy.RegisterModule(DynamicWeightedStrategy{})
	caddy.RegisterModule(FirstAvailableStrategy{})
	caddy.RegisterModule(FirstAvailableOptimStrategy{})
}

// BalancedStrategy is the llm_router.strategies.balanced module. Caddyfile:
//
//	balanced
type BalancedStrategy struct{}

// CaddyModule returns the Caddy module information.
func (BalancedStrategy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.strategies.balanced", New: func() caddy.Module { return new(BalancedStrategy) }}
}

// Policy implements Strategy.
func (BalancedStrategy) Policy() Policy { return Policy{Kind: Balanced} }

// UnmarshalCaddyfile accepts the bare name.
func (*BalancedStrategy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return bare(d) }

// WeightedStrategy is the llm_router.strategies.weighted module. Caddyfile:
//
//	weighted
type WeightedStrategy struct{}

// CaddyModule returns the Caddy module information.
func (WeightedStrategy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.strategies.weighted", New: func() caddy.Module { return new(WeightedStrategy) }}
}

// Policy implements Strategy.
func (WeightedStrategy) Policy() Policy { return Policy{Kind: Weighted} }

// UnmarshalCaddyfile accepts the bare name.
func (*WeightedStrategy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return bare(d) }

// DynamicWeightedStrategy is the llm_router.strategies.dynamic_weighted
// module. Caddyfile:
//
//	dynamic_weighted
type DynamicWeightedStrategy struct{}

// CaddyModule returns the Caddy module information.
func (DynamicWeightedStrategy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.strategies.dynamic_weighted", New: func() caddy.Module { return new(DynamicWeightedStrategy) }}
}

// Policy implements Strategy.
func (DynamicWeightedStrategy) Policy() Policy { return Policy{Kind: DynamicWeighted} }

// UnmarshalCaddyfile accepts the bare name.
func (*DynamicWeightedStrategy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error { return bare(d) }

// FirstAvailableStrategy is the llm_router.strategies.first_available
// module. Caddyfile:
//
//	first_available [<queue_timeout>] {
//		queue_timeout <duration>
//	}
type FirstAvailableStrategy struct {
	// QueueTimeout bounds the wait for a free provider; 0: balancer default.
	QueueTimeout caddy.Duration `json:"queue_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (FirstAvailableStrategy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.strategies.first_available", New: func() caddy.Module { return new(FirstAvailableStrategy) }}
}

// Policy implements Strategy.
func (s FirstAvailableStrategy) Policy() Policy {
	return Policy{Kind: FirstAvailable, QueueTimeout: time.Duration(s.QueueTimeout)}
}

// UnmarshalCaddyfile parses the optional queue timeout.
func (s *FirstAvailableStrategy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return queueTimeout(d, &s.QueueTimeout)
}

// FirstAvailableOptimStrategy is the
// llm_router.strategies.first_available_optim module. Caddyfile as for
// first_available.
type FirstAvailableOptimStrategy struct {
	// QueueTimeout bounds the wait for a free provider; 0: balancer default.
	QueueTimeout caddy.Duration `json:"queue_timeout,omitempty"`
}

// CaddyModule returns the Caddy module information.
func (FirstAvailableOptimStrategy) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.strategies.first_available_optim", New: func() caddy.Module { return new(FirstAvailableOptimStrategy) }}
}

// Policy implements Strategy.
func (s FirstAvailableOptimStrategy) Policy() Policy {
	return Policy{Kind: FirstAvailableOptim, QueueTimeout: time.Duration(s.QueueTimeout)}
}

// UnmarshalCaddyfile parses the optional queue timeout.
func (s *FirstAvailableOptimStrategy) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return queueTimeout(d, &s.QueueTimeout)
}

func bare(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		return d.Errf("unrecognized option %q", d.Val())
	}
	return nil
}

func queueTimeout(d *caddyfile.Dispenser, out *caddy.Duration) error {
	d.Next() // module name
	set := func() error {
		v, err := caddy.ParseDuration(d.Val())
		if err != nil || v < 0 {
			return d.Errf("bad queue_timeout %q: want a duration like 60s", d.Val())
		}
		*out = caddy.Duration(v)
		return nil
	}
	if d.NextArg() {
		if err := set(); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		if d.Val() != "queue_timeout" {
			return d.Errf("unrecognized option %q", d.Val())
		}
		if !d.NextArg() {
			return d.ArgErr()
		}
		if err := set(); err != nil {
			return err
		}
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	return nil
}

var (
	_ Strategy              = BalancedStrategy{}
	_ Strategy              = WeightedStrategy{}
	_ Strategy              = DynamicWeightedStrategy{}
	_ Strategy              = FirstAvailableStrategy{}
	_ Strategy              = FirstAvailableOptimStrategy{}
	_ caddyfile.Unmarshaler = (*BalancedStrategy)(nil)
	_ caddyfile.Unmarshaler = (*WeightedStrategy)(nil)
	_ caddyfile.Unmarshaler = (*DynamicWeightedStrategy)(nil)
	_ caddyfile.Unmarshaler = (*FirstAvailableStrategy)(nil)
	_ caddyfile.Unmarshaler = (*FirstAvailableOptimStrategy)(nil)
)
