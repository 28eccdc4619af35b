// Package bodytext finds every text a model reads in a raw request body of
// any dialect — message contents, system prompts, tool-call arguments, tool
// results, prompts, embedding inputs — and writes changed texts back in
// place, leaving every other byte of the body as the client sent it.
//
// It is what masking and the request guardrails see: the same texts, found
// the same way, whether the body then passes through to a provider of the
// client's own dialect or is translated for another one (the translated
// request is decoded from the edited body, so it carries the edited texts).
//
// Tool-call arguments are JSON: their string values are texts (member names,
// numbers and the structure are not), and an argument string that holds JSON
// stays valid JSON after the edit. Reasoning (thinking) parts, whose
// provider-side signatures an edit would break, tool definitions and images
// are not texts here.
package bodytext

import (
	"bytes"
	"errors"
	"fmt"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// kind says how a site holds its texts.
type kind uint8

const (
	plain   kind = iota // a JSON string: one text
	encoded             // a JSON string holding JSON (OpenAI tool-call arguments): its string values
	nested              // a JSON object or array (Anthropic tool_use input): its string values
)

// site is one place of the body that holds texts.
type site struct {
	start, end int    // the raw value: doc[start:end]
	kind       kind   //
	n          int    // how many texts it holds
	inner      []byte // encoded: the JSON the string holds
}

// Body is a request body with the texts a model reads located.
type Body struct {
	doc   []byte
	sites []site
	texts []string
}

// ErrDialect is returned for a dialect this package does not know.
var ErrDialect = errors.New("bodytext: unknown dialect")

// Find locates the texts of doc, a request body of dialect d that has
// already been checked to be a JSON object. Members of an unexpected type
// are not texts (the dialect's decoder refuses them).
func Find(d protocol.Dialect, doc []byte) (*Body, error) {
	f := &finder{b: &Body{doc: doc}}
	var walk func([]byte)
	switch d {
	case protocol.OpenAIChat:
		walk = f.openAIChat
	case protocol.OpenAICompletions:
		walk = f.completions
	case protocol.OpenAIResponses:
		walk = f.responses
	case protocol.Anthropic:
		walk = f.anthropic
	case protocol.OllamaChat:
		walk = f.ollamaChat
	case protocol.OllamaGenerate:
		walk = f.ollamaGenerate
	case protocol.OpenAIEmbeddings, protocol.OllamaEmbed:
		walk = func(v []byte) { f.members(v, func(k string, v []byte) { f.textOrList(k == "input", v) }) }
	case protocol.OllamaEmbeddings:
		walk = func(v []byte) { f.members(v, func(k string, v []byte) { f.textIf(k == "prompt", v) }) }
	default:
		return nil, fmt.Errorf("%w %q", ErrDialect, d)
	}
	walk(doc)
	if f.err != nil {
		return nil, f.err
	}
	return f.b, nil
}

// Texts returns the texts, in document order. The slice is the Body's own.
func (b *Body) Texts() []string { return b.texts }

// Replace returns the body with its texts replaced by texts (one per text
// of Texts, in the same order). Unchanged texts keep their bytes; when
// nothing changed the original body is returned.
func (b *Body) Replace(texts []string) ([]byte, error) {
	if len(texts) != len(b.texts) {
		return nil, fmt.Errorf("bodytext: %d texts given for %d", len(texts), len(b.texts))
	}
	var out []byte
	last, k := 0, 0
	for _, s := range b.sites {
		old, nw := b.texts[k:k+s.n], texts[k:k+s.n]
		k += s.n
		if equal(old, nw) {
			continue
		}
		var val []byte
		switch s.kind {
		case plain:
			val = jsonscan.Quote(nw[0])
		case nested:
			v, err := jsonscan.ReplaceStrings(b.doc[s.start:s.end], nw)
			if err != nil {
				return nil, fmt.Errorf("bodytext: %w", err)
			}
			val = v
		case encoded:
			inner, err := jsonscan.ReplaceStrings(s.inner, nw)
			if err != nil {
				return nil, fmt.Errorf("bodytext: %w", err)
			}
			val = jsonscan.Quote(string(inner))
		}
		if out == nil {
			out = make([]byte, 0, len(b.doc)+len(val))
		}
		out = append(out, b.doc[last:s.start]...)
		out = append(out, val...)
		last = s.end
	}
	if out == nil {
		return b.doc, nil
	}
	return append(out, b.doc[last:]...), nil
}

func equal(a, b []string) bool {
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// finder walks a body and records its sites.
type finder struct {
	b   *Body
	err error
}

// offset is where v, a sub-slice of the body, starts in it.
func (f *finder) offset(v []byte) (int, bool) {
	off := cap(f.b.doc) - cap(v)
	return off, off >= 0 && off+len(v) <= len(f.b.doc) && (len(v) == 0 || &f.b.doc[off] == &v[0])
}

// fail keeps the first error; its message is fit for the client.
func (f *finder) fail(err error) {
	if f.err == nil && err != nil {
		f.err = err
	}
}

// add records the site of v.
func (f *finder) add(v []byte, k kind, texts []string, inner []byte) {
	off, ok := f.offset(v)
	if !ok {
		f.fail(errors.New("value outside the body"))
		return
	}
	f.b.sites = append(f.b.sites, site{start: off, end: off + len(v), kind: k, n: len(texts), inner: inner})
	f.b.texts = append(f.b.texts, texts...)
}

// members calls fn with the (unescaped) name and raw value of every member
// of v when v is an object — every occurrence of a repeated name, since
// some JSON parsers keep the first and others the last.
func (f *finder) members(v []byte, fn func(key string, val []byte)) {
	if len(v) == 0 || v[0] != '{' {
		return
	}
	f.fail(jsonscan.Each(v, func(k, val []byte) bool {
		key := string(k)
		if bytes.IndexByte(k, '\\') >= 0 {
			q := make([]byte, 0, len(k)+2)
			key, _ = jsonscan.Unquote(append(append(append(q, '"'), k...), '"'))
		}
		fn(key, val)
		return true
	}))
}

// elems calls fn with every element of v when v is an array.
func (f *finder) elems(v []byte, fn func(val []byte)) {
	if len(v) == 0 || v[0] != '[' {
		return
	}
	f.fail(jsonscan.Elems(v, func(val []byte) bool {
		fn(val)
		return true
	}))
}

// text records v when it is a string.
func (f *finder) text(v []byte) {
	if s, ok := jsonscan.Unquote(v); ok {
		f.add(v, plain, []string{s}, nil)
	}
}

func (f *finder) textIf(cond bool, v []byte) {
	if cond {
		f.text(v)
	}
}

// textOrList records v when it is a string, or its string elements when it
// is an array (a prompt or an embedding input; token arrays are no text).
func (f *finder) textOrList(cond bool, v []byte) {
	if !cond {
		return
	}
	f.text(v)
	f.elems(v, f.text)
}

// args records tool-call arguments: a string holding JSON (its string
// values), a string holding anything else (one text), or a JSON object or
// array (its string values).
func (f *finder) args(v []byte) {
	if len(v) == 0 {
		return
	}
	switch v[0] {
	case '"':
		s, _ := jsonscan.Unquote(v)
		inner := []byte(s)
		if vals, err := jsonscan.Strings(inner); err == nil {
			f.add(v, encoded, vals, inner)
			return
		}
		f.add(v, plain, []string{s}, nil)
	case '{', '[':
		vals, err := jsonscan.Strings(v)
		if err != nil {
			f.fail(err)
			return
		}
		f.add(v, nested, vals, nil)
	}
}

// typeOf returns the "type" member of the object v.
func (f *finder) typeOf(v []byte) string {
	t := ""
	f.members(v, func(k string, val []byte) {
		if k == "type" {
			t, _ = jsonscan.Unquote(val)
		}
	})
	return t
}

// parts records the texts of an array of content parts (OpenAI chat and
// Responses): every part's text and refusal.
func (f *finder) parts(v []byte) {
	f.elems(v, func(p []byte) {
		f.members(p, func(k string, val []byte) { f.textIf(k == "text" || k == "refusal", val) })
	})
}

// content records a content that is a string or an array of parts.
func (f *finder) content(v []byte) {
	f.text(v)
	f.parts(v)
}

func (f *finder) openAIChat(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		switch k {
		case "messages":
			f.elems(v, f.openAIMessage)
		case "prediction": // predicted output: the model reads it
			f.members(v, func(k string, v []byte) {
				if k == "content" {
					f.content(v)
				}
			})
		}
	})
}

func (f *finder) openAIMessage(m []byte) {
	f.members(m, func(k string, v []byte) {
		switch k {
		case "content":
			f.content(v)
		case "refusal":
			f.text(v)
		case "tool_calls":
			f.elems(v, func(tc []byte) {
				f.members(tc, func(k string, v []byte) {
					switch k {
					case "function":
						f.functionArgs(v)
					case "custom": // custom tools take free text
						f.members(v, func(k string, v []byte) { f.textIf(k == "input", v) })
					}
				})
			})
		case "function_call": // legacy functions
			f.functionArgs(v)
		}
	})
}

// functionArgs records the arguments of a {"name", "arguments"} object.
func (f *finder) functionArgs(fn []byte) {
	f.members(fn, func(k string, v []byte) {
		if k == "arguments" {
			f.args(v)
		}
	})
}

func (f *finder) completions(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		f.textOrList(k == "prompt", v)
		f.textIf(k == "suffix", v)
	})
}

func (f *finder) responses(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		switch k {
		case "instructions":
			f.text(v)
			f.elems(v, f.responsesItem)
		case "input":
			f.text(v)
			f.elems(v, f.responsesItem)
		}
	})
}

// responsesItem records the texts of one Responses input item: a message,
// a function or custom tool call, or a tool output. Reasoning items are
// left alone (their encrypted content is tied to their text).
func (f *finder) responsesItem(it []byte) {
	if f.typeOf(it) == "reasoning" {
		return
	}
	f.members(it, func(k string, v []byte) {
		switch k {
		case "content":
			f.content(v)
		case "arguments":
			f.args(v)
		case "output":
			f.content(v)
		case "input": // custom_tool_call
			f.text(v)
		}
	})
}

func (f *finder) anthropic(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		switch k {
		case "system":
			f.text(v)
			f.anthropicBlocks(v, 0)
		case "messages":
			f.elems(v, func(m []byte) {
				f.members(m, func(k string, v []byte) {
					if k == "content" {
						f.text(v)
						f.anthropicBlocks(v, 0)
					}
				})
			})
		}
	})
}

// maxBlockDepth bounds the nesting of content blocks (a tool_result holds
// blocks, a search_result or document holds blocks): the API nests them two
// deep at most, and each level is scanned again.
const maxBlockDepth = 8

// anthropicBlocks records the texts of an array of content blocks: text,
// tool_use input, tool_result content (string or blocks), plain-text
// document sources and the title and context of documents and search
// results. Thinking blocks are signed and left alone.
func (f *finder) anthropicBlocks(v []byte, depth int) {
	if depth > maxBlockDepth {
		f.fail(errors.New("content blocks are nested too deeply"))
		return
	}
	f.elems(v, func(b []byte) {
		typ := f.typeOf(b)
		switch typ {
		case "thinking", "redacted_thinking":
			return
		}
		titled := typ == "document" || typ == "search_result"
		f.members(b, func(k string, v []byte) {
			switch k {
			case "text":
				f.text(v)
			case "title", "context": // document, search_result: the model reads them
				f.textIf(titled, v)
			case "input": // tool_use, server_tool_use
				f.args(v)
			case "content": // tool_result, search_result
				f.text(v)
				f.anthropicBlocks(v, depth+1)
			case "source": // document
				isText := f.typeOf(v) == "text"
				f.members(v, func(k string, v []byte) {
					switch {
					case k == "data" && isText:
						f.text(v)
					case k == "content":
						f.text(v)
						f.anthropicBlocks(v, depth+1)
					}
				})
			}
		})
	})
}

func (f *finder) ollamaChat(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		if k != "messages" {
			return
		}
		f.elems(v, func(m []byte) {
			f.members(m, func(k string, v []byte) {
				switch k {
				case "content":
					f.text(v)
				case "tool_calls":
					f.elems(v, func(tc []byte) {
						f.members(tc, func(k string, v []byte) {
							if k == "function" {
								f.functionArgs(v)
							}
						})
					})
				}
			})
		})
	})
}

func (f *finder) ollamaGenerate(doc []byte) {
	f.members(doc, func(k string, v []byte) {
		f.textIf(k == "prompt" || k == "system" || k == "suffix", v)
	})
}
