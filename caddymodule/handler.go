package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/auth"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/plugins"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `http.handlers.llm_router` module: it serves the router's
// endpoint table (OpenAI, Ollama, Anthropic, LM Studio dialects and the
// built-in endpoints) and passes any other request to the next handler.
type Handler struct {
	// Prefix of the prefixed endpoints (LLM_ROUTER_EP_PREFIX, default /api).
	// "none", "/" or an empty value (JSON "prefix": "") mean no prefix.
	Prefix *string `json:"prefix,omitempty"`
	// MaxRequestBody is the largest request body accepted, in bytes
	// (LLM_ROUTER_MAX_REQUEST_BODY_SIZE, default 10 MiB); larger bodies get 413.
	MaxRequestBody int64 `json:"max_request_body,omitempty"`
	// RequestTimeout bounds a whole request, stream included (LLM_ROUTER_TIMEOUT;
	// 0, the default, means no bound beyond the provider timeouts).
	RequestTimeout caddy.Duration `json:"request_timeout,omitempty"`
	// DefaultLanguage of the built-in endpoints' prompts (default "pl").
	DefaultLanguage string `json:"default_language,omitempty"`
	// PromptsDir overrides files of the embedded prompt library.
	PromptsDir string `json:"prompts_dir,omitempty"`
	// Metrics serves Prometheus metrics at /metrics (LLM_ROUTER_USE_PROMETHEUS);
	// they are always available at Caddy's admin /metrics.
	Metrics bool `json:"metrics,omitempty"`
	// AllowPromptControl lets clients of the proxy endpoints edit the system
	// prompt with map_prompt, prompt_str_force and prompt_str_postfix (the
	// original allowed it always); off, these fields are removed.
	AllowPromptControl bool `json:"allow_prompt_control,omitempty"`
	// RAGCollection is the retrieval collection of this handler's requests
	// when they name none ("rag": {"collection": …}); empty means the rag
	// util's own default.
	RAGCollection string `json:"rag_collection,omitempty"`
	// Auth configures API keys; nil means LLM_ROUTER_AUTH_* decide.
	Auth *auth.Config `json:"auth,omitempty"`
	// NotFound answers a request for a path no endpoint serves, and that no
	// later handler of the route answered, with a 404 in the dialect its
	// path suggests; off, such requests pass on (Caddy's empty 200 when
	// nothing follows). The embedded and packaged Caddyfiles turn it on.
	NotFound bool `json:"not_found,omitempty"`
	// CORS lets browser pages of other origins call the endpoints; nil or
	// no origins: off (a preflight gets 405).
	CORS *CORS `json:"cors,omitempty"`
	// ProviderHeader sets X-LLM-Router-Provider: <provider id> on every
	// answer a provider served; nil means on.
	ProviderHeader *bool `json:"provider_header,omitempty"`

	authn      *auth.Authenticator
	limiter    auth.Limiter
	limiterKey string
	app        *App
	srv        *engine.Server     // the endpoint table over the app's engine
	endpoints  []plugins.Endpoint // of the endpoint plugins
	prefix     string
	cors       *corsPolicy
	logger     *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.llm_router", New: func() caddy.Module { return new(Handler) }}
}

// Provision looks up the llm_router app and builds the endpoint table.
func (h *Handler) Provision(ctx caddy.Context) error {
	h.logger = ctx.Logger()
	appIface, err := ctx.App("llm_router")
	if err != nil {
		return fmt.Errorf("loading llm_router app: %w", err)
	}
	h.app = appIface.(*App)
	h.prefix = "/api"
	if h.Prefix != nil {
		h.prefix = normalizePrefix(*h.Prefix)
	}
	if h.MaxRequestBody <= 0 {
		h.MaxRequestBody = 10 << 20
	}
	if h.DefaultLanguage == "" {
		h.DefaultLanguage = "pl"
	}
	if h.cors, err = h.CORS.policy(); err != nil {
		return err
	}
	var metricsHTTP http.Handler
	if h.Metrics || h.app.vars.UsePrometheus {
		if reg := ctx.GetMetricsRegistry(); reg != nil {
			metricsHTTP = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		}
	}
	if err := h.provisionAuth(ctx); err != nil {
		return err
	}
	if err := h.provisionPluginEndpoints(ctx); err != nil {
		return err
	}
	opts := engine.ServerOptions{Prefix: h.prefix, MaxRequestBody: h.MaxRequestBody, RequestTimeout: time.Duration(h.RequestTimeout),
		DefaultLanguage: h.DefaultLanguage, PromptsDir: h.PromptsDir, AllowPromptControl: h.AllowPromptControl,
		RAGCollection:  h.RAGCollection,
		ProviderHeader: h.ProviderHeader == nil || *h.ProviderHeader, Version: Version, Metrics: metricsHTTP,
		AccessLog: accessLog, Logger: h.logger}
	if h.authn != nil {
		opts.Gate = keyGate{h}
	}
	return h.buildServer(opts)
}

// buildServer builds the engine's server of the handler: its endpoint
// table, with the readiness probe and the plugins' endpoints.
func (h *Handler) buildServer(opts engine.ServerOptions) error {
	var err error
	if h.srv, err = engine.NewServer(h.app.eng, opts); err != nil {
		return err
	}
	h.srv.Handle("GET", h.prefix+"/health", "health", engine.NoDialect, engine.FamilyListing, h.health)
	return h.mountPluginEndpoints()
}

// Cleanup stops the key watcher and releases shared limiter state.
func (h *Handler) Cleanup() error {
	if h.authn != nil {
		h.authn.Close()
	}
	if h.limiterKey != "" {
		_, err := pool.Delete(h.limiterKey)
		return err
	}
	return nil
}

// Validate checks the handler configuration.
func (h *Handler) Validate() error {
	if h.RequestTimeout < 0 {
		return errors.New("request_timeout must not be negative")
	}
	return nil
}

func normalizePrefix(p string) string {
	p = strings.TrimSpace(p)
	if p == "" || p == "none" || p == "/" {
		return ""
	}
	return "/" + strings.Trim(p, "/")
}

// ServeHTTP serves the router's endpoints and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := h.srv.Route(r.Method, path)
	if !ok {
		return h.unrouted(w, r, path, next)
	}
	if h.cors != nil {
		h.cors.apply(w.Header(), r)
	}
	return h.srv.Serve(w, r, rt)
}

// accessLog adds a routed request's model and provider to Caddy's access
// log, when the server has one.
func accessLog(r *http.Request, model, provider, requestID string) {
	if srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); srv == nil || srv.Logs == nil {
		return
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("llm_model", model))
		extra.Add(zap.String("llm_provider", provider))
		extra.Add(zap.String("llm_request_id", requestID))
	}
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
