package caddymodule

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

// lease is a provider handed to one request until it is released.
type lease interface {
	provider() *config.Provider
	// release returns the provider; ok tells whether the call succeeded and
	// d how long it took. Releasing twice is harmless.
	release(ok bool, d time.Duration)
}

type rrLease struct{ p *config.Provider }

func (l rrLease) provider() *config.Provider  { return l.p }
func (l rrLease) release(bool, time.Duration) {}

// acquire chooses a provider of m that exclude does not rule out.
func (a *App) acquire(ctx context.Context, m *config.Model, exclude func(id string) bool) (lease, error) {
	n := len(m.Providers)
	start := a.rr.next(m.Name, n)
	for i := 0; i < n; i++ {
		p := m.Providers[(start+i)%n]
		if !exclude(p.ID) {
			a.metrics.selections.WithLabelValues("round_robin", m.Name, p.ID).Inc()
			return rrLease{p}, nil
		}
	}
	return nil, &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("no provider of model '%s' is available", m.Name)}
}
