package caddymodule

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
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

func providerEmbedCodec(apiType string) protocol.EmbedCodec {
	switch apiType {
	case config.APIOllama:
		return ollama.Embed{}
	case config.APIAnthropic:
		return nil
	}
	return openai.Embeddings{}
}

func (h *Handler) serveEmbed(w http.ResponseWriter, r *http.Request, rt route, codec protocol.EmbedCodec, body []byte) error {
	ereq, err := codec.DecodeEmbedRequest(body)
	if err != nil {
		return requestError(err)
	}
	if err := h.authorize(r.Context(), rt, ereq.Model, len(body)); err != nil {
		return err
	}
	m, err := h.resolveModel(ereq.Model)
	if err != nil {
		return err
	}
	tried := map[string]bool{}
	var last error
	for attempt := 0; attempt < len(m.Providers) && attempt < maxAttempts; attempt++ {
		l, err := h.app.acquire(r.Context(), m, func(id string) bool { return tried[id] })
		if err != nil {
			break
		}
		p := l.provider()
		tried[p.ID] = true
		pc := providerEmbedCodec(p.APIType)
		if pc == nil {
			last = &apiError{Status: http.StatusBadRequest, Msg: fmt.Sprintf("model '%s' is served by an Anthropic provider, which has no embeddings API", m.Name)}
			l.release(balance.Success, 0)
			continue
		}
		start := time.Now()
		out, status, retry, err := h.embedOnce(r.Context(), p, pc, ereq, m)
		l.release(outcome(r.Context(), attemptResult{err: err, retry: retry}), time.Since(start))
		if err == nil {
			res, derr := pc.DecodeEmbedResponse(out)
			if derr != nil {
				last = &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the provider of model '%s' sent an answer that could not be read", m.Name)}
				continue
			}
			res.Model = ereq.Model
			b, eerr := codec.EncodeEmbedResponse(ereq, res)
			if eerr != nil {
				return eerr
			}
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusOK)
			_, _ = w.Write(b)
			return nil
		}
		last = err
		if !retry {
			break
		}
		_ = status
	}
	if last == nil {
		last = &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("no provider of model '%s' is available", m.Name)}
	}
	return last
}

func (h *Handler) embedOnce(ctx context.Context, p *config.Provider, pc protocol.EmbedCodec, ereq *protocol.EmbedRequest, m *config.Model) ([]byte, int, bool, error) {
	cp := *ereq
	cp.Model = p.UpstreamModel(m.Name)
	body, err := pc.EncodeEmbedRequest(&cp)
	if err != nil {
		return nil, 0, false, requestError(err)
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.app.ExternalTimeout))
	defer cancel()
	up := h.app.Upstream(p.ID)
	req, err := up.NewRequest(ctx, http.MethodPost, provider.OpEmbeddings, body)
	if err != nil {
		return nil, 0, false, err
	}
	resp, err := up.Client.Do(req)
	if err != nil {
		e := h.upstreamErrorCtx(ctx, up, m.Name, err)
		return nil, 0, e != nil, e
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		e := h.upstreamErrorCtx(ctx, up, m.Name, err)
		return nil, 0, e != nil, e
	}
	if resp.StatusCode >= 300 {
		return nil, resp.StatusCode, retryableStatus(resp.StatusCode),
			&apiError{Status: resp.StatusCode, Msg: "provider error: " + upstreamMessage(data, resp.StatusCode)}
	}
	return data, resp.StatusCode, false, nil
}
