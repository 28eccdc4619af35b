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
	*protocol.EventQueue
	done    *bool
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
		*h.done = true
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
		*h.done = true
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
			var r io.Reader = strings.NewReader(c.in)
			if c.err == errRead {
				r = io.MultiReader(r, iotest.ErrReader(errRead))
			}
			var got string
			var err, again error
			if c.sse {
				got, err, again = run(NewSSE(r), c.lenient)
			} else {
				got, err, again = run(NewNDJSON(r), c.lenient)
			}
			if got != c.want || !errors.Is(err, c.err) {
				t.Errorf("events %q, err %v; want %q, %v", got, err, c.want, c.err)
			}
			if errors.Is(c.err, io.EOF) && !errors.Is(again, io.EOF) {
				t.Errorf("next call after the end: %v, want io.EOF", again)
			}
		})
	}
}

// run reads d to its first error with an echo handler: the events' texts
// ("." for the end), that error, and the next call's.
func run[R Reader](d Decoder[R], lenient bool) (got string, err, again error) {
	defer d.Release()
	h := echo{&d.EventQueue, &d.Done, lenient}
	var b strings.Builder
	for range 20 {
		var ev protocol.Event
		if ev, err = d.Next(h); err != nil {
			break
		}
		if ev.Kind == protocol.EvEnd {
			b.WriteString(".")
		}
		b.WriteString(ev.Text)
	}
	_, again = d.Next(h)
	return b.String(), err, again
}

func TestRelease(t *testing.T) {
	d := NewNDJSON(strings.NewReader("a\nb\n"))
	h := echo{&d.EventQueue, &d.Done, false}
	if ev, err := d.Next(h); err != nil || ev.Text != "a" {
		t.Fatalf("first event %+v, %v", ev, err)
	}
	d.Release()
	if ev, err := d.Next(h); err == nil {
		t.Errorf("a released decoder returned %+v, want an error", ev)
	}
	var zero Decoder[SSE]
	zero.Release() // nothing to hand back: no panic
	var zeroND Decoder[NDJSON]
	zeroND.Release()
}
