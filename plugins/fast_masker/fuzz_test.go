package fastmasker

import (
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzMask checks, for any text: Mask does not panic, its output is a fixed
// point (masking it again changes nothing), the mapping restores the
// input, and a valid PESEL, IBAN or card number placed in the text as a
// separate word never survives.
func FuzzMask(f *testing.F) {
	r := newRand()
	for _, s := range []string{
		"", "{", "{A_1}", "PESEL: 44051401359", "jan@example.com", "+48 600 700 800,",
		"10.0.0.1:8080", "PL61 1090 1014 0000 0712 1981 2874", "4111-1111-1111-1111",
		"12 marca 2024 o 14:30", "1 500,00 zł", "$100", "€ 5", "**44051401359**", "_a_",
		"www.example.pl/x", "http://", "a@b", "FV/2024/001", "zażółć 00-950", "\xff\xfe",
		denseText(r, 600), cleanText(r, 300),
	} {
		f.Add(s, uint64(len(s)))
	}
	m := New()
	f.Fuzz(func(t *testing.T, text string, seed uint64) {
		var s Session
		out := m.Mask(text, &s)
		if again := m.Mask(out, &s); again != out {
			t.Fatalf("not a fixed point:\n in   %q\n out  %q\n again %q", text, out, again)
		}
		if !strings.Contains(text, "{") {
			restored := out
			for _, e := range s.Entries() {
				restored = strings.ReplaceAll(restored, e.Placeholder(), e.Original)
			}
			if restored != text {
				t.Fatalf("mapping does not restore the input:\n in  %q\n out %q", text, out)
			}
		}

		// Plant valid values as separate words at a rune boundary.
		g := rand.New(rand.NewPCG(seed, 1))
		at := 0
		if len(text) > 0 {
			at = g.IntN(len(text) + 1)
			for at > 0 && at < len(text) && !utf8.RuneStart(text[at]) {
				at--
			}
		}
		var vals []string
		switch g.IntN(3) {
		case 0:
			vals = []string{genPESEL(g)}
		case 1:
			iban := genIBAN(g, []string{"PL", "DE", "GB", "FR", "NO"}[g.IntN(5)])
			vals = []string{iban, spaced(iban)}
		default:
			card := genLuhn(g, "4", 13+g.IntN(7))
			vals = []string{card}
			if len(card) == 16 {
				vals = append(vals, spaced(card), strings.ReplaceAll(spaced(card), " ", "-"))
			}
		}
		v := vals[g.IntN(len(vals))]
		planted := text[:at] + " " + v + " " + text[at:]
		got := m.Mask(planted, &Session{})
		if strings.Contains(got, " "+v+" ") {
			t.Fatalf("valid value %q left in the output:\n in  %q\n out %q", v, planted, got)
		}
	})
}
