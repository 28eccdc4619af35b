package frame

import (
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// echo queues a text event per frame; a frame "end" queues the end and sets
// Done, "bad" fails; at EOF it ends cleanly when lenient, else fails.
type echo struct {
	*Decoder
	lenient bool
}

var (
	errBad  = errors.New("bad frame")
	errRead = errors.New("connection reset")
)

func (h echo) Frame(data []byte) error {
	switch string(data) {
	case "bad":
		return errBad
	case "end":
		h.Done = true
		h.Push(protocol.Event{Kind: protocol.EvEnd})
	case "none": // a frame that yields no event
	default:
		h.Push(protocol.Event{Kind: protocol.EvText, Text: string(data)})
		h.Push(protocol.Event{Kind: protocol.EvText, Text: "+"})
	}
	return nil
}

func (h echo) EOF() (protocol.Event, error) {
	if h.lenient {
		h.Done = true
		return protocol.Event{Kind: protocol.EvEnd}, nil
	}
	return protocol.Event{}, io.ErrUnexpectedEOF
}

func TestNext(t *testing.T) {
	cases := []struct {
		name    string
		sse     bool
		in      string
		lenient bool
		want    string // the events' texts, "." for the end
		err     error  // the error after them; io.EOF after a clean end
	}{
		{"sse frames are data", true, "event: x\ndata: a\n\n: comment\n\ndata: none\n\ndata: end\n\ndata: after\n\n", false, "a+.", io.EOF},
		{"ndjson frames are lines", false, "a\n\n  \nnone\nend\nafter\n", false, "a+.", io.EOF},
		{"cut stream", false, "a\n", false, "a+", io.ErrUnexpectedEOF},
		{"lenient end", true, "data: a\n\n", true, "a+.", io.EOF},
		{"handler error", false, "a\nbad\nend\n", false, "a+", errBad},
		{"reader error", false, "a\n", false, "a+", errRead},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var d Decoder
			if c.sse {
				d = SSE(strings.NewReader(c.in))
			} else {
				d = NDJSON(strings.NewReader(c.in))
			}
			if c.err == errRead {
				d = NDJSON(io.MultiReader(strings.NewReader(c.in), iotest.ErrReader(errRead)))
			}
			defer d.Release()
			h := echo{&d, c.lenient}
			var got strings.Builder
			var err error
			for range 20 {
				var ev protocol.Event
				if ev, err = d.Next(h); err != nil {
					break
				}
				if ev.Kind == protocol.EvEnd {
					got.WriteString(".")
				}
				got.WriteString(ev.Text)
			}
			if got.String() != c.want || !errors.Is(err, c.err) {
				t.Errorf("events %q, err %v; want %q, %v", got.String(), err, c.want, c.err)
			}
			if _, again := d.Next(h); errors.Is(c.err, io.EOF) && !errors.Is(again, io.EOF) {
				t.Errorf("next call after the end: %v, want io.EOF", again)
			}
		})
	}
}

func TestRelease(t *testing.T) {
	d := NDJSON(strings.NewReader("a\nb\n"))
	h := echo{Decoder: &d}
	if ev, err := d.Next(h); err != nil || ev.Text != "a" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	d.Release()
	if ev, err := d.Next(h); err == nil {
		t.Errorf("a released decoder returned %+v, want an error", ev)
	}
	var zero Decoder
	zero.Release() // nothing to hand back: no panic
}
