package openai

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func events(t *testing.T, in string) ([]protocol.Event, error) {
	t.Helper()
	dec := Chat{}.NewStreamDecoder(strings.NewReader(in))
	var out []protocol.Event
	for {
		ev, err := dec.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, ev)
	}
}

func TestStreamDecoderEdges(t *testing.T) {
	chunk := func(s string) string { return "data: " + s + "\n\n" }
	cases := []struct {
		name     string
		in       string
		wantLast protocol.EventKind
		wantErr  bool
		check    func([]protocol.Event) bool
	}{
		{"eof after finish is a clean end", chunk(`{"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}`), protocol.EvEnd, false, nil},
		{"done before finish is cut", chunk(`{"choices":[{"index":0,"delta":{"content":"a"}}]}`) + "data: [DONE]\n\n", 0, true, nil},
		{"error object with numeric code", chunk(`{"error":{"message":"slow down","type":"x","code":429}}`), protocol.EvError, false,
			func(evs []protocol.Event) bool { return evs[0].Status == 429 && evs[0].Text == "slow down" }},
		{"error string", chunk(`{"error":"bad"}`), protocol.EvError, false, func(evs []protocol.Event) bool { return evs[0].Text == "bad" }},
		{"malformed json", "data: {oops\n\n", 0, true, nil},
		{"vLLM stop string", chunk(`{"choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"END"}]}`) + "data: [DONE]\n\n", protocol.EvEnd, false,
			func(evs []protocol.Event) bool {
				return evs[1].Stop == protocol.StopSequence && evs[1].StopSequence == "END"
			}},
		{"second choice ignored", chunk(`{"choices":[{"index":1,"delta":{"content":"x"}},{"index":0,"delta":{"content":"y"},"finish_reason":"length"}]}`), protocol.EvEnd, false,
			func(evs []protocol.Event) bool { return evs[1].Text == "y" && evs[2].Stop == protocol.StopLength }},
		{"several tool indices in one chunk", chunk(`{"choices":[{"index":0,"delta":{"tool_calls":[{"index":3,"id":"a","function":{"name":"f","arguments":"{"}},{"index":7,"id":"b","function":{"name":"g","arguments":"{}"}},{"index":3,"function":{"arguments":"}"}}]},"finish_reason":"tool_calls"}]}`), protocol.EvEnd, false,
			func(evs []protocol.Event) bool {
				return evs[1].Kind == protocol.EvToolStart && evs[1].Index == 0 && evs[3].Index == 1 && evs[5].Kind == protocol.EvToolArgs && evs[5].Index == 0 && evs[5].Text == "}"
			}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			evs, err := events(t, c.in)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v (events %+v)", err, c.wantErr, evs)
			}
			if err != nil {
				if !errors.Is(err, protocol.ErrUpstream) {
					t.Errorf("error %v does not wrap ErrUpstream", err)
				}
				return
			}
			if evs[len(evs)-1].Kind != c.wantLast {
				t.Errorf("last event %v, want %v (%+v)", evs[len(evs)-1].Kind, c.wantLast, evs)
			}
			if c.check != nil && !c.check(evs) {
				t.Errorf("events %+v", evs)
			}
		})
	}
}

func TestStreamEncoderUsageOnlyWhenAsked(t *testing.T) {
	for _, ask := range []bool{false, true} {
		var out bytes.Buffer
		enc := Chat{}.NewStreamEncoder(&out, nil, protocol.StreamOptions{Model: "m", IncludeUsage: ask})
		evs := []protocol.Event{{Kind: protocol.EvStart}, {Kind: protocol.EvText, Text: "hi"}, {Kind: protocol.EvUsage, Usage: protocol.Usage{Input: 1, Output: 2}}, {Kind: protocol.EvStop}, {Kind: protocol.EvEnd}}
		for i := range evs {
			if err := enc.Write(&evs[i]); err != nil {
				t.Fatal(err)
			}
		}
		s := out.String()
		if strings.Contains(s, "usage") != ask || strings.Contains(s, `"total_tokens":3`) != ask {
			t.Errorf("include_usage=%v: %s", ask, s)
		}
		if !strings.HasSuffix(s, "data: [DONE]\n\n") || strings.Count(s, `"role":"assistant"`) != 1 {
			t.Errorf("framing: %s", s)
		}
		// nothing after the end
		_ = enc.Write(&protocol.Event{Kind: protocol.EvText, Text: "late"})
		if strings.Contains(out.String(), "late") {
			t.Errorf("encoder wrote after the end")
		}
	}
}

func TestWriteTextBlocked(t *testing.T) {
	var out bytes.Buffer
	if err := protocol.WriteText(Chat{}.NewStreamEncoder(&out, nil, protocol.StreamOptions{}), "m", "Blocked by policy."); err != nil {
		t.Fatal(err)
	}
	s := out.String()
	if !strings.Contains(s, `"content":"Blocked by policy."`) || !strings.Contains(s, `"finish_reason":"stop"`) || !strings.HasSuffix(s, "data: [DONE]\n\n") || !strings.Contains(s, `"model":"m"`) {
		t.Errorf("blocked stream: %s", s)
	}
}
