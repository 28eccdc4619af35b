package caddymodule

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

func TestAppCaddyfileRetriesAndTransport(t *testing.T) {
	ms := func(n int) caddy.Duration { return caddy.Duration(time.Duration(n) * time.Millisecond) }
	for _, tc := range []struct {
		in        string
		retries   *RetryOptions
		transport string
		per       map[string]string
	}{
		{in: "llm_router", retries: nil},
		{in: "llm_router {\n retries {\n attempts 1\n }\n }", retries: &RetryOptions{Attempts: 1}},
		{in: "llm_router {\n retries {\n attempts 5\n backoff 100ms\n on connect timeout\n }\n }",
			retries: &RetryOptions{Attempts: 5, Backoff: ms(100), On: []string{"connect", "timeout"}}},
		{in: "llm_router {\n retries {\n backoff 10ms 2s\n on 429 5xx malformed\n }\n }",
			retries: &RetryOptions{Backoff: ms(10), BackoffMax: ms(2000), On: []string{"429", "5xx", "malformed"}}},
		{in: "llm_router {\n transport net_http\n }", transport: "net_http"},
		{in: "llm_router {\n transport h1\n provider_transport vllm-1 net_http\n provider_transport ollama-2 h1\n }",
			transport: "h1", per: map[string]string{"vllm-1": "net_http", "ollama-2": "h1"}},
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in)); err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if !reflect.DeepEqual(a.Retries, tc.retries) || a.Transport != tc.transport || !reflect.DeepEqual(a.ProviderTransports, tc.per) {
			t.Errorf("%q: retries %+v transport %q per-provider %v; want %+v %q %v", tc.in, a.Retries, a.Transport, a.ProviderTransports,
				tc.retries, tc.transport, tc.per)
		}
	}
	for _, tc := range []struct{ in, want string }{
		{"llm_router {\n retries {\n attempts 0\n }\n }", "attempts must be at least 1"},
		{"llm_router {\n retries {\n attempts many\n }\n }", "not a whole number"},
		{"llm_router {\n retries {\n backoff soon\n }\n }", "invalid duration"},
		{"llm_router {\n retries {\n backoff 1s 10ms\n }\n }", "below the initial backoff"},
		{"llm_router {\n retries {\n backoff 1s 2s 3s\n }\n }", "wrong argument count"},
		{"llm_router {\n retries {\n on connect 404\n }\n }", `unknown failure "404"`},
		{"llm_router {\n retries {\n on\n }\n }", "wrong argument count"},
		{"llm_router {\n retries {\n tries 3\n }\n }", `unrecognized retries option "tries"`},
		{"llm_router {\n transport h2\n }", `transport: unknown transport "h2"`},
		{"llm_router {\n provider_transport vllm-1\n }", "wrong argument count"},
		{"llm_router {\n provider_transport vllm-1 grpc\n }", `provider_transport vllm-1: unknown transport "grpc"`},
	} {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
}

// TestRetryOptionsJSON: options set in JSON config are validated at
// provision with errors naming the option.
func TestRetryOptionsJSON(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`{"retries": {"attempts": -1}}`, "retries: attempts must be at least 1"},
		{`{"retries": {"backoff": "-1s"}}`, "retries: backoff must not be negative"},
		{`{"retries": {"backoff": "1s", "backoff_max": "10ms"}}`, "below the initial backoff"},
		{`{"retries": {"on": ["connect", "4xx"]}}`, `retries: on: unknown failure "4xx"`},
	} {
		var a App
		if err := json.Unmarshal([]byte(tc.in), &a); err != nil {
			t.Fatal(err)
		}
		if _, err := a.Retries.resolve(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.in, err, tc.want)
		}
	}
	var a App
	if err := json.Unmarshal([]byte(`{"retries": {"attempts": 2, "backoff": "5ms", "on": ["5xx"]}}`), &a); err != nil {
		t.Fatal(err)
	}
	p, err := a.Retries.resolve()
	if err != nil || p.attempts != 2 || p.backoff != 5*time.Millisecond || p.backoffMax != time.Second || p.on != retry5xx {
		t.Errorf("resolved %+v, %v", p, err)
	}
}

// TestRetryDefaults: without a retries option, failover is what it was
// before the option existed: 3 attempts, 25ms doubling pauses jittered to
// their upper half, every failure class retried.
func TestRetryDefaults(t *testing.T) {
	p, err := (*RetryOptions)(nil).resolve()
	if err != nil {
		t.Fatal(err)
	}
	if p.attempts != 3 || p.on != retryAll {
		t.Fatalf("defaults %+v", p)
	}
	for attempt, d := range []time.Duration{25 * time.Millisecond, 50 * time.Millisecond} {
		for range 50 {
			if got := p.pause(attempt); got < d/2 || got > d {
				t.Fatalf("pause after attempt %d = %v, want within [%v, %v]", attempt, got, d/2, d)
			}
		}
	}
	for s, want := range map[int]bool{400: false, 404: false, 429: true, 500: true, 503: true} {
		if p.status(s) != want {
			t.Errorf("status %d retried = %v, want %v", s, !want, want)
		}
	}
	for k, want := range map[provider.Failure]bool{provider.Unreachable: true, provider.Broken: true, 0: true,
		provider.Timeout: true, provider.Canceled: false} {
		if p.failure(k) != want {
			t.Errorf("failure %d retried = %v, want %v", k, !want, want)
		}
	}
	if !p.malformed() {
		t.Error("a malformed answer is not retried")
	}
	for _, capped := range []retryPolicy{{backoff: time.Second, backoffMax: 3 * time.Second}, {backoff: time.Hour, backoffMax: 2 * time.Hour}} {
		for _, attempt := range []int{2, 40, 62, 100} {
			if got := capped.pause(attempt); got < capped.backoffMax/2 || got > capped.backoffMax {
				t.Errorf("%+v: pause after attempt %d = %v, want capped at %v", capped, attempt, got, capped.backoffMax)
			}
		}
	}
}

// retryApp is an App with model m served by one openai provider per host,
// in that order, under first_available, with the given retries option.
func retryApp(t *testing.T, retries *RetryOptions, hosts ...string) (*Handler, *config.Model) {
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
	b, err := balance.New(balance.Options{Default: balance.Policy{Kind: balance.FirstAvailable}, QueueTimeout: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	a := &App{cfg: cfg, balancer: b, metrics: newMetrics(), Strategy: "first_available", strategies: map[string]balance.Strategy{},
		keepAlive: &monitor.KeepAliveMonitor{Balancer: b}, logger: zap.NewNop(), Retries: retries,
		ExternalTimeout: caddy.Duration(10 * time.Second), MaxResponseBody: DefaultMaxResponseBody, upstreams: map[string]*provider.Upstream{}}
	a.answers = &answerBudget{max: a.MaxResponseBody}
	if a.retry, err = a.Retries.resolve(); err != nil {
		t.Fatal(err)
	}
	a.cands = map[string][]balance.Candidate{}
	for _, p := range m.Providers {
		a.cands["m"] = append(a.cands["m"], balance.Candidate{ID: p.ID, Host: p.APIHost, APIType: p.APIType, Ref: p})
		rt := provider.NewTransport(provider.TransportOptions{ConnectTimeout: time.Second})
		t.Cleanup(rt.CloseIdleConnections)
		if a.upstreams[p.ID], err = provider.New(p, "", rt); err != nil {
			t.Fatal(err)
		}
	}
	return &Handler{app: a, logger: zap.NewNop()}, m
}

// chat runs one chat request (non-streamed) through failover and returns the
// providers tried, in order, and the error.
func chat(t *testing.T, h *Handler, m *config.Model) ([]string, error) {
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
		retries *RetryOptions
		want    []string
	}{
		{nil, []string{"p0", "p1", "p2"}},
		{&RetryOptions{Attempts: 1}, []string{"p0"}},
		{&RetryOptions{Attempts: 2}, []string{"p0", "p1"}},
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
		if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusInternalServerError {
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
	onConnect := &RetryOptions{On: []string{"connect"}}

	h, m := retryApp(t, onConnect, bad.URL, good.URL)
	tried, err := chat(t, h, m)
	if ae, ok := err.(*apiError); !ok || ae.Status != http.StatusInternalServerError || !reflect.DeepEqual(tried, []string{"p0"}) {
		t.Errorf("500 with on connect: tried %v, error %v; want only p0 and its 500", tried, err)
	}
	if n := good.Count("/v1/chat/completions"); n != 0 {
		t.Errorf("the second provider got %d requests after a 500 with on connect", n)
	}
	// Not retried, but still the provider's fault: it counts against the
	// provider's passive health.
	ctx := context.Background()
	_, res := h.exchange(ctx, m.Providers[0], m.Name, provider.OpChat, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	if res.retry || outcome(ctx, res) != balance.Failure {
		t.Errorf("a 500 with on connect: retry %v, outcome %v; want no retry and a failure for passive health", res.retry, outcome(ctx, res))
	}

	h, m = retryApp(t, onConnect, "http://127.0.0.1:1", good.URL)
	tried, err = chat(t, h, m)
	if err != nil || !reflect.DeepEqual(tried, []string{"p0", "p1"}) {
		t.Errorf("refused connection with on connect: tried %v, error %v; want p0 then p1 answering", tried, err)
	}
}

// TestProviderTransport: the transport option and its per-provider
// override decide which client an http:// provider gets.
func TestProviderTransport(t *testing.T) {
	f := llmtest.NewOpenAI("f")
	t.Cleanup(f.Close)
	for _, tc := range []struct {
		transport string
		per       map[string]string
		want      map[string]string // provider id → transport type
	}{
		{"", nil, map[string]string{"a": "*h1.Transport", "b": "*h1.Transport"}},
		{"net_http", nil, map[string]string{"a": "*http.Transport", "b": "*http.Transport"}},
		{"", map[string]string{"b": "net_http"}, map[string]string{"a": "*h1.Transport", "b": "*http.Transport"}},
		{"net_http", map[string]string{"a": "h1"}, map[string]string{"a": "*h1.Transport", "b": "*http.Transport"}},
	} {
		a := &App{Transport: tc.transport, ProviderTransports: tc.per, ConnectTimeout: caddy.Duration(time.Second),
			ExternalTimeout: caddy.Duration(10 * time.Second)}
		for id, want := range tc.want {
			p := &config.Provider{ID: id, APIHost: f.URL, APIType: "openai"}
			rt, key, err := a.transport(p)
			if err != nil {
				t.Fatal(err)
			}
			if got := fmt.Sprintf("%T", rt); got != want {
				t.Errorf("transport %q %v: provider %s got %s, want %s", tc.transport, tc.per, id, got, want)
			}
			// The transport really carries the provider's traffic.
			up, err := provider.New(p, "", rt)
			if err != nil {
				t.Fatal(err)
			}
			req, err := up.NewRequest(context.Background(), http.MethodPost, provider.OpChat, []byte(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			resp, err := up.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			_ = resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Errorf("provider %s over %s: status %d", id, want, resp.StatusCode)
			}
			if _, err := pool.Delete(key); err != nil {
				t.Fatal(err)
			}
		}
	}
}
