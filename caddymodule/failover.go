package caddymodule

import (
	"context"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// maxAttempts bounds failover.
const maxAttempts = 3

// attemptResult is how one provider call went.
type attemptResult struct {
	err   error
	retry bool // nothing reached the client; another provider may be tried
}

// failover leases providers of m in turn and runs try on each until one
// call does not ask for a retry, at most maxAttempts times, with a short
// jittered pause between attempts. Every endpoint fails over through it,
// so leases are always released with the call's outcome and the in-flight
// gauge and request info always name the provider. It returns the last
// attempt's error (an acquisition error when no provider could be leased).
func (h *Handler) failover(ctx context.Context, m *config.Model, try func(p *config.Provider) attemptResult) error {
	tried := map[string]bool{}
	var last error
	for attempt := 0; attempt < len(m.Providers) && attempt < maxAttempts; attempt++ {
		l, err := h.app.acquire(ctx, m, func(id string) bool { return tried[id] })
		if err != nil {
			if last != nil {
				break
			}
			return err
		}
		tried[l.provider().ID] = true
		res := h.leased(ctx, m, l, try)
		if !res.retry {
			return res.err
		}
		last = res.err
		// Out of time (or the client left, and nobody reads the answer):
		// the last provider's error is the answer.
		if ctx.Err() != nil || (attempt+1 < len(m.Providers) && !sleepCtx(ctx, backoff(attempt))) {
			return last
		}
	}
	return last
}

// leased runs try on the leased provider. The lease and the in-flight
// gauge are released by a deferred call, so a panic in try (recovered by
// ServeHTTP) frees the provider too; a panic is the router's fault, not
// the provider's, so it counts as Canceled (no verdict, no cool-down).
func (h *Handler) leased(ctx context.Context, m *config.Model, l lease, try func(p *config.Provider) attemptResult) (res attemptResult) {
	p := l.provider()
	requestInfo(ctx).routed(m.Name, p.ID)
	g := h.app.metrics.inflight.WithLabelValues(m.Name, p.ID)
	g.Inc()
	start := time.Now()
	finished := false
	defer func() {
		g.Dec()
		r := balance.Canceled
		if finished {
			r = outcome(ctx, res)
		}
		l.release(r, time.Since(start))
	}()
	res = try(p)
	finished = true
	return res
}

// send posts body to a provider with the request's id and returns the
// response; when there is none, the result says why (a retry for provider
// faults, nothing to tell a client that left).
func (h *Handler) send(ctx context.Context, up *provider.Upstream, op provider.Op, model string, body []byte) (*http.Response, attemptResult) {
	req, err := up.NewRequest(ctx, http.MethodPost, op, body)
	if err != nil {
		return nil, attemptResult{err: err}
	}
	req.Header.Set("X-Request-Id", requestInfo(ctx).requestID)
	resp, err := up.Client.Do(req)
	if err != nil {
		e := h.upstreamErrorCtx(ctx, up, model, err)
		return nil, attemptResult{err: e, retry: e != nil}
	}
	return resp, attemptResult{}
}

// exchange sends a non-streamed request to a provider and reads the whole
// answer. A connection failure, a timeout or a 429/5xx asks for a retry;
// another 4xx is the client's error in the provider's words.
func (h *Handler) exchange(ctx context.Context, p *config.Provider, model string, op provider.Op, body []byte) ([]byte, attemptResult) {
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.app.ExternalTimeout))
	defer cancel()
	up := h.app.Upstream(p.ID)
	resp, res := h.send(ctx, up, op, model, body)
	if resp == nil {
		return nil, res
	}
	defer resp.Body.Close()
	data, err := readAllSized(resp.Body, resp.ContentLength)
	if err != nil {
		e := h.upstreamErrorCtx(ctx, up, model, err)
		return nil, attemptResult{err: e, retry: e != nil}
	}
	if resp.StatusCode >= 300 {
		return nil, attemptResult{retry: retryableStatus(resp.StatusCode),
			err: &apiError{Status: resp.StatusCode, Msg: "provider error: " + upstreamMessage(data, resp.StatusCode)}}
	}
	return data, attemptResult{}
}
