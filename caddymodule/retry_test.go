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

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
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
	if err != nil || p.Attempts != 2 || p.Backoff != 5*time.Millisecond || p.BackoffMax != time.Second || p.On != engine.Retry5xx {
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
	if p.Attempts != 3 || p.On != engine.RetryAll {
		t.Fatalf("defaults %+v", p)
	}
	for attempt, d := range []time.Duration{25 * time.Millisecond, 50 * time.Millisecond} {
		for range 50 {
			if got := p.Pause(attempt); got < d/2 || got > d {
				t.Fatalf("pause after attempt %d = %v, want within [%v, %v]", attempt, got, d/2, d)
			}
		}
	}
	for s, want := range map[int]bool{400: false, 404: false, 429: true, 500: true, 503: true} {
		if p.Status(s) != want {
			t.Errorf("status %d retried = %v, want %v", s, !want, want)
		}
	}
	for k, want := range map[provider.Failure]bool{provider.Unreachable: true, provider.Broken: true, 0: true,
		provider.Timeout: true, provider.Canceled: false} {
		if p.Failure(k) != want {
			t.Errorf("failure %d retried = %v, want %v", k, !want, want)
		}
	}
	if !p.Malformed() {
		t.Error("a malformed answer is not retried")
	}
	for _, capped := range []engine.RetryPolicy{{Backoff: time.Second, BackoffMax: 3 * time.Second}, {Backoff: time.Hour, BackoffMax: 2 * time.Hour}} {
		for _, attempt := range []int{2, 40, 62, 100} {
			if got := capped.Pause(attempt); got < capped.BackoffMax/2 || got > capped.BackoffMax {
				t.Errorf("%+v: pause after attempt %d = %v, want capped at %v", capped, attempt, got, capped.BackoffMax)
			}
		}
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
