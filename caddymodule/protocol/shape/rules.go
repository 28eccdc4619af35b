package shape

import (
	"bytes"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
)

// The rules of each dialect, member by member. Each mirrors the decoder of
// its dialect (protocol/openai, anthropic, ollama): a member is checked
// where the decoder reads it, with the decoder's message.

// openAICommon checks the members Chat, Completions and Responses share;
// false when key is not one of them.
func openAICommon(c *checker, key, v []byte) bool {
	switch string(key) {
	case "model", "user":
		c.str(name(key), v)
	case "stream":
		c.boolean("stream", v)
	case "stream_options":
		if c.object("stream_options", v) {
			c.push("stream_options")
			c.members(v, func(k, v []byte) {
				if string(k) == "include_usage" {
					c.boolean("include_usage", v)
				}
			})
			c.pop()
		}
	case "temperature", "top_p":
		c.number(name(key), v)
	default:
		return false
	}
	return true
}

func openAIChatTop(c *checker, key, v []byte) {
	if openAICommon(c, key, v) {
		return
	}
	switch string(key) {
	case "messages":
		if c.array("messages", v) {
			c.push("messages")
			c.objects(v, c.openAIMessage)
			c.pop()
		}
	case "max_completion_tokens", "max_tokens", "n", "seed", "top_k":
		c.integer(name(key), v)
	case "presence_penalty", "frequency_penalty", "min_p", "repetition_penalty", "repeat_penalty":
		c.number(name(key), v)
	case "stop":
		c.strings("stop", v)
	case "reasoning_effort":
		c.str("reasoning_effort", v)
	case "tools":
		if c.array("tools", v) {
			c.push("tools")
			c.objects(v, func(t []byte) { c.openAITool(t, false) })
			c.pop()
		}
	case "tool_choice":
		c.toolChoice(v)
	case "parallel_tool_calls":
		c.boolean("parallel_tool_calls", v)
	case "response_format":
		c.object("response_format", v)
	}
}

// openAIMessage checks one Chat message (an object).
func (c *checker) openAIMessage(m []byte) {
	var role []byte
	hasCallID := false
	c.members(m, func(k, v []byte) {
		switch string(k) {
		case "role":
			if !isString(v) {
				c.failAt("role", "must be a string")
				return
			}
			role = text(v)
		case "content":
			c.content("content", v, "must be a string or an array of content parts")
		case "name", "reasoning_content", "reasoning", "refusal":
			c.str(name(k), v)
		case "tool_call_id":
			c.str("tool_call_id", v)
			hasCallID = isString(v) && len(v) > 2
		case "tool_calls":
			if c.array("tool_calls", v) {
				c.push("tool_calls")
				c.objects(v, c.openAIToolCall)
				c.pop()
			}
		}
	})
	if c.err != nil {
		return
	}
	switch string(role) {
	case "system", "developer", "user", "assistant":
	case "tool":
		if !hasCallID {
			c.failAt("tool_call_id", "required on tool messages")
		}
	case "":
		c.failAt("role", "required")
	default:
		c.failAt("role", "unsupported role \""+string(role)+"\"")
	}
}

// content checks a message's content: null, a string or an array of parts
// (objects with a type); msg is the dialect's message for anything else.
func (c *checker) content(key string, v []byte, msg string) {
	if isString(v) {
		return
	}
	c.push(key)
	defer c.pop()
	if !isArray(v) {
		c.fail(msg)
		return
	}
	c.objects(v, c.part)
}

// part checks a content part or block: a type, and the text of a text part
// a string.
func (c *checker) part(p []byte) {
	var typ []byte
	var txt []byte
	c.members(p, func(k, v []byte) {
		switch string(k) {
		case "type":
			if !isString(v) {
				c.failAt("type", "must be a string")
				return
			}
			typ = text(v)
		case "text":
			txt = v
		}
	})
	if c.err != nil {
		return
	}
	switch string(typ) {
	case "":
		c.failAt("type", "required")
	case "text", "input_text", "output_text":
		if txt != nil {
			c.str("text", txt)
		}
	}
}

// openAIToolCall checks an assistant message's tool call.
func (c *checker) openAIToolCall(tc []byte) {
	hasFn := false
	c.members(tc, func(k, v []byte) {
		switch string(k) {
		case "id":
			c.str("id", v)
		case "type":
			if !isString(v) {
				c.failAt("type", "must be a string")
			} else if t := text(v); len(t) > 0 && string(t) != "function" {
				c.failAt("type", "unsupported tool call type \""+string(t)+"\"")
			}
		case "function":
			if !c.object("function", v) {
				return
			}
			hasFn = true
			c.push("function")
			c.members(v, func(k, v []byte) {
				switch string(k) {
				case "name", "arguments":
					c.str(name(k), v)
				}
			})
			c.pop()
		}
	})
	if c.err == nil && !hasFn {
		c.failAt("function", "required")
	}
}

// openAITool checks a tool: {"type":"function","function":{...}} or, flat
// (Responses), {"type":"function","name":...}. Other types pass.
func (c *checker) openAITool(t []byte, flat bool) {
	isFn := false
	var fn []byte
	c.members(t, func(k, v []byte) {
		switch string(k) {
		case "type":
			if !isString(v) {
				c.failAt("type", "must be a string")
				return
			}
			isFn = string(text(v)) == "function"
		case "function":
			fn = v
		}
	})
	if c.err != nil || !isFn {
		return
	}
	if flat {
		c.toolFunction(t)
		return
	}
	if fn == nil || isNull(fn) {
		c.failAt("function", "required")
		return
	}
	if c.object("function", fn) {
		c.push("function")
		c.toolFunction(fn)
		c.pop()
	}
}

// toolFunction checks a function definition: a name, and its other fields'
// types.
func (c *checker) toolFunction(f []byte) {
	hasName := false
	c.members(f, func(k, v []byte) {
		switch string(k) {
		case "name":
			c.str("name", v)
			hasName = isString(v) && len(v) > 2
		case "description":
			c.str("description", v)
		case "strict":
			c.boolean("strict", v)
		}
	})
	if c.err == nil && !hasName {
		c.failAt("name", "required")
	}
}

// toolChoice checks an OpenAI tool_choice: a mode or an object.
func (c *checker) toolChoice(v []byte) {
	if isString(v) {
		switch string(text(v)) {
		case "auto", "none", "required":
		default:
			c.failAt("tool_choice", "must be none, auto, required or an object")
		}
		return
	}
	c.object("tool_choice", v)
}

func completionsTop(c *checker, key, v []byte) {
	if openAICommon(c, key, v) {
		return
	}
	switch string(key) {
	case "prompt":
		if !isString(v) && !isArray(v) {
			c.failAt("prompt", "must be a string or an array")
		}
	case "max_tokens", "n", "seed":
		c.integer(name(key), v)
	case "presence_penalty", "frequency_penalty":
		c.number(name(key), v)
	case "stop":
		c.strings("stop", v)
	}
}

func responsesTop(c *checker, key, v []byte) {
	if openAICommon(c, key, v) {
		return
	}
	switch string(key) {
	case "input":
		if isString(v) {
			return
		}
		if !isArray(v) {
			c.failAt("input", "must be a string or an array of input items")
			return
		}
		c.push("input")
		c.objects(v, c.responsesItem)
		c.pop()
	case "instructions":
		c.str("instructions", v)
	case "max_output_tokens":
		c.integer("max_output_tokens", v)
	case "reasoning", "text":
		c.object(name(key), v)
	case "tools":
		if c.array("tools", v) {
			c.push("tools")
			c.objects(v, func(t []byte) { c.openAITool(t, true) })
			c.pop()
		}
	case "tool_choice":
		c.toolChoice(v)
	case "parallel_tool_calls":
		c.boolean("parallel_tool_calls", v)
	}
}

// responsesItem checks an input item: a message (type "message", or a
// role without a type) has a known role and content; the other items'
// text fields are strings.
func (c *checker) responsesItem(it []byte) {
	var typ, role []byte
	hasRole := false
	c.members(it, func(k, v []byte) {
		switch string(k) {
		case "type":
			if !isString(v) {
				c.failAt("type", "must be a string")
				return
			}
			typ = text(v)
		case "role":
			if !isString(v) {
				c.failAt("role", "must be a string")
				return
			}
			hasRole, role = true, text(v)
		case "content":
			c.content("content", v, "must be a string or an array of content parts")
		case "arguments", "call_id", "name":
			c.str(name(k), v)
		}
	})
	if c.err != nil {
		return
	}
	if (len(typ) == 0 && !hasRole) || (len(typ) > 0 && string(typ) != "message") {
		return
	}
	switch string(role) {
	case "system", "developer", "user", "assistant":
	default:
		c.failAt("role", "unsupported role \""+string(role)+"\"")
	}
}

func anthropicTop(c *checker, key, v []byte) {
	switch string(key) {
	case "model":
		c.str("model", v)
	case "max_tokens", "top_k":
		c.integer(name(key), v)
	case "system":
		c.blocks("system", v, false)
	case "messages":
		if c.array("messages", v) {
			c.push("messages")
			c.objects(v, c.anthropicMessage)
			c.pop()
		}
	case "temperature", "top_p":
		c.number(name(key), v)
	case "stop_sequences":
		c.strings("stop_sequences", v)
	case "stream":
		c.boolean("stream", v)
	case "metadata", "tool_choice", "thinking", "output_config":
		c.object(name(key), v)
	case "tools":
		if c.array("tools", v) {
			c.push("tools")
			c.objects(v, func([]byte) {})
			c.pop()
		}
	}
}

// anthropicMessage checks one Messages message (an object).
func (c *checker) anthropicMessage(m []byte) {
	var role []byte
	c.members(m, func(k, v []byte) {
		switch string(k) {
		case "role":
			if !isString(v) {
				c.failAt("role", "must be a string")
				return
			}
			role = text(v)
		case "content":
			c.blocks("content", v, true)
		}
	})
	if c.err != nil {
		return
	}
	switch string(role) {
	case "user", "assistant":
	case "":
		c.failAt("role", "required")
	default:
		c.failAt("role", "must be user or assistant")
	}
}

// blocks checks a string or an array of content blocks; without rich
// (system) every block is text.
func (c *checker) blocks(key string, v []byte, rich bool) {
	if isNull(v) || isString(v) {
		return
	}
	c.push(key)
	defer c.pop()
	if !isArray(v) {
		c.fail("must be a string or an array of content blocks")
		return
	}
	c.objects(v, func(b []byte) {
		c.part(b)
		if c.err != nil || rich {
			return
		}
		c.members(b, func(k, v []byte) {
			if string(k) == "type" && string(text(v)) != "text" {
				c.failAt("type", "must be text")
			}
		})
	})
}

func ollamaCommon(c *checker, key, v []byte) bool {
	switch string(key) {
	case "model":
		c.str("model", v)
	case "stream":
		c.boolean("stream", v)
	case "format":
		if isString(v) {
			if f := text(v); len(f) > 0 && string(f) != "json" {
				c.failAt("format", `must be "json" or a JSON schema object`)
			}
		}
	case "think":
		if isBool(v) {
			return true
		}
		switch string(text(v)) {
		case "low", "medium", "high":
		default:
			c.failAt("think", `must be a boolean or "low", "medium", "high"`)
		}
	case "options":
		if !c.object("options", v) {
			return true
		}
		c.push("options")
		c.members(v, func(k, v []byte) {
			switch string(k) {
			case "num_predict", "top_k", "seed", "num_ctx":
				c.integer(name(k), v)
			case "temperature", "top_p", "min_p", "repeat_penalty", "presence_penalty", "frequency_penalty":
				c.number(name(k), v)
			case "stop":
				c.strings("stop", v)
			}
		})
		c.pop()
	default:
		return false
	}
	return true
}

func ollamaChatTop(c *checker, key, v []byte) {
	if ollamaCommon(c, key, v) {
		return
	}
	switch string(key) {
	case "messages":
		if c.array("messages", v) {
			c.push("messages")
			c.objects(v, c.ollamaMessage)
			c.pop()
		}
	case "tools":
		if c.array("tools", v) {
			c.push("tools")
			c.objects(v, c.ollamaTool)
			c.pop()
		}
	}
}

// ollamaTool checks a tool: type function (or none) and a function with a
// name.
func (c *checker) ollamaTool(t []byte) {
	var fn []byte
	c.members(t, func(k, v []byte) {
		switch string(k) {
		case "type":
			if !isString(v) {
				c.failAt("type", "must be a string")
			} else if typ := text(v); len(typ) > 0 && string(typ) != "function" {
				c.failAt("type", "must be function")
			}
		case "function":
			fn = v
		}
	})
	if c.err != nil {
		return
	}
	if isNull(fn) {
		c.failAt("function", "required")
		return
	}
	if c.object("function", fn) {
		c.push("function")
		c.toolFunction(fn)
		c.pop()
	}
}

// ollamaMessage checks one /api/chat message (an object).
func (c *checker) ollamaMessage(m []byte) {
	var role []byte
	c.members(m, func(k, v []byte) {
		switch string(k) {
		case "role":
			if !isString(v) {
				c.failAt("role", "must be a string")
				return
			}
			role = text(v)
		case "content", "thinking", "tool_call_id", "tool_name":
			c.str(name(k), v)
		case "images":
			c.images(v)
		case "tool_calls":
			if c.array("tool_calls", v) {
				c.push("tool_calls")
				c.objects(v, c.ollamaToolCall)
				c.pop()
			}
		}
	})
	if c.err != nil {
		return
	}
	switch {
	case len(role) == 0:
		c.failAt("role", "required")
	case !knownOllamaRole(role):
		c.failAt("role", "unsupported role \""+strings.ToLower(string(role))+"\"")
	}
}

// knownOllamaRole reports whether role is one of Ollama's, in any case
// (the decoder lowercases it).
func knownOllamaRole(role []byte) bool {
	for _, r := range [...]string{"system", "user", "assistant", "tool"} {
		if len(role) == len(r) && bytes.EqualFold(role, []byte(r)) {
			return true
		}
	}
	return false
}

// ollamaToolCall checks a tool call: a function object (its arguments any
// JSON value).
func (c *checker) ollamaToolCall(tc []byte) {
	hasFn := false
	c.members(tc, func(k, v []byte) {
		switch string(k) {
		case "id":
			c.str("id", v)
		case "function":
			if c.object("function", v) {
				hasFn = true
				c.push("function")
				c.members(v, func(k, v []byte) {
					if string(k) == "name" {
						c.str("name", v)
					}
				})
				c.pop()
			}
		}
	})
	if c.err == nil && !hasFn {
		c.failAt("function", "required")
	}
}

// images checks an array of base64 strings.
func (c *checker) images(v []byte) {
	if !c.array("images", v) {
		return
	}
	c.push("images")
	c.elements(v, func(e []byte) {
		if !isString(e) {
			c.fail("must be a base64 string")
		}
	})
	c.pop()
}

func ollamaGenerateTop(c *checker, key, v []byte) {
	if ollamaCommon(c, key, v) {
		return
	}
	switch string(key) {
	case "system", "prompt", "suffix", "template":
		c.str(name(key), v)
	case "images":
		c.images(v)
	case "raw":
		c.boolean("raw", v)
	}
}

func openAIEmbeddingsTop(c *checker, key, v []byte) {
	switch string(key) {
	case "model", "user", "encoding_format":
		c.str(name(key), v)
	case "dimensions":
		c.integer("dimensions", v)
	case "input":
		if !isString(v) && !embedInput(v) {
			c.failAt("input", "must be a string, an array of strings or token arrays")
		}
	}
}

// embedInput reports whether v is an array of strings, of integers (one
// token array) or of integer arrays: no null, no mix.
func embedInput(v []byte) bool {
	if !isArray(v) {
		return false
	}
	var kind byte // of the first element: '"', '0' or '['
	ok := true
	jsonscan.Elements(v, func(_ int, e []byte) bool {
		k := e[0]
		switch {
		case k == '"':
		case isInt(e):
			k = '0'
		case k == '[':
			jsonscan.Elements(e, func(_ int, t []byte) bool { ok = isInt(t); return ok })
		default:
			ok = false
		}
		if kind == 0 {
			kind = k
		}
		ok = ok && k == kind
		return ok
	})
	return ok
}

func ollamaEmbedTop(c *checker, key, v []byte) {
	switch string(key) {
	case "model":
		c.str("model", v)
	case "input":
		c.strings("input", v)
	case "truncate":
		c.boolean("truncate", v)
	case "dimensions":
		c.integer("dimensions", v)
	case "options":
		c.object("options", v)
	}
}

// ollamaEmbeddingsTop is the legacy /api/embeddings: one prompt.
func ollamaEmbeddingsTop(c *checker, key, v []byte) {
	switch string(key) {
	case "model", "prompt":
		c.str(name(key), v)
	case "options":
		c.object("options", v)
	}
}
