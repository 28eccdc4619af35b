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
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// leases is the engine's Balancer over the app's balancer: a lease's token
// is the *balance.Lease.
type leases struct{ a *App }

// result maps the engine's call result onto the balancer's.
func result(r engine.Result) balance.Result {
	switch r {
	case engine.Success:
		return balance.Success
	case engine.Failure:
		return balance.Failure
	}
	return balance.Canceled
}

// Release returns the provider with the call's outcome.
func (ls leases) Release(l engine.Lease, res engine.Result, d time.Duration) {
	bl := l.Token.(*balance.Lease)
	if bl.Release(balance.Outcome{Result: result(res), Latency: d}) {
		ls.a.keepAlive.Touch(bl.Provider().ID)
	}
}

// noneExcluded rules out no provider.
func noneExcluded(string) bool { return false }

// Acquire chooses a provider of m that exclude does not rule out.
func (ls leases) Acquire(ctx context.Context, m *config.Model, exclude func(id string) bool) (engine.Lease, error) {
	a := ls.a
	if exclude == nil {
		exclude = noneExcluded
	}
	s := a.strategies[m.Name]
	l, err := a.balancer.Acquire(ctx, m.Name, s, a.cands[m.Name], exclude)
	if err != nil {
		var qe *balance.QueueTimeoutError
		switch {
		case errors.As(err, &qe):
			return engine.Lease{}, &engine.Error{Status: http.StatusServiceUnavailable, RetryAfter: qe.RetryAfter,
				Msg: fmt.Sprintf("every provider of model '%s' stayed busy for %s; retry later", m.Name, qe.Waited.Round(time.Second))}
		case errors.Is(err, balance.ErrNoProvider):
			return engine.Lease{}, &engine.Error{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second,
				Msg: fmt.Sprintf("no provider of model '%s' is available (all are down or failing)", m.Name)}
		case provider.ClientGone(ctx):
			return engine.Lease{}, ctx.Err()
		case ctx.Err() != nil:
			return engine.Lease{}, &engine.Error{Status: http.StatusGatewayTimeout,
				Msg: fmt.Sprintf("no provider of model '%s' became free before the request timed out", m.Name)}
		}
		a.logger.Error("balancer failure", zap.String("model", m.Name), zap.Error(err))
		return engine.Lease{}, &engine.Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("no provider of model '%s' could be chosen", m.Name)}
	}
	kindName := a.Strategy
	if s != nil {
		kindName = s.Policy().Kind.String()
	}
	a.metrics.Selections.WithLabelValues(kindName, m.Name, l.Provider().ID).Inc()
	return engine.Lease{Provider: l.Provider().Ref.(*config.Provider), Token: l}, nil
}
