// Package caddymodule is the Caddy face of llm-router: the `llm_router` app,
// which owns what must outlive a config reload (model registry, provider
// transports and balancer state) and builds the request engine of its
// config from them, and the `http.handlers.llm_router` handler, which
// serves the engine's endpoint table. The request path itself is package
// engine, which knows no Caddy.
package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/audit"
	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
	"github.com/llmrouter/llm-router/resources"
)

func init() {
	caddy.RegisterModule(App{})
}

// DefaultModelsConfig is where the packaged models configuration lives.
const DefaultModelsConfig = "/etc/llm-router/models-config.json"

// DefaultMaxResponseBody is the default bound of a provider's non-streamed
// answer (max_response_body): far above any real completion or embedding
// batch, far below what would hurt the router.
const DefaultMaxResponseBody = 64 << 20

// MaxErrorBody bounds a provider's error answer (status 3xx and up),
// streamed requests included: error objects are a few hundred bytes.
const MaxErrorBody = engine.MaxErrorBody

// Version is the router version reported by {prefix}/version; set at link time
// with -X github.com/llmrouter/llm-router/caddymodule.Version=….
var Version = "0.1.0-dev"

// pool holds state shared across config reloads (provider transports,
// balancer counters), reference-counted by the configs that use it.
var pool = caddy.NewUsagePool()

// App is the `llm_router` Caddy app. It loads the models configuration and
// prepares one upstream client per provider.
type App struct {
	// ModelsConfig is the path of models-config.json. Empty means
	// LLM_ROUTER_MODELS_CONFIG, then /etc/llm-router/models-config.json when it
	// exists, then the example embedded in the binary.
	ModelsConfig string `json:"models_config,omitempty"`
	// ModelsConfigHash is the SHA-256 of the models-config file, set by the
	// Caddyfile adapter. Caddy skips a reload whose config is unchanged;
	// because the hash changes with the file, reloading the same Caddyfile
	// applies a changed models-config.
	ModelsConfigHash string `json:"models_config_hash,omitempty"`
	// StrictModelsConfig refuses unknown fields in the models-config
	// (a misspelled "api_tokn") instead of logging a warning.
	StrictModelsConfig bool `json:"strict_models_config,omitempty"`
	// ConnectTimeout bounds connecting to a provider (default 10s).
	ConnectTimeout caddy.Duration `json:"connect_timeout,omitempty"`
	// ExternalTimeout bounds the wait for a provider's answer: the response
	// headers, a whole non-streamed body, and any silence inside a stream
	// (LLM_ROUTER_EXTERNAL_TIMEOUT, default 300s).
	ExternalTimeout caddy.Duration `json:"external_timeout,omitempty"`

	// MaxResponseBody bounds a provider's non-streamed answer, in bytes
	// (default 64 MiB): past it the router stops reading, closes the
	// connection and answers 502. Error answers are bounded by
	// MaxErrorBody. It also bounds what all answers being read at once
	// hold together beyond 256 KiB each: past that, 503 with Retry-After.
	MaxResponseBody int64 `json:"max_response_body,omitempty"`

	// AuditDir enables the encrypted audit log in this directory
	// (LLM_ROUTER_AUDIT_DIR); AuditPublicKey is the armored OpenPGP public
	// key records are encrypted to (LLM_ROUTER_AUDIT_PUBLIC_KEY).
	AuditDir       string `json:"audit_dir,omitempty"`
	AuditPublicKey string `json:"audit_public_key,omitempty"`
	// Strategy is the default load-balancing strategy: balanced, weighted,
	// dynamic_weighted, first_available or first_available_optim
	// (LLM_ROUTER_BALANCE_STRATEGY, default balanced).
	Strategy string `json:"strategy,omitempty"`
	// ModelStrategies overrides the strategy per model: model name → an
	// llm_router.strategies.* module ({"policy": "first_available", ...}).
	ModelStrategies map[string]json.RawMessage `json:"model_strategies,omitempty"`
	// UtilsRaw, MaskersRaw, RequestGuardrailsRaw and ResponseGuardrailsRaw
	// configure the plugin pipelines in the Caddyfile; each one that is set
	// replaces its LLM_ROUTER_* pipeline variable.
	UtilsRaw              []json.RawMessage `json:"utils,omitempty" caddy:"namespace=llm_router.utils inline_key=util"`
	MaskersRaw            []json.RawMessage `json:"maskers,omitempty" caddy:"namespace=llm_router.maskers inline_key=masker"`
	RequestGuardrailsRaw  []json.RawMessage `json:"request_guardrails,omitempty" caddy:"namespace=llm_router.guardrails inline_key=guardrail"`
	ResponseGuardrailsRaw []json.RawMessage `json:"response_guardrails,omitempty" caddy:"namespace=llm_router.guardrails inline_key=guardrail"`
	// ForceMasking masks every request (LLM_ROUTER_FORCE_MASKING), not only
	// those with "anonymize": true.
	ForceMasking bool `json:"force_masking,omitempty"`
	// QueueTimeout bounds the wait for a free provider under the
	// first_available strategies (default 60s), then 503 with Retry-After.
	QueueTimeout caddy.Duration `json:"queue_timeout,omitempty"`
	// Redis shares balancer state (and API keys, rate limits) across router
	// instances (LLM_ROUTER_REDIS_HOST, _PORT, _PASSWORD, _DB).
	Redis *RedisOptions `json:"redis,omitempty"`
	// Cooldown is how long a provider rests after CooldownFailures failures
	// in a row (connection error, timeout, 429, 5xx) before it is chosen
	// again (default 10s; negative, or "off" in the Caddyfile: no passive
	// cool-down).
	Cooldown caddy.Duration `json:"cooldown,omitempty"`
	// CooldownFailures is how many failures in a row cool a provider down
	// (default 3): a success ends the run, so one bad request cannot take a
	// provider offline. With Redis the run is counted across the fleet.
	CooldownFailures int `json:"cooldown_failures,omitempty"`
	// CooldownWindow is how long a run of failures lasts without a new one
	// before it lapses (default 60s).
	CooldownWindow caddy.Duration `json:"cooldown_window,omitempty"`
	// Retries configure failover: attempts, backoff and which failures are
	// retried (default: 3 attempts, 25ms doubling, every failure class).
	Retries *RetryOptions `json:"retries,omitempty"`
	// Transport is the provider transport: h1 (default: the router's
	// HTTP/1.1 client for http:// providers, net/http for https://) or
	// net_http (net/http for every provider).
	Transport string `json:"transport,omitempty"`
	// ProviderTransports overrides Transport per provider id.
	ProviderTransports map[string]string `json:"provider_transports,omitempty"`
	// MonitorInterval is the provider health-probe period
	// (LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS, default 5s).
	MonitorInterval caddy.Duration `json:"monitor_interval,omitempty"`

	cfg        *config.Config
	upstreams  map[string]*provider.Upstream
	poolKeys   []string
	tokens     map[string]string
	balancer   *balance.Balancer
	cands      map[string][]balance.Candidate
	strategies map[string]balance.Strategy
	provMon    *monitor.ProviderMonitor
	keepAlive  *monitor.KeepAliveMonitor
	logger     *zap.Logger
	ctx        caddy.Context
	vars       env.Vars // the LLM_ROUTER_* variables, read once by Provision
	env        plugins.Env
	pipeline   *plugins.Pipeline
	monitor    *plugins.ServicesMonitor
	metrics    *engine.Metrics
	auditLog   *audit.Log
	redis      redis.UniversalClient
	redisID    string // identity of redis (password hashed), for pool keys
	retry      engine.RetryPolicy
	eng        *engine.Engine // the request path over the parts above
}

// CaddyModule returns the Caddy module information.
func (App) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router", New: func() caddy.Module { return new(App) }}
}

// Provision loads and validates the models configuration. An invalid
// configuration fails provisioning, so Caddy refuses to start (or refuses the
// reload and keeps serving the previous config).
func (a *App) Provision(ctx caddy.Context) error {
	a.logger = ctx.Logger()
	// The one reading of the environment per config load: the app's
	// variables and the plugins it loads (svcmod.Getenv) share it.
	ctx = svcmod.WithEnviron(ctx, os.Environ())
	a.vars = env.Read(svcmod.Getenv(ctx))
	if err := a.loadProviders(a.transport); err != nil {
		return err
	}
	var err error
	a.ctx = ctx
	if err := a.buildPipeline(ctx); err != nil {
		return err
	}
	if a.metrics, err = a.loadMetrics(ctx); err != nil {
		return err
	}
	if err := a.provisionBalancer(ctx); err != nil {
		return err
	}
	if err := a.openAudit(); err != nil {
		return err
	}
	a.eng = engine.New(a.engineOptions())
	useEmbedder(a.pipeline, a.eng)
	a.logger.Info("models configuration loaded", zap.String("source", a.cfg.Source), zap.Int("models", len(a.cfg.Models())))
	return nil
}

// engineOptions are the parts of the app's engine.
func (a *App) engineOptions() engine.Options {
	o := engine.Options{Config: a.cfg, Upstreams: a.upstreams, Balancer: leases{a}, Metrics: a.metrics, Pipeline: a.pipeline,
		Env: a.env, Retry: a.retry, ExternalTimeout: time.Duration(a.ExternalTimeout), MaxResponseBody: a.MaxResponseBody,
		Logger: a.logger}
	if a.auditLog != nil {
		o.Audit = a.auditLog
	}
	return o
}

// loadProviders settles the provider options (timeouts, answer bound,
// retries, transports), loads the models configuration and prepares one
// upstream client per provider over the transport that transport returns
// (with the key of the pool entry it holds, if any).
func (a *App) loadProviders(transport func(p *config.Provider) (http.RoundTripper, string, error)) error {
	if a.ConnectTimeout <= 0 {
		a.ConnectTimeout = caddy.Duration(10 * time.Second)
	}
	if a.ExternalTimeout <= 0 {
		a.ExternalTimeout = caddy.Duration(300 * time.Second)
	}
	if a.MaxResponseBody <= 0 {
		a.MaxResponseBody = DefaultMaxResponseBody
	}
	var err error
	if a.retry, err = a.Retries.resolve(); err != nil {
		return err
	}
	if err := checkTransport("transport", a.Transport); err != nil {
		return err
	}
	for id, v := range a.ProviderTransports {
		if err := checkTransport("provider_transport "+id, v); err != nil {
			return err
		}
	}
	cfg, err := a.loadModels()
	if err != nil {
		return err
	}
	for id := range a.ProviderTransports {
		if !hasProvider(cfg, id) {
			return fmt.Errorf("provider_transport: no provider %q in the models configuration", id)
		}
	}
	for _, w := range cfg.Warnings {
		a.logger.Warn(w.Error(), zap.String("file", w.File), zap.String("model", w.Model),
			zap.String("provider", w.Provider), zap.String("field", w.Field))
	}
	a.cfg = cfg
	a.upstreams = map[string]*provider.Upstream{}
	a.tokens = map[string]string{}
	repl := caddy.NewReplacer()
	for _, m := range cfg.Models() {
		for _, p := range m.Providers {
			token := p.APIToken
			if strings.Contains(token, "{") {
				token = repl.ReplaceAll(token, "")
				if token == "" {
					a.logger.Warn("provider api_token placeholder resolved to an empty value", zap.String("provider", p.ID))
				}
			}
			rt, key, err := transport(p)
			if err != nil {
				return err
			}
			if key != "" {
				a.poolKeys = append(a.poolKeys, key)
			}
			a.tokens[p.ID] = token
			up, err := provider.New(p, token, rt)
			if err != nil {
				return err
			}
			a.upstreams[p.ID] = up
		}
	}
	return nil
}

// ResolveModelsConfig returns the models-config file the app reads for the
// models_config option path: path itself, else LLM_ROUTER_MODELS_CONFIG, else
// /etc/llm-router/models-config.json when it exists; "" means the example
// embedded in the binary.
func ResolveModelsConfig(path string) string {
	return resolveModelsConfig(path, env.Read(os.Getenv).ModelsConfig)
}

// resolveModelsConfig is ResolveModelsConfig with the variable's value
// fromEnv.
func resolveModelsConfig(path, fromEnv string) string {
	if path == "" {
		path = fromEnv
	}
	if path == "" {
		if _, err := os.Stat(DefaultModelsConfig); err == nil {
			path = DefaultModelsConfig
		}
	}
	return path
}

func (a *App) loadModels() (*config.Config, error) {
	opts := config.Options{Strict: a.StrictModelsConfig}
	path := resolveModelsConfig(a.ModelsConfig, a.vars.ModelsConfig)
	if path == "" {
		data, err := fs.ReadFile(resources.FS, "models-config.json")
		if err != nil {
			return nil, fmt.Errorf("embedded models config: %w", err)
		}
		return opts.Parse("embedded models-config.json", data)
	}
	return opts.LoadFile(path)
}

// hasProvider reports whether some model of cfg has a provider with id.
func hasProvider(cfg *config.Config, id string) bool {
	for _, m := range cfg.Models() {
		for _, p := range m.Providers {
			if p.ID == id {
				return true
			}
		}
	}
	return false
}

type sharedTransport struct{ provider.Transport }

func (t sharedTransport) Destruct() error {
	t.CloseIdleConnections()
	return nil
}

// transport returns the provider's transport from the reload-surviving pool,
// so keep-alive connections stay warm across `caddy reload`.
func (a *App) transport(p *config.Provider) (http.RoundTripper, string, error) {
	kind := a.transportKind(p)
	key := fmt.Sprintf("transport|%s|%s|%d|%d|%s", p.ID, p.APIHost, a.ConnectTimeout, a.ExternalTimeout, kind)
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return sharedTransport{a.newTransport(kind)}, nil
	})
	if err != nil {
		return nil, "", err
	}
	return v.(sharedTransport).Transport, key, nil
}

// transportKind is the transport option in force for provider p.
func (a *App) transportKind(p *config.Provider) string {
	kind := a.Transport
	if v, ok := a.ProviderTransports[p.ID]; ok && v != "" {
		kind = v
	}
	if kind == "" {
		kind = TransportH1
	}
	return kind
}

// newTransport returns a new provider transport of kind with the app's
// timeouts.
func (a *App) newTransport(kind string) provider.Transport {
	return provider.NewTransport(provider.TransportOptions{
		ConnectTimeout:        time.Duration(a.ConnectTimeout),
		ResponseHeaderTimeout: time.Duration(a.ExternalTimeout),
		NetHTTP:               kind == TransportNetHTTP,
	})
}

// Start implements caddy.App: it starts the monitors, which stop when this
// config is unloaded.
func (a *App) Start() error {
	if a.monitor != nil {
		go a.monitor.Run(a.ctx)
	}
	a.runMonitors()
	return nil
}

// openAudit opens the shared audit log when auditing is configured; an
// audit directory without a valid public key refuses to start.
func (a *App) openAudit() error {
	if a.AuditDir == "" {
		a.AuditDir = a.vars.AuditDir
	}
	if a.AuditPublicKey == "" {
		a.AuditPublicKey = a.vars.AuditPublicKey
	}
	if a.AuditDir == "" {
		if a.env.MaskingWithAudit || a.env.GuardrailAuditRequest {
			return errors.New("auditing is enabled (LLM_ROUTER_*_WITH_AUDIT) but LLM_ROUTER_AUDIT_DIR is not set")
		}
		return nil
	}
	if a.AuditPublicKey == "" {
		return errors.New("audit log: LLM_ROUTER_AUDIT_PUBLIC_KEY (an armored OpenPGP public key file) is required")
	}
	key := "audit|" + a.AuditDir
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		return audit.Open(audit.Config{Dir: a.AuditDir, PublicKeyFile: a.AuditPublicKey, Logger: a.logger.Named("audit")})
	})
	if err != nil {
		return fmt.Errorf("audit log: %w", err)
	}
	a.poolKeys = append(a.poolKeys, key)
	a.auditLog = v.(*audit.Log)
	return nil
}

// Stop implements caddy.App.
func (a *App) Stop() error { return nil }

// Cleanup releases this config's references to shared state.
func (a *App) Cleanup() error {
	var errs []error
	// Last taken, first released: the balancer goes before the Redis
	// client it uses.
	for i := len(a.poolKeys) - 1; i >= 0; i-- {
		if _, err := pool.Delete(a.poolKeys[i]); err != nil {
			errs = append(errs, err)
		}
	}
	a.poolKeys = nil
	return errors.Join(errs...)
}

// Config returns the models configuration in force for this app.
func (a *App) Config() *config.Config { return a.cfg }

// Upstream returns the prepared client of a provider.
func (a *App) Upstream(id string) *provider.Upstream { return a.upstreams[id] }

// Engine returns the app's request path.
func (a *App) Engine() *engine.Engine { return a.eng }

var (
	_ caddy.App          = (*App)(nil)
	_ caddy.Provisioner  = (*App)(nil)
	_ caddy.CleanerUpper = (*App)(nil)
)
