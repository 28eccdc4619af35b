package engine

import (
	"context"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// defaultRetry is the failover of the default retries option: 3 attempts,
// 25ms doubling, every failure class.
var defaultRetry = RetryPolicy{Attempts: 3, Backoff: 25 * time.Millisecond, BackoffMax: time.Second, On: RetryAll}

// retryApp is an engine with model m served by one openai provider per
// host, in that order, leased first-available, with the given failover
// policy (nil: the defaults).
func retryApp(t *testing.T, retries *RetryPolicy, hosts ...string) (*Server, *config.Model) {
	t.Helper()
	var ps []string
	for i, h := range hosts {
		ps = append(ps, fmt.Sprintf(`{"id": "p%d", "api_host": %q, "api_type": "openai"}`, i, h))
	}
	cfg, err := config.Parse("test.json", []byte(`{"openai_models": {"m": {"providers": [`+strings.Join(ps, ",")+`]}},
		"active_models": {"openai_models": ["m"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("m")
	policy := defaultRetry
	if retries != nil {
		policy = *retries
	}
	ups := map[string]*provider.Upstream{}
	for _, p := range m.Providers {
		rt := provider.NewTransport(provider.TransportOptions{ConnectTimeout: time.Second})
		t.Cleanup(rt.CloseIdleConnections)
		if ups[p.ID], err = provider.New(p, "", rt); err != nil {
			t.Fatal(err)
		}
	}
	e := New(Options{Config: cfg, Upstreams: ups, Balancer: newTestBalancer(), Retry: policy,
		ExternalTimeout: 10 * time.Second, MaxResponseBody: 64 << 20})
	return &Server{app: e, logger: zap.NewNop()}, m
}

// chat runs one chat request (non-streamed) through failover and returns the
// providers tried, in order, and the error.
func chat(t *testing.T, h *Server, m *config.Model) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var tried []string
	err := h.failover(ctx, m, func(p *config.Provider) attemptResult {
		tried = append(tried, p.ID)
		_, res := h.exchange(ctx, p, m.Name, provider.OpChat, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
		return res
	})
	return tried, err
}

func TestRetryAttempts(t *testing.T) {
	for _, tc := range []struct {
		retries *RetryPolicy
		want    []string
	}{
		{nil, []string{"p0", "p1", "p2"}},
		{&RetryPolicy{Attempts: 1, Backoff: 25 * time.Millisecond, BackoffMax: time.Second, On: RetryAll}, []string{"p0"}},
		{&RetryPolicy{Attempts: 2, Backoff: 25 * time.Millisecond, BackoffMax: time.Second, On: RetryAll}, []string{"p0", "p1"}},
	} {
		var hosts []string
		var fakes []*llmtest.OpenAI
		for i := range 4 {
			f := llmtest.NewOpenAI(fmt.Sprint("f", i))
			t.Cleanup(f.Close)
			f.SetFault(llmtest.Fail500)
			fakes = append(fakes, f)
			hosts = append(hosts, f.URL)
		}
		h, m := retryApp(t, tc.retries, hosts...)
		tried, err := chat(t, h, m)
		if ae, ok := err.(*Error); !ok || ae.Status != http.StatusInternalServerError {
			t.Errorf("retries %+v: error %v, want the last provider's 500", tc.retries, err)
		}
		if !reflect.DeepEqual(tried, tc.want) {
			t.Errorf("retries %+v: tried %v, want %v", tc.retries, tried, tc.want)
		}
		for i, f := range fakes {
			want := 0
			if i < len(tc.want) {
				want = 1
			}
			if got := f.Count("/v1/chat/completions"); got != want {
				t.Errorf("retries %+v: provider %d got %d requests, want %d", tc.retries, i, got, want)
			}
		}
	}
}

// TestRetryOnConnectOnly: with `on connect`, a 500 is the answer (no
// second provider asked), while a provider that refuses the connection is
// still failed over.
func TestRetryOnConnectOnly(t *testing.T) {
	bad, good := llmtest.NewOpenAI("bad"), llmtest.NewOpenAI("good")
	t.Cleanup(bad.Close)
	t.Cleanup(good.Close)
	bad.SetFault(llmtest.Fail500)
	onConnect := &RetryPolicy{Attempts: 3, Backoff: 25 * time.Millisecond, BackoffMax: time.Second, On: RetryConnect}

	h, m := retryApp(t, onConnect, bad.URL, good.URL)
	tried, err := chat(t, h, m)
	if ae, ok := err.(*Error); !ok || ae.Status != http.StatusInternalServerError || !reflect.DeepEqual(tried, []string{"p0"}) {
		t.Errorf("500 with on connect: tried %v, error %v; want only p0 and its 500", tried, err)
	}
	if n := good.Count("/v1/chat/completions"); n != 0 {
		t.Errorf("the second provider got %d requests after a 500 with on connect", n)
	}
	// Not retried, but still the provider's fault: it counts against the
	// provider's passive health.
	ctx := context.Background()
	_, res := h.exchange(ctx, m.Providers[0], m.Name, provider.OpChat, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if res.retry || outcome(ctx, res) != Failure {
		t.Errorf("a 500 with on connect: retry %v, outcome %v; want no retry and a failure for passive health", res.retry, outcome(ctx, res))
	}

	h, m = retryApp(t, onConnect, "http://127.0.0.1:1", good.URL)
	tried, err = chat(t, h, m)
	if err != nil || !reflect.DeepEqual(tried, []string{"p0", "p1"}) {
		t.Errorf("refused connection with on connect: tried %v, error %v; want p0 then p1 answering", tried, err)
	}
}
