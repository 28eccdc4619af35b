package manager

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
)

// testApp is the handler on a fresh SQLite database, without Caddy: the
// activation's reload is a hook that records the file.
type testApp struct {
	h       *Handler
	srv     *httptest.Server
	applied []string
}

func newTestApp(t *testing.T) *testApp {
	t.Helper()
	dir := t.TempDir()
	app, err := openShared(sharedConfig{Database: filepath.Join(dir, "m.db"), KeyFile: filepath.Join(dir, "m.key")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Destruct() })
	a := &testApp{}
	h := &Handler{Enabled: true, SessionTTL: 3600e9, app: app, logger: zap.NewNop()}
	h.applier = &activate.Applier{Path: filepath.Join(dir, "models-config.json"), Key: app.key,
		Reload: func(ctx context.Context, path, hash string) error { a.applied = append(a.applied, path); return nil }}
	if h.pages, err = loadPages(); err != nil {
		t.Fatal(err)
	}
	h.cop = http.NewCrossOriginProtection()
	h.mux = h.routes()
	a.h = h
	a.srv = httptest.NewServer(h.mux)
	t.Cleanup(a.srv.Close)
	return a
}

func (a *testApp) client(t *testing.T) *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func (a *testApp) post(t *testing.T, c *http.Client, p string, v url.Values) (*http.Response, string) {
	t.Helper()
	resp, err := c.PostForm(a.srv.URL+p, v)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	return resp, string(b)
}

func (a *testApp) postJSON(t *testing.T, c *http.Client, p, body string) (int, map[string]any) {
	t.Helper()
	resp, err := c.Post(a.srv.URL+p, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out map[string]any
	_ = json.NewDecoder(io.LimitReader(resp.Body, 1<<20)).Decode(&out)
	return resp.StatusCode, out
}

func TestSessionCookie(t *testing.T) {
	a := newTestApp(t)
	c := a.client(t)
	// No session: pages go to setup, JSON calls get 401 in JSON.
	resp, _ := a.post(t, c, "/manager/configs/1/providers/reorder", nil)
	if resp.StatusCode != http.StatusUnauthorized || !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("reorder without a session: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	req, _ := http.NewRequest("POST", a.srv.URL+"/manager/setup", strings.NewReader(url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	resp, err := http.DefaultTransport.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	var sess *http.Cookie
	for _, ck := range resp.Cookies() {
		if ck.Name == sessionCookie {
			sess = ck
		}
	}
	if sess == nil || !sess.HttpOnly || sess.SameSite != http.SameSiteStrictMode || sess.Path != Root || !sess.Secure || len(sess.Value) < 32 {
		t.Fatalf("session cookie %+v", sess)
	}
	// Login issues a new token each time; the old one stays valid only
	// until it is ended.
	login := func() string {
		c := a.client(t)
		resp, _ := a.post(t, c, "/manager/login", url.Values{"username": {"root"}, "password": {"root-password-1"}})
		if resp.StatusCode != 200 {
			t.Fatalf("login: %d", resp.StatusCode)
		}
		u, _ := url.Parse(a.srv.URL + "/manager/")
		for _, ck := range c.Jar.Cookies(u) {
			if ck.Name == sessionCookie {
				return ck.Value
			}
		}
		t.Fatal("no session cookie after login")
		return ""
	}
	if t1, t2 := login(), login(); t1 == t2 || t1 == sess.Value {
		t.Errorf("a login reused a session token")
	}
	// Throttling: failed logins for one account end in 429 with Retry-After.
	var last *http.Response
	for range 7 {
		last, _ = a.post(t, a.client(t), "/manager/login", url.Values{"username": {"root"}, "password": {"wrong-password"}})
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Errorf("after 7 failures: %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
}

func TestReorderAndVersionsAPI(t *testing.T) {
	a := newTestApp(t)
	c := a.client(t)
	a.post(t, c, "/manager/setup", url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}})
	doc := `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:1", "api_type": "vllm"}, {"id": "b", "api_host": "http://127.0.0.1:2", "api_type": "vllm"}]}}, "active_models": {"g": ["m"]}}`
	resp, _ := a.post(t, c, "/manager/configs/import", url.Values{"name": {"c"}, "json": {doc}})
	cfg := resp.Request.URL.Path
	if !strings.HasPrefix(cfg, "/manager/configs/") {
		t.Fatalf("import ended at %s", cfg)
	}
	for _, tc := range []struct {
		body   string
		status int
	}{
		{`{"group":"g","model":"m","order":[1,0],"revision":1}`, 200},
		{`{"group":"g","model":"m","order":[1,0],"revision":1}`, 409}, // stale revision
		{`{"group":"g","model":"m","order":[0,0],"revision":2}`, 400},
		{`{"group":"g","model":"m","order":[0],"revision":2}`, 400},
		{`{"group":"g","model":"nope","order":[0,1],"revision":2}`, 404},
		{`not json`, 400},
	} {
		status, out := a.postJSON(t, c, cfg+"/providers/reorder", tc.body)
		if status != tc.status {
			t.Errorf("%s: %d %v, want %d", tc.body, status, out, tc.status)
		}
		if status != 200 && out["error"] == nil {
			t.Errorf("%s: no {\"error\"}: %v", tc.body, out)
		}
	}
	req, _ := http.NewRequest("GET", a.srv.URL+cfg+"/versions", nil)
	req.Header.Set("Accept", "application/json")
	vresp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var vs []map[string]any
	if err := json.NewDecoder(vresp.Body).Decode(&vs); err != nil {
		t.Fatal(err)
	}
	vresp.Body.Close()
	if len(vs) != 2 || vs[0]["version"] != float64(2) || vs[0]["created_at"] == nil || vs[1]["note"] == nil {
		t.Errorf("versions JSON: %v", vs)
	}
	// A provider save on a stale revision is refused; the form comes back
	// open with what was typed.
	resp, body := a.post(t, c, cfg+"/providers/save", url.Values{"revision": {"1"}, "group": {"g"}, "model": {"m"}, "index": {"0"},
		"id": {"b"}, "api_host": {"http://typed.example:9"}, "api_type": {"vllm"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "changed since you opened it") || !strings.Contains(body, `value="http://typed.example:9"`) {
		t.Errorf("stale provider save: %d, typed value kept: %v", resp.StatusCode, strings.Contains(body, "typed.example"))
	}
	// The same on the current revision saves it.
	resp, body = a.post(t, c, cfg+"/providers/save", url.Values{"revision": {"2"}, "group": {"g"}, "model": {"m"}, "index": {"0"},
		"id": {"b"}, "api_host": {"http://typed.example:9"}, "api_type": {"vllm"}, "weight": {"2.5"}})
	if resp.StatusCode != 200 || !strings.Contains(body, `value="http://typed.example:9"`) || !strings.Contains(body, `value="2.5"`) {
		t.Errorf("provider save: %d", resp.StatusCode)
	}
	// A bad value is refused with the field named, nothing saved.
	resp, body = a.post(t, c, cfg+"/providers/save", url.Values{"revision": {"3"}, "group": {"g"}, "model": {"m"}, "index": {"0"}, "weight": {"heavy"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "weight") {
		t.Errorf("bad weight: %d", resp.StatusCode)
	}
	// Activation applies the config through the applier (the hook here).
	resp, body = a.post(t, c, cfg+"/activate", url.Values{"revision": {"3"}})
	if resp.StatusCode != 200 || !strings.Contains(body, "took effect at") || len(a.applied) != 1 {
		t.Errorf("activate: %d applied %v", resp.StatusCode, a.applied)
	}
	// A stale form revision is a conflict, nothing applied.
	resp, body = a.post(t, c, cfg+"/activate", url.Values{"revision": {"2"}})
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, "changed since you opened it") || len(a.applied) != 1 {
		t.Errorf("stale activate: %d applied %v", resp.StatusCode, a.applied)
	}
}

// A router with strict_models_config refuses unknown fields: the page
// refuses to activate such a config before recording anything.
func TestActivateStrict(t *testing.T) {
	for _, strict := range []bool{false, true} {
		a := newTestApp(t)
		a.h.strict = strict
		c := a.client(t)
		a.post(t, c, "/manager/setup", url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}})
		doc := `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:1", "api_type": "vllm", "x_unknown": 1}]}}, "active_models": {"g": ["m"]}}`
		resp, _ := a.post(t, c, "/manager/configs/import", url.Values{"name": {"c"}, "json": {doc}})
		resp, body := a.post(t, c, resp.Request.URL.Path+"/activate", url.Values{"revision": {"1"}})
		_, active, err := a.h.app.st.Active(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if strict && (resp.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "x_unknown") || active || len(a.applied) != 0) {
			t.Errorf("strict: %d, recorded %v, applied %v", resp.StatusCode, active, a.applied)
		}
		if !strict && (resp.StatusCode != 200 || !active || len(a.applied) != 1) {
			t.Errorf("not strict: %d, recorded %v, applied %v", resp.StatusCode, active, a.applied)
		}
	}
}

// An activation whose reload is cut short (the fleet follower's own reload
// restarted the admin endpoint) is retried; one that keeps failing is
// reported, after a bounded number of attempts.
func TestActivateRetriesReload(t *testing.T) {
	for _, tc := range []struct {
		fails, status, calls int
	}{{1, 200, 2}, {100, http.StatusBadGateway, 4}} {
		a := newTestApp(t)
		calls := 0
		a.h.applier.Reload = func(ctx context.Context, path, hash string) error {
			calls++
			if calls <= tc.fails {
				return io.EOF
			}
			return nil
		}
		c := a.client(t)
		a.post(t, c, "/manager/setup", url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}})
		doc := `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:1", "api_type": "vllm"}]}}, "active_models": {"g": ["m"]}}`
		resp, _ := a.post(t, c, "/manager/configs/import", url.Values{"name": {"c"}, "json": {doc}})
		resp, body := a.post(t, c, resp.Request.URL.Path+"/activate", url.Values{"revision": {"1"}})
		if resp.StatusCode != tc.status || calls != tc.calls {
			t.Errorf("%d failing reloads: %d after %d calls, want %d after %d", tc.fails, resp.StatusCode, calls, tc.status, tc.calls)
		}
		if tc.status != 200 && !strings.Contains(body, "could not apply") {
			t.Errorf("the failure is not shown")
		}
	}
}
