package fastmasker

import (
	"strings"
	"testing"
)

// pathological inputs: each must be masked in linear time (a quadratic
// scan over 256 KiB would take minutes).
func pathological() map[string]string {
	const n = 256 << 10
	rep := func(s string) string { return strings.Repeat(s, n/len(s)) }
	return map[string]string{
		"dashes":     rep("a-"),
		"www":        rep("www."),
		"dots":       rep("aaaaaaaaaa."),
		"digits":     rep("1 "),
		"digit run":  rep("1"),
		"groups":     rep("1234 "),
		"braces":     rep("{A_"),
		"at":         rep("a@"),
		"wrappers":   rep("_1"),
		"spaces":     "1" + rep(" ") + "zł",
		"plus":       rep("+1 "),
		"iban-ish":   rep("PL61 "),
		"letters":    rep("abcdefghijklmnopqrstuvwxyz"),
		"hex colons": rep("ab:"),
		"url path":   "http://example.com/" + rep("a"),
		"email dots": rep("a.") + "@example.com",
	}
}

func TestPathological(t *testing.T) {
	m := New()
	for name, text := range pathological() {
		t.Run(name, func(t *testing.T) {
			var s Session
			out := m.Mask(text, &s)
			if again := m.Mask(out, &s); again != out {
				t.Error("not a fixed point")
			}
		})
	}
}

func BenchmarkPathological(b *testing.B) {
	m := New()
	for name, text := range pathological() {
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(text)))
			for b.Loop() {
				m.Mask(text, &Session{})
			}
		})
	}
}
