package naskguard

import (
	"context"
	"errors"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the Caddy module llm_router.guardrails.nask_guard.
//
// Caddyfile:
//
//	nask_guard [<host>] {
//		host      <url>         # default {env.LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST}
//		timeout   <duration>    # default 10s
//		fail_open               # let requests pass unchecked while the service is down
//	}
type Module struct {
	// Host is the service base URL; placeholders such as {env.VAR} are
	// resolved at provision time. Empty means {env.LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST}.
	Host string `json:"host,omitempty"`
	// Timeout bounds one call.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// AllowFailOpen lets requests pass unchecked while the service is unavailable.
	AllowFailOpen bool `json:"fail_open,omitempty"`

	g *plugins.HTTPGuardrail
}

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.guardrails." + Name, New: func() caddy.Module { return new(Module) }}
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(caddy.Context) error {
	host := mo.Host
	if host == "" {
		host = "{env." + HostEnv + "}"
	}
	host = caddy.NewReplacer().ReplaceAll(host, "")
	if host == "" {
		return errors.New(Name + ": no service host: set host or " + HostEnv)
	}
	g, err := New(Config{Host: host, Timeout: time.Duration(mo.Timeout), FailOpen: mo.AllowFailOpen})
	if err != nil {
		return err
	}
	mo.g = g
	return nil
}

// Validate implements caddy.Validator.
func (mo *Module) Validate() error {
	if mo.g == nil {
		return errors.New(Name + ": not provisioned")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (mo *Module) Cleanup() error {
	if mo.g != nil {
		mo.g.Close()
	}
	return nil
}

// Check implements plugins.Guardrail.
func (mo *Module) Check(ctx context.Context, texts []string) (plugins.Decision, error) {
	return mo.g.Check(ctx, texts)
}

// ServiceName implements plugins.Service.
func (mo *Module) ServiceName() string { return Name }

// PingURL implements plugins.Service.
func (mo *Module) PingURL() string { return mo.g.PingURL() }

// FailOpen implements plugins.Service.
func (mo *Module) FailOpen() bool { return mo.AllowFailOpen }

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		mo.Host = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		switch opt {
		case "host":
			if len(args) != 1 {
				return d.ArgErr()
			}
			mo.Host = args[0]
		case "timeout":
			if len(args) != 1 {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("timeout: invalid duration %q", args[0])
			}
			mo.Timeout = caddy.Duration(dur)
		case "fail_open":
			if len(args) != 0 {
				return d.ArgErr()
			}
			mo.AllowFailOpen = true
		default:
			return d.Errf("unknown %s option %q", Name, opt)
		}
	}
	return nil
}

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Guardrail     = (*Module)(nil)
	_ plugins.Service       = (*Module)(nil)
)
