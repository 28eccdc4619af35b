package codecs

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestLookup(t *testing.T) {
	for _, d := range []protocol.Dialect{protocol.OpenAIChat, protocol.OpenAIResponses, protocol.OpenAICompletions, protocol.Anthropic, protocol.OllamaChat, protocol.OllamaGenerate} {
		c, ok := Client(d)
		if !ok || c.Dialect() != d {
			t.Errorf("Client(%s) = %v, %v", d, c, ok)
		}
	}
	for _, d := range []protocol.Dialect{protocol.OpenAIEmbeddings, protocol.OllamaEmbed, protocol.OllamaEmbeddings} {
		c, ok := Embed(d)
		if !ok || c.Dialect() != d {
			t.Errorf("Embed(%s) = %v, %v", d, c, ok)
		}
	}
	want := map[string]protocol.Dialect{"openai": protocol.OpenAIChat, "vllm": protocol.OpenAIChat, "lmstudio": protocol.OpenAIChat, "ollama": protocol.OllamaChat, "anthropic": protocol.Anthropic}
	for api, d := range want {
		p, ok := Provider(api, 0)
		if !ok || p.Dialect() != d {
			t.Errorf("Provider(%s) = %v, %v", api, p, ok)
		}
	}
	if _, ok := Provider("llama.cpp", 0); ok {
		t.Errorf("unknown api_type accepted")
	}
	if _, ok := ProviderEmbed("anthropic"); ok {
		t.Errorf("anthropic has no embeddings")
	}
	if !Same(protocol.OpenAIChat, "vllm") || Same(protocol.OpenAIChat, "ollama") || !Same(protocol.OllamaGenerate, "ollama") || Same(protocol.Anthropic, "openai") {
		t.Errorf("Same() table wrong")
	}
}

// TestErrorShapes checks that every dialect picks its family's error
// object, and that a codec's WriteError answers with the very bytes of
// AppendError, so the router and the codecs cannot drift apart.
func TestErrorShapes(t *testing.T) {
	prefix := map[protocol.Dialect]string{
		protocol.OpenAIChat:        `{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":null}}`,
		protocol.OpenAIResponses:   `{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":null}}`,
		protocol.OpenAICompletions: `{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":null}}`,
		protocol.OpenAIEmbeddings:  `{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":null}}`,
		protocol.Anthropic:         `{"type":"error","error":{"type":"rate_limit_error","message":"m"}}`,
		protocol.OllamaChat:        `{"error":"m"}`,
		protocol.OllamaGenerate:    `{"error":"m"}`,
		protocol.OllamaEmbed:       `{"error":"m"}`,
		protocol.OllamaEmbeddings:  `{"error":"m"}`,
		"":                         `{"error":{"message":"m","type":"rate_limit_exceeded","param":null,"code":null}}`,
	}
	for d, want := range prefix {
		if got := string(AppendError(nil, d, 429, "m", "", "")); got != want {
			t.Errorf("AppendError(%q) = %s, want %s", d, got, want)
		}
		var w interface {
			WriteError(w http.ResponseWriter, status int, msg string)
		}
		if c, ok := Client(d); ok {
			w = c
		} else if c, ok := Embed(d); ok {
			w = c
		} else {
			continue
		}
		rec := httptest.NewRecorder()
		rec.Header().Set("Content-Length", "3")
		w.WriteError(rec, 429, "m")
		if rec.Code != 429 || rec.Body.String() != want+"\n" || rec.Header().Get("Content-Type") != "application/json" ||
			rec.Header().Get("Content-Length") != "" {
			t.Errorf("%s WriteError: %d %v %q", d, rec.Code, rec.Header(), rec.Body)
		}
	}
	if got := string(AppendError(nil, protocol.OpenAIChat, 400, "m", "model", "bad")); !strings.Contains(got, `"param":"model","code":"bad"`) {
		t.Errorf("OpenAI param/code lost: %s", got)
	}
}
