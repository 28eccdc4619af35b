package ollama

import (
	"encoding/json"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// The fast path must agree with the full decoder on every line it accepts.
func FuzzFastLine(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi \u00e9\n"},"done":false}`,
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":298,"eval_duration":4799921000}`,
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","response":"","done":true,"done_reason":"length","context":[1,2,3],"prompt_eval_count":-0,"eval_count":10}`,
		`{"model":"m","message":{"role":"assistant","content":"","thinking":"x"},"done":false}`,
		`{"model":"m","message":{"role":"assistant","content":"a","tool_calls":[]},"done":false}`,
		`{"model":"m","message":{"content":"a"},"message":{"role":"r"},"done":true,"done_reason":"stop"}`,
		`{"model":"m","response":"a","done":false}`,
		`{"model":"m","done":true,"done_reason":null,"eval_count":1.5}`,
		`{"model":7,"done":false}`,
		`{"Model":"m","done":false}`,
		`{"error":"boom"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		got, ok := readFastLine(line)
		if !ok {
			return
		}
		var l sLine
		var d wire.Decoder
		if err := d.Decode(line, &l); err != nil {
			t.Fatalf("fast path accepted %q that the decoder rejects: %v", line, err)
		}
		var h struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(line, &h)
		want := fastLine{model: h.Model, text: l.Message.Content + l.Response, doneReason: l.DoneReason,
			done: l.Done, promptEval: l.PromptEvalCount, eval: l.EvalCount}
		if got != want || len(l.Message.ToolCalls) != 0 || l.Message.Thinking+l.Thinking != "" || !jsonscan.IsNull(l.Error) {
			t.Fatalf("fast path %+v disagrees with the decoder %+v on %q", got, l, line)
		}
	})
}

// The common lines take the fast path (the point of it).
func TestFastLineTaken(t *testing.T) {
	for _, line := range []string{
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi"},"done":false}`,
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":5191566416,"load_duration":2154458,"prompt_eval_count":26,"prompt_eval_duration":383809000,"eval_count":298,"eval_duration":4799921000}`,
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","response":"Hi","done":false}`,
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","response":"","done":true,"done_reason":"stop","context":[1,2],"eval_count":3}`,
	} {
		if _, ok := readFastLine([]byte(line)); !ok {
			t.Errorf("full decoder taken for %s", line)
		}
	}
}
