package ollama

import (
	"encoding/json"
	"io"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Generate is the client-facing /api/generate codec. The prompt becomes one
// user message (system becomes the system prompt), so a generate request can
// be served by any chat provider. suffix, raw, template and context are
// kept in Extra and only reach an Ollama provider through passthrough.
type Generate struct{}

var _ protocol.ClientCodec = Generate{}

// Dialect returns protocol.OllamaGenerate.
func (Generate) Dialect() protocol.Dialect { return protocol.OllamaGenerate }

// StreamContentType returns application/x-ndjson.
func (Generate) StreamContentType() string { return "application/x-ndjson" }

// WriteError writes {"error":"..."}.
func (Generate) WriteError(w http.ResponseWriter, status int, msg string) { WriteError(w, status, msg) }

// DecodeRequest parses an /api/generate body.
func (Generate) DecodeRequest(body []byte) (*protocol.Request, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.Request{Origin: protocol.OllamaGenerate}
	r.Model = o.Str("model")
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	if s := o.Str("system"); s != "" {
		r.System = []protocol.Part{{Kind: protocol.PartText, Text: s}}
	}
	var parts []protocol.Part
	if p := o.Str("prompt"); p != "" {
		parts = append(parts, protocol.Part{Kind: protocol.PartText, Text: p})
	}
	for j, im := range o.Array("images") {
		var s string
		if err := json.Unmarshal(im, &s); err != nil {
			o.Failf(wire.Idx("images", j), "must be a base64 string")
			break
		}
		parts = append(parts, protocol.Part{Kind: protocol.PartImage, Image: &protocol.Image{Data: s}})
	}
	if len(parts) > 0 {
		r.Messages = []protocol.Message{{Role: protocol.RoleUser, Parts: parts}}
	}
	decodeCommon(o, r)
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

// EncodeResponse renders r as a non-streamed /api/generate reply.
func (Generate) EncodeResponse(r *protocol.Response) ([]byte, error) {
	return encodeResponse(r, true)
}

// NewStreamEncoder writes /api/generate NDJSON lines.
func (Generate) NewStreamEncoder(w io.Writer, flush func() error, opts protocol.StreamOptions) protocol.StreamEncoder {
	return newStreamEncoder(w, flush, opts, true)
}
