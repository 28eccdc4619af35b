package protocol

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

type sseEvent struct{ name, data string }

func readAllSSE(t *testing.T, r io.Reader) ([]sseEvent, error) {
	t.Helper()
	s := NewSSEReader(r)
	var out []sseEvent
	for {
		ev, data, err := s.Next()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return out, err
		}
		out = append(out, sseEvent{string(ev), string(data)})
	}
}

func TestSSEReader(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []sseEvent
	}{
		{"lf", "data: a\n\ndata: b\n\n", []sseEvent{{"", "a"}, {"", "b"}}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []sseEvent{{"", "a"}, {"", "b"}}},
		{"lone cr", "data: a\r\rdata: b\r\r", []sseEvent{{"", "a"}, {"", "b"}}},
		{"bom and comment", "\xef\xbb\xbf: hi\ndata: x\n\n", []sseEvent{{"", "x"}}},
		{"event name", "event: ping\ndata: {}\n\n", []sseEvent{{"ping", "{}"}}},
		{"multi-line data", "data: a\ndata: b\n\n", []sseEvent{{"", "a\nb"}}},
		{"no space after colon", "data:x\n\n", []sseEvent{{"", "x"}}},
		{"only one space stripped", "data:  x\n\n", []sseEvent{{"", " x"}}},
		{"empty data dispatches", "data:\n\n", []sseEvent{{"", ""}}},
		{"event without data is dropped", "event: x\n\ndata: y\n\n", []sseEvent{{"", "y"}}},
		{"unknown fields ignored", "id: 1\nretry: 10\nfoo\ndata: z\n\n", []sseEvent{{"", "z"}}},
		{"unterminated event discarded", "data: a\n\ndata: b", []sseEvent{{"", "a"}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for _, r := range []io.Reader{strings.NewReader(c.in), iotest.OneByteReader(strings.NewReader(c.in))} {
				got, err := readAllSSE(t, r)
				if err != nil {
					t.Fatal(err)
				}
				if len(got) != len(c.want) {
					t.Fatalf("got %q, want %q", got, c.want)
				}
				for i := range got {
					if got[i] != c.want[i] {
						t.Errorf("event %d = %q, want %q", i, got[i], c.want[i])
					}
				}
			}
		})
	}
}

func TestSSEReaderLongLine(t *testing.T) {
	long := strings.Repeat("x", 200_000) // beyond bufio.Scanner's 64 KiB default
	got, err := readAllSSE(t, strings.NewReader("data: "+long+"\n\n"))
	if err != nil || len(got) != 1 || got[0].data != long {
		t.Fatalf("long line not read whole: err=%v events=%d", err, len(got))
	}
}

func TestSSEReaderReadError(t *testing.T) {
	boom := errors.New("boom")
	_, err := readAllSSE(t, io.MultiReader(strings.NewReader("data: a\n\n"), iotest.ErrReader(boom)))
	if !errors.Is(err, boom) || !errors.Is(err, ErrUpstream) {
		t.Fatalf("err = %v, want wrapping boom and ErrUpstream", err)
	}
}

func TestNDJSONReader(t *testing.T) {
	in := "{\"a\":1}\r\n\n  \n{\"b\":2}\n{\"c\":3}"
	for _, r := range []io.Reader{strings.NewReader(in), iotest.OneByteReader(strings.NewReader(in))} {
		nd := NewNDJSONReader(r)
		var got []string
		for {
			l, err := nd.Next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			got = append(got, string(l))
		}
		want := []string{`{"a":1}`, `{"b":2}`, `{"c":3}`}
		if strings.Join(got, "|") != strings.Join(want, "|") {
			t.Errorf("got %q, want %q", got, want)
		}
	}
}

// A released reader answers every read with an error (never a stale line
// from a buffer another stream now uses), and releasing twice is harmless.
func TestLineReaderRelease(t *testing.T) {
	tests := []struct {
		name string
		next func(r io.Reader) (next func() error, release func())
	}{
		{"ndjson", func(r io.Reader) (func() error, func()) {
			nd := NewNDJSONReader(r)
			return func() error { _, err := nd.Next(); return err }, nd.Release
		}},
		{"sse", func(r io.Reader) (func() error, func()) {
			s := NewSSEReader(r)
			return func() error { _, _, err := s.Next(); return err }, s.Release
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, release := tt.next(strings.NewReader("data: {\"a\":1}\n\ndata: {\"b\":2}\n\n"))
			if err := next(); err != nil {
				t.Fatal(err)
			}
			release()
			release()
			if err := next(); err == nil || errors.Is(err, io.EOF) {
				t.Fatalf("read after release: %v, want an error", err)
			}
		})
	}
}

type sliceDecoder struct {
	evs []Event
	err error
}

func (d *sliceDecoder) Next() (Event, error) {
	if len(d.evs) == 0 {
		if d.err != nil {
			return Event{}, d.err
		}
		return Event{}, io.EOF
	}
	ev := d.evs[0]
	d.evs = d.evs[1:]
	return ev, nil
}

type recEncoder struct{ got []Event }

func (e *recEncoder) Write(ev *Event) error { e.got = append(e.got, *ev); return nil }

func TestPump(t *testing.T) {
	boom := errors.New("connection reset")
	cases := []struct {
		name     string
		dec      *sliceDecoder
		wantLast EventKind
		wantErr  bool
		ended    bool
	}{
		{"clean", &sliceDecoder{evs: []Event{{Kind: EvStart}, {Kind: EvText, Text: "a"}, {Kind: EvStop, Stop: StopEnd}, {Kind: EvEnd}}}, EvEnd, false, true},
		{"eof before end", &sliceDecoder{evs: []Event{{Kind: EvStart}, {Kind: EvText, Text: "a"}}}, EvError, true, false},
		{"read error", &sliceDecoder{evs: []Event{{Kind: EvStart}}, err: boom}, EvError, true, false},
		{"upstream error event", &sliceDecoder{evs: []Event{{Kind: EvStart}, {Kind: EvError, Text: "x"}}}, EvError, true, false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			enc := &recEncoder{}
			res, err := Pump(context.Background(), c.dec, enc)
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if res.Ended != c.ended {
				t.Errorf("Ended = %v, want %v", res.Ended, c.ended)
			}
			if last := enc.got[len(enc.got)-1]; last.Kind != c.wantLast {
				t.Errorf("last event = %v, want %v", last.Kind, c.wantLast)
			}
			if c.name == "read error" && strings.Contains(enc.got[len(enc.got)-1].Text, "reset") {
				t.Errorf("internal error text leaked to the client: %q", enc.got[len(enc.got)-1].Text)
			}
		})
	}
}

func TestPumpCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	enc := &recEncoder{}
	_, err := Pump(ctx, &sliceDecoder{evs: []Event{{Kind: EvStart}}}, enc)
	if !errors.Is(err, context.Canceled) || len(enc.got) != 0 {
		t.Fatalf("err=%v writes=%d, want context.Canceled and no writes", err, len(enc.got))
	}
}

func TestVisitTexts(t *testing.T) {
	r := &Request{
		System: []Part{{Kind: PartText, Text: "sys"}},
		Messages: []Message{
			{Role: RoleUser, Parts: []Part{{Kind: PartText, Text: "u1"}, {Kind: PartImage, Image: &Image{URL: "http://x"}}}},
			{Role: RoleAssistant, Parts: []Part{{Kind: PartReasoning, Text: "think"}, {Kind: PartText, Text: "a1"}, {Kind: PartToolCall, Call: &ToolCall{ID: "c1", Name: "f"}}}},
			{Role: RoleTool, Parts: []Part{{Kind: PartToolResult, Result: &ToolResult{CallID: "c1", Content: []Part{{Kind: PartText, Text: "res"}}}}}},
		},
	}
	if got := strings.Join(r.Texts(), ","); got != "sys,u1,a1,res" {
		t.Fatalf("Texts() = %q", got)
	}
	r.VisitTexts(func(s *string) { *s = strings.ToUpper(*s) })
	if got := strings.Join(r.Texts(), ","); got != "SYS,U1,A1,RES" {
		t.Fatalf("after replace Texts() = %q", got)
	}
	if r.Messages[1].Parts[0].Text != "think" {
		t.Errorf("reasoning must not be visited")
	}
}

func TestEnsureToolIDs(t *testing.T) {
	r := &Request{Messages: []Message{
		{Role: RoleAssistant, Parts: []Part{
			{Kind: PartToolCall, Call: &ToolCall{Name: "a"}},
			{Kind: PartToolCall, Call: &ToolCall{Name: "b"}},
		}},
		{Role: RoleTool, Parts: []Part{{Kind: PartToolResult, Result: &ToolResult{Name: "b"}}}},
		{Role: RoleTool, Parts: []Part{{Kind: PartToolResult, Result: &ToolResult{}}}},
	}}
	r.EnsureToolIDs("call_")
	a, b := r.Messages[0].Parts[0].Call.ID, r.Messages[0].Parts[1].Call.ID
	if a == "" || b == "" || a == b {
		t.Fatalf("ids not minted distinctly: %q %q", a, b)
	}
	if got := r.Messages[1].Parts[0].Result.CallID; got != b {
		t.Errorf("result named b paired with %q, want %q", got, b)
	}
	res := r.Messages[2].Parts[0].Result
	if res.CallID != a || res.Name != "a" {
		t.Errorf("anonymous result paired with %q/%q, want %q/a", res.CallID, res.Name, a)
	}
}

func TestUpstreamErrorMessage(t *testing.T) {
	cases := map[string]string{
		`{"error":{"message":"bad key","type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`: "bad key",
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`:                          "Overloaded",
		`{"error":"model 'x' not found"}`:                                             "model 'x' not found",
		`{"object":"error","message":"too long","type":"BadRequestError","code":400}`: "too long",
		`<html>502 Bad Gateway</html>`:                                                "",
		`{"detail":"nope"}`:                                                           "",
	}
	for body, want := range cases {
		if got := UpstreamErrorMessage([]byte(body)); got != want {
			t.Errorf("%s: got %q, want %q", body, got, want)
		}
	}
}

func TestUntranslatable(t *testing.T) {
	cases := []struct {
		origin Dialect
		extra  string
		field  string
	}{
		{OpenAIResponses, `{"previous_response_id":"resp_1"}`, "previous_response_id"},
		{OpenAIResponses, `{"previous_response_id":null,"store":true}`, ""},
		{OllamaGenerate, `{"raw":true}`, "raw"},
		{OllamaGenerate, `{"raw":false,"suffix":""}`, ""},
		{OpenAICompletions, `{"best_of":1,"echo":false}`, ""},
		{OpenAICompletions, `{"suffix":"end"}`, "suffix"},
	}
	for _, c := range cases {
		r := &Request{Origin: c.origin}
		if err := json.Unmarshal([]byte(c.extra), &r.Extra); err != nil {
			t.Fatal(err)
		}
		err := r.Untranslatable()
		var re *RequestError
		if c.field == "" {
			if err != nil {
				t.Errorf("%s: unexpected %v", c.extra, err)
			}
		} else if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: err = %v, want field %s", c.extra, err, c.field)
		}
	}
}

// The queue hands events out in order, then reports empty and is reusable.
func TestEventQueue(t *testing.T) {
	var q EventQueue
	if _, ok := q.Pop(); ok {
		t.Fatal("the zero queue is not empty")
	}
	for round := range 2 {
		q.Push(Event{Kind: EvText, Text: "a"})
		q.Push(Event{Kind: EvEnd})
		var got []EventKind
		for ev, ok := q.Pop(); ok; ev, ok = q.Pop() {
			got = append(got, ev.Kind)
		}
		if len(got) != 2 || got[0] != EvText || got[1] != EvEnd {
			t.Fatalf("round %d: %v", round, got)
		}
	}
	q.Push(Event{Kind: EvText})
	q.Clear()
	if _, ok := q.Pop(); ok {
		t.Fatal("a cleared queue still held an event")
	}
}
