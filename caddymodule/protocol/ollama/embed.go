package ollama

import (
	"encoding/json"
	"fmt"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Embed is the /api/embed codec (many inputs, normalised vectors).
type Embed struct{}

// Embeddings is the legacy /api/embeddings codec (one prompt, one vector).
type Embeddings struct{}

var (
	_ protocol.EmbedCodec = Embed{}
	_ protocol.EmbedCodec = Embeddings{}
)

// Dialect returns protocol.OllamaEmbed.
func (Embed) Dialect() protocol.Dialect { return protocol.OllamaEmbed }

// Dialect returns protocol.OllamaEmbeddings.
func (Embeddings) Dialect() protocol.Dialect { return protocol.OllamaEmbeddings }

// WriteError writes {"error":"..."}.
func (Embed) WriteError(w http.ResponseWriter, status int, msg string) { WriteError(w, status, msg) }

// WriteError writes {"error":"..."}.
func (Embeddings) WriteError(w http.ResponseWriter, status int, msg string) {
	WriteError(w, status, msg)
}

func decodeEmbedCommon(o *wire.Obj, r *protocol.EmbedRequest) {
	r.Model = o.Str("model")
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	r.KeepAlive = o.Take("keep_alive")
	if op := o.Object("options"); op != nil {
		r.Options = op.Rest()
	}
}

// DecodeEmbedRequest parses an /api/embed body.
func (Embed) DecodeEmbedRequest(body []byte) (*protocol.EmbedRequest, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.EmbedRequest{Origin: protocol.OllamaEmbed}
	decodeEmbedCommon(o, r)
	r.Input = o.Strings("input")
	r.Truncate = o.BoolPtr("truncate")
	r.Dimensions = o.Int("dimensions")
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

// DecodeEmbedRequest parses an /api/embeddings body.
func (Embeddings) DecodeEmbedRequest(body []byte) (*protocol.EmbedRequest, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.EmbedRequest{Origin: protocol.OllamaEmbeddings}
	decodeEmbedCommon(o, r)
	r.Input = []string{o.Str("prompt")}
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

type embedReq struct {
	Model      string                     `json:"model"`
	Input      any                        `json:"input,omitempty"`
	Prompt     *string                    `json:"prompt,omitempty"`
	Truncate   *bool                      `json:"truncate,omitempty"`
	Dimensions *int                       `json:"dimensions,omitempty"`
	KeepAlive  json.RawMessage            `json:"keep_alive,omitempty"`
	Options    map[string]json.RawMessage `json:"options,omitempty"`
}

func embedOptions(r *protocol.EmbedRequest) map[string]json.RawMessage {
	if r.Origin.Family() == "ollama" {
		return r.Options
	}
	return nil
}

// EncodeEmbedRequest renders r for an /api/embed provider.
func (Embed) EncodeEmbedRequest(r *protocol.EmbedRequest) ([]byte, error) {
	if len(r.Tokens) > 0 {
		return nil, protocol.Errorf("input", "token arrays are not supported by Ollama providers")
	}
	w := embedReq{Model: r.Model, Input: r.Input, Truncate: r.Truncate, Dimensions: r.Dimensions, KeepAlive: r.KeepAlive, Options: embedOptions(r)}
	return wire.MarshalRequest(w, r.Origin, protocol.OllamaEmbed, r.Extra)
}

// EncodeEmbedRequest renders r for a legacy /api/embeddings provider; it
// takes exactly one input.
func (Embeddings) EncodeEmbedRequest(r *protocol.EmbedRequest) ([]byte, error) {
	if len(r.Input) != 1 || len(r.Tokens) > 0 {
		return nil, protocol.Errorf("input", "this provider embeds exactly one text per request")
	}
	w := embedReq{Model: r.Model, Prompt: &r.Input[0], KeepAlive: r.KeepAlive, Options: embedOptions(r)}
	return wire.MarshalRequest(w, r.Origin, protocol.OllamaEmbeddings, r.Extra)
}

// DecodeEmbedResponse parses an /api/embed reply.
func (Embed) DecodeEmbedResponse(body []byte) (*protocol.EmbedResponse, error) {
	var w struct {
		Model           string      `json:"model"`
		Embeddings      [][]float32 `json:"embeddings"`
		PromptEvalCount int         `json:"prompt_eval_count"`
		metrics
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: embed reply: %w", protocol.ErrUpstream, err)
	}
	return &protocol.EmbedResponse{Model: w.Model, Vectors: w.Embeddings, Input: w.PromptEvalCount, Durations: w.durations()}, nil
}

// DecodeEmbedResponse parses an /api/embeddings reply.
func (Embeddings) DecodeEmbedResponse(body []byte) (*protocol.EmbedResponse, error) {
	var w struct {
		Embedding []float32 `json:"embedding"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: embeddings reply: %w", protocol.ErrUpstream, err)
	}
	return &protocol.EmbedResponse{Vectors: [][]float32{w.Embedding}}, nil
}

// EncodeEmbedResponse renders res as an /api/embed reply.
func (Embed) EncodeEmbedResponse(_ *protocol.EmbedRequest, res *protocol.EmbedResponse) ([]byte, error) {
	vs := res.Vectors
	if vs == nil {
		vs = [][]float32{}
	}
	// Real Ollama always sends the durations and the count, which clients
	// (the AI SDK's Ollama provider) require: zero when unknown.
	return json.Marshal(struct {
		Model           string      `json:"model"`
		Embeddings      [][]float32 `json:"embeddings"`
		TotalDuration   int64       `json:"total_duration"`
		LoadDuration    int64       `json:"load_duration"`
		PromptEvalCount int         `json:"prompt_eval_count"`
	}{res.Model, vs, int64(res.Durations.Total), int64(res.Durations.Load), res.Input})
}

// EncodeEmbedResponse renders the first vector of res as an /api/embeddings reply.
func (Embeddings) EncodeEmbedResponse(_ *protocol.EmbedRequest, res *protocol.EmbedResponse) ([]byte, error) {
	v := []float32{}
	if len(res.Vectors) > 0 && res.Vectors[0] != nil {
		v = res.Vectors[0]
	}
	return json.Marshal(struct {
		Embedding []float32 `json:"embedding"`
	}{v})
}
