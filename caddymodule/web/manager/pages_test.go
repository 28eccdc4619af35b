package manager

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

const sampleDoc = `{
  "openai_models": {
    "gpt-<b>x</b>": {
      "providers": [
        {"id": "p1", "api_host": "http://10.0.0.1:8000", "api_type": "vllm", "api_token": "enc:v1:AAAA", "weight": 2, "x_custom": {"a": 1}},
        {"id": "p2", "api_host": "http://10.0.0.2:8000", "api_type": "openai", "api_token": "{env.TOKEN}", "keep_alive": null}
      ]
    }
  },
  "active_models": {"openai_models": ["gpt-<b>x</b>"]}
}`

// Every page renders, and text from users or documents is escaped.
func TestPagesRender(t *testing.T) {
	h := &Handler{logger: zap.NewNop()}
	var err error
	if h.pages, err = loadPages(); err != nil {
		t.Fatal(err)
	}
	evil := `<script>alert(1)</script>`
	admin := store.User{ID: 1, Name: evil, Role: store.RoleAdmin, Created: time.Now()}
	dv, invalid, err := h.docView([]byte(sampleDoc))
	if err != nil {
		t.Fatal(err)
	}
	cfg := store.Config{ID: 7, Name: evil, Doc: []byte(sampleDoc), Revision: 3, UpdatedBy: evil}
	for _, tc := range []struct {
		page string
		v    *view
	}{
		{"setup", &view{Name: evil}},
		{"login", &view{Name: evil, Error: evil}},
		{"error", &view{Error: evil}},
		{"password", &view{User: &admin}},
		{"users", &view{User: &admin, Users: []store.User{admin, {ID: 2, Name: "u", Role: store.RoleUser, Blocked: true}}}},
		{"configs", &view{User: &admin, Projects: []store.Project{{ID: 1, Name: evil}}, Project: store.Project{ID: 1, Name: evil},
			Configs: []configRow{{Config: cfg, Active: true}}, Active: &store.Activation{ConfigID: 7, By: evil}}},
		{"import", &view{User: &admin, Text: evil, Error: evil}},
		{"config", &view{User: &admin, Config: cfg, Doc: dv, Invalid: invalid}},
		{"config", &view{User: &admin, Config: cfg, Doc: dv, Form: url.Values{"name": {evil}, "json": {evil}}, FormFor: "edit"}},
		{"versions", &view{User: &admin, Config: cfg, Versions: []store.Version{{Number: 3, Note: evil, Author: evil}, {Number: 2, Note: "n"}}}},
		{"diff", &view{User: &admin, Config: cfg, A: 2, B: 3, Diff: []diffLine{{Class: "add", Mark: "+", Text: evil}}}},
	} {
		t.Run(tc.page, func(t *testing.T) {
			rec := httptest.NewRecorder()
			h.render(rec, 200, tc.page, tc.v)
			body := rec.Body.String()
			if rec.Code != 200 {
				t.Fatalf("status %d: %s", rec.Code, body)
			}
			if strings.Contains(body, evil) || strings.Contains(body, "<b>x</b>") {
				t.Errorf("unescaped input in %s", tc.page)
			}
			if csp := rec.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") || strings.Contains(csp, "unsafe-inline") {
				t.Errorf("CSP %q", csp)
			}
			if strings.Contains(body, "<script>") || strings.Contains(body, " style=") || strings.Contains(body, " onclick=") {
				t.Errorf("inline code in %s", tc.page)
			}
		})
	}
	// The config page: every provider field of the schema, tokens hidden,
	// placeholders shown, unknown fields kept in the form.
	rec := httptest.NewRecorder()
	h.render(rec, 200, "config", &view{User: &admin, Config: cfg, Doc: dv})
	body := rec.Body.String()
	for _, want := range []string{`name="keep_alive"`, `name="tool_calling"`, `name="is_embedding"`, `name="model_path"`, `name="input_size"`,
		`value="{env.TOKEN}"`, `name="x_custom"`, `name="api_token__keep"`, `<option value="ollama"`, `name="openai_models[]"`} {
		if !strings.Contains(body, want) {
			t.Errorf("config page lacks %s", want)
		}
	}
	if strings.Contains(body, "enc:v1:") {
		t.Errorf("a sealed token reached the page")
	}
}

func TestSafeNext(t *testing.T) {
	for in, want := range map[string]string{
		"":                        "/manager/",
		"/manager/configs/3":      "/manager/configs/3",
		"//evil.example/manager/": "/manager/",
		"https://evil.example/":   "/manager/",
		"/manager/../admin":       "/manager/",
		"/manager/configs?x=1":    "/manager/configs?x=1",
		"/elsewhere":              "/manager/",
		"/manager\\..\\elsewhere": "/manager/",
	} {
		if got := safeNext(in); got != want {
			t.Errorf("safeNext(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestIsPermutation(t *testing.T) {
	for _, tc := range []struct {
		order []int
		n     int
		ok    bool
	}{
		{[]int{1, 0, 2}, 3, true}, {[]int{0, 0, 2}, 3, false}, {[]int{0, 1}, 3, false}, {[]int{0, 3, 1}, 3, false}, {nil, 0, true},
	} {
		if got := isPermutation(tc.order, tc.n); got != tc.ok {
			t.Errorf("isPermutation(%v, %d) = %v", tc.order, tc.n, got)
		}
	}
}

func TestApplyOrder(t *testing.T) {
	const src = `{"g": {"m": {"providers": [{"id": "a"}, {"id": "b"}, {"id": "c"}, {"id": "d"}]}}}`
	for _, order := range [][]int{{3, 2, 1, 0}, {1, 0, 2, 3}, {0, 1, 2, 3}, {2, 0, 3, 1}, {3, 0, 1, 2}} {
		d, err := doc.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if err := applyOrder(d, "g", "m", order); err != nil {
			t.Fatal(err)
		}
		m, _ := d.Model("g", "m")
		var got, want []string
		for i, p := range m.Providers {
			got = append(got, p.Get("id"))
			want = append(want, string(rune('a'+order[i])))
		}
		if !slices.Equal(got, want) {
			t.Errorf("order %v: got %v, want %v", order, got, want)
		}
	}
}
