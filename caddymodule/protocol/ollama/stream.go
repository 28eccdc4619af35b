package ollama

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/frame"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// sLine is the part of an NDJSON line the stream decoder reads.
type sLine struct {
	Message struct {
		Content   string      `json:"content"`
		Thinking  string      `json:"thinking"`
		ToolCalls []oToolCall `json:"tool_calls"`
	} `json:"message"`
	Response        string          `json:"response"` // /api/generate
	Thinking        string          `json:"thinking"` // /api/generate
	Done            bool            `json:"done"`
	DoneReason      string          `json:"done_reason"`
	PromptEvalCount int             `json:"prompt_eval_count"`
	EvalCount       int             `json:"eval_count"`
	Error           json.RawMessage `json:"error"`
}

// streamDecoder turns Ollama NDJSON lines into canonical events.
type streamDecoder struct {
	frame.Decoder[frame.NDJSON]
	started bool
	tools   int
	jd      wire.Decoder
	l       sLine
}

func newStreamDecoder(r io.Reader) *streamDecoder {
	return &streamDecoder{Decoder: frame.NewNDJSON(r)}
}

// Next implements protocol.StreamDecoder.
func (d *streamDecoder) Next() (protocol.Event, error) { return d.Decoder.Next(d) }

// EOF implements frame.Handler: an Ollama stream ends with a done line.
func (d *streamDecoder) EOF() (protocol.Event, error) {
	return protocol.Event{}, fmt.Errorf("%w: stream cut before done: %w", protocol.ErrUpstream, io.ErrUnexpectedEOF)
}

// Frame implements frame.Handler: line is one NDJSON line.
func (d *streamDecoder) Frame(line []byte) error {
	if f, ok := readFastLine(line); ok {
		d.start(f.model)
		if f.text != "" {
			d.Push(protocol.Event{Kind: protocol.EvText, Text: f.text})
		}
		if f.done {
			d.finish(f.doneReason, f.promptEval, f.eval)
		}
		return nil
	}
	tc := d.l.Message.ToolCalls[:cap(d.l.Message.ToolCalls)]
	clear(tc)
	d.l = sLine{}
	d.l.Message.ToolCalls = tc[:0]
	l := &d.l
	if err := d.jd.Decode(line, l); err != nil {
		return fmt.Errorf("%w: malformed NDJSON line: %w", protocol.ErrUpstream, err)
	}
	if !jsonscan.IsNull(l.Error) {
		d.Done = true
		ev := protocol.Event{Kind: protocol.EvError, Status: http.StatusBadGateway, Text: "upstream error"}
		var s string
		if json.Unmarshal(l.Error, &s) == nil && s != "" {
			ev.Text = s
		}
		d.Push(ev)
		return nil
	}
	if !d.started {
		var h struct {
			Model string `json:"model"`
		}
		_ = json.Unmarshal(line, &h)
		d.start(h.Model)
	}
	m := &l.Message
	if th := m.Thinking + l.Thinking; th != "" {
		d.Push(protocol.Event{Kind: protocol.EvReasoning, Text: th})
	}
	if tx := m.Content + l.Response; tx != "" {
		d.Push(protocol.Event{Kind: protocol.EvText, Text: tx})
	}
	for _, tc := range m.ToolCalls {
		args, err := wire.CompactObject(tc.Function.Arguments)
		if err != nil {
			return fmt.Errorf("%w: tool call arguments: %w", protocol.ErrUpstream, err)
		}
		d.Push(protocol.Event{Kind: protocol.EvToolStart, Index: d.tools, ID: tc.ID, Name: tc.Function.Name})
		d.Push(protocol.Event{Kind: protocol.EvToolArgs, Index: d.tools, Text: string(args)})
		d.tools++
	}
	if l.Done {
		d.finish(l.DoneReason, l.PromptEvalCount, l.EvalCount)
	}
	return nil
}

// start opens the stream with the model of its first line.
func (d *streamDecoder) start(model string) {
	if !d.started {
		d.started = true
		d.Push(protocol.Event{Kind: protocol.EvStart, Model: model})
	}
}

// finish ends the stream at its done line.
func (d *streamDecoder) finish(reason string, in, out int) {
	d.Done = true
	if reason == "" {
		d.Push(protocol.Event{Kind: protocol.EvError, Status: http.StatusBadGateway, Text: "upstream model runner stopped before finishing"})
		return
	}
	d.Push(protocol.Event{Kind: protocol.EvUsage, Usage: protocol.Usage{Input: in, Output: out}})
	d.Push(protocol.Event{Kind: protocol.EvStop, Stop: stopFrom(reason, d.tools > 0)})
	d.Push(protocol.Event{Kind: protocol.EvEnd})
}

// fastLine is what the decoder needs of a line of the common shapes.
type fastLine struct {
	model, text, doneReason string
	done                    bool
	promptEval, eval        int
}

// readFastLine reads the common stream lines — content deltas {"model",
// "created_at", "message": {"role", "content"} or "response", "done"} and
// the final line with done_reason, counts and durations — without
// reflection. ok is false for any other shape (thinking, tool calls,
// errors, null or non-string fields, escaped or differently cased keys),
// which then takes the full decoder; a differential fuzz target holds the
// two to the same answers.
func readFastLine(line []byte) (f fastLine, ok bool) {
	var content, response []byte
	hasDone := false
	ok = jsonscan.Every(line, func(k, v []byte) (ok bool) {
		switch string(k) {
		case "created_at", "total_duration", "load_duration", "prompt_eval_duration", "eval_duration", "context":
			ok = true
		case "model":
			f.model, ok = jsonscan.Unquote(v)
		case "done":
			f.done, hasDone = string(v) == "true", true
			ok = f.done || string(v) == "false"
		case "done_reason":
			f.doneReason, ok = jsonscan.Unquote(v)
		case "prompt_eval_count":
			f.promptEval, ok = jsonscan.Int(v)
		case "eval_count":
			f.eval, ok = jsonscan.Int(v)
		case "response":
			response, ok = v, v[0] == '"'
		case "message": // a repeated message merges, as in encoding/json
			ok = jsonscan.Every(v, func(mk, mv []byte) bool {
				switch string(mk) {
				case "role":
					return true
				case "content":
					content = mv
					return mv[0] == '"'
				}
				return false
			})
		}
		return ok
	})
	if !ok || !hasDone {
		return fastLine{}, false
	}
	var c, r string
	if content != nil {
		if c, ok = jsonscan.Unquote(content); !ok {
			return fastLine{}, false
		}
	}
	if response != nil {
		if r, ok = jsonscan.Unquote(response); !ok {
			return fastLine{}, false
		}
	}
	f.text = c + r
	return f, true
}

type pendingCall struct {
	id, name string
	args     []byte
}

// streamEncoder writes canonical events as Ollama NDJSON lines (/api/chat,
// or /api/generate with generate set).
type streamEncoder struct {
	out      wire.Out
	opts     protocol.StreamOptions
	generate bool
	began    time.Time
	model    []byte // "model":"...","created_at":"
	calls    []pendingCall
	stop     protocol.StopReason
	usage    protocol.Usage
}

func newStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions, generate bool) *streamEncoder {
	e := &streamEncoder{out: wire.NewOut(w, flush), opts: opts, generate: generate}
	e.began = opts.Clock()
	return e
}

// head starts a line: {"model":...,"created_at":"...",
func (e *streamEncoder) head(ev *protocol.Event) {
	if e.model == nil {
		e.model = append(wire.AppendString([]byte(`{"model":`), e.opts.ModelFor(ev)), `,"created_at":"`...)
	}
	b := append(e.out.Buf, e.model...)
	b = e.opts.Clock().UTC().AppendFormat(b, time.RFC3339Nano)
	e.out.Buf = append(b, `",`...)
}

func (e *streamEncoder) delta(ev *protocol.Event, field string) {
	e.head(ev)
	b := e.out.Buf
	if e.generate {
		if field == "content" {
			field = "response"
		}
		b = append(b, '"')
		b = append(b, field...)
		b = append(b, `":`...)
		b = wire.AppendString(b, ev.Text)
	} else {
		b = append(b, `"message":{"role":"assistant","content":`...)
		if field == "content" {
			b = wire.AppendString(b, ev.Text)
		} else {
			b = append(b, `"","`...)
			b = append(b, field...)
			b = append(b, `":`...)
			b = wire.AppendString(b, ev.Text)
		}
		b = append(b, '}')
	}
	e.out.Buf = append(b, ",\"done\":false}\n"...)
}

// flushCalls writes the buffered tool calls in one line.
func (e *streamEncoder) flushCalls(ev *protocol.Event) error {
	if len(e.calls) == 0 || e.generate {
		e.calls = e.calls[:0]
		return nil
	}
	e.head(ev)
	b := append(e.out.Buf, `"message":{"role":"assistant","content":"","tool_calls":[`...)
	for i, c := range e.calls {
		args, err := wire.CompactObject(c.args)
		if err != nil || args[0] != '{' {
			e.out.Buf = e.out.Buf[:0]
			return fmt.Errorf("tool call %q: upstream sent arguments that are not a JSON object", c.name)
		}
		if i > 0 {
			b = append(b, ',')
		}
		id := c.id
		if id == "" {
			id = e.opts.MintID("call_")
		}
		b = append(b, `{"id":`...)
		b = wire.AppendString(b, id)
		b = append(b, `,"function":{"index":`...)
		b = wire.AppendInt(b, i)
		b = append(b, `,"name":`...)
		b = wire.AppendString(b, c.name)
		b = append(b, `,"arguments":`...)
		b = append(b, args...)
		b = append(b, "}}"...)
	}
	e.out.Buf = append(b, "]},\"done\":false}\n"...)
	e.calls = e.calls[:0]
	return nil
}

// Write implements protocol.StreamEncoder.
func (e *streamEncoder) Write(ev *protocol.Event) error {
	if e.out.Done {
		return nil
	}
	switch ev.Kind {
	case protocol.EvStart:
		if e.opts.Model == "" && ev.Model != "" && e.model == nil {
			e.head(ev) // fix the model name
			e.out.Buf = e.out.Buf[:0]
		}
	case protocol.EvText:
		if ev.Text != "" {
			e.delta(ev, "content")
		}
	case protocol.EvReasoning:
		if ev.Text != "" {
			e.delta(ev, "thinking")
		}
	case protocol.EvToolStart:
		for len(e.calls) <= ev.Index {
			e.calls = append(e.calls, pendingCall{})
		}
		e.calls[ev.Index].id, e.calls[ev.Index].name = ev.ID, ev.Name
	case protocol.EvToolArgs:
		for len(e.calls) <= ev.Index {
			e.calls = append(e.calls, pendingCall{})
		}
		e.calls[ev.Index].args = append(e.calls[ev.Index].args, ev.Text...)
	case protocol.EvStop:
		e.stop = ev.Stop
		if err := e.flushCalls(ev); err != nil {
			return e.fail(err.Error())
		}
	case protocol.EvUsage:
		e.usage = ev.Usage
	case protocol.EvPing:
		if !e.generate {
			e.delta(&protocol.Event{}, "content")
		}
	case protocol.EvError:
		return e.fail(ev.Text)
	case protocol.EvEnd:
		if err := e.flushCalls(ev); err != nil {
			return e.fail(err.Error())
		}
		e.head(ev)
		b := e.out.Buf
		if e.generate {
			b = append(b, `"response":"","done":true,"done_reason":"`...)
		} else {
			b = append(b, `"message":{"role":"assistant","content":""},"done":true,"done_reason":"`...)
		}
		b = append(b, DoneReason(e.stop)...)
		// Every count and duration real Ollama sends on its final line;
		// those the router cannot know are zero.
		b = append(b, `","total_duration":`...)
		b = wire.AppendInt(b, int(e.opts.Clock().Sub(e.began)))
		b = append(b, `,"load_duration":0,"prompt_eval_count":`...)
		b = wire.AppendInt(b, e.usage.Input)
		b = append(b, `,"prompt_eval_duration":0,"eval_count":`...)
		b = wire.AppendInt(b, e.usage.Output)
		e.out.Buf = append(b, `,"eval_duration":0}`+"\n"...)
		e.out.Done = true
	}
	return e.out.Send()
}

func (e *streamEncoder) fail(msg string) error {
	e.out.Buf = AppendError(e.out.Buf, msg)
	e.out.Buf = append(e.out.Buf, '\n')
	e.out.Done = true
	return e.out.Send()
}
