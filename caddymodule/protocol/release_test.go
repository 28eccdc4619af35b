package protocol_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// protocol.Release reaches every dialect's stream decoder: its line buffer
// goes back to the pool, and the decoder answers with an error from then on
// (never an event read from a buffer another stream now uses).
func TestDecoderRelease(t *testing.T) {
	for name, file := range map[string]string{"openai": "openai_text.sse", "anthropic": "anthropic_tools.sse", "ollama": "ollama_text.ndjson"} {
		t.Run(name, func(t *testing.T) {
			f, err := os.Open(filepath.Join("testdata", file))
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			dec := providers[name].NewStreamDecoder(f)
			if _, ok := dec.(interface{ Release() }); !ok {
				t.Fatalf("%T has no Release method", dec)
			}
			if ev, err := dec.Next(); err != nil || ev.Kind != protocol.EvStart {
				t.Fatalf("first event %+v, %v; want start", ev, err)
			}
			protocol.Release(dec)
			for range 3 {
				if ev, err := dec.Next(); err == nil || errors.Is(err, io.EOF) {
					t.Fatalf("after Release: %+v, %v; want an error", ev, err)
				}
			}
		})
	}
}
