package engine

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// TestErrorBodies pins, byte for byte, the error answer a client gets on
// each family of endpoints (OpenAI, Anthropic, Ollama, the built-in tasks)
// for the statuses the router answers with.
func TestErrorBodies(t *testing.T) {
	h := &Server{ServerOptions: ServerOptions{Prefix: "/api"}}
	routes := h.buildRoutes()
	h.routes = routes
	h.Handle("GET", "/api/health", "health", NoDialect, FamilyListing, nil) // as the adapter mounts its readiness probe
	const msg = `bad "thing" <x> & ü`
	const emsg = `"bad \"thing\" <x> & ü"`
	openAI := map[int]string{
		400: `{"error":{"message":` + emsg + `,"type":"invalid_request_error","param":null,"code":null}}`,
		401: `{"error":{"message":` + emsg + `,"type":"invalid_request_error","param":null,"code":"invalid_api_key"}}`,
		404: `{"error":{"message":` + emsg + `,"type":"invalid_request_error","param":null,"code":"model_not_found"}}`,
		413: `{"error":{"message":` + emsg + `,"type":"invalid_request_error","param":null,"code":null}}`,
		429: `{"error":{"message":` + emsg + `,"type":"rate_limit_exceeded","param":null,"code":null}}`,
		500: `{"error":{"message":` + emsg + `,"type":"server_error","param":null,"code":null}}`,
		502: `{"error":{"message":` + emsg + `,"type":"server_error","param":null,"code":null}}`,
		503: `{"error":{"message":` + emsg + `,"type":"server_error","param":null,"code":null}}`,
		504: `{"error":{"message":` + emsg + `,"type":"server_error","param":null,"code":null}}`,
	}
	anth := func(typ string) string {
		return `{"type":"error","error":{"type":"` + typ + `","message":` + emsg + `}}`
	}
	anthropic := map[int]string{
		400: anth("invalid_request_error"),
		401: anth("authentication_error"),
		404: anth("not_found_error"),
		413: anth("request_too_large"),
		429: anth("rate_limit_error"),
		500: anth("api_error"),
		502: anth("api_error"),
		503: anth("overloaded_error"),
		504: anth("timeout_error"),
	}
	ollamaBody := `{"error":` + emsg + `}`
	families := []struct {
		name   string
		routes []string
		want   func(status int) string
	}{
		{"openai", []string{"POST /v1/chat/completions", "POST /api/chat/completions", "POST /v1/completions",
			"POST /v1/responses", "POST /v1/embeddings", "POST /api/embeddings", "GET /v1/models", "GET /api/v0/models"},
			func(s int) string { return openAI[s] }},
		{"anthropic", []string{"POST /v1/messages"}, func(s int) string { return anthropic[s] }},
		{"ollama", []string{"POST /api/chat", "POST /api/generate", "POST /api/embed", "GET /api/tags", "POST /api/show", "GET /"},
			func(int) string { return ollamaBody }},
		// The built-in endpoints answer router errors (auth, limits) in OpenAI's shape.
		{"builtin", []string{"GET /api/ping", "GET /api/version", "GET /api/health", "POST /api/translate"},
			func(s int) string { return openAI[s] }},
	}
	for _, f := range families {
		for _, key := range f.routes {
			rt, ok := routes[key]
			if !ok {
				t.Fatalf("no route %q", key)
			}
			for _, status := range []int{400, 401, 404, 413, 429, 500, 502, 503, 504} {
				rec := httptest.NewRecorder()
				rec.Header().Set("Content-Length", "12")
				WriteError(rec, rt.Dialect, &Error{Status: status, Msg: msg})
				if rec.Code != status {
					t.Errorf("%s %s %d: status %d", f.name, key, status, rec.Code)
				}
				if got, want := rec.Body.String(), f.want(status)+"\n"; got != want {
					t.Errorf("%s %s %d:\n got %s\nwant %s", f.name, key, status, got, want)
				}
				if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
					t.Errorf("%s %s %d: Content-Type %q", f.name, key, status, ct)
				}
				if cl := rec.Header().Get("Content-Length"); cl != "" {
					t.Errorf("%s %s %d: stale Content-Length %q kept", f.name, key, status, cl)
				}
				if ra := rec.Header().Get("Retry-After"); ra != "" {
					t.Errorf("%s %s %d: Retry-After %q without a delay", f.name, key, status, ra)
				}
			}
		}
	}
}

// TestErrorDetails pins OpenAI's param and code, which the other shapes
// have no place for, and Retry-After, which every shape carries.
func TestErrorDetails(t *testing.T) {
	h := &Server{ServerOptions: ServerOptions{Prefix: "/api"}}
	routes := h.buildRoutes()
	e := &Error{Status: 429, Msg: "slow down", Param: "model", Code: "quota", RetryAfter: 1500 * time.Millisecond}
	for key, want := range map[string]string{
		"POST /v1/chat/completions": `{"error":{"message":"slow down","type":"rate_limit_exceeded","param":"model","code":"quota"}}`,
		"GET /api/ping":             `{"error":{"message":"slow down","type":"rate_limit_exceeded","param":"model","code":"quota"}}`,
		"POST /v1/messages":         `{"type":"error","error":{"type":"rate_limit_error","message":"slow down"}}`,
		"POST /api/chat":            `{"error":"slow down"}`,
	} {
		rec := httptest.NewRecorder()
		WriteError(rec, routes[key].Dialect, e)
		if got := strings.TrimSuffix(rec.Body.String(), "\n"); got != want {
			t.Errorf("%s:\n got %s\nwant %s", key, got, want)
		}
		if ra := rec.Header().Get("Retry-After"); ra != "2" {
			t.Errorf("%s: Retry-After %q, want 2 (rounded up)", key, ra)
		}
	}
	// 404 on an unknown URL: OpenAI's "unknown_url" code replaces model_not_found.
	rec := httptest.NewRecorder()
	WriteError(rec, routes["GET /v1/models"].Dialect, &Error{Status: http.StatusNotFound, Msg: "no", Code: "unknown_url"})
	if got, want := rec.Body.String(), `{"error":{"message":"no","type":"invalid_request_error","param":null,"code":"unknown_url"}}`+"\n"; got != want {
		t.Errorf("unknown url:\n got %s\nwant %s", got, want)
	}
}
