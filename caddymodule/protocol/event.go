package protocol

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"
)

// EventKind says what a stream Event carries.
type EventKind uint8

// Stream event kinds. A well-formed stream is Start, any deltas, Stop, Usage
// (optional, may come before Stop), End. Error ends a stream at any point.
const (
	EvStart     EventKind = iota + 1 // ID, Model, Usage (input tokens when known)
	EvText                           // Text: answer text delta
	EvReasoning                      // Text: reasoning/thinking delta
	EvToolStart                      // Index (0,1,... per call in the turn), ID, Name
	EvToolArgs                       // Index, Text: a fragment of the JSON arguments
	EvStop                           // Stop, StopSequence
	EvUsage                          // Usage: totals so far (overwrite, never add)
	EvPing                           // keep-alive; encoders write their dialect's idle frame
	EvError                          // Status, Code, Text: the stream failed
	EvEnd                            // the stream finished cleanly
)

var kindNames = [...]string{"", "start", "text", "reasoning", "tool_start", "tool_args", "stop", "usage", "ping", "error", "end"}

// String names the kind.
func (k EventKind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return fmt.Sprintf("kind(%d)", k)
}

// Event is one canonical stream event. It is a plain value: decoders reuse
// nothing between calls, so an Event may be kept.
type Event struct {
	Kind         EventKind
	Text         string
	Index        int
	ID           string
	Name         string
	Model        string
	Stop         StopReason
	StopSequence string
	Usage        Usage
	Status       int    // EvError: HTTP-like status (502 upstream fault, 429, 529...)
	Code         string // EvError: upstream error type/code when known
}

// StreamDecoder turns a provider's stream into canonical events.
type StreamDecoder interface {
	// Next returns the next event. After EvEnd or EvError it returns io.EOF.
	// A malformed or truncated stream returns an error wrapping
	// ErrUpstream (io.ErrUnexpectedEOF for a stream cut before its finish).
	Next() (Event, error)
}

// Release hands back for reuse what a finished decoder holds, when it holds
// anything (the line buffer of the built-in dialects). Nothing the decoder
// returned may be used after, and the decoder itself only returns errors.
func Release(d StreamDecoder) {
	if r, ok := d.(interface{ Release() }); ok {
		r.Release()
	}
}

// StreamEncoder writes canonical events as a client's stream, flushing after
// each event. After EvEnd or EvError it writes nothing more.
type StreamEncoder interface {
	Write(ev *Event) error
}

// StreamOptions configures a StreamEncoder.
type StreamOptions struct {
	Model        string           // client-facing model name (wins over the Start event's)
	ID           string           // response id; minted with the dialect's prefix when empty
	IncludeUsage bool             // OpenAI: the client asked for a usage chunk
	Now          func() time.Time // clock for created/created_at/durations; time.Now when nil
	// NewID mints ids (response, item and tool-call ids) from a prefix;
	// protocol.NewID when nil. Tests set it for deterministic output.
	NewID func(prefix string) string
}

// MintID returns a new id with prefix using o.NewID or NewID.
func (o *StreamOptions) MintID(prefix string) string {
	if o.NewID != nil {
		return o.NewID(prefix)
	}
	return NewID(prefix)
}

// ModelFor returns the model name a stream names: o.Model, or the Start
// event's when o.Model is empty.
func (o *StreamOptions) ModelFor(ev *Event) string {
	if o.Model != "" {
		return o.Model
	}
	return ev.Model
}

// ResponseID returns o.ID, or a new id with the dialect's prefix when it
// is empty.
func (o *StreamOptions) ResponseID(prefix string) string {
	if o.ID != "" {
		return o.ID
	}
	return o.MintID(prefix)
}

// Clock returns o.Now or time.Now.
func (o *StreamOptions) Clock() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

// ClientCodec is the client-facing side of a chat dialect.
type ClientCodec interface {
	Dialect() Dialect
	// DecodeRequest parses a client body; a *RequestError names the bad field (answer 400).
	DecodeRequest(body []byte) (*Request, error)
	// EncodeResponse renders a whole answer. r.Model should be the client-facing name.
	EncodeResponse(r *Response) ([]byte, error)
	// NewStreamEncoder writes a stream to w, calling flush (may be nil) after each event.
	NewStreamEncoder(w io.Writer, flush func() error, opts StreamOptions) StreamEncoder
	// StreamContentType is the Content-Type of the dialect's stream.
	StreamContentType() string
	// WriteError writes an error response in the dialect's shape.
	WriteError(w http.ResponseWriter, status int, msg string)
}

// ProviderCodec is the upstream-facing side of a chat dialect.
type ProviderCodec interface {
	Dialect() Dialect
	// EncodeRequest renders a request for a provider of this dialect; a
	// *RequestError means the request cannot be expressed there (answer 400).
	EncodeRequest(r *Request) ([]byte, error)
	// DecodeResponse parses a whole upstream answer.
	DecodeResponse(body []byte) (*Response, error)
	// NewStreamDecoder reads the provider's stream from r, event by event.
	NewStreamDecoder(r io.Reader) StreamDecoder
}

// Codec is a dialect that is both client- and provider-facing.
type Codec interface {
	ClientCodec
	ProviderCodec
}

// EmbedCodec translates embeddings requests and answers of one dialect.
type EmbedCodec interface {
	Dialect() Dialect
	DecodeEmbedRequest(body []byte) (*EmbedRequest, error)
	EncodeEmbedRequest(r *EmbedRequest) ([]byte, error)
	DecodeEmbedResponse(body []byte) (*EmbedResponse, error)
	// EncodeEmbedResponse renders res for the client whose request was req
	// (req decides e.g. base64 encoding).
	EncodeEmbedResponse(req *EmbedRequest, res *EmbedResponse) ([]byte, error)
	WriteError(w http.ResponseWriter, status int, msg string)
}

// ErrUpstream marks a malformed or truncated upstream stream or body.
var ErrUpstream = errors.New("upstream protocol error")

// RequestError is a client or translation error tied to one field; it means 400.
type RequestError struct {
	Field string // JSON path, e.g. messages[2].content
	Msg   string
}

// Error returns "field: message".
func (e *RequestError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return e.Field + ": " + e.Msg
}

// Errorf returns a *RequestError for field.
func Errorf(field, format string, args ...any) error {
	return &RequestError{Field: field, Msg: fmt.Sprintf(format, args...)}
}

// Result summarises a pumped stream.
type Result struct {
	Stop   StopReason
	Usage  Usage
	Events int
	Ended  bool // EvEnd was written (a clean finish)
}

// Pump copies events from dec to enc until the stream ends, ctx is done, or
// writing fails. A decoding failure (malformed or cut upstream stream) is
// written to the client as an in-stream error (status 502) and returned. A
// write error (client gone) is returned as is.
func Pump(ctx context.Context, dec StreamDecoder, enc StreamEncoder) (Result, error) {
	var res Result
	ev := new(Event) // one allocation for the whole stream, not one per event
	for {
		if err := ctx.Err(); err != nil {
			return res, err
		}
		var err error
		*ev, err = dec.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				if !res.Ended {
					err = fmt.Errorf("%w: stream ended without a finish: %w", ErrUpstream, io.ErrUnexpectedEOF)
				} else {
					return res, nil
				}
			}
			if ctx.Err() != nil {
				return res, ctx.Err()
			}
			fail := Event{Kind: EvError, Status: http.StatusBadGateway, Text: "upstream stream failed"}
			if errors.Is(err, ErrLineTooLong) {
				fail.Text = fmt.Sprintf("the provider's stream is too large: a line exceeds %d MiB", MaxLine>>20)
			}
			if werr := enc.Write(&fail); werr != nil {
				return res, werr
			}
			return res, err
		}
		switch ev.Kind {
		case EvStop:
			res.Stop = ev.Stop
		case EvUsage:
			res.Usage = ev.Usage
		}
		if err := enc.Write(ev); err != nil {
			return res, err
		}
		res.Events++
		switch ev.Kind {
		case EvEnd:
			res.Ended = true
			return res, nil
		case EvError:
			return res, fmt.Errorf("%w: upstream error event: %s", ErrUpstream, ev.Text)
		}
	}
}

// WriteText writes a complete, cleanly finished answer consisting of text
// (e.g. a guardrail's "blocked" message) to enc.
func WriteText(enc StreamEncoder, model, text string) error {
	evs := [...]Event{
		{Kind: EvStart, Model: model},
		{Kind: EvText, Text: text},
		{Kind: EvStop, Stop: StopEnd},
		{Kind: EvEnd},
	}
	for i := range evs {
		if err := enc.Write(&evs[i]); err != nil {
			return err
		}
	}
	return nil
}
