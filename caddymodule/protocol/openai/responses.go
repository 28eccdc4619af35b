package openai

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Responses is the client-facing /v1/responses codec: it turns a Responses
// request into a canonical chat request and renders canonical answers and
// streams as Responses objects and events, so a chat-only provider can serve
// it. previous_response_id, store, include and other stateful members stay
// in Extra; encoders of other dialects reject previous_response_id,
// conversation, background and prompt (see Request.Untranslatable).
type Responses struct{}

var _ protocol.ClientCodec = Responses{}

// Dialect returns protocol.OpenAIResponses.
func (Responses) Dialect() protocol.Dialect { return protocol.OpenAIResponses }

// StreamContentType returns text/event-stream.
func (Responses) StreamContentType() string { return "text/event-stream" }

// WriteError writes an OpenAI error object.
func (Responses) WriteError(w http.ResponseWriter, status int, msg string) {
	WriteError(w, status, msg)
}

// DecodeRequest parses a /v1/responses body.
func (Responses) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.OpenAIResponses, IncludeUsage: true}
	r.Model = o.Str("model")
	if s := o.Str("instructions"); s != "" {
		r.System = []protocol.Part{{Kind: protocol.PartText, Text: s}}
	}
	in := o.Take("input")
	switch {
	case in == nil:
		o.Failf("input", "required")
	case jsonscan.IsString(in):
		var s string
		_ = json.Unmarshal(in, &s)
		r.Messages = []protocol.Message{{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: s}}}}
	default:
		var items []json.RawMessage
		if err := json.Unmarshal(in, &items); err != nil {
			o.Failf("input", "must be a string or an array of input items")
			break
		}
		for i, it := range items {
			if err := decodeItem(r, it, wire.Idx("input", i)); err != nil {
				o.Fail(err)
				break
			}
		}
	}
	decodeCommon(o, r)
	r.IncludeUsage = true
	r.MaxTokens = o.Int("max_output_tokens")
	if rs := o.Object("reasoning"); rs != nil {
		if e := rs.Str("effort"); e != "" {
			r.Reasoning = &protocol.Reasoning{Effort: e, Off: e == "none"}
		}
		o.Fail(rs.Err())
	}
	decodeTools(o, r, true)
	if tx := o.Object("text"); tx != nil {
		if f := tx.Object("format"); f != nil {
			r.Format = decodeFormat(f, true)
			tx.Fail(f.Err())
		}
		o.Fail(tx.Err())
	}
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

func decodeItem(r *protocol.Request, raw json.RawMessage, path string) error {
	o, err := wire.Parse(raw, path)
	if err != nil {
		return err
	}
	typ := o.Str("type")
	if typ == "" && o.Has("role") {
		typ = "message"
	}
	last := func(role protocol.Role) *protocol.Message {
		if n := len(r.Messages); n > 0 && r.Messages[n-1].Role == role {
			return &r.Messages[n-1]
		}
		r.Messages = append(r.Messages, protocol.Message{Role: role})
		return &r.Messages[len(r.Messages)-1]
	}
	switch typ {
	case "message":
		role := o.Str("role")
		parts, err := decodeContent(o.Take("content"), o.F("content"))
		if err != nil {
			return err
		}
		switch role {
		case "system", "developer":
			if len(r.Messages) == 0 {
				r.System = append(r.System, parts...)
			} else {
				r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleSystem, Parts: parts})
			}
		case "user":
			r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleUser, Parts: parts})
		case "assistant":
			m := last(protocol.RoleAssistant)
			m.Parts = append(m.Parts, parts...)
		default:
			return protocol.Errorf(o.F("role"), "unsupported role %q", role)
		}
	case "function_call":
		args, err := wire.CompactObject([]byte(o.Str("arguments")))
		if err != nil {
			return protocol.Errorf(o.F("arguments"), "invalid JSON")
		}
		m := last(protocol.RoleAssistant)
		m.Parts = append(m.Parts, protocol.Part{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: o.Str("call_id"), Name: o.Str("name"), Args: args}})
	case "function_call_output":
		id := o.Str("call_id")
		out := o.Take("output")
		parts, err := decodeContent(out, o.F("output"))
		if err != nil {
			return err
		}
		res := &protocol.ToolResult{CallID: id, Name: r.ToolName(id), Content: parts}
		r.Messages = append(r.Messages, protocol.Message{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: res}}})
	case "reasoning":
		// reasoning items are only meaningful to OpenAI itself: dropped when translating
	default:
		m := last(protocol.RoleUser)
		m.Parts = append(m.Parts, protocol.Part{Kind: protocol.PartOther, Raw: raw, Origin: protocol.OpenAIResponses})
	}
	return o.Err()
}

// Responses objects

type rContent struct {
	Type        string `json:"type"`
	Text        string `json:"text"`
	Annotations []any  `json:"annotations"`
	Logprobs    []any  `json:"logprobs"`
}

type rSummary struct {
	Type string `json:"type"`
	Text string `json:"text"`
}

type rItem struct {
	ID        string     `json:"id"`
	Type      string     `json:"type"`
	Status    string     `json:"status,omitempty"`
	Role      string     `json:"role,omitempty"`
	Content   []rContent `json:"content,omitzero"`
	Summary   []rSummary `json:"summary,omitzero"`
	CallID    string     `json:"call_id,omitempty"`
	Name      string     `json:"name,omitempty"`
	Arguments *string    `json:"arguments,omitempty"`
}

type rUsage struct {
	InputTokens        int `json:"input_tokens"`
	InputTokensDetails struct {
		CachedTokens int `json:"cached_tokens"`
	} `json:"input_tokens_details"`
	OutputTokens        int `json:"output_tokens"`
	OutputTokensDetails struct {
		ReasoningTokens int `json:"reasoning_tokens"`
	} `json:"output_tokens_details"`
	TotalTokens int `json:"total_tokens"`
}

type rError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type rResponse struct {
	ID                string  `json:"id"`
	Object            string  `json:"object"`
	CreatedAt         int64   `json:"created_at"`
	Status            string  `json:"status"`
	Model             string  `json:"model"`
	Output            []rItem `json:"output"`
	Usage             *rUsage `json:"usage"`
	Error             *rError `json:"error"`
	IncompleteDetails *struct {
		Reason string `json:"reason"`
	} `json:"incomplete_details"`
	ParallelToolCalls bool  `json:"parallel_tool_calls"`
	ToolChoice        any   `json:"tool_choice"`
	Tools             []any `json:"tools"`
}

func rUsageOf(u protocol.Usage) *rUsage {
	ru := &rUsage{InputTokens: u.Input, OutputTokens: u.Output, TotalTokens: u.Total()}
	ru.InputTokensDetails.CachedTokens = u.CacheRead
	ru.OutputTokensDetails.ReasoningTokens = u.Reasoning
	return ru
}

// statusOf maps a stop reason to a Responses status and incomplete reason.
func statusOf(s protocol.StopReason) (string, string) {
	switch s {
	case protocol.StopLength:
		return "incomplete", "max_output_tokens"
	case protocol.StopContentFilter:
		return "incomplete", "content_filter"
	}
	return "completed", ""
}

func newRResponse(id, model string, createdAt int64) *rResponse {
	return &rResponse{ID: id, Object: "response", CreatedAt: createdAt, Status: "in_progress", Model: model,
		Output: []rItem{}, ParallelToolCalls: true, ToolChoice: "auto", Tools: []any{}}
}

func (rr *rResponse) finish(stop protocol.StopReason, u protocol.Usage) {
	st, reason := statusOf(stop)
	rr.Status, rr.Usage = st, rUsageOf(u)
	if reason != "" {
		rr.IncompleteDetails = &struct {
			Reason string `json:"reason"`
		}{reason}
	}
}

// EncodeResponse renders r as a Responses response object.
func (Responses) EncodeResponse(r *protocol.Response) ([]byte, error) {
	rr := newRResponse(wire.IDWithPrefix(r.ID, "resp_"), r.Model, created(r.Created))
	var reasoning, text strings.Builder
	for i := range r.Parts {
		switch p := &r.Parts[i]; p.Kind {
		case protocol.PartReasoning:
			reasoning.WriteString(p.Text)
		case protocol.PartText:
			text.WriteString(p.Text)
		}
	}
	if reasoning.Len() > 0 {
		rr.Output = append(rr.Output, rItem{ID: wire.NewID("rs_"), Type: "reasoning", Summary: []rSummary{{"summary_text", reasoning.String()}}})
	}
	if text.Len() > 0 {
		rr.Output = append(rr.Output, rItem{ID: wire.NewID("msg_"), Type: "message", Status: "completed", Role: "assistant",
			Content: []rContent{{Type: "output_text", Text: text.String(), Annotations: []any{}, Logprobs: []any{}}}})
	}
	for i := range r.Parts {
		if p := &r.Parts[i]; p.Kind == protocol.PartToolCall {
			args := string(p.Call.Args)
			id := p.Call.ID
			if id == "" {
				id = wire.NewID("call_")
			}
			rr.Output = append(rr.Output, rItem{ID: wire.NewID("fc_"), Type: "function_call", Status: "completed", CallID: id, Name: p.Call.Name, Arguments: &args})
		}
	}
	rr.finish(r.Stop, r.Usage)
	return json.Marshal(rr)
}

// NewStreamEncoder writes Responses SSE events (response.created ...
// response.completed, then data: [DONE]).
func (Responses) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return &respEncoder{out: wire.NewOut(w, flush), opts: opts, openTool: -1}
}

type respEncoder struct {
	out      wire.Out
	opts     protocol.StreamOptions
	resp     *rResponse
	seq      int
	open     string // "", "reasoning", "message", "function_call"
	item     rItem
	itemRaw  []byte // "item_id":"...","output_index":N
	acc      strings.Builder
	openTool int
	stop     protocol.StopReason
	usage    protocol.Usage
}

// event starts an SSE event of type typ up to the members after sequence_number.
func (e *respEncoder) event(typ string) {
	b := append(e.out.Buf, "event: "...)
	b = append(b, typ...)
	b = append(b, "\ndata: {\"type\":\""...)
	b = append(b, typ...)
	b = append(b, `","sequence_number":`...)
	b = wire.AppendInt(b, e.seq)
	e.seq++
	e.out.Buf = b
}

func (e *respEncoder) end() { e.out.Buf = append(e.out.Buf, "}\n\n"...) }

func (e *respEncoder) withJSON(key string, v any) {
	b, _ := json.Marshal(v)
	e.out.Buf = append(e.out.Buf, ',', '"')
	e.out.Buf = append(e.out.Buf, key...)
	e.out.Buf = append(e.out.Buf, '"', ':')
	e.out.Buf = append(e.out.Buf, b...)
}

func (e *respEncoder) withRaw(s string) { e.out.Buf = append(e.out.Buf, s...) }

func (e *respEncoder) start(ev *protocol.Event) {
	e.resp = newRResponse(e.opts.ResponseID("resp_"), e.opts.ModelFor(ev), e.opts.Clock().Unix())
	e.event("response.created")
	e.withJSON("response", e.resp)
	e.end()
	e.event("response.in_progress")
	e.withJSON("response", e.resp)
	e.end()
}

func (e *respEncoder) openItem(kind string, it rItem) {
	e.closeItem()
	e.open, e.item = kind, it
	e.acc.Reset()
	idx := len(e.resp.Output)
	e.itemRaw = append(e.itemRaw[:0], `,"item_id":`...)
	e.itemRaw = wire.AppendString(e.itemRaw, it.ID)
	e.itemRaw = append(e.itemRaw, `,"output_index":`...)
	e.itemRaw = wire.AppendInt(e.itemRaw, idx)
	e.event("response.output_item.added")
	e.withRaw(`,"output_index":` + string(wire.AppendInt(nil, idx)))
	e.withJSON("item", it)
	e.end()
	switch kind {
	case "message":
		e.event("response.content_part.added")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"content_index":0`)
		e.withJSON("part", rContent{Type: "output_text", Annotations: []any{}, Logprobs: []any{}})
		e.end()
	case "reasoning":
		e.event("response.reasoning_summary_part.added")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"summary_index":0`)
		e.withJSON("part", rSummary{Type: "summary_text"})
		e.end()
	}
}

func (e *respEncoder) closeItem() {
	if e.open == "" {
		return
	}
	text := e.acc.String()
	it := e.item
	it.Status = "completed"
	switch e.open {
	case "message":
		part := rContent{Type: "output_text", Text: text, Annotations: []any{}, Logprobs: []any{}}
		it.Content = []rContent{part}
		e.event("response.output_text.done")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"content_index":0`)
		e.withJSON("text", text)
		e.withRaw(`,"logprobs":[]`)
		e.end()
		e.event("response.content_part.done")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"content_index":0`)
		e.withJSON("part", part)
		e.end()
	case "reasoning":
		it.Status = ""
		it.Summary = []rSummary{{"summary_text", text}}
		e.event("response.reasoning_summary_text.done")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"summary_index":0`)
		e.withJSON("text", text)
		e.end()
		e.event("response.reasoning_summary_part.done")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withRaw(`,"summary_index":0`)
		e.withJSON("part", it.Summary[0])
		e.end()
	case "function_call":
		it.Arguments = &text
		e.event("response.function_call_arguments.done")
		e.out.Buf = append(e.out.Buf, e.itemRaw...)
		e.withJSON("arguments", text)
		e.end()
	}
	e.event("response.output_item.done")
	e.withRaw(`,"output_index":` + string(wire.AppendInt(nil, len(e.resp.Output))))
	e.withJSON("item", it)
	e.end()
	e.resp.Output = append(e.resp.Output, it)
	e.open, e.openTool = "", -1
}

func (e *respEncoder) delta(typ, extra, text string) {
	e.acc.WriteString(text)
	e.event(typ)
	e.out.Buf = append(e.out.Buf, e.itemRaw...)
	e.out.Buf = append(e.out.Buf, extra...)
	e.out.Buf = append(e.out.Buf, `,"delta":`...)
	e.out.Buf = wire.AppendString(e.out.Buf, text)
	e.end()
}

// Write implements protocol.StreamEncoder.
func (e *respEncoder) Write(ev *protocol.Event) error {
	if e.out.Done {
		return nil
	}
	if e.resp == nil && ev.Kind != protocol.EvPing {
		e.start(ev)
	}
	switch ev.Kind {
	case protocol.EvText:
		if ev.Text == "" {
			break
		}
		if e.open != "message" {
			e.openItem("message", rItem{ID: e.opts.MintID("msg_"), Type: "message", Status: "in_progress", Role: "assistant", Content: []rContent{}})
		}
		e.delta("response.output_text.delta", `,"content_index":0,"logprobs":[]`, ev.Text)
	case protocol.EvReasoning:
		if ev.Text == "" {
			break
		}
		if e.open != "reasoning" {
			e.openItem("reasoning", rItem{ID: e.opts.MintID("rs_"), Type: "reasoning", Summary: []rSummary{}})
		}
		e.delta("response.reasoning_summary_text.delta", `,"summary_index":0`, ev.Text)
	case protocol.EvToolStart:
		id := ev.ID
		if id == "" {
			id = e.opts.MintID("call_")
		}
		empty := ""
		e.openItem("function_call", rItem{ID: e.opts.MintID("fc_"), Type: "function_call", Status: "in_progress", CallID: id, Name: ev.Name, Arguments: &empty})
		e.openTool = ev.Index
	case protocol.EvToolArgs:
		if ev.Text == "" {
			break
		}
		if e.open != "function_call" || e.openTool != ev.Index {
			return e.fail(http.StatusBadGateway, "upstream interleaved tool call arguments; cannot re-encode as Responses events")
		}
		e.delta("response.function_call_arguments.delta", "", ev.Text)
	case protocol.EvStop:
		e.closeItem()
		e.stop = ev.Stop
	case protocol.EvUsage:
		e.usage = ev.Usage
	case protocol.EvPing:
		e.out.Buf = append(e.out.Buf, ": ping\n\n"...)
	case protocol.EvError:
		return e.fail(ev.Status, ev.Text)
	case protocol.EvEnd:
		e.closeItem()
		e.resp.finish(e.stop, e.usage)
		typ := "response.completed"
		if e.resp.Status == "incomplete" {
			typ = "response.incomplete"
		}
		e.event(typ)
		e.withJSON("response", e.resp)
		e.end()
		e.out.Buf = append(e.out.Buf, "data: [DONE]\n\n"...)
		e.out.Done = true
	}
	return e.out.Send()
}

func (e *respEncoder) fail(status int, msg string) error {
	if e.resp == nil {
		e.start(&protocol.Event{})
	}
	code := ErrorType(errStatus(status))
	e.event("error")
	e.withJSON("code", code)
	e.withJSON("message", msg)
	e.withRaw(`,"param":null`)
	e.end()
	e.resp.Status = "failed"
	e.resp.Error = &rError{Code: code, Message: msg}
	e.event("response.failed")
	e.withJSON("response", e.resp)
	e.end()
	e.out.Done = true
	return e.out.Send()
}
