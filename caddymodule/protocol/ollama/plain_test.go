package ollama

import (
	"encoding/json"
	"testing"
)

// The fast path must agree with the full decoder on every line it accepts.
func FuzzPlainContent(f *testing.F) {
	for _, s := range []string{
		`{"model":"m","created_at":"2024-01-01T00:00:00Z","message":{"role":"assistant","content":"Hi \u00e9\n"},"done":false}`,
		`{"model":"m","message":{"role":"assistant","content":"","thinking":"x"},"done":false}`,
		`{"model":"m","message":{"role":"assistant","content":"a","tool_calls":[]},"done":false}`,
		`{"model":"m","message":{"role":"assistant","content":"a"},"done":true,"done_reason":"stop"}`,
		`{"model":"m","response":"a","done":false}`,
		`{"error":"boom"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, line []byte) {
		text, ok := plainContent(line)
		if !ok {
			return
		}
		var l sLine
		if err := json.Unmarshal(line, &l); err != nil {
			t.Fatalf("fast path accepted %q that the decoder rejects: %v", line, err)
		}
		if l.Message.Content != text || l.Done || len(l.Message.ToolCalls) != 0 || l.Message.Thinking != "" || l.Response != "" || l.Error != nil {
			t.Fatalf("fast path %q disagrees with the decoder on %q: %+v", text, line, l)
		}
	})
}
