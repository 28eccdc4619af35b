package simplerouting

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// Name is the plugin's name in pipelines and Caddy module IDs.
const Name = "simple_semantic_routing"

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the Caddy module llm_router.utils.simple_semantic_routing.
//
// Configuration is layered: the bundled simple.json (or config_file), then
// the LLM_ROUTER_ROUTING_* environment variables, then the fields below.
//
// Caddyfile:
//
//	simple_semantic_routing {
//		config_file   <path>            # replaces the bundled simple.json
//		models        <model>...        # pool, simplest first
//		thresholds    <simple> <medium> # token limits
//		default_model <model>           # for requests without text
//	}
type Module struct {
	// ConfigFile is a routing config in simple.json's format; empty means
	// the bundled one.
	ConfigFile string `json:"config_file,omitempty"`
	// Models is the model pool, simplest first.
	Models []string `json:"models,omitempty"`
	// Thresholds are the simple and medium token limits.
	Thresholds []int `json:"thresholds,omitempty"`
	// DefaultModel answers requests without text.
	DefaultModel string `json:"default_model,omitempty"`

	r *Router
}

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils." + Name, New: func() caddy.Module { return new(Module) }}
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(ctx caddy.Context) error {
	cfg, err := mo.config(svcmod.Environ(ctx))
	if err != nil {
		return err
	}
	r, err := New(cfg)
	if err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	mo.r = r
	return nil
}

// config layers the bundled (or configured) file, environ and the fields.
func (mo *Module) config(environ []string) (*Config, error) {
	var cfg *Config
	var err error
	if mo.ConfigFile == "" {
		cfg, err = DefaultConfig()
	} else {
		var data []byte
		if data, err = os.ReadFile(mo.ConfigFile); err == nil {
			cfg, err = ParseConfig(data)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if err := cfg.ApplyEnv(environ); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	if len(mo.Models) > 0 {
		cfg.Models = mo.Models
	}
	if len(mo.Thresholds) > 0 {
		if len(mo.Thresholds) != 2 {
			return nil, fmt.Errorf("%s: thresholds: want 2 numbers (simple, medium), got %d", Name, len(mo.Thresholds))
		}
		cfg.Thresholds = [2]int{mo.Thresholds[0], mo.Thresholds[1]}
	}
	if mo.DefaultModel != "" {
		cfg.DefaultModel = mo.DefaultModel
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", Name, err)
	}
	return cfg, nil
}

// Validate implements caddy.Validator.
func (mo *Module) Validate() error {
	if mo.r == nil {
		return errors.New(Name + ": not provisioned")
	}
	return nil
}

// Route returns model unchanged unless it is "auto", in which case it
// returns the model chosen for texts (oldest first).
func (mo *Module) Route(ctx context.Context, model string, texts []string) (string, error) {
	return mo.r.Route(ctx, model, texts)
}

// Choose picks a model for texts and says why (see [Router.Choose]).
func (mo *Module) Choose(texts []string) (model, reason string) {
	return mo.r.Choose(texts)
}

// Apply implements plugins.Util: it replaces r.Model when it is "auto",
// and says why in r.Reason (for the request log).
func (mo *Module) Apply(ctx context.Context, r *plugins.Request) error {
	if r.Model != Auto {
		return nil
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("%s: %w", Name, err)
	}
	r.Model, r.Reason = mo.r.Choose(r.Texts)
	return nil
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return svcmod.ParseBlock(d, func(opt string, args []string) error {
		switch opt {
		case "config_file":
			if len(args) != 1 {
				return d.ArgErr()
			}
			mo.ConfigFile = args[0]
		case "models":
			if len(args) == 0 {
				return d.ArgErr()
			}
			mo.Models = args
		case "thresholds":
			if len(args) != 2 {
				return d.ArgErr()
			}
			mo.Thresholds = nil
			for _, a := range args {
				n, err := strconv.Atoi(a)
				if err != nil || n < 0 {
					return d.Errf("thresholds: %q is not a whole number", a)
				}
				mo.Thresholds = append(mo.Thresholds, n)
			}
		case "default_model":
			if len(args) != 1 {
				return d.ArgErr()
			}
			mo.DefaultModel = args[0]
		default:
			return svcmod.UnknownOption(d, Name, opt)
		}
		return nil
	})
}

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Util          = (*Module)(nil)
)
