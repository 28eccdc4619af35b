package openai

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"sort"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// Embeddings is the /v1/embeddings codec.
type Embeddings struct{}

var _ protocol.EmbedCodec = Embeddings{}

// Dialect returns protocol.OpenAIEmbeddings.
func (Embeddings) Dialect() protocol.Dialect { return protocol.OpenAIEmbeddings }

// WriteError writes an OpenAI error object.
func (Embeddings) WriteError(w http.ResponseWriter, status int, msg string) {
	WriteError(w, status, msg)
}

// DecodeEmbedRequest parses a /v1/embeddings body.
func (Embeddings) DecodeEmbedRequest(body []byte) (*protocol.EmbedRequest, error) {
	o, err := wire.Parse(body, "")
	if err != nil {
		return nil, err
	}
	r := &protocol.EmbedRequest{Origin: protocol.OpenAIEmbeddings}
	r.Model = o.Str("model")
	if r.Model == "" && o.Err() == nil {
		o.Failf("model", "required")
	}
	in := o.Take("input")
	var s string
	var ss []string
	var toks []int
	switch {
	case in == nil:
		o.Failf("input", "required")
	case json.Unmarshal(in, &s) == nil:
		r.Input = []string{s}
	case json.Unmarshal(in, &ss) == nil:
		r.Input = ss
	case json.Unmarshal(in, &toks) == nil:
		r.Tokens = [][]int{toks}
	case json.Unmarshal(in, &r.Tokens) == nil:
	default:
		o.Failf("input", "must be a string, an array of strings or token arrays")
	}
	if o.Err() == nil && len(r.Input) == 0 && len(r.Tokens) == 0 {
		o.Failf("input", "must not be empty")
	}
	r.Dimensions = o.Int("dimensions")
	switch f := o.Str("encoding_format"); f {
	case "", "float":
	case "base64":
		r.Base64 = true
	default:
		o.Failf("encoding_format", "must be float or base64")
	}
	r.User = o.Str("user")
	if err := o.Err(); err != nil {
		return nil, err
	}
	r.Extra = o.Rest()
	return r, nil
}

// EncodeEmbedRequest renders r for an OpenAI-wire provider (always asking
// for float vectors; base64 for the client is done by EncodeEmbedResponse).
func (Embeddings) EncodeEmbedRequest(r *protocol.EmbedRequest) ([]byte, error) {
	w := struct {
		Model          string `json:"model"`
		Input          any    `json:"input"`
		Dimensions     *int   `json:"dimensions,omitempty"`
		EncodingFormat string `json:"encoding_format"`
		User           string `json:"user,omitempty"`
	}{Model: r.Model, Input: r.Input, Dimensions: r.Dimensions, EncodingFormat: "float", User: r.User}
	if len(r.Tokens) > 0 {
		w.Input = r.Tokens
	}
	return wire.MarshalRequest(w, r.Origin, protocol.OpenAIEmbeddings, r.Extra)
}

// DecodeEmbedResponse parses a /v1/embeddings reply (float or base64 vectors).
func (Embeddings) DecodeEmbedResponse(body []byte) (*protocol.EmbedResponse, error) {
	var w struct {
		Model string `json:"model"`
		Data  []struct {
			Index     int             `json:"index"`
			Embedding json.RawMessage `json:"embedding"`
		} `json:"data"`
		Usage struct {
			PromptTokens int `json:"prompt_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(body, &w); err != nil {
		return nil, fmt.Errorf("%w: embeddings reply: %w", protocol.ErrUpstream, err)
	}
	sort.SliceStable(w.Data, func(i, j int) bool { return w.Data[i].Index < w.Data[j].Index })
	res := &protocol.EmbedResponse{Model: w.Model, Input: w.Usage.PromptTokens, Vectors: make([][]float32, len(w.Data))}
	for i, d := range w.Data {
		if jsonscan.IsString(d.Embedding) {
			var s string
			_ = json.Unmarshal(d.Embedding, &s)
			v, err := fromBase64(s)
			if err != nil {
				return nil, fmt.Errorf("%w: embedding %d: %w", protocol.ErrUpstream, i, err)
			}
			res.Vectors[i] = v
			continue
		}
		if err := json.Unmarshal(d.Embedding, &res.Vectors[i]); err != nil {
			return nil, fmt.Errorf("%w: embedding %d: %w", protocol.ErrUpstream, i, err)
		}
	}
	return res, nil
}

// EncodeEmbedResponse renders res as a /v1/embeddings list, base64-encoded
// (little-endian float32) when req asked for it.
func (Embeddings) EncodeEmbedResponse(req *protocol.EmbedRequest, res *protocol.EmbedResponse) ([]byte, error) {
	type item struct {
		Object    string `json:"object"`
		Index     int    `json:"index"`
		Embedding any    `json:"embedding"`
	}
	out := struct {
		Object string `json:"object"`
		Data   []item `json:"data"`
		Model  string `json:"model"`
		Usage  struct {
			PromptTokens int `json:"prompt_tokens"`
			TotalTokens  int `json:"total_tokens"`
		} `json:"usage"`
	}{Object: "list", Data: make([]item, len(res.Vectors)), Model: res.Model}
	out.Usage.PromptTokens, out.Usage.TotalTokens = res.Input, res.Input
	for i, v := range res.Vectors {
		if v == nil {
			v = []float32{}
		}
		out.Data[i] = item{Object: "embedding", Index: i, Embedding: v}
		if req != nil && req.Base64 {
			out.Data[i].Embedding = ToBase64(v)
		}
	}
	return json.Marshal(out)
}

// ToBase64 encodes v as base64 of little-endian float32 values.
func ToBase64(v []float32) string {
	b := make([]byte, 4*len(v))
	for i, f := range v {
		binary.LittleEndian.PutUint32(b[4*i:], math.Float32bits(f))
	}
	return base64.StdEncoding.EncodeToString(b)
}

func fromBase64(s string) ([]float32, error) {
	b, err := base64.StdEncoding.DecodeString(s)
	if err != nil {
		return nil, err
	}
	if len(b)%4 != 0 {
		return nil, fmt.Errorf("base64 embedding length %d is not a multiple of 4", len(b))
	}
	v := make([]float32, len(b)/4)
	for i := range v {
		v[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return v, nil
}
