package engine

import (
	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are the router's Prometheus collectors. The adapter keeps them
// in its usage pool so counts continue across reloads, and registers them
// into every config's registry (Caddy makes a new one per load).
type Metrics struct {
	Requests           *prometheus.CounterVec
	Duration           *prometheus.HistogramVec
	TTFT               *prometheus.HistogramVec
	Tokens             *prometheus.CounterVec
	ProviderErrors     *prometheus.CounterVec
	Inflight           *prometheus.GaugeVec
	Selections         *prometheus.CounterVec
	AuthDecisions      *prometheus.CounterVec
	ProviderUp         *prometheus.GaugeVec
	RedisUp            prometheus.Gauge
	MaskerIncidents    prometheus.Counter
	GuardrailIncidents prometheus.Counter
}

// Destruct implements caddy.Destructor (the adapter pools the collectors).
func (m *Metrics) Destruct() error { return nil }

// Collectors returns every collector, for registration.
func (m *Metrics) Collectors() []prometheus.Collector {
	return []prometheus.Collector{m.Requests, m.Duration, m.TTFT, m.Tokens, m.ProviderErrors, m.Inflight, m.Selections, m.AuthDecisions, m.ProviderUp, m.RedisUp, m.MaskerIncidents, m.GuardrailIncidents}
}

// NewMetrics returns fresh, unregistered collectors.
func NewMetrics() *Metrics {
	return &Metrics{
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_requests_total",
			Help: "Requests served, by endpoint, model, provider and status code."}, []string{"endpoint", "model", "provider", "code"}),
		Duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llm_router_request_duration_seconds",
			Help:    "Request duration until the last byte (streams included).",
			Buckets: []float64{.005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 120, 300}}, []string{"endpoint", "model"}),
		TTFT: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "llm_router_time_to_first_token_seconds",
			Help:    "Time until the first byte of a streamed answer reached the client.",
			Buckets: []float64{.01, .025, .05, .1, .25, .5, 1, 2, 5, 10, 30}}, []string{"model", "provider"}),
		Tokens: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_tokens_total",
			Help: "Tokens reported by providers (streams included), by direction (input, output)."}, []string{"model", "provider", "direction"}),
		ProviderErrors: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_provider_errors_total",
			Help: "Failed provider calls, by provider and kind."}, []string{"provider", "kind"}),
		Inflight: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "llm_router_inflight_requests",
			Help: "Requests in flight per model and provider."}, []string{"model", "provider"}),
		Selections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_lb_selections_total",
			Help: "Provider selections by the load balancer."}, []string{"strategy", "model", "provider"}),
		AuthDecisions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "llm_router_auth_decisions_total",
			Help: "API-key decisions, by result (allowed, no_key, unknown_key, disabled, expired, forbidden, rate_limited, ...)."}, []string{"result"}),
		ProviderUp: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "llm_router_provider_up",
			Help: "1 when the provider's health probe passes, 0 when it is marked down."}, []string{"provider"}),
		RedisUp: prometheus.NewGauge(prometheus.GaugeOpts{Name: "llm_router_redis_up",
			Help: "1 while the shared Redis state is in use, 0 while running on local state."}),
		MaskerIncidents: prometheus.NewCounter(prometheus.CounterOpts{Name: "masker_incidents_total",
			Help: "Requests whose text the masking pipeline changed."}),
		GuardrailIncidents: prometheus.NewCounter(prometheus.CounterOpts{Name: "guardrail_incidents_total",
			Help: "Requests blocked by a guardrail."}),
	}
}
