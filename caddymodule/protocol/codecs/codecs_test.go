package codecs

import (
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
