// Package wire holds the JSON helpers the dialect codecs share: a field
// reader that names the bad field in the protocol's errors (Obj, reading
// through the jsonscan package, which is the one JSON scanner), append-style
// JSON encoding for stream hot paths, and a flushing frame writer.
package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// Obj reads the members of one JSON object, remembering the first error.
type Obj struct {
	ms   []member
	Path string
	err  error
}

// member is one member of an object: its key (the raw bytes of the JSON
// string when it has no escapes) and value, sub-slices of the document.
// A slice of them, sized once, costs a third of a map and no hashing; the
// objects of a request have a handful of members, scanned in order.
type member struct {
	key   []byte
	val   json.RawMessage
	taken bool
}

// Parse parses data as a JSON object; path names it in errors. The top
// level (path "") is validated (UTF-8 strings included) and copied once; members are sub-slices of
// that copy, so nested objects (path != "", always members of a validated
// document) are split without validating or copying again.
func Parse(data []byte, path string) (*Obj, error) {
	data = jsonscan.TrimWS(data)
	if len(data) == 0 || data[0] != '{' {
		if path == "" {
			return nil, protocol.Errorf("", "request body must be a JSON object")
		}
		return nil, protocol.Errorf(path, "must be a JSON object")
	}
	if path == "" {
		// One validating pass, which also refuses strings that are not
		// UTF-8 (RFC 8259): nested objects are not validated again.
		if err := jsonscan.Valid(data); err != nil {
			return nil, protocol.Errorf("", "invalid JSON: %v", err)
		}
		data = append([]byte(nil), data...)
	}
	return &Obj{Path: path, ms: splitObject(data)}, nil
}

// splitObject returns the members of the valid JSON object data, in order.
func splitObject(data []byte) []member {
	var buf [16]member
	ms := buf[:0]
	jsonscan.Members(data, func(key, val []byte) bool {
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			s, _ := jsonscan.Key(key)
			key = []byte(s)
		}
		ms = append(ms, member{key: key, val: val})
		return true
	})
	if len(ms) == 0 {
		return nil
	}
	return append([]member(nil), ms...)
}

// splitArray returns the elements of the valid JSON array data as sub-slices.
// They are gathered on the stack and copied once, as splitObject does: grown
// by append inside the walker's callback, the slice would be reallocated on
// the heap at each doubling.
func splitArray(data []byte) []json.RawMessage {
	var buf [16]json.RawMessage
	out := buf[:0]
	jsonscan.Elements(data, func(_ int, v []byte) bool {
		out = append(out, v)
		return true
	})
	if len(out) == 0 {
		return nil
	}
	return append([]json.RawMessage(nil), out...)
}

// F returns the path of member key.
func (o *Obj) F(key string) string {
	if o.Path == "" {
		return key
	}
	return o.Path + "." + key
}

// Fail records err if none is recorded yet.
func (o *Obj) Fail(err error) {
	if o.err == nil && err != nil {
		o.err = err
	}
}

// Failf records a field error for key.
func (o *Obj) Failf(key, format string, args ...any) {
	o.Fail(protocol.Errorf(o.F(key), format, args...))
}

// Err returns the first recorded error.
func (o *Obj) Err() error { return o.err }

// Take removes key and returns its raw value; nil when absent or null. A
// key given twice has its last value, as encoding/json reads it.
func (o *Obj) Take(key string) json.RawMessage {
	var v json.RawMessage
	for i := range o.ms {
		if m := &o.ms[i]; !m.taken && string(m.key) == key {
			m.taken, v = true, m.val
		}
	}
	if jsonscan.IsNull(v) {
		return nil
	}
	return v
}

// Has reports whether key is present and not taken (null counts).
func (o *Obj) Has(key string) bool {
	for i := range o.ms {
		if !o.ms[i].taken && string(o.ms[i].key) == key {
			return true
		}
	}
	return false
}

// Str takes a string member.
func (o *Obj) Str(key string) string {
	v := o.Take(key)
	if v == nil {
		return ""
	}
	s, ok := jsonscan.String(v)
	if !ok {
		o.Failf(key, "must be a string")
	}
	return s
}

// Bool takes a boolean member; def when absent.
func (o *Obj) Bool(key string, def bool) bool {
	v := o.Take(key)
	if v == nil {
		return def
	}
	b, ok := jsonscan.Boolean(v)
	if !ok {
		o.Failf(key, "must be a boolean")
		return def
	}
	return b
}

// BoolPtr takes an optional boolean member.
func (o *Obj) BoolPtr(key string) *bool {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	b, ok := jsonscan.Boolean(v)
	if !ok {
		o.Failf(key, "must be a boolean")
		return nil
	}
	return &b
}

// Int takes an optional integer member.
func (o *Obj) Int(key string) *int {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	f, ok := jsonscan.Number(v)
	if !ok || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		o.Failf(key, "must be an integer")
		return nil
	}
	n := int(f)
	return &n
}

// Int64 takes an optional integer member.
func (o *Obj) Int64(key string) *int64 {
	p := o.Int(key)
	if p == nil {
		return nil
	}
	n := int64(*p)
	return &n
}

// Float takes an optional number member.
func (o *Obj) Float(key string) *float64 {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	f, ok := jsonscan.Number(v)
	if !ok {
		o.Failf(key, "must be a number")
		return nil
	}
	return &f
}

// Strings takes a member that is a string or an array of strings.
func (o *Obj) Strings(key string) []string {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	if s, ok := jsonscan.String(v); ok {
		return []string{s}
	}
	var ss []string
	if err := json.Unmarshal(v, &ss); err != nil {
		o.Failf(key, "must be a string or an array of strings")
		return nil
	}
	return ss
}

// Array takes an array member as raw elements.
func (o *Obj) Array(key string) []json.RawMessage {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	if v[0] != '[' {
		o.Failf(key, "must be an array")
		return nil
	}
	return splitArray(v)
}

// Object takes an object member; nil when absent.
func (o *Obj) Object(key string) *Obj {
	v := o.Take(key)
	if v == nil {
		return nil
	}
	sub, err := Parse(v, o.F(key))
	if err != nil {
		o.Fail(err)
		return nil
	}
	return sub
}

// Rest returns the members not taken, or nil.
func (o *Obj) Rest() map[string]json.RawMessage {
	var rest map[string]json.RawMessage
	for _, m := range o.ms {
		if m.taken {
			continue
		}
		if rest == nil {
			rest = make(map[string]json.RawMessage, len(o.ms))
		}
		rest[string(m.key)] = m.val
	}
	return rest
}

// Idx returns path[i].
func Idx(path string, i int) string { return path + "[" + strconv.Itoa(i) + "]" }

// MarshalRequest encodes v, a request body for a provider of dialect to,
// with the request's Extra members spliced in only when the request came
// from that very dialect (origin == to): Extra holds what the canonical
// model does not model, which only the dialect it came from understands.
func MarshalRequest(v any, origin, to protocol.Dialect, extra map[string]json.RawMessage) ([]byte, error) {
	if origin != to {
		extra = nil
	}
	return Marshal(v, extra)
}

// Marshal encodes v and splices extra members (not already present) into the
// resulting object.
func Marshal(v any, extra map[string]json.RawMessage) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encoding request: %w", err)
	}
	if len(extra) == 0 {
		return b, nil
	}
	var have map[string]json.RawMessage
	if err := json.Unmarshal(b, &have); err != nil {
		return nil, fmt.Errorf("encoding request: %w", err)
	}
	b = b[:len(b)-1]
	for k, val := range extra {
		if _, ok := have[k]; ok {
			continue
		}
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = AppendString(b, k)
		b = append(b, ':')
		b = append(b, val...)
	}
	return append(b, '}'), nil
}

// JSONString returns s as a JSON string literal.
func JSONString(s string) json.RawMessage { return AppendString(nil, s) }

// CompactObject validates args as JSON and returns it compacted; an empty
// input becomes {}.
func CompactObject(args []byte) (json.RawMessage, error) {
	args = bytes.TrimSpace(args)
	if len(args) == 0 {
		return json.RawMessage("{}"), nil
	}
	var buf bytes.Buffer
	if err := json.Compact(&buf, args); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// ObjectArgs returns a tool call's arguments as the JSON object that
// Anthropic's tool_use input and Ollama's function arguments must be: args
// itself when it is one, {} when empty, else {"arguments": args}.
func ObjectArgs(args json.RawMessage) json.RawMessage {
	a := bytes.TrimSpace(args)
	if len(a) == 0 {
		return json.RawMessage("{}")
	}
	if a[0] == '{' {
		return a
	}
	b, _ := json.Marshal(map[string]json.RawMessage{"arguments": a})
	return b
}

const hexDigits = "0123456789abcdef"

// AppendString appends s as a JSON string (invalid UTF-8 becomes U+FFFD).
func AppendString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// AppendInt appends n.
func AppendInt(dst []byte, n int) []byte { return strconv.AppendInt(dst, int64(n), 10) }

// AppendKey appends ,"key": (without the comma when first).
func AppendKey(dst []byte, key string, first bool) []byte {
	if !first {
		dst = append(dst, ',')
	}
	dst = append(dst, '"')
	dst = append(dst, key...)
	return append(dst, '"', ':')
}

// Out accumulates one frame and writes+flushes it in one call.
type Out struct {
	W     io.Writer
	Flush func() error
	Buf   []byte
	Done  bool // the stream was terminated (end or error)
}

// NewOut returns an Out writing to w, calling flush (may be nil) after
// each frame, with room for a typical frame.
func NewOut(w io.Writer, flush func() error) Out {
	return Out{W: w, Flush: flush, Buf: make([]byte, 0, 512)}
}

// Send writes Buf, resets it and flushes.
func (o *Out) Send() error {
	if len(o.Buf) == 0 {
		return nil
	}
	_, err := o.W.Write(o.Buf)
	o.Buf = o.Buf[:0]
	if err != nil {
		return fmt.Errorf("writing stream: %w", err)
	}
	if o.Flush != nil {
		if err := o.Flush(); err != nil {
			return fmt.Errorf("flushing stream: %w", err)
		}
	}
	return nil
}

// NewID returns prefix + 24 random base62 characters.
func NewID(prefix string) string { return protocol.NewID(prefix) }

// IDWithPrefix returns id when it carries the dialect's prefix, else a new
// id with prefix (an answer relayed from another dialect gets an id its
// clients expect).
func IDWithPrefix(id, prefix string) string {
	if strings.HasPrefix(id, prefix) {
		return id
	}
	return NewID(prefix)
}

// SniffImage returns the MIME type of base64 image data from its magic
// bytes (PNG, JPEG, GIF, WebP), or "" when it is none of these.
func SniffImage(b64 string) string {
	switch {
	case strings.HasPrefix(b64, "iVBORw0KGgo"):
		return "image/png"
	case strings.HasPrefix(b64, "/9j/"):
		return "image/jpeg"
	case strings.HasPrefix(b64, "R0lGOD"):
		return "image/gif"
	case strings.HasPrefix(b64, "UklGR"):
		return "image/webp"
	}
	return ""
}

// DataURI splits a data:<mime>;base64,<data> URI.
func DataURI(u string) (mime, data string, ok bool) {
	const p = "data:"
	if len(u) < len(p) || u[:len(p)] != p {
		return "", "", false
	}
	rest := u[len(p):]
	i := bytes.IndexByte([]byte(rest), ',')
	if i < 0 {
		return "", "", false
	}
	meta := rest[:i]
	const b64 = ";base64"
	if len(meta) < len(b64) || meta[len(meta)-len(b64):] != b64 {
		return "", "", false
	}
	return meta[:len(meta)-len(b64)], rest[i+1:], true
}
