package anthropic

import (
	"fmt"
	"io"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/frame"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// evType is an event or delta type, decoded without allocating.
type evType uint8

const (
	evUnknown evType = iota
	evMessageStart
	evBlockStart
	evBlockDelta
	evBlockStop
	evMessageDelta
	evMessageStop
	evPing
	evError
	evTextDelta
	evThinkingDelta
	evInputJSONDelta
)

// UnmarshalJSON maps the type string; unknown types are evUnknown.
func (t *evType) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case `"message_start"`:
		*t = evMessageStart
	case `"content_block_start"`:
		*t = evBlockStart
	case `"content_block_delta"`:
		*t = evBlockDelta
	case `"content_block_stop"`:
		*t = evBlockStop
	case `"message_delta"`:
		*t = evMessageDelta
	case `"message_stop"`:
		*t = evMessageStop
	case `"ping"`:
		*t = evPing
	case `"error"`:
		*t = evError
	case `"text_delta"`:
		*t = evTextDelta
	case `"thinking_delta"`:
		*t = evThinkingDelta
	case `"input_json_delta"`:
		*t = evInputJSONDelta
	default:
		*t = evUnknown
	}
	return nil
}

type aEvent struct {
	Type    evType `json:"type"`
	Message *struct {
		ID    string `json:"id"`
		Model string `json:"model"`
		Usage aUsage `json:"usage"`
	} `json:"message"`
	Index        int `json:"index"`
	ContentBlock *struct {
		Type string `json:"type"`
		ID   string `json:"id"`
		Name string `json:"name"`
		Text string `json:"text"`
	} `json:"content_block"`
	Delta struct {
		Type         evType  `json:"type"`
		Text         string  `json:"text"`
		Thinking     string  `json:"thinking"`
		PartialJSON  string  `json:"partial_json"`
		StopReason   string  `json:"stop_reason"`
		StopSequence *string `json:"stop_sequence"`
	} `json:"delta"`
	Usage *aUsageDelta `json:"usage"`
	Error *struct {
		Type    string `json:"type"`
		Message string `json:"message"`
	} `json:"error"`
}

// aUsageDelta is the usage of a message_delta event: the counts it
// carries replace the ones so far.
type aUsageDelta struct {
	InputTokens              *int `json:"input_tokens"`
	OutputTokens             *int `json:"output_tokens"`
	CacheCreationInputTokens *int `json:"cache_creation_input_tokens"`
	CacheReadInputTokens     *int `json:"cache_read_input_tokens"`
}

// streamDecoder turns Messages SSE into canonical events.
type streamDecoder struct {
	frame.Decoder[frame.SSE]
	started bool
	usage   aUsage
	blocks  []int // canonical tool index per content block index (-1: not a tool)
	tools   int
	jd      wire.Decoder
	e       aEvent
}

func newStreamDecoder(r io.Reader) *streamDecoder {
	return &streamDecoder{Decoder: frame.NewSSE(r)}
}

// Next implements protocol.StreamDecoder.
func (d *streamDecoder) Next() (protocol.Event, error) { return d.Decoder.Next(d) }

// EOF implements frame.Handler: a Messages stream ends with message_stop.
func (d *streamDecoder) EOF() (protocol.Event, error) {
	return protocol.Event{}, fmt.Errorf("%w: stream cut before message_stop: %w", protocol.ErrUpstream, io.ErrUnexpectedEOF)
}

// Frame implements frame.Handler: data is one event's JSON.
func (d *streamDecoder) Frame(data []byte) error {
	if d.started {
		if text, ok := textDelta(data); ok {
			if text != "" {
				d.Push(protocol.Event{Kind: protocol.EvText, Text: text})
			}
			return nil
		}
	}
	d.e = aEvent{}
	e := &d.e
	if err := d.jd.Decode(data, e); err != nil {
		return fmt.Errorf("%w: malformed event: %w", protocol.ErrUpstream, err)
	}
	if !d.started && e.Type != evPing && e.Type != evError {
		d.started = true
		ev := protocol.Event{Kind: protocol.EvStart}
		if e.Message != nil {
			d.usage = e.Message.Usage
			ev.ID, ev.Model, ev.Usage = e.Message.ID, e.Message.Model, d.usage.canonical()
		}
		d.Push(ev)
		if e.Type == evMessageStart {
			return nil
		}
	}
	switch e.Type {
	case evBlockStart:
		return d.blockStart(e)
	case evBlockDelta:
		switch e.Delta.Type {
		case evTextDelta:
			if e.Delta.Text != "" {
				d.Push(protocol.Event{Kind: protocol.EvText, Text: e.Delta.Text})
			}
		case evThinkingDelta:
			if e.Delta.Thinking != "" {
				d.Push(protocol.Event{Kind: protocol.EvReasoning, Text: e.Delta.Thinking})
			}
		case evInputJSONDelta:
			if e.Index < 0 || e.Index >= len(d.blocks) || d.blocks[e.Index] < 0 {
				return fmt.Errorf("%w: input_json_delta for block %d which is not a tool_use", protocol.ErrUpstream, e.Index)
			}
			if e.Delta.PartialJSON != "" {
				d.Push(protocol.Event{Kind: protocol.EvToolArgs, Index: d.blocks[e.Index], Text: e.Delta.PartialJSON})
			}
		}
	case evMessageDelta:
		d.addUsage(e.Usage)
		if e.Delta.StopReason != "" {
			ev := protocol.Event{Kind: protocol.EvStop, Stop: StopFrom(e.Delta.StopReason)}
			if e.Delta.StopSequence != nil {
				ev.StopSequence = *e.Delta.StopSequence
			}
			d.Push(ev)
		}
		d.Push(protocol.Event{Kind: protocol.EvUsage, Usage: d.usage.canonical()})
	case evMessageStop:
		d.Done = true
		d.Push(protocol.Event{Kind: protocol.EvEnd})
	case evPing:
		d.Push(protocol.Event{Kind: protocol.EvPing})
	case evError:
		d.Done = true
		ev := protocol.Event{Kind: protocol.EvError, Status: http.StatusBadGateway, Text: "upstream error"}
		if e.Error != nil {
			ev.Status, ev.Code = statusOf(e.Error.Type), e.Error.Type
			if e.Error.Message != "" {
				ev.Text = e.Error.Message
			}
		}
		d.Push(ev)
	}
	return nil
}

// blockStart handles content_block_start: it maps the block's index to
// the canonical tool index (a tool_use block) and pushes the tool's start,
// or the text a text block starts with.
func (d *streamDecoder) blockStart(e *aEvent) error {
	if e.ContentBlock == nil {
		return fmt.Errorf("%w: content_block_start without content_block", protocol.ErrUpstream)
	}
	if e.Index < 0 || e.Index > len(d.blocks)+1024 {
		return fmt.Errorf("%w: content block index %d out of range", protocol.ErrUpstream, e.Index)
	}
	for len(d.blocks) <= e.Index {
		d.blocks = append(d.blocks, -1)
	}
	switch e.ContentBlock.Type {
	case "tool_use":
		d.blocks[e.Index] = d.tools
		d.Push(protocol.Event{Kind: protocol.EvToolStart, Index: d.tools, ID: e.ContentBlock.ID, Name: e.ContentBlock.Name})
		d.tools++
	case "text":
		if e.ContentBlock.Text != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: e.ContentBlock.Text})
		}
	}
	return nil
}

// addUsage takes the counts a message_delta carries (u may be nil).
func (d *streamDecoder) addUsage(u *aUsageDelta) {
	if u == nil {
		return
	}
	if u.InputTokens != nil {
		d.usage.InputTokens = *u.InputTokens
	}
	if u.OutputTokens != nil {
		d.usage.OutputTokens = *u.OutputTokens
	}
	if u.CacheReadInputTokens != nil {
		d.usage.CacheReadInputTokens = *u.CacheReadInputTokens
	}
	if u.CacheCreationInputTokens != nil {
		d.usage.CacheCreationInputTokens = *u.CacheCreationInputTokens
	}
}

type blockKind uint8

const (
	blockNone blockKind = iota
	blockText
	blockThinking
	blockTool
)

// streamEncoder writes canonical events as Messages SSE events.
type streamEncoder struct {
	out      wire.Out
	opts     protocol.StreamOptions
	started  bool
	next     int       // next content block index
	open     blockKind // kind of the open block
	openIdx  int       // its block index
	openTool int       // canonical tool index of an open tool block
	tools    []int     // block index per canonical tool index (-1 unknown)
	stop     protocol.StopReason
	stopSeq  string
	usage    protocol.Usage
}

func newStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) *streamEncoder {
	return &streamEncoder{out: wire.NewOut(w, flush), opts: opts, openTool: -1}
}

func (e *streamEncoder) event(name string) {
	e.out.Buf = append(e.out.Buf, "event: "...)
	e.out.Buf = append(e.out.Buf, name...)
	e.out.Buf = append(e.out.Buf, "\ndata: "...)
}

func (e *streamEncoder) start(ev *protocol.Event) {
	e.started = true
	model, id := e.opts.ModelFor(ev), e.opts.ResponseID("msg_")
	e.usage = ev.Usage
	u := usageOf(ev.Usage)
	e.event("message_start")
	b := append(e.out.Buf, `{"type":"message_start","message":{"id":`...)
	b = wire.AppendString(b, id)
	b = append(b, `,"type":"message","role":"assistant","model":`...)
	b = wire.AppendString(b, model)
	b = append(b, `,"content":[],"stop_reason":null,"stop_sequence":null,"usage":{`...)
	b = appendUsage(b, u)
	e.out.Buf = append(b, "}}}\n\n"...)
}

// appendUsage appends the members of a Messages usage object.
func appendUsage(b []byte, u aUsage) []byte {
	b = append(b, `"input_tokens":`...)
	b = wire.AppendInt(b, u.InputTokens)
	b = append(b, `,"cache_creation_input_tokens":`...)
	b = wire.AppendInt(b, u.CacheCreationInputTokens)
	b = append(b, `,"cache_read_input_tokens":`...)
	b = wire.AppendInt(b, u.CacheReadInputTokens)
	b = append(b, `,"output_tokens":`...)
	return wire.AppendInt(b, u.OutputTokens)
}

func (e *streamEncoder) closeOpen() {
	if e.open == blockNone {
		return
	}
	e.event("content_block_stop")
	b := append(e.out.Buf, `{"type":"content_block_stop","index":`...)
	b = wire.AppendInt(b, e.openIdx)
	e.out.Buf = append(b, "}\n\n"...)
	e.open, e.openTool = blockNone, -1
}

func (e *streamEncoder) openBlock(k blockKind, head string) {
	e.closeOpen()
	e.open, e.openIdx = k, e.next
	e.next++
	e.event("content_block_start")
	b := append(e.out.Buf, `{"type":"content_block_start","index":`...)
	b = wire.AppendInt(b, e.openIdx)
	b = append(b, `,"content_block":`...)
	e.out.Buf = append(b, head...)
}

func (e *streamEncoder) delta(typ, field, text string) {
	e.event("content_block_delta")
	b := append(e.out.Buf, `{"type":"content_block_delta","index":`...)
	b = wire.AppendInt(b, e.openIdx)
	b = append(b, `,"delta":{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","`...)
	b = append(b, field...)
	b = append(b, `":`...)
	b = wire.AppendString(b, text)
	e.out.Buf = append(b, "}}\n\n"...)
}

// Write implements protocol.StreamEncoder.
func (e *streamEncoder) Write(ev *protocol.Event) error {
	if e.out.Done {
		return nil
	}
	if !e.started && ev.Kind != protocol.EvError && ev.Kind != protocol.EvPing {
		e.start(ev)
	}
	switch ev.Kind {
	case protocol.EvText:
		if ev.Text == "" {
			break
		}
		if e.open != blockText {
			e.openBlock(blockText, `{"type":"text","text":""}}`+"\n\n")
		}
		e.delta("text_delta", "text", ev.Text)
	case protocol.EvReasoning:
		if ev.Text == "" {
			break
		}
		if e.open != blockThinking {
			e.openBlock(blockThinking, `{"type":"thinking","thinking":"","signature":""}}`+"\n\n")
		}
		e.delta("thinking_delta", "thinking", ev.Text)
	case protocol.EvToolStart:
		e.toolStart(ev)
	case protocol.EvToolArgs:
		if ev.Text == "" {
			break
		}
		if e.open != blockTool || e.openTool != ev.Index {
			// An upstream interleaved arguments of several calls after the
			// block was closed: refuse rather than send a corrupt call.
			return e.fail(http.StatusBadGateway, "upstream interleaved tool call arguments; cannot re-encode as Anthropic events")
		}
		e.delta("input_json_delta", "partial_json", ev.Text)
	case protocol.EvStop:
		e.closeOpen()
		e.stop, e.stopSeq = ev.Stop, ev.StopSequence
	case protocol.EvUsage:
		e.usage = ev.Usage
	case protocol.EvPing:
		e.out.Buf = append(e.out.Buf, "event: ping\ndata: {\"type\":\"ping\"}\n\n"...)
	case protocol.EvError:
		return e.fail(ev.Status, ev.Text)
	case protocol.EvEnd:
		e.end()
	}
	return e.out.Send()
}

// toolStart opens a tool_use block (with the call's id, minted when the
// provider sent none) and maps the canonical tool index to it.
func (e *streamEncoder) toolStart(ev *protocol.Event) {
	id := ev.ID
	if id == "" {
		id = e.opts.MintID("toolu_")
	}
	head := append([]byte(`{"type":"tool_use","id":`), wire.AppendString(nil, id)...)
	head = append(head, `,"name":`...)
	head = wire.AppendString(head, ev.Name)
	head = append(head, ",\"input\":{}}}\n\n"...)
	e.openBlock(blockTool, string(head))
	for len(e.tools) <= ev.Index {
		e.tools = append(e.tools, -1)
	}
	e.tools[ev.Index] = e.openIdx
	e.openTool = ev.Index
}

// end closes the open block and writes message_delta (stop reason, stop
// sequence, usage) and message_stop.
func (e *streamEncoder) end() {
	e.closeOpen()
	if e.stop == "" {
		e.stop = protocol.StopEnd
	}
	u := usageOf(e.usage)
	e.event("message_delta")
	b := append(e.out.Buf, `{"type":"message_delta","delta":{"stop_reason":"`...)
	b = append(b, StopReason(e.stop)...)
	b = append(b, `","stop_sequence":`...)
	if e.stop == protocol.StopSequence && e.stopSeq != "" {
		b = wire.AppendString(b, e.stopSeq)
	} else {
		b = append(b, "null"...)
	}
	b = append(b, `},"usage":{`...)
	b = appendUsage(b, u)
	b = append(b, "}}\n\n"...)
	e.out.Buf = append(b, "event: message_stop\ndata: {\"type\":\"message_stop\"}\n\n"...)
	e.out.Done = true
}

func (e *streamEncoder) fail(status int, msg string) error {
	if status == 0 {
		status = http.StatusBadGateway
	}
	e.event("error")
	e.out.Buf = AppendError(e.out.Buf, status, msg)
	e.out.Buf = append(e.out.Buf, "\n\n"...)
	e.out.Done = true
	return e.out.Send()
}

// textDelta reads the most common event — {"type":"content_block_delta",
// "index":N,"delta":{"type":"text_delta","text":...}} — without reflection.
// ok is false for any other shape, which then takes the full decoder; a
// differential fuzz target holds the two to the same answer.
func textDelta(data []byte) (text string, ok bool) {
	var typ, dtyp, txt []byte
	ok = jsonscan.Every(data, func(k, v []byte) (ok bool) {
		switch string(k) {
		case "type":
			typ, ok = v, true
		case "index":
			_, ok = jsonscan.Int(v)
		case "delta":
			ok = jsonscan.Every(v, func(dk, dv []byte) bool {
				switch string(dk) {
				case "type":
					dtyp = dv
					return true
				case "text":
					return jsonscan.StringOrNull(&txt, dv)
				}
				return false
			})
		}
		return ok
	})
	if !ok || string(typ) != `"content_block_delta"` || string(dtyp) != `"text_delta"` {
		return "", false
	}
	if txt == nil {
		return "", true
	}
	return jsonscan.Unquote(txt)
}
