package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/input"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/tailscale/hujson"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store/pgtest"
)

// The Config Manager (issue 18) driven in headless Chromium against the
// built binary: llmtest fakes stand in for the providers.

const (
	mgrAdmin    = "admin"
	mgrAdminPW  = "admin-password-1"
	mgrUser     = "bob"
	mgrUserPW   = "bob-password-12"
	mgrEvilName = `<img src=x onerror=alert(1)>`
)

// mgrShot saves a full-page PNG under testdata/screenshots/manager (or
// $LLM_ROUTER_SCREENSHOT_DIR/manager).
func mgrShot(b *browser, name string) {
	b.t.Helper()
	dir := filepath.Join("testdata", "screenshots", "manager")
	if d := os.Getenv("LLM_ROUTER_SCREENSHOT_DIR"); d != "" {
		dir = filepath.Join(d, "manager")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// mgrFixture is a router with the Config Manager and two fake providers.
type mgrFixture struct {
	r            *router
	fakeA, fakeB *llmtest.OpenAI
}

// startManager starts the router with the Config Manager on database db
// ("" for the default: a SQLite file under $XDG_DATA_HOME).
func startManager(t *testing.T, db string) *mgrFixture {
	t.Helper()
	fa, fb := llmtest.NewOpenAI("vllm-a"), llmtest.NewOpenAI("vllm-b")
	t.Cleanup(fa.Close)
	t.Cleanup(fb.Close)
	o := routerOpts{
		models: modelsJSON(map[string][]string{"m1": {prov("pa", fa.URL, "vllm", "")}}),
		site:   "\tllm_router_configs\n",
		env:    map[string]string{"LLM_ROUTER_WEB_DATABASE_URL": db},
	}
	// No admin address in the directive: the module finds the router's own.
	r := startRouter(t, o)
	return &mgrFixture{r: r, fakeA: fa, fakeB: fb}
}

// client is a logged-in HTTP client (a script, not a browser).
func (f *mgrFixture) client(t *testing.T, name, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
	resp, err := c.PostForm(f.r.Base()+"/manager/login", url.Values{"username": {name}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), `id="whoami"`) {
		t.Fatalf("login as %s: %d %s", name, resp.StatusCode, body)
	}
	return c
}

// modelIDs lists what the router's /v1/models serves.
func (f *mgrFixture) modelIDs(t *testing.T) []string {
	t.Helper()
	resp, err := http.Get(f.r.Base() + "/v1/models")
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
	return ids
}

// mgrSubmit clicks sel, which loads a new page, and waits until the new
// page (not the old one) is ready and has wait.
func mgrSubmit(b *browser, sel, wait string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](`document.body.dataset.old = 'true'`), chromedp.Click(chromedp.CSS(sel)))
	mgrWait(b, fmt.Sprintf(`document.readyState === 'complete' && !!document.querySelector('body[data-ready]:not([data-old]) %s')`, wait))
}

// mgrWait waits (deadline-bounded) until the expression is true; unlike
// waitJS it survives the page navigating while it waits.
func mgrWait(b *browser, js string) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, err := chromedp.Run(b.ctx, chromedp.Evaluate[bool](js))
		if err == nil && ok {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("waiting for %s: %v (page state: %s)", js, err, b.state())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// mgrMouseDrag drags the element from onto the lower half of the element
// to with the mouse, as a person does: Chromium's drag and drop, its
// DataTransfer and its events (intercepted and replayed through the
// DevTools protocol, as headless Chromium has no OS drag loop).
func mgrMouseDrag(b *browser, from, to string) {
	b.t.Helper()
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	got := make(chan *input.DragData, 1)
	if err := chromedp.Listen(ctx, func(ev any) {
		if e, ok := ev.(*input.EventDragIntercepted); ok {
			select {
			case got <- e.Data:
			default:
			}
		}
	}); err != nil {
		b.t.Fatal(err)
	}
	if _, err := chromedp.Call(ctx, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: true}); err != nil {
		b.t.Fatal(err)
	}
	defer func() {
		_, _ = chromedp.Call(b.ctx, input.SetInterceptDrags, input.SetInterceptDragsParams{Enabled: false})
	}()
	center := func(sel string, lower bool) (float64, float64) {
		frac := "0.5"
		if lower {
			frac = "0.75"
		}
		r := eval[[]float64](b, fmt.Sprintf(`(() => { const r = document.querySelector(%q).getBoundingClientRect(); return [r.left + r.width / 2, r.top + r.height * %s]; })()`, sel, frac))
		return r[0], r[1]
	}
	b.do(chromedp.Evaluate[chromedp.Void](fmt.Sprintf(`document.querySelector(%q).scrollIntoView({block: 'center'})`, to)))
	x0, y0 := center(from, false)
	x1, y1 := center(to, true)
	mouse := func(typ input.DispatchMouseEventType, x, y float64) {
		p := input.DispatchMouseEventParams{Type: typ, X: x, Y: y, Button: input.MouseButtonLeft, Buttons: 1, ClickCount: 1}
		if typ == input.DispatchMouseEventTypeMouseMoved {
			p.ClickCount = 0
		}
		if _, err := chromedp.Call(ctx, input.DispatchMouseEvent, p); err != nil {
			b.t.Fatal(err)
		}
	}
	mouse(input.DispatchMouseEventTypeMousePressed, x0, y0)
	var data *input.DragData
	for i := 1; data == nil; i++ {
		if i > 200 {
			b.t.Fatal("Chromium started no drag")
		}
		mouse(input.DispatchMouseEventTypeMouseMoved, x0+float64(i%20), y0+float64(i%20))
		select {
		case data = <-got:
		case <-time.After(20 * time.Millisecond):
		}
	}
	for _, typ := range []input.DispatchDragEventType{input.DispatchDragEventTypeDragEnter, input.DispatchDragEventTypeDragOver, input.DispatchDragEventTypeDrop} {
		if _, err := chromedp.Call(ctx, input.DispatchDragEvent, input.DispatchDragEventParams{Type: typ, X: x1, Y: y1, Data: data}); err != nil {
			b.t.Fatal(err)
		}
	}
	mouse(input.DispatchMouseEventTypeMouseReleased, x1, y1)
}

func mgrLogin(b *browser, name, pw string) {
	b.t.Helper()
	b.open("/manager/login")
	b.do(chromedp.SetValue(chromedp.CSS("#username"), name), chromedp.SetValue(chromedp.CSS("#password"), pw))
	mgrSubmit(b, "#login-button", "main")
}

func mgrLogout(b *browser) {
	b.t.Helper()
	mgrSubmit(b, "#logout", "#login-form")
}

// mgrImport pastes a document into the import form and returns the new
// config's page path.
func mgrImport(b *browser, name, text string) string {
	b.t.Helper()
	b.open("/manager/configs/import")
	b.do(chromedp.SetValue(chromedp.CSS("#name"), name), chromedp.SetValue(chromedp.CSS("#json"), text))
	mgrSubmit(b, "#import-button", "#config-title")
	return eval[string](b, `location.pathname`)
}

// decoded decodes JSON (after hujson standardising, by the caller).
func decoded(t *testing.T, b []byte) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	return v
}

// redactTokens replaces every api_token that is a secret with the marker
// the export shows.
func redactTokens(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "api_token" && s != "" && !strings.HasPrefix(s, "{env.") && !strings.HasPrefix(s, "{file.") {
				x[k] = "••••••••"
				continue
			}
			x[k] = redactTokens(e)
		}
	case []any:
		for i := range x {
			x[i] = redactTokens(x[i])
		}
	}
	return v
}

func TestManagerInBrowser(t *testing.T) { testManagerInBrowser(t, "") }

func TestManagerInBrowserPostgres(t *testing.T) {
	pgtest.Need(t)
	testManagerInBrowser(t, pgtest.Start(t).NewDatabase(t))
}

func testManagerInBrowser(t *testing.T, db string) {
	f := startManager(t, db)
	b := newBrowser(t, f.r.Base())

	t.Run("first-run setup", func(t *testing.T) {
		b.t = t
		b.open("/manager/")
		if p := eval[string](b, `location.pathname`); p != "/manager/setup" {
			t.Fatalf("the first visit lands on %s, want /manager/setup", p)
		}
		mgrShot(b, "01-setup")
		// A weak password is refused with a message.
		b.do(chromedp.SetValue(chromedp.CSS("#username"), mgrAdmin), chromedp.SetValue(chromedp.CSS("#password"), "short"),
			chromedp.SetValue(chromedp.CSS("#password2"), "short"),
			chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('input[minlength]').forEach(e => e.removeAttribute('minlength'))`))
		mgrSubmit(b, "#setup-button", "#error")
		if msg := b.text("#error"); !strings.Contains(msg, "10") {
			t.Errorf("weak password: %q", msg)
		}
		b.do(chromedp.SetValue(chromedp.CSS("#password"), mgrAdminPW), chromedp.SetValue(chromedp.CSS("#password2"), mgrAdminPW))
		mgrSubmit(b, "#setup-button", "#whoami")
		if who := b.text("#whoami"); !strings.Contains(who, "admin") {
			t.Errorf("after setup: %q", who)
		}
		mgrShot(b, "02-configs-empty")
		// Setup is done: the page sends to login now, and a second setup
		// by a script is refused.
		resp, err := http.PostForm(f.r.Base()+"/manager/setup", url.Values{"username": {"eve"}, "password": {"eve-password-1"}, "password2": {"eve-password-1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/manager/login" {
			t.Errorf("a second setup ended at %s", resp.Request.URL.Path)
		}
	})
	b.t = t

	var seedPath string
	t.Run("import and export", func(t *testing.T) {
		b.t = t
		for _, tc := range []struct{ name, file string }{
			{"repository example", "../resources/models-config.json"},
			{"seed example", "testdata/manager/seed-example.json"},
		} {
			abs, _ := filepath.Abs(tc.file)
			b.open("/manager/configs/import")
			b.do(chromedp.SetValue(chromedp.CSS("#name"), tc.name), chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{abs}))
			mgrSubmit(b, "#import-button", "#config-title")
			path := eval[string](b, `location.pathname`)
			if tc.file == "testdata/manager/seed-example.json" {
				seedPath = path
				mgrShot(b, "03-config-seed")
				// Every group, and the token hidden.
				page := b.text("main")
				for _, g := range []string{"google_models", "openai_models", "qwen_models", "nomic-embed-text", "gpt-oss:120b"} {
					if !strings.Contains(page, g) {
						t.Errorf("the config page lacks %q", g)
					}
				}
				html := eval[string](b, `document.documentElement.outerHTML`)
				if strings.Contains(html, "sk-seed-SECRET-0125") || strings.Contains(html, "enc:v1:") {
					t.Errorf("the token reached the browser")
				}
			}
			// Export and compare with the file.
			resp, err := f.client(t, mgrAdmin, mgrAdminPW).Get(f.r.Base() + path + "/export")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
			resp.Body.Close()
			if cd := resp.Header.Get("Content-Disposition"); !strings.Contains(cd, "models-config.json") {
				t.Errorf("export Content-Disposition %q", cd)
			}
			src, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			want := redactTokens(decoded(t, standardize(t, src)))
			if g := decoded(t, got); !reflect.DeepEqual(g, want) {
				t.Errorf("%s: export differs from the import\n got %s\nwant %s", tc.name, got, src)
			}
		}
	})
	b.t = t

	t.Run("malformed import", func(t *testing.T) {
		b.t = t
		b.open("/manager/configs/import")
		b.do(chromedp.SetValue(chromedp.CSS("#json"), "{\n  \"a\": {\n    \"b\": [1, 2,, 3]\n  }\n}"))
		mgrSubmit(b, "#import-button", "#error")
		if msg := b.text("#error"); !strings.Contains(msg, "line 3, column") {
			t.Errorf("malformed JSON: %q", msg)
		}
		if v := eval[string](b, `document.querySelector('#json').value`); !strings.Contains(v, "[1, 2,, 3]") {
			t.Errorf("the pasted text is gone: %q", v)
		}
		mgrShot(b, "04-import-malformed")
		// 50 MB from a script: 413, without the server reading it all.
		c := f.client(t, mgrAdmin, mgrAdminPW)
		pr, pw := io.Pipe()
		mw := multipart.NewWriter(pw)
		go func() {
			fw, _ := mw.CreateFormFile("file", "big.json")
			chunk := bytes.Repeat([]byte(" "), 1<<20)
			for range 50 {
				if _, err := fw.Write(chunk); err != nil {
					pw.CloseWithError(err)
					return
				}
			}
			mw.Close()
			pw.Close()
		}()
		req, _ := http.NewRequest("POST", f.r.Base()+"/manager/configs/import", pr)
		req.Header.Set("Content-Type", mw.FormDataContentType())
		resp, err := c.Do(req)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			t.Fatalf("50 MB upload: %v", err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "8 MiB") {
			t.Errorf("50 MB upload: %d %s", resp.StatusCode, body)
		}
	})
	b.t = t

	var cfgPath string
	t.Run("edit, reorder, activate", func(t *testing.T) {
		b.t = t
		doc := fmt.Sprintf(`{
  // Two providers for m1, in this order.
  "test_models": {
    "m1": {"providers": [
      {"id": "pa", "api_host": %q, "api_type": "vllm"},
      {"id": "pb", "api_host": %q, "api_type": "vllm"},
    ]},
  },
  "active_models": {"test_models": ["m1"]},
}`, f.fakeA.URL, f.fakeB.URL)
		cfgPath = mgrImport(b, mgrEvilName, doc)
		if h := b.text("#config-title"); h != mgrEvilName {
			t.Errorf("title %q", h)
		}
		// Add a model in a new group, and a provider for it with a token.
		b.do(chromedp.SetValue(chromedp.CSS("#add-group"), "other_models"), chromedp.SetValue(chromedp.CSS("#add-name"), "m2"))
		mgrSubmit(b, "#add-model-button", "#model-other_models-m2")
		pre := "#new-other_models-m2"
		b.do(chromedp.Click(chromedp.CSS(`#model-other_models-m2 details.add-provider summary`)),
			chromedp.SetValue(chromedp.CSS(pre+"-id"), "pb2"), chromedp.SetValue(chromedp.CSS(pre+"-api_host"), f.fakeB.URL),
			chromedp.SetValue(chromedp.CSS(pre+"-api_type"), "openai"), chromedp.SetValue(chromedp.CSS(pre+"-api_token"), "sk-typed-SECRET-42"),
			chromedp.SetValue(chromedp.CSS(pre+"-tool_calling"), "true"))
		mgrSubmit(b, `#model-other_models-m2 details.add-provider button.save-provider`, `#model-other_models-m2 li.provider[data-id="pb2"]`)
		html := eval[string](b, `document.documentElement.outerHTML`)
		if strings.Contains(html, "sk-typed-SECRET-42") {
			t.Errorf("the token came back to the browser")
		}
		if !strings.Contains(b.text(`#model-other_models-m2 li.provider[data-id="pb2"]`), "••••") {
			t.Errorf("the token is not shown as ••••")
		}
		// Mark m2 active.
		b.do(chromedp.Click(chromedp.CSS(`input[name="other_models[]"][value="m2"]`)))
		mgrSubmit(b, "#save-settings", "#notice")
		mgrShot(b, "05-config-edited")

		order := func() string {
			return eval[string](b, `Array.from(document.querySelectorAll('#model-test_models-m1 li.provider')).map(e => e.dataset.id).join(',')`)
		}
		rev := func() string { return b.text("#revision") }
		// Drag and drop: pb above pa.
		r0 := rev()
		mgrMouseDrag(b, `#model-test_models-m1 li.provider[data-id="pa"] .handle`, `#model-test_models-m1 li.provider[data-id="pb"]`)
		b.waitJS(`document.querySelector('#revision').textContent !== ` + jsString(r0))
		if o := order(); o != "pb,pa" {
			t.Errorf("after drag and drop: %s", o)
		}
		b.waitJS(`document.querySelector('#live').textContent.includes('moved to position 2')`)
		// Keyboard: Alt+↑ on pa puts it first again.
		r1 := rev()
		b.do(chromedp.Focus(chromedp.CSS(`#model-test_models-m1 li.provider[data-id="pa"]`)),
			chromedp.KeyEvent(kb.ArrowUp, chromedp.KeyModifiers(kb.ModifierAlt)))
		b.waitJS(`document.querySelector('#revision').textContent !== ` + jsString(r1))
		if o := order(); o != "pa,pb" {
			t.Errorf("after Alt+Up: %s", o)
		}
		b.waitJS(`document.querySelector('#live').textContent.includes('pa moved to position 1 of 2')`)
		if id := eval[string](b, `document.activeElement.dataset.id || ''`); id != "pa" {
			t.Errorf("focus left the moved provider: %q", id)
		}
		// And the ↓ button: pa last, which a reload shows (saved on the server).
		b.do(chromedp.Click(chromedp.CSS(`#model-test_models-m1 li.provider[data-id="pa"] button.move-down`)))
		b.waitJS(`document.querySelector('#live').textContent.includes('pa moved to position 2 of 2')`)
		b.open(cfgPath)
		if o := order(); o != "pb,pa" {
			t.Errorf("after the ↓ button and a reload: %s", o)
		}
		mgrShot(b, "06-config-reordered")

		// Activate: the router serves m1 (pb first) and m2.
		mgrSubmit(b, "#activate-button", "#notice")
		if msg := b.text("#notice"); !strings.Contains(msg, "took effect at") {
			t.Errorf("activation: %q", msg)
		}
		mgrShot(b, "07-activated")
		ids := f.modelIDs(t)
		if strings.Join(ids, ",") != "m1,m2" && strings.Join(ids, ",") != "m2,m1" {
			t.Errorf("/v1/models after activation: %v", ids)
		}
		before := len(posts(f.fakeB.Requests()))
		resp, err := http.Post(f.r.Base()+"/v1/chat/completions", "application/json",
			strings.NewReader(`{"model": "m2", "messages": [{"role": "user", "content": "hi"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != 200 || len(posts(f.fakeB.Requests())) != before+1 {
			t.Fatalf("chat to m2: %d, provider B got %d new requests", resp.StatusCode, len(posts(f.fakeB.Requests()))-before)
		}
		if got := lastPost(t, f.fakeB.Requests()).Header.Get("Authorization"); got != "Bearer sk-typed-SECRET-42" {
			t.Errorf("the provider got the credential %q", got)
		}
		// Edit pb2 without touching its token: the token is kept. Then
		// replace it: the provider gets the new one.
		chat := func() llmtest.Request {
			t.Helper()
			resp, err := http.Post(f.r.Base()+"/v1/chat/completions", "application/json",
				strings.NewReader(`{"model": "m2", "messages": [{"role": "user", "content": "hi"}]}`))
			if err != nil {
				t.Fatal(err)
			}
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("chat to m2: %d", resp.StatusCode)
			}
			return lastPost(t, f.fakeB.Requests())
		}
		pb2 := `#model-other_models-m2 li.provider[data-id="pb2"]`
		fp := "#p-other_models-m2-0"
		b.do(chromedp.Click(chromedp.CSS(pb2+" details.provider-edit summary")), chromedp.SetValue(chromedp.CSS(fp+"-model_path"), "served-path"))
		mgrSubmit(b, pb2+" button.save-provider", "#notice")
		mgrSubmit(b, "#activate-button", "#notice")
		if got := chat(); got.Header.Get("Authorization") != "Bearer sk-typed-SECRET-42" || !strings.Contains(string(got.Body), `"served-path"`) {
			t.Errorf("after editing model_path: credential %q, body %s", got.Header.Get("Authorization"), got.Body)
		}
		b.do(chromedp.Click(chromedp.CSS(pb2+" details.provider-edit summary")), chromedp.Click(chromedp.CSS(pb2+" button.replace")))
		if !b.visible(fp + "-api_token") {
			t.Fatalf("Replace did not open the token field")
		}
		b.do(chromedp.SendKeys(chromedp.CSS(fp+"-api_token"), "sk-new-SECRET-7"))
		mgrSubmit(b, pb2+" button.save-provider", "#notice")
		mgrSubmit(b, "#activate-button", "#notice")
		if got := chat(); got.Header.Get("Authorization") != "Bearer sk-new-SECRET-7" {
			t.Errorf("after replacing the token: credential %q", got.Header.Get("Authorization"))
		}
		if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), "sk-new-SECRET-7") {
			t.Errorf("the new token came back to the browser")
		}
		// Test a provider (admin): status and latency, from the server, with
		// the provider's credential.
		models := f.fakeB.Count("/v1/models")
		b.do(chromedp.Click(chromedp.CSS(`#model-other_models-m2 li.provider[data-id="pb2"] button.test`)))
		b.waitJS(`document.querySelector('#model-other_models-m2 li.provider[data-id="pb2"] output.test-result').textContent.startsWith('HTTP ')`)
		if out := b.text(`#model-other_models-m2 li.provider[data-id="pb2"] output.test-result`); !strings.Contains(out, "HTTP 200 in") {
			t.Errorf("test provider: %q", out)
		}
		if f.fakeB.Count("/v1/models") <= models {
			t.Errorf("the provider's model list was not asked")
		}
		for _, tok := range []string{"sk-typed-SECRET-42", "sk-new-SECRET-7"} {
			if strings.Contains(f.r.logs.String(), tok) {
				t.Errorf("the token %s is in the router's log", tok)
			}
		}
	})
	b.t = t

	t.Run("invalid config refused at activation", func(t *testing.T) {
		b.t = t
		before := f.modelIDs(t)
		mgrImport(b, "broken", `{"x_models": {"bad": {"providers": [{"id": "p", "api_type": "no-such-type", "api_host": "http://127.0.0.1:1"}]}}, "active_models": {"x_models": ["bad"]}}`)
		if !b.visible("#invalid") {
			t.Errorf("the draft is not marked invalid")
		}
		mgrSubmit(b, "#activate-button", "#error")
		msg := b.text("#error")
		if !strings.Contains(msg, "Not activated") || !strings.Contains(msg, "no-such-type") {
			t.Errorf("refusal: %q", msg)
		}
		mgrShot(b, "08-activation-refused")
		if after := f.modelIDs(t); !reflect.DeepEqual(after, before) {
			t.Errorf("the refused config changed what the router serves: %v → %v", before, after)
		}
		// Delete it: the first press only arms the button (no dialog).
		broken := eval[string](b, `location.pathname`)
		b.do(chromedp.Click(chromedp.CSS("#delete-button")))
		if s := b.text("#delete-button"); !strings.Contains(s, "Press again") {
			t.Errorf("the delete button after one press: %q", s)
		}
		mgrSubmit(b, "#delete-button", "#notice")
		if n := eval[int](b, `Array.from(document.querySelectorAll('#configs a.open')).filter(a => a.textContent === 'broken').length`); n != 0 {
			t.Errorf("the deleted config is still listed")
		}
		resp, err := f.client(t, mgrAdmin, mgrAdminPW).Get(f.r.Base() + broken)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("the deleted config: %d", resp.StatusCode)
		}
	})
	b.t = t

	t.Run("versions, diff, restore", func(t *testing.T) {
		b.t = t
		b.open(cfgPath + "/versions")
		n := eval[int](b, `document.querySelectorAll('#versions tbody tr').length`)
		if n < 5 {
			t.Fatalf("%d versions, want at least 5 (import, model, provider, active, reorders)", n)
		}
		mgrShot(b, "09-versions")
		// The diff between version 1 and the newest shows m2 added.
		b.do(chromedp.Click(chromedp.CSS(`#version-1 input[name="a"]`)))
		mgrSubmit(b, "#diff-button", "#diff")
		added := eval[string](b, `Array.from(document.querySelectorAll('#diff .add')).map(e => e.textContent).join('\n')`)
		if !strings.Contains(added, `"m2"`) || !strings.Contains(added, "other_models") {
			t.Errorf("the diff's added lines: %s", added)
		}
		if strings.Contains(eval[string](b, `document.documentElement.outerHTML`), "sk-typed-SECRET-42") {
			t.Errorf("the token is in the diff")
		}
		mgrShot(b, "10-diff")
		// Restore version 1: a new version, with version 1's document.
		b.open(cfgPath + "/versions")
		mgrSubmit(b, "#restore-btn-1", "#notice")
		if m := eval[int](b, `document.querySelectorAll('#versions tbody tr').length`); m != n+1 {
			t.Errorf("%d versions after the restore, want %d", m, n+1)
		}
		b.open(cfgPath)
		if eval[int](b, `document.querySelectorAll('#model-other_models-m2').length`) != 0 {
			t.Errorf("m2 is still there after restoring version 1")
		}
	})
	b.t = t

	t.Run("concurrent edit", func(t *testing.T) {
		b.t = t
		b.open(cfgPath)
		// Someone else saves while the page is open.
		c := f.client(t, mgrAdmin, mgrAdminPW)
		rev := b.text("#revision")
		resp, err := c.PostForm(f.r.Base()+cfgPath+"/edit", url.Values{"revision": {rev}, "name": {"renamed by the other"}, "test_models[]": {"m1"}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		b.do(chromedp.SetValue(chromedp.CSS("#config-name"), "my new name"))
		mgrSubmit(b, "#save-settings", "#error")
		if msg := b.text("#error"); !strings.Contains(msg, "changed since you opened it") {
			t.Errorf("conflict: %q", msg)
		}
		if v := eval[string](b, `document.querySelector('#config-name').value`); v != "my new name" {
			t.Errorf("the edit was lost: %q", v)
		}
		if h := b.text("#config-title"); h != "renamed by the other" {
			t.Errorf("the other's save: %q", h)
		}
		mgrShot(b, "11-conflict")
	})
	b.t = t

	t.Run("users", func(t *testing.T) {
		b.t = t
		b.open("/manager/admin/users")
		b.do(chromedp.SetValue(chromedp.CSS("#new-username"), mgrUser), chromedp.SetValue(chromedp.CSS("#new-password"), mgrUserPW))
		mgrSubmit(b, "#create-user", "#notice")
		mgrShot(b, "12-users")
		// Change password: the current one is checked.
		b.open("/manager/change_password")
		b.do(chromedp.SetValue(chromedp.CSS("#old_password"), "not-my-password"), chromedp.SetValue(chromedp.CSS("#new_password"), "another-password-2"),
			chromedp.SetValue(chromedp.CSS("#new_password2"), "another-password-2"))
		mgrSubmit(b, "#password-button", "#error")
		if msg := b.text("#error"); !strings.Contains(msg, "Wrong") {
			t.Errorf("change password with a wrong current one: %q", msg)
		}
		mgrShot(b, "12b-password")
		mgrLogout(b)
		// A wrong password.
		mgrLogin(b, mgrUser, "wrong-password-x")
		if msg := b.text("#error"); !strings.Contains(msg, "Wrong user name or password") {
			t.Errorf("wrong password: %q", msg)
		}
		mgrShot(b, "13-login-wrong")
		mgrLogin(b, mgrUser, mgrUserPW)
		if who := b.text("#whoami"); !strings.Contains(who, mgrUser) {
			t.Fatalf("bob is not logged in: %q", who)
		}
		if b.visible("#nav-users") {
			t.Errorf("bob sees the users page link")
		}
		if eval[int](b, `document.querySelectorAll('#configs tbody tr').length`) != 0 {
			t.Errorf("bob sees the admin's configs")
		}
		// Guessing URLs: the admin page is refused, the admin's config is
		// not found (as one that does not exist).
		for path, want := range map[string]string{"/manager/admin/users": "administrator", cfgPath: "No such config", seedPath + "/versions": "No such config", cfgPath + "/diff?a=1&b=2": "No such config"} {
			b.open(path)
			if msg := b.text("#error"); !strings.Contains(msg, want) {
				t.Errorf("bob at %s: %q", path, msg)
			}
			if who := b.text("#whoami"); !strings.Contains(who, mgrUser) {
				t.Errorf("bob at %s: the page does not say who is logged in: %q", path, who)
			}
		}
		c := f.client(t, mgrUser, mgrUserPW)
		if resp, err := c.Get(f.r.Base() + cfgPath + "/export"); err != nil || resp.StatusCode != http.StatusNotFound {
			t.Errorf("bob exports the admin's config: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		for _, p := range []string{cfgPath + "/edit", cfgPath + "/versions/1/restore", cfgPath + "/delete"} {
			resp, err := c.PostForm(f.r.Base()+p, url.Values{"revision": {"1"}, "name": {"x"}})
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusNotFound {
				t.Errorf("bob POST %s: %d, want 404", p, resp.StatusCode)
			}
		}
		// Activating is for admins, whoever owns the config: what is active
		// is what every router serves. And bob cannot make the router read
		// its own files or environment for a host of his choosing.
		bobPost := func(p string, v url.Values) (int, string) {
			t.Helper()
			resp, err := c.PostForm(f.r.Base()+p, v)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			return resp.StatusCode, string(body)
		}
		before := f.modelIDs(t)
		bobDoc := fmt.Sprintf(`{"g": {"bobs-model": {"providers": [{"id": "p", "api_host": %q, "api_type": "vllm"%%s}]}}, "active_models": {"g": ["bobs-model"]}}`, f.fakeB.URL)
		resp, err := c.PostForm(f.r.Base()+"/manager/configs/import", url.Values{"name": {"bob's"}, "json": {fmt.Sprintf(bobDoc, "")}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		bobCfg := resp.Request.URL.Path
		if !strings.HasPrefix(bobCfg, "/manager/configs/") {
			t.Fatalf("bob's import ended at %s", bobCfg)
		}
		for _, p := range []string{cfgPath, bobCfg} {
			if status, body := bobPost(p+"/activate", url.Values{"revision": {"1"}}); status != http.StatusForbidden || !strings.Contains(body, "Only an administrator") {
				t.Errorf("bob activates %s: %d, want 403", p, status)
			}
		}
		if got := f.modelIDs(t); !slices.Equal(got, before) {
			t.Errorf("bob's refused activation changed the models: %v, was %v", got, before)
		}
		b.open(bobCfg)
		if b.visible("#activate-button") || !b.visible("#activate-admin-only") {
			t.Errorf("bob's config page offers to activate")
		}
		if status, body := bobPost("/manager/configs/import", url.Values{"name": {"steal"}, "json": {fmt.Sprintf(bobDoc, `, "api_token": "{file./var/lib/llm-router/manager.key}"`)}}); status != http.StatusForbidden ||
			!strings.Contains(body, "only an administrator may set an api_token") {
			t.Errorf("bob imports a {file.…} token: %d, want 403", status)
		}
		if status, _ := bobPost(bobCfg+"/providers/save", url.Values{"revision": {"1"}, "group": {"g"}, "model": {"bobs-model"}, "index": {"0"},
			"id": {"p"}, "api_host": {f.fakeB.URL}, "api_type": {"vllm"}, "api_token": {"{env.HOME}"}}); status != http.StatusForbidden {
			t.Errorf("bob saves an {env.…} token: %d, want 403", status)
		}
		// Testing a provider is for admins.
		resp, err = c.Post(f.r.Base()+cfgPath+"/providers/test", "application/json", strings.NewReader(`{"group":"test_models","model":"m1","index":0}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("bob tests a provider: %d, want 403", resp.StatusCode)
		}
		mgrShot(b, "14-user-refused")
		mgrLogout(b)
		// The admin blocks bob; bob's login is refused, his session ends.
		mgrLogin(b, mgrAdmin, mgrAdminPW)
		b.open("/manager/admin/users")
		id := eval[string](b, `Array.from(document.querySelectorAll('#users tbody tr')).find(tr => tr.querySelector('.name').textContent === 'bob').id.slice(5)`)
		mgrSubmit(b, "#block-"+id, "#notice")
		if s := b.text("#user-" + id + " .state"); s != "blocked" {
			t.Errorf("bob's state %q", s)
		}
		resp, err = c.Get(f.r.Base() + "/manager/configs")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.Request.URL.Path != "/manager/login" {
			t.Errorf("bob's session outlived the block: %s", resp.Request.URL.Path)
		}
		mgrLogout(b)
		mgrLogin(b, mgrUser, mgrUserPW)
		if msg := b.text("#error"); !strings.Contains(msg, "blocked") {
			t.Errorf("blocked login: %q", msg)
		}
		mgrShot(b, "15-login-blocked")
	})
	b.t = t

	t.Run("phone, dark", func(t *testing.T) {
		b.t = t
		mgrLogin(b, mgrAdmin, mgrAdminPW)
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		defer func() {
			b.do(chromedp.ResetViewport())
			_, _ = chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
		}()
		for _, p := range []string{seedPath, "/manager/configs"} {
			b.open(p)
			if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(21, 23, 26)" {
				t.Errorf("%s: dark background %q", p, bg)
			}
			if over := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); over {
				t.Errorf("%s scrolls sideways on a phone", p)
			}
		}
		b.open(seedPath)
		mgrShot(b, "16-config-phone-dark")
	})
	b.t = t

	t.Run("cross-origin refused", func(t *testing.T) {
		c := f.client(t, mgrAdmin, mgrAdminPW)
		req, _ := http.NewRequest("POST", f.r.Base()+cfgPath+"/delete", nil)
		req.Header.Set("Sec-Fetch-Site", "cross-site")
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("a cross-site POST: %d", resp.StatusCode)
		}
	})
}

// standardize turns HuJSON into JSON for comparison.
func standardize(t *testing.T, b []byte) []byte {
	t.Helper()
	v, err := hujson.Standardize(b)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// TestManagerEmbeddedDefault runs the binary on its embedded Caddyfile:
// LLM_ROUTER_WEB_CONFIG_MANAGER=1 serves the app at /manager/ with its
// database at LLM_ROUTER_WEB_DATABASE_URL (default under $XDG_DATA_HOME),
// and an activation makes the router, which ran on the embedded example,
// serve the config; without the variable the path is not served.
func TestManagerEmbeddedDefault(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	t.Cleanup(fake.Close)
	for _, tc := range []struct {
		name string
		on   bool
		db   string // relative to the temp dir; "" for the default
	}{{"off", false, ""}, {"default database", true, ""}, {"database from the variable", true, "elsewhere/my.db"}} {
		t.Run(tc.name, func(t *testing.T) {
			port := freePort(t)
			dir := t.TempDir()
			db := ""
			if tc.db != "" {
				db = filepath.Join(dir, tc.db)
			}
			r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
			r.cmd = execCommand(binary, "run")
			r.cmd.Env = append(os.Environ(), fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), "LLM_ROUTER_SERVER_HOST=127.0.0.1",
				fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", freePort(t)), "LLM_ROUTER_MODELS_CONFIG=",
				fmt.Sprintf("LLM_ROUTER_WEB_CONFIG_MANAGER=%v", tc.on), "LLM_ROUTER_WEB_DATABASE_URL="+db,
				"XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "HOME="+dir)
			r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
			if err := r.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
			t.Cleanup(r.stop)
			r.waitReady()
			jar, _ := cookiejar.New(nil)
			c := &http.Client{Jar: jar, Timeout: 30 * time.Second}
			resp, err := c.Get(r.Base() + "/manager/")
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
			resp.Body.Close()
			served := resp.StatusCode == 200 && strings.Contains(string(body), `id="setup-form"`)
			if served != tc.on {
				t.Fatalf("GET /manager/ = %d at %s (app served: %v, want %v)", resp.StatusCode, resp.Request.URL.Path, served, tc.on)
			}
			if !tc.on {
				if _, err := os.Stat(filepath.Join(dir, "llm-router", "manager.db")); err == nil {
					t.Errorf("the app is off but made a database")
				}
				return
			}
			if db == "" {
				db = filepath.Join(dir, "llm-router", "manager.db")
			}
			if _, err := os.Stat(db); err != nil {
				t.Errorf("the database is not at %s: %v", db, err)
			}
			if st, err := os.Stat(filepath.Join(filepath.Dir(db), "manager.key")); err != nil || st.Mode().Perm() != 0o600 {
				t.Errorf("the key file: %v %v", st, err)
			}
			post := func(p string, v url.Values) *http.Response {
				t.Helper()
				resp, err := c.PostForm(r.Base()+p, v)
				if err != nil {
					t.Fatal(err)
				}
				io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
				resp.Body.Close()
				return resp
			}
			post("/manager/setup", url.Values{"username": {"root"}, "password": {"root-password-1"}, "password2": {"root-password-1"}})
			doc := fmt.Sprintf(`{"g": {"served-by-manager": {"providers": [{"id": "p", "api_host": %q, "api_type": "vllm", "api_token": "sk-default-SECRET"}]}}, "active_models": {"g": ["served-by-manager"]}}`, fake.URL)
			resp = post("/manager/configs/import", url.Values{"name": {"first"}, "json": {doc}})
			cfg := resp.Request.URL.Path
			if !strings.HasPrefix(cfg, "/manager/configs/") {
				t.Fatalf("import ended at %s\n%s", cfg, r.logs)
			}
			resp = post(cfg+"/activate", url.Values{"revision": {"1"}})
			if resp.StatusCode != 200 {
				t.Fatalf("activate: %d\n%s", resp.StatusCode, r.logs)
			}
			mresp, err := http.Get(r.Base() + "/v1/models")
			if err != nil {
				t.Fatal(err)
			}
			mb, _ := io.ReadAll(io.LimitReader(mresp.Body, 1<<20))
			mresp.Body.Close()
			if !strings.Contains(string(mb), "served-by-manager") {
				t.Errorf("/v1/models after activation: %s", mb)
			}
			written, err := os.ReadFile(filepath.Join(filepath.Dir(db), "models-config.json"))
			if err != nil || !strings.Contains(string(written), "sk-default-SECRET") {
				t.Errorf("the models-config the router reads: %v %s", err, written)
			}
			if strings.Contains(r.logs.String(), "sk-default-SECRET") {
				t.Errorf("the token is in the log")
			}
		})
	}
}
