package builtin

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
)

// fields is a request body: field name → raw JSON value.
type fields map[string]json.RawMessage

func parseBody(body []byte) (fields, error) {
	var f fields
	if len(bytes.TrimSpace(body)) == 0 {
		return nil, &FieldError{Msg: "request body is empty; expected a JSON object"}
	}
	// One validating scan (which also refuses strings that are not UTF-8,
	// as RFC 8259 requires) gives the members; values are decoded as read.
	obj, err := jsonscan.Scan(body)
	if err != nil {
		msg := "request body is not a valid JSON object"
		if errors.Is(err, jsonscan.ErrInvalidUTF8) {
			msg = "request body is not valid JSON: " + err.Error()
		}
		return nil, &FieldError{Msg: msg}
	}
	f = make(fields, len(obj.Members))
	for _, m := range obj.Members {
		key := string(m.Key)
		if bytes.IndexByte(m.Key, '\\') >= 0 {
			key, _ = jsonscan.Unquote(append(append([]byte{'"'}, m.Key...), '"'))
		}
		f[key] = obj.Doc[m.Value.Start:m.Value.End]
	}
	return f, nil
}

// raw returns the value of name, or nil when absent or null.
func (f fields) raw(name string) json.RawMessage {
	v, ok := f[name]
	if !ok || string(v) == "null" {
		return nil
	}
	return v
}

func (f fields) str(name string, required bool) (string, error) {
	v := f.raw(name)
	if v == nil {
		if required {
			return "", &FieldError{name, "is required"}
		}
		return "", nil
	}
	var s string
	if err := json.Unmarshal(v, &s); err != nil {
		return "", &FieldError{name, "must be a string"}
	}
	if required && strings.TrimSpace(s) == "" {
		return "", &FieldError{name, "must not be empty"}
	}
	return s, nil
}

func (f fields) boolean(name string) (bool, error) {
	v := f.raw(name)
	if v == nil {
		return false, nil
	}
	var b bool
	if err := json.Unmarshal(v, &b); err != nil {
		return false, &FieldError{name, "must be true or false"}
	}
	return b, nil
}

// number reads a JSON number into *dst (left unchanged when absent) and
// checks lo ≤ n ≤ hi (loOpen: lo < n).
func (f fields) number(name string, dst *float64, lo, hi float64, loOpen bool) error {
	v := f.raw(name)
	if v == nil {
		return nil
	}
	var n float64
	if err := json.Unmarshal(v, &n); err != nil {
		return &FieldError{name, "must be a number"}
	}
	if n > hi || n < lo || (loOpen && n == lo) {
		op := "≥"
		if loOpen {
			op = ">"
		}
		return &FieldError{name, fmt.Sprintf("must be %s %g and ≤ %g", op, lo, hi)}
	}
	*dst = n
	return nil
}

// integer reads a JSON integer into *dst (left unchanged when absent),
// checking lo ≤ n ≤ hi.
func (f fields) integer(name string, dst *int, lo, hi int) error {
	v := f.raw(name)
	if v == nil {
		return nil
	}
	var n float64
	if err := json.Unmarshal(v, &n); err != nil || n != math.Trunc(n) {
		return &FieldError{name, "must be an integer"}
	}
	if n < float64(lo) || n > float64(hi) {
		return &FieldError{name, fmt.Sprintf("must be between %d and %d", lo, hi)}
	}
	*dst = int(n)
	return nil
}

// texts reads an array of strings; required means at least one element.
func (f fields) texts(name string, required bool, limit int) ([]string, error) {
	v := f.raw(name)
	if v == nil {
		if required {
			return nil, &FieldError{name, "is required"}
		}
		return nil, nil
	}
	var out []string
	if err := json.Unmarshal(v, &out); err != nil {
		return nil, &FieldError{name, "must be an array of strings"}
	}
	if required && len(out) == 0 {
		return nil, &FieldError{name, "must contain at least one text"}
	}
	if len(out) > limit {
		return nil, &FieldError{name, fmt.Sprintf("holds %d texts; at most %d are allowed", len(out), limit)}
	}
	return out, nil
}

func (f fields) stringMap(name string) (map[string]string, error) {
	v := f.raw(name)
	if v == nil {
		return nil, nil
	}
	var m map[string]string
	if err := json.Unmarshal(v, &m); err != nil {
		return nil, &FieldError{name, "must be an object of string values"}
	}
	return m, nil
}

// options reads the generation options over the defaults.
func (f fields) options() (Options, error) {
	o := DefaultOptions()
	if err := f.number("temperature", &o.Temperature, 0, 2, false); err != nil {
		return o, err
	}
	maxName := "max_new_tokens"
	if f.raw(maxName) == nil && f.raw("max_tokens") != nil {
		maxName = "max_tokens"
	}
	if err := f.integer(maxName, &o.MaxTokens, 1, math.MaxInt32); err != nil {
		return o, err
	}
	if err := f.integer("top_k", &o.TopK, 0, math.MaxInt32); err != nil {
		return o, err
	}
	if err := f.number("top_p", &o.TopP, 0, 1, true); err != nil {
		return o, err
	}
	if err := f.number("typical_p", &o.TypicalP, 0, 1, true); err != nil {
		return o, err
	}
	if err := f.number("repetition_penalty", &o.RepetitionPenalty, 0, math.MaxFloat64, true); err != nil {
		return o, err
	}
	return o, nil
}

// history converts historical_messages: each item is {"user": …} and/or
// {"assistant": …} (user first when both), or a {"role", "content"} message
// with role user or assistant.
func (f fields) history(name string) ([]Message, error) {
	v := f.raw(name)
	if v == nil {
		return nil, nil
	}
	var items []map[string]json.RawMessage
	if err := json.Unmarshal(v, &items); err != nil {
		return nil, &FieldError{name, `must be an array of objects like {"user": "…"} or {"assistant": "…"}`}
	}
	out := make([]Message, 0, len(items)*2)
	for i, it := range items {
		at := fmt.Sprintf("%s[%d]", name, i)
		item := fields(it)
		if item.raw("role") != nil {
			role, err := item.str("role", true)
			if err != nil {
				return nil, &FieldError{at + ".role", err.(*FieldError).Msg}
			}
			if role != RoleUser && role != RoleAssistant {
				return nil, &FieldError{at + ".role", `must be "user" or "assistant"`}
			}
			content, err := item.str("content", false)
			if err != nil {
				return nil, &FieldError{at + ".content", err.(*FieldError).Msg}
			}
			out = append(out, Message{role, content})
			continue
		}
		n := 0
		for _, role := range []string{RoleUser, RoleAssistant} {
			if item.raw(role) == nil {
				continue
			}
			s, err := item.str(role, false)
			if err != nil {
				return nil, &FieldError{at + "." + role, err.(*FieldError).Msg}
			}
			out = append(out, Message{role, s})
			n++
		}
		if n == 0 {
			return nil, &FieldError{at, `must have a "user" or "assistant" key`}
		}
	}
	return out, nil
}

// passage is one context text of generative_answer, with its document name
// when texts was given as {doc: [passages]}.
type passage struct{ doc, text string }

// passages reads texts as an array of strings or as an object mapping a
// document name to a string or an array of strings (document order kept).
func (f fields) passages(name string, limit int) ([]passage, error) {
	v := f.raw(name)
	if v == nil {
		return nil, &FieldError{name, "is required"}
	}
	var out []passage
	switch bytes.TrimSpace(v)[0] {
	case '[':
		list, err := f.texts(name, true, limit)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			out = append(out, passage{text: s})
		}
	case '{':
		dec := json.NewDecoder(bytes.NewReader(v))
		if _, err := dec.Token(); err != nil {
			return nil, &FieldError{name, "is not valid JSON"}
		}
		for dec.More() {
			tok, err := dec.Token()
			if err != nil {
				return nil, &FieldError{name, "is not valid JSON"}
			}
			doc := tok.(string)
			var val json.RawMessage
			if err := dec.Decode(&val); err != nil {
				return nil, &FieldError{name, "is not valid JSON"}
			}
			var one string
			var many []string
			switch {
			case json.Unmarshal(val, &one) == nil:
				many = []string{one}
			case json.Unmarshal(val, &many) == nil:
			default:
				return nil, &FieldError{name + "." + doc, "must be a string or an array of strings"}
			}
			for _, s := range many {
				out = append(out, passage{doc: doc, text: s})
			}
		}
	default:
		return nil, &FieldError{name, "must be an array of strings or an object of document name → passages"}
	}
	if len(out) > limit {
		return nil, &FieldError{name, fmt.Sprintf("holds %d texts; at most %d are allowed", len(out), limit)}
	}
	return out, nil
}

// Names of the prompt-control fields a client may send.
const (
	FieldMapPrompt = "map_prompt"
	FieldForce     = "prompt_str_force"
	FieldPostfix   = "prompt_str_postfix"
)

// Control holds the prompt-control fields of a request. The built-in
// endpoints always honour them; on proxy endpoints the caller should strip
// them, and apply them (with [Control.Apply]) to the system prompt only when
// the operator allows clients to change system prompts.
type Control struct {
	// MapPrompt maps literal strings to their replacements (map_prompt).
	MapPrompt map[string]string
	// Force replaces the prompt text when non-empty (prompt_str_force).
	Force string
	// Postfix is appended after a blank line (prompt_str_postfix).
	Postfix string
}

// Apply composes a system prompt the way the built-in endpoints do: Force
// replaces system, MapPrompt keys are replaced literally (longer keys
// first), Postfix is appended after a blank line, and the result is trimmed.
func (c Control) Apply(system string) string {
	if c.Force != "" {
		system = c.Force
	}
	system = strings.TrimSpace(replaceLiteral(system, c.MapPrompt))
	if p := strings.TrimSpace(c.Postfix); p != "" {
		if system != "" {
			system += "\n\n"
		}
		system += p
	}
	return system
}

func (f fields) control() (Control, error) {
	var c Control
	var err error
	if c.MapPrompt, err = f.stringMap(FieldMapPrompt); err != nil {
		return c, err
	}
	if c.Force, err = f.str(FieldForce, false); err != nil {
		return c, err
	}
	if c.Postfix, err = f.str(FieldPostfix, false); err != nil {
		return c, err
	}
	return c, nil
}

// replaceLiteral applies map_prompt: every key is replaced literally, longer
// keys first so that a key that contains another wins.
func replaceLiteral(text string, m map[string]string) string {
	if len(m) == 0 {
		return text
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		if k != "" {
			keys = append(keys, k)
		}
	}
	sort.Slice(keys, func(i, j int) bool {
		if len(keys[i]) != len(keys[j]) {
			return len(keys[i]) > len(keys[j])
		}
		return keys[i] < keys[j]
	})
	pairs := make([]string, 0, 2*len(keys))
	for _, k := range keys {
		pairs = append(pairs, k, m[k])
	}
	return strings.NewReplacer(pairs...).Replace(text)
}
