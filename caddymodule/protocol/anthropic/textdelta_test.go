package anthropic

import (
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// The fast path must agree with the full decoder on every event it accepts:
// a content_block_delta whose only effect is its text.
func FuzzTextDelta(f *testing.F) {
	for _, s := range []string{
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi \u00e9\n"}}`,
		`{"type":"content_block_delta","index":3,"delta":{"type":"text_delta","text":null}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"a"},"delta":{"text":null}}`,
		`{"type":"content_block_delta","index":0,"delta":{"type":"thinking_delta","thinking":"x"}}`,
		`{"type":"content_block_delta","index":1,"delta":{"type":"input_json_delta","partial_json":"{"}}`,
		`{"type":"content_block_delta","index":1.5,"delta":{"type":"text_delta","text":"a"}}`,
		`{"type":"message_delta","delta":{"stop_reason":"end_turn"},"usage":{"output_tokens":2}}`,
		`{"type":"content_block_d\u0065lta","index":0,"delta":{"type":"text_delta","text":"a"}}`,
		`{"type":"error","error":{"type":"overloaded_error","message":"busy"}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		text, ok := textDelta(data)
		if !ok {
			return
		}
		var e aEvent
		var d wire.Decoder
		if err := d.Decode(data, &e); err != nil {
			t.Fatalf("fast path accepted %q that the decoder rejects: %v", data, err)
		}
		if e.Type != evBlockDelta || e.Delta.Type != evTextDelta || e.Delta.Text != text || e.Delta.Thinking != "" ||
			e.Delta.PartialJSON != "" || e.Delta.StopReason != "" || e.Delta.StopSequence != nil ||
			e.Message != nil || e.ContentBlock != nil || e.Usage != nil || e.Error != nil {
			t.Fatalf("fast path %q disagrees with the decoder on %q: %+v", text, data, e)
		}
	})
}

// Text deltas as the Messages API sends them take the fast path.
func TestTextDeltaTaken(t *testing.T) {
	line := `{"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":" token"}}`
	if text, ok := textDelta([]byte(line)); !ok || text != " token" {
		t.Errorf("textDelta(%s) = %q, %v", line, text, ok)
	}
}
