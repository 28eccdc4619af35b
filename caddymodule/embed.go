package caddymodule

import (
	"fmt"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// embedEndpoint serves an embeddings dialect against OpenAI-wire and
// Ollama providers, translating between the two shapes both ways.
func embedEndpoint(codec protocol.EmbedCodec) endpointFunc {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, rt route) error {
		body, err := h.readBody(w, r)
		if err != nil {
			return err
		}
		if _, err := parseChat(body, false); err != nil {
			return err
		}
		return h.serveEmbed(w, r, rt, codec, body)
	}
}

// embedAuto picks the dialect of {prefix}/embeddings from the body: Ollama's
// legacy {"prompt"} or OpenAI's {"input"}.
func embedAuto(h *Handler, w http.ResponseWriter, r *http.Request, rt route) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	pr, err := parseChat(body, false)
	if err != nil {
		return err
	}
	if pr.obj.Raw("prompt") != nil && pr.obj.Raw("input") == nil {
		return h.serveEmbed(w, r, rt, ollama.Embeddings{}, body)
	}
	return h.serveEmbed(w, r, rt, openai.Embeddings{}, body)
}

func (h *Handler) serveEmbed(w http.ResponseWriter, r *http.Request, rt route, codec protocol.EmbedCodec, body []byte) error {
	ereq, err := codec.DecodeEmbedRequest(body)
	if err != nil {
		return requestError(err)
	}
	m, err := h.admit(r.Context(), rt, ereq.Model, len(body))
	if err != nil {
		return err
	}
	return h.failover(r.Context(), m, func(p *config.Provider) attemptResult {
		pc, ok := codecs.ProviderEmbed(p.APIType)
		if !ok {
			return attemptResult{err: &apiError{Status: http.StatusBadRequest,
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
