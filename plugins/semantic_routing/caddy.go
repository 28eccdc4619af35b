package semrouting

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// Names of the plugin in pipelines and Caddy module IDs: Name is this
// router's, BiencoderName the original's (both are the same module).
const (
	Name          = "semantic_routing"
	BiencoderName = "semantic_biencoder_routing"
)

func init() {
	caddy.RegisterModule(Module{})
	caddy.RegisterModule(Biencoder{})
}

// Module is the Caddy module llm_router.utils.semantic_routing.
//
// Configuration is layered: the config file (config_file, else
// LLM_ROUTER_ROUTING_SEMANTIC_BIENCODER_CONFIG), then the other
// LLM_ROUTER_ROUTING_SEMANTIC_BIENCODER_* variables, then the fields below.
//
// Caddyfile:
//
//	util semantic_routing {
//		config_file    <path>      # §8.8's format: embedding_model, settings, routing_targets
//		embedder       <model>     # embedding model (models-config, is_embedding)
//		targets        <name>...   # keep only these targets
//		threshold      <similarity>
//		top_k          <n>         # examples averaged per target (1)
//		fallback_model <model>     # below the threshold; else "auto" stays for the next util
//		cache_dir      <dir>       # example vectors (default: Caddy's data dir)
//		fail_open                  # embedding model down: fallback instead of 503
//	}
type Module struct {
	// ConfigFile is a routing config; empty means the variable.
	ConfigFile string `json:"config_file,omitempty"`
	// Embedder overrides embedding_model.
	Embedder string `json:"embedder,omitempty"`
	// Targets keeps only the named targets.
	Targets []string `json:"targets,omitempty"`
	// Threshold overrides settings.similarity_threshold.
	Threshold *float64 `json:"threshold,omitempty"`
	// TopK overrides settings.top_k.
	TopK int `json:"top_k,omitempty"`
	// FallbackModel overrides settings.fallback_model.
	FallbackModel string `json:"fallback_model,omitempty"`
	// CacheDir overrides settings.vector_store_path.
	CacheDir string `json:"cache_dir,omitempty"`
	// FailOpen routes to the fallback while the embedding model fails.
	FailOpen bool `json:"fail_open,omitempty"`

	name string
	r    *Router
	// stopWarm ends the embedding of the examples started by UseEmbedder
	// and waits for it.
	stopWarm func()
}

// Biencoder is the same module under the original's name,
// llm_router.utils.semantic_biencoder_routing.
type Biencoder struct{ Module }

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils." + Name, New: func() caddy.Module { return new(Module) }}
}

// CaddyModule implements caddy.Module.
func (Biencoder) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils." + BiencoderName, New: func() caddy.Module {
		return &Biencoder{Module{name: BiencoderName}}
	}}
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(ctx caddy.Context) error {
	if mo.name == "" {
		mo.name = Name
	}
	cfg, err := mo.config(svcmod.Getenv(ctx))
	if err != nil {
		return err
	}
	dir := cfg.Settings.VectorStorePath
	if dir == "" {
		dir = filepath.Join(caddy.AppDataDir(), "semantic_routing")
	}
	r, err := New(mo.name, cfg, caddy.NewReplacer().ReplaceAll(dir, ""), mo.FailOpen)
	if err != nil {
		return fmt.Errorf("%s: %w", mo.name, err)
	}
	logger := ctx.Logger()
	r.OnFailure = func(err error) { logger.Warn("semantic routing", zap.Error(err)) }
	mo.r = r
	return nil
}

// config layers the file, the environment and the fields.
func (mo *Module) config(getenv func(string) string) (*Config, error) {
	src := mo.ConfigFile
	if src == "" {
		src = getenv(EnvConfig)
	}
	if src == "" {
		return nil, fmt.Errorf("%s: no routing config: set config_file or %s", mo.name, EnvConfig)
	}
	cfg, err := ReadConfig(src)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", mo.name, err)
	}
	if err := cfg.ApplyEnv(getenv); err != nil {
		return nil, fmt.Errorf("%s: %w", mo.name, err)
	}
	if mo.Embedder != "" {
		cfg.EmbeddingModel = mo.Embedder
	}
	if len(mo.Targets) > 0 {
		if err := cfg.Keep(mo.Targets); err != nil {
			return nil, fmt.Errorf("%s: targets: %w", mo.name, err)
		}
	}
	if mo.Threshold != nil {
		cfg.Settings.SimilarityThreshold = *mo.Threshold
	}
	if mo.TopK != 0 {
		cfg.Settings.TopK = mo.TopK
	}
	if mo.FallbackModel != "" {
		cfg.Settings.FallbackModel = mo.FallbackModel
	}
	if mo.CacheDir != "" {
		cfg.Settings.VectorStorePath = mo.CacheDir
	}
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("%s: %w", mo.name, err)
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

// UseEmbedder implements plugins.EmbedderUser: it starts embedding the
// examples (unless the cache had them) in a goroutine that Cleanup stops.
// A failure is logged; the first routed request then tries again.
func (mo *Module) UseEmbedder(e plugins.Embedder) {
	mo.r.UseEmbedder(e)
	if mo.stopWarm != nil {
		mo.stopWarm()
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	mo.stopWarm = func() { cancel(); <-done }
	go func() {
		defer close(done)
		if err := mo.r.Warm(ctx); err != nil && ctx.Err() == nil && mo.r.OnFailure != nil {
			mo.r.OnFailure(fmt.Errorf("examples not embedded at start (the first routed request tries again): %w", err))
		}
	}()
}

// Cleanup implements caddy.CleanerUpper: it stops the embedding of the
// examples if it still runs.
func (mo *Module) Cleanup() error {
	if mo.stopWarm != nil {
		mo.stopWarm()
		mo.stopWarm = nil
	}
	return nil
}

// Apply implements plugins.Util: it replaces r.Model when it is "auto".
func (mo *Module) Apply(ctx context.Context, r *plugins.Request) error { return mo.r.Apply(ctx, r) }

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	name := mo.name
	if name == "" {
		name = Name
	}
	return svcmod.ParseBlock(d, func(opt string, args []string) error {
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
		switch opt {
		case "config_file":
			return one(&mo.ConfigFile)
		case "embedder":
			return one(&mo.Embedder)
		case "fallback_model":
			return one(&mo.FallbackModel)
		case "cache_dir":
			return one(&mo.CacheDir)
		case "targets":
			if len(args) == 0 {
				return d.ArgErr()
			}
			mo.Targets = args
		case "threshold":
			var v string
			if err := one(&v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil || f < -1 || f > 1 {
				return d.Errf("threshold: %q is not a similarity from -1 to 1", v)
			}
			mo.Threshold = &f
		case "top_k":
			var v string
			if err := one(&v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("top_k: %q is not a whole number ≥ 1", v)
			}
			mo.TopK = n
		case "fail_open":
			if len(args) != 0 {
				return d.ArgErr()
			}
			mo.FailOpen = true
		default:
			return svcmod.UnknownOption(d, name, opt)
		}
		return nil
	})
}

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Util          = (*Module)(nil)
	_ plugins.EmbedderUser  = (*Module)(nil)
	_ plugins.Util          = (*Biencoder)(nil)
)
