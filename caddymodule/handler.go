package caddymodule

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
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

	app    *App
	prefix string
	routes map[string]route
	logger *zap.Logger
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
	h.routes = h.buildRoutes()
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
		add("POST", path, "chat_completions", dialectOpenAI, (*Handler).openAIChat)
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
	err := rt.fn(h, w, r, rt)
	var ae *apiError
	if errors.As(err, &ae) {
		writeError(w, rt.dialect, ae)
		return nil
	}
	return err
}

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

func (h *Handler) openAIModels(w http.ResponseWriter, _ *http.Request, _ route) error {
	type model struct {
		ID      string `json:"id"`
		Object  string `json:"object"`
		Created int64  `json:"created"`
		OwnedBy string `json:"owned_by"`
	}
	now := time.Now().Unix()
	data := []model{}
	for _, m := range h.app.Config().Models() {
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
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
)
