package piimasker

import (
	"context"
	"errors"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the Caddy module llm_router.maskers.pii_masker.
//
// Caddyfile:
//
//	pii_masker [<host>] {
//		host        <url>             # default {env.LLM_ROUTER_MASKER_PII_HOST}
//		timeout     <duration>        # default 10s
//		fail_open                     # pass requests unmasked while the service is down
//		cache_size  <entries>|off     # default 10000
//		cache_ttl   <duration>        # default 1h
//		concurrency <n>               # parallel calls per request, default 4
//	}
type Module struct {
	// Host, Timeout and AllowFailOpen (pass requests unmasked while the
	// service is down); Host defaults to {env.LLM_ROUTER_MASKER_PII_HOST}.
	svcmod.Options
	// CacheSize is the number of cached texts; negative disables the cache.
	CacheSize int `json:"cache_size,omitempty"`
	// CacheTTL is how long a cached answer is used.
	CacheTTL caddy.Duration `json:"cache_ttl,omitempty"`
	// Concurrency caps parallel service calls of one request.
	Concurrency int `json:"concurrency,omitempty"`

	m *Masker
}

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.maskers." + Name, New: func() caddy.Module { return new(Module) }}
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(caddy.Context) error {
	host, err := mo.ResolveHost(Name, plugins.EnvPIIMaskerHost)
	if err != nil {
		return err
	}
	m, err := New(Config{
		Host:        host,
		Timeout:     time.Duration(mo.Timeout),
		FailOpen:    mo.AllowFailOpen,
		CacheSize:   mo.CacheSize,
		CacheTTL:    time.Duration(mo.CacheTTL),
		Concurrency: mo.Concurrency,
	})
	if err != nil {
		return err
	}
	mo.m = m
	return nil
}

// Validate implements caddy.Validator.
func (mo *Module) Validate() error {
	if mo.m == nil {
		return errors.New(Name + ": not provisioned")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (mo *Module) Cleanup() error {
	if mo.m != nil {
		mo.m.Close()
	}
	return nil
}

// MaskTexts implements plugins.Masker.
func (mo *Module) MaskTexts(ctx context.Context, texts []string) ([]string, map[string]string, error) {
	return mo.m.MaskTexts(ctx, texts)
}

// ServiceName implements plugins.Service.
func (mo *Module) ServiceName() string { return Name }

// PingURL implements plugins.Service.
func (mo *Module) PingURL() string { return mo.m.PingURL() }

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return mo.ParseCaddyfile(d, Name, func(opt string, args []string) error {
		if len(args) != 1 {
			return d.ArgErr()
		}
		v := args[0]
		switch opt {
		case "cache_ttl":
			dur, err := caddy.ParseDuration(v)
			if err != nil || dur <= 0 {
				return d.Errf("%s: invalid duration %q", opt, v)
			}
			mo.CacheTTL = caddy.Duration(dur)
		case "cache_size":
			if v == "off" {
				mo.CacheSize = -1
				return nil
			}
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("cache_size: want a positive number or off, got %q", v)
			}
			mo.CacheSize = n
		case "concurrency":
			n, err := strconv.Atoi(v)
			if err != nil || n <= 0 {
				return d.Errf("concurrency: want a positive number, got %q", v)
			}
			mo.Concurrency = n
		default:
			return svcmod.UnknownOption(d, Name, opt)
		}
		return nil
	})
}

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Masker        = (*Module)(nil)
	_ plugins.Service       = (*Module)(nil)
)
