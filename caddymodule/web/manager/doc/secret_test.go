package doc

import (
	"strings"
	"testing"
)

func TestNewSecretRefs(t *testing.T) {
	k, err := NewKey()
	if err != nil {
		t.Fatal(err)
	}
	const base = `{"g": {"m": {"providers": [
		{"id": "a", "api_host": "http://a.example", "api_type": "vllm", "api_token": "{env.A_TOKEN}"},
		{"id": "b", "api_host": "http://b.example", "api_type": "vllm", "api_token": "Bearer {file./run/b}"},
		{"id": "c", "api_host": "http://c.example", "api_type": "vllm", "api_token": "plain"}]}}}`
	for _, tc := range []struct {
		name, doc string
		want      []string // ids of the new references
	}{
		{"unchanged", base, nil},
		{"token added", `{"g": {"m": {"providers": [{"id": "c", "api_host": "http://c.example", "api_token": "{file./var/lib/llm-router/manager.key}"}]}}}`, []string{"c"}},
		{"token changed", `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://a.example", "api_token": "{env.SECRET}"}]}}}`, []string{"a"}},
		{"api_host changed", `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://evil.example", "api_token": "{env.A_TOKEN}"}]}}}`, []string{"a"}},
		{"moved, same host", `{"h": {"n": {"providers": [{"id": "x", "api_host": "http://b.example", "api_token": "Bearer {file./run/b}"}]}}}`, nil},
		{"inside a longer token", `{"g": {"m": {"providers": [{"id": "c", "api_host": "http://c.example", "api_token": "x{env.HOME}y"}]}}}`, []string{"c"}},
		{"other placeholders", `{"g": {"m": {"providers": [{"id": "c", "api_host": "http://c.example", "api_token": "{system.hostname}"}]}}}`, nil},
		{"removed", `{"g": {"m": {"providers": []}}}`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Parse([]byte(base))
			if err != nil {
				t.Fatal(err)
			}
			// Stored documents are sealed: "Bearer {file./run/b}" is
			// sealed and must still count as a placeholder.
			if err := b.Seal(k); err != nil {
				t.Fatal(err)
			}
			d, err := Parse([]byte(tc.doc))
			if err != nil {
				t.Fatal(err)
			}
			if tc.name == "unchanged" {
				d = b.Clone()
			}
			var got []string
			for _, r := range NewSecretRefs(d, b, k) {
				got = append(got, r.ID)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Errorf("new references %v, want %v", got, tc.want)
			}
		})
	}
	if n := len(mustParse(t, base).SecretRefs(k)); n != 2 {
		t.Errorf("SecretRefs found %d, want 2", n)
	}
}

func mustParse(t *testing.T, s string) *Document {
	t.Helper()
	d, err := Parse([]byte(s))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func TestCheckKeptHosts(t *testing.T) {
	k, _ := NewKey()
	stored := mustParse(t, `{"g": {"m": {"providers": [{"id": "a", "api_host": "http://a.example", "api_token": "sk-1"}]}}}`)
	if err := stored.Seal(k); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		edit func(d *Document) error
		ok   bool
	}{
		{"unchanged", func(d *Document) error { return nil }, true},
		{"host changed", func(d *Document) error {
			return d.SetProvider("g", "m", 0, Fields{"api_host": "http://evil.example"})
		}, false},
		{"host a list", func(d *Document) error {
			d.root.vals["g"].(*object).vals["m"].(*object).vals["providers"].([]any)[0].(*object).vals["api_host"] = []any{"x"}
			return nil
		}, false},
		{"copied to another host", func(d *Document) error {
			p, _ := d.Model("g", "m")
			_, err := d.AddProvider("g", "m", Fields{"id": "b", "api_host": "http://evil.example", "api_token": p.Providers[0].Get("api_token")})
			return err
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := stored.Clone()
			if err := tc.edit(d); err != nil {
				t.Fatal(err)
			}
			err := d.CheckKeptHosts(stored)
			if (err == nil) != tc.ok || (err != nil && !strings.Contains(err.Error(), "api_host changed, so the hidden token is not kept; enter the token again")) {
				t.Errorf("CheckKeptHosts: %v", err)
			}
		})
	}
}
