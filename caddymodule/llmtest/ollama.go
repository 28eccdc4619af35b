package llmtest

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/llmrouter/llm-router/plugins/plugintest"
)

// ErrorMidStream makes the native fakes (Ollama, Anthropic) send half of a
// stream, then the dialect's in-stream error (an Ollama {"error"} line, an
// Anthropic "event: error" overloaded_error) and end the stream.
const ErrorMidStream Fault = 100

// ToolCall is a tool call a fake provider answers with when the request
// offers tools.
type ToolCall struct {
	// ID is the call id; empty means the fake makes one up.
	ID string
	// NoID makes the Ollama fake send no id at all, as older Ollama
	// servers do.
	NoID bool
	// Name is the tool's name.
	Name string
	// Args are the call's arguments.
	Args map[string]any
}

// knobs holds the behaviour and the request log shared by the native fakes
// (Ollama, Anthropic). Its exported methods are promoted to each fake.
type knobs struct {
	mu       sync.Mutex
	reply    string
	tokens   int
	delay    time.Duration
	fault    Fault
	tools    []ToolCall
	thinking string
	models   []string
	requests []Request
	gate     chan struct{}
	canceled int
	bow      int
}

// settings is a snapshot of the knobs taken when a request arrives.
type settings struct {
	reply    string
	tokens   int
	delay    time.Duration
	fault    Fault
	tools    []ToolCall
	thinking string
	models   []string
	gate     chan struct{}
	bow      int
}

// SetBagOfWords makes later embedding answers hashed bag-of-words vectors
// of dim dimensions (see BagOfWords), so that texts sharing words are near;
// 0 goes back to Vector.
func (k *knobs) SetBagOfWords(dim int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.bow = dim
}

// SetReply sets the completion text and how many stream deltas carry it
// (which is also the output token count the fake reports).
func (k *knobs) SetReply(text string, deltas int) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.reply, k.tokens = text, max(deltas, 1)
}

// SetDelay sets the pause before each streamed delta (and before a
// non-streamed answer).
func (k *knobs) SetDelay(d time.Duration) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.delay = d
}

// SetFault makes later requests fail the given way.
func (k *knobs) SetFault(f Fault) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.fault = f
}

// SetToolCalls makes later requests that offer tools answer with these
// tool calls instead of text; none goes back to text answers.
func (k *knobs) SetToolCalls(calls ...ToolCall) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.tools = append([]ToolCall(nil), calls...)
}

// SetThinking makes later answers think first (Ollama message.thinking,
// Anthropic thinking blocks) when the request turns thinking on; "" stops.
// Streams carry the thinking in two deltas.
func (k *knobs) SetThinking(text string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.thinking = text
}

// SetModels restricts the models the fake serves (and lists); requests for
// any other model get the dialect's 404. With no models set, every model is
// served and the fake lists only its own name.
func (k *knobs) SetModels(ids ...string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.models = ids
}

// Hold makes later streams pause after their first delta until the returned
// release function is called (it is safe to call more than once).
func (k *knobs) Hold() (release func()) {
	g := make(chan struct{})
	k.mu.Lock()
	k.gate = g
	k.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Requests returns a copy of the requests received so far.
func (k *knobs) Requests() []Request {
	k.mu.Lock()
	defer k.mu.Unlock()
	return append([]Request(nil), k.requests...)
}

// Count returns how many requests reached path.
func (k *knobs) Count(path string) int {
	k.mu.Lock()
	defer k.mu.Unlock()
	n := 0
	for _, r := range k.requests {
		if r.Path == path {
			n++
		}
	}
	return n
}

// Canceled returns how many requests the client abandoned before the server
// finished answering them.
func (k *knobs) Canceled() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.canceled
}

func (k *knobs) noteCanceled() {
	k.mu.Lock()
	k.canceled++
	k.mu.Unlock()
}

// record logs the request and returns its body and the current settings.
func (k *knobs) record(r *http.Request) ([]byte, settings) {
	body, _ := io.ReadAll(r.Body)
	k.mu.Lock()
	defer k.mu.Unlock()
	k.requests = append(k.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	return body, settings{reply: k.reply, tokens: k.tokens, delay: k.delay, fault: k.fault, tools: append([]ToolCall(nil), k.tools...), thinking: k.thinking,
		models: append([]string(nil), k.models...), gate: k.gate, bow: k.bow}
}

// hold waits on the gate (if any); false when the client went away.
func (k *knobs) hold(r *http.Request, gate chan struct{}) bool {
	if gate == nil {
		return true
	}
	select {
	case <-gate:
		return true
	case <-r.Context().Done():
		k.noteCanceled()
		return false
	}
}

// serves tells whether model is among models (any model when none is set);
// a name without a tag matches the same name tagged ":latest".
func serves(models []string, model string) bool {
	if len(models) == 0 {
		return true
	}
	tagged := func(s string) string {
		if !strings.Contains(s, ":") {
			return s + ":latest"
		}
		return s
	}
	for _, m := range models {
		if tagged(m) == tagged(model) {
			return true
		}
	}
	return false
}

// runeStart moves i back to the start of the UTF-8 sequence it falls in,
// so that a split never cuts a character in two (servers split on tokens).
func runeStart(b []byte, i int) int {
	for i > 0 && i < len(b) && !utf8.RuneStart(b[i]) {
		i--
	}
	return i
}

// words counts the whitespace-separated words of a JSON value's text, the
// fakes' stand-in for prompt tokens.
func words(b []byte) int { return len(strings.Fields(string(b))) }

// Vector returns the deterministic, L2-normalised 4-dimensional embedding
// the fakes give text.
func Vector(text string) []float64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	x := h.Sum64()
	v := make([]float64, 4)
	var n float64
	for i := range v {
		v[i] = float64(int64(x>>(16*i))&0xffff)/65535 - 0.5
		n += v[i] * v[i]
	}
	n = math.Sqrt(n)
	if n == 0 {
		n = 1
	}
	for i := range v {
		v[i] /= n
	}
	return v
}

// BagOfWords is the deterministic embedding of plugintest.BagOfWords:
// the words of text hashed into dim signed buckets, L2-normalised.
func BagOfWords(text string, dim int) []float64 {
	v := plugintest.BagOfWords(text, dim)
	out := make([]float64, len(v))
	for i, f := range v {
		out[i] = float64(f)
	}
	return out
}

// embedding is Vector, or BagOfWords when bow > 0.
func embedding(text string, bow int) []float64 {
	if bow > 0 {
		return BagOfWords(text, bow)
	}
	return Vector(text)
}

// Ollama is a fake Ollama server speaking the native API: /api/chat,
// /api/generate, /api/embed, /api/embeddings, /api/tags, /api/version.
type Ollama struct {
	// Name identifies the server in its replies ("Hello from <Name>").
	Name string
	*httptest.Server
	knobs
}

// NewOllama starts a fake Ollama server. Close it when done.
func NewOllama(name string) *Ollama {
	s := &Ollama{Name: name}
	s.reply, s.tokens = "Hello from "+name+".", 4
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// OllamaVersion is the version the fake Ollama reports.
const OllamaVersion = "0.17.4"

func (s *Ollama) serve(w http.ResponseWriter, r *http.Request) {
	body, st := s.record(r)
	switch {
	case r.URL.Path == "/" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		io.WriteString(w, "Ollama is running")
		return
	case r.URL.Path == "/api/version" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		if st.fault == Fail500 || st.fault == Hang {
			writeOllamaError(w, http.StatusInternalServerError, "server unavailable")
			return
		}
		writeJSON(w, map[string]any{"version": OllamaVersion})
		return
	case r.URL.Path == "/api/tags" && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		s.tags(w, st.models)
		return
	case r.Method != http.MethodPost:
		http.NotFound(w, r)
		return
	}
	var handle func(http.ResponseWriter, *http.Request, []byte, settings)
	switch r.URL.Path {
	case "/api/chat":
		handle = s.chat
	case "/api/generate":
		handle = s.generate
	case "/api/embed":
		handle = s.embed
	case "/api/embeddings":
		handle = s.embeddings
	default:
		http.NotFound(w, r)
		return
	}
	var head struct {
		Model string `json:"model"`
	}
	if len(strings.TrimSpace(string(body))) == 0 {
		writeOllamaError(w, http.StatusBadRequest, "missing request body")
		return
	}
	if err := json.Unmarshal(body, &head); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	if head.Model == "" {
		writeOllamaError(w, http.StatusBadRequest, "model is required")
		return
	}
	if !s.fail(w, r, st.fault) {
		return
	}
	if !serves(st.models, head.Model) {
		writeOllamaError(w, http.StatusNotFound, fmt.Sprintf("model '%s' not found", head.Model))
		return
	}
	handle(w, r, body, st)
}

// fail injects the status faults; false when the answer is already given.
func (s *Ollama) fail(w http.ResponseWriter, r *http.Request, f Fault) bool {
	switch f {
	case Fail500:
		writeOllamaError(w, http.StatusInternalServerError, "llama runner process has terminated: exit status 2")
	case Fail429:
		w.Header().Set("Retry-After", "1")
		writeOllamaError(w, http.StatusTooManyRequests, "server busy, please try again.  maximum pending requests exceeded")
	case Fail400:
		writeOllamaError(w, http.StatusBadRequest, "option \"temperature\" must be of type float")
	case Hang:
		<-r.Context().Done()
		s.noteCanceled()
	default:
		return true
	}
	return false
}

func (s *Ollama) tags(w http.ResponseWriter, models []string) {
	if len(models) == 0 {
		models = []string{s.Name}
	}
	list := make([]any, 0, len(models))
	for _, m := range models {
		if !strings.Contains(m, ":") {
			m += ":latest"
		}
		list = append(list, map[string]any{"name": m, "model": m, "modified_at": "2025-07-07T20:22:19.18Z",
			"size": 2019393189, "digest": "a80c4f17acd55265feec403c7aef86be0c25983ab279d83f3bcd3abbcb5b8b72",
			"details": map[string]any{"parent_model": "", "format": "gguf", "family": "llama", "families": []string{"llama"},
				"parameter_size": "3.2B", "quantization_level": "Q4_K_M"}})
	}
	writeJSON(w, map[string]any{"models": list})
}

// ollamaReq is the part of a chat or generate request the fake reads.
type ollamaReq struct {
	Model    string            `json:"model"`
	Stream   *bool             `json:"stream"`
	Messages []json.RawMessage `json:"messages"`
	Prompt   string            `json:"prompt"`
	System   string            `json:"system"`
	Tools    []json.RawMessage `json:"tools"`
	Think    json.RawMessage   `json:"think"`
	Options  struct {
		NumPredict *int `json:"num_predict"`
	} `json:"options"`
}

// line is one NDJSON line under construction.
type line map[string]any

func (s *Ollama) chat(w http.ResponseWriter, r *http.Request, body []byte, st settings) {
	var req ollamaReq
	if err := json.Unmarshal(body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	prompt := 0
	for _, m := range req.Messages {
		prompt += words(m)
	}
	msg := func(content string) map[string]any { return map[string]any{"role": "assistant", "content": content} }
	var calls []any
	if len(req.Tools) > 0 {
		for i, tc := range st.tools {
			args := tc.Args
			if args == nil {
				args = map[string]any{}
			}
			call := map[string]any{"function": map[string]any{"index": i, "name": tc.Name, "arguments": args}}
			switch {
			case tc.ID != "":
				call["id"] = tc.ID
			case !tc.NoID:
				call["id"] = fmt.Sprintf("call_k3x9q2a%d", i)
			}
			calls = append(calls, call)
		}
	}
	var think func(string) line
	if t := strings.TrimSpace(string(req.Think)); st.thinking != "" && t != "" && t != "false" && t != "null" {
		think = func(text string) line {
			m := msg("")
			m["thinking"] = text
			return line{"message": m}
		}
	}
	s.answer(w, r, req, st, prompt, shape{field: "message", content: func(text string) any { return msg(text) },
		tool: len(calls) > 0, think: think, toolLine: func() line {
			m := msg("")
			m["tool_calls"] = calls
			return line{"message": m}
		}})
}

func (s *Ollama) generate(w http.ResponseWriter, r *http.Request, body []byte, st settings) {
	var req ollamaReq
	if err := json.Unmarshal(body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	prompt := len(strings.Fields(req.Prompt)) + len(strings.Fields(req.System))
	st.tools = nil
	s.answer(w, r, req, st, prompt, shape{field: "response", content: func(text string) any { return text },
		extra: line{"context": []int{1, 2, 3}}})
}

// shape tells answer how a chat or generate reply looks.
type shape struct {
	field    string            // the field that carries the text
	content  func(string) any  // builds that field's value from text
	tool     bool              // answer with toolLine instead of text
	toolLine func() line       // the single line carrying the tool calls
	think    func(string) line // a line carrying thinking text; nil: no thinking
	extra    line              // more fields for the final line
}

// answer writes a chat or generate reply, streamed (NDJSON) or not.
func (s *Ollama) answer(w http.ResponseWriter, r *http.Request, req ollamaReq, st settings, prompt int, sh shape) {
	field, content, tool, extra := sh.field, sh.content, sh.tool, sh.extra
	parts := split(st.reply, st.tokens)
	reason := "stop"
	if n := req.Options.NumPredict; n != nil && *n > 0 && *n < len(parts) {
		parts, reason = parts[:*n], "length"
	}
	if tool {
		parts = nil
	}
	evals := max(len(parts), 1)
	base := func() line {
		return line{"model": req.Model, "created_at": time.Now().UTC().Format(time.RFC3339Nano)}
	}
	final := func(text string) line {
		l := base()
		l[field] = content(text)
		l["done"] = true
		l["done_reason"] = reason
		l["total_duration"] = 4883583458
		l["load_duration"] = 1334875
		l["prompt_eval_count"] = prompt
		l["prompt_eval_duration"] = 342546000
		l["eval_count"] = evals
		l["eval_duration"] = 4535599000
		for k, v := range extra {
			l[k] = v
		}
		return l
	}
	a := ollamaAnswer{parts: parts, base: base, final: final}
	if req.Stream != nil && !*req.Stream {
		s.writeOllama(w, r, st, sh, a)
		return
	}
	s.streamOllama(w, r, st, sh, a)
}

// ollamaAnswer is the fake's answer to one request, before it is written
// whole or as NDJSON lines.
type ollamaAnswer struct {
	parts []string          // the reply, one line each when streamed
	base  func() line       // a line with model and created_at
	final func(string) line // the last line (done, counts), with text
}

// writeOllama answers a request with stream false: one JSON object.
func (s *Ollama) writeOllama(w http.ResponseWriter, r *http.Request, st settings, sh shape, a ollamaAnswer) {
	if !sleep(r, st.delay) {
		s.noteCanceled()
		return
	}
	l := a.final(strings.Join(a.parts, ""))
	if sh.tool {
		for k, v := range sh.toolLine() {
			l[k] = v
		}
	}
	if sh.think != nil {
		m, _ := l["message"].(map[string]any)
		m["thinking"] = st.thinking
	}
	out, _ := json.Marshal(l)
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	if st.fault == CutMidStream {
		cut(w, out[:len(out)/2], len(out))
		return
	}
	w.Write(out)
}

// streamOllama answers a streaming request: NDJSON lines (thinking, the
// tool call, the text), then the final line, with the stream faults.
func (s *Ollama) streamOllama(w http.ResponseWriter, r *http.Request, st settings, sh shape, a ollamaAnswer) {
	field, content, toolLine, tool, think := sh.field, sh.content, sh.toolLine, sh.tool, sh.think
	parts, base := a.parts, a.base
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	emit := func(l line) {
		b, _ := json.Marshal(l)
		w.Write(append(b, '\n'))
		fl.Flush()
	}
	if think != nil {
		for _, t := range split(st.thinking, 2) {
			l := base()
			for k, v := range think(t) {
				l[k] = v
			}
			l["done"] = false
			emit(l)
		}
	}
	if tool {
		if !sleep(r, st.delay) {
			s.noteCanceled()
			return
		}
		if st.fault == CutMidStream {
			panic(http.ErrAbortHandler)
		}
		l := base()
		for k, v := range toolLine() {
			l[k] = v
		}
		l["done"] = false
		emit(l)
		if !s.hold(r, st.gate) {
			return
		}
	}
	for i, p := range parts {
		if st.fault == CutMidStream && i == len(parts)/2 {
			panic(http.ErrAbortHandler) // drops the connection without a final line
		}
		if st.fault == ErrorMidStream && i == len(parts)/2 {
			emit(line{"error": "an error was encountered while running the model: unexpected EOF"})
			return
		}
		if !sleep(r, st.delay) {
			s.noteCanceled()
			return
		}
		l := base()
		l[field] = content(p)
		l["done"] = false
		emit(l)
		if i == 0 && !s.hold(r, st.gate) {
			return
		}
	}
	emit(a.final(""))
}

func (s *Ollama) embed(w http.ResponseWriter, r *http.Request, body []byte, st settings) {
	var req struct {
		Model string          `json:"model"`
		Input json.RawMessage `json:"input"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	var inputs []string
	var one string
	if json.Unmarshal(req.Input, &one) == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(req.Input, &inputs); err != nil {
		writeOllamaError(w, http.StatusBadRequest, "invalid input type")
		return
	}
	if !sleep(r, st.delay) {
		s.noteCanceled()
		return
	}
	vecs := make([][]float64, 0, len(inputs))
	tokens := 0
	for _, in := range inputs {
		vecs = append(vecs, embedding(in, st.bow))
		tokens += len(strings.Fields(in))
	}
	writeJSON(w, map[string]any{"model": req.Model, "embeddings": vecs, "total_duration": 14143917,
		"load_duration": 1019500, "prompt_eval_count": tokens})
}

func (s *Ollama) embeddings(w http.ResponseWriter, r *http.Request, body []byte, st settings) {
	var req struct {
		Prompt string `json:"prompt"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		writeOllamaError(w, http.StatusBadRequest, err.Error())
		return
	}
	if !sleep(r, st.delay) {
		s.noteCanceled()
		return
	}
	writeJSON(w, map[string]any{"embedding": embedding(req.Prompt, st.bow)})
}

func writeOllamaError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": msg})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	json.NewEncoder(w).Encode(v)
}
