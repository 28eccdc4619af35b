package engine

import (
	"context"
	"fmt"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
)

var _ plugins.Embedder = (*Engine)(nil)

// Embed turns texts into vectors with one of the router's embedding models,
// in process: the path of /v1/embeddings (balancing, leases, failover,
// retries, bounded answers) without HTTP on the client side and without
// the plugin pipeline — the caller is the router itself (a plugin), not a
// client whose text must be checked or masked. It returns one vector per
// text, in order, all of one dimension; every error names the model.
func (a *Engine) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	m, err := a.embeddingModel(model)
	if err != nil {
		return nil, err
	}
	if len(texts) == 0 {
		return [][]float32{}, nil
	}
	// The call's own record, where failover names the provider: a client
	// request a plugin serves keeps its own. Its id goes to the provider:
	// the client request's, when there is one, so the two can be traced
	// together.
	info := &reqInfo{}
	if parent, ok := ctx.Value(reqInfoKey{}).(*reqInfo); ok {
		info.requestID = parent.requestID
	} else {
		info.requestID = newRequestID()
	}
	ctx = context.WithValue(ctx, reqInfoKey{}, info)
	ereq := &protocol.EmbedRequest{Model: m.Name, Input: texts}
	var vectors [][]float32
	tried := 0
	err = a.embedder.failover(ctx, m, func(p *config.Provider) attemptResult {
		tried++
		var res attemptResult
		vectors, res = a.embedder.embedAt(ctx, m, p, ereq)
		return res
	})
	switch {
	case ctx.Err() != nil:
		// Canceled or out of time: whatever the attempt made of it, the
		// caller's context ended the call.
		return nil, fmt.Errorf("embedding model %q: %w", m.Name, context.Cause(ctx))
	case err == nil:
		return vectors, nil
	case tried > 1:
		return nil, fmt.Errorf("embedding model %q: all %d providers tried failed, the last: %w", m.Name, tried, err)
	}
	return nil, fmt.Errorf("embedding model %q: %w", m.Name, err)
}

// embeddingModel finds model among the active models and checks that it
// can embed: marked is_embedding, or served by a provider type with an
// embeddings API.
func (a *Engine) embeddingModel(model string) (*config.Model, error) {
	m, ok := a.cfg.Model(model)
	if !ok {
		return nil, fmt.Errorf("embedding model %q: no such active model", model)
	}
	for _, p := range m.Providers {
		if _, ok := codecs.ProviderEmbed(p.APIType); ok {
			return m, nil
		}
	}
	return nil, fmt.Errorf("embedding model %q: none of its providers has an embeddings API", model)
}

// embedAt asks provider p of m for the vectors of ereq's texts and checks
// the answer: one vector per text, all of one dimension. A wrong answer is
// the provider's fault, failed over like one that could not be read.
func (h *Server) embedAt(ctx context.Context, m *config.Model, p *config.Provider, ereq *protocol.EmbedRequest) ([][]float32, attemptResult) {
	pc, ok := codecs.ProviderEmbed(p.APIType)
	if !ok {
		return nil, attemptResult{retry: true, err: &Error{Status: http.StatusBadRequest,
			Msg: fmt.Sprintf("provider %s of model '%s' has no embeddings API", p.ID, m.Name)}}
	}
	cp := *ereq
	cp.Model = p.UpstreamModel(m.Name)
	body, err := pc.EncodeEmbedRequest(&cp)
	if err != nil {
		return nil, attemptResult{err: requestError(err)}
	}
	data, res := h.exchange(ctx, p, m.Name, provider.OpEmbeddings, body)
	if res.err != nil {
		return nil, res
	}
	out, err := pc.DecodeEmbedResponse(data)
	if err != nil {
		return nil, h.unreadable(p.ID, m.Name, err)
	}
	if err := checkVectors(out.Vectors, len(ereq.Input)); err != nil {
		res := h.unreadable(p.ID, m.Name, err)
		res.err = &Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("provider %s of model '%s' sent a wrong answer: %v", p.ID, m.Name, err)}
		return nil, res
	}
	return out.Vectors, attemptResult{}
}

// checkVectors checks an embeddings answer: n vectors of one dimension.
func checkVectors(vs [][]float32, n int) error {
	if len(vs) != n {
		return fmt.Errorf("%d vectors for %d texts", len(vs), n)
	}
	for i, v := range vs {
		if len(v) == 0 {
			return fmt.Errorf("vector %d is empty", i)
		}
		if len(v) != len(vs[0]) {
			return fmt.Errorf("vector %d has %d dimensions, vector 0 has %d", i, len(v), len(vs[0]))
		}
	}
	return nil
}
