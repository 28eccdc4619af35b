package engine

import (
	"context"
	"errors"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
)

// firstAvailableApp is an App with one model served by one provider under
// first_available, on the in-memory balancer.
func firstAvailableApp(t testing.TB) (*Handler, *config.Model) {
	t.Helper()
	cfg, err := config.Parse("test.json", []byte(`{
		"openai_models": {"m": {"providers": [{"id": "only", "api_host": "http://127.0.0.1:1", "api_type": "openai"}]}},
		"active_models": {"openai_models": ["m"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("m")
	b, err := balance.New(balance.Options{Default: balance.Policy{Kind: balance.FirstAvailable}, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	a := &App{cfg: cfg, balancer: b, metrics: newMetrics(), Strategy: "first_available", strategies: map[string]balance.Strategy{},
		keepAlive: &monitor.KeepAliveMonitor{Balancer: b}, logger: zap.NewNop()}
	if a.retry, err = a.Retries.resolve(); err != nil {
		t.Fatal(err)
	}
	a.cands = map[string][]balance.Candidate{"m": {{ID: "only", Host: m.Providers[0].APIHost, APIType: m.Providers[0].APIType, Ref: m.Providers[0]}}}
	return &Handler{app: a, logger: zap.NewNop()}, m
}

// TestFailoverPanicFreesProvider: a panic while a provider is leased (which
// ServeHTTP recovers into a 500) must not keep the provider held, or every
// later request of the model queues until its timeout under
// first_available.
func TestFailoverPanicFreesProvider(t *testing.T) {
	h, m := firstAvailableApp(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = h.failover(context.Background(), m, func(*config.Provider) attemptResult { panic("bug in an endpoint") })
	}()
	var g dto.Metric
	if err := h.app.metrics.inflight.WithLabelValues("m", "only").Write(&g); err != nil {
		t.Fatal(err)
	}
	if v := g.GetGauge().GetValue(); v != 0 {
		t.Errorf("in-flight gauge after the panic = %v, want 0", v)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	served := false
	err := h.failover(ctx, m, func(*config.Provider) attemptResult { served = true; return attemptResult{} })
	if err != nil || !served {
		t.Fatalf("the next request: err %v, served %v; the provider stayed held after the panic", err, served)
	}
	// The panic is the router's fault: the provider is not cooled down.
	if _, err := h.app.balancer.TryAcquire(ctx, "m", h.app.cands["m"][0]); errors.Is(err, balance.ErrNoProvider) {
		t.Fatal("the provider was cooled down for the router's own panic")
	}
}

// BenchmarkFailover is the lease bookkeeping around one provider call:
// acquire, in-flight gauge, release.
func BenchmarkFailover(b *testing.B) {
	h, m := firstAvailableApp(b)
	ctx := context.Background()
	ok := func(*config.Provider) attemptResult { return attemptResult{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := h.failover(ctx, m, ok); err != nil {
			b.Fatal(err)
		}
	}
}
