package auth

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
)

func TestGlob(t *testing.T) {
	tests := []struct {
		pattern, name string
		want          bool
	}{
		{"*", "anything/at:all", true},
		{"gpt-4o*", "gpt-4o-mini", true},
		{"gpt-4o*", "gpt-4", false},
		{"meta-llama/*", "meta-llama/Llama-3-8B", true},
		{"*/Llama-3-*", "meta-llama/Llama-3-8B", true},
		{"llama3:?b", "llama3:8b", true},
		{"llama3:?b", "llama3:70b", false},
		{"a*b*c", "aXXbYYc", true},
		{"a*b*c", "aXXbYY", false},
		{"exact", "exact", true},
		{"exact", "Exact", false},
		{"", "", true},
		{"", "x", false},
	}
	for _, tt := range tests {
		if got := glob(tt.pattern, tt.name); got != tt.want {
			t.Errorf("glob(%q, %q) = %v, want %v", tt.pattern, tt.name, got, tt.want)
		}
	}
}

func testKey(t *testing.T, p Policy) *Key {
	t.Helper()
	c, err := compile(p)
	if err != nil {
		t.Fatal(err)
	}
	return &Key{Name: "alice", Policy: p, id: "alice#12345678", pol: c}
}

func TestAllow(t *testing.T) {
	k := testKey(t, Policy{
		Models:    []string{"llama3", "gpt-4o*"},
		Endpoints: []Family{FamilyChat, FamilyListing},
	})
	tests := []struct {
		model   string
		family  Family
		wantErr error
		wantMsg string
	}{
		{"llama3", FamilyChat, nil, ""},
		{"gpt-4o-mini", FamilyChat, nil, ""},
		{"", FamilyListing, nil, ""},
		{"llama3:70b", FamilyChat, ErrModelForbidden, `API key "alice" may not use model "llama3:70b"`},
		{"llama3", FamilyEmbeddings, ErrEndpointForbidden, `API key "alice" may not use embeddings endpoints`},
		{"llama3", FamilyBuiltin, ErrEndpointForbidden, `API key "alice" may not use builtin endpoints`},
		{"llama3", Family("admin"), ErrEndpointForbidden, `API key "alice" may not use admin endpoints`},
	}
	for _, tt := range tests {
		err := k.Allow(tt.model, tt.family)
		if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
			t.Errorf("Allow(%q, %s) = %v, want %v", tt.model, tt.family, err, tt.wantErr)
			continue
		}
		if err != nil && err.Error() != tt.wantMsg {
			t.Errorf("Allow(%q, %s) message = %q, want %q", tt.model, tt.family, err, tt.wantMsg)
		}
	}
}

func TestEmptyPolicyDeniesEverything(t *testing.T) {
	k := testKey(t, Policy{})
	for _, f := range families {
		if err := k.Allow("", f); !errors.Is(err, ErrEndpointForbidden) {
			t.Errorf("empty policy: Allow(%s) = %v, want ErrEndpointForbidden", f, err)
		}
	}
	if k.AllowsModel("llama3") {
		t.Error("empty policy allows a model")
	}
}

func TestCompileRejects(t *testing.T) {
	for _, p := range []Policy{
		{Models: []string{""}},
		{Endpoints: []Family{"chats"}},
		{RPM: -1},
		{TPM: -5},
	} {
		if _, err := compile(p); err == nil {
			t.Errorf("compile(%+v) accepted an invalid policy", p)
		}
	}
}

func TestNewSecret(t *testing.T) {
	seen := map[string]bool{}
	for range 200 {
		s, err := NewSecret()
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(s, KeyPrefix) || len(s) != len(KeyPrefix)+43 {
			t.Fatalf("NewSecret() = %q: want %s + 43 characters", s, KeyPrefix)
		}
		if strings.Trim(s[len(KeyPrefix):], base62) != "" {
			t.Fatalf("NewSecret() = %q has characters outside base62", s)
		}
		if seen[s] {
			t.Fatalf("NewSecret() repeated %q", s)
		}
		seen[s] = true
	}
}

func TestHashSecret(t *testing.T) {
	// SHA-256("abc") from FIPS 180-2.
	const want = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if got := HashSecret("abc"); got != want {
		t.Errorf("HashSecret(abc) = %s, want %s", got, want)
	}
}

func TestStatusCodeAndReason(t *testing.T) {
	tests := []struct {
		err    error
		status int
		reason string
	}{
		{nil, http.StatusOK, "ok"},
		{ErrNoKey, 401, "missing_key"},
		{ErrUnknownKey, 401, "invalid_key"},
		{deny(ErrDisabled, "x"), 401, "disabled"},
		{deny(ErrExpired, "x"), 401, "expired"},
		{deny(ErrRotated, "x"), 401, "rotated"},
		{deny(ErrModelForbidden, "x"), 403, "model_forbidden"},
		{deny(ErrEndpointForbidden, "x"), 403, "endpoint_forbidden"},
		{fmt.Errorf("wrapped: %w", deny(ErrRateLimited, "x")), 429, "rate_limited"},
		{errors.New("redis down"), 503, "error"},
	}
	for _, tt := range tests {
		if got := StatusCode(tt.err); got != tt.status {
			t.Errorf("StatusCode(%v) = %d, want %d", tt.err, got, tt.status)
		}
		if got := Reason(tt.err); got != tt.reason {
			t.Errorf("Reason(%v) = %q, want %q", tt.err, got, tt.reason)
		}
	}
}
