package anonymizer

import (
	"strings"
	"testing"

	"go.uber.org/zap"
)

// TestPIIMaskerSharedAcrossReloads: two configs with the same PII service
// share one masker (and its cache); it lives until the last one goes.
func TestPIIMaskerSharedAcrossReloads(t *testing.T) {
	old := &Handler{Enabled: true, PIIHost: "http://127.0.0.1:1"}
	if err := old.setup(zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	next := &Handler{Enabled: true, PIIHost: "http://127.0.0.1:1"}
	if err := next.setup(zap.NewNop()); err != nil {
		t.Fatal(err)
	}
	if old.maskers.PII != next.maskers.PII {
		t.Fatal("a reload made a second PII masker")
	}
	if err := old.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if refs, ok := pool.References(next.piiKey); !ok || refs != 1 {
		t.Fatalf("after the old config's cleanup: %d references, present %v", refs, ok)
	}
	if err := next.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if _, ok := pool.References(next.piiKey); ok {
		t.Fatal("the masker outlived its last config")
	}
}

// TestPIIHostDefault: without pii_host the PII masker's service comes from
// LLM_ROUTER_MASKER_PII_HOST; the option wins over the variable.
func TestPIIHostDefault(t *testing.T) {
	tests := []struct {
		name, option, env string
		wantHost          string // "" = no PII masker
	}{
		{"neither", "", "", ""},
		{"variable", "", " http://127.0.0.1:2 ", "http://127.0.0.1:2"},
		{"option wins", "http://127.0.0.1:3", "http://127.0.0.1:2", "http://127.0.0.1:3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("LLM_ROUTER_MASKER_PII_HOST", tc.env)
			h := &Handler{Enabled: true, PIIHost: tc.option}
			if err := h.setup(zap.NewNop()); err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = h.Cleanup() })
			if got := h.maskers.PII != nil; got != (tc.wantHost != "") {
				t.Fatalf("PII masker configured: %v, want %v", got, tc.wantHost != "")
			}
			if tc.wantHost != "" && !strings.HasPrefix(h.piiKey, "anonymizer|pii|"+tc.wantHost+"|") {
				t.Fatalf("PII masker keyed %q, want service %s", h.piiKey, tc.wantHost)
			}
		})
	}
}
