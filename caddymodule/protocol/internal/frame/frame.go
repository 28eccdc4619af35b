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
	// queued. An error ends the stream.
	Frame(data []byte) error
	// EOF is called when the provider's stream ends before Done. It returns
	// the event that ends the stream cleanly (and sets Done), or the error
	// for a stream cut short (wrapping protocol.ErrUpstream and
	// io.ErrUnexpectedEOF).
	EOF() (protocol.Event, error)
}

// Decoder is the shared half of a provider stream decoder; a dialect embeds
// it and implements protocol.StreamDecoder's Next as d.Decoder.Next(d).
type Decoder struct {
	protocol.EventQueue
	// Done says the stream's last event (end or error) is queued: once the
	// queue is empty, Next returns io.EOF without reading further.
	Done bool
	sse  *protocol.SSEReader    // SSE: frames are the events' data (names are not read)
	nd   *protocol.NDJSONReader // NDJSON: frames are the non-blank lines
}

// SSE returns a Decoder reading the data of r's server-sent events.
func SSE(r io.Reader) Decoder { return Decoder{sse: protocol.NewSSEReader(r)} }

// NDJSON returns a Decoder reading r's non-blank NDJSON lines.
func NDJSON(r io.Reader) Decoder { return Decoder{nd: protocol.NewNDJSONReader(r)} }

// Next returns the next queued event, reading frames and handing them to h
// until one queues any. After Done and the queue, it returns io.EOF.
func (d *Decoder) Next(h Handler) (protocol.Event, error) {
	for {
		if ev, ok := d.Pop(); ok {
			return ev, nil
		}
		if d.Done {
			return protocol.Event{}, io.EOF
		}
		data, err := d.read()
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

// read returns the next frame, valid until the next call.
func (d *Decoder) read() ([]byte, error) {
	if d.sse != nil {
		_, data, err := d.sse.Next()
		return data, err
	}
	return d.nd.Next()
}

// Release drops the queued events and hands the line buffer back for reuse
// (see protocol.Release).
func (d *Decoder) Release() {
	d.Clear()
	switch {
	case d.sse != nil:
		d.sse.Release()
	case d.nd != nil:
		d.nd.Release()
	}
}
