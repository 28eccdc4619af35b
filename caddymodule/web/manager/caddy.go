package manager

import (
	"context"
	"fmt"
	"net/http"
	"path/filepath"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// EnvDatabaseURL names the variable with the database URL of the embedded
// default Caddyfile.
const EnvDatabaseURL = "LLM_ROUTER_WEB_DATABASE_URL"

// DefaultSessionTTL is how long a login lasts.
const DefaultSessionTTL = 12 * time.Hour

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("llm_router_configs", parseDirective)
	// After `route`, like llm_router_anonymizer: ahead of every handler that
	// answers requests (llm_router included), so /manager/ is served here.
	httpcaddyfile.RegisterDirectiveOrder("llm_router_configs", httpcaddyfile.After, "route")
}

// Handler is the `http.handlers.llm_router_configs` module: the Config
// Manager web app under /manager/ (users, projects, configs with version
// history, activation). Every other path goes to the next handler.
type Handler struct {
	// Enabled turns the app on; off, every request passes through
	// (LLM_ROUTER_WEB_CONFIG_MANAGER in the embedded Caddyfile).
	Enabled bool `json:"enabled,omitempty"`
	// Database is a SQLite file path or a postgres:// URL (default
	// LLM_ROUTER_WEB_DATABASE_URL, else a SQLite file under the state
	// directory).
	Database string `json:"database,omitempty"`
	// KeyFile holds the key that seals provider tokens (default
	// manager.key next to a SQLite database, else under the state
	// directory); created with mode 0600 at first start.
	KeyFile string `json:"key_file,omitempty"`
	// ModelsConfig is the models-config file an activation writes (default:
	// the file the running llm_router app reads; with none, one next to the
	// database).
	ModelsConfig string `json:"models_config,omitempty"`
	// Admin is this process's Caddy admin endpoint, which an activation
	// uses to reload the router in place (default $CADDY_ADMIN, else
	// localhost:2019).
	Admin string `json:"admin,omitempty"`
	// SessionTTL is how long a login lasts (default 12h).
	SessionTTL caddy.Duration `json:"session_ttl,omitempty"`

	app     *shared
	strict  bool // the router refuses unknown fields (strict_models_config)
	applier *activate.Applier
	stop    context.CancelFunc
	done    chan struct{}
	pages   *pages
	cop     *http.CrossOriginProtection
	mux     *http.ServeMux
	logger  *zap.Logger
	poolK   string
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.llm_router_configs", New: func() caddy.Module { return new(Handler) }}
}

// Provision opens the database (shared across config reloads), loads the
// templates and builds the routes.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	if !h.Enabled {
		return nil
	}
	if h.SessionTTL <= 0 {
		h.SessionTTL = caddy.Duration(DefaultSessionTTL)
	}
	repl := caddy.NewReplacer()
	db := strings.TrimSpace(repl.ReplaceAll(h.Database, ""))
	if db == "" {
		db = strings.TrimSpace(repl.ReplaceAll("{env."+EnvDatabaseURL+"}", ""))
	}
	keyFile := strings.TrimSpace(repl.ReplaceAll(h.KeyFile, ""))
	cfg := sharedConfig{Database: db, KeyFile: keyFile}
	h.poolK = cfg.key()
	v, _, err := pool.LoadOrNew(h.poolK, func() (caddy.Destructor, error) {
		return openShared(cfg)
	})
	if err != nil {
		h.poolK = ""
		return fmt.Errorf("manager: %w", err)
	}
	h.app = v.(*shared)
	fallback := db
	if fallback == "" || strings.Contains(fallback, "://") {
		fallback = store.DefaultURL()
	}
	newApplier := func() *activate.Applier {
		return &activate.Applier{
			Path:         strings.TrimSpace(repl.ReplaceAll(h.ModelsConfig, "")),
			FallbackPath: filepath.Join(filepath.Dir(strings.TrimPrefix(fallback, "file:")), "models-config.json"),
			Key:          h.app.key,
			Admin:        strings.TrimSpace(repl.ReplaceAll(h.Admin, "")),
			Logger:       h.logger,
		}
	}
	h.applier = newApplier()
	if v, err := ctx.AppIfConfigured("llm_router"); err == nil {
		if a, ok := v.(*caddymodule.App); ok {
			h.strict = a.StrictModelsConfig
		}
	}
	// Every instance that uses the database serves its active config (a
	// fleet on PostgreSQL); the follower ends with this config. It has an
	// applier of its own: Apply holds a lock while it reloads Caddy, and a
	// reload waits (in Cleanup) for the follower to end; sharing the lock
	// with the activate page would deadlock when both apply at once.
	follow := newApplier()
	fctx, cancel := context.WithCancel(ctx)
	h.stop, h.done = cancel, make(chan struct{})
	go func() {
		defer close(h.done)
		if err := activate.Follow(fctx, h.app.st, follow, h.logger); err != nil && fctx.Err() == nil {
			h.logger.Error("manager: following the active config stopped", zapErr(err))
		}
	}()
	if h.pages, err = loadPages(); err != nil {
		return err
	}
	h.cop = http.NewCrossOriginProtection()
	h.mux = h.routes()
	return nil
}

// Cleanup releases this config's hold on the shared database.
func (h *Handler) Cleanup() error {
	if h.stop != nil {
		h.stop()
		<-h.done
	}
	if h.poolK == "" {
		return nil
	}
	_, err := pool.Delete(h.poolK)
	return err
}

// pool holds the open databases (and their fleet followers) across config
// reloads, reference-counted by the configs that use them: an activation
// reloads the config, and the database must not close under it.
var pool = caddy.NewUsagePool()

// ServeHTTP serves /manager and below and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.Enabled || (r.URL.Path != Root && !strings.HasPrefix(r.URL.Path, Root+"/")) {
		return next.ServeHTTP(w, r)
	}
	h.mux.ServeHTTP(w, r)
	return nil
}

func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads the directive:
//
//	llm_router_configs [on|off] {
//		enabled       on|off     # the same as the argument
//		database      <url>      # SQLite path or postgres://; default {env.LLM_ROUTER_WEB_DATABASE_URL}
//		key_file      <path>     # token sealing key; created at first start
//		models_config <path>     # what an activation writes; default the llm_router app's
//		admin         <address>  # this process's admin endpoint; default $CADDY_ADMIN, else localhost:2019
//		session_ttl   <duration> # default 12h
//	}
//
// The directive alone turns the app on; on and off accept the spellings of
// the LLM_ROUTER_* switches (true/1/yes/on, false/0/no/off, empty).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	h.Enabled = true
	if d.NextArg() {
		on, err := parseSwitch(d, d.Val())
		if err != nil {
			return err
		}
		h.Enabled = on
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		if len(args) > 1 {
			return d.ArgErr()
		}
		val := ""
		if len(args) == 1 {
			val = args[0]
		}
		switch opt {
		case "enabled":
			on, err := parseSwitch(d, val)
			if err != nil {
				return err
			}
			h.Enabled = on
		case "database":
			h.Database = val
		case "key_file":
			h.KeyFile = val
		case "models_config":
			h.ModelsConfig = val
		case "admin":
			h.Admin = val
		case "session_ttl":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("session_ttl: invalid duration %q", val)
			}
			h.SessionTTL = caddy.Duration(dur)
		default:
			return d.Errf("unknown llm_router_configs option %q", opt)
		}
	}
	return nil
}

func parseSwitch(d *caddyfile.Dispenser, s string) (bool, error) {
	if on, ok := env.Switch(s); ok {
		return on, nil
	}
	return false, d.Errf("llm_router_configs: %q is not on or off", s)
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
