package caddymodule

import (
	"context"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
)

// leaseApp is an App with one model served by one provider under
// first_available, on the in-memory balancer.
func leaseApp(t testing.TB) (*App, *config.Model) {
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
	a := &App{cfg: cfg, balancer: b, metrics: engine.NewMetrics(), Strategy: "first_available", strategies: map[string]balance.Strategy{},
		keepAlive: &monitor.KeepAliveMonitor{Balancer: b}, logger: zap.NewNop()}
	a.collectCandidates()
	return a, m
}

// A lease released Canceled (the router's own failure) leaves the
// provider free and not cooled down.
func TestLeasesRelease(t *testing.T) {
	a, m := leaseApp(t)
	ls := leases{a}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	l, err := ls.Acquire(ctx, m, func(string) bool { return false })
	if err != nil || l.Provider.ID != "only" {
		t.Fatalf("acquire: %+v, %v", l, err)
	}
	ls.Release(l, engine.Canceled, time.Millisecond)
	if _, err := a.balancer.TryAcquire(ctx, "m", a.cands["m"][0]); err != nil {
		t.Fatalf("after a Canceled release the provider is not free: %v", err)
	}
}

// BenchmarkLeases is the adapter's part of failover: one lease of the
// balancer, taken and released.
func BenchmarkLeases(b *testing.B) {
	a, m := leaseApp(b)
	ls := leases{a}
	ctx := context.Background()
	none := func(string) bool { return false }
	b.ReportAllocs()
	for b.Loop() {
		l, err := ls.Acquire(ctx, m, none)
		if err != nil {
			b.Fatal(err)
		}
		ls.Release(l, engine.Success, time.Millisecond)
	}
}
