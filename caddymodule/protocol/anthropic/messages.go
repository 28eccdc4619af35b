// Package anthropic translates the Anthropic Messages wire format to and
// from the canonical model of package protocol.
package anthropic

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// DefaultMaxTokens is sent when a request from another dialect has no limit.
const DefaultMaxTokens = 4096

// Messages is the Messages API codec, client- and provider-facing.
type Messages struct {
	// MaxTokens is the max_tokens sent when the request has none
	// (Anthropic requires it); 0 means DefaultMaxTokens.
	MaxTokens int
}

var _ protocol.Codec = Messages{}

// Dialect returns protocol.Anthropic.
func (Messages) Dialect() protocol.Dialect { return protocol.Anthropic }

// StreamContentType returns text/event-stream.
func (Messages) StreamContentType() string { return "text/event-stream" }

// WriteError writes an Anthropic error object.
func (Messages) WriteError(w http.ResponseWriter, status int, msg string) { WriteError(w, status, msg) }

// DecodeRequest parses a Messages request body.
func (Messages) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.Anthropic}
	r.Model = o.Str("model")
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	r.MaxTokens = o.Int("max_tokens")
	if r.MaxTokens == nil && o.Err() == nil {
		o.Failf("max_tokens", "required")
	}
	if sys := o.Take("system"); sys != nil {
		parts, err := decodeBlocks(sys, "system", false)
		o.Fail(err)
		r.System = parts
	}
	msgs := o.Array("messages")
	if len(msgs) == 0 && o.Err() == nil {
		o.Failf("messages", "required and must not be empty")
	}
	for i, m := range msgs {
		if o.Err() != nil {
			break
		}
		o.Fail(decodeMessage(r, m, wire.Idx("messages", i)))
	}
	r.Temperature = o.Float("temperature")
	r.TopP = o.Float("top_p")
	r.TopK = o.Int("top_k")
	r.Stop = o.Strings("stop_sequences")
	r.Stream = o.Bool("stream", false)
	if md := o.Object("metadata"); md != nil {
		r.User = md.Str("user_id")
		o.Fail(md.Err())
	}
	decodeTools(o, r)
	decodeToolChoice(o, r)
	decodeThinking(o, r)
	decodeOutputConfig(o, r)
	if err := o.Err(); err != nil {
		return nil, err
	}
	for k, v := range o.Rest() {
		if r.Extra == nil {
			r.Extra = map[string]json.RawMessage{}
		}
		r.Extra[k] = v
	}
	return r, nil
}

// decodeTools reads the tools: custom tools (an input_schema, no other
// type) are modelled, server tools are kept raw.
func decodeTools(o *wire.Obj, r *protocol.Request) {
	for i, t := range o.Array("tools") {
		to, err := wire.Parse(t, wire.Idx("tools", i))
		if err != nil {
			o.Fail(err)
			break
		}
		typ := to.Str("type")
		schema := to.Take("input_schema")
		if (typ != "" && typ != "custom") || schema == nil {
			r.Tools = append(r.Tools, protocol.Tool{Name: to.Str("name"), Raw: t, Origin: protocol.Anthropic})
			continue
		}
		r.Tools = append(r.Tools, protocol.Tool{Name: to.Str("name"), Description: to.Str("description"), Schema: schema, Strict: to.BoolPtr("strict")})
		o.Fail(to.Err())
	}
}

// decodeToolChoice reads tool_choice and disable_parallel_tool_use.
func decodeToolChoice(o *wire.Obj, r *protocol.Request) {
	tc := o.Object("tool_choice")
	if tc == nil {
		return
	}
	switch t := tc.Str("type"); t {
	case "auto", "none":
		r.ToolChoice.Mode = protocol.ToolChoiceMode(t)
	case "any":
		r.ToolChoice.Mode = protocol.ToolRequired
	case "tool":
		r.ToolChoice = protocol.ToolChoice{Mode: protocol.ToolNamed, Name: tc.Str("name")}
	default:
		tc.Failf("type", "must be auto, any, tool or none")
	}
	if tc.Bool("disable_parallel_tool_use", false) {
		f := false
		r.ParallelTools = &f
	}
	o.Fail(tc.Err())
}

// decodeThinking reads thinking: a token budget, adaptive (a medium effort)
// or disabled.
func decodeThinking(o *wire.Obj, r *protocol.Request) {
	th := o.Object("thinking")
	if th == nil {
		return
	}
	switch t := th.Str("type"); t {
	case "enabled":
		b := th.Int("budget_tokens")
		if b == nil {
			th.Failf("budget_tokens", "required when thinking is enabled")
		} else {
			r.Reasoning = &protocol.Reasoning{Budget: *b}
		}
	case "adaptive":
		r.Reasoning = &protocol.Reasoning{Effort: "medium"}
	case "disabled":
		r.Reasoning = &protocol.Reasoning{Off: true}
	default:
		th.Failf("type", "must be enabled, adaptive or disabled")
	}
	o.Fail(th.Err())
}

// decodeOutputConfig reads output_config: an effort and a JSON-schema
// format; members it does not model are kept in Extra.
func decodeOutputConfig(o *wire.Obj, r *protocol.Request) {
	oc := o.Object("output_config")
	if oc == nil {
		return
	}
	if e := oc.Str("effort"); e != "" {
		if r.Reasoning == nil {
			r.Reasoning = &protocol.Reasoning{}
		}
		r.Reasoning.Effort = e
	}
	if f := oc.Object("format"); f != nil {
		if f.Str("type") == "json_schema" {
			r.Format = &protocol.Format{Kind: protocol.FormatJSONSchema, Schema: f.Take("schema")}
		}
		oc.Fail(f.Err())
	}
	o.Fail(oc.Err())
	if rest := oc.Rest(); rest != nil { // keep unknown members for passthrough
		b, _ := json.Marshal(rest)
		if r.Extra == nil {
			r.Extra = map[string]json.RawMessage{}
		}
		r.Extra["output_config"] = b
	}
}

func decodeMessage(r *protocol.Request, raw json.RawMessage, path string) error {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return err
	}
	role := o.Str("role")
	content := o.Take("content")
	if err := o.Err(); err != nil {
		return err
	}
	switch role {
	case "user":
		parts, err := decodeBlocks(content, path+".content", true)
		if err != nil {
			return err
		}
		var results, other []protocol.Part
		for _, p := range parts {
			if p.Kind == protocol.PartToolResult {
				results = append(results, p)
			} else {
				other = append(other, p)
			}
		}
		if len(results) > 0 {
			r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleTool, Parts: results})
		}
		if len(other) > 0 || len(results) == 0 {
			r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleUser, Parts: other})
		}
	case "assistant":
		parts, err := decodeBlocks(content, path+".content", true)
		if err != nil {
			return err
		}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleAssistant, Parts: parts})
	case "":
		return protocol.Errorf(o.F("role"), "required")
	default:
		return protocol.Errorf(o.F("role"), "must be user or assistant")
	}
	return nil
}

// decodeBlocks reads a string or an array of content blocks.
func decodeBlocks(v json.RawMessage, path string, rich bool) ([]protocol.Part, error) {
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
		return nil, protocol.Errorf(path, "must be a string or an array of content blocks")
	}
	parts := make([]protocol.Part, 0, len(arr))
	for i, bv := range arr {
		bp := wire.Idx(path, i)
		o, err := wire.Parse(bv, bp)
		if err != nil {
			return nil, err
		}
		typ := o.Str("type")
		if !rich && typ != "text" {
			return nil, protocol.Errorf(o.F("type"), "must be text")
		}
		switch typ {
		case "text":
			parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: o.Str("text")})
		case "image":
			src := o.Object("source")
			if src == nil {
				o.Failf("source", "required")
				break
			}
			img := &protocol.Image{}
			switch st := src.Str("type"); st {
			case "base64":
				img.MediaType, img.Data = src.Str("media_type"), src.Str("data")
			case "url":
				img.URL = src.Str("url")
			default:
				parts = append(parts, protocol.Part{Kind: protocol.PartOther, Raw: bv, Origin: protocol.Anthropic})
				continue
			}
			o.Fail(src.Err())
			parts = append(parts, protocol.Part{Kind: protocol.PartImage, Image: img})
		case "tool_use":
			c := &protocol.ToolCall{ID: o.Str("id"), Name: o.Str("name")}
			in := o.Take("input")
			if args, err := wire.CompactObject(in); err != nil {
				o.Failf("input", "invalid JSON")
			} else {
				c.Args = args
			}
			parts = append(parts, protocol.Part{Kind: protocol.PartToolCall, Call: c})
		case "tool_result":
			res := &protocol.ToolResult{CallID: o.Str("tool_use_id"), IsError: o.Bool("is_error", false)}
			c, err := decodeBlocks(o.Take("content"), o.F("content"), true)
			if err != nil {
				return nil, err
			}
			res.Content = c
			parts = append(parts, protocol.Part{Kind: protocol.PartToolResult, Result: res})
		case "thinking":
			parts = append(parts, protocol.Part{Kind: protocol.PartReasoning, Text: o.Str("thinking"), Signature: o.Str("signature")})
		case "":
			o.Failf("type", "required")
		default:
			parts = append(parts, protocol.Part{Kind: protocol.PartOther, Raw: bv, Origin: protocol.Anthropic})
		}
		if err := o.Err(); err != nil {
			return nil, err
		}
	}
	return parts, nil
}

// encoding

type aBlock struct {
	Type      string          `json:"type"`
	Text      *string         `json:"text,omitempty"`
	Source    *aSource        `json:"source,omitempty"`
	ID        string          `json:"id,omitempty"`
	Name      string          `json:"name,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	ToolUseID string          `json:"tool_use_id,omitempty"`
	Content   any             `json:"content,omitempty"`
	IsError   bool            `json:"is_error,omitempty"`
	Thinking  *string         `json:"thinking,omitempty"`
	Signature string          `json:"signature,omitempty"`
}

type aSource struct {
	Type      string `json:"type"`
	MediaType string `json:"media_type,omitempty"`
	Data      string `json:"data,omitempty"`
	URL       string `json:"url,omitempty"`
}

type aMsg struct {
	Role    string            `json:"role"`
	Content []json.RawMessage `json:"content"`
}

type aTool struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	InputSchema json.RawMessage `json:"input_schema"`
	Strict      *bool           `json:"strict,omitempty"`
}

type aToolChoice struct {
	Type                   string `json:"type"`
	Name                   string `json:"name,omitempty"`
	DisableParallelToolUse bool   `json:"disable_parallel_tool_use,omitempty"`
}

type aRequest struct {
	Model         string   `json:"model"`
	MaxTokens     int      `json:"max_tokens"`
	System        string   `json:"system,omitempty"`
	Messages      []aMsg   `json:"messages"`
	Stream        bool     `json:"stream,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"top_p,omitempty"`
	TopK          *int     `json:"top_k,omitempty"`
	StopSequences []string `json:"stop_sequences,omitempty"`
	Metadata      *struct {
		UserID string `json:"user_id"`
	} `json:"metadata,omitempty"`
	Tools        []json.RawMessage `json:"tools,omitempty"`
	ToolChoice   *aToolChoice      `json:"tool_choice,omitempty"`
	Thinking     *aThinking        `json:"thinking,omitempty"`
	OutputConfig *aOutputConfig    `json:"output_config,omitempty"`
}

type aThinking struct {
	Type         string `json:"type"`
	BudgetTokens int    `json:"budget_tokens,omitempty"`
}

type aOutputConfig struct {
	Format *struct {
		Type   string          `json:"type"`
		Schema json.RawMessage `json:"schema"`
	} `json:"format,omitempty"`
}

var emptySchema = json.RawMessage(`{"type":"object","properties":{}}`)

var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/gif": true, "image/webp": true}

// budgetFor maps a reasoning effort to a thinking budget.
func budgetFor(effort string) int {
	switch effort {
	case "none", "":
		return 0
	case "minimal", "low":
		return 1024
	case "medium":
		return 8192
	case "high":
		return 16384
	}
	return 32000 // xhigh, max
}

// EncodeRequest renders r for Anthropic. It always sets max_tokens, merges
// same-role neighbours, hoists system messages from the conversation into
// the top-level system prompt, puts tool results first in their user turn,
// clamps temperature to 1, and rejects what Anthropic cannot express
// (n>1, foreign content parts, http image URLs are kept as url sources).
func (c Messages) EncodeRequest(r *protocol.Request) ([]byte, error) {
	if r.Origin != protocol.Anthropic {
		if err := r.Untranslatable(); err != nil {
			return nil, err
		}
	}
	// The API refuses a tool result without a matching call: ids are
	// made whole and orphan results become user text (see PairTools).
	r = r.PairTools()
	if r.N > 1 {
		return nil, protocol.Errorf("n", "only one choice is supported by this provider")
	}
	w := aRequest{Model: r.Model, Stream: r.Stream, TopP: r.TopP, TopK: r.TopK, StopSequences: r.Stop}
	w.MaxTokens = c.MaxTokens
	if w.MaxTokens <= 0 {
		w.MaxTokens = DefaultMaxTokens
	}
	if r.MaxTokens != nil && *r.MaxTokens > 0 {
		w.MaxTokens = *r.MaxTokens
	}
	if t := r.Temperature; t != nil {
		v := min(*t, 1)
		w.Temperature = &v
	}
	if r.User != "" {
		w.Metadata = &struct {
			UserID string `json:"user_id"`
		}{r.User}
	}
	system := []string{}
	if s := protocol.JoinText(r.System, "\n\n"); s != "" {
		system = append(system, s)
	}
	var err error
	w.Messages, system, err = encodeMessages(r, system)
	if err != nil {
		return nil, err
	}
	if f := r.Format; f != nil {
		switch f.Kind {
		case protocol.FormatJSON:
			system = append(system, "Respond only with a single valid JSON object.")
		case protocol.FormatJSONSchema:
			w.OutputConfig = &aOutputConfig{Format: &struct {
				Type   string          `json:"type"`
				Schema json.RawMessage `json:"schema"`
			}{"json_schema", f.Schema}}
		}
	}
	w.System = strings.Join(system, "\n\n")
	if err := encodeTools(&w, r); err != nil {
		return nil, err
	}
	if rs := r.Reasoning; rs != nil && !rs.Off {
		b := rs.Budget
		if b == 0 {
			b = budgetFor(rs.Effort)
		}
		if b >= w.MaxTokens {
			b = w.MaxTokens - 1
		}
		if b >= 1024 {
			w.Thinking = &aThinking{Type: "enabled", BudgetTokens: b}
		}
	}
	return wire.MarshalRequest(w, r.Origin, protocol.Anthropic, r.Extra)
}

// encodeTools renders r's tools and tool choice into w; a raw tool of
// another dialect is an error.
func encodeTools(w *aRequest, r *protocol.Request) error {
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Raw != nil {
			if t.Origin != protocol.Anthropic {
				return protocol.Errorf(wire.Idx("tools", i), "tool type %q is not supported by this provider", t.Name)
			}
			w.Tools = append(w.Tools, t.Raw)
			continue
		}
		schema := t.Schema
		if jsonscan.IsNull(schema) {
			schema = emptySchema
		}
		b, _ := json.Marshal(aTool{Name: t.Name, Description: t.Description, InputSchema: schema, Strict: t.Strict})
		w.Tools = append(w.Tools, b)
	}
	if len(w.Tools) > 0 {
		noPar := r.ParallelTools != nil && !*r.ParallelTools
		switch r.ToolChoice.Mode {
		case protocol.ToolNone:
			w.ToolChoice = &aToolChoice{Type: "none"}
		case protocol.ToolRequired:
			w.ToolChoice = &aToolChoice{Type: "any", DisableParallelToolUse: noPar}
		case protocol.ToolNamed:
			w.ToolChoice = &aToolChoice{Type: "tool", Name: r.ToolChoice.Name, DisableParallelToolUse: noPar}
		default:
			if r.ToolChoice.Mode == protocol.ToolAuto || noPar {
				w.ToolChoice = &aToolChoice{Type: "auto", DisableParallelToolUse: noPar}
			}
		}
	}
	return nil
}

func rawBlock(b aBlock) json.RawMessage {
	out, _ := json.Marshal(b)
	return out
}

func imageBlock(img *protocol.Image, path string) (json.RawMessage, error) {
	if img.Data == "" {
		if mt, data, ok := wire.DataURI(img.URL); ok {
			img = &protocol.Image{MediaType: mt, Data: data}
		} else {
			return rawBlock(aBlock{Type: "image", Source: &aSource{Type: "url", URL: img.URL}}), nil
		}
	}
	mt := img.MediaType
	if mt == "" {
		mt = wire.SniffImage(img.Data)
	}
	if !imageTypes[mt] {
		return nil, protocol.Errorf(path, "image type %q is not supported (jpeg, png, gif, webp)", mt)
	}
	return rawBlock(aBlock{Type: "image", Source: &aSource{Type: "base64", MediaType: mt, Data: img.Data}}), nil
}

// encodeMessages renders the conversation as Anthropic turns: system
// messages are appended to system, tool results open their user turn, and
// neighbours of the same role are merged.
func encodeMessages(r *protocol.Request, system []string) ([]aMsg, []string, error) {
	var out []aMsg
	var results []json.RawMessage // pending tool_result blocks of the current user turn
	var userBlocks []json.RawMessage
	flushUser := func() {
		if len(results)+len(userBlocks) == 0 {
			return
		}
		out = append(out, aMsg{Role: "user", Content: append(results, userBlocks...)})
		results, userBlocks = nil, nil
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		path := wire.Idx("messages", i)
		switch m.Role {
		case protocol.RoleSystem:
			if s := protocol.JoinText(m.Parts, "\n\n"); s != "" {
				system = append(system, s)
			}
		case protocol.RoleUser, protocol.RoleTool:
			for j := range m.Parts {
				p := &m.Parts[j]
				pp := wire.Idx(path+".content", j)
				if p.Kind == protocol.PartToolResult {
					b, err := resultBlock(p.Result, pp)
					if err != nil {
						return nil, nil, err
					}
					results = append(results, b)
					continue
				}
				b, err := contentBlock(p, pp)
				if err != nil {
					return nil, nil, err
				}
				if b != nil {
					userBlocks = append(userBlocks, b)
				}
			}
		case protocol.RoleAssistant:
			flushUser()
			blocks, err := assistantBlocks(m, path)
			if err != nil {
				return nil, nil, err
			}
			if len(blocks) == 0 {
				continue
			}
			if n := len(out); n > 0 && out[n-1].Role == "assistant" {
				out[n-1].Content = append(out[n-1].Content, blocks...)
			} else {
				out = append(out, aMsg{Role: "assistant", Content: blocks})
			}
		}
	}
	flushUser()
	// merge user turns that ended up adjacent
	merged := out[:0]
	for _, m := range out {
		if n := len(merged); n > 0 && merged[n-1].Role == m.Role {
			merged[n-1].Content = append(merged[n-1].Content, m.Content...)
			continue
		}
		merged = append(merged, m)
	}
	if len(merged) == 0 {
		return nil, nil, protocol.Errorf("messages", "no message with content to send")
	}
	return merged, system, nil
}

// assistantBlocks renders the parts of assistant message m (at path) as
// Anthropic content blocks: signed thinking, tool_use with an object
// input, and content; unsigned thinking is dropped.
func assistantBlocks(m *protocol.Message, path string) ([]json.RawMessage, error) {
	var blocks []json.RawMessage
	for j := range m.Parts {
		p := &m.Parts[j]
		pp := wire.Idx(path+".content", j)
		var b json.RawMessage
		switch p.Kind {
		case protocol.PartReasoning:
			if p.Signature == "" {
				continue // gateway-made or foreign thinking: Anthropic would reject it
			}
			t := p.Text
			b = rawBlock(aBlock{Type: "thinking", Thinking: &t, Signature: p.Signature})
		case protocol.PartToolCall:
			args := p.Call.Args
			if jsonscan.IsNull(args) {
				args = json.RawMessage("{}")
			}
			if a := bytes.TrimSpace(args); len(a) == 0 || a[0] != '{' {
				return nil, protocol.Errorf(pp, "tool call arguments must be a JSON object")
			}
			id := toolID(p.Call.ID)
			if id == "" {
				id = wire.NewID("toolu_")
			}
			b = rawBlock(aBlock{Type: "tool_use", ID: id, Name: p.Call.Name, Input: args})
		default:
			var err error
			if b, err = contentBlock(p, pp); err != nil {
				return nil, err
			}
		}
		if b != nil {
			blocks = append(blocks, b)
		}
	}
	return blocks, nil
}

func contentBlock(p *protocol.Part, path string) (json.RawMessage, error) {
	switch p.Kind {
	case protocol.PartText:
		if p.Text == "" {
			return nil, nil
		}
		t := p.Text
		return rawBlock(aBlock{Type: "text", Text: &t}), nil
	case protocol.PartImage:
		return imageBlock(p.Image, path)
	case protocol.PartOther:
		if p.Origin != protocol.Anthropic {
			return nil, protocol.Errorf(path, "content of this kind cannot be sent to an Anthropic provider")
		}
		return p.Raw, nil
	}
	return nil, nil
}

func resultBlock(res *protocol.ToolResult, path string) (json.RawMessage, error) {
	b := aBlock{Type: "tool_result", ToolUseID: toolID(res.CallID), IsError: res.IsError}
	onlyText := true
	for i := range res.Content {
		if res.Content[i].Kind != protocol.PartText {
			onlyText = false
		}
	}
	if onlyText {
		b.Content = protocol.JoinText(res.Content, "")
	} else {
		var blocks []json.RawMessage
		for i := range res.Content {
			cb, err := contentBlock(&res.Content[i], wire.Idx(path+".content", i))
			if err != nil {
				return nil, err
			}
			if cb != nil {
				blocks = append(blocks, cb)
			}
		}
		b.Content = blocks
	}
	return rawBlock(b), nil
}

// toolID makes a history tool-call id acceptable to Anthropic
// ([A-Za-z0-9_-]+): ids from other upstreams that do not fit (vLLM Kimi-K2
// "functions.get_weather:0") are encoded deterministically, so a tool_use
// and its tool_result still match.
func toolID(id string) string {
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return "toolu_x" + base64.RawURLEncoding.EncodeToString([]byte(id))
		}
	}
	return id
}

// responses

type aUsage struct {
	InputTokens              int `json:"input_tokens"`
	OutputTokens             int `json:"output_tokens"`
	CacheCreationInputTokens int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     int `json:"cache_read_input_tokens"`
}

func (u *aUsage) canonical() protocol.Usage {
	return protocol.Usage{Input: u.InputTokens + u.CacheCreationInputTokens + u.CacheReadInputTokens,
		Output: u.OutputTokens, CacheRead: u.CacheReadInputTokens, CacheWrite: u.CacheCreationInputTokens}
}

func usageOf(u protocol.Usage) aUsage {
	return aUsage{InputTokens: max(u.Input-u.CacheRead-u.CacheWrite, 0), OutputTokens: u.Output,
		CacheCreationInputTokens: u.CacheWrite, CacheReadInputTokens: u.CacheRead}
}

type aRespBlock struct {
	Type      string          `json:"type"`
	Text      string          `json:"text"`
	Thinking  string          `json:"thinking"`
	Signature string          `json:"signature"`
	ID        string          `json:"id"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type aResponse struct {
	ID           string       `json:"id"`
	Type         string       `json:"type"`
	Model        string       `json:"model"`
	Content      []aRespBlock `json:"content"`
	StopReason   string       `json:"stop_reason"`
	StopSequence *string      `json:"stop_sequence"`
	Usage        aUsage       `json:"usage"`
}

// DecodeResponse parses a Messages response body.
func (Messages) DecodeResponse(body []byte) (*protocol.Response, error) {
	var w aResponse
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: message: %w", protocol.ErrUpstream, err)
	}
	if w.Type != "message" {
		return nil, fmt.Errorf("%w: unexpected object type %q", protocol.ErrUpstream, w.Type)
	}
	r := &protocol.Response{ID: w.ID, Model: w.Model, Stop: StopFrom(w.StopReason), Usage: w.Usage.canonical()}
	if w.StopSequence != nil {
		r.StopSequence = *w.StopSequence
	}
	for _, b := range w.Content {
		switch b.Type {
		case "text":
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartText, Text: b.Text})
		case "thinking":
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartReasoning, Text: b.Thinking, Signature: b.Signature})
		case "tool_use":
			args, err := wire.CompactObject(b.Input)
			if err != nil {
				return nil, fmt.Errorf("%w: tool_use input: %w", protocol.ErrUpstream, err)
			}
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: b.ID, Name: b.Name, Args: args}})
		}
	}
	return r, nil
}

// StopFrom maps an Anthropic stop_reason to a canonical stop reason.
func StopFrom(s string) protocol.StopReason {
	switch s {
	case "stop_sequence":
		return protocol.StopSequence
	case "max_tokens", "model_context_window_exceeded":
		return protocol.StopLength
	case "tool_use":
		return protocol.StopToolUse
	case "refusal":
		return protocol.StopContentFilter
	case "pause_turn":
		return protocol.StopPause
	}
	return protocol.StopEnd
}

// StopReason maps a canonical stop reason to an Anthropic stop_reason.
func StopReason(s protocol.StopReason) string {
	switch s {
	case protocol.StopSequence:
		return "stop_sequence"
	case protocol.StopLength:
		return "max_tokens"
	case protocol.StopToolUse:
		return "tool_use"
	case protocol.StopContentFilter:
		return "refusal"
	case protocol.StopPause:
		return "pause_turn"
	}
	return "end_turn"
}

// EncodeResponse renders r as a Messages response object.
func (Messages) EncodeResponse(r *protocol.Response) ([]byte, error) {
	type block struct {
		Type      string          `json:"type"`
		Text      *string         `json:"text,omitempty"`
		Thinking  *string         `json:"thinking,omitempty"`
		Signature *string         `json:"signature,omitempty"`
		ID        string          `json:"id,omitempty"`
		Name      string          `json:"name,omitempty"`
		Input     json.RawMessage `json:"input,omitempty"`
	}
	out := struct {
		ID           string  `json:"id"`
		Type         string  `json:"type"`
		Role         string  `json:"role"`
		Model        string  `json:"model"`
		Content      []block `json:"content"`
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
		Usage        aUsage  `json:"usage"`
	}{ID: wire.IDWithPrefix(r.ID, "msg_"), Type: "message", Role: "assistant", Model: r.Model, Content: []block{}, StopReason: StopReason(r.Stop), Usage: usageOf(r.Usage)}
	if r.Stop == protocol.StopSequence && r.StopSequence != "" {
		s := r.StopSequence
		out.StopSequence = &s
	}
	for i := range r.Parts {
		p := &r.Parts[i]
		switch p.Kind {
		case protocol.PartText:
			t := p.Text
			out.Content = append(out.Content, block{Type: "text", Text: &t})
		case protocol.PartReasoning:
			t, s := p.Text, p.Signature
			out.Content = append(out.Content, block{Type: "thinking", Thinking: &t, Signature: &s})
		case protocol.PartToolCall:
			id := p.Call.ID
			if id == "" {
				id = wire.NewID("toolu_")
			}
			out.Content = append(out.Content, block{Type: "tool_use", ID: id, Name: p.Call.Name, Input: wire.ObjectArgs(p.Call.Args)})
		}
	}
	return json.Marshal(out)
}

// NewStreamDecoder reads a Messages SSE stream.
func (Messages) NewStreamDecoder(r io.Reader) protocol.StreamDecoder { return newStreamDecoder(r) }

// NewStreamEncoder writes Messages SSE events.
func (Messages) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return newStreamEncoder(w, flush, opts)
}
