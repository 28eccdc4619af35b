package protocol_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

func addFiles(f *testing.F, glob string) {
	files, _ := filepath.Glob(filepath.Join("testdata", glob))
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
}

// fuzzStream decodes in with dec and re-encodes every event with every
// client encoder: nothing may panic, and the decoder must make progress.
func fuzzStream(t *testing.T, p protocol.ProviderCodec, in []byte) {
	dec := p.NewStreamDecoder(bytes.NewReader(in))
	encs := make([]protocol.StreamEncoder, 0, len(clients))
	for _, c := range clients {
		encs = append(encs, c.NewStreamEncoder(io.Discard, nil, protocol.StreamOptions{IncludeUsage: true}))
	}
	limit := 4*len(in) + 16
	for n := 0; ; n++ {
		if n > limit {
			t.Fatalf("decoder produced more than %d events from %d bytes", limit, len(in))
		}
		ev, err := dec.Next()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, protocol.ErrUpstream) {
				t.Fatalf("error %v does not wrap ErrUpstream", err)
			}
			return
		}
		for _, e := range encs {
			if err := e.Write(&ev); err != nil {
				t.Fatalf("encoding to io.Discard failed: %v", err)
			}
		}
	}
}

func FuzzStreamOpenAI(f *testing.F) {
	addFiles(f, "openai_*.sse")
	f.Add([]byte("data: {\"choices\":[{\"delta\":{\"tool_calls\":[{\"index\":5,\"function\":{\"arguments\":\"{\"}}]}}]}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzStream(t, openai.Chat{}, in) })
}

func FuzzStreamAnthropic(f *testing.F) {
	addFiles(f, "anthropic_*.sse")
	f.Add([]byte("event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":9,\"delta\":{\"type\":\"input_json_delta\",\"partial_json\":\"x\"}}\n\n"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzStream(t, anthropic.Messages{}, in) })
}

func FuzzStreamOllama(f *testing.F) {
	addFiles(f, "ollama_*.ndjson")
	f.Add([]byte("{\"message\":{\"tool_calls\":[{\"function\":{\"arguments\":[1]}}]},\"done\":true}\n"))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzStream(t, ollama.Chat{}, in) })
}

// fuzzRequest decodes a client body and, when valid, encodes it for every
// provider: errors are fine, panics are not, and errors must be RequestErrors.
func fuzzRequest(t *testing.T, c protocol.ClientCodec, in []byte) {
	r, err := c.DecodeRequest(in)
	if err != nil {
		var re *protocol.RequestError
		if !errors.As(err, &re) {
			t.Fatalf("decode error %v is not a *RequestError", err)
		}
		return
	}
	r.VisitTexts(func(s *string) { *s += "x" })
	for _, p := range providers {
		if _, err := p.EncodeRequest(r); err != nil {
			var re *protocol.RequestError
			if !errors.As(err, &re) {
				t.Fatalf("encode error %v is not a *RequestError", err)
			}
		}
	}
}

func addConversations(f *testing.F) {
	for _, b := range conversations {
		f.Add([]byte(b))
	}
	f.Add([]byte(fullResponsesBody))
	f.Add([]byte(`{"model":"m","prompt":"x","messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"data:image/png;base64,AA"}}]}]}`))
}

const fullResponsesBody = `{"model":"m","instructions":"i","input":[{"role":"user","content":"hi"},{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"o"}],"tools":[{"type":"function","name":"f"}]}`

func FuzzRequestOpenAIChat(f *testing.F) {
	addConversations(f)
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, openai.Chat{}, in) })
}

func FuzzRequestResponses(f *testing.F) {
	addConversations(f)
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, openai.Responses{}, in) })
}

func FuzzRequestCompletions(f *testing.F) {
	addConversations(f)
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, openai.Completions{}, in) })
}

func FuzzRequestAnthropic(f *testing.F) {
	addConversations(f)
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, anthropic.Messages{}, in) })
}

func FuzzRequestOllamaChat(f *testing.F) {
	addConversations(f)
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, ollama.Chat{}, in) })
}

func FuzzRequestOllamaGenerate(f *testing.F) {
	addConversations(f)
	f.Add([]byte(`{"model":"m","prompt":"p","system":"s","images":["AA"],"think":true}`))
	f.Fuzz(func(t *testing.T, in []byte) { fuzzRequest(t, ollama.Generate{}, in) })
}

// FuzzResponse decodes whole provider answers and re-encodes them for every client.
func FuzzResponse(f *testing.F) {
	f.Add(0, []byte(`{"id":"chatcmpl-1","choices":[{"message":{"content":"hi","tool_calls":[{"id":"c","function":{"name":"f","arguments":"{}"}}]},"finish_reason":"stop"}],"usage":{"prompt_tokens":1}}`))
	f.Add(1, []byte(`{"id":"msg_1","type":"message","content":[{"type":"tool_use","id":"t","name":"f","input":{}}],"stop_reason":"tool_use","usage":{"input_tokens":1}}`))
	f.Add(2, []byte(`{"model":"m","message":{"content":"x","tool_calls":[{"function":{"name":"f","arguments":{}}}]},"done":true,"done_reason":"stop"}`))
	order := []protocol.ProviderCodec{openai.Chat{}, anthropic.Messages{}, ollama.Chat{}}
	f.Fuzz(func(t *testing.T, which int, in []byte) {
		p := order[(which%3+3)%3]
		r, err := p.DecodeResponse(in)
		if err != nil {
			return
		}
		for _, c := range clients {
			if _, err := c.EncodeResponse(r); err != nil {
				t.Fatalf("%s cannot encode a decoded response: %v", c.Dialect(), err)
			}
		}
	})
}

// FuzzEmbed decodes embeddings requests and answers in both dialects.
func FuzzEmbed(f *testing.F) {
	f.Add([]byte(`{"model":"e","input":["a"],"encoding_format":"base64"}`), []byte(`{"data":[{"index":0,"embedding":"AACAPw=="}]}`))
	f.Add([]byte(`{"model":"e","input":"a","prompt":"b"}`), []byte(`{"embeddings":[[1]],"embedding":[2]}`))
	ecs := []protocol.EmbedCodec{openai.Embeddings{}, ollama.Embed{}, ollama.Embeddings{}}
	f.Fuzz(func(t *testing.T, req, res []byte) {
		for _, c := range ecs {
			r, err := c.DecodeEmbedRequest(req)
			if err != nil {
				continue
			}
			for _, p := range ecs {
				_, _ = p.EncodeEmbedRequest(r)
				if out, err := p.DecodeEmbedResponse(res); err == nil {
					if _, err := c.EncodeEmbedResponse(r, out); err != nil {
						t.Fatalf("encode: %v", err)
					}
				}
			}
		}
	})
}
