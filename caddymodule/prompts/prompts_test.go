package prompts

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
)

// shipped are the prompt ids the built-in endpoints use; both languages must
// hold every one of them.
var shipped = []string{
	"builtin/system/anonymize-text",
	"builtin/system/answer-from-context-simple",
	"builtin/system/chat-conversation-simple",
	"builtin/system/full-article",
	"builtin/system/generate-questions",
	"builtin/system/news-on-sm",
	"builtin/system/simplify-text",
	"builtin/system/translate-to-pl",
}

func TestShippedPrompts(t *testing.T) {
	l, err := New(os.DirFS("../../resources/prompts"), "")
	if err != nil {
		t.Fatal(err)
	}
	placeholders := map[string]string{
		"builtin/system/answer-from-context-simple": "##QUESTION_STR##",
		"builtin/system/full-article":               "##USER_Q_STR##",
		"builtin/system/generate-questions":         "##QUESTION_NUM_STR##",
	}
	for _, id := range shipped {
		for _, lang := range []string{"pl", "en"} {
			text, err := l.Get(id, lang)
			if err != nil {
				t.Errorf("Get(%q, %q): %v", id, lang, err)
				continue
			}
			if strings.TrimSpace(text) == "" {
				t.Errorf("%s/%s is empty", lang, id)
			}
			if p := placeholders[id]; p != "" && !strings.Contains(text, p) {
				t.Errorf("%s/%s lacks placeholder %s", lang, id, p)
			}
		}
		if got := strings.Join(l.Languages(id), ","); got != "en,pl" {
			t.Errorf("Languages(%q) = %q, want en,pl", id, got)
		}
	}
}

func TestGetLayoutsAndOverride(t *testing.T) {
	embedded := fstest.MapFS{
		"pl/builtin/system/a.prompt": {Data: []byte("embedded pl a")},
		"en/builtin/system/a.prompt": {Data: []byte("embedded en a")},
		"pl/builtin/system/b.prompt": {Data: []byte("embedded pl b")},
		"pl/builtin/system/notes.md": {Data: []byte("not a prompt")},
		"shared/c.prompt":            {Data: []byte("neutral c")},
	}
	dir := t.TempDir()
	write := func(rel, text string) {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("builtin/system/pl/a.prompt", "disk pl a (original layout)") // original layout
	write("de/builtin/system/a.prompt", "disk de a")                   // our layout, new language

	l, err := New(embedded, dir)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		id, lang string
		want     string
		err      error
	}{
		{"builtin/system/a", "pl", "disk pl a (original layout)", nil},
		{"builtin/system/a", "en", "embedded en a", nil},
		{"builtin/system/a", "de", "disk de a", nil},
		{"builtin/system/pl/a", "", "disk pl a (original layout)", nil}, // original id form
		{"builtin/system/a.prompt", "en", "embedded en a", nil},
		{"builtin/system/b", "pl", "embedded pl b", nil},
		{"builtin/system/b", "en", "", ErrLanguage},
		{"shared/c", "fr", "neutral c", nil},
		{"builtin/system/notes", "pl", "", ErrNotFound},
		{"builtin/system/zzz", "pl", "", ErrNotFound},
	}
	for _, tt := range tests {
		got, err := l.Get(tt.id, tt.lang)
		if tt.err != nil {
			if !errors.Is(err, tt.err) {
				t.Errorf("Get(%q, %q) error = %v, want %v", tt.id, tt.lang, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Get(%q, %q) = %q, %v; want %q", tt.id, tt.lang, got, err, tt.want)
		}
	}
	_, err = l.Get("builtin/system/b", "en")
	if err == nil || !strings.Contains(err.Error(), "available: pl") {
		t.Errorf("language error should list available languages, got %v", err)
	}
}

func TestNewBadOverrideDir(t *testing.T) {
	if _, err := New(nil, filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing override dir: want error")
	}
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := New(nil, f); err == nil {
		t.Error("override path is a file: want error")
	}
}

func TestFill(t *testing.T) {
	vars := map[string]string{
		"Q":          "what is ##N##?",
		"N":          "3",
		"##HASHED##": "h",
		"EMPTY":      "",
	}
	tests := []struct{ in, want string }{
		{"", ""},
		{"no placeholders", "no placeholders"},
		{"Q: ##Q##", "Q: what is ##N##?"}, // values are not rescanned
		{"##N## and ##N##", "3 and 3"},
		{"##UNKNOWN## ##N##", "##UNKNOWN## 3"},
		{"###N##", "#3"},
		{"## N ## ##N##", "## N ## 3"},
		{"##HASHED##", "h"},
		{"[##EMPTY##]", "[]"},
		{"##EMPTY##x", "x"},
		{"unterminated ##N", "unterminated ##N"},
		{"zażółć ##N## gęślą", "zażółć 3 gęślą"},
	}
	for _, tt := range tests {
		if got := Fill(tt.in, vars); got != tt.want {
			t.Errorf("Fill(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Fill("##N##", nil); got != "##N##" {
		t.Errorf("Fill with nil vars = %q", got)
	}
}

func BenchmarkFill(b *testing.B) {
	l, err := New(os.DirFS("../../resources/prompts"), "")
	if err != nil {
		b.Fatal(err)
	}
	text, err := l.Get("builtin/system/answer-from-context-simple", "pl")
	if err != nil {
		b.Fatal(err)
	}
	vars := map[string]string{"QUESTION_STR": "Jakie są warunki gwarancji?"}
	b.ReportAllocs()
	for b.Loop() {
		_ = Fill(text, vars)
	}
}

func BenchmarkGet(b *testing.B) {
	l, err := New(os.DirFS("../../resources/prompts"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := l.Get("builtin/system/translate-to-pl", "en"); err != nil {
			b.Fatal(err)
		}
	}
}
