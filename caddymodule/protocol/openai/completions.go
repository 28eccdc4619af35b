package openai

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Completions is the client-facing legacy /v1/completions codec. The prompt
// becomes one user message, so any chat provider can serve it. Only one
// text prompt per request is translated (arrays of several prompts and
// token prompts are rejected); suffix, echo, best_of and logprobs stay in
// Extra (passthrough only).
type Completions struct{}

var _ protocol.ClientCodec = Completions{}

// Dialect returns protocol.OpenAICompletions.
func (Completions) Dialect() protocol.Dialect { return protocol.OpenAICompletions }

// StreamContentType returns text/event-stream.
func (Completions) StreamContentType() string { return "text/event-stream" }

// WriteError writes an OpenAI error object.
func (Completions) WriteError(w http.ResponseWriter, status int, msg string) {
	WriteError(w, status, msg)
}

// DecodeRequest parses a /v1/completions body.
func (Completions) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.OpenAICompletions}
	r.Model = o.Str("model")
	pv := o.Take("prompt")
	var prompt string
	if pv != nil {
		var ps []string
		switch {
		case json.Unmarshal(pv, &prompt) == nil:
		case json.Unmarshal(pv, &ps) == nil && len(ps) <= 1:
			if len(ps) == 1 {
				prompt = ps[0]
			}
		default:
			o.Failf("prompt", "only a single text prompt is supported")
		}
	}
	r.Messages = []protocol.Message{{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: prompt}}}}
	decodeCommon(o, r)
	r.MaxTokens = o.Int("max_tokens")
	if n := o.Int("n"); n != nil {
		r.N = *n
	}
	r.PresencePenalty = o.Float("presence_penalty")
	r.FrequencyPenalty = o.Float("frequency_penalty")
	r.Seed = o.Int64("seed")
	r.Stop = o.Strings("stop")
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

// EncodeResponse renders r as a text_completion object.
func (Completions) EncodeResponse(r *protocol.Response) ([]byte, error) {
	type choice struct {
		Index        int    `json:"index"`
		Text         string `json:"text"`
		FinishReason string `json:"finish_reason"`
		Logprobs     any    `json:"logprobs"`
	}
	return json.Marshal(struct {
		ID      string   `json:"id"`
		Object  string   `json:"object"`
		Created int64    `json:"created"`
		Model   string   `json:"model"`
		Choices []choice `json:"choices"`
		Usage   *wUsage  `json:"usage"`
	}{wire.IDWithPrefix(r.ID, "cmpl-"), "text_completion", created(r.Created), r.Model,
		[]choice{{Text: r.Text(), FinishReason: FinishReason(r.Stop)}}, encodeUsage(r.Usage)})
}

// NewStreamEncoder writes text_completion SSE chunks.
func (Completions) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return newStreamEncoder(w, flush, opts, true)
}
