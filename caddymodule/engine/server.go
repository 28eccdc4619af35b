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

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// ServerOptions configure a Server: the options of one handler.
type ServerOptions struct {
	// Prefix of the prefixed endpoints ("" for none), normalized.
	Prefix string
	// MaxRequestBody is the largest request body accepted, in bytes;
	// larger bodies get 413.
	MaxRequestBody int64
	// RequestTimeout bounds a whole request, stream included (0: no
	// bound beyond the provider timeouts).
	RequestTimeout time.Duration
	// DefaultLanguage of the built-in endpoints' prompts.
	DefaultLanguage string
	// PromptsDir overrides files of the embedded prompt library.
	PromptsDir string
	// AllowPromptControl lets clients of the proxy endpoints edit the
	// system prompt (map_prompt, prompt_str_force, prompt_str_postfix);
	// off, these fields are removed.
	AllowPromptControl bool
	// RAGCollection is the retrieval collection of requests that name
	// none; empty means the rag util's default.
	RAGCollection string
	// ProviderHeader names the provider of every answer a provider served
	// in X-LLM-Router-Provider.
	ProviderHeader bool
	// Version is what {prefix}/version reports.
	Version string
	// Metrics serves /metrics when set.
	Metrics http.Handler
	// Gate checks API keys (nil: keys are off).
	Gate Gate
	// AccessLog, when set, adds a routed request's model, provider and
	// request id to the server's access log.
	AccessLog func(r *http.Request, model, provider, requestID string)
	// Logger receives the request log lines.
	Logger *zap.Logger
}

// Server serves one handler's endpoint table over an Engine.
type Server struct {
	ServerOptions
	app    *Engine
	tasks  *builtin.Service
	routes map[string]Route
	allow  map[string]string // path → the methods it serves
	logger *zap.Logger
}

// endpointFunc serves one endpoint.
type endpointFunc func(h *Server, w http.ResponseWriter, r *http.Request, rt Route) error

// Route is one endpoint of the table.
type Route struct {
	// Name names the endpoint in metrics, logs and audit records.
	Name string
	// Dialect is the shape of its errors; NoDialect on the built-in endpoints.
	Dialect protocol.Dialect
	// Family is what an API key's policy must allow.
	Family Family
	fn     endpointFunc
}

// NewServer returns the server of a handler over e, its endpoint table
// built.
func NewServer(e *Engine, o ServerOptions) (*Server, error) {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.MaxRequestBody <= 0 {
		o.MaxRequestBody = 10 << 20
	}
	if o.DefaultLanguage == "" {
		o.DefaultLanguage = "pl"
	}
	h := &Server{ServerOptions: o, app: e, logger: o.Logger}
	if err := h.provisionBuiltin(); err != nil {
		return nil, err
	}
	h.routes = h.buildRoutes()
	return h, nil
}

func (h *Server) buildRoutes() map[string]Route {
	rs := map[string]Route{}
	h.allow = map[string]string{}
	add := func(method, path, name string, d protocol.Dialect, f Family, fn endpointFunc) {
		h.addRoute(rs, method, path, name, d, f, fn)
	}
	const (
		chat    = FamilyChat
		embed   = FamilyEmbeddings
		listing = FamilyListing
		tasks   = FamilyBuiltin
	)
	p := h.Prefix
	add("GET", p+"/ping", "ping", NoDialect, listing, (*Server).ping)
	add("GET", p+"/version", "version", NoDialect, listing, (*Server).version)
	for _, path := range []string{"/models", "/v1/models", p + "/models"} {
		add("GET", path, "models", protocol.OpenAIChat, listing, (*Server).openAIModels)
	}
	for _, path := range []string{p + "/chat/completions", "/chat/completions", "/v1/chat/completions"} {
		add("POST", path, "chat_completions", protocol.OpenAIChat, chat, chatEndpoint(kindOpenAIChat))
	}
	add("POST", p+"/v0/chat/completions", "lmstudio_chat", protocol.OpenAIChat, chat, chatEndpoint(kindOpenAIChat))
	add("GET", p+"/v0/models", "lmstudio_models", protocol.OpenAIChat, listing, (*Server).lmStudioModels)
	add("POST", "/v1/completions", "completions", protocol.OpenAICompletions, chat, chatEndpoint(kindCompletions))
	add("POST", "/completions", "completions", protocol.OpenAICompletions, chat, chatEndpoint(kindCompletions))
	add("POST", "/v1/responses", "responses", protocol.OpenAIResponses, chat, chatEndpoint(kindResponses))
	add("POST", "/responses", "responses", protocol.OpenAIResponses, chat, chatEndpoint(kindResponses))
	add("POST", "/v1/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedEndpoint(openai.Embeddings{}))
	add("POST", "/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedEndpoint(openai.Embeddings{}))
	add("POST", p+"/embeddings", "embeddings", protocol.OpenAIEmbeddings, embed, embedAuto)
	add("POST", "/v1/messages", "messages", protocol.Anthropic, chat, chatEndpoint(kindAnthropic))
	add("GET", "/", "ollama_home", protocol.OllamaChat, listing, (*Server).ollamaHome)
	add("GET", p+"/tags", "tags", protocol.OllamaChat, listing, (*Server).ollamaTags)
	add("POST", p+"/show", "show", protocol.OllamaChat, listing, (*Server).ollamaShow)
	add("POST", p+"/chat", "ollama_chat", protocol.OllamaChat, chat, chatEndpoint(kindOllamaChat))
	add("POST", p+"/generate", "ollama_generate", protocol.OllamaGenerate, chat, chatEndpoint(kindOllamaGen))
	add("POST", p+"/embed", "ollama_embed", protocol.OllamaEmbed, embed, embedEndpoint(ollama.Embed{}))
	if h.Metrics != nil {
		add("GET", "/metrics", "metrics", NoDialect, listing, func(h *Server, w http.ResponseWriter, r *http.Request, _ Route) error {
			h.Metrics.ServeHTTP(w, r)
			return nil
		})
	}
	for _, name := range builtin.Endpoints() {
		add("POST", p+"/"+name, name, NoDialect, tasks, builtinEndpoint(name))
	}
	return rs
}

// addRoute adds an endpoint to rs and its method to the path's Allow list.
func (h *Server) addRoute(rs map[string]Route, method, path, name string, d protocol.Dialect, f Family, fn endpointFunc) {
	rs[method+" "+path] = Route{Name: name, Dialect: d, Family: f, fn: fn}
	if a := h.allow[path]; a != "" {
		method = a + ", " + method
	}
	h.allow[path] = method
}

// Handle adds an endpoint of the adapter's own (the readiness probe) to the
// table, served by fn.
func (h *Server) Handle(method, path, name string, d protocol.Dialect, f Family, fn func(w http.ResponseWriter, r *http.Request) error) {
	h.addRoute(h.routes, method, path, name, d, f, func(_ *Server, w http.ResponseWriter, r *http.Request, _ Route) error {
		return fn(w, r)
	})
}

// Route returns the endpoint that serves method on path (a trailing slash
// already trimmed).
func (h *Server) Route(method, path string) (Route, bool) {
	rt, ok := h.routes[method+" "+path]
	return rt, ok
}

// Allowed returns the methods the table serves on path, as an Allow
// header lists them; false when it serves none.
func (h *Server) Allowed(path string) (string, bool) {
	a, ok := h.allow[path]
	return a, ok
}

// Serve serves a request routed to rt: it authenticates the caller, runs
// the endpoint, answers its error in the client's dialect, and observes
// the finished request (metrics, log line, rate-limit settlement). The
// error it returns is a failure of the server, not the client's answer.
func (h *Server) Serve(w http.ResponseWriter, r *http.Request, rt Route) error {
	ctx := r.Context()
	if h.RequestTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, h.RequestTimeout)
		defer cancel()
	}
	info := &reqInfo{requestID: RequestID(r)}
	w.Header().Set("X-Request-Id", info.requestID)
	r = r.WithContext(context.WithValue(ctx, reqInfoKey{}, info)) // one request copy
	start := time.Now()
	sw := &statusWriter{ResponseWriter: w, start: start}
	if h.ProviderHeader {
		sw.info = info
	}
	defer h.recoverPanic(sw, rt)
	err := h.authenticate(r, rt, info)
	if err == nil {
		err = rt.fn(h, sw, r, rt)
	}
	var ae *Error
	if errors.As(err, &ae) {
		WriteError(sw, rt.Dialect, ae)
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
func (h *Server) recoverPanic(sw *statusWriter, rt Route) {
	switch rec := recover(); rec {
	case nil:
		return
	case http.ErrAbortHandler:
		panic(rec) // net/http's own way to abort a response
	default:
		h.logger.Error("handler panic", zap.String("endpoint", rt.Name), zap.Any("panic", rec), zap.Stack("stack"))
	}
	if sw.status != 0 {
		panic(http.ErrAbortHandler) // bytes already went out: abort the response
	}
	WriteError(sw, rt.Dialect, &Error{Status: http.StatusInternalServerError, Msg: "internal error in the router; it has been logged"})
}

// observe records a finished request in metrics and the log: one line per
// request, never with prompt text or credentials.
func (h *Server) observe(r *http.Request, rt Route, info *reqInfo, sw *statusWriter, code int, d time.Duration) {
	m := h.app.metrics
	model := info.model
	if model == "" && info.asked != "" {
		// A refused request counts under the model asked for when it is
		// one the router has (label values stay bounded).
		if _, ok := h.app.Config().Model(info.asked); ok {
			model = info.asked
		}
	}
	m.Requests.WithLabelValues(rt.Name, model, info.provider, strconv.Itoa(code)).Inc()
	m.Duration.WithLabelValues(rt.Name, model).Observe(d.Seconds())
	var ttft time.Duration
	if info.stream && code == http.StatusOK && sw.firstWrite > 0 {
		ttft = sw.firstWrite
		m.TTFT.WithLabelValues(info.model, info.provider).Observe(ttft.Seconds())
	}
	if info.provider != "" {
		if info.usage.Input > 0 {
			m.Tokens.WithLabelValues(info.model, info.provider, "input").Add(float64(info.usage.Input))
		}
		if info.usage.Output > 0 {
			m.Tokens.WithLabelValues(info.model, info.provider, "output").Add(float64(info.usage.Output))
		}
	}
	if ce := h.logger.Check(zapcore.InfoLevel, "request"); ce != nil {
		ce.Write(zap.Inline(&requestLog{info: info, endpoint: rt.Name, code: code, ttft: ttft, d: d}))
	}
	// The fields are for the server's access log; without one, adding them
	// would only cost allocations.
	if h.AccessLog != nil && info.model != "" {
		h.AccessLog(r, info.model, info.provider, info.requestID)
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
		enc.AddString("model", Clip(info.asked, 200)) // refused before routing
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
	if n := info.notes; n != nil {
		if n.routeReason != "" {
			enc.AddString("route_reason", n.routeReason)
		}
		if len(n.ragSources) > 0 {
			enc.AddString("rag_sources", strings.Join(n.ragSources, ","))
		}
	}
	return nil
}

// RequestID returns the client's X-Request-ID when it is a sane token, or
// a new random one.
func RequestID(r *http.Request) string {
	if id := r.Header.Get("X-Request-Id"); id != "" && len(id) <= 128 && !strings.ContainsAny(id, "\r\n\x00") {
		return id
	}
	return newRequestID()
}

// newRequestID returns a new random request id.
func newRequestID() string {
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
	key             Caller       // the caller's API key, when keys are on
	charged         int          // the tokens Gate.Authorize charged
	notes           *pluginNotes // set only when a util has something to log
}

// pluginNotes is what the utils report for the request log; kept out of
// reqInfo so that requests without them do not carry the space.
type pluginNotes struct {
	routeReason string   // why a routing util chose the model ("target=code similarity=0.83")
	ragSources  []string // the chunks retrieval added ("path#chunk")
}

// note returns the request's plugin notes, creating them.
func (i *reqInfo) note() *pluginNotes {
	if i.notes == nil {
		i.notes = &pluginNotes{}
	}
	return i.notes
}

// routed records the model and provider a call went to.
func (i *reqInfo) routed(model, provider string) {
	i.mu.Lock()
	i.model, i.provider = model, provider
	i.mu.Unlock()
}

type reqInfoKey struct{}

// requestInfo returns the record of the request ctx belongs to (a fresh
// one outside a request).
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

// WriteJSON writes v as a JSON answer with status.
func WriteJSON(w http.ResponseWriter, status int, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding response: %w", err)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, err = w.Write(append(b, '\n'))
	return err
}

func (h *Server) ping(w http.ResponseWriter, _ *http.Request, _ Route) error {
	return WriteJSON(w, http.StatusOK, map[string]any{"body": "pong", "status": true})
}

func (h *Server) version(w http.ResponseWriter, _ *http.Request, _ Route) error {
	return WriteJSON(w, http.StatusOK, map[string]any{"version": h.Version})
}

func (h *Server) openAIModels(w http.ResponseWriter, r *http.Request, _ Route) error {
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
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}

// readBody reads the request body up to the configured limit.
func (h *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
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
