package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// do sends a raw request and returns the status, headers and body.
func do(t *testing.T, method, url, body string, hdr map[string]string) (int, http.Header, string) {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// rawPath sends a request whose path is written as is (net/http would
// not clean it, but a URL parser might).
func rawPath(t *testing.T, r *router, method, path string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, r.Base(), strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Path, req.URL.RawPath = path, ""
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	return resp.StatusCode, string(b)
}

// checkNotFound asserts a 404 with a JSON error of the dialect naming path.
func checkNotFound(t *testing.T, code int, body, path string, ollamaShape bool) {
	t.Helper()
	if code != http.StatusNotFound {
		t.Fatalf("%s: status %d, want 404 (body %q)", path, code, body)
	}
	var doc map[string]json.RawMessage
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("%s: body is not JSON: %q", path, body)
	}
	var msg string
	if ollamaShape {
		if err := json.Unmarshal(doc["error"], &msg); err != nil {
			t.Fatalf("%s: want Ollama's {\"error\": \"…\"}, got %s", path, body)
		}
	} else {
		var e struct {
			Message string `json:"message"`
			Type    string `json:"type"`
		}
		if err := json.Unmarshal(doc["error"], &e); err != nil || e.Type == "" {
			t.Fatalf("%s: want an OpenAI error object, got %s", path, body)
		}
		msg = e.Message
	}
	if !strings.Contains(msg, path) {
		t.Fatalf("%s: the message %q does not name the path", path, msg)
	}
}

// A wrong base URL or path is a 404 the SDKs report as an error, in the
// dialect of the path, logged; a wrong method stays 405; later handlers
// of the site still get their paths.
func TestUnknownPaths(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	manager := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "manager app") }))
	defer manager.Close()
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m": {prov("p1", fake.URL, "vllm", "")}}),
		directive: "\t\tnot_found",
		site:      "\treverse_proxy /manager/* " + manager.URL,
	})
	ctx := context.Background()

	// openai-go with a wrong base URL.
	c := openai.NewClient(option.WithBaseURL(r.Base()+"/openai/"), option.WithAPIKey("x"), option.WithMaxRetries(0))
	_, err := c.Chat.Completions.New(ctx, chatParams("m", "hi"))
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 404 || !strings.Contains(oe.Message, "/openai/chat/completions") {
		t.Fatalf("openai-go with a wrong base URL: %v", err)
	}
	// Anthropic's SDK too.
	ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()+"/anthropic/"), aoption.WithAPIKey("x"), aoption.WithMaxRetries(0))
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 404 {
		t.Fatalf("anthropic SDK with a wrong base URL: %v", err)
	}

	// Ollama's client on a base URL with a stray path.
	base, _ := url.Parse(r.Base() + "/ollama")
	no := false
	err = ollama.NewClient(base, http.DefaultClient).Chat(ctx, &ollama.ChatRequest{Model: "m", Stream: &no,
		Messages: []ollama.Message{{Role: "user", Content: "hi"}}}, func(ollama.ChatResponse) error { return nil })
	var se ollama.StatusError
	if !errors.As(err, &se) || se.StatusCode != 404 {
		t.Fatalf("ollama client with a wrong base URL: %v", err)
	}

	code, _, body := do(t, "POST", r.Base()+"/v1/chat/completion", `{"model":"m"}`, nil)
	checkNotFound(t, code, body, "/v1/chat/completion", false)
	code, _, body = do(t, "GET", r.Base()+"/health", "", nil)
	checkNotFound(t, code, body, "/health", false)
	code, _, body = do(t, "POST", r.Base()+"/api/chats", `{}`, nil)
	checkNotFound(t, code, body, "/api/chats", true)
	code, body = rawPath(t, r, "POST", "//v1/chat/completions")
	checkNotFound(t, code, body, "//v1/chat/completions", false)
	if !strings.Contains(body, "did you mean /v1/chat/completions") {
		t.Fatalf("a doubled slash should suggest the path: %s", body)
	}
	eventually(t, 10*time.Second, "the log line of a 404", func() bool {
		return strings.Contains(r.logs.String(), `"msg":"no such endpoint"`) && strings.Contains(r.logs.String(), `"path":"/v1/chat/completion"`)
	})

	// Known paths keep their answers.
	if code, hdr, _ := do(t, "POST", r.Base()+"/api/ping", "", nil); code != 405 || hdr.Get("Allow") != "GET" {
		t.Fatalf("POST /api/ping: %d Allow %q", code, hdr.Get("Allow"))
	}
	if code, _, body := do(t, "GET", r.Base()+"/", "", nil); code != 200 || body != "Ollama is running" {
		t.Fatalf("GET /: %d %q", code, body)
	}
	// A handler after llm_router in the site still serves its paths.
	if code, _, body := do(t, "GET", r.Base()+"/manager/index.html", "", nil); code != 200 || body != "manager app" {
		t.Fatalf("GET /manager/: %d %q", code, body)
	}
	// CORS is off: a preflight is refused as before.
	if code, hdr, _ := do(t, "OPTIONS", r.Base()+"/v1/chat/completions", "", map[string]string{"Origin": "https://app.example", "Access-Control-Request-Method": "POST"}); code != 405 || hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("preflight with CORS off: %d %v", code, hdr)
	}
}

// Without not_found (a user's own Caddyfile composing llm_router with other
// handlers), an unknown path still passes through.
func TestUnknownPathPassThroughByDefault(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p1", fake.URL, "vllm", "")}})})
	if code, _, body := do(t, "GET", r.Base()+"/health", "", nil); code != 200 || body != "" {
		t.Fatalf("GET /health without not_found: %d %q, want Caddy's empty 200", code, body)
	}
}

// startDefault runs `llm-router run` on the embedded default Caddyfile.
func startDefault(t *testing.T, env ...string) *router {
	t.Helper()
	port := freePort(t)
	dir := t.TempDir()
	r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = execCommand(binary, "run")
	r.cmd.Env = append(os.Environ(), fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), "LLM_ROUTER_SERVER_HOST=127.0.0.1",
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", freePort(t)), "LLM_ROUTER_MODELS_CONFIG=",
		"XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "HOME="+dir)
	r.cmd.Env = append(r.cmd.Env, env...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	r.waitReady()
	return r
}

// The embedded default answers unknown paths with 404, serves readiness,
// and turns CORS on from LLM_ROUTER_CORS_ORIGINS.
func TestEmbeddedDefaultEdges(t *testing.T) {
	r := startDefault(t, "LLM_ROUTER_CORS_ORIGINS=https://app.example, https://other.example")
	code, _, body := do(t, "POST", r.Base()+"/v1/chat/completion", `{}`, nil)
	checkNotFound(t, code, body, "/v1/chat/completion", false)
	code, _, body = do(t, "GET", r.Base()+"/health", "", nil)
	checkNotFound(t, code, body, "/health", false)
	code, _, body = do(t, "GET", r.Base()+"/api/health", "", nil)
	if (code != 200 && code != 503) || !strings.Contains(body, `"providers_total":`) {
		t.Fatalf("GET /api/health: %d %s", code, body)
	}
	code, hdr, _ := do(t, "OPTIONS", r.Base()+"/v1/chat/completions", "", map[string]string{
		"Origin": "https://other.example", "Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "authorization,content-type"})
	if code != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://other.example" {
		t.Fatalf("preflight on the embedded default with LLM_ROUTER_CORS_ORIGINS: %d %v", code, hdr)
	}
}

// The packaged /etc/llm-router/Caddyfile, moved to a free port and a temp
// dir, answers unknown paths with 404 too.
func TestPackagedCaddyfileNotFound(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	src, err := os.ReadFile("../packaging/etc/Caddyfile")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	port, admin := freePort(t), freePort(t)
	models := filepath.Join(dir, "models-config.json")
	if err := os.WriteFile(models, []byte(modelsJSON(map[string][]string{"m": {prov("p1", fake.URL, "vllm", "")}})), 0o600); err != nil {
		t.Fatal(err)
	}
	cf := string(src)
	for old, repl := range map[string]string{
		"admin unix//run/llm-router/admin.sock":            fmt.Sprintf("admin 127.0.0.1:%d", admin),
		"models_config /etc/llm-router/models-config.json": "models_config " + models,
		"\n:8080 {": fmt.Sprintf("\nhttp://127.0.0.1:%d {", port),
	} {
		if !strings.Contains(cf, old) {
			t.Fatalf("the packaged Caddyfile no longer has %q; update this test", old)
		}
		cf = strings.Replace(cf, old, repl, 1)
	}
	caddyfile := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(caddyfile, []byte(cf), 0o600); err != nil {
		t.Fatal(err)
	}
	r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = execCommand(binary, "run", "--config", caddyfile, "--adapter", "caddyfile")
	r.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "HOME="+dir)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	r.waitReady()
	code, _, body := do(t, "GET", r.Base()+"/v1/chat/completion", "", nil)
	checkNotFound(t, code, body, "/v1/chat/completion", false)
	if code, _, _ := do(t, "GET", r.Base()+"/api/health", "", nil); code != 200 {
		t.Fatalf("GET /api/health: %d", code)
	}
}

type healthDoc struct {
	Status string `json:"status"`
	Models []struct {
		Model string `json:"model"`
		Up    int    `json:"providers_up"`
		Total int    `json:"providers_total"`
	} `json:"models"`
}

func health(t *testing.T, r *router) (int, healthDoc, string) {
	t.Helper()
	code, _, body := do(t, "GET", r.Base()+"/api/health", "", nil)
	var doc healthDoc
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("health body %q: %v", body, err)
	}
	return code, doc, body
}

// {prefix}/health is 503 while a model has no provider up, 200 when each
// has one, public under auth, and shows neither hosts nor tokens.
func TestReadiness(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	createKey(t, keys, "--name", "ops")
	const token = "tok-health-secret"
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{
			"m1": {prov("p1", fake.URL, "vllm", `"api_token": "`+token+`"`), prov("p2", llmtest.RefusedURL(), "vllm", "")},
			"m2": {prov("p3", llmtest.RefusedURL(), "vllm", "")},
		}),
		global:    "\t\tmonitor_interval 100ms",
		directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
	})
	var body string
	eventually(t, 15*time.Second, "readiness to report m2 down", func() bool {
		code, _, b := do(t, "GET", r.Base()+"/api/health", "", nil)
		body = b
		return code == 503
	})
	code, doc, body := health(t, r)
	if code != 503 || doc.Status != "unavailable" || len(doc.Models) != 2 {
		t.Fatalf("health: %d %s", code, body)
	}
	for _, m := range doc.Models {
		want := map[string][2]int{"m1": {1, 2}, "m2": {0, 1}}[m.Model]
		if [2]int{m.Up, m.Total} != want {
			t.Fatalf("%s: %d/%d providers up, want %d/%d (%s)", m.Model, m.Up, m.Total, want[0], want[1], body)
		}
	}
	if strings.Contains(body, "127.0.0.1") || strings.Contains(body, token) || strings.Contains(body, "p1") {
		t.Fatalf("health shows hosts, tokens or provider ids: %s", body)
	}
	// Liveness is unaffected.
	if code, _, _ := do(t, "GET", r.Base()+"/api/ping", "", nil); code != 200 {
		t.Fatalf("ping: %d", code)
	}

	ok := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", ""), prov("p2", llmtest.RefusedURL(), "vllm", "")}}),
		global: "\t\tmonitor_interval 100ms",
	})
	eventually(t, 15*time.Second, "p2 to be marked down", func() bool {
		_, doc, _ := health(t, ok)
		return len(doc.Models) == 1 && doc.Models[0].Up == 1
	})
	if code, doc, body := health(t, ok); code != 200 || doc.Status != "ok" {
		t.Fatalf("health with a provider up for every model: %d %s", code, body)
	}
}

// With cors, preflights get 204 and every answer (success, error, stream)
// carries the Access-Control headers; other origins get none.
func TestCORS(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m": {prov("p1", fake.URL, "vllm", "")}}),
		directive: "\t\tcors https://app.example",
	})
	origin := map[string]string{"Origin": "https://app.example"}
	code, hdr, _ := do(t, "OPTIONS", r.Base()+"/v1/messages", "", map[string]string{"Origin": "https://app.example",
		"Access-Control-Request-Method": "POST", "Access-Control-Request-Headers": "x-api-key,anthropic-version,content-type,anthropic-dangerous-direct-browser-access"})
	if code != 204 || hdr.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(hdr.Get("Access-Control-Allow-Methods"), "POST") ||
		!strings.Contains(strings.ToLower(hdr.Get("Access-Control-Allow-Headers")), "anthropic-dangerous-direct-browser-access") ||
		!strings.Contains(strings.ToLower(hdr.Get("Access-Control-Allow-Headers")), "authorization") {
		t.Fatalf("preflight: %d %v", code, hdr)
	}
	for _, tc := range []struct {
		name, body string
		want       int
	}{
		{"success", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, 200},
		{"stream", `{"model":"m","stream":true,"messages":[{"role":"user","content":"hi"}]}`, 200},
		{"error", `{"model":"nope","messages":[{"role":"user","content":"hi"}]}`, 404},
	} {
		code, hdr, body := do(t, "POST", r.Base()+"/v1/chat/completions", tc.body, origin)
		if code != tc.want || hdr.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(strings.Join(hdr.Values("Vary"), ","), "Origin") ||
			!strings.Contains(hdr.Get("Access-Control-Expose-Headers"), "X-Llm-Router-Provider") {
			t.Fatalf("%s: %d %v %s", tc.name, code, hdr, body)
		}
	}
	if _, hdr, _ := do(t, "GET", r.Base()+"/v1/models", "", map[string]string{"Origin": "https://evil.example"}); hdr.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("an origin not listed got %v", hdr)
	}
}

// Every proxied answer names its provider, streams included, unless turned
// off; refused requests are logged and counted with the model asked for
// and the key's name.
func TestProviderHeaderAndRefusals(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	alice := createKey(t, keys, "--name", "alice", "--models", "m1")
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}, "m2": {prov("p2", fake.URL, "vllm", "")}}),
		directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
		env:       map[string]string{"LLM_ROUTER_USE_PROMETHEUS": "1"},
	})
	ctx := context.Background()
	c := client(r, option.WithAPIKey(alice))
	var resp *http.Response
	if _, err := c.Chat.Completions.New(ctx, chatParams("m1", "hi"), option.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	if got := resp.Header.Get("X-LLM-Router-Provider"); got != "p1" {
		t.Fatalf("X-LLM-Router-Provider = %q, want p1", got)
	}
	var sresp *http.Response
	s := c.Chat.Completions.NewStreaming(ctx, chatParams("m1", "hi"), option.WithResponseInto(&sresp))
	for s.Next() {
	}
	if s.Err() != nil || sresp == nil || sresp.Header.Get("X-LLM-Router-Provider") != "p1" {
		t.Fatalf("stream: %v, header %v", s.Err(), sresp)
	}
	ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey(alice), aoption.WithMaxRetries(0))
	var aresp *http.Response
	if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "m1", MaxTokens: 8,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}, aoption.WithResponseInto(&aresp)); err != nil {
		t.Fatal(err)
	}
	if got := aresp.Header.Get("X-LLM-Router-Provider"); got != "p1" {
		t.Fatalf("translated answer: X-LLM-Router-Provider = %q", got)
	}

	// Refusals: no key (401), a model the key may not use (403).
	anon := client(r)
	if _, err := anon.Chat.Completions.New(ctx, chatParams("m1", "hi"), option.WithHeaderDel("Authorization")); statusOf(err) != 401 {
		t.Fatalf("no key: %v", err)
	}
	var rresp *http.Response
	if _, err := c.Chat.Completions.New(ctx, chatParams("m2", "hi"), option.WithResponseInto(&rresp)); statusOf(err) != 403 {
		t.Fatalf("forbidden model: %v", err)
	}
	if rresp != nil && rresp.Header.Get("X-LLM-Router-Provider") != "" {
		t.Fatal("a refused request names a provider")
	}
	refusal := func(status int, model string) map[string]any {
		var found map[string]any
		eventually(t, 10*time.Second, fmt.Sprintf("the log line of the %d", status), func() bool {
			for _, l := range strings.Split(r.logs.String(), "\n") {
				var line map[string]any
				if json.Unmarshal([]byte(l), &line) == nil && line["msg"] == "request" && line["status"] == float64(status) && line["model"] == model {
					found = line
					return true
				}
			}
			return false
		})
		return found
	}
	refusal(401, "m1")
	if line := refusal(403, "m2"); !strings.HasPrefix(fmt.Sprint(line["key"]), "alice") {
		t.Fatalf("403 log line without the key's name: %v", line)
	}
	metrics := func(sample string) float64 {
		_, _, body := do(t, "GET", r.Base()+"/metrics", "", map[string]string{"Authorization": "Bearer " + alice})
		for _, l := range strings.Split(body, "\n") {
			if v, ok := strings.CutPrefix(l, sample+" "); ok {
				var f float64
				fmt.Sscan(v, &f)
				return f
			}
		}
		return 0
	}
	if got := metrics(`llm_router_requests_total{code="401",endpoint="chat_completions",model="m1",provider=""}`); got != 1 {
		t.Fatalf("401 counted under model m1: %v", got)
	}
	if got := metrics(`llm_router_requests_total{code="403",endpoint="chat_completions",model="m2",provider=""}`); got != 1 {
		t.Fatalf("403 counted under model m2: %v", got)
	}

	off := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}}),
		directive: "\t\tprovider_header off",
	})
	var oresp *http.Response
	oc := client(off)
	if _, err := oc.Chat.Completions.New(ctx, chatParams("m1", "hi"), option.WithResponseInto(&oresp)); err != nil {
		t.Fatal(err)
	}
	if _, ok := oresp.Header["X-Llm-Router-Provider"]; ok {
		t.Fatal("provider_header off still names the provider")
	}
}
