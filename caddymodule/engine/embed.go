package engine

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
	"github.com/llmrouter/llm-router/caddymodule/protocol/shape"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// embedEndpoint serves an embeddings dialect against OpenAI-wire and
// Ollama providers, translating between the two shapes both ways.
func embedEndpoint(codec protocol.EmbedCodec) endpointFunc {
	return func(h *Server, w http.ResponseWriter, r *http.Request, rt Route) error {
		return h.embedAs(w, r, rt, func(*jsonscan.Object) protocol.EmbedCodec { return codec })
	}
}

// embedAuto picks the dialect of {prefix}/embeddings from the body: Ollama's
// legacy {"prompt"} or OpenAI's {"input"}.
func embedAuto(h *Server, w http.ResponseWriter, r *http.Request, rt Route) error {
	return h.embedAs(w, r, rt, func(obj *jsonscan.Object) protocol.EmbedCodec {
		if obj.Raw("prompt") != nil && obj.Raw("input") == nil {
			return ollama.Embeddings{}
		}
		return openai.Embeddings{}
	})
}

// embedAs reads an embeddings request, checks its shape in the dialect
// that pick chooses from the body and serves it.
func (h *Server) embedAs(w http.ResponseWriter, r *http.Request, rt Route, pick func(*jsonscan.Object) protocol.EmbedCodec) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	pr, err := parseChat(body, false)
	if err != nil {
		return err
	}
	codec := pick(pr.obj)
	if err := shape.Check(codec.Dialect(), pr.obj); err != nil {
		return requestError(err)
	}
	return h.serveEmbed(w, r, rt, codec, body)
}

func (h *Server) serveEmbed(w http.ResponseWriter, r *http.Request, rt Route, codec protocol.EmbedCodec, body []byte) error {
	began := time.Now()
	ereq, err := codec.DecodeEmbedRequest(body)
	if err != nil {
		return requestError(err)
	}
	m, err := h.admit(r.Context(), rt, ereq.Model, len(body))
	if err != nil {
		return err
	}
	if err := h.embedPipeline(r.Context(), rt, ereq); err != nil {
		return err
	}
	return h.failover(r.Context(), m, func(p *config.Provider) attemptResult {
		pc, ok := codecs.ProviderEmbed(p.APIType)
		if !ok {
			return attemptResult{err: &Error{Status: http.StatusBadRequest,
				Msg: fmt.Sprintf("model '%s' is served by an Anthropic provider, which has no embeddings API", m.Name)}}
		}
		cp := *ereq
		cp.Model = p.UpstreamModel(m.Name)
		body, err := pc.EncodeEmbedRequest(&cp)
		if err != nil {
			return attemptResult{err: requestError(err)}
		}
		data, res := h.exchange(r.Context(), p, m.Name, provider.OpEmbeddings, body)
		if res.err != nil {
			return res
		}
		out, err := pc.DecodeEmbedResponse(data)
		if err != nil {
			return h.unreadable(p.ID, m.Name, err)
		}
		out.Model = ereq.Model
		if out.Durations.Total == 0 { // Ollama clients read total_duration: the router's measure
			out.Durations.Total = time.Since(began)
		}
		b, err := codec.EncodeEmbedResponse(ereq, out)
		if err != nil {
			return attemptResult{err: err}
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(b)
		return attemptResult{}
	})
}

// embedPipeline runs the request guardrails and the maskers on the texts
// an embedding model reads: its inputs.
func (h *Server) embedPipeline(ctx context.Context, rt Route, ereq *protocol.EmbedRequest) error {
	p := h.app.pipeline
	if p == nil || len(ereq.Input) == 0 {
		return nil
	}
	if len(p.RequestGuardrails) > 0 {
		if err := h.guard(ctx, rt, ereq.Model, "request", ereq.Input); err != nil {
			return err
		}
	}
	anonymize := false
	if raw, ok := ereq.Extra["anonymize"]; ok {
		anonymize = string(raw) == "true"
	}
	if !p.MaskingEnabled(anonymize) {
		return nil
	}
	masked, err := h.mask(ctx, rt, ereq.Model, ereq.Input)
	if err != nil {
		return err
	}
	ereq.Input = masked
	delete(ereq.Extra, "anonymize")
	return nil
}
