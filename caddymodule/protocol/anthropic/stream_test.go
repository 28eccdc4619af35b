package anthropic

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestStreamDecoderEdges(t *testing.T) {
	ev := func(s string) string { return "data: " + s + "\n\n" } // unnamed: we read the JSON type
	cases := []struct {
		name    string
		in      string
		wantErr bool
		check   func([]protocol.Event) bool
	}{
		{"cut before message_stop", ev(`{"type":"message_start","message":{"id":"m","model":"x","usage":{"input_tokens":3}}}`), true, nil},
		{"json delta for a text block", ev(`{"type":"content_block_start","index":0,"content_block":{"type":"text"}}`) + ev(`{"type":"content_block_delta","index":0,"delta":{"type":"input_json_delta","partial_json":"{"}}`), true, nil},
		{"usage is cumulative", ev(`{"type":"message_start","message":{"usage":{"input_tokens":3,"cache_read_input_tokens":2,"output_tokens":1}}}`) +
			ev(`{"type":"message_delta","delta":{"stop_reason":"max_tokens"},"usage":{"output_tokens":9}}`) + ev(`{"type":"message_stop"}`), false,
			func(evs []protocol.Event) bool {
				return evs[0].Usage.Input == 5 && evs[1].Stop == protocol.StopLength && evs[2].Usage == protocol.Usage{Input: 5, Output: 9, CacheRead: 2} && evs[3].Kind == protocol.EvEnd
			}},
		{"error event", "event: error\n" + ev(`{"type":"error","error":{"type":"rate_limit_error","message":"slow"}}`), false,
			func(evs []protocol.Event) bool {
				return evs[0].Kind == protocol.EvError && evs[0].Status == 429 && evs[0].Text == "slow"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dec := Messages{}.NewStreamDecoder(strings.NewReader(c.in))
			var evs []protocol.Event
			var err error
			for {
				var e protocol.Event
				e, err = dec.Next()
				if err != nil {
					break
				}
				evs = append(evs, e)
			}
			if errors.Is(err, io.EOF) {
				err = nil
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.check != nil && !c.check(evs) {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

func TestStreamEncoderInterleavedToolArgs(t *testing.T) {
	var out bytes.Buffer
	enc := Messages{}.NewStreamEncoder(&out, nil, protocol.StreamOptions{Model: "m"})
	evs := []protocol.Event{{Kind: protocol.EvStart}, {Kind: protocol.EvToolStart, Index: 0, ID: "a", Name: "f"}, {Kind: protocol.EvToolStart, Index: 1, ID: "b", Name: "g"},
		{Kind: protocol.EvToolArgs, Index: 0, Text: "{}"}}
	for i := range evs {
		if err := enc.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	s := out.String()
	if !strings.Contains(s, "event: error") || strings.Contains(s, "message_stop") {
		t.Errorf("interleaved args must end the stream with an error, got:\n%s", s)
	}
}

func TestStreamEncoderStopSequence(t *testing.T) {
	var out bytes.Buffer
	enc := Messages{}.NewStreamEncoder(&out, nil, protocol.StreamOptions{Model: "m", ID: "msg_fixed"})
	evs := []protocol.Event{{Kind: protocol.EvStart, Usage: protocol.Usage{Input: 10, CacheRead: 4}}, {Kind: protocol.EvText, Text: "x"},
		{Kind: protocol.EvStop, Stop: protocol.StopSequence, StopSequence: "END"}, {Kind: protocol.EvEnd}}
	for i := range evs {
		if err := enc.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	s := out.String()
	for _, w := range []string{`"id":"msg_fixed"`, `"input_tokens":6,"cache_creation_input_tokens":0,"cache_read_input_tokens":4`, `"stop_reason":"stop_sequence","stop_sequence":"END"`, "event: message_stop"} {
		if !strings.Contains(s, w) {
			t.Errorf("missing %s in\n%s", w, s)
		}
	}
}
