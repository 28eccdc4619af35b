package activate_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
)

func provider(fields ...string) doc.Provider {
	var p doc.Provider
	for i := 0; i+1 < len(fields); i += 2 {
		p.Fields = append(p.Fields, doc.FieldValue{Name: fields[i], Text: fields[i+1], Known: true})
	}
	return p
}

// TestProviderProbe: the test button asks the provider's own model list
// with its credentials and reports only status and latency.
func TestProviderProbe(t *testing.T) {
	up := llmtest.NewOpenAI("u")
	defer up.Close()
	ctx := context.Background()
	res, err := activate.TestProvider(ctx, provider("id", "a", "api_host", up.URL+"/", "api_type", "vllm", "api_token", "sk-probe"))
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != 200 || res.Latency <= 0 || res.URL != up.URL+"/v1/models" {
		t.Fatalf("result %+v", res)
	}
	reqs := up.Requests()
	last := reqs[len(reqs)-1]
	if last.Method != "GET" || last.Path != "/v1/models" || last.Header.Get("Authorization") != "Bearer sk-probe" {
		t.Fatalf("provider got %s %s %q", last.Method, last.Path, last.Header.Get("Authorization"))
	}

	// A placeholder token is resolved as the router resolves it.
	t.Setenv("PROBE_TEST_TOKEN", "sk-from-env")
	if _, err := activate.TestProvider(ctx, provider("id", "a", "api_host", up.URL, "api_type", "openai", "api_token", "{env.PROBE_TEST_TOKEN}")); err != nil {
		t.Fatal(err)
	}
	reqs = up.Requests()
	if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer sk-from-env" {
		t.Fatalf("placeholder token sent as %q", got)
	}

	// Ollama: /api/tags.
	ol := llmtest.NewOllama("o")
	defer ol.Close()
	res, err = activate.TestProvider(ctx, provider("id", "o", "api_host", ol.URL, "api_type", "ollama"))
	if err != nil || res.Status != 200 || !strings.HasSuffix(res.URL, "/api/tags") {
		t.Fatalf("ollama: %+v %v", res, err)
	}
}

// TestProviderProbeRefusals: only the provider's own host, no redirect,
// bounded in time and size, never the token in an error.
func TestProviderProbeRefusals(t *testing.T) {
	var elsewhere atomic.Int32
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { elsewhere.Add(1) }))
	defer other.Close()
	redirect := httptest.NewServer(http.RedirectHandler(other.URL+"/steal", http.StatusFound))
	defer redirect.Close()
	ctx := context.Background()

	res, err := activate.TestProvider(ctx, provider("id", "r", "api_host", redirect.URL, "api_type", "openai", "api_token", "sk-x"))
	if err != nil || res.Status != http.StatusFound || elsewhere.Load() != 0 {
		t.Fatalf("redirect: %+v %v, other host hit %d times", res, err, elsewhere.Load())
	}

	// An endless answer is cut at a bound.
	endless := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		buf := make([]byte, 32<<10)
		for r.Context().Err() == nil {
			if _, err := w.Write(buf); err != nil {
				return
			}
		}
	}))
	defer endless.Close()
	if res, err := activate.TestProvider(ctx, provider("id", "e", "api_host", endless.URL, "api_type", "openai")); err != nil || res.Status != 200 {
		t.Fatalf("endless answer: %+v %v", res, err)
	}

	// A provider that never answers ends with the caller's deadline (and
	// at most ProbeTimeout).
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() }))
	defer hang.Close()
	short, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	if _, err := activate.TestProvider(short, provider("id", "h", "api_host", hang.URL, "api_type", "openai", "api_token", "sk-hidden")); err == nil || strings.Contains(err.Error(), "sk-hidden") {
		t.Fatalf("hanging provider: %v", err)
	}

	// A connection refused names the provider, not the token.
	_, err = activate.TestProvider(ctx, provider("id", "down", "api_host", "http://127.0.0.1:1", "api_type", "openai", "api_token", "sk-hidden"))
	if err == nil || strings.Contains(err.Error(), "sk-hidden") || !strings.Contains(err.Error(), `"down"`) {
		t.Fatalf("refused connection: %v", err)
	}

	tests := []struct {
		name string
		p    doc.Provider
		want string
	}{
		{"not http", provider("id", "f", "api_host", "file:///etc/passwd", "api_type", "openai"), "api_host"},
		{"unknown type", provider("id", "f", "api_host", "http://h", "api_type", "grpc"), "api_type"},
		{"sealed token", provider("id", "f", "api_host", "http://h", "api_type", "openai", "api_token", doc.SealPrefix+"AAAA"), "not available in clear"},
		{"hidden token", provider("id", "f", "api_host", "http://h", "api_type", "openai", "api_token", doc.TokenMarker), "not available in clear"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := activate.TestProvider(ctx, tc.p)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
		})
	}
}
