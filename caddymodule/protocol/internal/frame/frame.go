// Package frame holds the loop every dialect's stream decoder runs: read
// the provider's next frame (the data of a server-sent event, or an NDJSON
// line; lines are bounded by protocol.MaxLine), hand it to the dialect,
// which maps it to canonical events on a queue, and return those events one
// at a time. What a frame means, and how a stream that ends early ends, is
// the dialect's.
package frame

import (
	"errors"
	"io"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// Handler is a dialect's part of a stream decoder.
type Handler interface {
	// Frame maps one frame (valid only during the call) to events pushed
	// on the Decoder's queue; it sets Done when the stream's last event is
	// queued. Next returns its error (a malformed frame) as is.
	Frame(data []byte) error
	// EOF is called when the provider's stream ends before Done. It returns
	// the event that ends the stream cleanly (and sets Done), or the error
	// for a stream cut short (wrapping protocol.ErrUpstream and
	// io.ErrUnexpectedEOF).
	EOF() (protocol.Event, error)
}

// Reader reads a provider stream's frames.
type Reader interface {
	// Frame returns the next frame, valid until the next call, or io.EOF.
	Frame() ([]byte, error)
	// Release hands the line buffer back for reuse.
	Release()
}

// SSE reads the data of server-sent events (their names are not read).
type SSE struct{ r *protocol.SSEReader }

// Frame returns the next event's data.
func (s SSE) Frame() ([]byte, error) {
	_, data, err := s.r.Next()
	return data, err
}

// Release hands the line buffer back for reuse.
func (s SSE) Release() {
	if s.r != nil {
		s.r.Release()
	}
}

// NDJSON reads the non-blank lines of a newline-delimited JSON stream.
type NDJSON struct{ r *protocol.NDJSONReader }

// Frame returns the next non-blank line.
func (n NDJSON) Frame() ([]byte, error) { return n.r.Next() }

// Release hands the line buffer back for reuse.
func (n NDJSON) Release() {
	if n.r != nil {
		n.r.Release()
	}
}

// Decoder is the shared half of a provider stream decoder; a dialect embeds
// it and implements protocol.StreamDecoder's Next as d.Decoder.Next(d).
// The reader is a type parameter, so that the decoder holds one pointer
// (an interface value would take two words, a field per framing one each).
type Decoder[R Reader] struct {
	protocol.EventQueue
	r R
	// Done says the stream's last event (end or error) is queued: once the
	// queue is empty, Next returns io.EOF without reading further.
	Done bool
}

// NewSSE returns a Decoder reading the data of r's server-sent events.
func NewSSE(r io.Reader) Decoder[SSE] {
	return Decoder[SSE]{r: SSE{protocol.NewSSEReader(r)}}
}

// NewNDJSON returns a Decoder reading r's non-blank NDJSON lines.
func NewNDJSON(r io.Reader) Decoder[NDJSON] {
	return Decoder[NDJSON]{r: NDJSON{protocol.NewNDJSONReader(r)}}
}

// Next returns the next queued event, reading frames and handing them to h
// until one queues any. After Done and the queue, it returns io.EOF.
func (d *Decoder[R]) Next(h Handler) (protocol.Event, error) {
	for {
		if ev, ok := d.Pop(); ok {
			return ev, nil
		}
		if d.Done {
			return protocol.Event{}, io.EOF
		}
		data, err := d.r.Frame()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return h.EOF()
			}
			return protocol.Event{}, err
		}
		if err := h.Frame(data); err != nil {
			return protocol.Event{}, err
		}
	}
}

// Release drops the queued events and hands the line buffer back for reuse
// (see protocol.Release).
func (d *Decoder[R]) Release() {
	d.Clear()
	d.r.Release()
}
