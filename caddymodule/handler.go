package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/auth"
	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
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
	// Auth configures API keys; nil means LLM_ROUTER_AUTH_* decide.
	Auth *auth.Config `json:"auth,omitempty"`

	authn      *auth.Authenticator
	limiter    auth.Limiter
	limiterKey string
	app        *App
	tasks      *builtin.Service
	prefix     string
	routes     map[string]route
	logger     *zap.Logger
}

type endpointFunc func(h *Handler, w http.ResponseWriter, r *http.Request, rt route) error

type route struct {
	name    string
	dialect dialect
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
	if err := h.provisionBuiltin(); err != nil {
		return err
	}
	if err := h.provisionAuth(ctx); err != nil {
		return err
	}
	h.routes = h.buildRoutes()
	return nil
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
	add := func(method, path, name string, d dialect, fn endpointFunc) {
		rs[method+" "+path] = route{name: name, dialect: d, fn: fn}
	}
	p := h.prefix
	add("GET", p+"/ping", "ping", dialectBuiltin, (*Handler).ping)
	add("GET", p+"/version", "version", dialectBuiltin, (*Handler).version)
	for _, path := range []string{"/models", "/v1/models", p + "/models"} {
		add("GET", path, "models", dialectOpenAI, (*Handler).openAIModels)
	}
	for _, path := range []string{p + "/chat/completions", "/chat/completions", "/v1/chat/completions"} {
		add("POST", path, "chat_completions", dialectOpenAI, chatEndpoint(kindOpenAIChat))
	}
	add("POST", p+"/v0/chat/completions", "lmstudio_chat", dialectOpenAI, chatEndpoint(kindOpenAIChat))
	add("GET", p+"/v0/models", "lmstudio_models", dialectOpenAI, (*Handler).lmStudioModels)
	add("POST", "/v1/completions", "completions", dialectOpenAI, chatEndpoint(kindCompletions))
	add("POST", "/completions", "completions", dialectOpenAI, chatEndpoint(kindCompletions))
	add("POST", "/v1/responses", "responses", dialectOpenAI, chatEndpoint(kindResponses))
	add("POST", "/responses", "responses", dialectOpenAI, chatEndpoint(kindResponses))
	add("POST", "/v1/embeddings", "embeddings", dialectOpenAI, embedEndpoint(openai.Embeddings{}))
	add("POST", "/embeddings", "embeddings", dialectOpenAI, embedEndpoint(openai.Embeddings{}))
	add("POST", p+"/embeddings", "embeddings", dialectOpenAI, embedAuto)
	add("POST", "/v1/messages", "messages", dialectAnthropic, chatEndpoint(kindAnthropic))
	add("GET", "/", "ollama_home", dialectOllama, (*Handler).ollamaHome)
	add("GET", p+"/tags", "tags", dialectOllama, (*Handler).ollamaTags)
	add("POST", p+"/show", "show", dialectOllama, (*Handler).ollamaShow)
	add("POST", p+"/chat", "ollama_chat", dialectOllama, chatEndpoint(kindOllamaChat))
	add("POST", p+"/generate", "ollama_generate", dialectOllama, chatEndpoint(kindOllamaGen))
	add("POST", p+"/embed", "ollama_embed", dialectOllama, embedEndpoint(ollama.Embed{}))
	for _, name := range builtin.Endpoints() {
		add("POST", p+"/"+name, name, dialectBuiltin, builtinEndpoint(name))
	}
	return rs
}

// ServeHTTP serves the router's endpoints and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	path := r.URL.Path
	if len(path) > 1 {
		path = strings.TrimSuffix(path, "/")
	}
	rt, ok := h.routes[r.Method+" "+path]
	if !ok {
		if h.knownPath(path) {
			w.Header().Set("Allow", h.allowed(path))
			writeError(w, dialectOpenAI, errorf(http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+path))
			return nil
		}
		return next.ServeHTTP(w, r)
	}
	if h.RequestTimeout > 0 {
		ctx, cancel := contextWithTimeout(r.Context(), time.Duration(h.RequestTimeout))
		defer cancel()
		r = r.WithContext(ctx)
	}
	info := &reqInfo{}
	r = r.WithContext(context.WithValue(r.Context(), reqInfoKey{}, info))
	sw := &statusWriter{ResponseWriter: w}
	start := time.Now()
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
		if r.Context().Err() != nil {
			code = 499 // the client went away
		}
	}
	h.app.metrics.requests.WithLabelValues(rt.name, info.model, info.provider, strconv.Itoa(code)).Inc()
	h.app.metrics.duration.WithLabelValues(rt.name, info.model).Observe(time.Since(start).Seconds())
	if extra, ok := r.Context().Value(caddyhttp.ExtraLogFieldsCtxKey).(*caddyhttp.ExtraLogFields); ok && info.model != "" {
		extra.Add(zap.String("llm_model", info.model))
		extra.Add(zap.String("llm_provider", info.provider))
	}
	return err
}

// reqInfo collects what a request was routed to, for metrics and logs.
// Only configured names go in (bounded label values).
type reqInfo struct {
	model, provider string
	key             *auth.Key
	family          auth.Family
}

type reqInfoKey struct{}

func requestInfo(ctx context.Context) *reqInfo {
	if i, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		return i
	}
	return &reqInfo{}
}

// statusWriter records the status code written.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (s *statusWriter) WriteHeader(code int) {
	if s.status == 0 {
		s.status = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusWriter) Write(b []byte) (int, error) {
	if s.status == 0 {
		s.status = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the flusher underneath.
func (s *statusWriter) Unwrap() http.ResponseWriter { return s.ResponseWriter }

func (h *Handler) knownPath(path string) bool {
	for k := range h.routes {
		if strings.HasSuffix(k, " "+path) {
			return true
		}
	}
	return false
}

func (h *Handler) allowed(path string) string {
	var ms []string
	for k := range h.routes {
		if m, p, _ := strings.Cut(k, " "); p == path {
			ms = append(ms, m)
		}
	}
	return strings.Join(ms, ", ")
}

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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.MaxRequestBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
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
