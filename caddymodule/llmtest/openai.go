// Package llmtest provides protocol-faithful fake LLM servers for tests and
// benchmarks, in the spirit of net/http/httptest: an OpenAI-compatible server
// (which also plays vLLM and LM Studio; OpenAIPlus adds embeddings and tool
// calls), an Ollama server and an Anthropic server, with streaming, token
// delays, tool calls, reasoning and injectable faults.
package llmtest

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"
)

// Fault is a failure the fake server injects into its answers.
type Fault int

// Faults a fake server can inject.
const (
	// NoFault answers normally.
	NoFault Fault = iota
	// Fail500 answers 500 with an OpenAI error body.
	Fail500
	// Fail429 answers 429 with Retry-After and an OpenAI error body.
	Fail429
	// Hang never answers; it waits until the client gives up.
	Hang
	// CutMidStream sends the first half of a stream (or of a body), then
	// drops the connection.
	CutMidStream
	// Fail400 answers 400 with an OpenAI error body naming a parameter.
	Fail400
)

// Request is a request the fake server received.
type Request struct {
	Method string
	Path   string
	Header http.Header
	Body   []byte
}

// JSON decodes the request body into a generic map.
func (r Request) JSON() map[string]any {
	var m map[string]any
	_ = json.Unmarshal(r.Body, &m)
	return m
}

// OpenAI is a fake OpenAI-compatible chat server.
type OpenAI struct {
	// Name identifies the server in its replies ("Hello from <Name>").
	Name string
	*httptest.Server

	mu       sync.Mutex
	reply    string
	tokens   int
	delay    time.Duration
	fault    Fault
	requests []Request
	models   []string
	gate     chan struct{}
	canceled int
	inflight int
	peak     int
	hostile  hostile
	echo     *string
	failN    int
	chats    int
}

// MaxInFlight returns the largest number of chat requests the server was
// answering at the same time. A request counts from its arrival until its
// answer is complete (its last event handed to the connection), not until
// the connection's bookkeeping ends.
func (s *OpenAI) MaxInFlight() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak
}

// Hold makes later streams pause after their first content delta until the
// returned release function is called (it is safe to call more than once).
// Tests use it to prove that events reach the client before the stream ends.
func (s *OpenAI) Hold() (release func()) {
	g := make(chan struct{})
	s.mu.Lock()
	s.gate = g
	s.mu.Unlock()
	var once sync.Once
	return func() { once.Do(func() { close(g) }) }
}

// Canceled returns how many requests the client abandoned before the server
// finished answering them.
func (s *OpenAI) Canceled() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.canceled
}

func (s *OpenAI) noteCanceled() {
	s.mu.Lock()
	s.canceled++
	s.mu.Unlock()
}

// NewOpenAI starts a fake OpenAI-compatible server. Close it when done.
func NewOpenAI(name string) *OpenAI {
	s := &OpenAI{Name: name, reply: "Hello from " + name + ".", tokens: 4}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetReply sets the completion text and how many stream deltas carry it.
func (s *OpenAI) SetReply(text string, deltas int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reply, s.tokens = text, max(deltas, 1)
}

// SetDelay sets the pause before each streamed delta (and before a
// non-streamed answer).
func (s *OpenAI) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetFault makes later requests fail the given way.
func (s *OpenAI) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// SetEcho makes the answer (streamed or not) prefix followed by the content
// of the request's last message, so that a test can match every answer to
// its request.
func (s *OpenAI) SetEcho(prefix string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.echo = &prefix
}

// SetFailEvery makes every n-th chat request (n, 2n, …) answer 500 with an
// OpenAI error body; 0 turns it off. With n = 10 the server fails 10% of
// calls.
func (s *OpenAI) SetFailEvery(n int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failN, s.chats = n, 0
}

// SetModels sets the ids listed by GET /v1/models.
func (s *OpenAI) SetModels(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.models = ids
}

// Requests returns a copy of the requests received so far.
func (s *OpenAI) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Count returns how many requests reached path.
func (s *OpenAI) Count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for _, r := range s.requests {
		if r.Path == path {
			n++
		}
	}
	return n
}

// RefusedURL returns an http URL on which nothing listens.
func RefusedURL() string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("llmtest: listen: %v", err))
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

func (s *OpenAI) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	st, done := s.admit(r, body)
	defer done()

	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/health":
		if st.fault == Fail500 || st.fault == Hang {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		return
	case r.Method == http.MethodGet && strings.HasSuffix(r.URL.Path, "/models"):
		s.listModels(w, st.models)
		return
	case r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/chat/completions"):
		writeOpenAIError(w, http.StatusNotFound, "invalid_request_error", "", "Unknown request URL: "+r.Method+" "+r.URL.Path)
		return
	}

	var req openAIChatRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "", "We could not parse the JSON body of your request.")
		return
	}
	if s.serveFault(w, r, st.fault) {
		return
	}
	if req.Model == "" || len(req.Messages) == 0 {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "messages", "'messages' and 'model' are required.")
		return
	}
	if param, msg, bad := openAIDanglingTool(req.Messages); bad {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", param, msg)
		return
	}
	c := openAIChat{req: &req, id: fmt.Sprintf("chatcmpl-%s-%d", s.Name, time.Now().UnixNano()), created: time.Now().Unix()}
	for _, m := range req.Messages {
		c.prompt += len(strings.Fields(string(m)))
	}
	reply := st.reply
	if st.echo != nil {
		var last struct {
			Content string `json:"content"`
		}
		_ = json.Unmarshal(req.Messages[len(req.Messages)-1], &last)
		reply = *st.echo + last.Content
	}
	c.parts = split(reply, st.tokens)
	if !req.Stream {
		if !sleep(r, st.delay) {
			return
		}
		out, _ := json.Marshal(map[string]any{
			"id": c.id, "object": "chat.completion", "created": c.created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": reply},
				"logprobs": nil, "finish_reason": "stop"}},
			"usage": c.usage(),
		})
		w.Header().Set("Content-Type", "application/json")
		if st.fault == CutMidStream {
			cut(w, out[:len(out)/2], len(out))
			return
		}
		w.Write(out)
		return
	}
	s.streamChat(w, r, st, c, done)
}

// openAISettings is what the fake is set to answer, read under its lock.
type openAISettings struct {
	reply  string
	tokens int
	delay  time.Duration
	fault  Fault
	models []string
	gate   chan struct{}
	echo   *string
}

// admit records the request, takes the settings (a Fail500 every failN
// chats) and counts a POST in flight until done is called (once is enough;
// more are no-ops).
func (s *OpenAI) admit(r *http.Request, body []byte) (st openAISettings, done func()) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	st = openAISettings{reply: s.reply, tokens: s.tokens, delay: s.delay, fault: s.fault, models: s.models, gate: s.gate, echo: s.echo}
	if r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions") && s.failN > 0 {
		if s.chats++; s.chats%s.failN == 0 && st.fault == NoFault {
			st.fault = Fail500
		}
	}
	done = func() {}
	if r.Method == http.MethodPost {
		s.inflight++
		s.peak = max(s.peak, s.inflight)
		var once sync.Once
		done = func() {
			once.Do(func() {
				s.mu.Lock()
				s.inflight--
				s.mu.Unlock()
			})
		}
	}
	return st, done
}

// openAIChatRequest is the part of a chat completion request the fake
// reads.
type openAIChatRequest struct {
	Model         string `json:"model"`
	Stream        bool   `json:"stream"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
	Messages []json.RawMessage `json:"messages"`
}

// openAIChat is one chat completion the fake answers.
type openAIChat struct {
	req     *openAIChatRequest
	id      string
	created int64
	prompt  int      // prompt tokens
	parts   []string // the reply, one delta each
}

func (c openAIChat) usage() map[string]any {
	return map[string]any{"prompt_tokens": c.prompt, "completion_tokens": len(c.parts), "total_tokens": c.prompt + len(c.parts)}
}

// streamChat answers a streaming chat completion: chunks, the usage chunk
// when asked, [DONE]; done is called before [DONE] leaves.
func (s *OpenAI) streamChat(w http.ResponseWriter, r *http.Request, st openAISettings, c openAIChat, done func()) {
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	chunk(map[string]any{"role": "assistant", "content": ""}, nil)
	for i, p := range c.parts {
		if st.fault == CutMidStream && i == len(c.parts)/2 {
			panic(http.ErrAbortHandler) // drops the connection without a clean end
		}
		if !sleep(r, st.delay) {
			s.noteCanceled()
			return
		}
		chunk(map[string]any{"content": p}, nil)
		if i == 0 && st.gate != nil {
			select {
			case <-st.gate:
			case <-r.Context().Done():
				s.noteCanceled()
				return
			}
		}
	}
	chunk(map[string]any{}, "stop")
	if c.req.StreamOptions != nil && c.req.StreamOptions.IncludeUsage {
		b, _ := json.Marshal(map[string]any{"id": c.id, "object": "chat.completion.chunk", "created": c.created, "model": c.req.Model,
			"choices": []any{}, "usage": c.usage()})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	// The answer is complete once [DONE] leaves: stop counting the request
	// before it does, since a client (or a router) may act on [DONE] before
	// this goroutine runs again.
	done()
	io.WriteString(w, "data: [DONE]\n\n")
	fl.Flush()
}

func (s *OpenAI) listModels(w http.ResponseWriter, ids []string) {
	data := make([]any, 0, len(ids))
	for _, id := range ids {
		data = append(data, map[string]any{"id": id, "object": "model", "created": 1700000000, "owned_by": s.Name})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data})
}

// cut writes part of a body announced with a longer Content-Length, then
// drops the connection.
func cut(w http.ResponseWriter, part []byte, full int) {
	w.Header().Set("Content-Length", fmt.Sprint(full))
	w.WriteHeader(http.StatusOK)
	w.Write(part)
	http.NewResponseController(w).Flush()
	panic(http.ErrAbortHandler)
}

func sleep(r *http.Request, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// split cuts text into n pieces on word boundaries where possible.
func split(text string, n int) []string {
	words := strings.SplitAfter(text, " ")
	if n >= len(words) {
		return words
	}
	out := make([]string, 0, n)
	per := (len(words) + n - 1) / n
	for i := 0; i < len(words); i += per {
		out = append(out, strings.Join(words[i:min(i+per, len(words))], ""))
	}
	return out
}

func writeOpenAIError(w http.ResponseWriter, status int, typ, param, msg string) {
	var p any
	if param != "" {
		p = param
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"error": map[string]any{"message": msg, "type": typ, "param": p, "code": nil}})
}

// ReadSSE reads an SSE body and returns the data payloads of its events.
func ReadSSE(r io.Reader) ([]string, error) {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 8<<20)
	for sc.Scan() {
		if d, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			out = append(out, d)
		}
	}
	return out, sc.Err()
}

// serveFault answers a POST with fault f; false when f is NoFault (or a
// fault of streams only).
func (s *OpenAI) serveFault(w http.ResponseWriter, r *http.Request, f Fault) bool {
	if s.serveHostile(w, f) {
		return true
	}
	switch f {
	case Fail500:
		writeOpenAIError(w, http.StatusInternalServerError, "server_error", "", "The server had an error while processing your request.")
	case Fail429:
		w.Header().Set("Retry-After", "1")
		writeOpenAIError(w, http.StatusTooManyRequests, "rate_limit_exceeded", "", "Rate limit reached for requests.")
	case Fail400:
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "temperature", "Invalid value for 'temperature'.")
	case Hang:
		<-r.Context().Done()
		s.noteCanceled()
	default:
		return false
	}
	return true
}
