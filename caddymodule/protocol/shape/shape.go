// Package shape checks the shape of a client's request body before the
// router chooses a provider: the types of the common fields and the
// structure of the conversation (messages an array of objects with a known
// role, content a string, an array of parts or null), per dialect.
//
// A passthrough request is forwarded as the client wrote it, so without
// this check a body the dialect's decoder would refuse (say
// "messages":[null]) reached the provider, whose 5xx then counted against
// its health. The rules are those of the decoders in the protocol packages
// (the same field names and messages), so a request is refused alike
// whether it passes through or is translated; members the router does not
// know pass unchecked.
//
// Check reads a document jsonscan has already validated and allocates
// nothing unless it refuses it.
package shape

import (
	"bytes"
	"math"
	"strconv"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// Check reports the first field of a request body of dialect d that does
// not have the dialect's shape, as a *protocol.RequestError naming it; nil
// for dialects it has no rules for.
func Check(d protocol.Dialect, obj *jsonscan.Object) error {
	var c checker
	switch d {
	case protocol.OpenAIChat:
		c.top(obj, d)
		c.required(obj, "messages", true)
	case protocol.OpenAICompletions:
		c.top(obj, d)
	case protocol.OpenAIResponses:
		c.top(obj, d)
		c.required(obj, "input", false)
	case protocol.Anthropic:
		c.top(obj, d)
		c.required(obj, "max_tokens", false)
		c.required(obj, "messages", true)
	case protocol.OllamaChat:
		c.top(obj, d)
	case protocol.OllamaGenerate:
		c.top(obj, d)
	case protocol.OpenAIEmbeddings:
		c.top(obj, d)
		c.required(obj, "input", false)
	case protocol.OllamaEmbed, protocol.OllamaEmbeddings:
		c.top(obj, d)
	}
	if c.err == nil {
		return nil
	}
	return c.err
}

// checker keeps the first error and the path of the value being checked:
// a fixed stack of constant keys and indices, rendered only on error, so
// that a request that passes costs no allocation.
type checker struct {
	err  *protocol.RequestError
	path [8]seg
	n    int
}

type seg struct {
	key string // "" for an index
	i   int
}

func (c *checker) push(key string) {
	if c.n < len(c.path) {
		c.path[c.n] = seg{key: key}
	}
	c.n++
}

func (c *checker) pushIdx(i int) {
	if c.n < len(c.path) {
		c.path[c.n] = seg{i: i}
	}
	c.n++
}

func (c *checker) pop() { c.n-- }

// fail records the first error, at the current path.
func (c *checker) fail(msg string) {
	if c.err != nil {
		return
	}
	var b []byte
	for _, s := range c.path[:min(c.n, len(c.path))] {
		if s.key == "" {
			b = append(strconv.AppendInt(append(b, '['), int64(s.i), 10), ']')
			continue
		}
		if len(b) > 0 {
			b = append(b, '.')
		}
		b = append(b, s.key...)
	}
	c.err = &protocol.RequestError{Field: string(b), Msg: msg}
}

// top checks each top-level member with fn (the last of a repeated key,
// as the decoders read it; null is absent, as for them).
func (c *checker) top(obj *jsonscan.Object, d protocol.Dialect) {
	ms := obj.Members
	for i := range ms {
		if c.err != nil {
			return
		}
		m := &ms[i]
		if repeated(ms[i+1:], m.Key) {
			continue
		}
		v := obj.Doc[m.Value.Start:m.Value.End]
		if isNull(v) {
			continue
		}
		// A switch, not a func value: escape analysis then keeps c on
		// the stack.
		switch d {
		case protocol.OpenAIChat:
			openAIChatTop(c, m.Key, v)
		case protocol.OpenAICompletions:
			completionsTop(c, m.Key, v)
		case protocol.OpenAIResponses:
			responsesTop(c, m.Key, v)
		case protocol.Anthropic:
			anthropicTop(c, m.Key, v)
		case protocol.OllamaChat:
			ollamaChatTop(c, m.Key, v)
		case protocol.OllamaGenerate:
			ollamaGenerateTop(c, m.Key, v)
		case protocol.OpenAIEmbeddings:
			openAIEmbeddingsTop(c, m.Key, v)
		case protocol.OllamaEmbed:
			ollamaEmbedTop(c, m.Key, v)
		case protocol.OllamaEmbeddings:
			ollamaEmbeddingsTop(c, m.Key, v)
		}
	}
}

// repeated reports whether key occurs again in the later members.
func repeated(later []jsonscan.Member, key []byte) bool {
	for i := range later {
		if string(later[i].Key) == string(key) {
			return true
		}
	}
	return false
}

// required fails when key is absent or null (or, with nonEmpty, an empty
// array), with the decoders' message.
func (c *checker) required(obj *jsonscan.Object, key string, nonEmpty bool) {
	if c.err != nil {
		return
	}
	v := obj.Raw(key)
	c.push(key)
	defer c.pop()
	switch {
	case isNull(v) && nonEmpty:
		c.fail("required and must not be empty")
	case isNull(v):
		c.fail("required")
	case nonEmpty && v[0] == '[' && emptyArray(v):
		c.fail("required and must not be empty")
	}
}

func emptyArray(v []byte) bool {
	empty := true
	jsonscan.Elements(v, func(int, []byte) bool { empty = false; return false })
	return empty
}

// Value kinds, from the first byte of a validated value.

func isNull(v []byte) bool   { return len(v) == 0 || v[0] == 'n' }
func isString(v []byte) bool { return v[0] == '"' }
func isObject(v []byte) bool { return v[0] == '{' }
func isArray(v []byte) bool  { return v[0] == '[' }
func isBool(v []byte) bool   { return v[0] == 't' || v[0] == 'f' }
func isNumber(v []byte) bool { return v[0] == '-' || (v[0] >= '0' && v[0] <= '9') }

// isInt reports whether v is a number with an integral value within ±2^53,
// as the decoders read integers (1.0 and 1e2 are integers).
func isInt(v []byte) bool {
	if !isNumber(v) {
		return false
	}
	plain := len(v) <= 16
	for _, b := range v {
		if b == '.' || b == 'e' || b == 'E' {
			plain = false
			break
		}
	}
	if plain {
		return true
	}
	f, err := strconv.ParseFloat(string(v), 64)
	return err == nil && f == math.Trunc(f) && math.Abs(f) <= 1<<53
}

// text returns the text of a string value for a comparison with
// enumerated values (role, type), as bytes so that comparing costs no copy;
// a value with escapes is decoded, on that rare path only.
func text(v []byte) []byte {
	if !isString(v) {
		return nil
	}
	if s := v[1 : len(v)-1]; bytes.IndexByte(s, '\\') < 0 {
		return s
	}
	s, _ := jsonscan.Unquote(v)
	return []byte(s)
}

// name returns key as the constant the rules know it by, so that the path
// of an error keeps no copy of the document; "" for other keys.
func name(key []byte) string {
	for _, n := range names {
		if string(key) == n {
			return n
		}
	}
	return ""
}

var names = [...]string{"model", "user", "temperature", "top_p", "max_completion_tokens", "max_tokens", "n", "seed",
	"top_k", "presence_penalty", "frequency_penalty", "min_p", "repetition_penalty", "repeat_penalty", "name",
	"reasoning_content", "reasoning", "refusal", "arguments", "call_id", "encoding_format", "text", "metadata", "tool_choice",
	"thinking", "output_config", "num_predict", "num_ctx", "content", "tool_call_id", "tool_name", "system", "prompt",
	"suffix", "template"}

// Typed checks of a member: key is pushed on the path for the error. Null
// counts as absent.

func (c *checker) str(key string, v []byte) {
	if !isNull(v) && !isString(v) {
		c.failAt(key, "must be a string")
	}
}

func (c *checker) boolean(key string, v []byte) {
	if !isNull(v) && !isBool(v) {
		c.failAt(key, "must be a boolean")
	}
}

func (c *checker) number(key string, v []byte) {
	if !isNull(v) && !isNumber(v) {
		c.failAt(key, "must be a number")
	}
}

func (c *checker) integer(key string, v []byte) {
	if !isNull(v) && !isInt(v) {
		c.failAt(key, "must be an integer")
	}
}

func (c *checker) object(key string, v []byte) bool {
	if isNull(v) {
		return false
	}
	if !isObject(v) {
		c.failAt(key, "must be a JSON object")
		return false
	}
	return true
}

func (c *checker) array(key string, v []byte) bool {
	if isNull(v) {
		return false
	}
	if !isArray(v) {
		c.failAt(key, "must be an array")
		return false
	}
	return true
}

// strings checks a string or an array of strings (stop sequences).
func (c *checker) strings(key string, v []byte) {
	if isNull(v) || isString(v) {
		return
	}
	ok := isArray(v)
	if ok {
		jsonscan.Elements(v, func(_ int, e []byte) bool {
			ok = isString(e)
			return ok
		})
	}
	if !ok {
		c.failAt(key, "must be a string or an array of strings")
	}
}

func (c *checker) failAt(key, msg string) {
	c.push(key)
	c.fail(msg)
	c.pop()
}

// elements calls fn for each element of the array v with its index on the
// path, while nothing failed.
func (c *checker) elements(v []byte, fn func(e []byte)) {
	jsonscan.Elements(v, func(i int, e []byte) bool {
		c.pushIdx(i)
		fn(e)
		c.pop()
		return c.err == nil
	})
}

// objects checks that each element of the array v is an object and calls
// fn for it.
func (c *checker) objects(v []byte, fn func(e []byte)) {
	c.elements(v, func(e []byte) {
		if !isObject(e) {
			c.fail("must be a JSON object")
			return
		}
		fn(e)
	})
}

// members calls fn for each member of the object v that is not null (a
// repeated key is checked at each occurrence).
func (c *checker) members(v []byte, fn func(key, v []byte)) {
	jsonscan.Members(v, func(k, mv []byte) bool {
		if !isNull(mv) {
			fn(k, mv)
		}
		return c.err == nil
	})
}
