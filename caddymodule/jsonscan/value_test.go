package jsonscan

import (
	"encoding/json"
	"testing"
)

// FuzzScalars checks Boolean and Number against encoding/json on every
// valid JSON value: the same verdict and the same value.
func FuzzScalars(f *testing.F) {
	for _, seed := range []string{"true", "false", "0", "-0", "1.5", "-12e3", "1E+2", "1e400", "-1e-400",
		"9007199254740993", `"1"`, "null", "[1]", "{}", " 7 "} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, v []byte) {
		if !json.Valid(v) || IsNull(v) { // Take answers null as absent first
			return
		}
		var wb bool
		werr := json.Unmarshal(v, &wb)
		if b, ok := Boolean(v); ok != (werr == nil) || (ok && b != wb) {
			t.Errorf("Boolean(%q) = %v, %v; encoding/json: %v, %v", v, b, ok, wb, werr)
		}
		var wf float64
		werr = json.Unmarshal(v, &wf)
		if n, ok := Number(v); ok != (werr == nil) || (ok && n != wf) {
			t.Errorf("Number(%q) = %v, %v; encoding/json: %v, %v", v, n, ok, wf, werr)
		}
	})
}
