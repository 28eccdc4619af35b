package llmtest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// Anthropic is a fake Anthropic Messages API server: POST /v1/messages
// (JSON or SSE stream) and GET /v1/models.
type Anthropic struct {
	// Name identifies the server in its replies ("Hello from <Name>").
	Name string
	*httptest.Server
	knobs
	key                   string
	cacheRead, cacheWrite int
}

// NewAnthropic starts a fake Anthropic server. Close it when done. It
// requires an x-api-key header (any value until SetAPIKey) and an
// anthropic-version header, as the real API does.
func NewAnthropic(name string) *Anthropic {
	s := &Anthropic{Name: name}
	s.reply, s.tokens = "Hello from "+name+".", 4
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetAPIKey makes the fake accept only this x-api-key ("" accepts any
// non-empty key).
func (s *Anthropic) SetAPIKey(key string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.key = key
}

// SetCacheUsage makes later answers report prompt-cache tokens: read from
// the cache and written to it. input_tokens then counts only the uncached
// part, as the real API does.
func (s *Anthropic) SetCacheUsage(read, write int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cacheRead, s.cacheWrite = read, write
}

func (s *Anthropic) serve(w http.ResponseWriter, r *http.Request) {
	body, st := s.record(r)
	s.mu.Lock()
	key, cacheRead, cacheWrite := s.key, s.cacheRead, s.cacheWrite
	s.mu.Unlock()
	w.Header().Set("request-id", fmt.Sprintf("req_%s%d", s.Name, time.Now().UnixNano()))
	got := r.Header.Get("X-Api-Key")
	switch {
	case got == "":
		writeAnthropicError(w, http.StatusUnauthorized, "authentication_error", "x-api-key header is required")
		return
	case key != "" && got != key:
		writeAnthropicError(w, http.StatusUnauthorized, "authentication_error", "invalid x-api-key")
		return
	case r.Header.Get("Anthropic-Version") == "":
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "anthropic-version: header is required")
		return
	}
	switch {
	case r.Method == http.MethodGet && r.URL.Path == "/v1/models":
		s.listModels(w, st.models)
		return
	case r.Method != http.MethodPost || r.URL.Path != "/v1/messages":
		writeAnthropicError(w, http.StatusNotFound, "not_found_error", "Not Found")
		return
	}
	req, ok := decodeAnthropic(w, body)
	if !ok {
		return
	}
	switch st.fault {
	case Fail500:
		writeAnthropicError(w, http.StatusInternalServerError, "api_error", "Internal server error")
		return
	case Fail429:
		w.Header().Set("Retry-After", "1")
		writeAnthropicError(w, http.StatusTooManyRequests, "rate_limit_error", "Number of request tokens has exceeded your per-minute rate limit")
		return
	case Fail400:
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "temperature: Input should be less than or equal to 1")
		return
	case Hang:
		<-r.Context().Done()
		s.noteCanceled()
		return
	}
	if !serves(st.models, req.Model) {
		writeAnthropicError(w, http.StatusNotFound, "not_found_error", "model: "+req.Model)
		return
	}
	a := s.answer(req, st, cacheRead, cacheWrite)
	if !req.Stream {
		s.writeMessage(w, r, st, a)
		return
	}
	s.stream(w, r, st, a)
}

// anthropicEvents returns a function that writes one SSE event of type typ
// (set in data) and flushes it.
func anthropicEvents(w http.ResponseWriter) func(typ string, data map[string]any) {
	fl := http.NewResponseController(w)
	return func(typ string, data map[string]any) {
		data["type"] = typ
		b, _ := json.Marshal(data)
		fmt.Fprintf(w, "event: %s\ndata: %s\n\n", typ, b)
		fl.Flush()
	}
}

// anthropicRequest is the part of a Messages request the fake reads.
type anthropicRequest struct {
	Model     string            `json:"model"`
	MaxTokens *int              `json:"max_tokens"`
	Messages  []json.RawMessage `json:"messages"`
	System    json.RawMessage   `json:"system"`
	Stream    bool              `json:"stream"`
	Tools     []json.RawMessage `json:"tools"`
	Thinking  *struct {
		Type string `json:"type"`
	} `json:"thinking"`
}

// decodeAnthropic decodes and checks a Messages request as the real API
// does; false: it answered with the error.
func decodeAnthropic(w http.ResponseWriter, body []byte) (*anthropicRequest, bool) {
	var req anthropicRequest
	if err := json.Unmarshal(body, &req); err != nil {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "There was an issue with the JSON body of your request.")
		return nil, false
	}
	switch {
	case req.Model == "":
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "model: Field required")
		return nil, false
	case req.MaxTokens == nil:
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "max_tokens: Field required")
		return nil, false
	case len(req.Messages) == 0:
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", "messages: Field required")
		return nil, false
	}
	if msg, bad := anthropicDanglingTool(req.Messages); bad {
		writeAnthropicError(w, http.StatusBadRequest, "invalid_request_error", msg)
		return nil, false
	}
	return &req, true
}

// anthropicSignature is the signature of the fake's thinking blocks.
const anthropicSignature = "EqQBCgIYAhIM1gbcDa9GJwZA2b3hGgxBdjrkzLoky3dl1pkiMOYds"

// anthropicAnswer is the fake's answer to one request, before it is
// written as a message or a stream.
type anthropicAnswer struct {
	parts    []string         // the text, in stream deltas
	reason   string           // stop_reason
	uses     []map[string]any // tool_use blocks
	thinking string
	out      int // output_tokens
	// message is the message object with content.
	message func(content []any, stop any, output int) map[string]any
}

// answer is what the fake answers to req: the reply cut at max_tokens, or
// the tool calls when the request has tools.
func (s *Anthropic) answer(req *anthropicRequest, st settings, cacheRead, cacheWrite int) anthropicAnswer {
	prompt := words(req.System)
	for _, m := range req.Messages {
		prompt += words(m)
	}
	a := anthropicAnswer{parts: split(st.reply, st.tokens), reason: "end_turn"}
	if *req.MaxTokens > 0 && *req.MaxTokens < len(a.parts) {
		a.parts, a.reason = a.parts[:*req.MaxTokens], "max_tokens"
	}
	if len(req.Tools) > 0 {
		for i, tc := range st.tools {
			id := tc.ID
			if id == "" {
				id = fmt.Sprintf("toolu_01A09q90qw90lq917835lq%d", i)
			}
			args := tc.Args
			if args == nil {
				args = map[string]any{}
			}
			a.uses = append(a.uses, map[string]any{"type": "tool_use", "id": id, "name": tc.Name, "input": args})
			a.parts, a.reason = nil, "tool_use"
		}
	}
	if req.Thinking != nil && (req.Thinking.Type == "enabled" || req.Thinking.Type == "adaptive") {
		a.thinking = st.thinking
	}
	a.out = max(len(a.parts), 1)
	id := fmt.Sprintf("msg_01%s%d", s.Name, time.Now().UnixNano())
	usage := func(output int) map[string]any {
		return map[string]any{"input_tokens": prompt, "output_tokens": output, "cache_creation_input_tokens": cacheWrite,
			"cache_read_input_tokens": cacheRead, "service_tier": "standard"}
	}
	a.message = func(content []any, stop any, output int) map[string]any {
		return map[string]any{"id": id, "type": "message", "role": "assistant", "model": req.Model, "content": content,
			"stop_reason": stop, "stop_sequence": nil, "usage": usage(output)}
	}
	return a
}

// writeMessage answers a request without stream: one JSON message.
func (s *Anthropic) writeMessage(w http.ResponseWriter, r *http.Request, st settings, a anthropicAnswer) {
	if !sleep(r, st.delay) {
		s.noteCanceled()
		return
	}
	content := []any{}
	if a.thinking != "" {
		content = append(content, map[string]any{"type": "thinking", "thinking": a.thinking, "signature": anthropicSignature})
	}
	for _, u := range a.uses {
		content = append(content, u)
	}
	if len(a.uses) == 0 {
		content = append(content, map[string]any{"type": "text", "text": strings.Join(a.parts, "")})
	}
	b, _ := json.Marshal(a.message(content, a.reason, a.out))
	w.Header().Set("Content-Type", "application/json")
	if st.fault == CutMidStream {
		cut(w, b[:len(b)/2], len(b))
		return
	}
	w.Write(b)
}

// stream answers a streaming request: the SSE events of the real API
// (thinking, tool_use or text blocks), with the stream faults.
func (s *Anthropic) stream(w http.ResponseWriter, r *http.Request, st settings, a anthropicAnswer) {
	w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	event := anthropicEvents(w)
	uses, parts := a.uses, a.parts
	event("message_start", map[string]any{"message": a.message([]any{}, nil, 1)})
	first := 0 // index of the first block after thinking
	if a.thinking != "" {
		event("content_block_start", map[string]any{"index": 0, "content_block": map[string]any{"type": "thinking", "thinking": ""}})
		for _, t := range split(a.thinking, 2) {
			event("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "thinking_delta", "thinking": t}})
		}
		event("content_block_delta", map[string]any{"index": 0, "delta": map[string]any{"type": "signature_delta", "signature": anthropicSignature}})
		event("content_block_stop", map[string]any{"index": 0})
		first = 1
	}
	for b, u := range uses {
		b += first
		event("content_block_start", map[string]any{"index": b, "content_block": map[string]any{
			"type": "tool_use", "id": u["id"], "name": u["name"], "input": map[string]any{}}})
		if b == 0 {
			event("ping", map[string]any{})
		}
		args, _ := json.Marshal(u["input"])
		half := runeStart(args, len(args)/2)
		for i, frag := range []string{"", string(args[:half]), string(args[half:])} {
			if st.fault == CutMidStream && i == 2 {
				panic(http.ErrAbortHandler)
			}
			if st.fault == ErrorMidStream && i == 2 {
				event("error", map[string]any{"error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
				return
			}
			if !sleep(r, st.delay) {
				s.noteCanceled()
				return
			}
			event("content_block_delta", map[string]any{"index": b, "delta": map[string]any{"type": "input_json_delta", "partial_json": frag}})
			if b == 0 && i == 1 && !s.hold(r, st.gate) {
				return
			}
		}
		if b < first+len(uses)-1 {
			event("content_block_stop", map[string]any{"index": b})
		}
	}
	last := first + max(len(uses)-1, 0)
	if len(uses) == 0 {
		event("content_block_start", map[string]any{"index": first, "content_block": map[string]any{"type": "text", "text": ""}})
		event("ping", map[string]any{})
		for i, p := range parts {
			if st.fault == CutMidStream && i == len(parts)/2 {
				panic(http.ErrAbortHandler) // drops the connection before message_stop
			}
			if st.fault == ErrorMidStream && i == len(parts)/2 {
				event("error", map[string]any{"error": map[string]any{"type": "overloaded_error", "message": "Overloaded"}})
				return
			}
			if !sleep(r, st.delay) {
				s.noteCanceled()
				return
			}
			event("content_block_delta", map[string]any{"index": first, "delta": map[string]any{"type": "text_delta", "text": p}})
			if i == 0 && !s.hold(r, st.gate) {
				return
			}
		}
	}
	event("content_block_stop", map[string]any{"index": last})
	event("message_delta", map[string]any{"delta": map[string]any{"stop_reason": a.reason, "stop_sequence": nil},
		"usage": map[string]any{"output_tokens": a.out}})
	event("message_stop", map[string]any{})
}

func (s *Anthropic) listModels(w http.ResponseWriter, ids []string) {
	if len(ids) == 0 {
		ids = []string{s.Name}
	}
	data := make([]any, 0, len(ids))
	for _, id := range ids {
		data = append(data, map[string]any{"type": "model", "id": id, "display_name": id, "created_at": "2025-05-14T00:00:00Z"})
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data, "has_more": false, "first_id": ids[0], "last_id": ids[len(ids)-1]})
}

func writeAnthropicError(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"type": "error", "error": map[string]any{"type": typ, "message": msg},
		"request_id": w.Header().Get("request-id")})
}
