package anonymizer

import (
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
