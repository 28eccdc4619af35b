package llmtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"
)

// OpenAIPlus is the OpenAI fake with two more abilities: POST /v1/embeddings
// and tool-call answers. Everything else (knobs, faults, chat) is the
// embedded OpenAI fake's.
type OpenAIPlus struct {
	*OpenAI
	tools []ToolCall // guarded by OpenAI.mu
	bow   int        // guarded by OpenAI.mu
}

// SetBagOfWords makes later embedding answers hashed bag-of-words vectors
// of dim dimensions (see BagOfWords); 0 goes back to Vector.
func (s *OpenAIPlus) SetBagOfWords(dim int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.bow = dim
}

// NewOpenAIPlus starts a fake OpenAI-compatible server that also serves
// embeddings and tool calls. Close it when done.
func NewOpenAIPlus(name string) *OpenAIPlus {
	s := &OpenAIPlus{OpenAI: &OpenAI{Name: name, reply: "Hello from " + name + ".", tokens: 4}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	return s
}

// SetToolCalls makes later chat requests that offer tools answer with these
// tool calls (finish_reason "tool_calls"); none goes back to text answers.
func (s *OpenAIPlus) SetToolCalls(calls ...ToolCall) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tools = append([]ToolCall(nil), calls...)
}

func (s *OpenAIPlus) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	tools, fault, delay, bow := s.tools, s.fault, s.delay, s.bow
	s.mu.Unlock()
	embeddings := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/embeddings")
	var req plusRequest
	toolCall := r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/chat/completions") && len(tools) > 0
	if embeddings && fault != NoFault && fault != CutMidStream { // an answer's fault, as on chat
		s.mu.Lock()
		s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
		s.mu.Unlock()
		s.serveFault(w, r, fault)
		return
	}
	if (!embeddings && !toolCall) || fault != NoFault || json.Unmarshal(body, &req) != nil || (toolCall && len(req.Tools) == 0) {
		r.Body = io.NopCloser(bytes.NewReader(body))
		s.OpenAI.serve(w, r)
		return
	}
	s.mu.Lock()
	s.requests = append(s.requests, Request{Method: r.Method, Path: r.URL.Path, Header: r.Header.Clone(), Body: body})
	s.mu.Unlock()
	if !sleep(r, delay) {
		s.noteCanceled()
		return
	}
	if embeddings {
		s.embeddings(w, req.Model, req.Input, bow)
		return
	}
	if param, msg, bad := openAIDanglingTool(req.Messages); bad {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", param, msg)
		return
	}
	s.answerToolCalls(w, &req, tools)
}

// plusRequest is the part of a chat completion or embeddings request the
// fake reads.
type plusRequest struct {
	Model         string            `json:"model"`
	Stream        bool              `json:"stream"`
	Tools         []json.RawMessage `json:"tools"`
	Messages      []json.RawMessage `json:"messages"`
	Input         json.RawMessage   `json:"input"`
	StreamOptions *struct {
		IncludeUsage bool `json:"include_usage"`
	} `json:"stream_options"`
}

// answerToolCalls answers a chat completion with the tool calls set, as a
// JSON completion or as a stream whose arguments come in two fragments.
func (s *OpenAIPlus) answerToolCalls(w http.ResponseWriter, req *plusRequest, tools []ToolCall) {
	prompt := 0
	for _, m := range req.Messages {
		prompt += words(m)
	}
	id := fmt.Sprintf("chatcmpl-%s-%d", s.Name, time.Now().UnixNano())
	created := time.Now().Unix()
	ids := make([]string, len(tools))
	args := make([][]byte, len(tools))
	var calls []any
	for i, tc := range tools {
		ids[i] = tc.ID
		if ids[i] == "" {
			ids[i] = fmt.Sprintf("call_abc12%d", i)
		}
		args[i], _ = json.Marshal(tc.Args)
		if tc.Args == nil {
			args[i] = []byte("{}")
		}
		calls = append(calls, map[string]any{"id": ids[i], "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": string(args[i])}})
	}
	usage := map[string]any{"prompt_tokens": prompt, "completion_tokens": len(tools), "total_tokens": prompt + len(tools)}
	if !req.Stream {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{
			"id": id, "object": "chat.completion", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "message": map[string]any{"role": "assistant", "content": nil,
				"tool_calls": calls}, "logprobs": nil, "finish_reason": "tool_calls"}},
			"usage": usage,
		})
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.WriteHeader(http.StatusOK)
	fl := http.NewResponseController(w)
	chunk := func(delta map[string]any, finish any) {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{map[string]any{"index": 0, "delta": delta, "logprobs": nil, "finish_reason": finish}}})
		fmt.Fprintf(w, "data: %s\n\n", b)
		fl.Flush()
	}
	chunk(map[string]any{"role": "assistant", "content": nil}, nil)
	for i, tc := range tools {
		chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "id": ids[i], "type": "function",
			"function": map[string]any{"name": tc.Name, "arguments": ""}}}}, nil)
		half := len(args[i]) / 2
		half = runeStart(args[i], half)
		for _, frag := range []string{string(args[i][:half]), string(args[i][half:])} {
			chunk(map[string]any{"tool_calls": []any{map[string]any{"index": i, "function": map[string]any{"arguments": frag}}}}, nil)
		}
	}
	chunk(map[string]any{}, "tool_calls")
	if req.StreamOptions != nil && req.StreamOptions.IncludeUsage {
		b, _ := json.Marshal(map[string]any{"id": id, "object": "chat.completion.chunk", "created": created, "model": req.Model,
			"choices": []any{}, "usage": usage})
		fmt.Fprintf(w, "data: %s\n\n", b)
	}
	io.WriteString(w, "data: [DONE]\n\n")
	fl.Flush()
}

func (s *OpenAIPlus) embeddings(w http.ResponseWriter, model string, input json.RawMessage, bow int) {
	var inputs []string
	var one string
	if json.Unmarshal(input, &one) == nil {
		inputs = []string{one}
	} else if err := json.Unmarshal(input, &inputs); err != nil || len(inputs) == 0 {
		writeOpenAIError(w, http.StatusBadRequest, "invalid_request_error", "input", "'input' must be a string or an array of strings.")
		return
	}
	data := make([]any, 0, len(inputs))
	tokens := 0
	for i, in := range inputs {
		data = append(data, map[string]any{"object": "embedding", "index": i, "embedding": embedding(in, bow)})
		tokens += len(strings.Fields(in))
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"object": "list", "data": data, "model": model,
		"usage": map[string]any{"prompt_tokens": tokens, "total_tokens": tokens}})
}
