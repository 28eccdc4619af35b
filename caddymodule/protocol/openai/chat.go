// Package openai translates the OpenAI wire formats (Chat Completions,
// Responses, legacy Completions, Embeddings; also vLLM and LM Studio) to and
// from the canonical model of package protocol.
package openai

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Chat is the Chat Completions codec, client- and provider-facing.
type Chat struct {
	// Official selects the api.openai.com flavour when encoding requests:
	// max_completion_tokens instead of max_tokens, and no top_k/min_p/
	// repetition_penalty extensions (which vLLM and LM Studio accept).
	Official bool
}

var _ protocol.Codec = Chat{}

// Dialect returns protocol.OpenAIChat.
func (Chat) Dialect() protocol.Dialect { return protocol.OpenAIChat }

// StreamContentType returns text/event-stream.
func (Chat) StreamContentType() string { return "text/event-stream" }

// WriteError writes an OpenAI error object.
func (Chat) WriteError(w http.ResponseWriter, status int, msg string) { WriteError(w, status, msg) }

// DecodeRequest parses a Chat Completions request body.
func (Chat) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.OpenAIChat}
	r.Model = o.Str("model")
	msgs := o.Array("messages")
	if o.Err() == nil && len(msgs) == 0 {
		o.Failf("messages", "required and must not be empty")
	}
	for i, m := range msgs {
		if o.Err() != nil {
			break
		}
		o.Fail(decodeMessage(r, m, wire.Idx("messages", i)))
	}
	decodeCommon(o, r)
	if mt := o.Int("max_completion_tokens"); mt != nil {
		r.MaxTokens = mt
	}
	if mt := o.Int("max_tokens"); mt != nil && r.MaxTokens == nil {
		r.MaxTokens = mt
	}
	if n := o.Int("n"); n != nil {
		r.N = *n
	}
	r.PresencePenalty = o.Float("presence_penalty")
	r.FrequencyPenalty = o.Float("frequency_penalty")
	r.Seed = o.Int64("seed")
	r.Stop = o.Strings("stop")
	if e := o.Str("reasoning_effort"); e != "" {
		r.Reasoning = &protocol.Reasoning{Effort: e, Off: e == "none"}
	}
	decodeTools(o, r, false)
	if rf := o.Object("response_format"); rf != nil {
		r.Format = decodeFormat(rf, false)
		o.Fail(rf.Err())
	}
	// vLLM / LM Studio sampling extensions
	r.TopK = o.Int("top_k")
	r.MinP = o.Float("min_p")
	if rp := o.Float("repetition_penalty"); rp != nil {
		r.RepeatPenalty = rp
	}
	if rp := o.Float("repeat_penalty"); rp != nil {
		r.RepeatPenalty = rp
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

// decodeCommon reads the members Chat, Completions and Responses share.
func decodeCommon(o *wire.Obj, r *protocol.Request) {
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	r.Stream = o.Bool("stream", false)
	if so := o.Object("stream_options"); so != nil {
		r.IncludeUsage = so.Bool("include_usage", false)
		o.Fail(so.Err())
	}
	r.Temperature = o.Float("temperature")
	r.TopP = o.Float("top_p")
	r.User = o.Str("user")
}

// decodeTools reads tools, tool_choice and parallel_tool_calls; flat is
// the Responses shape (a function tool's members, and a named choice's
// name, at the top level rather than under "function").
func decodeTools(o *wire.Obj, r *protocol.Request, flat bool) {
	for i, t := range o.Array("tools") {
		tl, err := decodeTool(t, wire.Idx("tools", i), flat)
		o.Fail(err)
		r.Tools = append(r.Tools, tl)
	}
	if tc := o.Take("tool_choice"); tc != nil {
		var err error
		r.ToolChoice, err = decodeToolChoice(tc, "tool_choice", flat)
		o.Fail(err)
	}
	r.ParallelTools = o.BoolPtr("parallel_tool_calls")
}

func decodeMessage(r *protocol.Request, raw json.RawMessage, path string) error {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return err
	}
	role := o.Str("role")
	name := o.Str("name")
	content := o.Take("content")
	switch role {
	case "system", "developer":
		parts, err := decodeContent(content, o.F("content"))
		if err != nil {
			return err
		}
		if len(r.Messages) == 0 {
			r.System = append(r.System, parts...)
		} else {
			r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleSystem, Name: name, Parts: parts})
		}
	case "user":
		parts, err := decodeContent(content, o.F("content"))
		if err != nil {
			return err
		}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleUser, Name: name, Parts: parts})
	case "assistant":
		var parts []protocol.Part
		rs := o.Str("reasoning_content")
		if s := o.Str("reasoning"); s != "" {
			rs = s
		}
		if rs != "" {
			parts = append(parts, protocol.Part{Kind: protocol.PartReasoning, Text: rs})
		}
		cp, err := decodeContent(content, o.F("content"))
		if err != nil {
			return err
		}
		parts = append(parts, cp...)
		if rf := o.Str("refusal"); rf != "" && len(cp) == 0 {
			parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: rf})
		}
		for j, tc := range o.Array("tool_calls") {
			c, err := decodeToolCall(tc, wire.Idx(o.F("tool_calls"), j))
			if err != nil {
				return err
			}
			parts = append(parts, protocol.Part{Kind: protocol.PartToolCall, Call: c})
		}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleAssistant, Name: name, Parts: parts})
	case "tool":
		id := o.Str("tool_call_id")
		if id == "" && o.Err() == nil {
			return protocol.Errorf(o.F("tool_call_id"), "required on tool messages")
		}
		parts, err := decodeContent(content, o.F("content"))
		if err != nil {
			return err
		}
		res := &protocol.ToolResult{CallID: id, Name: r.ToolName(id), Content: parts}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: res}}})
	case "":
		return protocol.Errorf(o.F("role"), "required")
	default:
		return protocol.Errorf(o.F("role"), "unsupported role %q", role)
	}
	return o.Err()
}

// decodeContent reads a string, null or an array of content parts.
func decodeContent(v json.RawMessage, path string) ([]protocol.Part, error) {
	if jsonscan.IsNull(v) {
		return nil, nil
	}
	if jsonscan.IsString(v) {
		s, ok := jsonscan.String(v)
		if !ok {
			return nil, protocol.Errorf(path, "invalid string")
		}
		if s == "" {
			return nil, nil
		}
		return []protocol.Part{{Kind: protocol.PartText, Text: s}}, nil
	}
	var arr []json.RawMessage
	if err := json.Unmarshal(v, &arr); err != nil {
		return nil, protocol.Errorf(path, "must be a string or an array of content parts")
	}
	parts := make([]protocol.Part, 0, len(arr))
	for i, pv := range arr {
		pp := wire.Idx(path, i)
		o, err := wire.Parse(pv, pp)
		if err != nil {
			return nil, err
		}
		switch t := o.Str("type"); t {
		case "text", "input_text", "output_text":
			parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: o.Str("text")})
		case "refusal":
			parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: o.Str("refusal")})
		case "image_url":
			iu := o.Take("image_url")
			img := &protocol.Image{}
			if jsonscan.IsString(iu) { // lenient: "image_url":"https://..."
				_ = json.Unmarshal(iu, &img.URL)
			} else if iu != nil {
				io, err := wire.Parse(iu, o.F("image_url"))
				if err != nil {
					return nil, err
				}
				img.URL = io.Str("url")
				img.Detail = io.Str("detail")
				if err := io.Err(); err != nil {
					return nil, err
				}
			}
			if img.URL == "" {
				return nil, protocol.Errorf(o.F("image_url.url"), "required")
			}
			parts = append(parts, imagePart(img))
		case "input_image": // Responses
			img := &protocol.Image{URL: o.Str("image_url"), Detail: o.Str("detail")}
			if img.URL == "" {
				parts = append(parts, protocol.Part{Kind: protocol.PartOther, Raw: pv, Origin: protocol.OpenAIResponses})
				continue
			}
			parts = append(parts, imagePart(img))
		case "":
			return nil, protocol.Errorf(o.F("type"), "required")
		default:
			parts = append(parts, protocol.Part{Kind: protocol.PartOther, Raw: pv, Origin: protocol.OpenAIChat})
		}
		if err := o.Err(); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// imagePart splits data URIs into MediaType and Data.
func imagePart(img *protocol.Image) protocol.Part {
	if mt, data, ok := wire.DataURI(img.URL); ok {
		img.MediaType, img.Data, img.URL = mt, data, ""
	}
	return protocol.Part{Kind: protocol.PartImage, Image: img}
}

// imageURL renders an image as a URL or data URI.
func imageURL(img *protocol.Image) string {
	if img.Data == "" {
		return img.URL
	}
	mt := img.MediaType
	if mt == "" {
		mt = sniffImage(img.Data)
	}
	return "data:" + mt + ";base64," + img.Data
}

// sniffImage guesses the MIME type of base64 image data from its magic
// bytes; image/png when they are none it knows.
func sniffImage(b64 string) string {
	if mt := wire.SniffImage(b64); mt != "" {
		return mt
	}
	return "image/png"
}

func decodeToolCall(raw json.RawMessage, path string) (*protocol.ToolCall, error) {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return nil, err
	}
	c := &protocol.ToolCall{ID: o.Str("id")}
	if t := o.Str("type"); t != "" && t != "function" {
		return nil, protocol.Errorf(o.F("type"), "unsupported tool call type %q", t)
	}
	f := o.Object("function")
	if f == nil {
		if o.Err() != nil {
			return nil, o.Err()
		}
		return nil, protocol.Errorf(o.F("function"), "required")
	}
	c.Name = f.Str("name")
	args := f.Str("arguments")
	if err := f.Err(); err != nil {
		return nil, err
	}
	c.Args, err = wire.CompactObject([]byte(args))
	if err != nil {
		return nil, protocol.Errorf(f.F("arguments"), "invalid JSON: %v", err)
	}
	return c, o.Err()
}

// decodeTool reads a Chat tool ({"type":"function","function":{...}}) or,
// with flat, a Responses tool ({"type":"function","name",...}).
func decodeTool(raw json.RawMessage, path string, flat bool) (protocol.Tool, error) {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return protocol.Tool{}, err
	}
	origin := protocol.OpenAIChat
	if flat {
		origin = protocol.OpenAIResponses
	}
	if t := o.Str("type"); t != "function" {
		return protocol.Tool{Raw: raw, Origin: origin, Name: t}, o.Err()
	}
	f := o
	if !flat {
		f = o.Object("function")
		if f == nil {
			if o.Err() != nil {
				return protocol.Tool{}, o.Err()
			}
			return protocol.Tool{}, protocol.Errorf(o.F("function"), "required")
		}
	}
	t := protocol.Tool{Name: f.Str("name"), Description: f.Str("description"), Schema: f.Take("parameters"), Strict: f.BoolPtr("strict")}
	if t.Name == "" && f.Err() == nil {
		return t, protocol.Errorf(f.F("name"), "required")
	}
	if err := f.Err(); err != nil {
		return t, err
	}
	return t, o.Err()
}

func decodeToolChoice(v json.RawMessage, path string, flat bool) (protocol.ToolChoice, error) {
	if jsonscan.IsString(v) {
		var s string
		_ = json.Unmarshal(v, &s)
		switch s {
		case "auto", "none", "required":
			return protocol.ToolChoice{Mode: protocol.ToolChoiceMode(s)}, nil
		}
		return protocol.ToolChoice{}, protocol.Errorf(path, "must be none, auto, required or an object")
	}
	o, err := wire.Parse(v, path)
	if err != nil {
		return protocol.ToolChoice{}, err
	}
	switch t := o.Str("type"); t {
	case "function":
		name := ""
		if flat {
			name = o.Str("name")
		} else if f := o.Object("function"); f != nil {
			name = f.Str("name")
			o.Fail(f.Err())
		}
		if name == "" && o.Err() == nil {
			return protocol.ToolChoice{}, protocol.Errorf(path, "function name required")
		}
		return protocol.ToolChoice{Mode: protocol.ToolNamed, Name: name}, o.Err()
	case "allowed_tools":
		mode := protocol.ToolAuto
		if at := o.Object("allowed_tools"); at != nil && at.Str("mode") == "required" {
			mode = protocol.ToolRequired
		}
		return protocol.ToolChoice{Mode: mode}, o.Err()
	default:
		return protocol.ToolChoice{}, protocol.Errorf(o.F("type"), "unsupported tool_choice type %q", t)
	}
}

// decodeFormat reads response_format (nested json_schema) or, with flat,
// Responses text.format.
func decodeFormat(o *wire.Obj, flat bool) *protocol.Format {
	switch t := o.Str("type"); t {
	case "text", "":
		return nil
	case "json_object":
		return &protocol.Format{Kind: protocol.FormatJSON}
	case "json_schema":
		s := o
		if !flat {
			s = o.Object("json_schema")
			if s == nil {
				o.Failf("json_schema", "required")
				return nil
			}
		}
		f := &protocol.Format{Kind: protocol.FormatJSONSchema, Name: s.Str("name"), Description: s.Str("description"), Schema: s.Take("schema"), Strict: s.BoolPtr("strict")}
		o.Fail(s.Err())
		return f
	default:
		o.Failf("type", "unsupported format type %q", t)
		return nil
	}
}

// wire shapes for encoding

type wMsg struct {
	Role       string      `json:"role"`
	Content    any         `json:"content"`
	Name       string      `json:"name,omitempty"`
	ToolCalls  []wToolCall `json:"tool_calls,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

type wPart struct {
	Type     string     `json:"type"`
	Text     *string    `json:"text,omitempty"`
	ImageURL *wImageURL `json:"image_url,omitempty"`
}

type wImageURL struct {
	URL    string `json:"url"`
	Detail string `json:"detail,omitempty"`
}

type wToolCall struct {
	Index    *int   `json:"index,omitempty"`
	ID       string `json:"id,omitempty"`
	Type     string `json:"type,omitempty"`
	Function struct {
		Name      string `json:"name,omitempty"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

type wFunc struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type wTool struct {
	Type     string `json:"type"`
	Function wFunc  `json:"function"`
}

type wJSONSchema struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Schema      json.RawMessage `json:"schema,omitempty"`
	Strict      *bool           `json:"strict,omitempty"`
}

type wFormat struct {
	Type       string       `json:"type"`
	JSONSchema *wJSONSchema `json:"json_schema,omitempty"`
}

type wStreamOpts struct {
	IncludeUsage bool `json:"include_usage"`
}

type wRequest struct {
	Model               string            `json:"model"`
	Messages            []wMsg            `json:"messages"`
	Stream              bool              `json:"stream"`
	StreamOptions       *wStreamOpts      `json:"stream_options,omitempty"`
	MaxTokens           *int              `json:"max_tokens,omitempty"`
	MaxCompletionTokens *int              `json:"max_completion_tokens,omitempty"`
	Temperature         *float64          `json:"temperature,omitempty"`
	TopP                *float64          `json:"top_p,omitempty"`
	TopK                *int              `json:"top_k,omitempty"`
	MinP                *float64          `json:"min_p,omitempty"`
	RepetitionPenalty   *float64          `json:"repetition_penalty,omitempty"`
	PresencePenalty     *float64          `json:"presence_penalty,omitempty"`
	FrequencyPenalty    *float64          `json:"frequency_penalty,omitempty"`
	Seed                *int64            `json:"seed,omitempty"`
	Stop                []string          `json:"stop,omitempty"`
	N                   int               `json:"n,omitempty"`
	User                string            `json:"user,omitempty"`
	ReasoningEffort     string            `json:"reasoning_effort,omitempty"`
	Tools               []json.RawMessage `json:"tools,omitempty"`
	ToolChoice          any               `json:"tool_choice,omitempty"`
	ParallelToolCalls   *bool             `json:"parallel_tool_calls,omitempty"`
	ResponseFormat      *wFormat          `json:"response_format,omitempty"`
}

// EncodeRequest renders r for an OpenAI-wire provider (OpenAI, vLLM, LM Studio).
// Streams always ask for usage (stream_options.include_usage).
func (c Chat) EncodeRequest(r *protocol.Request) ([]byte, error) {
	if r.Origin != protocol.OpenAIChat {
		if err := r.Untranslatable(); err != nil {
			return nil, err
		}
	}
	// The API refuses a tool result without a matching call: ids are
	// made whole and orphan results become user text (see PairTools).
	r = r.PairTools()
	w := wRequest{Model: r.Model, Stream: r.Stream, Temperature: r.Temperature, TopP: r.TopP,
		PresencePenalty: r.PresencePenalty, FrequencyPenalty: r.FrequencyPenalty, Seed: r.Seed,
		Stop: r.Stop, User: r.User, ParallelToolCalls: r.ParallelTools}
	if r.N > 1 {
		w.N = r.N
	}
	if r.Stream {
		w.StreamOptions = &wStreamOpts{IncludeUsage: true}
	}
	if c.Official {
		w.MaxCompletionTokens = r.MaxTokens
	} else {
		w.MaxTokens = r.MaxTokens
		w.TopK, w.MinP, w.RepetitionPenalty = r.TopK, r.MinP, r.RepeatPenalty
	}
	if len(w.Stop) > 4 && c.Official {
		return nil, protocol.Errorf("stop", "at most 4 stop sequences are allowed by this provider")
	}
	if rs := r.Reasoning; rs != nil {
		w.ReasoningEffort = effortOf(rs)
	}
	var err error
	if w.Messages, err = encodeMessages(r); err != nil {
		return nil, err
	}
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Raw != nil {
			if t.Origin != protocol.OpenAIChat {
				return nil, protocol.Errorf(wire.Idx("tools", i), "tool type %q is not supported by this provider", t.Name)
			}
			w.Tools = append(w.Tools, t.Raw)
			continue
		}
		b, _ := json.Marshal(wTool{Type: "function", Function: wFunc{Name: t.Name, Description: t.Description, Parameters: t.Schema, Strict: t.Strict}})
		w.Tools = append(w.Tools, b)
	}
	switch r.ToolChoice.Mode {
	case protocol.ToolAuto, protocol.ToolNone, protocol.ToolRequired:
		w.ToolChoice = string(r.ToolChoice.Mode)
	case protocol.ToolNamed:
		w.ToolChoice = map[string]any{"type": "function", "function": map[string]string{"name": r.ToolChoice.Name}}
	}
	if len(w.Tools) == 0 {
		w.ToolChoice, w.ParallelToolCalls = nil, nil
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case protocol.FormatJSON:
			w.ResponseFormat = &wFormat{Type: "json_object"}
		case protocol.FormatJSONSchema:
			name := f.Name
			if name == "" {
				name = "response"
			}
			w.ResponseFormat = &wFormat{Type: "json_schema", JSONSchema: &wJSONSchema{Name: name, Description: f.Description, Schema: f.Schema, Strict: f.Strict}}
		}
	}
	return wire.MarshalRequest(w, r.Origin, protocol.OpenAIChat, r.Extra)
}

// effortOf maps canonical reasoning to an OpenAI reasoning_effort.
func effortOf(rs *protocol.Reasoning) string {
	switch {
	case rs.Off:
		return "none"
	case rs.Effort != "":
		return rs.Effort
	case rs.Budget == 0:
		return ""
	case rs.Budget <= 2048:
		return "low"
	case rs.Budget <= 12000:
		return "medium"
	}
	return "high"
}

func textContent(parts []protocol.Part, path string, allowImages bool) (any, error) {
	onlyText := true
	for i := range parts {
		if parts[i].Kind != protocol.PartText {
			onlyText = false
		}
	}
	if onlyText {
		return protocol.JoinText(parts, ""), nil
	}
	out := make([]json.RawMessage, 0, len(parts))
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case protocol.PartText:
			t := p.Text
			b, _ := json.Marshal(wPart{Type: "text", Text: &t})
			out = append(out, b)
		case protocol.PartImage:
			if !allowImages {
				return nil, protocol.Errorf(wire.Idx(path, i), "images are not allowed here")
			}
			b, _ := json.Marshal(wPart{Type: "image_url", ImageURL: &wImageURL{URL: imageURL(p.Image), Detail: p.Image.Detail}})
			out = append(out, b)
		case protocol.PartOther:
			if p.Origin != protocol.OpenAIChat {
				return nil, protocol.Errorf(wire.Idx(path, i), "content of this kind cannot be sent to an OpenAI-compatible provider")
			}
			out = append(out, p.Raw)
		case protocol.PartReasoning:
			// reasoning history is not sent back (signatures are Anthropic-only)
		}
	}
	return out, nil
}

func encodeMessages(r *protocol.Request) ([]wMsg, error) {
	out := make([]wMsg, 0, len(r.Messages)+1)
	if len(r.System) > 0 {
		c, err := textContent(r.System, "system", false)
		if err != nil {
			return nil, err
		}
		out = append(out, wMsg{Role: "system", Content: c})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		path := wire.Idx("messages", i)
		switch m.Role {
		case protocol.RoleSystem, protocol.RoleUser:
			c, err := textContent(m.Parts, path+".content", m.Role == protocol.RoleUser)
			if err != nil {
				return nil, err
			}
			out = append(out, wMsg{Role: string(m.Role), Content: c, Name: m.Name})
		case protocol.RoleAssistant:
			var text []protocol.Part
			w := wMsg{Role: "assistant", Name: m.Name}
			for j := range m.Parts {
				p := &m.Parts[j]
				switch p.Kind {
				case protocol.PartToolCall:
					var tc wToolCall
					tc.ID, tc.Type = p.Call.ID, "function"
					tc.Function.Name, tc.Function.Arguments = p.Call.Name, string(p.Call.Args)
					if tc.Function.Arguments == "" {
						tc.Function.Arguments = "{}"
					}
					w.ToolCalls = append(w.ToolCalls, tc)
				case protocol.PartText, protocol.PartOther:
					text = append(text, *p)
				}
			}
			if len(text) > 0 {
				c, err := textContent(text, path+".content", false)
				if err != nil {
					return nil, err
				}
				w.Content = c
			} else if len(w.ToolCalls) == 0 {
				w.Content = ""
			}
			out = append(out, w)
		case protocol.RoleTool:
			var images []protocol.Part
			for j := range m.Parts {
				res := m.Parts[j].Result
				if res == nil {
					continue
				}
				var text []protocol.Part
				for _, p := range res.Content {
					if p.Kind == protocol.PartImage {
						images = append(images, p)
					} else {
						text = append(text, p)
					}
				}
				s := protocol.JoinText(text, "\n")
				if res.IsError {
					s = "Error: " + s
				}
				out = append(out, wMsg{Role: "tool", Content: s, ToolCallID: res.CallID})
			}
			if len(images) > 0 { // OpenAI tool content is text-only: images follow as a user turn
				c, _ := textContent(images, path, true)
				out = append(out, wMsg{Role: "user", Content: c})
			}
		}
	}
	return out, nil
}

// response shapes

type wUsage struct {
	PromptTokens        int `json:"prompt_tokens"`
	CompletionTokens    int `json:"completion_tokens"`
	TotalTokens         int `json:"total_tokens"`
	PromptTokensDetails *struct {
		CachedTokens     int `json:"cached_tokens"`
		CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
	} `json:"prompt_tokens_details,omitempty"`
	CompletionTokensDetails *struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"completion_tokens_details,omitempty"`
}

func (u *wUsage) canonical() protocol.Usage {
	cu := protocol.Usage{Input: u.PromptTokens, Output: u.CompletionTokens}
	if d := u.PromptTokensDetails; d != nil {
		cu.CacheRead, cu.CacheWrite = d.CachedTokens, d.CacheWriteTokens
	}
	if d := u.CompletionTokensDetails; d != nil {
		cu.Reasoning = d.ReasoningTokens
	}
	return cu
}

type wRespMsg struct {
	Role             string      `json:"role"`
	Content          *string     `json:"content"`
	Refusal          *string     `json:"refusal,omitempty"`
	Reasoning        *string     `json:"reasoning,omitempty"`
	ReasoningContent *string     `json:"reasoning_content,omitempty"`
	ToolCalls        []wToolCall `json:"tool_calls,omitempty"`
}

type wResponse struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	Model   string `json:"model"`
	Choices []struct {
		Index        int             `json:"index"`
		Message      wRespMsg        `json:"message"`
		FinishReason *string         `json:"finish_reason"`
		StopReason   json.RawMessage `json:"stop_reason,omitempty"`
	} `json:"choices"`
	Usage *wUsage `json:"usage,omitempty"`
}

// DecodeResponse parses a chat.completion body (first choice).
func (Chat) DecodeResponse(body []byte) (*protocol.Response, error) {
	var w wResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: chat completion: %w", protocol.ErrUpstream, err)
	}
	if len(w.Choices) == 0 {
		return nil, fmt.Errorf("%w: chat completion without choices", protocol.ErrUpstream)
	}
	ch := &w.Choices[0]
	r := &protocol.Response{ID: w.ID, Model: w.Model, Created: time.Unix(w.Created, 0)}
	m := &ch.Message
	if rs := firstNonEmpty(m.Reasoning, m.ReasoningContent); rs != "" {
		r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartReasoning, Text: rs})
	}
	if m.Content != nil && *m.Content != "" {
		r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartText, Text: *m.Content})
	} else if m.Refusal != nil && *m.Refusal != "" {
		r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartText, Text: *m.Refusal})
	}
	for _, tc := range m.ToolCalls {
		args, err := wire.CompactObject([]byte(tc.Function.Arguments))
		if err != nil {
			args = wire.JSONString(tc.Function.Arguments) // keep invalid model output visible
		}
		r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: tc.ID, Name: tc.Function.Name, Args: args}})
	}
	fr := ""
	if ch.FinishReason != nil {
		fr = *ch.FinishReason
	}
	r.Stop = StopFromFinish(fr)
	if fr == "stop" && jsonscan.IsString(ch.StopReason) { // vLLM: the matched stop string
		_ = json.Unmarshal(ch.StopReason, &r.StopSequence)
		r.Stop = protocol.StopSequence
	}
	if w.Usage != nil {
		r.Usage = w.Usage.canonical()
	}
	return r, nil
}

func firstNonEmpty(ps ...*string) string {
	for _, p := range ps {
		if p != nil && *p != "" {
			return *p
		}
	}
	return ""
}

// StopFromFinish maps an OpenAI finish_reason to a canonical stop reason.
func StopFromFinish(fr string) protocol.StopReason {
	switch fr {
	case "length":
		return protocol.StopLength
	case "tool_calls", "function_call":
		return protocol.StopToolUse
	case "content_filter":
		return protocol.StopContentFilter
	}
	return protocol.StopEnd
}

// FinishReason maps a canonical stop reason to an OpenAI finish_reason.
func FinishReason(s protocol.StopReason) string {
	switch s {
	case protocol.StopLength:
		return "length"
	case protocol.StopToolUse:
		return "tool_calls"
	case protocol.StopContentFilter:
		return "content_filter"
	}
	return "stop"
}

func encodeUsage(u protocol.Usage) *wUsage {
	w := &wUsage{PromptTokens: u.Input, CompletionTokens: u.Output, TotalTokens: u.Total()}
	if u.CacheRead > 0 || u.CacheWrite > 0 {
		w.PromptTokensDetails = &struct {
			CachedTokens     int `json:"cached_tokens"`
			CacheWriteTokens int `json:"cache_write_tokens,omitempty"`
		}{u.CacheRead, u.CacheWrite}
	}
	if u.Reasoning > 0 {
		w.CompletionTokensDetails = &struct {
			ReasoningTokens int `json:"reasoning_tokens"`
		}{u.Reasoning}
	}
	return w
}

func created(t time.Time) int64 {
	if t.IsZero() {
		return time.Now().Unix()
	}
	return t.Unix()
}

// EncodeResponse renders r as a chat.completion object.
func (Chat) EncodeResponse(r *protocol.Response) ([]byte, error) {
	type choice struct {
		Index        int      `json:"index"`
		Message      wRespMsg `json:"message"`
		FinishReason string   `json:"finish_reason"`
		Logprobs     any      `json:"logprobs"`
	}
	out := struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *wUsage  `json:"usage"`
	}{ID: wire.IDWithPrefix(r.ID, "chatcmpl-"), Object: "chat.completion", Created: created(r.Created), Model: r.Model, Usage: encodeUsage(r.Usage)}
	ch := choice{FinishReason: FinishReason(r.Stop), Message: wRespMsg{Role: "assistant"}}
	text, reasoning := "", ""
	hasText := false
	for i := range r.Parts {
		p := &r.Parts[i]
		switch p.Kind {
		case protocol.PartText:
			text += p.Text
			hasText = true
		case protocol.PartReasoning:
			reasoning += p.Text
		case protocol.PartToolCall:
			var tc wToolCall
			tc.ID, tc.Type = p.Call.ID, "function"
			if tc.ID == "" {
				tc.ID = wire.NewID("call_")
			}
			tc.Function.Name, tc.Function.Arguments = p.Call.Name, string(p.Call.Args)
			ch.Message.ToolCalls = append(ch.Message.ToolCalls, tc)
		}
	}
	if hasText || len(ch.Message.ToolCalls) == 0 {
		ch.Message.Content = &text
	}
	if reasoning != "" {
		ch.Message.ReasoningContent = &reasoning
	}
	out.Choices = []choice{ch}
	return json.Marshal(out)
}

// NewStreamDecoder reads a Chat Completions SSE stream.
func (Chat) NewStreamDecoder(r io.Reader) protocol.StreamDecoder { return newStreamDecoder(r) }

// NewStreamEncoder writes chat.completion.chunk SSE events.
func (Chat) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return newStreamEncoder(w, flush, opts, false)
}
