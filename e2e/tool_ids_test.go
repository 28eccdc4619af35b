package e2e

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	ollama "github.com/ollama/ollama/api"
)

// An Ollama client's history whose tool result has no assistant call
// (LlamaIndex's Ollama client drops the call), or whose calls and results
// carry no ids (older Ollama), reaches OpenAI and Anthropic providers in a
// form their APIs accept — the llmtest fakes refuse a tool result whose id
// answers no earlier call, as the real APIs do. The orphan result is
// stated in a user turn.
func TestOllamaToolHistoryToOtherProviders(t *testing.T) {
	r, provs := startMatrix(t)
	var call ollama.ToolCall
	_ = json.Unmarshal([]byte(`{"function":{"index":0,"name":"get_weather","arguments":{"city":"Oslo"}}}`), &call)
	histories := map[string][]ollama.Message{
		"orphan result": {{Role: "user", Content: matrixQuestion},
			{Role: "tool", Content: matrixToolResult, ToolName: "get_weather"},
			{Role: "user", Content: "And tomorrow?"}},
		"calls and results without ids": {{Role: "user", Content: matrixQuestion},
			{Role: "assistant", ToolCalls: []ollama.ToolCall{call, call}},
			{Role: "tool", Content: matrixToolResult, ToolName: "get_weather"},
			{Role: "tool", Content: "rain", ToolName: "get_weather"}},
	}
	for _, p := range provs {
		if p.apiType == "ollama" {
			continue
		}
		for name, msgs := range histories {
			t.Run(p.apiType+"/"+name, func(t *testing.T) {
				p.reset("It is sunny.")
				stream := false
				var answer string
				err := matrixOllama(r).Chat(context.Background(), &ollama.ChatRequest{Model: p.model, Stream: &stream, Messages: msgs},
					func(cr ollama.ChatResponse) error { answer += cr.Message.Content; return nil })
				if err != nil || answer != "It is sunny." {
					t.Fatalf("answer %q, error %v; provider got %s", answer, err, p.last(t).Body)
				}
				body := string(p.last(t).Body)
				if name == "orphan result" && !strings.Contains(body, `Result of tool call get_weather:\n`+matrixToolResult) {
					t.Fatalf("the orphan result was not stated as user text: %s", body)
				}
			})
		}
	}
}
