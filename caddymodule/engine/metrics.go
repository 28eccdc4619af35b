package engine

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the router's Prometheus collectors. They live in the usage
// pool so counts continue across reloads, and are registered into every
// config's registry (Caddy makes a new one per load).
type metrics struct {
	requests           *prometheus.CounterVec
	duration           *prometheus.HistogramVec
	ttft               *prometheus.HistogramVec
	tokens             *prometheus.CounterVec
	providerErrors     *prometheus.CounterVec
	inflight           *prometheus.GaugeVec
	selections         *prometheus.CounterVec
	authDecisions      *prometheus.CounterVec
	providerUp         *prometheus.GaugeVec
	redisUp            prometheus.Gauge
	maskerIncidents    prometheus.Counter
	guardrailIncidents prometheus.Counter
}

func (m *metrics) Destruct() error { return nil }

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.requests, m.duration, m.ttft, m.tokens, m.providerErrors, m.inflight, m.selections, m.authDecisions, m.providerUp, m.redisUp, m.maskerIncidents, m.guardrailIncidents}
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_requests_total",
			Help: "Requests served, by endpoint, model, provider and status code."}, []string{"endpoint", "model", "provider", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llm_router_request_duration_seconds",
			Help:    "Request duration until the last byte (streams included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, []string{"endpoint", "model"}),
		ttft: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llm_router_time_to_first_token_seconds",
			Help:    "Time until the first byte of a streamed answer reached the client.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30}}, []string{"model", "provider"}),
		tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_tokens_total",
			Help: "Tokens reported by providers (streams included), by direction (input, output)."}, []string{"model", "provider", "direction"}),
		providerErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_provider_errors_total",
			Help: "Failed provider calls, by provider and kind."}, []string{"provider", "kind"}),
		inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "llm_router_inflight_requests",
			Help: "Requests in flight per model and provider."}, []string{"model", "provider"}),
		selections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_lb_selections_total",
			Help: "Provider selections by the load balancer."}, []string{"strategy", "model", "provider"}),
		authDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_auth_decisions_total",
			Help: "API-key decisions, by result (allowed, no_key, unknown_key, disabled, expired, forbidden, rate_limited, ...)."}, []string{"result"}),
		providerUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "llm_router_provider_up",
			Help: "1 when the provider's health probe passes, 0 when it is marked down."}, []string{"provider"}),
		redisUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llm_router_redis_up",
			Help: "1 while the shared Redis state is in use, 0 while running on local state."}),
		maskerIncidents: prometheus.NewCounter(prometheus.CounterOpts{Name: "masker_incidents_total",
			Help: "Requests whose text the masking pipeline changed."}),
		guardrailIncidents: prometheus.NewCounter(prometheus.CounterOpts{Name: "guardrail_incidents_total",
			Help: "Requests blocked by a guardrail."}),
	}
}

// loadMetrics returns the shared collectors, registered in this config's registry.
func (a *App) loadMetrics(ctx caddy.Context) (*metrics, error) {
	v, _, err := pool.LoadOrNew("metrics", func() (caddy.Destructor, error) { return newMetrics(), nil })
	if err != nil {
		return nil, err
	}
	a.poolKeys = append(a.poolKeys, "metrics")
	m := v.(*metrics)
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		for _, c := range m.collectors() {
			var are prometheus.AlreadyRegisteredError
			if err := reg.Register(c); err != nil && !errors.As(err, &are) {
				return nil, err
			}
		}
	}
	return m, nil
}
