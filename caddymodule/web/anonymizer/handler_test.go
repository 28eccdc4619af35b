package anonymizer

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// fakeRouter stands in for the llm_router handler after the app: it
// lists models, refuses keys other than "good" when keys are on, and
// answers chats with a short event stream, recording what it received.
type fakeRouter struct {
	keys bool
	mu   sync.Mutex
	chat [][]byte
}

func (f *fakeRouter) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	if f.keys && r.Header.Get("Authorization") != "Bearer good" {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusUnauthorized)
		_, _ = io.WriteString(w, `{"error":{"message":"missing or invalid API key","type":"authentication_error"}}`)
		return nil
	}
	switch r.Method + " " + r.URL.Path {
	case "GET /v1/models":
		_, _ = io.WriteString(w, `{"object":"list","data":[{"id":"m1","object":"model","owned_by":"vllm"}]}`)
	case "POST /v1/chat/completions":
		b, _ := io.ReadAll(r.Body)
		f.mu.Lock()
		f.chat = append(f.chat, b)
		f.mu.Unlock()
		var req struct{ Model string }
		_ = json.Unmarshal(b, &req)
		if req.Model != "m1" {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusNotFound)
			_, _ = io.WriteString(w, `{"error":{"message":"model '`+req.Model+`' not found","type":"invalid_request_error"}}`)
			return nil
		}
		w.Header().Set("Content-Type", "text/event-stream")
		_, _ = io.WriteString(w, "data: {\"choices\":[{\"delta\":{\"content\":\"Cześć\"}}]}\n\ndata: [DONE]\n\n")
	default:
		w.WriteHeader(http.StatusNotFound)
	}
	return nil
}

func (f *fakeRouter) last() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.chat) == 0 {
		return ""
	}
	return string(f.chat[len(f.chat)-1])
}

type app struct {
	t    *testing.T
	h    *Handler
	next *fakeRouter
	logs *observer.ObservedLogs
}

func newApp(t *testing.T, keys bool) *app {
	t.Helper()
	core, logs := observer.New(zap.DebugLevel)
	h := &Handler{Enabled: true, MaxText: 64 << 10}
	if err := h.setup(zap.New(core)); err != nil {
		t.Fatal(err)
	}
	return &app{t: t, h: h, next: &fakeRouter{keys: keys}, logs: logs}
}

// do serves one request; mod may add headers and cookies.
func (a *app) do(method, target string, form url.Values, mod func(*http.Request)) *http.Response {
	a.t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if mod != nil {
		mod(r)
	}
	w := httptest.NewRecorder()
	if err := a.h.ServeHTTP(w, r, a.next); err != nil {
		a.t.Fatal(err)
	}
	return w.Result()
}

func bodyOf(t *testing.T, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func withKey(k string) func(*http.Request) {
	return func(r *http.Request) { r.AddCookie(&http.Cookie{Name: keyCookie, Value: k}) }
}

func TestKeysGateEveryPage(t *testing.T) {
	a := newApp(t, true)
	// Without a key: pages go to the login page, the rest get 401.
	resp := a.do("GET", "/anonymize/chat", nil, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/anonymize/login?next=%2Fanonymize%2Fchat" {
		t.Fatalf("GET /anonymize/chat without a key: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	for _, tc := range []struct{ method, path string }{
		{"POST", "/anonymize/"}, {"GET", "/anonymize/models"}, {"POST", "/anonymize/chat/stream"}, {"POST", "/anonymize/chat/message"},
	} {
		resp := a.do(tc.method, tc.path, url.Values{"text": {"PESEL 44051401359"}}, withKey("bad"))
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("%s %s with a bad key: %d", tc.method, tc.path, resp.StatusCode)
		}
	}
	// Logging in: a bad key stays out, the good one gets a cookie scripts
	// cannot read, sent only back to this app on same-site requests.
	resp = a.do("POST", "/anonymize/login", url.Values{"key": {"bad"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 || !strings.Contains(bodyOf(t, resp), "login-error") {
		t.Fatalf("bad key: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp = a.do("POST", "/anonymize/login", url.Values{"key": {"go od;x"}}, nil)
	if resp.StatusCode != http.StatusUnauthorized || len(resp.Cookies()) != 0 {
		t.Fatalf("a key unfit for a cookie: %d %v", resp.StatusCode, resp.Cookies())
	}
	resp = a.do("POST", "/anonymize/login", url.Values{"key": {"good"}, "next": {"/anonymize/chat"}}, nil)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/anonymize/chat" {
		t.Fatalf("good key: %d %s", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := resp.Cookies()
	if len(c) != 1 || c[0].Name != keyCookie || c[0].Value != "good" || !c[0].HttpOnly || c[0].SameSite != http.SameSiteStrictMode || c[0].Path != Root {
		t.Fatalf("cookie %+v", c)
	}
	resp = a.do("GET", "/anonymize/chat", nil, withKey("good"))
	if page := bodyOf(t, resp); resp.StatusCode != 200 || !strings.Contains(page, `action="/anonymize/logout"`) {
		t.Fatalf("chat with the key: %d", resp.StatusCode)
	}
	// Scripts may send the key as the API takes it.
	resp = a.do("GET", "/anonymize/models", nil, func(r *http.Request) { r.Header.Set("Authorization", "Bearer good") })
	if got := bodyOf(t, resp); resp.StatusCode != 200 || !strings.Contains(got, `"m1"`) {
		t.Fatalf("models with a bearer key: %d %s", resp.StatusCode, got)
	}
}

func TestNoKeysNoLogin(t *testing.T) {
	a := newApp(t, false)
	if resp := a.do("GET", "/anonymize/", nil, nil); resp.StatusCode != 200 {
		t.Fatalf("GET /anonymize/: %d", resp.StatusCode)
	}
	if resp := a.do("GET", "/anonymize/login", nil, nil); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("the login page of a router without keys: %d", resp.StatusCode)
	}
}

func TestCrossOriginPostRefused(t *testing.T) {
	a := newApp(t, false)
	for _, p := range []string{"/anonymize/", "/anonymize/chat/stream", "/anonymize/chat/message", "/anonymize/login", "/anonymize/logout"} {
		resp := a.do("POST", p, url.Values{"text": {"x"}, "message": {"x"}, "model_name": {"m1"}}, func(r *http.Request) {
			r.Header.Set("Sec-Fetch-Site", "cross-site")
			r.Header.Set("Origin", "https://evil.example")
		})
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("cross-site POST %s: %d", p, resp.StatusCode)
		}
	}
	if n := len(a.next.chat); n != 0 {
		t.Fatalf("a cross-site request reached the router %d times", n)
	}
	resp := a.do("POST", "/anonymize/", url.Values{"text": {"x@example.com"}}, func(r *http.Request) { r.Header.Set("Sec-Fetch-Site", "same-origin") })
	if resp.StatusCode != 200 {
		t.Fatalf("same-origin POST: %d", resp.StatusCode)
	}
}

func TestMaskForm(t *testing.T) {
	a := newApp(t, false)
	for _, tc := range []struct {
		name   string
		form   url.Values
		status int
		want   string
	}{
		{"pl", url.Values{"text": {"PESEL 44051401359, IBAN PL61109010140000071219812874"}, "algorithm": {"fast"}}, 200, `<mark class="ph">{PESEL_TAGGED_1}</mark>`},
		{"empty", url.Values{"text": {"  "}, "algorithm": {"fast"}}, 400, "Najpierw wpisz"},
		{"binary", url.Values{"text": {"\x89PNG\x00\x00"}, "algorithm": {"fast"}}, 400, "To nie jest plik tekstowy"},
		{"too long", url.Values{"text": {strings.Repeat("a", 64<<10+1)}}, 413, "limit to 64 KiB"},
		{"far too long", url.Values{"text": {strings.Repeat("%", 256<<10)}}, 413, "limit to 64 KiB"},
		{"unknown algorithm", url.Values{"text": {"x"}, "algorithm": {"rot13"}}, 400, "Nieobsługiwana metoda"},
		{"no pii service", url.Values{"text": {"x"}, "algorithm": {"pii_masking"}}, 503, "nie jest skonfigurowana"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.do("POST", "/anonymize/", tc.form, nil)
			got := bodyOf(t, resp)
			if resp.StatusCode != tc.status || !strings.Contains(got, tc.want) {
				t.Fatalf("%d %s\nwant %d with %q", resp.StatusCode, got, tc.status, tc.want)
			}
			if strings.Contains(got, "<html") {
				t.Fatal("a fetch got the whole page instead of the fragment")
			}
		})
	}
	// A form sent without script (a navigation) gets the whole page.
	resp := a.do("POST", "/anonymize/", url.Values{"text": {"a@b.pl"}}, func(r *http.Request) { r.Header.Set("Sec-Fetch-Mode", "navigate") })
	if got := bodyOf(t, resp); !strings.Contains(got, "<html") || !strings.Contains(got, "{EMAIL_1}") {
		t.Fatalf("navigation: %s", got)
	}
}

func TestChatMasksBeforeTheRouter(t *testing.T) {
	a := newApp(t, false)
	chat := func(anon bool, model string) *http.Response {
		b, _ := json.Marshal(chatRequest{Model: model, System: "Mail admina: admin@firma.pl", Anonymize: anon, Algorithm: "fast",
			Messages: []ChatMessage{{Role: "user", Content: "Mój PESEL to 44051401359"}}})
		r := httptest.NewRequest("POST", "/anonymize/chat/stream", strings.NewReader(string(b)))
		w := httptest.NewRecorder()
		if err := a.h.ServeHTTP(w, r, a.next); err != nil {
			t.Fatal(err)
		}
		return w.Result()
	}
	resp := chat(true, "m1")
	if got := bodyOf(t, resp); resp.StatusCode != 200 || !strings.Contains(got, "Cześć") {
		t.Fatalf("%d %s", resp.StatusCode, got)
	}
	if sent := a.next.last(); strings.Contains(sent, "44051401359") || strings.Contains(sent, "admin@firma.pl") || !strings.Contains(sent, "{PESEL") {
		t.Fatalf("the router received %s", sent)
	}
	chat(false, "m1")
	if sent := a.next.last(); !strings.Contains(sent, "44051401359") {
		t.Fatalf("with anonymization off the text should go as typed: %s", sent)
	}
	resp = chat(true, "nope")
	if got := bodyOf(t, resp); resp.StatusCode != 404 || !strings.Contains(got, "model 'nope' not found") {
		t.Fatalf("unknown model: %d %s", resp.StatusCode, got)
	}
	for _, e := range a.logs.All() {
		if line, _ := json.Marshal(e.ContextMap()); strings.Contains(e.Message+string(line), "44051401359") {
			t.Fatalf("the user's text reached the log: %s %s", e.Message, line)
		}
	}
}

func TestOriginalChatMessage(t *testing.T) {
	a := newApp(t, false)
	resp := a.do("POST", "/anonymize/chat/message", url.Values{"message": {"PESEL 44051401359"}, "model_name": {"m1"}, "algorithm": {"fast"}}, nil)
	if got := bodyOf(t, resp); resp.StatusCode != 200 || got != "Cześć" {
		t.Fatalf("%d %q", resp.StatusCode, got)
	}
	if sent := a.next.last(); strings.Contains(sent, "44051401359") {
		t.Fatalf("masked chat sent %s", sent)
	}
	a.do("POST", "/anonymize/chat/message", url.Values{"message": {"PESEL 44051401359"}, "model_name": {"m1"}, "algorithm": {"no_anno"}}, nil)
	if sent := a.next.last(); !strings.Contains(sent, "44051401359") {
		t.Fatalf("no_anno should send the text as typed: %s", sent)
	}
	resp = a.do("POST", "/anonymize/chat/message", url.Values{"message": {"hej"}, "model_name": {"nope"}}, nil)
	if got := bodyOf(t, resp); resp.StatusCode != 404 || !strings.Contains(got, "not found") {
		t.Fatalf("unknown model: %d %s", resp.StatusCode, got)
	}
}

func TestLanguageAndPages(t *testing.T) {
	a := newApp(t, false)
	resp := a.do("GET", "/anonymize/set_lang/en?next=/anonymize/chat", nil, nil)
	c := resp.Cookies()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/anonymize/chat" || len(c) != 1 || c[0].Value != "en" {
		t.Fatalf("set_lang: %d %s %v", resp.StatusCode, resp.Header.Get("Location"), c)
	}
	if resp := a.do("GET", "/anonymize/set_lang/de", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("set_lang/de: %d", resp.StatusCode)
	}
	if resp := a.do("GET", "/anonymize/set_lang/en?next=https://evil.example/", nil, nil); resp.Header.Get("Location") != "/anonymize/" {
		t.Fatalf("open redirect to %s", resp.Header.Get("Location"))
	}
	for _, p := range []string{"/anonymize/", "/anonymize/chat", "/anonymize/privacy", "/anonymize/terms", "/anonymize/nope"} {
		for _, lang := range []string{"pl", "en"} {
			resp := a.do("GET", p, nil, func(r *http.Request) { r.AddCookie(&http.Cookie{Name: langCookie, Value: lang}) })
			page := bodyOf(t, resp)
			if !strings.Contains(page, `<html lang="`+lang+`">`) {
				t.Errorf("%s in %s: %s", p, lang, page)
			}
			if csp := resp.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe") {
				t.Errorf("%s: CSP %q", p, csp)
			}
		}
	}
	if resp := a.do("GET", "/anonymize/nope", nil, nil); resp.StatusCode != 404 {
		t.Fatalf("unknown page: %d", resp.StatusCode)
	}
	if resp := a.do("GET", "/anonymize/static/app.js", nil, nil); resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") {
		t.Fatalf("app.js: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
}

func TestDisabledPassesThrough(t *testing.T) {
	h := &Handler{}
	if err := h.setup(zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	called := false
	next := caddyhttp.HandlerFunc(func(w http.ResponseWriter, r *http.Request) error { called = true; return nil })
	if err := h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/anonymize/", nil), next); err != nil || !called {
		t.Fatalf("disabled app: called=%v err=%v", called, err)
	}
	a := newApp(t, false)
	called = false
	if err := a.h.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest("GET", "/v1/models", nil), next); err != nil || !called {
		t.Fatal("a router path did not reach the router")
	}
}

// TestTranslationsComplete checks that both languages have the same keys
// and that every key a template or the script uses exists.
func TestTranslationsComplete(t *testing.T) {
	p, err := loadPages()
	if err != nil {
		t.Fatal(err)
	}
	for k := range p.tr["pl"] {
		if p.tr["en"][k] == "" {
			t.Errorf("en lacks %q", k)
		}
	}
	for k := range p.tr["en"] {
		if p.tr["pl"][k] == "" {
			t.Errorf("pl lacks %q", k)
		}
	}
	used := map[string]bool{}
	for _, glob := range []string{"templates/*.html", "static/*.js", "*.go"} {
		files, _ := assetsOrDisk(glob)
		for name, src := range files {
			re := regexp.MustCompile(`\.T\.(\w+)|\bT\.(\w+)|msg\(\s*'(\w+)'|v\.T\["(\w+)"\]|msg\(v, "(\w+)"\)|fail\([^,]+, "(\w+)"\)`)
			for _, m := range re.FindAllStringSubmatch(src, -1) {
				for _, k := range m[1:] {
					if k != "" {
						used[k] = true
						if _, ok := p.tr["pl"][k]; !ok {
							t.Errorf("%s uses the missing key %q", name, k)
						}
					}
				}
			}
		}
	}
	if len(used) < 40 {
		t.Fatalf("found only %d keys in use: the scan is broken", len(used))
	}
}

// assetsOrDisk reads the files matching glob from the package directory.
func assetsOrDisk(glob string) (map[string]string, error) {
	names, err := filepathGlob(glob)
	out := map[string]string{}
	for _, n := range names {
		b, err := os.ReadFile(n)
		if err == nil {
			out[n] = string(b)
		}
	}
	return out, err
}

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		in      string
		enabled bool
		wantErr bool
	}{
		{"llm_router_anonymizer", true, false},
		{"llm_router_anonymizer off", false, false},
		{"llm_router_anonymizer 1", true, false},
		{"llm_router_anonymizer {\n enabled false\n}", false, false},
		{"llm_router_anonymizer {\n enabled\n}", false, false}, // an empty {$VAR:} placeholder
		{"llm_router_anonymizer {\n enabled 1\n pii_host http://pii:8000\n max_text 2MB\n default_language en\n pii_timeout 3s\n}", true, false},
		{"llm_router_anonymizer maybe", false, true},
		{"llm_router_anonymizer {\n default_language de\n}", false, true},
		{"llm_router_anonymizer {\n max_text lots\n}", false, true},
		{"llm_router_anonymizer {\n colour blue\n}", false, true},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		if (err != nil) != tc.wantErr || (err == nil && h.Enabled != tc.enabled) {
			t.Errorf("%q: enabled=%v err=%v", tc.in, h.Enabled, err)
		}
	}
}

func filepathGlob(pattern string) ([]string, error) { return filepath.Glob(pattern) }

func TestChatMessageBadForm(t *testing.T) {
	a := newApp(t, false)
	for _, tc := range []struct {
		name string
		body string
		want int
	}{
		{"malformed encoding", "message=%zz&model_name=m1", http.StatusBadRequest},
		{"too large", "message=" + strings.Repeat("a", int(3*a.h.MaxText+64<<10)), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.do("POST", "/anonymize/chat/message", url.Values{}, func(r *http.Request) {
				r.Body = io.NopCloser(strings.NewReader(tc.body))
				r.ContentLength = int64(len(tc.body))
			})
			if got := bodyOf(t, resp); resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, got, tc.want)
			}
		})
	}
}

// A chat body cut short (the client left mid-upload) is a bad request, not
// one over the limit; only a body past the limit is 413.
func TestChatStreamBodyErrors(t *testing.T) {
	a := newApp(t, false)
	for _, tc := range []struct {
		name string
		body io.Reader
		want int
	}{
		{"cut short", io.MultiReader(strings.NewReader(`{"model":"m1"`), iotest.ErrReader(io.ErrUnexpectedEOF)), http.StatusBadRequest},
		{"too large", strings.NewReader(`{"model":"` + strings.Repeat("a", int(4*a.h.MaxText+64<<10)) + `"}`), http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			resp := a.do("POST", "/anonymize/chat/stream", url.Values{}, func(r *http.Request) {
				r.Body = io.NopCloser(tc.body)
				r.ContentLength = -1
				r.Header.Set("Content-Type", "application/json")
			})
			if got := bodyOf(t, resp); resp.StatusCode != tc.want {
				t.Fatalf("%d %s, want %d", resp.StatusCode, got, tc.want)
			}
		})
	}
}
