package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/llm-router/caddymodule/auth"
	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

func init() {
	caddy.RegisterModule(Handler{})
}

// Handler is the `http.handlers.llm_router` module: it serves the router's
// endpoint table (OpenAI, Ollama, Anthropic, LM Studio dialects and the
// built-in endpoints) and passes any other request to the next handler.
type Handler struct {
	// Prefix of the prefixed endpoints (LLM_ROUTER_EP_PREFIX, default /api).
	// Use "none" (or an empty value in JSON with PrefixSet) for no prefix.
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

	authn       *auth.Authenticator
	limiter     auth.Limiter
	limiterKey  string
	app         *App
	tasks       *builtin.Service
	endpoints   []plugins.Endpoint // of the endpoint plugins
	metricsHTTP http.Handler
	prefix      string
	cors        *corsPolicy
	provHeader  bool
	routes      map[string]route
	allow       map[string]string // path → the methods it serves
	logger      *zap.Logger
}

type endpointFunc func(h *Handler, w http.ResponseWriter, r *http.Request, rt route) error

type route struct {
	name    string
	dialect protocol.Dialect // the shape of its errors; noDialect on the built-in endpoints
	family  auth.Family      // what an API key's policy must allow
	fn      endpointFunc
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
	h.provHeader = h.ProviderHeader == nil || *h.ProviderHeader
	if h.Metrics || h.app.vars.UsePrometheus {
		if reg := ctx.GetMetricsRegistry(); reg != nil {
			h.metricsHTTP = promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
		}
	}
	if err := h.provisionBuiltin(); err != nil {
		return err
	}
	if err := h.provisionAuth(ctx); err != nil {
		return err
	}
	if err := h.provisionPluginEndpoints(ctx); err != nil {
		return err
	}
	h.routes = h.buildRoutes()
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

func (h *Handler) buildRoutes() map[string]route {
	rs := map[string]route{}
	h.allow = map[string]string{}
	add := func(method, path, name string, d protocol.Dialect, f auth.Family, fn endpointFunc) {
		h.addRoute(rs, method, path, name, d, f, fn)
	}
	const (
		chat    = auth.FamilyChat
		embed   = auth.FamilyEmbeddings
		listing = auth.FamilyListing
		tasks   = auth.FamilyBuiltin
	)
	p := h.prefix
	add("GET", p+"/ping", "ping", noDialect, listing, (*Handler).ping)
	add("GET", p+"/version", "version", noDialect, listing, (*Handler).version)
	add("GET", p+"/health", "health", noDialect, listing, (*Handler).health)
	for _, path := range []string{"/models", "/v1/models", p + "/models"} {
		add("GET", path, "models", protocol.OpenAIChat, listing, (*Handler).openAIModels)
	}
	for _, path := range []string{p + "/chat/completions", "/chat/completions", "/v1/chat/completions"} {
		add("POST", path, "chat_completions", protocol.OpenAIChat, chat, chatEndpoint(kindOpenAIChat))
	}
	add("POST", p+"/v0/chat/completions", "lmstudio_chat", protocol.OpenAIChat, chat, chatEndpoint(kindOpenAIChat))
	add("GET", p+"/v0/models", "lmstudio_models", protocol.OpenAIChat, listing, (*Handler).lmStudioModels)
	add("POST", "/v1/completions", "completions", protocol.OpenAICompletions, chat, chatEndpoint(kindCompletions))
	add("POST", "/completions", "completions", protocol.OpenAICompletions, chat, chatEndpoint(kindCompletions))
	add("POST", "/v1/responses", "responses", protocol.OpenAIResponses, chat, chatEndpoint(kindResponses))
	add("POST", "/responses", "responses", protocol.OpenAIResponses, chat, chatEndpoint(kindResponses))
	add("POST", "/v1/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedEndpoint(openai.Embeddings{}))
	add("POST", "/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedEndpoint(openai.Embeddings{}))
	add("POST", p+"/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedAuto)
	add("POST", "/v1/messages", "messages", protocol.Anthropic, chat, chatEndpoint(kindAnthropic))
	add("GET", "/", "ollama_home", protocol.OllamaChat, listing, (*Handler).ollamaHome)
	add("GET", p+"/tags", "tags", protocol.OllamaChat, listing, (*Handler).ollamaTags)
	add("POST", p+"/show", "show", protocol.OllamaChat, listing, (*Handler).ollamaShow)
	add("POST", p+"/chat", "ollama_chat", protocol.OllamaChat, chat, chatEndpoint(kindOllamaChat))
	add("POST", p+"/generate", "ollama_generate", protocol.OllamaGenerate, chat, chatEndpoint(kindOllamaGen))
	add("POST", p+"/embed", "ollama_embed", protocol.OllamaEmbed, embed, embedEndpoint(ollama.Embed{}))
	if h.metricsHTTP != nil {
		add("GET", "/metrics", "metrics", noDialect, listing, func(h *Handler, w http.ResponseWriter, r *http.Request, _ route) error {
			h.metricsHTTP.ServeHTTP(w, r)
			return nil
		})
	}
	for _, name := range builtin.Endpoints() {
		add("POST", p+"/"+name, name, noDialect, tasks, builtinEndpoint(name))
	}
	return rs
}

// addRoute adds an endpoint to rs and its method to the path's Allow list.
func (h *Handler) addRoute(rs map[string]route, method, path, name string, d protocol.Dialect, f auth.Family, fn endpointFunc) {
	rs[method+" "+path] = route{name: name, dialect: d, family: f, fn: fn}
	if a := h.allow[path]; a != "" {
		method = a + ", " + method
	}
	h.allow[path] = method
}

// ServeHTTP serves the router's endpoints and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := h.routes[r.Method+" "+path]
	if !ok {
		return h.unrouted(w, r, path, next)
	}
	ctx := r.Context()
	if h.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, time.Duration(h.RequestTimeout))
		defer cancel()
	}
	info := &reqInfo{requestID: requestID(r)}
	w.Header().Set("X-Request-Id", info.requestID)
	if h.cors != nil {
		h.cors.apply(w.Header(), r)
	}
	r = r.WithContext(context.WithValue(ctx, reqInfoKey{}, info)) // one request copy
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, start: start}
	if h.provHeader {
		sw.info = info
	}
	defer h.recoverPanic(sw, rt)
	err := h.authenticate(r, rt, info)
	if err == nil {
		err = rt.fn(h, sw, r, rt)
	}
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(sw, rt.dialect, ae)
		err = nil
	}
	code := sw.status
	if code == 0 {
		code = http.StatusOK
		if provider.ClientGone(r.Context()) {
			code = statusClientClosed
		}
	}
	h.observe(r, rt, info, sw, code, time.Since(start))
	h.settle(r.Context(), info)
	return err
}

// recoverPanic turns a bug into a 500 in the client's dialect (or an
// aborted stream once bytes were sent) and a logged stack, rather than a
// connection torn down without a word.
func (h *Handler) recoverPanic(sw *statusWriter, rt route) {
	switch rec := recover(); rec {
	case nil:
		return
	case http.ErrAbortHandler:
		panic(rec) // net/http's own way to abort a response
	default:
		h.logger.Error("handler panic", zap.String("endpoint", rt.name), zap.Any("panic", rec), zap.Stack("stack"))
	}
	if sw.status != 0 {
		panic(http.ErrAbortHandler) // bytes already went out: abort the response
	}
	writeError(sw, rt.dialect, &apiError{Status: http.StatusInternalServerError, Msg: "internal error in the router; it has been logged"})
}

// observe records a finished request in metrics and the log: one line per
// request, never with prompt text or credentials.
func (h *Handler) observe(r *http.Request, rt route, info *reqInfo, sw *statusWriter, code int, d time.Duration) {
	m := h.app.metrics
	model := info.model
	if model == "" && info.asked != "" {
		// A refused request counts under the model asked for when it is
		// one the router has (label values stay bounded).
		if _, ok := h.app.Config().Model(info.asked); ok {
			model = info.asked
		}
	}
	m.requests.WithLabelValues(rt.name, model, info.provider, strconv.Itoa(code)).Inc()
	m.duration.WithLabelValues(rt.name, model).Observe(d.Seconds())
	var ttft time.Duration
	if info.stream && code == http.StatusOK && sw.firstWrite > 0 {
		ttft = sw.firstWrite
		m.ttft.WithLabelValues(info.model, info.provider).Observe(ttft.Seconds())
	}
	if info.provider != "" {
		if info.usage.Input > 0 {
			m.tokens.WithLabelValues(info.model, info.provider, "input").Add(float64(info.usage.Input))
		}
		if info.usage.Output > 0 {
			m.tokens.WithLabelValues(info.model, info.provider, "output").Add(float64(info.usage.Output))
		}
	}
	if ce := h.logger.Check(zapcore.InfoLevel, "request"); ce != nil {
		ce.Write(zap.Inline(&requestLog{info: info, endpoint: rt.name, code: code, ttft: ttft, d: d}))
	}
	// The fields are for Caddy's access log; without one, adding them would
	// only cost allocations (each Add resets a sync.Map).
	if srv, _ := r.Context().Value(caddyhttp.ServerCtxKey).(*caddyhttp.Server); srv == nil || srv.Logs == nil || info.model == "" {
		return
	}
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok {
		extra.Add(zap.String("llm_model", info.model))
		extra.Add(zap.String("llm_provider", info.provider))
		extra.Add(zap.String("llm_request_id", info.requestID))
	}
}

// requestLog is the fields of the request log line, written inline: one
// zap field where thirteen would cost a slice of 830 bytes per request.
type requestLog struct {
	info     *reqInfo
	endpoint string
	code     int
	ttft, d  time.Duration
}

// MarshalLogObject implements zapcore.ObjectMarshaler.
func (l *requestLog) MarshalLogObject(enc zapcore.ObjectEncoder) error {
	info := l.info
	enc.AddString("request_id", info.requestID)
	enc.AddString("endpoint", l.endpoint)
	if info.model == "" && info.asked != "" {
		enc.AddString("model", clip(info.asked, 200)) // refused before routing
	} else {
		enc.AddString("model", info.model)
	}
	enc.AddString("provider", info.provider)
	enc.AddString("provider_type", info.apiType)
	enc.AddBool("translated", info.translated)
	enc.AddBool("stream", info.stream)
	enc.AddInt("status", l.code)
	enc.AddInt("input_tokens", info.usage.Input)
	enc.AddInt("output_tokens", info.usage.Output)
	enc.AddDuration("ttft", l.ttft)
	enc.AddDuration("duration", l.d)
	if info.key != nil {
		enc.AddString("key", info.key.ID())
	}
	return nil
}

// requestID returns the client's X-Request-ID when it is a sane token, or
// a new random one.
func requestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && !strings.ContainsAny(id, "\r\n\x00") {
		return id
	}
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// reqInfo collects what a request was routed to, for metrics and logs.
// Only configured names go in (bounded label values).
type reqInfo struct {
	mu              sync.Mutex // routed may be called by concurrent per-text calls
	requestID       string
	model, provider string
	asked           string // the model the client asked for, once read
	apiType         string
	translated      bool
	stream          bool
	usage           protocol.Usage
	estTokens       int
	key             *auth.Key
	family          auth.Family
}

// routed records the model and provider a call went to.
func (i *reqInfo) routed(model, provider string) {
	i.mu.Lock()
	i.model, i.provider = model, provider
	i.mu.Unlock()
}

type reqInfoKey struct{}

func requestInfo(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// statusWriter records the status code written and, with info set, names
// the provider the answer came from in X-LLM-Router-Provider.
type statusWriter struct {
	http.ResponseWriter
	status     int
	start      time.Time
	firstWrite time.Duration // since start, at the first body byte
	info       *reqInfo      // set when the provider header is on
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
		if s.info != nil {
			s.info.mu.Lock()
			id := s.info.provider
			s.info.mu.Unlock()
			if id != "" {
				s.Header()[providerHeader] = []string{id}
			}
		}
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.WriteHeader(http.StatusOK)
	}
	if s.firstWrite == 0 && len(b) > 0 {
		s.firstWrite = time.Since(s.start)
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the flusher underneath.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func writeJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func (h *Handler) ping(w http.ResponseWriter, _ *http.Request, _ route) error {
	return writeJSON(w, http.StatusOK, map[string]any{"body": "pong", "status": true})
}

func (h *Handler) version(w http.ResponseWriter, _ *http.Request, _ route) error {
	return writeJSON(w, http.StatusOK, map[string]any{"version": Version})
}

func (h *Handler) openAIModels(w http.ResponseWriter, r *http.Request, _ route) error {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	now := time.Now().Unix()
	data := []model{}
	for _, m := range h.app.Config().Models() {
		if !allowsModel(r.Context(), m.Name) {
			continue
		}
		data = append(data, model{ID: m.Name, Object: "model", Created: now, OwnedBy: m.Providers[0].APIType})
	}
	return writeJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// readBody reads the request body up to the configured limit.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	if r.ContentLength > h.MaxRequestBody {
		return nil, errorf(http.StatusRequestEntityTooLarge,
			fmt.Sprintf("request body is %d bytes; the limit is %d bytes", r.ContentLength, h.MaxRequestBody))
	}
	body, err := readAllSized(http.MaxBytesReader(w, r.Body, h.MaxRequestBody), r.ContentLength, h.MaxRequestBody)
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) || errors.Is(err, errTooLarge) {
			return nil, errorf(http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", h.MaxRequestBody))
		}
		return nil, errorf(http.StatusBadRequest, "could not read the request body")
	}
	return body, nil
}

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
