package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// attemptResult is how one provider call went.
type attemptResult struct {
	err   error
	retry bool // nothing reached the client; another provider may be tried
	// fault: the provider failed (connection, timeout, 429, 5xx, an
	// unreadable answer), which counts against its passive health whether
	// or not the retries option retries it.
	fault bool
}

// failover leases providers of m in turn and runs try on each until one
// call does not ask for a retry, at most the retries option's attempts
// times, with its short jittered pause between attempts. Every endpoint
// fails over through it, so leases are always released with the call's
// outcome and the in-flight gauge and request info always name the
// provider. It returns the last
// attempt's error (an acquisition error when no provider could be leased).
func (h *Server) failover(ctx context.Context, m *config.Model, try func(p *config.Provider) attemptResult) error {
	// The providers tried, made at the first retry: the closure passed
	// through the Balancer interface escapes, and a request answered by
	// its first provider should not pay for it.
	var tried map[string]bool
	var exclude func(id string) bool // nil: none excluded
	var last error
	attempts := min(len(m.Providers), h.app.retry.Attempts)
	for attempt := 0; attempt < attempts; attempt++ {
		l, err := h.app.balancer.Acquire(ctx, m, exclude)
		if err != nil {
			if last != nil {
				break
			}
			return err
		}
		res := h.leased(ctx, m, l, try)
		if !res.retry {
			return res.err
		}
		if tried == nil {
			t := map[string]bool{}
			exclude = func(id string) bool { return t[id] }
			tried = t
		}
		tried[l.Provider.ID] = true
		last = res.err
		// Out of time (or the client left, and nobody reads the answer):
		// the last provider's error is the answer.
		if ctx.Err() != nil || (attempt+1 < attempts && !sleepCtx(ctx, h.app.retry.Pause(attempt))) {
			return last
		}
	}
	return last
}

// leased runs try on the leased provider. The lease and the in-flight
// gauge are released by a deferred call, so a panic in try (recovered by
// Serve) frees the provider too; a panic is the router's fault, not
// the provider's, so it counts as Canceled (no verdict, no cool-down).
func (h *Server) leased(ctx context.Context, m *config.Model, l Lease, try func(p *config.Provider) attemptResult) (res attemptResult) {
	p := l.Provider
	requestInfo(ctx).routed(m.Name, p.ID)
	g := h.app.metrics.Inflight.WithLabelValues(m.Name, p.ID)
	g.Inc()
	start := time.Now()
	finished := false
	defer func() {
		g.Dec()
		r := Canceled
		if finished {
			r = outcome(ctx, res)
		}
		h.app.balancer.Release(l, r, time.Since(start))
	}()
	res = try(p)
	finished = true
	return res
}

// send posts body to a provider with the request's id and returns the
// response; when there is none, the result says why (a retry for provider
// faults, nothing to tell a client that left).
func (h *Server) send(ctx context.Context, up *provider.Upstream, op provider.Op, model string, body []byte) (*http.Response, attemptResult) {
	req, err := up.NewRequest(ctx, http.MethodPost, op, body)
	if err != nil {
		return nil, attemptResult{err: err}
	}
	req.Header.Set("X-Request-Id", requestInfo(ctx).requestID)
	resp, err := up.Client.Do(req)
	if err != nil {
		return nil, h.callFailed(ctx, up, model, err)
	}
	return resp, attemptResult{}
}

// exchange sends a non-streamed request to a provider and reads the whole
// answer. A connection failure, a timeout or a 429/5xx asks for a retry
// when the retries option lists its class; another 4xx is the client's
// error in the provider's words.
func (h *Server) exchange(ctx context.Context, p *config.Provider, model string, op provider.Op, body []byte) ([]byte, attemptResult) {
	ctx, cancel := context.WithTimeout(ctx, h.app.externalTimeout)
	defer cancel()
	up := h.app.Upstream(p.ID)
	resp, res := h.send(ctx, up, op, model, body)
	if resp == nil {
		return nil, res
	}
	defer resp.Body.Close()
	data, g, err := h.readAnswer(resp)
	if err != nil {
		return nil, h.readFailed(ctx, up, model, resp.StatusCode, err)
	}
	// The budget covers the reading; the caller decodes data at once.
	defer g.release()
	if resp.StatusCode >= 300 {
		return nil, attemptResult{retry: h.app.retry.Status(resp.StatusCode), fault: faultStatus(resp.StatusCode),
			err: &Error{Status: resp.StatusCode, Msg: "provider error: " + upstreamMessage(data, resp.StatusCode)}}
	}
	return data, attemptResult{}
}

// readAnswer reads a provider's whole answer within the router's bounds:
// max_response_body for a success, MaxErrorBody for an error answer, and
// beyond an allowance of 256 KiB the budget all answers share. The grant
// holds the answer's share of that budget until it is released, once the
// answer is no longer needed.
func (h *Server) readAnswer(resp *http.Response) ([]byte, grant, error) {
	limit := h.app.maxResponseBody
	if resp.StatusCode >= 300 {
		limit = MaxErrorBody
	}
	g := grant{b: h.app.answers}
	data, err := readGranted(resp.Body, resp.ContentLength, limit, &g)
	if err != nil {
		g.release()
		return nil, grant{}, err
	}
	return data, g, nil
}

// readFailed is the result of a provider answer that could not be read
// whole: cut or timed out (a provider fault, so a retry), or too large.
func (h *Server) readFailed(ctx context.Context, up *provider.Upstream, model string, status int, err error) attemptResult {
	switch {
	case errors.Is(err, errTooLarge):
		return h.tooLarge(up.P.ID, model, status)
	case errors.Is(err, errBusy):
		// Not the provider's fault, and another provider would need the
		// same budget: the client retries in a moment.
		h.logger.Warn("provider answer refused: the budget of buffered answers is spent", zap.String("provider", up.P.ID),
			zap.String("model", model), zap.Int64("max_response_body", h.app.maxResponseBody))
		return attemptResult{err: &Error{Status: http.StatusServiceUnavailable, RetryAfter: time.Second,
			Msg: fmt.Sprintf("the router is reading too many large answers at once; retry the request to model '%s' shortly", model)}}
	}
	return h.callFailed(ctx, up, model, err)
}

// callFailed is the result of a provider call that failed without an
// answer: the client's error, retried when the retries option says so.
func (h *Server) callFailed(ctx context.Context, up *provider.Upstream, model string, err error) attemptResult {
	kind, e := h.upstreamErrorCtx(ctx, up, model, err)
	return attemptResult{err: e, retry: e != nil && h.app.retry.Failure(kind), fault: e != nil}
}

// tooLarge answers for a provider whose answer passed the router's bound:
// reading stopped there, and the caller's deferred Close drops the
// connection instead of draining it into the keep-alive pool. A success
// that large is what the request asked for, so it is neither retried nor
// held against the provider's health; an error answer that large follows
// its status (a 5xx is retried elsewhere).
func (h *Server) tooLarge(providerID, model string, status int) attemptResult {
	h.app.metrics.ProviderErrors.WithLabelValues(providerID, "too_large").Inc()
	what, limit, name := "answer", h.app.maxResponseBody, "max_response_body"
	if status >= 300 {
		what, limit, name = "error answer", MaxErrorBody, "the bound of error answers"
	}
	h.logger.Warn("provider answer too large; connection closed", zap.String("provider", providerID),
		zap.String("model", model), zap.Int("status", status), zap.Int64("limit", limit))
	return attemptResult{retry: status >= 300 && h.app.retry.Status(status), fault: status >= 300 && faultStatus(status), err: &Error{Status: http.StatusBadGateway,
		Msg: fmt.Sprintf("the %s of the provider of model '%s' is too large: it exceeds the router's limit of %s (%s)",
			what, model, humanize.IBytes(uint64(limit)), name)}}
}

// unreadable answers for a provider whose success answer could not be
// read (not JSON, not the dialect's shape): a provider fault, counted, and
// retried on another provider (nothing reached the client yet) unless the
// retries option leaves malformed answers out.
func (h *Server) unreadable(providerID, model string, err error) attemptResult {
	h.app.metrics.ProviderErrors.WithLabelValues(providerID, "malformed").Inc()
	h.logger.Warn("provider answer could not be read", zap.String("provider", providerID), zap.String("model", model), zap.Error(err))
	return attemptResult{retry: h.app.retry.Malformed(), fault: true, err: &Error{Status: http.StatusBadGateway,
		Msg: fmt.Sprintf("the provider of model '%s' sent an answer that could not be read", model)}}
}
