package openai

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/frame"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// wChunk is the part of a chat.completion.chunk the decoder reads. Plain
// strings (null and "" mean the same here) keep decoding allocation-light.
type wChunk struct {
	Choices []wChoiceChunk  `json:"choices"`
	Usage   *wUsage         `json:"usage"`
	Error   json.RawMessage `json:"error"`
}

type wChoiceChunk struct {
	Index int `json:"index"`
	Delta struct {
		Content          string      `json:"content"`
		Reasoning        string      `json:"reasoning"`
		ReasoningContent string      `json:"reasoning_content"`
		Refusal          string      `json:"refusal"`
		ToolCalls        []wToolFrag `json:"tool_calls"`
	} `json:"delta"`
	Text         string `json:"text"` // legacy completions
	FinishReason string `json:"finish_reason"`
	StopReason   any    `json:"stop_reason"` // vLLM: matched stop string, token id or null
}

type wToolFrag struct {
	Index    int    `json:"index"`
	ID       string `json:"id"`
	Function struct {
		Name      string `json:"name"`
		Arguments string `json:"arguments"`
	} `json:"function"`
}

// wHead is read once, from the first chunk.
type wHead struct {
	ID    string `json:"id"`
	Model string `json:"model"`
}

// streamDecoder turns chat.completion.chunk SSE into canonical events.
type streamDecoder struct {
	frame.Decoder[frame.SSE]
	started bool
	stopped bool
	tools   []int // upstream tool index per canonical index
	jd      wire.Decoder
	c       wChunk
}

func newStreamDecoder(r io.Reader) *streamDecoder {
	return &streamDecoder{Decoder: frame.NewSSE(r)}
}

// Next implements protocol.StreamDecoder.
func (d *streamDecoder) Next() (protocol.Event, error) { return d.Decoder.Next(d) }

// EOF implements frame.Handler: a stream that ends after a finish_reason
// but without [DONE] ends cleanly (lenient); before one, it was cut.
func (d *streamDecoder) EOF() (protocol.Event, error) {
	if d.stopped {
		d.Done = true
		return protocol.Event{Kind: protocol.EvEnd}, nil
	}
	return protocol.Event{}, fmt.Errorf("%w: stream cut before finish_reason: %w", protocol.ErrUpstream, io.ErrUnexpectedEOF)
}

// Frame implements frame.Handler: data is one chunk's JSON or [DONE].
func (d *streamDecoder) Frame(data []byte) error {
	data = bytes.TrimSpace(data)
	if len(data) == 0 {
		return nil
	}
	if bytes.HasPrefix(data, []byte("[DONE]")) {
		d.Done = true
		if !d.stopped {
			return fmt.Errorf("%w: [DONE] before finish_reason: %w", protocol.ErrUpstream, io.ErrUnexpectedEOF)
		}
		d.Push(protocol.Event{Kind: protocol.EvEnd})
		return nil
	}
	if f, ok := readFastChunk(data); ok {
		if !d.started {
			d.started = true
			d.Push(protocol.Event{Kind: protocol.EvStart, ID: f.id, Model: f.model})
		}
		if f.text != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: f.text})
		}
		if f.finish != "" {
			d.stop(f.finish, f.stopSeq)
		}
		if f.hasUsage {
			d.Push(protocol.Event{Kind: protocol.EvUsage, Usage: f.usage.canonical()})
		}
		return nil
	}
	return d.handleFull(data)
}

// stop records a choice's finish_reason (with vLLM's matched stop string).
func (d *streamDecoder) stop(finish string, stopSeq any) {
	ev := protocol.Event{Kind: protocol.EvStop, Stop: StopFromFinish(finish)}
	if seq, ok := stopSeq.(string); ok && finish == "stop" && seq != "" {
		ev.StopSequence, ev.Stop = seq, protocol.StopSequence
	}
	d.stopped = true
	d.Push(ev)
}

// handleFull decodes a chunk of any shape with encoding/json.
func (d *streamDecoder) handleFull(data []byte) error {
	ch := d.c.Choices[:cap(d.c.Choices)]
	clear(ch)
	d.c = wChunk{Choices: ch[:0]}
	c := &d.c
	if err := d.jd.Decode(data, c); err != nil {
		return fmt.Errorf("%w: malformed chunk: %w", protocol.ErrUpstream, err)
	}
	if len(c.Error) > 0 && !jsonscan.IsNull(c.Error) {
		d.Done = true
		d.Push(upstreamError(c.Error))
		return nil
	}
	if !d.started {
		d.started = true
		var h wHead
		_ = json.Unmarshal(data, &h)
		d.Push(protocol.Event{Kind: protocol.EvStart, ID: h.ID, Model: h.Model})
	}
	for i := range c.Choices {
		ch := &c.Choices[i]
		if ch.Index != 0 {
			continue // n>1 is not translated
		}
		dl := &ch.Delta
		if s := dl.Reasoning; s != "" {
			d.Push(protocol.Event{Kind: protocol.EvReasoning, Text: s})
		} else if s := dl.ReasoningContent; s != "" {
			d.Push(protocol.Event{Kind: protocol.EvReasoning, Text: s})
		}
		if dl.Content != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: dl.Content})
		}
		if ch.Text != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: ch.Text})
		}
		if dl.Refusal != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: dl.Refusal})
		}
		for j := range dl.ToolCalls {
			tc := &dl.ToolCalls[j]
			k := -1
			for ci, ui := range d.tools {
				if ui == tc.Index {
					k = ci
					break
				}
			}
			if k < 0 {
				k = len(d.tools)
				d.tools = append(d.tools, tc.Index)
				d.Push(protocol.Event{Kind: protocol.EvToolStart, Index: k, ID: tc.ID, Name: tc.Function.Name})
			}
			if tc.Function.Arguments != "" {
				d.Push(protocol.Event{Kind: protocol.EvToolArgs, Index: k, Text: tc.Function.Arguments})
			}
		}
		if ch.FinishReason != "" {
			d.stop(ch.FinishReason, ch.StopReason)
		}
	}
	if c.Usage != nil {
		d.Push(protocol.Event{Kind: protocol.EvUsage, Usage: c.Usage.canonical()})
	}
	return nil
}

// fastChunk is what the decoder needs of a chunk of the common shapes.
type fastChunk struct {
	id, model, text, finish string
	stopSeq                 any // vLLM's stop_reason: nil or a string here
	usage                   wUsage
	hasUsage                bool
}

// readFastChunk reads the common chunks — content deltas, the role chunk,
// the finish chunk and the usage chunk, with at most one choice at index 0
// whose delta holds only role and content — without reflection. ok is false
// for any other shape (reasoning, refusals, tool calls, several choices,
// usage details, errors, unknown, escaped or differently cased keys), which
// then takes the full decoder; a differential fuzz target holds the two to
// the same events.
func readFastChunk(data []byte) (f fastChunk, ok bool) {
	var content []byte
	choices, usages := 0, 0
	ok = jsonscan.Every(data, func(k, v []byte) (ok bool) {
		switch string(k) {
		case "object", "created", "system_fingerprint", "service_tier":
			ok = true
		case "id":
			f.id, ok = jsonscan.Unquote(v)
		case "model":
			f.model, ok = jsonscan.Unquote(v)
		case "usage":
			if usages++; usages > 1 { // a repeated usage object merges in encoding/json
				return false
			}
			ok, f.hasUsage = true, string(v) != "null"
			if f.hasUsage {
				f.usage, ok = readUsage(v)
			}
		case "choices":
			choices++
			if v[0] != '[' {
				return false
			}
			inner := bytes.TrimSpace(v[1 : len(v)-1])
			ok = len(inner) == 0 || jsonscan.Every(inner, func(ck, cv []byte) (ok bool) {
				switch string(ck) {
				case "logprobs":
					ok = true
				case "index":
					ok = string(cv) == "0"
				case "finish_reason":
					ok = string(cv) == "null"
					if !ok {
						f.finish, ok = jsonscan.Unquote(cv)
					}
				case "stop_reason":
					switch {
					case cv[0] == '"':
						var s string
						s, ok = jsonscan.Unquote(cv)
						f.stopSeq = s
					case string(cv) == "null":
						f.stopSeq, ok = nil, true
					}
				case "delta":
					ok = jsonscan.Every(cv, func(dk, dv []byte) bool {
						switch string(dk) {
						case "role":
							return true
						case "content":
							return jsonscan.StringOrNull(&content, dv)
						}
						return false
					})
				}
				return ok
			})
		}
		return ok
	})
	if !ok || choices != 1 {
		return fastChunk{}, false
	}
	if content != nil {
		if f.text, ok = jsonscan.Unquote(content); !ok {
			return fastChunk{}, false
		}
	}
	return f, true
}

// readUsage reads a usage object holding only the three token counts.
func readUsage(v []byte) (u wUsage, ok bool) {
	ok = jsonscan.Every(v, func(k, n []byte) (ok bool) {
		switch string(k) {
		case "prompt_tokens":
			u.PromptTokens, ok = jsonscan.Int(n)
		case "completion_tokens":
			u.CompletionTokens, ok = jsonscan.Int(n)
		case "total_tokens":
			u.TotalTokens, ok = jsonscan.Int(n)
		}
		return ok
	})
	return u, ok
}

// upstreamError turns an in-stream {"error":...} member into an EvError.
func upstreamError(raw json.RawMessage) protocol.Event {
	ev := protocol.Event{Kind: protocol.EvError, Status: http.StatusBadGateway, Text: "upstream error"}
	var e struct {
		Message string          `json:"message"`
		Type    string          `json:"type"`
		Code    json.RawMessage `json:"code"`
	}
	if jsonscan.IsString(raw) {
		_ = json.Unmarshal(raw, &ev.Text)
		return ev
	}
	if json.Unmarshal(raw, &e) == nil {
		if e.Message != "" {
			ev.Text = e.Message
		}
		ev.Code = e.Type
		if n, err := strconv.Atoi(string(e.Code)); err == nil && n >= 400 && n < 600 {
			ev.Status = n
		}
		if e.Type == "rate_limit_exceeded" || e.Type == "insufficient_quota" {
			ev.Status = http.StatusTooManyRequests
		}
	}
	return ev
}

// streamEncoder writes canonical events as chat.completion.chunk (or, with
// legacy, text_completion) SSE events.
type streamEncoder struct {
	out     wire.Out
	opts    protocol.StreamOptions
	legacy  bool
	prefix  []byte // data: {"id":...,"choices":[
	started bool
	stopped bool
	usage   protocol.Usage
	toolIDs []string
}

func newStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions, legacy bool) *streamEncoder {
	return &streamEncoder{out: wire.NewOut(w, flush), opts: opts, legacy: legacy}
}

func (e *streamEncoder) begin(ev *protocol.Event) {
	if e.prefix != nil {
		return
	}
	prefix, obj := "chatcmpl-", "chat.completion.chunk"
	if e.legacy {
		prefix, obj = "cmpl-", "text_completion"
	}
	model, id := e.opts.ModelFor(ev), e.opts.ResponseID(prefix)
	b := append([]byte(nil), `data: {"id":`...)
	b = wire.AppendString(b, id)
	b = append(b, `,"object":"`...)
	b = append(b, obj...)
	b = append(b, `","created":`...)
	b = strconv.AppendInt(b, e.opts.Clock().Unix(), 10)
	b = append(b, `,"model":`...)
	b = wire.AppendString(b, model)
	b = append(b, `,"choices":[`...)
	e.prefix = b
}

// choice opens one chunk with one choice and its delta object.
func (e *streamEncoder) choice() {
	e.out.Buf = append(e.out.Buf, e.prefix...)
	if e.legacy {
		e.out.Buf = append(e.out.Buf, `{"index":0,"text":`...)
	} else {
		e.out.Buf = append(e.out.Buf, `{"index":0,"delta":{`...)
	}
}

// close ends the chunk started by choice with finish_reason.
func (e *streamEncoder) close(finish string) {
	b := e.out.Buf
	if e.legacy {
		b = append(b, `,"logprobs":null`...)
	} else {
		b = append(b, '}')
	}
	b = append(b, `,"finish_reason":`...)
	if finish == "" {
		b = append(b, "null"...)
	} else {
		b = wire.AppendString(b, finish)
	}
	b = append(b, "}]"...)
	if e.opts.IncludeUsage {
		b = append(b, `,"usage":null`...)
	}
	e.out.Buf = append(b, "}\n\n"...)
}

func (e *streamEncoder) roleChunk() {
	e.started = true
	if e.legacy {
		return
	}
	e.choice()
	e.out.Buf = append(e.out.Buf, `"role":"assistant","content":""`...)
	e.close("")
}

// Write implements protocol.StreamEncoder.
func (e *streamEncoder) Write(ev *protocol.Event) error {
	if e.out.Done {
		return nil
	}
	e.begin(ev)
	if !e.started && ev.Kind != protocol.EvError && ev.Kind != protocol.EvPing {
		e.roleChunk()
	}
	switch ev.Kind {
	case protocol.EvText:
		if ev.Text == "" {
			break
		}
		e.choice()
		if e.legacy {
			e.out.Buf = wire.AppendString(e.out.Buf, ev.Text)
		} else {
			e.out.Buf = append(e.out.Buf, `"content":`...)
			e.out.Buf = wire.AppendString(e.out.Buf, ev.Text)
		}
		e.close("")
	case protocol.EvReasoning:
		if ev.Text == "" || e.legacy {
			break
		}
		e.choice()
		e.out.Buf = append(e.out.Buf, `"reasoning_content":`...)
		e.out.Buf = wire.AppendString(e.out.Buf, ev.Text)
		e.close("")
	case protocol.EvToolStart:
		if !e.legacy {
			e.toolStart(ev)
		}
	case protocol.EvToolArgs:
		if e.legacy || ev.Text == "" {
			break
		}
		e.choice()
		b := append(e.out.Buf, `"tool_calls":[{"index":`...)
		b = wire.AppendInt(b, ev.Index)
		b = append(b, `,"function":{"arguments":`...)
		b = wire.AppendString(b, ev.Text)
		e.out.Buf = append(b, "}}]"...)
		e.close("")
	case protocol.EvStop:
		e.finish(FinishReason(ev.Stop))
	case protocol.EvUsage:
		e.usage = ev.Usage
	case protocol.EvPing:
		e.out.Buf = append(e.out.Buf, ": ping\n\n"...)
	case protocol.EvError:
		e.out.Buf = append(e.out.Buf, "data: "...)
		e.out.Buf = AppendError(e.out.Buf, errStatus(ev.Status), ev.Text)
		e.out.Buf = append(e.out.Buf, "\n\n"...)
		e.out.Done = true
	case protocol.EvEnd:
		e.end()
	}
	return e.out.Send()
}

// toolStart writes the chunk that opens a tool call, with the call's id
// (minted when the provider sent none) kept for its index.
func (e *streamEncoder) toolStart(ev *protocol.Event) {
	id := ev.ID
	if id == "" {
		id = e.opts.MintID("call_")
	}
	for len(e.toolIDs) <= ev.Index {
		e.toolIDs = append(e.toolIDs, "")
	}
	e.toolIDs[ev.Index] = id
	e.choice()
	b := append(e.out.Buf, `"tool_calls":[{"index":`...)
	b = wire.AppendInt(b, ev.Index)
	b = append(b, `,"id":`...)
	b = wire.AppendString(b, id)
	b = append(b, `,"type":"function","function":{"name":`...)
	b = wire.AppendString(b, ev.Name)
	e.out.Buf = append(b, `,"arguments":""}}]`...)
	e.close("")
}

// end writes the stream's last chunks: the finish reason (unless one was
// written), the usage chunk when the client asked for it, and [DONE].
func (e *streamEncoder) end() {
	e.finish("stop")
	if e.opts.IncludeUsage {
		b := append(e.out.Buf, e.prefix...)
		b = append(b, `],"usage":`...)
		u, _ := json.Marshal(encodeUsage(e.usage))
		b = append(b, u...)
		e.out.Buf = append(b, "}\n\n"...)
	}
	e.out.Buf = append(e.out.Buf, "data: [DONE]\n\n"...)
	e.out.Done = true
}

func (e *streamEncoder) finish(reason string) {
	if e.stopped {
		return
	}
	e.stopped = true
	e.choice()
	if e.legacy {
		e.out.Buf = append(e.out.Buf, `""`...)
	}
	e.close(reason)
}

func errStatus(s int) int {
	if s == 0 {
		return http.StatusBadGateway
	}
	return s
}
