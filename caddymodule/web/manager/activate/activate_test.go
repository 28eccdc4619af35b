package activate_test

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
)

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// modelsDoc is a models-config with the given models, all served by host.
func modelsDoc(host, token string, models ...string) []byte {
	var ms, active []string
	for i, m := range models {
		ms = append(ms, fmt.Sprintf(`%q: {"providers": [{"id": "p%d-%s", "api_host": %q, "api_type": "openai", "api_token": %q}]}`, m, i, m, host, token))
		active = append(active, fmt.Sprintf("%q", m))
	}
	return []byte(fmt.Sprintf(`{"team_models": {%s}, "active_models": {"team_models": [%s]}}`,
		strings.Join(ms, ", "), strings.Join(active, ", ")))
}

// noGlobalBlock as startCaddy's modelsConfig leaves the global llm_router
// options out.
const noGlobalBlock = "-"

// caddyRouter runs the router in this process, as `llm-router run` does,
// with the given models_config line ("" for none: the embedded example).
type caddyRouter struct {
	base, admin string
}

func startCaddy(t *testing.T, modelsConfig string) *caddyRouter {
	t.Helper()
	return startCaddyAdmin(t, modelsConfig, fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// startCaddyStrict is startCaddy with strict_models_config.
func startCaddyStrict(t *testing.T, modelsConfig string) *caddyRouter {
	t.Helper()
	return startCaddyAdmin(t, modelsConfig+"\n\t\tstrict_models_config", fmt.Sprintf("127.0.0.1:%d", freePort(t)))
}

// startCaddyAdmin is startCaddy with the global admin option's value.
func startCaddyAdmin(t *testing.T, modelsConfig, admin string) *caddyRouter {
	t.Helper()
	r := &caddyRouter{admin: admin}
	port := freePort(t)
	r.base = fmt.Sprintf("http://127.0.0.1:%d", port)
	global := ""
	switch modelsConfig {
	case noGlobalBlock:
	case "":
		global = "llm_router {\n\t}"
	default:
		global = "llm_router {\n\t\tmodels_config " + modelsConfig + "\n\t}"
	}
	cf := fmt.Sprintf(`{
	admin %s
	persist_config off
	grace_period 10s
	%s
}

http://127.0.0.1:%d {
	llm_router
}
`, r.admin, global, port)
	cfg, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(cf), map[string]any{"filename": "Caddyfile"})
	if err != nil {
		t.Fatalf("adapt: %v %v", err, warn)
	}
	if err := caddy.Load(cfg, true); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = caddy.Stop() })
	return r
}

// afterReload sends a request, again when its connection went away before
// any answer: Caddy reloads onto a new SO_REUSEPORT listener and closes the
// old one, so the kernel resets a connection still in the old listener's
// handshake (a known limit of SO_REUSEPORT), and the old server closes its
// idle keep-alive connections. Neither is a dropped request: none was
// accepted.
func afterReload(send func() (*http.Response, error)) (*http.Response, error) {
	deadline := time.Now().Add(5 * time.Second)
	for {
		resp, err := send()
		gone := errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF)
		if err == nil || !gone || time.Now().After(deadline) {
			return resp, err
		}
	}
}

// listed returns the model ids /v1/models lists.
func (r *caddyRouter) listed(t *testing.T) []string {
	t.Helper()
	resp, err := afterReload(func() (*http.Response, error) { return http.Get(r.base + "/v1/models") })
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range out.Data {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// stream is a streamed chat in flight.
type stream struct {
	resp *http.Response
	rd   *bufio.Reader
}

func (r *caddyRouter) startStream(t *testing.T, model string) *stream {
	t.Helper()
	body := fmt.Sprintf(`{"model": %q, "stream": true, "messages": [{"role": "user", "content": "hi"}]}`, model)
	req, err := http.NewRequest(http.MethodPost, r.base+"/v1/chat/completions", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	// A connection of its own: a reload closes the old server's idle
	// keep-alive connections, and a POST is not retried on one that closed
	// under it (a client-side race, not the router's).
	req.Close = true
	resp, err := afterReload(func() (*http.Response, error) {
		req.Body = io.NopCloser(strings.NewReader(body))
		return http.DefaultClient.Do(req)
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	if resp.StatusCode != 200 {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
		t.Fatalf("chat: HTTP %d: %s", resp.StatusCode, b)
	}
	s := &stream{resp: resp, rd: bufio.NewReader(resp.Body)}
	// Wait for the first content event: the request is in flight.
	for {
		line, err := s.rd.ReadString('\n')
		if err != nil {
			t.Fatalf("stream ended before its first delta: %v", err)
		}
		if strings.Contains(line, `"content"`) {
			return s
		}
	}
}

// rest reads the stream to its end and returns the text of its deltas and
// whether it ended with [DONE].
func (s *stream) rest(t *testing.T) (text string, done bool) {
	t.Helper()
	var b strings.Builder
	for {
		line, err := s.rd.ReadString('\n')
		if data, ok := strings.CutPrefix(strings.TrimSpace(line), "data: "); ok {
			if data == "[DONE]" {
				done = true
			} else {
				var ev struct {
					Choices []struct {
						Delta struct {
							Content string `json:"content"`
						} `json:"delta"`
					} `json:"choices"`
				}
				if json.Unmarshal([]byte(data), &ev) == nil && len(ev.Choices) > 0 {
					b.WriteString(ev.Choices[0].Delta.Content)
				}
			}
		}
		if err != nil {
			return b.String(), done
		}
	}
}

// TestApplyReloadsInProcess: applying a document makes the running router
// serve it (/v1/models lists the new models) while a streamed answer that
// was in flight on the old config completes; the file is written with mode
// 0640 and the sealed tokens opened; an invalid document changes nothing.
func TestApplyReloadsInProcess(t *testing.T) {
	up := llmtest.NewOpenAI("alpha-upstream")
	defer up.Close()
	up.SetReply("one two three four", 4)
	dir := t.TempDir()
	path := filepath.Join(dir, "models-config.json")
	if err := os.WriteFile(path, modelsDoc(up.URL, "", "alpha"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startCaddy(t, path)
	if got := r.listed(t); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("before: /v1/models lists %v", got)
	}

	release := up.Hold()
	defer release()
	inflight := r.startStream(t, "alpha")

	key, err := doc.NewKey()
	if err != nil {
		t.Fatal(err)
	}
	next, err := doc.Parse(modelsDoc(up.URL, "sk-beta-secret", "beta", "gamma"))
	if err != nil {
		t.Fatal(err)
	}
	if err := next.Seal(key); err != nil {
		t.Fatal(err)
	}
	stored := next.JSON()
	if strings.Contains(string(stored), "sk-beta-secret") {
		t.Fatal("the stored document holds the token in clear")
	}
	// No Admin: the running config's admin endpoint is found in process.
	a := &activate.Applier{Key: key}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := a.Apply(ctx, stored)
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != path || !res.Reloaded {
		t.Fatalf("applied %+v, want the running file %s reloaded", res, path)
	}
	// Apply returns once the new config serves.
	if got := r.listed(t); !slices.Equal(got, []string{"beta", "gamma"}) {
		t.Fatalf("after: /v1/models lists %v", got)
	}
	// The request in flight finishes on the old config.
	release()
	text, done := inflight.rest(t)
	if !done || !strings.Contains("one two three four", strings.TrimSpace(text)) || text == "" {
		t.Fatalf("in-flight stream after the reload: %q, [DONE] %v", text, done)
	}
	// New requests go to the new models, with the opened token.
	s := r.startStream(t, "beta")
	if _, done := s.rest(t); !done {
		t.Fatal("chat on the new model did not complete")
	}
	reqs := up.Requests()
	if got := reqs[len(reqs)-1].Header.Get("Authorization"); got != "Bearer sk-beta-secret" {
		t.Fatalf("upstream got Authorization %q", got)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != activate.FileMode {
		t.Fatalf("file mode %v, %v", st.Mode().Perm(), err)
	}
	if leftovers, _ := filepath.Glob(filepath.Join(dir, ".models-config.json.*")); len(leftovers) > 0 {
		t.Fatalf("temp files left: %v", leftovers)
	}

	// The same document again: nothing to do.
	if res, err := a.Apply(ctx, stored); err != nil || res.Reloaded {
		t.Fatalf("re-apply: %+v %v", res, err)
	}
	// An invalid document is refused with the router's message; the router
	// keeps serving, the file is unchanged.
	before, _ := os.ReadFile(path)
	bad := []byte(`{"team_models": {"delta": {"providers": [{"id": "x", "api_host": "ftp://h", "api_type": "openai"}]}}, "active_models": {"team_models": ["delta"]}}`)
	_, err = a.Apply(ctx, bad)
	var ve *activate.ValidationError
	var ce *config.Error
	if !errors.As(err, &ve) || !errors.As(err, &ce) || ce.Model != "delta" || ce.Field != "api_host" || ce.File != path {
		t.Fatalf("invalid document: %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Fatal("a refused document was written")
	}
	if got := r.listed(t); !slices.Equal(got, []string{"beta", "gamma"}) {
		t.Fatalf("after a refusal: /v1/models lists %v", got)
	}
	// Sealed tokens without the key are refused, not sent upstream.
	if _, err := (&activate.Applier{}).Apply(ctx, stored); !errors.As(err, &ve) {
		t.Fatalf("sealed tokens without a key: %v", err)
	}
}

// TestApplyOnEmbeddedExample: a router running on the embedded example
// (no models_config) is pointed at FallbackPath.
func TestApplyOnEmbeddedExample(t *testing.T) {
	t.Setenv("LLM_ROUTER_MODELS_CONFIG", "")
	if _, err := os.Stat(activate.DefaultModelsConfig); err == nil {
		t.Skip(activate.DefaultModelsConfig + " exists on this machine: the router would read it")
	}
	up := llmtest.NewOpenAI("u")
	defer up.Close()
	r := startCaddy(t, "")
	if got := r.listed(t); !slices.Equal(got, []string{"llama3.2"}) {
		t.Fatalf("embedded example lists %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := (&activate.Applier{Admin: r.admin}).Apply(ctx, modelsDoc(up.URL, "", "x")); err == nil ||
		!strings.Contains(err.Error(), "embedded example") {
		t.Fatalf("without a file to write: %v", err)
	}
	fallback := filepath.Join(t.TempDir(), "state", "models-config.json")
	res, err := (&activate.Applier{Admin: r.admin, FallbackPath: fallback}).Apply(ctx, modelsDoc(up.URL, "", "x"))
	if err != nil || res.Path != fallback {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if got := r.listed(t); !slices.Equal(got, []string{"x"}) {
		t.Fatalf("after: /v1/models lists %v", got)
	}
}

// TestApplyAdminUnreachable: no admin endpoint is a clear error, not a hang.
func TestApplyAdminUnreachable(t *testing.T) {
	a := &activate.Applier{Admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)), Path: filepath.Join(t.TempDir(), "m.json")}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := a.Apply(ctx, modelsDoc("http://127.0.0.1:1", "", "x"))
	if err == nil || !strings.Contains(err.Error(), "admin endpoint") {
		t.Fatalf("error %v", err)
	}
}

// TestApplyAdminOff: with the admin endpoint off, Apply says so and leaves
// the file alone.
func TestApplyAdminOff(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "models-config.json")
	orig := modelsDoc("http://127.0.0.1:1", "", "alpha")
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	startCaddyAdmin(t, path, "off")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := (&activate.Applier{}).Apply(ctx, modelsDoc("http://127.0.0.1:1", "", "beta"))
	if err == nil || !strings.Contains(err.Error(), "admin endpoint is off") {
		t.Fatalf("error %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != string(orig) {
		t.Fatal("the file was written although the router cannot reload")
	}
}

// TestApplyStrictRouter: a router with strict_models_config refuses unknown
// fields, and so does Apply on it, before writing anything.
func TestApplyStrictRouter(t *testing.T) {
	path := filepath.Join(t.TempDir(), "models-config.json")
	orig := modelsDoc("http://127.0.0.1:1", "", "alpha")
	if err := os.WriteFile(path, orig, 0o600); err != nil {
		t.Fatal(err)
	}
	startCaddyStrict(t, path)
	typo := []byte(`{"g": {"m": {"providers": [{"id": "p", "api_host": "http://h", "api_type": "openai", "api_tokn": "x"}]}}, "active_models": {"g": ["m"]}}`)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := (&activate.Applier{}).Apply(ctx, typo)
	var ve *activate.ValidationError
	if !errors.As(err, &ve) || !strings.Contains(err.Error(), "strict_models_config") || !strings.Contains(err.Error(), `did you mean "api_token"`) {
		t.Fatalf("error %v", err)
	}
	if data, _ := os.ReadFile(path); string(data) != string(orig) {
		t.Fatal("a refused document was written")
	}
}

// TestApplyReloadFailureRestoresFile: when the router cannot reload, the
// file it reads is put back as it was.
func TestApplyReloadFailureRestoresFile(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		orig []byte // nil: no file before
	}{
		{"file existed", modelsDoc("http://127.0.0.1:1", "", "alpha")},
		{"no file before", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, strings.ReplaceAll(tc.name, " ", "-")+".json")
			if tc.orig != nil {
				if err := os.WriteFile(path, tc.orig, 0o640); err != nil {
					t.Fatal(err)
				}
			}
			a := &activate.Applier{Path: path, Reload: func(context.Context, string, string) error {
				return errors.New("the router refused the load")
			}}
			_, err := a.Apply(context.Background(), modelsDoc("http://127.0.0.1:1", "", "beta"))
			if err == nil || !strings.Contains(err.Error(), "the router refused the load") {
				t.Fatalf("error %v", err)
			}
			data, rerr := os.ReadFile(path)
			if tc.orig == nil {
				if !os.IsNotExist(rerr) {
					t.Fatalf("a file was left behind: %s", data)
				}
				return
			}
			if string(data) != string(tc.orig) {
				t.Fatalf("file after a failed reload:\n%s", data)
			}
		})
	}
}

// TestApplyWithoutGlobalOptions: a Caddyfile without llm_router global
// options (the file from LLM_ROUTER_MODELS_CONFIG) is applied too.
func TestApplyWithoutGlobalOptions(t *testing.T) {
	up := llmtest.NewOpenAI("u")
	defer up.Close()
	path := filepath.Join(t.TempDir(), "models-config.json")
	if err := os.WriteFile(path, modelsDoc(up.URL, "", "alpha"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("LLM_ROUTER_MODELS_CONFIG", path)
	r := startCaddy(t, noGlobalBlock)
	if got := r.listed(t); !slices.Equal(got, []string{"alpha"}) {
		t.Fatalf("before: /v1/models lists %v", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := (&activate.Applier{}).Apply(ctx, modelsDoc(up.URL, "", "beta"))
	if err != nil || res.Path != path {
		t.Fatalf("apply: %+v %v", res, err)
	}
	if got := r.listed(t); !slices.Equal(got, []string{"beta"}) {
		t.Fatalf("after: /v1/models lists %v", got)
	}
}
