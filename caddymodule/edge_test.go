package caddymodule

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"go.uber.org/zap"
)

// edgeHandler is a handler with the endpoint table of prefix /api and no
// models, enough for the answers of edge.go.
func edgeHandler(t *testing.T, notFound bool, cors *CORS) *Handler {
	t.Helper()
	h := &Handler{NotFound: notFound, prefix: "/api", logger: zap.NewNop(), app: &App{metrics: engine.NewMetrics()}}
	var err error
	if h.cors, err = cors.policy(); err != nil {
		t.Fatal(err)
	}
	h.app.eng = engine.New(engine.Options{Metrics: h.app.metrics})
	if err := h.buildServer(engine.ServerOptions{Prefix: h.prefix}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestUnroutedPaths(t *testing.T) {
	silent := caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })
	answering := caddyhttp.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) error {
		w.WriteHeader(http.StatusTeapot)
		return nil
	})
	tests := []struct {
		name       string
		notFound   bool
		method     string
		path       string
		next       caddyhttp.Handler
		wantStatus int
		wantBody   []string // substrings
		wantAllow  string
	}{
		{"openai path typo", true, "POST", "/v1/chat/completion", silent, 404,
			[]string{`"message":"Invalid URL (POST /v1/chat/completion)`, `"type":"invalid_request_error"`, `"code":"unknown_url"`}, ""},
		{"bare health", true, "GET", "/health", silent, 404, []string{`{"error":{"message":"Invalid URL (GET /health)`}, ""},
		{"doubled slash", true, "POST", "//v1/chat/completions", silent, 404, []string{"did you mean /v1/chat/completions?"}, ""},
		{"doubled v1", true, "POST", "/v1/v1/chat/completions", silent, 404, []string{"did you mean /v1/chat/completions?"}, ""},
		{"under the prefix: ollama", true, "POST", "/api/chats", silent, 404, []string{`{"error":"Invalid URL (POST /api/chats)`}, ""},
		{"wrong method stays 405", true, "GET", "/v1/chat/completions", silent, 405, []string{"method GET is not allowed"}, "POST"},
		{"a later handler answers", true, "GET", "/manager/", answering, 418, nil, ""},
		{"off: pass-through", false, "GET", "/health", silent, 200, nil, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := edgeHandler(t, tt.notFound, nil)
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "http://x"+tt.path, nil)
			r.URL.Path = tt.path // keep a doubled slash
			if err := h.ServeHTTP(w, r, tt.next); err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.wantStatus {
				t.Fatalf("status %d, want %d: %s", w.Code, tt.wantStatus, w.Body)
			}
			for _, s := range tt.wantBody {
				if !strings.Contains(w.Body.String(), s) {
					t.Errorf("body %s lacks %s", w.Body, s)
				}
			}
			if tt.wantBody != nil && !json.Valid(w.Body.Bytes()) {
				t.Errorf("body is not JSON: %s", w.Body)
			}
			if got := w.Header().Get("Allow"); got != tt.wantAllow {
				t.Errorf("Allow %q, want %q", got, tt.wantAllow)
			}
			reg := prometheus.NewRegistry()
			reg.MustRegister(h.app.metrics.Requests)
			mw := httptest.NewRecorder()
			promhttp.HandlerFor(reg, promhttp.HandlerOpts{}).ServeHTTP(mw, httptest.NewRequest("GET", "/metrics", nil))
			counted := strings.Contains(mw.Body.String(), `llm_router_requests_total{code="404",endpoint="not_found",model="",provider=""} 1`)
			if counted != (tt.wantStatus == 404) {
				t.Errorf("not_found request counted: %v; metrics:\n%s", counted, mw.Body)
			}
		})
	}
}

func TestCORSPolicy(t *testing.T) {
	tests := []struct {
		name    string
		cors    *CORS
		origin  string
		want    string // Access-Control-Allow-Origin
		wantErr string
		off     bool
	}{
		{"nil is off", nil, "https://a.example", "", "", true},
		{"no origins is off", &CORS{Origins: []string{}}, "https://a.example", "", "", true},
		{"listed", &CORS{Origins: []string{"https://A.example", "http://b.example:8080"}}, "https://a.example", "https://a.example", "", false},
		{"comma separated", &CORS{Origins: []string{"https://a.example,http://b.example:8080"}}, "http://b.example:8080", "http://b.example:8080", "", false},
		{"not listed", &CORS{Origins: []string{"https://a.example"}}, "https://evil.example", "", "", false},
		{"any", &CORS{Origins: []string{"*"}}, "https://evil.example", "*", "", false},
		{"trailing slash accepted", &CORS{Origins: []string{"https://a.example/"}}, "https://a.example", "https://a.example", "", false},
		{"any with credentials", &CORS{Origins: []string{"*"}, Credentials: true}, "", "", "cannot be combined with credentials", false},
		{"a path is not an origin", &CORS{Origins: []string{"https://a.example/app"}}, "", "", "is not an origin", false},
		{"no scheme", &CORS{Origins: []string{"a.example"}}, "", "", "is not an origin", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := tt.cors.policy()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if (p == nil) != tt.off {
				t.Fatalf("policy %+v, off %v", p, tt.off)
			}
			if p != nil {
				if got := p.allowed(tt.origin); got != tt.want {
					t.Fatalf("allowed(%q) = %q, want %q", tt.origin, got, tt.want)
				}
			}
		})
	}
}

func TestCORSPreflight(t *testing.T) {
	h := edgeHandler(t, true, &CORS{Origins: []string{"https://app.example"}})
	pre := func(origin string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("OPTIONS", "/v1/messages", nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "POST")
		r.Header.Set("Access-Control-Request-Headers", "x-api-key,anthropic-version,content-type,anthropic-dangerous-direct-browser-access,bad header")
		w := httptest.NewRecorder()
		if err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil })); err != nil {
			t.Fatal(err)
		}
		return w
	}
	w := pre("https://app.example")
	hd := w.Header()
	if w.Code != 204 || hd.Get("Access-Control-Allow-Origin") != "https://app.example" || hd.Get("Access-Control-Allow-Methods") != "POST, OPTIONS" ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "anthropic-dangerous-direct-browser-access") ||
		!strings.Contains(hd.Get("Access-Control-Allow-Headers"), "Authorization") || strings.Contains(hd.Get("Access-Control-Allow-Headers"), "bad header") ||
		!strings.Contains(strings.Join(hd.Values("Vary"), ","), "Origin") {
		t.Fatalf("preflight %d %v", w.Code, hd)
	}
	if w := pre("https://evil.example"); w.Code != 403 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight of an unknown origin: %d %v", w.Code, w.Header())
	}
	off := edgeHandler(t, true, nil)
	r := httptest.NewRequest("OPTIONS", "/v1/messages", nil)
	r.Header.Set("Origin", "https://app.example")
	r.Header.Set("Access-Control-Request-Method", "POST")
	w = httptest.NewRecorder()
	_ = off.ServeHTTP(w, r, nil)
	if w.Code != 405 || w.Header().Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight with CORS off: %d %v", w.Code, w.Header())
	}
}

func TestPeekModel(t *testing.T) {
	for body, want := range map[string]string{
		`{"messages":[{"role":"user","content":"hi"}],"model":"gpt-x"}`:         "gpt-x",
		`{"model":"llama3.2","messages":[` + strings.Repeat(`"x",`, 1000):       "llama3.2", // cut off after the model
		`{"messages":[` + strings.Repeat(`"x",`, 1000) + `"x"],"model":"late"}`: "",         // beyond the limit
		`not json`:         "",
		`{"model":12}`:     "",
		`{"model":"a\"b"}`: `a"b`,
	} {
		if got := peekModel(strings.NewReader(body), 1024); got != want {
			t.Errorf("peekModel(%.40s…) = %q, want %q", body, got, want)
		}
	}
}

func TestEdgeCaddyfile(t *testing.T) {
	var h Handler
	err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(`llm_router {
		not_found
		provider_header off
		cors https://a.example,https://b.example http://c.example {
			credentials
		}
	}`))
	if err != nil {
		t.Fatal(err)
	}
	if !h.NotFound || h.ProviderHeader == nil || *h.ProviderHeader || h.CORS == nil || !h.CORS.Credentials || len(h.CORS.Origins) != 2 {
		t.Fatalf("parsed %+v %+v", h, h.CORS)
	}
	// LLM_ROUTER_CORS_ORIGINS expanded to nothing: CORS stays off.
	var e Handler
	if err := e.UnmarshalCaddyfile(caddyfile.NewTestDispenser("llm_router {\ncors\nnot_found off\n}")); err != nil || e.NotFound {
		t.Fatalf("empty cors: %v %+v", err, e)
	}
	if p, _ := e.CORS.policy(); p != nil {
		t.Fatal("cors without origins must be off")
	}
	for _, bad := range []string{"llm_router {\ncors * {\ncredentials\n}\n}", "llm_router {\ncors example.com\n}", "llm_router {\nnot_found maybe\n}"} {
		var b Handler
		if err := b.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}
