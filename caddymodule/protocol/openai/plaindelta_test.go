package openai

import (
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// The fast path must agree with the full decoder on every chunk it accepts:
// one choice at index 0 whose only effect is its content.
func FuzzPlainDelta(f *testing.F) {
	for _, s := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hi \u00e9\n"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"c","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"stop_reason":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":null}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"delta":{"content":null}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"x"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}`,
		`{"id":"c","choices":[{"index":1,"delta":{"content":"b"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2}}`,
		`{"id":"c","choices":{"index":0}}`,
		`{"Choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}`,
		`{"error":{"message":"boom"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text, ok := plainDelta(data)
		if !ok {
			return
		}
		var c wChunk
		var d wire.Decoder
		if err := d.Decode(data, &c); err != nil {
			t.Fatalf("fast path accepted %q that the decoder rejects: %v", data, err)
		}
		if len(c.Choices) != 1 || c.Usage != nil || !wire.IsNull(c.Error) {
			t.Fatalf("fast path accepted %q: %+v", data, c)
		}
		ch := c.Choices[0]
		dl := ch.Delta
		if ch.Index != 0 || dl.Content != text || dl.Reasoning != "" || dl.ReasoningContent != "" || dl.Refusal != "" ||
			len(dl.ToolCalls) != 0 || ch.Text != "" || ch.FinishReason != "" || ch.StopReason != nil {
			t.Fatalf("fast path %q disagrees with the decoder on %q: %+v", text, data, ch)
		}
	})
}

// Content chunks as vLLM and OpenAI send them take the fast path.
func TestPlainDeltaTaken(t *testing.T) {
	for _, line := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null,"stop_reason":null}]}`,
	} {
		if _, ok := plainDelta([]byte(line)); !ok {
			t.Errorf("full decoder taken for %s", line)
		}
	}
}
