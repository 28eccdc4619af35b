package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

// The Anonymizer driven in headless Chromium against the built binary, an
// llmtest fake provider and a plugintest fake PII service.

// chromiumPath is Debian's chromium; .ci/run installs it.
const chromiumPath = "/usr/bin/chromium"

// screenshotDir is where the tests leave a picture of every page for a
// person to look at: $LLM_ROUTER_SCREENSHOT_DIR, or
// e2e/testdata/screenshots/anonymizer (ignored by git).
func screenshotDir(t *testing.T) string {
	dir := os.Getenv("LLM_ROUTER_SCREENSHOT_DIR")
	if dir == "" {
		dir = filepath.Join("testdata", "screenshots", "anonymizer")
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browser is one headless Chromium tab. It records JavaScript dialogs
// (alert() means injected code ran), uncaught exceptions and CSP
// violations, and fails the test on any of them.
type browser struct {
	t       *testing.T
	ctx     context.Context
	base    string
	dialogs atomic.Int32
	mu      sync.Mutex
	console []string
}

func newBrowser(t *testing.T, base string) *browser {
	t.Helper()
	if _, err := os.Stat(chromiumPath); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("the browser tests need %s (apt-get install chromium): %v", chromiumPath, err)
		}
		t.Skipf("no %s: skipping the browser tests", chromiumPath)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromiumPath), chromedp.NoSandbox, chromedp.Headless, chromedp.WindowSize(1280, 900),
		chromedp.Flag("lang", "pl-PL"))
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	b := &browser{t: t, ctx: bctx, base: base}
	if err := chromedp.Listen(bctx, func(ev any) {
		if _, ok := ev.(*page.EventJavascriptDialogOpening); ok {
			b.dialogs.Add(1)
		}
	}); err != nil {
		t.Fatal(err)
	}
	msgs := chromedp.Console(bctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.IsException() || strings.Contains(m.Text, "Content Security Policy") || strings.Contains(m.Text, "Content-Security-Policy") {
				b.mu.Lock()
				b.console = append(b.console, m.String())
				b.mu.Unlock()
			}
		}
	}()
	t.Cleanup(func() {
		cancelTab()
		cancelAlloc()
		cancel()
		<-done
		if n := b.dialogs.Load(); n != 0 {
			t.Errorf("%d JavaScript dialogs opened: injected code ran", n)
		}
		for _, m := range b.console {
			t.Errorf("browser console: %s", m)
		}
	})
	return b
}

func (b *browser) do(steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		b.t.Fatalf("browser: %v (page state: %s)", err, b.state())
	}
}

// state describes the page for a failure message.
func (b *browser) state() string {
	s, err := chromedp.Run(b.ctx, chromedp.Evaluate[string](`JSON.stringify({url: location.href, focus: document.activeElement && document.activeElement.id, data: Object.assign({}, document.body && document.body.dataset), errors: Array.from(document.querySelectorAll('.error:not([hidden])')).map(e => e.textContent), messages: Array.from(document.querySelectorAll('#messages .msg')).slice(-3).map(e => e.className + ': ' + e.textContent)})`))
	if err != nil {
		return err.Error()
	}
	return s
}

// eval runs a JavaScript expression and returns its value.
func eval[T any](b *browser, js string) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[T](js))
	if err != nil {
		b.t.Fatalf("evaluating %s: %v", js, err)
	}
	return v
}

// waitJS waits (deadline-bounded) until the expression is truthy.
func (b *browser) waitJS(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[chromedp.Void](js, chromedp.WithPollingTimeout(30*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v (page state: %s)", js, err, b.state())
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	s, err := chromedp.Run(b.ctx, chromedp.TextContent(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) open(path string) {
	b.t.Helper()
	b.do(chromedp.Navigate(b.base+path), chromedp.WaitReady(chromedp.CSS("body[data-ready]")))
}

// shot saves a full-page PNG.
func (b *browser) shot(name string) {
	b.t.Helper()
	png, err := chromedp.Run(b.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("screenshot: %v", err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir(b.t), name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// visible reports whether the element exists and is shown.
func (b *browser) visible(sel string) bool {
	b.t.Helper()
	return eval[bool](b, fmt.Sprintf(`(() => { const e = document.querySelector(%q); return !!e && !e.hidden && e.getClientRects().length > 0; })()`, sel))
}

// Texts with the personal data the tests look for.
const (
	anonPL = "Pan Jan Kowalski, PESEL 44051401359, konto PL61109010140000071219812874, e-mail jan.kowalski@example.com, tel. +48 600 123 456."
	anonEN = "Write to John Smith at john.smith@example.org or call +44 20 7946 0958; IBAN GB82WEST12345698765432, PESEL 02070803628."
)

type anonFixture struct {
	r    *router
	fake *llmtest.OpenAI
	pii  *plugintest.Server
}

func startAnonymizer(t *testing.T, directive string) *anonFixture {
	t.Helper()
	fake := llmtest.NewOpenAI("vllm")
	t.Cleanup(fake.Close)
	pii := plugintest.NewServer(t)
	pii.SetSecrets("Kowalski", "Smith")
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}}),
		site:      "\tllm_router_anonymizer {\n\t\tpii_host " + pii.URL + "\n\t}\n",
		directive: directive,
	})
	return &anonFixture{r: r, fake: fake, pii: pii}
}

// healthy checks the router still answers after bad input.
func (f *anonFixture) healthy(t *testing.T) {
	t.Helper()
	resp, err := http.Get(f.r.Base() + "/anonymize/models")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("the router is not healthy: %v %v", resp, err)
	}
	resp.Body.Close()
}

// noTypedTextInLogs checks the router's log holds none of the personal
// data the tests typed.
func (f *anonFixture) noTypedTextInLogs(t *testing.T) {
	t.Helper()
	logs := f.r.logs.String()
	for _, v := range []string{"44051401359", "PL61109010140000071219812874", "kowalski@example.com", "anna@example.com", "Kowalski"} {
		if strings.Contains(logs, v) {
			t.Errorf("the router's log holds %q the user typed", v)
		}
	}
}

// lastChat returns the body of the last chat request the provider got.
func (f *anonFixture) lastChat(t *testing.T) string {
	t.Helper()
	return string(lastPost(t, f.fake.Requests()).Body)
}

func TestAnonymizerMaskingInBrowser(t *testing.T) {
	f := startAnonymizer(t, "")
	b := newBrowser(t, f.r.Base())
	defer f.noTypedTextInLogs(t)
	b.open("/anonymize/")
	b.shot("01-mask-empty")

	for _, tc := range []struct {
		name, algo, text string
		masked           []string // must be gone from the result and listed in the table
		kept             string
	}{
		{"fast-pl", "fast", anonPL, []string{"44051401359", "PL61109010140000071219812874", "jan.kowalski@example.com", "+48 600 123 456"}, "Kowalski,"},
		{"fast-en", "fast", anonEN, []string{"02070803628", "GB82WEST12345698765432", "john.smith@example.org", "+44 20 7946 0958"}, "Smith at"},
		{"pii-pl", "pii_masking", anonPL, []string{"Kowalski", "jan.kowalski@example.com"}, "44051401359"},
		{"pii-en", "pii_masking", anonEN, []string{"Smith", "john.smith@example.org"}, "02070803628"},
		{"fast+pii-pl", "fast+pii", anonPL, []string{"Kowalski", "44051401359", "PL61109010140000071219812874", "jan.kowalski@example.com", "+48 600 123 456"}, ""},
		{"fast+pii-en", "fast+pii", anonEN, []string{"Smith", "02070803628", "GB82WEST12345698765432", "john.smith@example.org", "+44 20 7946 0958"}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b.t = t
			b.do(
				chromedp.SetValue(chromedp.CSS("#text"), tc.text),
				chromedp.Click(chromedp.CSS(fmt.Sprintf(`input[name=algorithm][value=%q]`, tc.algo))),
				chromedp.Evaluate[chromedp.Void](`document.querySelector('#result').replaceChildren()`),
				chromedp.Click(chromedp.CSS("#mask-button")),
				chromedp.WaitVisible(chromedp.CSS("#masked")),
			)
			masked := b.text("#masked")
			table := b.text("#mappings")
			marks := eval[int](b, `document.querySelectorAll('#masked mark.ph').length`)
			if marks < len(tc.masked) {
				t.Errorf("%d highlighted placeholders, want at least %d: %s", marks, len(tc.masked), masked)
			}
			for _, v := range tc.masked {
				if strings.Contains(masked, v) {
					t.Errorf("%q is still in the masked text %q", v, masked)
				}
				if !strings.Contains(table, v) {
					t.Errorf("%q is not in the table %q", v, table)
				}
			}
			if tc.kept != "" && !strings.Contains(masked, tc.kept) {
				t.Errorf("%q should stay: %q", tc.kept, masked)
			}
			b.shot("02-mask-" + tc.name)
		})
	}
	b.t = t

	t.Run("pii service down", func(t *testing.T) {
		b.t = t
		f.pii.SetFault(plugintest.Down)
		defer f.pii.SetFault(plugintest.OK)
		b.do(
			// A text the PII masker has not cached.
			chromedp.SetValue(chromedp.CSS("#text"), anonPL+" Nowy akapit."),
			chromedp.Click(chromedp.CSS(`input[name=algorithm][value="pii_masking"]`)),
			chromedp.Click(chromedp.CSS("#mask-button")),
			chromedp.WaitVisible(chromedp.CSS("#mask-error")),
		)
		if msg := b.text("#mask-error"); !strings.Contains(msg, "niedostępna") {
			t.Errorf("message %q", msg)
		}
		if n := eval[int](b, `document.querySelectorAll('#masked, #mappings').length`); n != 0 {
			t.Errorf("a result is shown although the service is down")
		}
		if res := b.text("#result"); strings.Contains(res, "Kowalski") || strings.Contains(res, "44051401359") {
			t.Errorf("unmasked text on the page: %q", res)
		}
		b.shot("03-mask-pii-down")
	})

	t.Run("bad input", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Click(chromedp.CSS(`input[name=algorithm][value="fast"]`)))
		// An empty text.
		b.do(chromedp.SetValue(chromedp.CSS("#text"), "   "), chromedp.Click(chromedp.CSS("#mask-button")),
			chromedp.WaitVisible(chromedp.CSS("#client-error")))
		if msg := b.text("#client-error"); !strings.Contains(msg, "wpisz") {
			t.Errorf("empty text: %q", msg)
		}
		// 10 MB of text.
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#text').value = 'PESEL 44051401359 '.repeat(600000)`),
			chromedp.Click(chromedp.CSS("#mask-button")))
		b.waitJS(`document.querySelector('#client-error').textContent.includes('limit')`)
		// Shorten the text before the picture: Chromium needs minutes to
		// paint 10 MB in a text area; the message stays.
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#text').value = document.querySelector('#text').value.slice(0, 300)`))
		b.shot("04-mask-too-long")
		// The server refuses it too, when a script sends it.
		resp, err := http.PostForm(f.r.Base()+"/anonymize/", url.Values{"text": {strings.Repeat("x", 10<<20)}, "algorithm": {"fast"}})
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		resp.Body.Close()
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "limit to 1.0 MiB") {
			t.Errorf("10 MB from a script: %d %s", resp.StatusCode, body)
		}
		// A binary file dropped on the text field, and one chosen.
		b.do(chromedp.SetValue(chromedp.CSS("#text"), "bez zmian"))
		b.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const dt = new DataTransfer();
			dt.items.add(new File([new Uint8Array([0x89, 0x50, 0x4e, 0x47, 0, 0, 0, 13, 0xff, 0xfe])], 'zdjecie.txt', {type: 'text/plain'}));
			document.querySelector('#text').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`))
		b.waitJS(`document.querySelector('#client-error').textContent.includes('tekstowy')`)
		if v := eval[string](b, `document.querySelector('#text').value`); v != "bez zmian" {
			t.Errorf("a binary file replaced the text: %q", v)
		}
		bin := filepath.Join(t.TempDir(), "photo.png")
		if err := os.WriteFile(bin, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o600); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#client-error').hidden = true`),
			chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{bin}))
		b.waitJS(`!document.querySelector('#client-error').hidden && document.querySelector('#client-error').textContent.includes('tekstowy')`)
		b.shot("05-mask-binary-file")
		// A text file dropped is loaded and masks as typed text does.
		b.do(chromedp.Evaluate[chromedp.Void](`(() => {
			const dt = new DataTransfer();
			dt.items.add(new File(['Mail: ola@example.com'], 'notatka.md', {type: 'text/markdown'}));
			document.querySelector('#text').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true}));
		})()`))
		b.waitJS(`document.querySelector('#text').value === 'Mail: ola@example.com'`)
		b.do(chromedp.Click(chromedp.CSS("#mask-button")))
		b.waitJS(`document.querySelector('#masked') && document.querySelector('#masked').textContent.includes('{EMAIL_1}')`)
		f.healthy(t)
		b.open("/anonymize/no-such-page")
		if msg := b.text("#page-error"); !strings.Contains(msg, "nie istnieje") {
			t.Errorf("404 page: %q", msg)
		}
		b.shot("05-not-found")
	})
	b.t = t

	t.Run("markdown", func(t *testing.T) {
		b.t = t
		for _, tc := range []struct{ md, html string }{
			{"# Tytuł\n\nTekst **gruby** i *pochyły*, `kod`.", "<h3>Tytuł</h3><p>Tekst <strong>gruby</strong> i <em>pochyły</em>, <code>kod</code>.</p>"},
			{"- a\n- b\n\n1. x\n2. y", "<ul><li>a</li><li>b</li></ul><ol><li>x</li><li>y</li></ol>"},
			{"```js\n<b>x</b>\n```", `<pre><code data-lang="js">&lt;b&gt;x&lt;/b&gt;</code></pre>`},
			{"> cytat\n> dalej", "<blockquote><p>cytat<br>dalej</p></blockquote>"},
			{"<img src=x onerror=alert(1)>", "<p>&lt;img src=x onerror=alert(1)&gt;</p>"},
			{"[a](https://example.com/x_(y)) [m](mailto:a@b.pl)", `<p><a href="https://example.com/x_(y)" rel="noopener noreferrer nofollow" target="_blank">a</a> <a href="mailto:a@b.pl" rel="noopener noreferrer nofollow" target="_blank">m</a></p>`},
			{"[a](javascript:alert(1)) [b](JAVASCRIPT:alert(1)) [c](java\tscript:alert(1)) [d](data:text/html,x) [e](vbscript:x) [f](/relative) [g](&#106;avascript:x)", "<p>a b [c](java\tscript:alert(1)) d e f g</p>"}, // a tab is no link at all
			{"see https://example.com/a.", `<p>see <a href="https://example.com/a" rel="noopener noreferrer nofollow" target="_blank">https://example.com/a</a>.</p>`},
			{"**[x](javascript:alert(1))**", "<p><strong>x</strong></p>"},
		} {
			got := eval[string](b, fmt.Sprintf(`(() => { const d = document.createElement('div'); d.appendChild(window.renderMarkdown(%s)); return d.innerHTML; })()`, jsString(tc.md)))
			if got != tc.html {
				t.Errorf("%q\n got %s\nwant %s", tc.md, got, tc.html)
			}
		}
	})
	b.t = t

	t.Run("keyboard only", func(t *testing.T) {
		b.t = t
		b.open("/anonymize/")
		// Tab from the top of the page to the text field, type, Tab on to
		// the button and press Enter.
		focusByTab(b, "text", 15)
		b.do(chromedp.KeyEvent("Kontakt: anna@example.com"))
		focusByTab(b, "mask-button", 10)
		b.do(chromedp.KeyEvent(kb.Enter))
		b.waitJS(`document.querySelector('#masked') && document.querySelector('#masked').textContent.includes('{EMAIL_1}')`)
		if eval[string](b, `document.activeElement.id`) != "masked" {
			t.Errorf("focus did not move to the result")
		}
	})
	b.t = t

	t.Run("language, privacy, terms, dark, phone", func(t *testing.T) {
		b.t = t
		b.open("/anonymize/")
		b.do(chromedp.Click(chromedp.CSS("#lang-en")), chromedp.WaitReady(chromedp.CSS(`html[lang="en"] body[data-ready]`)))
		if s := b.text("#mask-button"); s != "Mask" {
			t.Errorf("English button %q", s)
		}
		b.shot("06-mask-en")
		b.open("/anonymize/privacy")
		if h := b.text("h1"); h != "Privacy policy" {
			t.Errorf("privacy title %q", h)
		}
		b.shot("07-privacy-en")
		b.open("/anonymize/terms")
		b.shot("08-terms-en")
		b.do(chromedp.Click(chromedp.CSS("#lang-pl")), chromedp.WaitReady(chromedp.CSS(`html[lang="pl"] body[data-ready]`)))
		if h := b.text("h1"); h != "Regulamin" {
			t.Errorf("the switch did not stay on the terms page: %q", h)
		}
		b.shot("08-terms-pl")
		b.open("/anonymize/privacy")
		b.shot("07-privacy-pl")
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}}}); err != nil {
			t.Fatal(err)
		}
		b.open("/anonymize/")
		if bg := eval[string](b, `getComputedStyle(document.body).backgroundColor`); bg != "rgb(21, 23, 26)" {
			t.Errorf("dark background %q", bg)
		}
		b.shot("09-mask-dark")
		b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile))
		b.open("/anonymize/chat")
		if over := eval[bool](b, `document.documentElement.scrollWidth > window.innerWidth`); over {
			t.Errorf("the chat page scrolls sideways on a phone")
		}
		b.shot("10-chat-phone-dark")
		b.do(chromedp.ResetViewport())
		if _, err := chromedp.Call(b.ctx, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{}); err != nil {
			t.Fatal(err)
		}
	})
}

// jsString quotes s as a JavaScript string literal.
func jsString(s string) string {
	b, err := json.Marshal(s)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// focusByTab presses Tab until the element with id has the focus.
func focusByTab(b *browser, id string, max int) {
	b.t.Helper()
	for range max {
		if eval[string](b, `document.activeElement ? document.activeElement.id : ''`) == id {
			return
		}
		b.do(chromedp.KeyEvent(kb.Tab))
	}
	b.t.Fatalf("Tab never reached #%s", id)
}

// send types a chat message and waits for the answer to finish.
func send(b *browser, text string) {
	b.t.Helper()
	b.do(chromedp.SetValue(chromedp.CSS("#message"), text), chromedp.Click(chromedp.CSS("#send")))
	b.waitJS(`document.body.dataset.chat === 'idle'`)
}

func TestAnonymizerChatInBrowser(t *testing.T) {
	f := startAnonymizer(t, "")
	b := newBrowser(t, f.r.Base())
	defer f.noTypedTextInLogs(t)
	f.fake.SetReply("Dzień dobry, oto **odpowiedź**.", 6)
	b.open("/anonymize/chat")
	b.waitJS(`document.body.dataset.models === 'ready'`)
	if m := eval[string](b, `document.querySelector('#model').value`); m != "m1" {
		t.Fatalf("model picker: %q", m)
	}

	t.Run("anonymized", func(t *testing.T) {
		b.t = t
		if b.visible("#anon-warning") {
			t.Fatal("the warning is shown with anonymization on")
		}
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('details.system').open = true`),
			chromedp.SetValue(chromedp.CSS("#system"), "Klient: jan.kowalski@example.com"))
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#system').dispatchEvent(new Event('change'))`))
		send(b, "Mój PESEL to 44051401359, IBAN PL61109010140000071219812874, tel. +48 600 123 456.")
		if got := b.text("#messages .msg.assistant:last-child .text"); got != "Dzień dobry, oto odpowiedź." {
			t.Fatalf("answer %q", got)
		}
		if n := eval[int](b, `document.querySelectorAll('#messages .msg.assistant strong').length`); n != 1 {
			t.Errorf("Markdown not rendered: %d strong", n)
		}
		sent := f.lastChat(t)
		for _, v := range []string{"44051401359", "PL61109010140000071219812874", "600 123 456", "jan.kowalski@example.com"} {
			if strings.Contains(sent, v) {
				t.Errorf("the provider received %q: %s", v, sent)
			}
		}
		if !strings.Contains(sent, "{PESEL") || !strings.Contains(sent, "{EMAIL") {
			t.Errorf("no placeholders in what the provider received: %s", sent)
		}
		b.shot("11-chat-anonymized")
	})
	b.t = t

	t.Run("not anonymized", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Click(chromedp.CSS("#anonymize")))
		if !b.visible("#anon-warning") {
			t.Fatal("no warning with anonymization off")
		}
		b.shot("12-chat-anonymization-off")
		send(b, "PESEL 44051401359")
		if sent := f.lastChat(t); !strings.Contains(sent, "44051401359") {
			t.Errorf("with the switch off the text should go as typed: %s", sent)
		}
		b.do(chromedp.Click(chromedp.CSS("#anonymize")))
		if b.visible("#anon-warning") {
			t.Fatal("the warning stays after switching back on")
		}
	})
	b.t = t

	t.Run("stop mid-stream", func(t *testing.T) {
		b.t = t
		f.fake.SetReply("Pierwsze słowo, a potem długo nic.", 8)
		release := f.fake.Hold()
		defer release()
		before := f.fake.Canceled()
		b.do(chromedp.SetValue(chromedp.CSS("#message"), "Opowiedz długą historię"), chromedp.Click(chromedp.CSS("#send")))
		b.waitJS(`(() => { const m = document.querySelector('#messages .msg.assistant.streaming .text'); return m && m.textContent.length > 0; })()`)
		b.shot("13-chat-streaming")
		b.do(chromedp.Click(chromedp.CSS("#stop")))
		b.waitJS(`document.body.dataset.chat === 'idle'`)
		eventually(t, 30*time.Second, "the provider request to be cancelled", func() bool { return f.fake.Canceled() > before })
		if got := b.text("#messages .msg.assistant:last-child .text"); !strings.Contains(got, "(zatrzymano)") {
			t.Errorf("stopped answer %q", got)
		}
		release()
		f.fake.SetReply("Dzień dobry.", 2)
	})
	b.t = t

	t.Run("hostile answer", func(t *testing.T) {
		b.t = t
		f.fake.SetReply("Uwaga <img src=x onerror=alert(1)> <script>alert(2)</script> [kliknij](javascript:alert(3)) "+
			"[też](JaVaScRiPt:alert(4)) [dobry](https://example.com/a) i `kod <b>`", 5)
		send(b, "Pokaż coś")
		out := b.text("#messages .msg.assistant:last-child .text")
		// The newest answer is in view, however quickly it ended.
		if !eval[bool](b, `(() => { const m = document.querySelector('#messages'); return m.scrollTop + m.clientHeight >= m.scrollHeight - 2; })()`) {
			t.Error("the message list is not scrolled to the newest answer")
		}
		if !strings.Contains(out, "<img src=x onerror=alert(1)>") || !strings.Contains(out, "<script>alert(2)</script>") {
			t.Errorf("the HTML should show as text: %q", out)
		}
		if !strings.Contains(out, " kliknij też dobry") {
			t.Errorf("a refused link should leave its label alone: %q", out)
		}
		if n := eval[int](b, `document.querySelectorAll('#messages img, #messages script, #messages b, #messages [onerror]').length`); n != 0 {
			t.Errorf("%d elements from the model's HTML reached the DOM", n)
		}
		hrefs := eval[[]string](b, `Array.from(document.querySelectorAll('#messages a')).map(a => a.href)`)
		if len(hrefs) != 1 || hrefs[0] != "https://example.com/a" {
			t.Errorf("links %q: only the https one may be live", hrefs)
		}
		// Clicking where the javascript: link would be runs nothing.
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelectorAll('#messages .msg.assistant:last-child .text *').forEach(e => e.click && e.tagName !== 'A' && e.click())`))
		b.shot("14-chat-hostile-answer")
		f.fake.SetReply("Dzień dobry.", 2)
	})
	b.t = t

	t.Run("unknown model", func(t *testing.T) {
		b.t = t
		b.do(chromedp.Evaluate[chromedp.Void](`(() => { const s = document.querySelector('#model'); s.add(new Option('nie-ma-takiego', 'nie-ma-takiego')); s.value = 'nie-ma-takiego'; })()`))
		send(b, "Halo?")
		b.waitJS(`!document.querySelector('#chat-error').hidden`)
		if msg := b.text("#chat-error"); !strings.Contains(msg, "nie-ma-takiego") {
			t.Errorf("error %q does not name the model", msg)
		}
		b.shot("15-chat-unknown-model")
		f.healthy(t)
		b.do(chromedp.SetValue(chromedp.CSS("#model"), "m1"))
	})
	b.t = t

	t.Run("history survives a reload", func(t *testing.T) {
		b.t = t
		before := eval[int](b, `document.querySelectorAll('#messages .msg').length`)
		b.do(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body[data-ready]")))
		b.waitJS(`document.body.dataset.models === 'ready'`)
		if after := eval[int](b, `document.querySelectorAll('#messages .msg').length`); after != before || before < 6 {
			t.Errorf("%d messages before the reload, %d after", before, after)
		}
		if title := b.text("#chat-list li.current .open"); !strings.HasPrefix(title, "Mój PESEL") {
			t.Errorf("chat title %q", title)
		}
		// A new chat, then back to the first one from the list.
		b.do(chromedp.Click(chromedp.CSS("#new-chat")))
		if n := eval[int](b, `document.querySelectorAll('#messages .msg').length`); n != 0 {
			t.Errorf("a new chat shows %d messages", n)
		}
		send(b, "Druga rozmowa")
		if n := eval[int](b, `document.querySelectorAll('#chat-list li').length`); n != 2 {
			t.Errorf("%d chats in the list", n)
		}
		b.do(chromedp.Reload(), chromedp.WaitReady(chromedp.CSS("body[data-ready]")))
		if n := eval[int](b, `document.querySelectorAll('#chat-list li').length`); n != 2 {
			t.Errorf("%d chats after a reload", n)
		}
		b.shot("16-chat-history")
	})
	b.t = t

	t.Run("quick prompts, rename, delete, export, import", func(t *testing.T) {
		b.t = t
		b.do(chromedp.SetValue(chromedp.CSS("#message"), "tekst"), chromedp.Click(chromedp.CSS(".quick button")))
		if v := eval[string](b, `document.querySelector('#message').value`); !strings.HasPrefix(v, "Streść poniższy tekst") || !strings.HasSuffix(v, "tekst") {
			t.Errorf("quick prompt gave %q", v)
		}
		b.do(chromedp.Evaluate[chromedp.Void](`document.querySelector('#message').value = ''`))
		// Rename the current chat with the keyboard: Enter saves.
		b.do(chromedp.Click(chromedp.CSS("#chat-list li.current .rename")), chromedp.WaitVisible(chromedp.CSS("#chat-list li input")),
			chromedp.SetValue(chromedp.CSS("#chat-list li input"), "Sprawa Kowalskiego"),
			chromedp.Focus(chromedp.CSS("#chat-list li input")), chromedp.KeyEvent(kb.Enter))
		if title := b.text("#chat-list li.current .open"); title != "Sprawa Kowalskiego" {
			t.Errorf("renamed title %q", title)
		}
		// Export: catch the download's blob and read it back.
		b.do(chromedp.Evaluate[chromedp.Void](`(() => {
			window.__exported = null;
			const create = URL.createObjectURL;
			URL.createObjectURL = function (blob) {
				blob.text().then(t => { window.__exported = t; });
				return create.call(URL, blob);
			};
		})()`), chromedp.Click(chromedp.CSS("#export")))
		b.waitJS(`window.__exported !== null`)
		exported := eval[string](b, `window.__exported`)
		if !strings.Contains(exported, `"Sprawa Kowalskiego"`) || !strings.Contains(exported, `"Druga rozmowa"`) {
			t.Fatalf("export: %.300s", exported)
		}
		// Delete takes two presses; then the import brings the chats back.
		b.do(chromedp.Click(chromedp.CSS("#chat-list li.current .delete")))
		if n := eval[int](b, `document.querySelectorAll('#chat-list li').length`); n != 2 {
			t.Fatalf("one press deleted a chat: %d left", n)
		}
		b.do(chromedp.Click(chromedp.CSS("#chat-list li.current .delete")))
		if n := eval[int](b, `document.querySelectorAll('#chat-list li').length`); n != 1 {
			t.Fatalf("%d chats after deleting one of two", n)
		}
		file := filepath.Join(t.TempDir(), "chats.json")
		if err := os.WriteFile(file, []byte(exported), 0o600); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.SetUploadFiles(chromedp.CSS("#import"), []string{file}))
		b.waitJS(`document.querySelectorAll('#chat-list li').length === 3`)
		if titles := b.text("#chat-list"); !strings.Contains(titles, "Sprawa Kowalskiego") {
			t.Errorf("imported titles %q", titles)
		}
		bad := filepath.Join(t.TempDir(), "bad.json")
		if err := os.WriteFile(bad, []byte(`{"chats": [{"messages": [{"role": "hacker", "content": 1}]}]}`), 0o600); err != nil {
			t.Fatal(err)
		}
		b.do(chromedp.SetUploadFiles(chromedp.CSS("#import"), []string{bad}))
		b.waitJS(`!document.querySelector('#chat-error').hidden`)
		if n := eval[int](b, `document.querySelectorAll('#chat-list li').length`); n != 3 {
			t.Errorf("a bad import changed the list: %d chats", n)
		}
		b.shot("16-chat-list")
	})
	b.t = t

	t.Run("keyboard only", func(t *testing.T) {
		b.t = t
		b.open("/anonymize/chat")
		b.waitJS(`document.body.dataset.models === 'ready'`)
		focusByTab(b, "message", 40)
		b.do(chromedp.KeyEvent("Napisz wiersz o anna@example.com"), chromedp.KeyEvent(kb.Enter))
		b.waitJS(`document.body.dataset.chat === 'idle' && !!document.querySelector('#messages .msg.assistant:last-child')`)
		if sent := f.lastChat(t); strings.Contains(sent, "anna@example.com") || !strings.Contains(sent, "Napisz wiersz") {
			t.Errorf("sent %s", sent)
		}
		// Escape stops a running answer.
		release := f.fake.Hold()
		defer release()
		before := f.fake.Canceled()
		b.do(chromedp.KeyEvent("Jeszcze raz"), chromedp.KeyEvent(kb.Enter))
		b.waitJS(`!!document.querySelector('#messages .msg.assistant.streaming')`)
		b.do(chromedp.KeyEvent(kb.Escape))
		b.waitJS(`document.body.dataset.chat === 'idle'`)
		eventually(t, 30*time.Second, "Escape to cancel the provider request", func() bool { return f.fake.Canceled() > before })
	})
}

func TestAnonymizerLoginInBrowser(t *testing.T) {
	keys := filepath.Join(t.TempDir(), "keys.json")
	alice := createKey(t, keys, "--name", "alice")
	f := startAnonymizer(t, "\t\tauth on {\n\t\t\tkeys_file "+keys+"\n\t\t}")
	b := newBrowser(t, f.r.Base())
	b.do(chromedp.Navigate(f.r.Base()+"/anonymize/chat"), chromedp.WaitVisible(chromedp.CSS("#key")))
	if loc, _ := chromedp.Run(b.ctx, chromedp.Location()); !strings.Contains(loc, "/anonymize/login?next=") {
		t.Fatalf("no redirect to the login page: %s", loc)
	}
	b.shot("17-login")
	b.do(chromedp.SendKeys(chromedp.CSS("#key"), "sk-llmr-wrong"), chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")))
	b.shot("18-login-bad-key")
	b.do(chromedp.SetValue(chromedp.CSS("#key"), alice), chromedp.Click(chromedp.CSS("#login-button")),
		chromedp.WaitReady(chromedp.CSS(`body[data-page="chat"][data-ready]`)))
	b.waitJS(`document.body.dataset.models === 'ready'`)
	if c := eval[string](b, `document.cookie`); strings.Contains(c, "sk-llmr") {
		t.Errorf("the key is readable by scripts: %q", c)
	}
	send(b, "PESEL 44051401359")
	if got := b.text("#messages .msg.assistant:last-child .text"); !strings.Contains(got, "Hello from vllm") {
		t.Fatalf("answer %q", got)
	}
	if sent := f.lastChat(t); strings.Contains(sent, "44051401359") {
		t.Errorf("sent %s", sent)
	}
	// The API without a key, and the page's endpoints without the cookie,
	// stay closed.
	for _, p := range []string{"/anonymize/models", "/v1/models"} {
		resp, err := http.Get(f.r.Base() + p)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("GET %s without a key: %d", p, resp.StatusCode)
		}
	}
	// Logging out closes the page again.
	b.do(chromedp.Click(chromedp.CSS(`form[action$="/logout"] button`)), chromedp.WaitVisible(chromedp.CSS("#key")))
	b.open("/anonymize/login")
	b.do(chromedp.Navigate(f.r.Base()+"/anonymize/"), chromedp.WaitVisible(chromedp.CSS("#key")))
}

// TestAnonymizerEmbeddedDefault runs the binary on its embedded Caddyfile:
// LLM_ROUTER_WEB_ANONYMIZER=1 serves the app at /anonymize/ beside the
// router's own "/" (Ollama's greeting); without it the path is not served.
func TestAnonymizerEmbeddedDefault(t *testing.T) {
	for _, on := range []bool{true, false} {
		t.Run(fmt.Sprint("enabled=", on), func(t *testing.T) {
			port := freePort(t)
			dir := t.TempDir()
			r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
			r.cmd = execCommand(binary, "run")
			r.cmd.Env = append(os.Environ(), fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), "LLM_ROUTER_SERVER_HOST=127.0.0.1",
				fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", freePort(t)), "LLM_ROUTER_MODELS_CONFIG=",
				fmt.Sprintf("LLM_ROUTER_WEB_ANONYMIZER=%v", on),
				"XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "HOME="+dir)
			r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
			if err := r.cmd.Start(); err != nil {
				t.Fatal(err)
			}
			go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
			t.Cleanup(r.stop)
			r.waitReady()
			get := func(p string) (int, string) {
				resp, err := http.Get(r.Base() + p)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				b, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
				return resp.StatusCode, string(b)
			}
			if code, body := get("/"); code != 200 || body != "Ollama is running" {
				t.Errorf("GET / = %d %q", code, body)
			}
			code, body := get("/anonymize/")
			if app := code == 200 && strings.Contains(body, `id="mask-form"`); app != on {
				t.Errorf("GET /anonymize/ = %d (app served: %v, want %v)", code, app, on)
			}
		})
	}
}
