package fastmasker

import (
	"math/rand/v2"
	"strings"
	"testing"
)

const (
	plWords = "w na i z do że się nie jest to jak ale po od przez dla tak już być może " +
		"żółw gęś źrebię łódź ćma pięć środa zażółć gęślą jaźń miasto Kraków Łódź " +
		"Warszawa państwo współpraca umowa dokument wniosek sprawozdanie zespół " +
		"spotkanie przyszły tydzień rozmowa klient dostawa zamówienie faktura " +
		"ubezpieczenie wynagrodzenie pracownik dyrektor kierownik projekt wdrożenie " +
		"serwer aplikacja użytkownik hasło dostęp konfiguracja wersja środowisko"
	enWords = "the of and to in is that for it as with was on be at by this have from " +
		"or an they which you one we all there their has been would will more if " +
		"contract invoice customer delivery report meeting schedule payment account " +
		"server application deployment configuration environment release version " +
		"quickly brown fox jumps over lazy dog international organization"
)

// cleanText returns about n bytes of mixed Polish/English prose with
// ordinary numbers but no PII.
func cleanText(r *rand.Rand, n int) string {
	pl, en := strings.Fields(plWords), strings.Fields(enWords)
	var b strings.Builder
	b.Grow(n + 100)
	for b.Len() < n {
		words := pl
		if r.IntN(2) == 0 {
			words = en
		}
		k := 6 + r.IntN(10)
		for i := 0; i < k; i++ {
			if i > 0 {
				b.WriteByte(' ')
			}
			switch r.IntN(25) {
			case 0:
				b.WriteString(itoa(r.IntN(100)))
			case 1:
				b.WriteString(itoa(1990 + r.IntN(40)))
			case 2:
				b.WriteString(itoa(r.IntN(100)) + "%")
			default:
				b.WriteString(words[r.IntN(len(words))])
			}
			if r.IntN(12) == 0 {
				b.WriteByte(',')
			}
		}
		b.WriteString(". ")
		if r.IntN(8) == 0 {
			b.WriteByte('\n')
		}
	}
	return b.String()
}

// piiValue returns one random PII value of a random kind.
func piiValue(r *rand.Rand) string {
	switch r.IntN(16) {
	case 0:
		return "PESEL " + genPESEL(r)
	case 1:
		return genNIP(r)
	case 2:
		return spaced(genIBAN(r, "PL"))
	case 3:
		return genIBAN(r, "DE")
	case 4:
		return spaced(genLuhn(r, "4", 16))
	case 5:
		return "jan.kowalski" + itoa(r.IntN(1000)) + "@example.com"
	case 6:
		return "+48 " + genMobile(r)
	case 7:
		return genMobile(r)[:3] + " " + genMobile(r)[3:6] + " 789"
	case 8:
		return itoa(1+r.IntN(28)) + " marca 2024"
	case 9:
		return "2024-0" + itoa(1+r.IntN(9)) + "-1" + itoa(r.IntN(10))
	case 10:
		return itoa(r.IntN(1000)) + ",50 zł"
	case 11:
		return "10.0." + itoa(r.IntN(256)) + "." + itoa(r.IntN(256))
	case 12:
		return "https://example.com/path/" + itoa(r.IntN(1000))
	case 13:
		return genVIN(r)
	case 14:
		return "0" + itoa(r.IntN(10)) + "-" + itoa(100+r.IntN(900)) + " Warszawa"
	default:
		return genREGON(r, 9)
	}
}

// denseText returns about n bytes of prose with a PII value every few words.
func denseText(r *rand.Rand, n int) string {
	clean := strings.Fields(cleanText(r, n))
	var b strings.Builder
	b.Grow(n + 100)
	for i := 0; b.Len() < n; i++ {
		if i > 0 {
			b.WriteByte(' ')
		}
		if r.IntN(8) == 0 {
			b.WriteString(piiValue(r))
		} else {
			b.WriteString(clean[i%len(clean)])
		}
	}
	return b.String()
}

func benchMask(b *testing.B, text string) {
	m := New()
	b.SetBytes(int64(len(text)))
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		var s Session
		m.Mask(text, &s)
	}
}

// BenchmarkMaskClean masks 1 MiB of mixed Polish/English text without PII.
func BenchmarkMaskClean(b *testing.B) { benchMask(b, cleanText(newRand(), 1<<20)) }

// BenchmarkMaskDense masks 1 MiB of text with a PII value every ~8 words.
func BenchmarkMaskDense(b *testing.B) { benchMask(b, denseText(newRand(), 1<<20)) }

// BenchmarkMaskTextsRequest masks a typical chat request: 8 messages of
// ~400 bytes, one in four with PII.
func BenchmarkMaskTextsRequest(b *testing.B) {
	r := newRand()
	texts := make([]string, 8)
	n := 0
	for i := range texts {
		if i%4 == 0 {
			texts[i] = denseText(r, 400)
		} else {
			texts[i] = cleanText(r, 400)
		}
		n += len(texts[i])
	}
	m := New()
	ctx := b.Context()
	b.SetBytes(int64(n))
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.MaskTexts(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}
