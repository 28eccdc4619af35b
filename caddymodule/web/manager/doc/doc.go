// Package doc is the Config Manager's models-config document: import (JSON or
// HuJSON), edits of models, providers and active models in any group, export
// that keeps key order and unknown fields, validation with the router's own
// validator (caddymodule/config), encryption of provider tokens at rest and
// a line diff for the version history.
//
// A Document is not safe for concurrent use; each request works on its own.
package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

// MaxSize bounds an imported document.
const MaxSize = 8 << 20

// MaxDepth bounds how deeply a document's objects and arrays nest (a
// models-config needs 5). The parser recurses: an 8 MiB document of '['
// would overflow the stack, a fatal error that ends the whole process.
const MaxDepth = 100

// DefaultName is the file name a document carries when none is given; the
// validator's messages name it.
const DefaultName = "models-config.json"

// ActiveKey is the top-level key that lists the models the router serves.
const ActiveKey = "active_models"

// SyntaxError is a document that is not JSON or HuJSON, with the 1-based line
// and column of the problem.
type SyntaxError struct {
	Line, Col int
	Msg       string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.Line, e.Col, e.Msg)
}

// ErrTooLarge is returned for a document over MaxSize.
var ErrTooLarge = fmt.Errorf("the document is larger than %d MiB", MaxSize>>20)

// Document is a parsed models-config: an ordered JSON tree. Its values are
// *object, []any, string, json.Number (the number as written), bool and nil.
type Document struct {
	// Name is the file name shown in validation messages (DefaultName when
	// empty).
	Name string
	root *object
}

// object is a JSON object that keeps its key order.
type object struct {
	keys []string
	vals map[string]any
}

func newObject() *object { return &object{vals: map[string]any{}} }

func (o *object) get(k string) (any, bool) {
	v, ok := o.vals[k]
	return v, ok
}

// set replaces k's value in place, or appends k.
func (o *object) set(k string, v any) {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
}

// insertBefore adds k just before the key before (or at the end when before
// is absent); an existing k is replaced in place.
func (o *object) insertBefore(k string, v any, before string) {
	if _, ok := o.vals[k]; ok {
		o.vals[k] = v
		return
	}
	o.vals[k] = v
	for i, key := range o.keys {
		if key == before {
			o.keys = append(o.keys[:i], append([]string{k}, o.keys[i:]...)...)
			return
		}
	}
	o.keys = append(o.keys, k)
}

func (o *object) del(k string) {
	if _, ok := o.vals[k]; !ok {
		return
	}
	delete(o.vals, k)
	for i, key := range o.keys {
		if key == k {
			o.keys = append(o.keys[:i], o.keys[i+1:]...)
			return
		}
	}
}

// rename changes key old to nu in place; nu must not exist.
func (o *object) rename(old, nu string) {
	v := o.vals[old]
	delete(o.vals, old)
	o.vals[nu] = v
	for i, key := range o.keys {
		if key == old {
			o.keys[i] = nu
		}
	}
}

var hujsonPos = regexp.MustCompile(`line (\d+), column (\d+): (.*)$`)

// Parse reads a models-config document: JSON or HuJSON (comments and trailing
// commas, which export drops). Errors in the syntax are *SyntaxError.
func Parse(data []byte) (*Document, error) {
	if len(data) > MaxSize {
		return nil, ErrTooLarge
	}
	if err := checkDepth(data); err != nil {
		return nil, err
	}
	v, err := hujson.Parse(data)
	if err != nil {
		if m := hujsonPos.FindStringSubmatch(err.Error()); m != nil {
			line, _ := strconv.Atoi(m[1])
			col, _ := strconv.Atoi(m[2])
			return nil, &SyntaxError{Line: line, Col: col, Msg: m[3]}
		}
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: strings.TrimPrefix(err.Error(), "hujson: ")}
	}
	v.Standardize()
	std := v.Pack() // same offsets as data: comments become spaces
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.UseNumber()
	root, err := decodeValue(dec)
	if err != nil {
		return nil, syntaxAt(std, dec, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, syntaxAt(std, dec, errors.New("data after the top-level value"))
	}
	obj, ok := root.(*object)
	if !ok {
		return nil, &SyntaxError{Line: 1, Col: 1, Msg: "the top level must be a JSON object"}
	}
	return &Document{root: obj}, nil
}

// New returns an empty document: no groups, an empty active_models.
func New() *Document {
	root := newObject()
	root.set(ActiveKey, newObject())
	return &Document{root: root}
}

func syntaxAt(data []byte, dec *json.Decoder, err error) error {
	off := int(dec.InputOffset())
	var se *json.SyntaxError
	if errors.As(err, &se) {
		off = int(se.Offset)
	}
	return syntaxAtOffset(data, off, err.Error())
}

// syntaxAtOffset is a *SyntaxError at byte offset off of data.
func syntaxAtOffset(data []byte, off int, msg string) *SyntaxError {
	off = min(max(off, 0), len(data))
	line := bytes.Count(data[:off], []byte("\n")) + 1
	col := off - bytes.LastIndexByte(data[:off], '\n')
	return &SyntaxError{Line: line, Col: col, Msg: msg}
}

// checkDepth refuses data whose objects and arrays nest deeper than
// MaxDepth, in one pass before the parser runs. Brackets in strings and in
// HuJSON's comments do not count; whatever else is malformed is left to the
// parser.
func checkDepth(data []byte) error {
	depth := 0
	for i := 0; i < len(data); i++ {
		switch data[i] {
		case '"':
			for i++; i < len(data) && data[i] != '"'; i++ {
				if data[i] == '\\' {
					i++
				}
			}
		case '/':
			switch {
			case bytes.HasPrefix(data[i:], []byte("//")):
				for i < len(data) && data[i] != '\n' {
					i++
				}
			case bytes.HasPrefix(data[i:], []byte("/*")):
				end := bytes.Index(data[i+2:], []byte("*/"))
				if end < 0 {
					return nil
				}
				i += 2 + end + 1
			}
		case '[', '{':
			if depth++; depth > MaxDepth {
				return syntaxAtOffset(data, i, fmt.Sprintf("objects and arrays nested more than %d deep", MaxDepth))
			}
		case ']', '}':
			depth--
		}
	}
	return nil
}

func decodeValue(dec *json.Decoder) (any, error) {
	tok, err := dec.Token()
	if err != nil {
		return nil, err
	}
	switch t := tok.(type) {
	case json.Delim:
		switch t {
		case '{':
			o := newObject()
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return nil, err
				}
				k, ok := kt.(string)
				if !ok {
					return nil, errors.New("object key is not a string")
				}
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				o.set(k, v) // a repeated key: first place, last value (as encoding/json)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return o, nil
		case '[':
			a := []any{}
			for dec.More() {
				v, err := decodeValue(dec)
				if err != nil {
					return nil, err
				}
				a = append(a, v)
			}
			if _, err := dec.Token(); err != nil {
				return nil, err
			}
			return a, nil
		}
		return nil, fmt.Errorf("unexpected %q", t)
	default:
		return t, nil // string, json.Number, bool, nil
	}
}

// JSON exports the document: indented by two spaces, keys in their order,
// unknown fields kept, comments dropped, ending with a newline.
func (d *Document) JSON() []byte {
	var b bytes.Buffer
	writeValue(&b, d.root, "")
	b.WriteByte('\n')
	return b.Bytes()
}

func writeValue(b *bytes.Buffer, v any, indent string) {
	switch t := v.(type) {
	case *object:
		if len(t.keys) == 0 {
			b.WriteString("{}")
			return
		}
		b.WriteString("{\n")
		for i, k := range t.keys {
			b.WriteString(indent + "  ")
			writeString(b, k)
			b.WriteString(": ")
			writeValue(b, t.vals[k], indent+"  ")
			if i < len(t.keys)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "}")
	case []any:
		if len(t) == 0 {
			b.WriteString("[]")
			return
		}
		b.WriteString("[\n")
		for i, e := range t {
			b.WriteString(indent + "  ")
			writeValue(b, e, indent+"  ")
			if i < len(t)-1 {
				b.WriteByte(',')
			}
			b.WriteByte('\n')
		}
		b.WriteString(indent + "]")
	case string:
		writeString(b, t)
	case json.Number:
		b.WriteString(t.String())
	case bool:
		b.WriteString(strconv.FormatBool(t))
	case nil:
		b.WriteString("null")
	default:
		// Unreachable for a tree built here; never write invalid JSON.
		b.WriteString("null")
	}
}

func writeString(b *bytes.Buffer, s string) {
	var sb bytes.Buffer
	enc := json.NewEncoder(&sb)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(sb.Bytes(), []byte("\n")))
}

// Clone returns a deep copy of the document.
func (d *Document) Clone() *Document {
	return &Document{Name: d.Name, root: cloneValue(d.root).(*object)}
}

func cloneValue(v any) any {
	switch t := v.(type) {
	case *object:
		o := &object{keys: append([]string(nil), t.keys...), vals: make(map[string]any, len(t.vals))}
		for k, e := range t.vals {
			o.vals[k] = cloneValue(e)
		}
		return o
	case []any:
		a := make([]any, len(t))
		for i, e := range t {
			a[i] = cloneValue(e)
		}
		return a
	default:
		return t
	}
}

func (d *Document) name() string {
	if d.Name == "" {
		return DefaultName
	}
	return d.Name
}

// Check validates the document with the router's own validator (one
// implementation: caddymodule/config). err is a *config.Error naming the
// file, model, provider and field; warnings are what the router accepts but
// ignores (unknown fields).
func (d *Document) Check() (warnings []*config.Error, err error) {
	cfg, err := config.Parse(d.name(), d.JSON())
	if err != nil {
		return nil, err
	}
	return cfg.Warnings, nil
}

// Validate is Check without the warnings: nil when the router would load the
// document.
func (d *Document) Validate() error {
	_, err := d.Check()
	return err
}
