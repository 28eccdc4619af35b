package caddymodule

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/prometheus/client_golang/prometheus"
)

// loadMetrics returns the shared collectors, registered in this config's registry.
func (a *App) loadMetrics(ctx caddy.Context) (*engine.Metrics, error) {
	v, _, err := pool.LoadOrNew("metrics", func() (caddy.Destructor, error) { return engine.NewMetrics(), nil })
	if err != nil {
		return nil, err
	}
	a.poolKeys = append(a.poolKeys, "metrics")
	m := v.(*engine.Metrics)
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		for _, c := range m.Collectors() {
			var are prometheus.AlreadyRegisteredError
			if err := reg.Register(c); err != nil && !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
