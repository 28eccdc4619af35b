package doc

import (
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func names(ms []Model) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Group+"/"+m.Name)
	}
	return out
}

func ids(t *testing.T, d *Document, group, model string) []string {
	t.Helper()
	m, ok := d.Model(group, model)
	if !ok {
		t.Fatalf("no model %s/%s", group, model)
	}
	var out []string
	for _, p := range m.Providers {
		out = append(out, p.Get("id"))
	}
	return out
}

// TestEdits: a model and providers added in a new group, reordered,
// renamed, activated; the router accepts the result.
func TestEdits(t *testing.T) {
	d, err := Parse(examples(t)["seed example"])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetModel("mistral_models", "mistral-small"); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"a", "b", "c"} {
		if _, err := d.AddProvider("mistral_models", "mistral-small", Fields{"id": id, "api_host": "http://10.0.0.9:8000", "api_type": "vllm", "weight": "0.5", "tool_calling": "on", "keep_alive": ""}); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.MoveProvider("mistral_models", "mistral-small", 2, 0); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, d, "mistral_models", "mistral-small"); !slices.Equal(got, []string{"c", "a", "b"}) {
		t.Fatalf("order after move %v", got)
	}
	if err := d.SetActive("mistral_models", []string{"mistral-small"}); err != nil {
		t.Fatal(err)
	}
	if err := d.RenameModel("mistral_models", "mistral-small", "mistral-small-3"); err != nil {
		t.Fatal(err)
	}
	if got := d.ActiveModels("mistral_models"); !slices.Equal(got, []string{"mistral-small-3"}) {
		t.Fatalf("active after rename %v", got)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	out := string(d.JSON())
	if !strings.Contains(out, "\"mistral_models\": {") || strings.Index(out, "\"mistral_models\"") > strings.Index(out, "\"active_models\"") {
		t.Fatalf("new group not placed before active_models:\n%s", out)
	}
	m, _ := d.Model("mistral_models", "mistral-small-3")
	var got []string
	for _, f := range m.Providers[0].Fields {
		got = append(got, f.Name+"="+f.Text)
	}
	// Router field order; the empty keep_alive and the defaults left out.
	if want := []string{"id=c", "api_host=http://10.0.0.9:8000", "api_type=vllm", "weight=0.5", "tool_calling=true"}; !slices.Equal(got, want) {
		t.Fatalf("new provider %v, want %v", got, want)
	}
	if err := d.DeleteProvider("mistral_models", "mistral-small-3", 1); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, d, "mistral_models", "mistral-small-3"); !slices.Equal(got, []string{"c", "b"}) {
		t.Fatalf("after delete %v", got)
	}
	if err := d.DeleteModel("openai_models", "gpt-oss:120b"); err != nil {
		t.Fatal(err)
	}
	if got := d.ActiveModels("openai_models"); !slices.Equal(got, []string{"openai/gpt-3.5-turbo-0125"}) {
		t.Fatalf("active after delete %v", got)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSetProviderKeepsWhatWasNotChanged: a form that sends every field back
// unchanged changes nothing (a null keep_alive stays null, 1.0 stays 1.0,
// an unchecked absent bool stays absent); bad values are refused whole.
func TestSetProviderKeepsWhatWasNotChanged(t *testing.T) {
	d, err := Parse(examples(t)["seed example"])
	if err != nil {
		t.Fatal(err)
	}
	before := string(d.JSON())
	for _, m := range d.Models() {
		for _, p := range m.Providers {
			form := Fields{"tool_calling": "", "is_embedding": ""}
			for _, f := range p.Fields {
				form[f.Name] = f.Text
			}
			if err := d.SetProvider(m.Group, m.Name, p.Index, form); err != nil {
				t.Fatal(err)
			}
		}
	}
	if after := string(d.JSON()); after != before {
		t.Fatalf("an unchanged form changed the document:\n%s", after)
	}
	tests := []struct {
		name   string
		fields Fields
		want   string
	}{
		{"weight not a number", Fields{"weight": "heavy", "id": "renamed"}, `field "weight"`},
		{"input_size fraction", Fields{"input_size": "1.5"}, `field "input_size"`},
		{"bool", Fields{"tool_calling": "maybe"}, `field "tool_calling"`},
		{"unknown provider", nil, "not found"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			i := 0
			if tc.fields == nil {
				i = 9
			}
			err := d.SetProvider("google_models", "google/gemma-3-12b-it", i, tc.fields)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want %q", err, tc.want)
			}
			if string(d.JSON()) != before {
				t.Fatal("a refused edit changed the document")
			}
		})
	}
	if err := d.SetModel("google_models", "x"); err != nil {
		t.Fatal(err)
	}
	if err := d.RenameModel("google_models", "x", "google/gemma-3-12b-it"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto an existing model: %v", err)
	}
	if err := d.SetActive("google_models", []string{"ghost"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("activating a missing model: %v", err)
	}
}

// TestTokens: tokens sealed at rest, opened for the router, hidden from the
// browser and kept when the browser sends the marker back.
func TestTokens(t *testing.T) {
	src := `{"g": {"m": {"providers": [
  {"id": "a", "api_host": "https://api.openai.com", "api_type": "openai", "api_token": "sk-secret-one"},
  {"id": "b", "api_host": "http://h", "api_type": "openai", "api_token": "{env.OPENAI_KEY}"},
  {"id": "c", "api_host": "http://h", "api_type": "openai", "api_token": "{file./etc/llm-router/key}"},
  {"id": "d", "api_host": "http://h", "api_type": "openai", "api_token": ""},
  {"id": "e", "api_host": "http://h", "api_type": "anthropic", "api_token": "sk-ant-two"}
]}}, "active_models": {"g": ["m"]}}`
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	plain := string(d.JSON())
	if err := d.Seal(k); err != nil {
		t.Fatal(err)
	}
	sealed := string(d.JSON())
	for _, secret := range []string{"sk-secret-one", "sk-ant-two"} {
		if strings.Contains(sealed, secret) {
			t.Fatalf("sealed document holds %s", secret)
		}
	}
	for _, kept := range []string{`"{env.OPENAI_KEY}"`, `"{file./etc/llm-router/key}"`, `"api_token": ""`} {
		if !strings.Contains(sealed, kept) {
			t.Fatalf("sealed document lost %s", kept)
		}
	}
	if strings.Count(sealed, SealPrefix) != 2 {
		t.Fatalf("want 2 sealed tokens:\n%s", sealed)
	}
	if err := d.Seal(k); err != nil || string(d.JSON()) != sealed {
		t.Fatal("sealing twice changed the document")
	}

	// The browser's view hides the tokens, placeholders shown.
	view := d.Redacted()
	vs := string(view.JSON())
	if strings.Contains(vs, SealPrefix) || strings.Count(vs, TokenMarker) != 2 || !strings.Contains(vs, "{env.OPENAI_KEY}") {
		t.Fatalf("redacted view:\n%s", vs)
	}
	// A form that sends the marker back keeps the token; a new value
	// replaces it.
	if err := d.SetProvider("g", "m", 0, Fields{"api_token": TokenMarker}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetProvider("g", "m", 4, Fields{"api_token": "sk-ant-three"}); err != nil {
		t.Fatal(err)
	}
	// A whole document from the browser: markers merged with the stored
	// tokens, even after reordering.
	if err := view.MoveProvider("g", "m", 0, 3); err != nil {
		t.Fatal(err)
	}
	if err := view.Merge(d); err != nil {
		t.Fatal(err)
	}
	if err := view.Open(k); err != nil {
		t.Fatal(err)
	}
	if got := ids(t, view, "g", "m"); !slices.Equal(got, []string{"b", "c", "d", "a", "e"}) {
		t.Fatalf("order %v", got)
	}
	m, _ := view.Model("g", "m")
	if m.Providers[3].Get("api_token") != "sk-secret-one" || m.Providers[4].Get("api_token") != "sk-ant-three" {
		t.Fatalf("merged tokens %q %q", m.Providers[3].Get("api_token"), m.Providers[4].Get("api_token"))
	}

	// Opening restores the import exactly.
	if err := d.SetProvider("g", "m", 4, Fields{"api_token": "sk-ant-two"}); err != nil {
		t.Fatal(err)
	}
	if err := d.Seal(k); err != nil {
		t.Fatal(err)
	}
	if err := d.Open(k); err != nil {
		t.Fatal(err)
	}
	if string(d.JSON()) != plain {
		t.Fatalf("open(seal(x)) != x:\n%s", d.JSON())
	}

	// Another key cannot open them, and says so without the ciphertext.
	other, _ := NewKey()
	d2, _ := Parse([]byte(sealed))
	err = d2.Open(other)
	if err == nil || strings.Contains(err.Error(), SealPrefix) {
		t.Fatalf("open with another key: %v", err)
	}
	// A marker with nothing stored to keep is an error, not an empty token.
	fresh, _ := Parse([]byte(strings.Replace(src, "sk-secret-one", TokenMarker, 1)))
	if err := fresh.Merge(New()); err == nil || !strings.Contains(err.Error(), "enter the token again") {
		t.Fatalf("merge without a stored token: %v", err)
	}
	// A marker does not follow its provider to another host: whoever edits
	// the document could otherwise send a token they were never shown to a
	// server of theirs.
	moved := d.Redacted()
	if err := moved.SetProvider("g", "m", 0, Fields{"api_host": "http://collector.example:8000"}); err != nil {
		t.Fatal(err)
	}
	if err := moved.Merge(d); err == nil || !strings.Contains(err.Error(), "api_host changed") {
		t.Fatalf("merge after the api_host changed: %v", err)
	}
	if strings.Contains(string(moved.JSON()), "sk-secret-one") {
		t.Fatalf("the stored token went to the new host:\n%s", moved.JSON())
	}
}

// TestLoadKey: the key file is created once with mode 0600 and read back;
// one others may read is refused.
func TestLoadKey(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state", "manager.key")
	k1, err := LoadKey(path)
	if err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(path)
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, %v", st.Mode().Perm(), err)
	}
	k2, err := LoadKey(path)
	if err != nil || k1.b != k2.b {
		t.Fatalf("second load: %v, same key %v", err, k1.b == k2.b)
	}
	if err := os.Chmod(path, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(path); err == nil || !strings.Contains(err.Error(), "chmod 600") {
		t.Fatalf("world-readable key: %v", err)
	}
	bad := filepath.Join(dir, "bad.key")
	if err := os.WriteFile(bad, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadKey(bad); err == nil {
		t.Fatal("a malformed key file was accepted")
	}
}

// TestDiff: the diff reproduces both sides and is as short as a longest
// common subsequence allows (checked against a plain LCS on random texts).
func TestDiff(t *testing.T) {
	tests := []struct {
		a, b string
		want string // ops
	}{
		{"", "", ""},
		{"a\nb\nc\n", "a\nb\nc\n", "==="},
		{"a\nb\nc\n", "a\nc\n", "=-="},
		{"a\nc\n", "a\nb\nc\n", "=+="},
		{"a\n", "b\n", "-+"},
		{"", "x\ny\n", "++"},
	}
	for _, tc := range tests {
		var ops []byte
		for _, l := range Diff([]byte(tc.a), []byte(tc.b)) {
			ops = append(ops, byte(l.Op))
		}
		if string(ops) != tc.want {
			t.Errorf("Diff(%q, %q) = %s, want %s", tc.a, tc.b, ops, tc.want)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	gen := func() []byte {
		var b strings.Builder
		for range r.IntN(30) {
			b.WriteString(string(rune('a' + r.IntN(4))))
			b.WriteByte('\n')
		}
		return []byte(b.String())
	}
	for range 500 {
		a, b := gen(), gen()
		lines := Diff(a, b)
		var ra, rb []string
		edits := 0
		for _, l := range lines {
			switch l.Op {
			case Same:
				ra, rb = append(ra, l.Text), append(rb, l.Text)
			case Delete:
				ra = append(ra, l.Text)
				edits++
			case Insert:
				rb = append(rb, l.Text)
				edits++
			}
			if (l.Op != Insert && l.A != len(ra)) || (l.Op != Delete && l.B != len(rb)) {
				t.Fatalf("line numbers wrong in %v", lines)
			}
		}
		al, bl := splitLines(a), splitLines(b)
		if !slices.Equal(ra, al) || !slices.Equal(rb, bl) {
			t.Fatalf("diff of %q and %q does not reproduce them", a, b)
		}
		if want := len(al) + len(bl) - 2*lcs(al, bl); edits != want {
			t.Fatalf("diff of %q and %q has %d edits, want %d", a, b, edits, want)
		}
	}
	// Past the work bound the diff stays correct.
	var big1, big2 strings.Builder
	for i := range 3000 {
		big1.WriteString(strings.Repeat("x", i%7) + "\n")
		big2.WriteString(strings.Repeat("y", i%5) + "\n")
	}
	if n := len(Diff([]byte(big1.String()), []byte(big2.String()))); n < 3000 {
		t.Fatalf("coarse diff has %d lines", n)
	}
}

func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	for i := range a {
		cur := make([]int, len(b)+1)
		for j := range b {
			if a[i] == b[j] {
				cur[j+1] = prev[j] + 1
			} else {
				cur[j+1] = max(prev[j+1], cur[j])
			}
		}
		prev = cur
	}
	return prev[len(b)]
}

// TestGroups: groups renamed (active_models follows) and deleted.
func TestGroups(t *testing.T) {
	d, err := Parse(examples(t)["seed example"])
	if err != nil {
		t.Fatal(err)
	}
	if err := d.RenameGroup("qwen_models", "embedding_models"); err != nil {
		t.Fatal(err)
	}
	if got := d.Groups(); !slices.Equal(got, []string{"google_models", "openai_models", "embedding_models"}) {
		t.Fatalf("groups %v", got)
	}
	if got := d.ActiveModels("embedding_models"); !slices.Equal(got, []string{"nomic-embed-text"}) {
		t.Fatalf("active after rename %v", got)
	}
	if err := d.RenameGroup("google_models", "openai_models"); !errors.Is(err, ErrExists) {
		t.Fatalf("rename onto an existing group: %v", err)
	}
	if err := d.RenameGroup("google_models", ActiveKey); err == nil {
		t.Fatal("a group was renamed active_models")
	}
	if err := d.DeleteGroup("openai_models"); err != nil {
		t.Fatal(err)
	}
	if d.ActiveModels("openai_models") != nil || slices.Contains(d.Groups(), "openai_models") {
		t.Fatal("deleted group still there")
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := d.DeleteGroup(ActiveKey); !errors.Is(err, ErrNotFound) {
		t.Fatalf("deleting active_models: %v", err)
	}
}
