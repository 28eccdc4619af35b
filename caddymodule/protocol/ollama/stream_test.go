package ollama

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestStreamDecoderEdges(t *testing.T) {
	cases := []struct {
		name     string
		in       string
		wantErr  bool
		wantLast protocol.EventKind
	}{
		{"done without reason (runner died)", `{"model":"m","message":{"content":"a"},"done":false}` + "\n" + `{"done":true}` + "\n", false, protocol.EvError},
		{"cut before done", `{"model":"m","message":{"content":"a"},"done":false}` + "\n", true, 0},
		{"not json", "hello\n", true, 0},
		{"generate lines", `{"model":"m","response":"a","done":false}` + "\n" + `{"response":"","done":true,"done_reason":"stop"}`, false, protocol.EvEnd},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := Chat{}.NewStreamDecoder(strings.NewReader(c.in))
			var last protocol.Event
			var err error
			for {
				var e protocol.Event
				if e, err = dec.Next(); err != nil {
					break
				}
				last = e
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if !c.wantErr && last.Kind != c.wantLast {
				t.Errorf("last event %v, want %v", last.Kind, c.wantLast)
			}
		})
	}
}

func TestStreamEncoderBadToolArgs(t *testing.T) {
	var out bytes.Buffer
	enc := Chat{}.NewStreamEncoder(&out, nil, protocol.StreamOptions{Model: "m"})
	evs := []protocol.Event{{Kind: protocol.EvStart}, {Kind: protocol.EvToolStart, ID: "c", Name: "f"}, {Kind: protocol.EvToolArgs, Text: `{"a":`},
		{Kind: protocol.EvStop, Stop: protocol.StopToolUse}, {Kind: protocol.EvEnd}}
	for i := range evs {
		if err := enc.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	s := out.String()
	if !strings.HasPrefix(s, `{"error":`) || strings.Contains(s, `"done":true`) || strings.Count(s, "\n") != 1 {
		t.Errorf("invalid tool arguments must end the stream with one error line, got %q", s)
	}
}
