// Package ollama translates the Ollama native API (/api/chat, /api/generate,
// /api/embed, /api/embeddings) to and from the canonical model of package
// protocol.
package ollama

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Chat is the /api/chat codec, client- and provider-facing.
type Chat struct{}

var _ protocol.Codec = Chat{}

// Dialect returns protocol.OllamaChat.
func (Chat) Dialect() protocol.Dialect { return protocol.OllamaChat }

// StreamContentType returns application/x-ndjson.
func (Chat) StreamContentType() string { return "application/x-ndjson" }

// WriteError writes {"error":"..."}.
func (Chat) WriteError(w http.ResponseWriter, status int, msg string) { WriteError(w, status, msg) }

// DecodeRequest parses an /api/chat body. Ollama streams unless "stream":false.
func (Chat) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.OllamaChat}
	r.Model = o.Str("model")
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	for i, m := range o.Array("messages") {
		if o.Err() != nil {
			break
		}
		o.Fail(decodeMessage(r, m, wire.Idx("messages", i)))
	}
	for i, t := range o.Array("tools") {
		tl, err := decodeTool(t, wire.Idx("tools", i))
		o.Fail(err)
		r.Tools = append(r.Tools, tl)
	}
	decodeCommon(o, r)
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	r.EnsureToolIDs("call_")
	return r, nil
}

// decodeCommon reads the members /api/chat and /api/generate share.
func decodeCommon(o *wire.Obj, r *protocol.Request) {
	r.Stream = o.Bool("stream", true)
	r.IncludeUsage = true
	r.KeepAlive = o.Take("keep_alive")
	if f := o.Take("format"); f != nil {
		if jsonscan.IsString(f) {
			var s string
			_ = json.Unmarshal(f, &s)
			switch s {
			case "json":
				r.Format = &protocol.Format{Kind: protocol.FormatJSON}
			case "":
			default:
				o.Failf("format", `must be "json" or a JSON schema object`)
			}
		} else {
			r.Format = &protocol.Format{Kind: protocol.FormatJSONSchema, Schema: f}
		}
	}
	if t := o.Take("think"); t != nil {
		var b bool
		var s string
		switch {
		case json.Unmarshal(t, &b) == nil:
			if b {
				r.Reasoning = &protocol.Reasoning{Effort: "medium"}
			} else {
				r.Reasoning = &protocol.Reasoning{Off: true}
			}
		case json.Unmarshal(t, &s) == nil && (s == "low" || s == "medium" || s == "high"):
			r.Reasoning = &protocol.Reasoning{Effort: s}
		default:
			o.Failf("think", `must be a boolean or "low", "medium", "high"`)
		}
	}
	if op := o.Object("options"); op != nil {
		r.MaxTokens = op.Int("num_predict")
		if r.MaxTokens != nil && *r.MaxTokens < 0 {
			r.MaxTokens = nil
		}
		r.Temperature = op.Float("temperature")
		r.TopP = op.Float("top_p")
		r.TopK = op.Int("top_k")
		r.MinP = op.Float("min_p")
		r.Seed = op.Int64("seed")
		if r.Seed != nil && *r.Seed < 0 {
			r.Seed = nil
		}
		r.Stop = op.Strings("stop")
		r.RepeatPenalty = op.Float("repeat_penalty")
		r.PresencePenalty = op.Float("presence_penalty")
		r.FrequencyPenalty = op.Float("frequency_penalty")
		o.Fail(op.Err())
		r.Options = op.Rest()
	}
}

func decodeMessage(r *protocol.Request, raw json.RawMessage, path string) error {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return err
	}
	role := strings.ToLower(o.Str("role"))
	content := o.Str("content")
	var parts []protocol.Part
	if th := o.Str("thinking"); th != "" && role == "assistant" {
		parts = append(parts, protocol.Part{Kind: protocol.PartReasoning, Text: th})
	}
	if content != "" {
		parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: content})
	}
	var images []protocol.Part
	for j, im := range o.Array("images") {
		var s string
		if err := json.Unmarshal(im, &s); err != nil {
			return protocol.Errorf(wire.Idx(o.F("images"), j), "must be a base64 string")
		}
		images = append(images, protocol.Part{Kind: protocol.PartImage, Image: &protocol.Image{Data: s}})
	}
	parts = append(parts, images...)
	for j, tc := range o.Array("tool_calls") {
		tp := wire.Idx(o.F("tool_calls"), j)
		to, err := wire.Parse(tc, tp)
		if err != nil {
			return err
		}
		c := &protocol.ToolCall{ID: to.Str("id")}
		f := to.Object("function")
		if f == nil {
			if to.Err() != nil {
				return to.Err()
			}
			return protocol.Errorf(to.F("function"), "required")
		}
		c.Name = f.Str("name")
		args, err := wire.CompactObject(f.Take("arguments"))
		if err != nil {
			return protocol.Errorf(f.F("arguments"), "invalid JSON")
		}
		c.Args = args
		if err := f.Err(); err != nil {
			return err
		}
		parts = append(parts, protocol.Part{Kind: protocol.PartToolCall, Call: c})
	}
	switch role {
	case "system":
		if len(r.Messages) == 0 {
			r.System = append(r.System, parts...)
		} else {
			r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleSystem, Parts: parts})
		}
	case "user", "assistant":
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.Role(role), Parts: parts})
	case "tool":
		res := &protocol.ToolResult{CallID: o.Str("tool_call_id"), Name: o.Str("tool_name"), Content: parts}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: res}}})
	case "":
		return protocol.Errorf(o.F("role"), "required")
	default:
		return protocol.Errorf(o.F("role"), "unsupported role %q", role)
	}
	return o.Err()
}

func decodeTool(raw json.RawMessage, path string) (protocol.Tool, error) {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return protocol.Tool{}, err
	}
	if t := o.Str("type"); t != "" && t != "function" {
		return protocol.Tool{}, protocol.Errorf(o.F("type"), "must be function")
	}
	f := o.Object("function")
	if f == nil {
		if o.Err() != nil {
			return protocol.Tool{}, o.Err()
		}
		return protocol.Tool{}, protocol.Errorf(o.F("function"), "required")
	}
	t := protocol.Tool{Name: f.Str("name"), Description: f.Str("description"), Schema: f.Take("parameters")}
	if t.Name == "" && f.Err() == nil {
		return t, protocol.Errorf(f.F("name"), "required")
	}
	return t, f.Err()
}

// encoding

type oToolCall struct {
	ID       string `json:"id,omitempty"`
	Function struct {
		Index     int             `json:"index"`
		Name      string          `json:"name"`
		Arguments json.RawMessage `json:"arguments"`
	} `json:"function"`
}

type oMsg struct {
	Role       string      `json:"role"`
	Content    string      `json:"content"`
	Thinking   string      `json:"thinking,omitempty"`
	Images     []string    `json:"images,omitempty"`
	ToolCalls  []oToolCall `json:"tool_calls,omitempty"`
	ToolName   string      `json:"tool_name,omitempty"`
	ToolCallID string      `json:"tool_call_id,omitempty"`
}

type oTool struct {
	Type     string `json:"type"`
	Function struct {
		Name        string          `json:"name"`
		Description string          `json:"description,omitempty"`
		Parameters  json.RawMessage `json:"parameters,omitempty"`
	} `json:"function"`
}

type oRequest struct {
	Model     string                     `json:"model"`
	Messages  []oMsg                     `json:"messages"`
	Tools     []oTool                    `json:"tools,omitempty"`
	Format    json.RawMessage            `json:"format,omitempty"`
	Options   map[string]json.RawMessage `json:"options,omitempty"`
	Stream    bool                       `json:"stream"`
	KeepAlive json.RawMessage            `json:"keep_alive,omitempty"`
	Think     json.RawMessage            `json:"think,omitempty"`
}

// options renders the sampling fields of r as Ollama options.
func options(r *protocol.Request) map[string]json.RawMessage {
	m := map[string]json.RawMessage{}
	if r.Origin.Family() == "ollama" {
		for k, v := range r.Options {
			m[k] = v
		}
	}
	put := func(k string, v any) {
		b, _ := json.Marshal(v)
		m[k] = b
	}
	if r.MaxTokens != nil {
		put("num_predict", *r.MaxTokens)
	}
	if r.Temperature != nil {
		put("temperature", *r.Temperature)
	}
	if r.TopP != nil {
		put("top_p", *r.TopP)
	}
	if r.TopK != nil {
		put("top_k", *r.TopK)
	}
	if r.MinP != nil {
		put("min_p", *r.MinP)
	}
	if r.Seed != nil {
		put("seed", *r.Seed)
	}
	if len(r.Stop) > 0 {
		put("stop", r.Stop)
	}
	if r.RepeatPenalty != nil {
		put("repeat_penalty", *r.RepeatPenalty)
	}
	if r.PresencePenalty != nil {
		put("presence_penalty", *r.PresencePenalty)
	}
	if r.FrequencyPenalty != nil {
		put("frequency_penalty", *r.FrequencyPenalty)
	}
	if len(m) == 0 {
		return nil
	}
	return m
}

func think(rs *protocol.Reasoning) json.RawMessage {
	switch {
	case rs == nil:
		return nil
	case rs.Off || rs.Effort == "none":
		return json.RawMessage("false")
	case rs.Effort == "minimal" || rs.Effort == "low":
		return json.RawMessage(`"low"`)
	case rs.Effort == "medium":
		return json.RawMessage(`"medium"`)
	case rs.Effort != "":
		return json.RawMessage(`"high"`)
	}
	return json.RawMessage("true")
}

func format(f *protocol.Format) json.RawMessage {
	if f == nil {
		return nil
	}
	switch f.Kind {
	case protocol.FormatJSON:
		return json.RawMessage(`"json"`)
	case protocol.FormatJSONSchema:
		if !jsonscan.IsNull(f.Schema) {
			return f.Schema
		}
		return json.RawMessage(`"json"`)
	}
	return nil
}

// flatten splits parts into text (joined by newlines) and raw base64 images.
func flatten(parts []protocol.Part, path string) (string, []string, error) {
	var sb strings.Builder
	var images []string
	for i := range parts {
		p := &parts[i]
		switch p.Kind {
		case protocol.PartText:
			if sb.Len() > 0 && p.Text != "" {
				sb.WriteByte('\n')
			}
			sb.WriteString(p.Text)
		case protocol.PartImage:
			data := p.Image.Data
			if data == "" {
				if _, d, ok := wire.DataURI(p.Image.URL); ok {
					data = d
				} else {
					return "", nil, protocol.Errorf(wire.Idx(path, i), "image URLs are not supported by Ollama providers; send the image inline (base64)")
				}
			}
			images = append(images, data)
		case protocol.PartOther:
			return "", nil, protocol.Errorf(wire.Idx(path, i), "content of this kind cannot be sent to an Ollama provider")
		}
	}
	return sb.String(), images, nil
}

// EncodeRequest renders r for an Ollama /api/chat provider.
func (Chat) EncodeRequest(r *protocol.Request) ([]byte, error) {
	if r.Origin != protocol.OllamaChat {
		if err := r.Untranslatable(); err != nil {
			return nil, err
		}
	}
	if r.N > 1 {
		return nil, protocol.Errorf("n", "only one choice is supported by this provider")
	}
	w := oRequest{Model: r.Model, Stream: r.Stream, KeepAlive: r.KeepAlive, Think: think(r.Reasoning), Format: format(r.Format), Options: options(r)}
	if len(r.System) > 0 {
		s, _, err := flatten(r.System, "system")
		if err != nil {
			return nil, err
		}
		w.Messages = append(w.Messages, oMsg{Role: "system", Content: s})
	}
	for i := range r.Messages {
		m := &r.Messages[i]
		path := wire.Idx("messages", i)
		switch m.Role {
		case protocol.RoleTool:
			var err error
			if w.Messages, err = appendToolResults(w.Messages, r, m, path); err != nil {
				return nil, err
			}
		default:
			om, err := encodeMessage(m, path)
			if err != nil {
				return nil, err
			}
			w.Messages = append(w.Messages, om)
		}
	}
	tools, err := encodeTools(r)
	if err != nil {
		return nil, err
	}
	w.Tools = tools
	return wire.MarshalRequest(w, r.Origin, protocol.OllamaChat, r.Extra)
}

// appendToolResults appends to out the tool results of message m (a
// RoleTool message at path) as Ollama tool messages, one per result.
func appendToolResults(out []oMsg, r *protocol.Request, m *protocol.Message, path string) ([]oMsg, error) {
	for j := range m.Parts {
		res := m.Parts[j].Result
		if res == nil {
			continue
		}
		s, imgs, err := flatten(res.Content, wire.Idx(path+".content", j))
		if err != nil {
			return nil, err
		}
		if res.IsError {
			s = "Error: " + s
		}
		name := res.Name
		if name == "" {
			name = r.ToolName(res.CallID)
		}
		out = append(out, oMsg{Role: "tool", Content: s, Images: imgs, ToolName: name, ToolCallID: res.CallID})
	}
	return out, nil
}

// encodeMessage renders a system, user or assistant message at path:
// reasoning as thinking, tool calls as tool_calls, the rest flattened to
// content and images.
func encodeMessage(m *protocol.Message, path string) (oMsg, error) {
	om := oMsg{Role: string(m.Role)}
	var rest []protocol.Part
	for j := range m.Parts {
		p := &m.Parts[j]
		switch p.Kind {
		case protocol.PartReasoning:
			om.Thinking += p.Text
		case protocol.PartToolCall:
			args := p.Call.Args
			if jsonscan.IsNull(args) {
				args = json.RawMessage("{}")
			}
			if a := bytes.TrimSpace(args); a[0] != '{' {
				return om, protocol.Errorf(wire.Idx(path+".content", j), "tool call arguments must be a JSON object")
			}
			var tc oToolCall
			tc.ID = p.Call.ID
			tc.Function.Index, tc.Function.Name, tc.Function.Arguments = len(om.ToolCalls), p.Call.Name, args
			om.ToolCalls = append(om.ToolCalls, tc)
		default:
			rest = append(rest, *p)
		}
	}
	var err error
	if om.Content, om.Images, err = flatten(rest, path+".content"); err != nil {
		return om, err
	}
	return om, nil
}

// encodeTools renders r's function tools, none when the tool choice is
// none and only the named one when a tool is forced (Ollama cannot force
// one); a raw tool is an error.
func encodeTools(r *protocol.Request) ([]oTool, error) {
	if r.ToolChoice.Mode == protocol.ToolNone {
		return nil, nil
	}
	var out []oTool
	for i := range r.Tools {
		t := &r.Tools[i]
		if t.Raw != nil {
			return nil, protocol.Errorf(wire.Idx("tools", i), "tool type %q is not supported by Ollama providers", t.Name)
		}
		if r.ToolChoice.Mode == protocol.ToolNamed && t.Name != r.ToolChoice.Name {
			continue // Ollama cannot force a tool: offer only the named one
		}
		var ot oTool
		ot.Type = "function"
		ot.Function.Name, ot.Function.Description, ot.Function.Parameters = t.Name, t.Description, t.Schema
		out = append(out, ot)
	}
	return out, nil
}

// responses

type oLine struct {
	Model     string `json:"model"`
	CreatedAt string `json:"created_at"`
	Message   *struct {
		Content   string      `json:"content"`
		Thinking  string      `json:"thinking"`
		ToolCalls []oToolCall `json:"tool_calls"`
	} `json:"message"`
	Response        *string         `json:"response"`
	Thinking        string          `json:"thinking"`
	Done            bool            `json:"done"`
	DoneReason      string          `json:"done_reason"`
	PromptEvalCount int             `json:"prompt_eval_count"`
	EvalCount       int             `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
	metrics
}

// metrics are the durations (ns) of an Ollama final line or embed reply.
type metrics struct {
	TotalDuration      int64 `json:"total_duration"`
	LoadDuration       int64 `json:"load_duration"`
	PromptEvalDuration int64 `json:"prompt_eval_duration"`
	EvalDuration       int64 `json:"eval_duration"`
}

func (m metrics) durations() protocol.Durations {
	return protocol.Durations{Total: time.Duration(m.TotalDuration), Load: time.Duration(m.LoadDuration),
		PromptEval: time.Duration(m.PromptEvalDuration), Eval: time.Duration(m.EvalDuration)}
}

// DecodeResponse parses a non-streamed /api/chat (or /api/generate) reply.
func (Chat) DecodeResponse(body []byte) (*protocol.Response, error) {
	var l oLine
	if err := json.Unmarshal(body, &l); err != nil {
		return nil, fmt.Errorf("%w: ollama reply: %w", protocol.ErrUpstream, err)
	}
	if !jsonscan.IsNull(l.Error) {
		return nil, fmt.Errorf("%w: ollama error: %s", protocol.ErrUpstream, l.Error)
	}
	r := &protocol.Response{Model: l.Model, Usage: protocol.Usage{Input: l.PromptEvalCount, Output: l.EvalCount}, Durations: l.durations()}
	r.Created, _ = time.Parse(time.RFC3339Nano, l.CreatedAt)
	calls := 0
	if m := l.Message; m != nil {
		if m.Thinking != "" {
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartReasoning, Text: m.Thinking})
		}
		if m.Content != "" {
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartText, Text: m.Content})
		}
		for _, tc := range m.ToolCalls {
			args, err := wire.CompactObject(tc.Function.Arguments)
			if err != nil {
				return nil, fmt.Errorf("%w: tool call arguments: %w", protocol.ErrUpstream, err)
			}
			id := tc.ID
			if id == "" {
				id = wire.NewID("call_")
			}
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: id, Name: tc.Function.Name, Args: args}})
			calls++
		}
	} else if l.Response != nil {
		if l.Thinking != "" {
			r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartReasoning, Text: l.Thinking})
		}
		r.Parts = append(r.Parts, protocol.Part{Kind: protocol.PartText, Text: *l.Response})
	}
	r.Stop = stopFrom(l.DoneReason, calls > 0)
	return r, nil
}

func stopFrom(reason string, tools bool) protocol.StopReason {
	switch {
	case reason == "length":
		return protocol.StopLength
	case tools:
		return protocol.StopToolUse
	}
	return protocol.StopEnd
}

// DoneReason maps a canonical stop reason to an Ollama done_reason.
func DoneReason(s protocol.StopReason) string {
	if s == protocol.StopLength {
		return "length"
	}
	return "stop"
}

func createdAt(t time.Time) string {
	if t.IsZero() {
		t = time.Now()
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// EncodeResponse renders r as a non-streamed /api/chat reply.
func (Chat) EncodeResponse(r *protocol.Response) ([]byte, error) {
	return encodeResponse(r, false)
}

func encodeResponse(r *protocol.Response, generate bool) ([]byte, error) {
	m := oMsg{Role: "assistant"}
	for i := range r.Parts {
		p := &r.Parts[i]
		switch p.Kind {
		case protocol.PartText:
			m.Content += p.Text
		case protocol.PartReasoning:
			m.Thinking += p.Text
		case protocol.PartToolCall:
			var tc oToolCall
			tc.ID = p.Call.ID
			tc.Function.Index, tc.Function.Name, tc.Function.Arguments = len(m.ToolCalls), p.Call.Name, wire.ObjectArgs(p.Call.Args)
			m.ToolCalls = append(m.ToolCalls, tc)
		}
	}
	// Real Ollama's final object always carries every duration and count
	// (clients such as the AI SDK's Ollama provider require them): the
	// provider's values when it reported them, zero otherwise.
	d := r.Durations
	out := struct {
		Model              string  `json:"model"`
		CreatedAt          string  `json:"created_at"`
		Message            *oMsg   `json:"message,omitempty"`
		Response           *string `json:"response,omitempty"`
		Thinking           string  `json:"thinking,omitempty"`
		Done               bool    `json:"done"`
		DoneReason         string  `json:"done_reason"`
		TotalDuration      int64   `json:"total_duration"`
		LoadDuration       int64   `json:"load_duration"`
		PromptEvalCount    int     `json:"prompt_eval_count"`
		PromptEvalDuration int64   `json:"prompt_eval_duration"`
		EvalCount          int     `json:"eval_count"`
		EvalDuration       int64   `json:"eval_duration"`
	}{Model: r.Model, CreatedAt: createdAt(r.Created), Done: true, DoneReason: DoneReason(r.Stop),
		TotalDuration: int64(d.Total), LoadDuration: int64(d.Load), PromptEvalCount: r.Usage.Input,
		PromptEvalDuration: int64(d.PromptEval), EvalCount: r.Usage.Output, EvalDuration: int64(d.Eval)}
	if generate {
		out.Response, out.Thinking = &m.Content, m.Thinking
	} else {
		out.Message = &m
	}
	return json.Marshal(out)
}

// NewStreamDecoder reads an /api/chat (or /api/generate) NDJSON stream.
func (Chat) NewStreamDecoder(r io.Reader) protocol.StreamDecoder { return newStreamDecoder(r) }

// NewStreamEncoder writes /api/chat NDJSON lines.
func (Chat) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return newStreamEncoder(w, flush, opts, false)
}
