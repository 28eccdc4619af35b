package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// lease is a provider held by one request until it is released.
type lease struct {
	l *balance.Lease
	a *App
}

func (l lease) provider() *config.Provider { return l.l.Provider().Ref.(*config.Provider) }

// release returns the provider with the call's outcome.
func (l lease) release(res balance.Result, d time.Duration) {
	if l.l.Release(balance.Outcome{Result: res, Latency: d}) {
		l.a.keepAlive.Touch(l.l.Provider().ID)
	}
}

// acquire chooses a provider of m that exclude does not rule out.
func (a *App) acquire(ctx context.Context, m *config.Model, exclude func(id string) bool) (lease, error) {
	s := a.strategies[m.Name]
	l, err := a.balancer.Acquire(ctx, m.Name, s, a.cands[m.Name], exclude)
	if err != nil {
		var qe *balance.QueueTimeoutError
		switch {
		case errors.As(err, &qe):
			return lease{}, &apiError{Status: http.StatusServiceUnavailable, RetryAfter: qe.RetryAfter,
				Msg: fmt.Sprintf("every provider of model '%s' stayed busy for %s; retry later", m.Name, qe.Waited.Round(time.Second))}
		case errors.Is(err, balance.ErrNoProvider):
			return lease{}, &apiError{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second,
				Msg: fmt.Sprintf("no provider of model '%s' is available (all are down or failing)", m.Name)}
		case provider.ClientGone(ctx):
			return lease{}, ctx.Err()
		case ctx.Err() != nil:
			return lease{}, &apiError{Status: http.StatusGatewayTimeout,
				Msg: fmt.Sprintf("no provider of model '%s' became free before the request timed out", m.Name)}
		}
		a.logger.Error("balancer failure", zap.String("model", m.Name), zap.Error(err))
		return lease{}, &apiError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("no provider of model '%s' could be chosen", m.Name)}
	}
	kindName := a.Strategy
	if s != nil {
		kindName = s.Policy().Kind.String()
	}
	a.metrics.selections.WithLabelValues(kindName, m.Name, l.Provider().ID).Inc()
	return lease{l: l, a: a}, nil
}
