package manager

import (
	"bytes"
	"context"
	"html"
	"mime/multipart"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// roleFixture is an administrator (root) and a user (alice), each logged
// in with their own client.
type roleFixture struct {
	*testApp
	root, alice *http.Client
	aliceUser   store.User
}

func newRoleFixture(t *testing.T) *roleFixture {
	t.Helper()
	a := newTestApp(t)
	f := &roleFixture{testApp: a, root: a.client(t), alice: a.client(t)}
	a.post(t, f.root, "/manager/setup", url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}})
	u, err := a.h.app.st.CreateUser(context.Background(), "alice", "alice-password-1", store.RoleUser)
	if err != nil {
		t.Fatal(err)
	}
	f.aliceUser = u
	if resp, _ := a.post(t, f.alice, "/manager/login", url.Values{"username": {"alice"}, "password": {"alice-password-1"}}); resp.StatusCode != 200 {
		t.Fatalf("alice's login: %d", resp.StatusCode)
	}
	return f
}

// importAs imports a document and returns the config's path.
func (f *roleFixture) importAs(t *testing.T, c *http.Client, doc string) string {
	t.Helper()
	resp, body := f.post(t, c, "/manager/configs/import", url.Values{"name": {"c"}, "json": {doc}})
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Request.URL.Path, "/manager/configs/") {
		t.Fatalf("import: %d at %s: %.300s", resp.StatusCode, resp.Request.URL.Path, body)
	}
	return resp.Request.URL.Path
}

func (f *roleFixture) revision(t *testing.T, path string) int64 {
	t.Helper()
	id, _ := strconv.ParseInt(path[strings.LastIndex(path, "/")+1:], 10, 64)
	c, err := f.h.app.st.Config(context.Background(), f.aliceUser, id)
	if err != nil {
		t.Fatal(err)
	}
	return c.Revision
}

const plainDoc = `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:1", "api_type": "vllm"}]}}, "active_models": {"g": ["m"]}}`

// Activation is what every router serves: only an administrator may do it.
func TestActivateAdminOnly(t *testing.T) {
	f := newRoleFixture(t)
	cfg := f.importAs(t, f.alice, plainDoc)
	resp, err := f.alice.Get(f.srv.URL + cfg)
	if err != nil {
		t.Fatal(err)
	}
	var page bytes.Buffer
	_, _ = page.ReadFrom(resp.Body)
	resp.Body.Close()
	if strings.Contains(page.String(), `id="activate-button"`) || !strings.Contains(page.String(), `id="activate-admin-only"`) {
		t.Errorf("a user's config page offers the Activate button")
	}
	resp, body := f.post(t, f.alice, cfg+"/activate", url.Values{"revision": {"1"}})
	_, active, err := f.h.app.st.Active(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusForbidden || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") ||
		!strings.Contains(body, "Only an administrator") || active || len(f.applied) != 0 {
		t.Errorf("a user's activation: %d %s, recorded %v, applied %v", resp.StatusCode, resp.Header.Get("Content-Type"), active, f.applied)
	}
	// The administrator activates the same config.
	if resp, _ := f.post(t, f.root, cfg+"/activate", url.Values{"revision": {"1"}}); resp.StatusCode != 200 || len(f.applied) != 1 {
		t.Errorf("the administrator's activation: %d, applied %v", resp.StatusCode, f.applied)
	}
}

// A user cannot make the router read its environment or files for a host
// of their choosing: no {env.…}/{file.…} token added, changed or pointed
// elsewhere, by any way a document enters. The administrator can.
func TestPlaceholderTokensAdminOnly(t *testing.T) {
	f := newRoleFixture(t)
	ctx := context.Background()
	const refused = "only an administrator may set an api_token that holds an {env.…} or {file.…} placeholder"
	evil := strings.Replace(plainDoc, `"api_type"`, `"api_token": "{file./var/lib/llm-router/manager.key}", "api_type"`, 1)

	// Import, pasted: refused, the text kept, no config written.
	resp, body := f.post(t, f.alice, "/manager/configs/import", url.Values{"name": {"c"}, "json": {evil}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, html.EscapeString(refused)) ||
		!strings.Contains(body, "{file./var/lib/llm-router/manager.key}") {
		t.Errorf("pasted import: %d: %.400s", resp.StatusCode, body)
	}
	// Import, as a file, with the placeholder inside a longer token.
	var mb bytes.Buffer
	mw := multipart.NewWriter(&mb)
	_ = mw.WriteField("name", "c")
	fw, _ := mw.CreateFormFile("file", "models-config.json")
	_, _ = fw.Write([]byte(strings.Replace(plainDoc, `"api_type"`, `"api_token": "Bearer {env.SECRET}", "api_type"`, 1)))
	_ = mw.Close()
	fresp, err := f.alice.Post(f.srv.URL+"/manager/configs/import", mw.FormDataContentType(), &mb)
	if err != nil {
		t.Fatal(err)
	}
	fresp.Body.Close()
	if fresp.StatusCode != http.StatusForbidden {
		t.Errorf("file import: %d", fresp.StatusCode)
	}
	p, _ := f.h.app.st.DefaultProject(ctx, f.aliceUser)
	if cs, _ := f.h.app.st.Configs(ctx, f.aliceUser, p.ID); len(cs) != 0 {
		t.Errorf("a refused import wrote %d configs", len(cs))
	}

	cfg := f.importAs(t, f.alice, plainDoc) // revision 1
	// JSON editor: refused, the text kept, nothing saved.
	resp, body = f.post(t, f.alice, cfg+"/json", url.Values{"revision": {"1"}, "json": {evil}})
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, html.EscapeString(refused)) ||
		!strings.Contains(body, "manager.key}") || f.revision(t, cfg) != 1 {
		t.Errorf("JSON edit: %d, revision %d", resp.StatusCode, f.revision(t, cfg))
	}
	// Provider form: refused, what was typed kept in the form.
	prov := func(c *http.Client, rev int64, host, token string) (*http.Response, string) {
		v := url.Values{"revision": {strconv.FormatInt(rev, 10)}, "group": {"g"}, "model": {"m"}, "index": {"0"},
			"id": {"a"}, "api_host": {host}, "api_type": {"vllm"}}
		if token != "" {
			v.Set("api_token", token)
		}
		return f.post(t, c, cfg+"/providers/save", v)
	}
	resp, body = prov(f.alice, 1, "http://collector.example:9", "{env.SECRET}")
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, html.EscapeString(refused)) ||
		!strings.Contains(body, `value="{env.SECRET}"`) || !strings.Contains(body, `value="http://collector.example:9"`) || f.revision(t, cfg) != 1 {
		t.Errorf("provider form: %d, revision %d: %.300s", resp.StatusCode, f.revision(t, cfg), body)
	}

	// The administrator sets a placeholder token in alice's config (revision 2).
	if resp, body := prov(f.root, 1, "http://127.0.0.1:1", "{env.A_TOKEN}"); resp.StatusCode != 200 || f.revision(t, cfg) != 2 {
		t.Fatalf("the administrator's provider save: %d: %.300s", resp.StatusCode, body)
	}
	// Alice may edit around it (revision 3) ...
	if resp, _ := f.post(t, f.alice, cfg+"/edit", url.Values{"revision": {"2"}, "name": {"renamed"}, "g[]": {"m"}}); resp.StatusCode != 200 || f.revision(t, cfg) != 3 {
		t.Errorf("a user's edit that keeps the placeholder: %d", resp.StatusCode)
	}
	if resp, _ := prov(f.alice, 3, "http://127.0.0.1:1", "{env.A_TOKEN}"); resp.StatusCode != 200 || f.revision(t, cfg) != 4 {
		t.Errorf("a user's provider save that keeps the placeholder and host: %d", resp.StatusCode)
	}
	// ... but not send it elsewhere, by the form or the JSON editor.
	if resp, body := prov(f.alice, 4, "http://collector.example:9", "{env.A_TOKEN}"); resp.StatusCode != http.StatusForbidden || !strings.Contains(body, html.EscapeString(refused)) || f.revision(t, cfg) != 4 {
		t.Errorf("a user moving the placeholder to another host: %d", resp.StatusCode)
	}
	moved := strings.Replace(strings.Replace(plainDoc, `"api_type"`, `"api_token": "{env.A_TOKEN}", "api_type"`, 1), "127.0.0.1:1", "collector.example:9", 1)
	if resp, _ := f.post(t, f.alice, cfg+"/json", url.Values{"revision": {"4"}, "json": {moved}}); resp.StatusCode != http.StatusForbidden || f.revision(t, cfg) != 4 {
		t.Errorf("a user moving the placeholder with the JSON editor: %d", resp.StatusCode)
	}

	// Restore: version 1 (no placeholder) and version 2 (the
	// administrator's) are fine.
	for _, n := range []string{"1", "2"} {
		if resp, _ := f.post(t, f.alice, cfg+"/versions/"+n+"/restore", nil); resp.StatusCode != 200 {
			t.Errorf("a user's restore of version %s: %d", n, resp.StatusCode)
		}
	}
	// A version that a user wrote with a placeholder (before this rule) is
	// not restored by a user: revisions 7 and 8 written to the store directly.
	id, _ := strconv.ParseInt(cfg[strings.LastIndex(cfg, "/")+1:], 10, 64)
	if _, err := f.h.app.st.SaveConfig(ctx, f.aliceUser, id, 6, "c", []byte(evil), "old"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.h.app.st.SaveConfig(ctx, f.aliceUser, id, 7, "c", []byte(plainDoc), "plain"); err != nil {
		t.Fatal(err)
	}
	resp, body = f.post(t, f.alice, cfg+"/versions/7/restore", nil)
	if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, "Version 7 was not restored") || f.revision(t, cfg) != 8 {
		t.Errorf("a user's restore of a user-written placeholder: %d, revision %d", resp.StatusCode, f.revision(t, cfg))
	}
	// The administrator may.
	if resp, _ := f.post(t, f.root, cfg+"/versions/7/restore", nil); resp.StatusCode != 200 || f.revision(t, cfg) != 9 {
		t.Errorf("the administrator's restore: %d", resp.StatusCode)
	}
	// And the administrator imports placeholders.
	f.importAs(t, f.root, evil)
}

// A provider whose api_host changes does not keep its hidden token (doc.Merge):
// the form says so, keeps what was typed and opens the token field empty.
func TestHostChangeDropsHiddenToken(t *testing.T) {
	f := newRoleFixture(t)
	cfg := f.importAs(t, f.alice, strings.Replace(plainDoc, `"api_type"`, `"api_token": "sk-secret-1", "api_type"`, 1))
	resp, body := f.post(t, f.alice, cfg+"/providers/save", url.Values{"revision": {"1"}, "group": {"g"}, "model": {"m"}, "index": {"0"},
		"id": {"a"}, "api_host": {"http://moved.example:9"}, "api_type": {"vllm"}, "api_token": {""}, "api_token__keep": {"1"}, "weight": {"3"}})
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "api_host changed, so the hidden token is not kept; enter the token again") ||
		!strings.Contains(body, `value="http://moved.example:9"`) || !strings.Contains(body, `value="3"`) || f.revision(t, cfg) != 1 {
		t.Errorf("host change with a hidden token: %d, revision %d", resp.StatusCode, f.revision(t, cfg))
	}
	if strings.Contains(body, "data-keep=") || strings.Contains(body, "sk-secret-1") {
		t.Errorf("the refused form still offers to keep the hidden token (or shows it)")
	}
	// With the token typed again it saves.
	resp, _ = f.post(t, f.alice, cfg+"/providers/save", url.Values{"revision": {"1"}, "group": {"g"}, "model": {"m"}, "index": {"0"},
		"id": {"a"}, "api_host": {"http://moved.example:9"}, "api_type": {"vllm"}, "api_token": {"sk-secret-2"}})
	if resp.StatusCode != 200 || f.revision(t, cfg) != 2 {
		t.Errorf("host change with a new token: %d", resp.StatusCode)
	}
}
