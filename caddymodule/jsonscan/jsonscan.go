// Package jsonscan is the router's one JSON scanner: it reads and edits
// JSON without decoding it into Go values. One validating pass over the
// bytes (Valid, Scan, Each, Every, Elems, StringValues) follows RFC 8259's
// grammar with strings that are not UTF-8 refused (encoding/json lets them
// through as U+FFFD) and finds where each member's value starts and ends, so
// a proxy can read the few fields routing needs (model, stream) and rewrite
// one of them in place (Object.Set, Object.Delete, ReplaceStrings). The
// walkers (Members, Elements) then go through parts of a validated document
// without validating them again, and the value readers (Unquote, Key,
// String, Boolean, Number, Int, IsNull, IsString, StringOrNull) read one raw
// value the way encoding/json would decode it; the codecs' field reader
// (protocol/internal/wire.Obj) is built on them. FuzzScan checks all of it
// against encoding/json, values included.
//
// When encoding/json/jsontext leaves its experiment (it exists only under
// GOEXPERIMENT=jsonv2 in Go 1.26 and is outside the Go 1 promise) it can
// replace most of this package: Value.IsValid(AllowDuplicateNames(true)) for
// Valid, a Decoder's ReadToken/ReadValue and InputOffset for Scan, Each and
// the walkers, AppendUnquote for Unquote and Key (not AppendQuote for Quote:
// Quote escapes <, > and & as json.Marshal does, AppendQuote never does; an
// Encoder with EscapeForHTML(true) does). Two things to settle first: its validation refuses an escaped lone surrogate
// ("\ud800"), which encoding/json and this package accept, unless
// AllowInvalidUTF8(true), which lets raw invalid UTF-8 through as well; and it
// must match BenchmarkScanAndRewrite without allocating per member.
package jsonscan

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"
)

// ErrNotObject is returned when the document is not a JSON object.
var ErrNotObject = errors.New("the body must be a JSON object")

// ErrInvalidUTF8 is the message of the SyntaxError for a string that is not
// UTF-8 (RFC 8259 requires it); errors.Is matches it.
var ErrInvalidUTF8 = errors.New("invalid UTF-8 in a string (JSON text must be UTF-8)")

// SyntaxError reports malformed JSON at a byte offset.
type SyntaxError struct {
	Offset int
	Msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed JSON at byte %d: %s", e.Offset, e.Msg)
}

// Is makes errors.Is(err, ErrInvalidUTF8) true for a string that is not UTF-8.
func (e *SyntaxError) Is(target error) bool {
	return target == ErrInvalidUTF8 && e.Msg == ErrInvalidUTF8.Error()
}

// Span locates a member value inside the scanned document: doc[Start:End].
type Span struct {
	Start, End int
}

// Valid reports whether the span was found.
func (s Span) Valid() bool { return s.End > s.Start }

// Member is one top-level member of an object.
type Member struct {
	// Key is the raw key bytes between the quotes (still escaped).
	Key []byte
	// Value locates the raw value.
	Value Span
}

// Object is the result of scanning a JSON object.
type Object struct {
	// Doc is the scanned document.
	Doc []byte
	// Members are the top-level members in document order.
	Members []Member
}

// Scan validates doc as a JSON object and records its top-level members.
// The value of a repeated key is the last one, as encoding/json decodes it.
func Scan(doc []byte) (*Object, error) {
	s := scanner{b: doc}
	s.ws()
	if s.i >= len(doc) || doc[s.i] != '{' {
		if s.i >= len(doc) {
			return nil, &SyntaxError{Offset: s.i, Msg: "empty body"}
		}
		if err := s.value(); err != nil {
			return nil, err
		}
		return nil, ErrNotObject
	}
	o := &Object{Doc: doc}
	_, err := each(doc, func(key []byte, vs, ve int) bool {
		o.Members = append(o.Members, Member{Key: key, Value: Span{vs, ve}})
		return true
	})
	if err != nil {
		return nil, err
	}
	return o, nil
}

// Valid checks that doc is one JSON value (of any kind, with whitespace
// around it) whose strings are UTF-8; the error is a *SyntaxError. It is
// json.Valid with RFC 8259's UTF-8 rule, in one pass and no allocation.
func Valid(doc []byte) error {
	s := scanner{b: doc}
	s.ws()
	if s.i >= len(doc) {
		return &SyntaxError{Offset: s.i, Msg: "empty body"}
	}
	if err := s.value(); err != nil {
		return err
	}
	s.ws()
	if s.i != len(doc) {
		return s.err("unexpected data after the value")
	}
	return nil
}

// Find returns the span of the value of key (the last occurrence).
func (o *Object) Find(key string) Span {
	var sp Span
	for i := range o.Members {
		if keyEq(o.Members[i].Key, key) {
			sp = o.Members[i].Value
		}
	}
	return sp
}

// Raw returns the raw value of key, or nil when absent.
func (o *Object) Raw(key string) []byte {
	sp := o.Find(key)
	if !sp.Valid() {
		return nil
	}
	return o.Doc[sp.Start:sp.End]
}

// String returns the string value of key. ok is false when the key is absent
// or null; err is set when the value is present but not a string.
func (o *Object) String(key string) (v string, ok bool, err error) {
	raw := o.Raw(key)
	if raw == nil || string(raw) == "null" {
		return "", false, nil
	}
	v, ok = Unquote(raw)
	if !ok {
		return "", false, fmt.Errorf("%q must be a string", key)
	}
	return v, true, nil
}

// Bool returns the boolean value of key. ok is false when absent or null;
// err is set when present with another type.
func (o *Object) Bool(key string) (v, ok bool, err error) {
	raw := o.Raw(key)
	if raw == nil || string(raw) == "null" {
		return false, false, nil
	}
	if v, ok := Boolean(raw); ok {
		return v, true, nil
	}
	return false, false, fmt.Errorf("%q must be a boolean", key)
}

// Set returns a copy of the document with key's value replaced by the raw JSON
// value val, appending the member when the key is absent. Every occurrence of a
// repeated key is replaced.
func (o *Object) Set(key string, val []byte) []byte {
	var spans []Span
	for i := range o.Members {
		if keyEq(o.Members[i].Key, key) {
			spans = append(spans, o.Members[i].Value)
		}
	}
	if len(spans) == 0 {
		return o.appendMember(key, val)
	}
	out := make([]byte, 0, len(o.Doc)+len(val)*len(spans))
	prev := 0
	for _, sp := range spans {
		out = append(out, o.Doc[prev:sp.Start]...)
		out = append(out, val...)
		prev = sp.End
	}
	return append(out, o.Doc[prev:]...)
}

// Delete returns a copy of the document without the given keys (every
// occurrence).
func (o *Object) Delete(keys ...string) []byte {
	keep := o.Members[:0:0]
	for _, m := range o.Members {
		drop := false
		for _, k := range keys {
			drop = drop || keyEq(m.Key, k)
		}
		if !drop {
			keep = append(keep, m)
		}
	}
	if len(keep) == len(o.Members) {
		return bytes.Clone(o.Doc)
	}
	out := make([]byte, 0, len(o.Doc))
	out = append(out, '{')
	for i, m := range keep {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, '"')
		out = append(out, m.Key...)
		out = append(out, '"', ':')
		out = append(out, o.Doc[m.Value.Start:m.Value.End]...)
	}
	return append(out, '}')
}

func (o *Object) appendMember(key string, val []byte) []byte {
	end := bytes.LastIndexByte(o.Doc, '}')
	out := make([]byte, 0, len(o.Doc)+len(key)+len(val)+4)
	out = append(out, o.Doc[:end]...)
	if len(o.Members) > 0 {
		out = append(out, ',')
	}
	out = strconv.AppendQuote(out, key)
	out = append(out, ':')
	out = append(out, val...)
	return append(out, o.Doc[end:]...)
}

// Quote returns s as a JSON string value.
func Quote(s string) []byte {
	b, _ := json.Marshal(s) // a string always marshals
	return b
}

func keyEq(raw []byte, key string) bool {
	if bytes.IndexByte(raw, '\\') < 0 {
		return string(raw) == key
	}
	k, ok := Key(raw)
	return ok && k == key
}

type scanner struct {
	b     []byte
	i     int
	depth int
	// onString, if set, is called with each string value read (raw, with
	// its quotes); member names are not values and are not reported.
	onString func(raw []byte)
}

// maxDepth bounds nesting so hostile input cannot exhaust the stack.
const maxDepth = 10000

func (s *scanner) err(msg string) error { return &SyntaxError{Offset: s.i, Msg: msg} }

func (s *scanner) ws() {
	for s.i < len(s.b) {
		switch s.b[s.i] {
		case ' ', '\t', '\n', '\r':
			s.i++
		default:
			return
		}
	}
}

func (s *scanner) value() error {
	if s.i >= len(s.b) {
		return s.err("unexpected end of input")
	}
	switch c := s.b[s.i]; {
	case c == '"':
		if s.onString == nil {
			return s.str()
		}
		st := s.i
		if err := s.str(); err != nil {
			return err
		}
		s.onString(s.b[st:s.i])
		return nil
	case c == '{':
		return s.obj()
	case c == '[':
		return s.arr()
	case c == 't':
		return s.lit("true")
	case c == 'f':
		return s.lit("false")
	case c == 'n':
		return s.lit("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return s.num()
	}
	return s.err("invalid character")
}

func (s *scanner) lit(l string) error {
	if !bytes.HasPrefix(s.b[s.i:], []byte(l)) {
		return s.err("invalid literal")
	}
	s.i += len(l)
	return nil
}

func (s *scanner) num() error {
	start := s.i
	if s.b[s.i] == '-' {
		s.i++
	}
	digits := func() int {
		n := 0
		for s.i < len(s.b) && s.b[s.i] >= '0' && s.b[s.i] <= '9' {
			s.i++
			n++
		}
		return n
	}
	intStart := s.i
	if digits() == 0 {
		return s.err("invalid number")
	}
	if s.b[intStart] == '0' && s.i-intStart > 1 {
		return &SyntaxError{Offset: start, Msg: "invalid number (leading zero)"}
	}
	if s.i < len(s.b) && s.b[s.i] == '.' {
		s.i++
		if digits() == 0 {
			return s.err("invalid number")
		}
	}
	if s.i < len(s.b) && (s.b[s.i] == 'e' || s.b[s.i] == 'E') {
		s.i++
		if s.i < len(s.b) && (s.b[s.i] == '+' || s.b[s.i] == '-') {
			s.i++
		}
		if digits() == 0 {
			return s.err("invalid number")
		}
	}
	return nil
}

// plain marks the bytes a string holds as they are: printable ASCII other
// than the quote and the backslash. One table load per byte keeps the common
// case of str a tight loop.
var plain = func() (t [256]bool) {
	for c := 0x20; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// str reads a string and checks, as it goes, that it is UTF-8 (RFC 8259
// §8.1): encoding/json would turn a bad byte into U+FFFD, a provider may
// refuse it or do anything else with it.
func (s *scanner) str() error {
	b := s.b
	i := s.i + 1 // past the opening quote
	for i < len(b) {
		// Eight bytes at a time while all are plain ASCII: a word with a
		// byte below 0x20, a quote, a backslash or a byte >= 0x80 sets a
		// high bit here (the lowest such byte always does; others may
		// too), and is then read byte by byte.
		for i+8 <= len(b) {
			x := binary.LittleEndian.Uint64(b[i:])
			if ((x-ones*0x20)|((x^(ones*'"'))-ones)|((x^(ones*'\\'))-ones)|x)&highs != 0 {
				break
			}
			i += 8
		}
		for i < len(b) && plain[b[i]] {
			i++
		}
		if i >= len(b) {
			break
		}
		c := b[i]
		switch {
		case c == '"':
			s.i = i + 1
			return nil
		case c == '\\':
			i++
			if i >= len(b) {
				s.i = i
				return s.err("unterminated string")
			}
			switch b[i] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i++
			case 'u':
				if i+5 > len(b) {
					s.i = i
					return s.err("invalid \\u escape")
				}
				for _, h := range b[i+1 : i+5] {
					if !isHex(h) {
						s.i = i
						return s.err("invalid \\u escape")
					}
				}
				i += 5
			default:
				s.i = i
				return s.err("invalid escape")
			}
		case c < 0x20:
			s.i = i
			return s.err("control character in string")
		case c >= 0xC2 && c <= 0xDF && i+1 < len(b) && b[i+1]&0xC0 == 0x80:
			i += 2 // a two-byte sequence (Latin, Polish, Greek, Cyrillic…)
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				s.i = i
				return s.err(ErrInvalidUTF8.Error())
			}
			i += n
		}
	}
	s.i = i
	return s.err("unterminated string")
}

func isHex(c byte) bool {
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')
}

func (s *scanner) obj() error {
	if s.depth++; s.depth > maxDepth {
		return s.err("nesting too deep")
	}
	defer func() { s.depth-- }()
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == '}' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != '"' {
			return s.err("expected a member name")
		}
		if err := s.str(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) || s.b[s.i] != ':' {
			return s.err("expected ':'")
		}
		s.i++
		s.ws()
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.err("unexpected end of object")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case '}':
			s.i++
			return nil
		default:
			return s.err("expected ',' or '}'")
		}
	}
}

func (s *scanner) arr() error {
	if s.depth++; s.depth > maxDepth {
		return s.err("nesting too deep")
	}
	defer func() { s.depth-- }()
	s.i++
	s.ws()
	if s.i < len(s.b) && s.b[s.i] == ']' {
		s.i++
		return nil
	}
	for {
		s.ws()
		if err := s.value(); err != nil {
			return err
		}
		s.ws()
		if s.i >= len(s.b) {
			return s.err("unexpected end of array")
		}
		switch s.b[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return nil
		default:
			return s.err("expected ',' or ']'")
		}
	}
}

// Each calls fn with the raw key (still escaped, without quotes) and raw
// value of every top-level member of the object doc, in order, until fn
// returns false. It validates doc as it goes and allocates nothing.
func Each(doc []byte, fn func(key, value []byte) bool) error {
	_, err := each(doc, func(key []byte, vs, ve int) bool { return fn(key, doc[vs:ve]) })
	return err
}

// Every reports whether doc is a valid JSON object and fn accepted each of
// its members (in order); it stops at the first member fn refuses. It is
// the strict reader of the stream fast paths: anything they do not know
// makes them fall back to the full decoder.
func Every(doc []byte, fn func(key, value []byte) bool) bool {
	refused, err := each(doc, func(key []byte, vs, ve int) bool { return fn(key, doc[vs:ve]) })
	return !refused && err == nil
}

// each is the loop of Scan, Each and Every: it calls fn with the raw key and
// the span of the value of every member, and also tells whether fn stopped it.
func each(doc []byte, fn func(key []byte, vs, ve int) bool) (refused bool, err error) {
	s := scanner{b: doc}
	s.ws()
	if s.i >= len(doc) || doc[s.i] != '{' {
		return false, ErrNotObject
	}
	s.i++
	s.ws()
	if s.i < len(doc) && doc[s.i] == '}' {
		s.i++
		s.ws()
		if s.i != len(doc) {
			return false, s.err("unexpected data after the object")
		}
		return false, nil
	}
	for {
		s.ws()
		if s.i >= len(doc) || doc[s.i] != '"' {
			return false, s.err("expected a member name")
		}
		ks := s.i + 1
		if err := s.str(); err != nil {
			return false, err
		}
		key := doc[ks : s.i-1]
		s.ws()
		if s.i >= len(doc) || doc[s.i] != ':' {
			return false, s.err("expected ':' after member name")
		}
		s.i++
		s.ws()
		vs := s.i
		if err := s.value(); err != nil {
			return false, err
		}
		if !fn(key, vs, s.i) {
			return true, nil
		}
		s.ws()
		if s.i >= len(doc) {
			return false, s.err("unexpected end of object")
		}
		if doc[s.i] == ',' {
			s.i++
			continue
		}
		if doc[s.i] == '}' {
			s.i++
			s.ws()
			if s.i != len(doc) {
				return false, s.err("unexpected data after the object")
			}
			return false, nil
		}
		return false, s.err("expected ',' or '}'")
	}
}

// Unquote returns the string a raw JSON string value holds; ok is false
// when raw is not a string. It is fast when the string has no escapes.
func Unquote(raw []byte) (string, bool) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", false
	}
	if body := raw[1 : len(raw)-1]; bytes.IndexByte(body, '\\') < 0 && utf8.Valid(body) {
		return string(body), true
	}
	var s string
	if json.Unmarshal(raw, &s) != nil {
		return "", false
	}
	return s, true
}

// Key decodes a raw member name as Scan, Each and Members give it (between
// the quotes, still escaped); ok is false when it is not a valid string body.
func Key(raw []byte) (string, bool) {
	if bytes.IndexByte(raw, '\\') < 0 && utf8.Valid(raw) {
		return string(raw), true
	}
	q := make([]byte, 0, len(raw)+2)
	return Unquote(append(append(append(q, '"'), raw...), '"'))
}

// Int reads a raw JSON number the way encoding/json decodes it into an int:
// an optional minus and at most 18 digits. ok is false for fractions,
// exponents and any other value.
func Int(raw []byte) (int, bool) {
	digits := raw
	if len(digits) > 0 && digits[0] == '-' {
		digits = digits[1:]
	}
	if len(digits) == 0 || len(digits) > 18 {
		return 0, false
	}
	n := 0
	for _, c := range digits {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	if raw[0] == '-' {
		n = -n
	}
	return n, true
}

// StringOrNull keeps a raw JSON string value in *dst and leaves *dst as it
// is for null, as encoding/json does with a string field (a repeated key's
// null does not clear it). ok is false for any other value.
func StringOrNull(dst *[]byte, raw []byte) bool {
	switch {
	case len(raw) > 0 && raw[0] == '"':
		*dst = raw
		return true
	default:
		return string(raw) == "null"
	}
}
