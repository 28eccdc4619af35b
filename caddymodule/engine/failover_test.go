package engine

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

// testBalancer leases the providers of a model in their configured order,
// each to one request at a time (first_available without a queue), and
// records the result of every release.
type testBalancer struct {
	mu       sync.Mutex
	held     map[string]bool
	released []Result
}

func newTestBalancer() *testBalancer { return &testBalancer{held: map[string]bool{}} }

func (b *testBalancer) Acquire(_ context.Context, m *config.Model, exclude func(id string) bool) (Lease, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, p := range m.Providers {
		if !b.held[p.ID] && (exclude == nil || !exclude(p.ID)) {
			b.held[p.ID] = true
			return Lease{Provider: p}, nil
		}
	}
	return Lease{}, &Error{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("no provider of model '%s' is available", m.Name)}
}

func (b *testBalancer) Release(l Lease, r Result, _ time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.held, l.Provider.ID)
	if len(b.released) < 8 { // the first few: a benchmark releases millions
		b.released = append(b.released, r)
	}
}

// firstAvailableApp is an engine with one model served by one provider,
// leased first-available.
func firstAvailableApp(t testing.TB) (*Server, *config.Model, *testBalancer) {
	t.Helper()
	cfg, err := config.Parse("test.json", []byte(`{
		"openai_models": {"m": {"providers": [{"id": "only", "api_host": "http://127.0.0.1:1", "api_type": "openai"}]}},
		"active_models": {"openai_models": ["m"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("m")
	b := newTestBalancer()
	e := New(Options{Config: cfg, Balancer: b, Retry: defaultRetry, Logger: zap.NewNop()})
	return &Server{app: e, logger: zap.NewNop()}, m, b
}

// TestFailoverPanicFreesProvider: a panic while a provider is leased (which
// ServeHTTP recovers into a 500) must not keep the provider held, or every
// later request of the model queues until its timeout under
// first_available.
func TestFailoverPanicFreesProvider(t *testing.T) {
	h, m, b := firstAvailableApp(t)
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("the panic did not reach the caller")
			}
		}()
		_ = h.failover(context.Background(), m, func(*config.Provider) attemptResult { panic("bug in an endpoint") })
	}()
	var g dto.Metric
	if err := h.app.metrics.Inflight.WithLabelValues("m", "only").Write(&g); err != nil {
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
	// The panic is the router's fault: the provider is not cooled down
	// (released with no verdict, not as a failure).
	if len(b.released) == 0 || b.released[0] != Canceled {
		t.Fatalf("releases %v: the provider was cooled down for the router's own panic", b.released)
	}
}

// BenchmarkFailover is the lease bookkeeping around one provider call:
// acquire, in-flight gauge, release.
func BenchmarkFailover(b *testing.B) {
	h, m, _ := firstAvailableApp(b)
	ctx := context.Background()
	ok := func(*config.Provider) attemptResult { return attemptResult{} }
	b.ReportAllocs()
	for b.Loop() {
		if err := h.failover(ctx, m, ok); err != nil {
			b.Fatal(err)
		}
	}
}
