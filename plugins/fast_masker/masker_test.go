package fastmasker

import (
	"context"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"
)

func newRand() *rand.Rand { return rand.New(rand.NewPCG(7, 11)) }

// TestRules checks every rule with valid values (masked) and invalid ones
// (left as they are); want uses the placeholders a user would see.
func TestRules(t *testing.T) {
	r := newRand()
	pesel := genPESEL(r)
	nip := genNIP(r)
	regon9, regon14 := genREGON(r, 9), genREGON(r, 14)
	ibanPL, ibanDE, ibanNO, ibanGB := genIBAN(r, "PL"), genIBAN(r, "DE"), genIBAN(r, "NO"), genIBAN(r, "GB")
	visa, amex := genLuhn(r, "4", 16), genLuhn(r, "37", 15)
	iccid := genLuhn(r, "8948", 19)
	iccid20 := genLuhn(r, "8948", 20)
	vin := genVIN(r)
	mobile := genMobile(r)
	for validREGON([]byte(mobile)) { // REGON comes first in rule order
		mobile = genMobile(r)
	}
	nipDash := nip[:3] + "-" + nip[3:6] + "-" + nip[6:8] + "-" + nip[8:]

	tests := []struct {
		name, in, want string
	}{
		{"email", "Mail jan.kowalski@example.com.", "Mail {EMAIL_1}."},
		{"email subdomain", "to: a_b-c+d@mail.example.co.uk", "to: {EMAIL_1}"},
		{"email no tld", "user@localhost", "user@{IP_1}"},
		{"url https path", "see https://example.com/a?b=c) now", "see {URL_1}) now"},
		{"url ip port", "http://10.0.0.1:8080/x y", "{URL_1} y"},
		{"url www", "(www.example.pl)", "({URL_1})"},
		{"url www glued", "www.example.pl(", "www.example.pl("},
		{"ipv4 port", "IP 10.0.0.1:8080", "IP {IP_1}:{PORT_2}"},
		{"ipv4 bad octet", "IP 10.0.0.256:8080", "IP 10.0.0.256:8080"},
		{"ipv4 bad port", "IP 10.0.0.1:0", "IP {IP_1}:0"},
		{"ipv6", "addr 2001:0db8:85a3:0000:0000:8a2e:0370:7334 ok", "addr {IP_1} ok"},
		{"localhost", "on localhost:3000", "on {IP_1}:{PORT_2}"},
		{"pesel tagged", "PESEL: " + pesel, "PESEL: {PESEL_TAGGED_1}"},
		{"pesel tagged bad", "PESEL " + breakLast(pesel, func(s string) bool { return validPESEL([]byte(s)) }), ""},
		{"pesel", "nr " + pesel + ".", "nr {PESEL_1}."},
		{"pesel markdown", "**" + pesel + "**", "**{PESEL_1}**"},
		{"pesel bad", "nr " + breakLast(pesel, func(s string) bool { return validPESEL([]byte(s)) }), ""},
		{"pesel in word", "x" + pesel, ""},
		{"nip plain", "NIP " + nip, "NIP {NIP_1}"},
		{"nip dashed", "NIP " + nipDash, "NIP {NIP_1}"},
		{"nip bad is krs", "nr " + breakLast(nip, func(s string) bool { return validNIP([]byte(s)) }), "nr {KRS_1}"},
		{"regon 9", "REGON " + regon9, "REGON {REGON_1}"},
		{"regon 14", "REGON " + regon14, "REGON {REGON_1}"},
		{"regon 9 bad", "REGON " + breakLast(regon9, func(s string) bool { return validREGON([]byte(s)) }) + " x", ""},
		{"date pl", "dnia 12 marca 2024 r.", "dnia {DATE_1} r."},
		{"date pl genitive", "3 października 1999", "{DATE_1}"},
		{"date pl year first", "2024 lipca 5", "{DATE_1}"},
		{"date en", "on March 5th, 2021.", "on {DATE_1}."},
		{"date en day first", "5 May 2020", "{DATE_1}"},
		{"date num iso", "2024-05-14", "{DATE_1}"},
		{"date num pl", "14.05.2024 r.", "{DATE_1} r."},
		{"date num bad month", "31/13/2024", "31/13/2024"},
		{"time", "o 14:30 i 9:05", "o {TIME_1} i {TIME_2}"},
		{"time bad", "o 24:30 i 12:60", "o 24:30 i 12:60"},
		{"money suffix", "kwota 1 500,00 zł", "kwota {MONEY_1}"},
		{"money prefix", "$100 and €25.50 and PLN 300 and eur\u00a0400", "{MONEY_1} and {MONEY_2} and {MONEY_3} and {MONEY_4}"},
		{"money magnitude", "2,5 mln złotych", "{MONEY_1}"},
		{"money none", "100 kotów", "100 kotów"},
		{"vin", "VIN " + vin, "VIN {VIN_1}"},
		{"vin bad check", "VIN 1HGCM82634A004352", "VIN 1HGCM82634A004352"},
		{"iban pl spaced", "konto " + spaced(ibanPL) + ", dzięki", "konto {BANK_ACCOUNT_1}, dzięki"},
		{"iban pl compact", "IBAN " + ibanPL, "IBAN {BANK_ACCOUNT_1}"},
		{"iban de", "IBAN " + ibanDE, "IBAN {BANK_ACCOUNT_1}"},
		{"iban no", "IBAN " + spaced(ibanNO), "IBAN {BANK_ACCOUNT_1}"},
		{"iban gb", "IBAN " + ibanGB, "IBAN {BANK_ACCOUNT_1}"},
		{"iban bad checksum", "IBAN PL61109010140000071219812875", "IBAN PL61109010140000071219812875"},
		{"iban masked", "PL58 10XX 1298 1XXX XXXX 6292 31X3", "{BANK_ACCOUNT_1}"},
		{"car plate", "auto WA 12345 i KR 3AB45", "auto {CAR_PLATE_1} i KR 3AB45"},
		{"car plate 3 letters", "nr WPI 1234A", "nr {CAR_PLATE_1}"},
		{"postal", "00-950 Warszawa", "{POSTAL_CODE_1} Warszawa"},
		{"postal with slash", "sygn. 12-345/2024", "sygn. 12-345/2024"},
		{"nrb", "nr 61 1090 1014 0000 0712 1981 2874", "nr {NRB_1}"},
		{"krs", "KRS 0000123456", "KRS {KRS_1}"},
		{"passport", "paszport AB1234567", "paszport {PASSPORT_1}"},
		{"id card", "dowód ABC123456", "dowód {ID_CARD_1}"},
		{"ssn", "SSN 123-45-6789", "SSN {SSN_1}"},
		{"ssn bad", "SSN 900-45-6789 000-12-3456 123-00-4567 123-45-0000", ""},
		{"health", "NFZ 12345678/123", "NFZ {HEALTH_CODE_1}"},
		{"phone intl", "tel. +48 600 700 800, +1-202-555-0143", "tel. {PHONE_INTERNATIONAL_1}, {PHONE_INTERNATIONAL_2}"},
		{"phone", "tel " + mobile + " lub 600-700-800, 123 456 789", "tel {PHONE_1} lub {PHONE_2}, 123 456 789"},
		{"phone 800", "infolinia 800 123 456", "infolinia {PHONE_1}"},
		{"mac", "MAC 00:1A:2B:3C:4D:5E i 00-1a-2b-3c-4d-5e", "MAC {MAC_ADDRESS_1} i {MAC_ADDRESS_2}"},
		{"mac mixed", "00:1A-2B:3C:4D:5E", "00:1A-2B:3C:4D:5E"},
		{"card", "card " + spaced(visa), "card {CREDIT_CARD_1}"},
		{"card dashes", "card " + strings.ReplaceAll(spaced(visa), " ", "-"), "card {CREDIT_CARD_1}"},
		{"card amex", "amex " + amex[:4] + " " + amex[4:10] + " " + amex[10:], "amex {CREDIT_CARD_1}"},
		{"card bad luhn", "card " + spaced(breakLast(visa, func(s string) bool { return luhn([]byte(s)) })), ""},
		{"card bad luhn compact", "card " + breakLast(visa, func(s string) bool { return luhn([]byte(s)) }), ""},
		{"ssl", "serial 0123456789ABCDEF01", "serial {SSL_CERT_1}"},
		{"ssl lower", "serial 0123456789abcdefab", "serial 0123456789abcdefab"},
		{"jwt", "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U", "token {JWT_1}"},
		{"jwt short part", "a.b.c aaaaaaaaaa.bbbbbbbbbb.ccc", "a.b.c aaaaaaaaaa.bbbbbbbbbb.ccc"},
		{"invoice", "faktura FV/2024/00123 i INV-2023-456", "faktura {INVOICE_NUMBER_1} i {INVOICE_NUMBER_2}"},
		{"order", "zamówienie ORD-12345 oraz ORDER98765", "zamówienie {ORDER_NUMBER_1} oraz {ORDER_NUMBER_2}"},
		{"transaction", "ref TRX-20240115-001", "ref {TRANSACTION_REF_1}"},
		{"sim", "ICCID " + spaced(iccid20), "ICCID {SIM_CARD_1}"},
		{"sim 19 is a card", "ICCID " + iccid, "ICCID {CREDIT_CARD_1}"},
		{"passport bad", "paszport AB 1234567", ""},
		{"health bad", "NFZ 12345678/12", ""},
		{"phone intl bad", "tel. +48 albo +4", ""},
		{"invoice bad", "FV/24/001 i INV-2024-12", ""},
		{"order bad", "ORD-12 i ORDER-12345678901", ""},
		{"transaction bad", "TRX-123-001 i TRX-1234-12", ""},
		{"social bad", "fbid1234", ""},
		{"krs bad", "KRS 00001234567", ""},
		{"sim bad", "ICCID " + spaced(breakLast(iccid20, func(s string) bool { return luhn([]byte(s)) })), ""},
		{"social", "fb fbid12345678", "fb {SOCIAL_ID_1}"},
		{"eu vat", "VAT DE123456789", "VAT {EU_VAT_1}"},
		{"eu vat few digits", "VAT ABCDEFGH12", "VAT ABCDEFGH12"},
		{"plain polish", "Zażółć gęślą jaźń — the quick brown fox, 3 koty i 100 psów.", ""},
	}
	m := New()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			want := tt.want
			if want == "" {
				want = tt.in
			}
			var s Session
			got := m.Mask(tt.in, &s)
			if got != want {
				t.Fatalf("Mask(%q)\n got  %q\n want %q", tt.in, got, want)
			}
			if again := m.Mask(got, &s); again != got {
				t.Errorf("masking the output again changed it: %q", again)
			}
			restored := got
			for _, e := range s.Entries() {
				restored = strings.Replace(restored, e.Placeholder(), e.Original, 1)
			}
			if restored != tt.in {
				t.Errorf("mapping does not restore the input: %q", restored)
			}
		})
	}
}

// TestNRBNotAfterCountryCode: 26 digits right after an IBAN country code
// are a (failed) IBAN, not an NRB.
func TestNRBNotAfterCountryCode(t *testing.T) {
	m := New()
	for _, in := range []string{
		"PL61 1090 1014 0000 0712 1981 2875",
		"PL-61 1090 1014 0000 0712 1981 2875",
		"PL 61 1090 1014 0000 0712 1981 2875",
		"PL61109010140000071219812875",
	} {
		var s Session
		out := m.Mask(in, &s)
		for _, e := range s.Entries() {
			if e.Tag == "NRB" || e.Tag == "BANK_ACCOUNT" {
				t.Errorf("Mask(%q) = %q: unexpected %s", in, out, e.Tag)
			}
		}
	}
}

func TestSessionReuseAndNumbering(t *testing.T) {
	m := New()
	var s Session
	a := m.Mask("jan@example.com i ala@example.com", &s)
	b := m.Mask("znowu jan@example.com, tel. 600 700 800", &s)
	if a != "{EMAIL_1} i {EMAIL_2}" || b != "znowu {EMAIL_1}, tel. {PHONE_3}" {
		t.Fatalf("got %q and %q", a, b)
	}
	want := map[string]string{"EMAIL_1": "jan@example.com", "EMAIL_2": "ala@example.com", "PHONE_3": "600 700 800"}
	got := s.Mappings()
	if len(got) != len(want) {
		t.Fatalf("mappings %v", got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("mapping %s = %q, want %q", k, got[k], v)
		}
	}
	// A new session starts numbering again: nothing is shared between requests.
	if c := m.Mask("ala@example.com", &Session{}); c != "{EMAIL_1}" {
		t.Errorf("fresh session: %q", c)
	}
}

func TestNumberingAvoidsExistingPlaceholders(t *testing.T) {
	m := New()
	out, mp, err := m.MaskTexts(context.Background(), []string{"{PERSON_1} jan@example.com", "{PERSON_7}", "ala@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != "{PERSON_1} {EMAIL_2}" || out[2] != "{EMAIL_8}" || mp["EMAIL_2"] != "jan@example.com" || mp["EMAIL_8"] != "ala@example.com" {
		t.Fatalf("got %q %v", out, mp)
	}
}

func TestOptions(t *testing.T) {
	in := "jan@example.com 600 700 800"
	if got := New(Disable("email")).Mask(in, nil); got != "jan@example.com {PHONE_1}" {
		t.Errorf("Disable: %q", got)
	}
	if got := New(Only("EMAIL")).Mask(in, nil); got != "{EMAIL_1} 600 700 800" {
		t.Errorf("Only: %q", got)
	}
	if got := New(Disable("PORT")).Mask("10.0.0.1:80", nil); got != "{IP_1}:80" {
		t.Errorf("Disable PORT: %q", got)
	}
	if !KnownTag("bank_account") || KnownTag("NOPE") || len(Tags()) != int(numRules) {
		t.Error("tag lookup")
	}
}

func TestMaskTexts(t *testing.T) {
	m := New()
	out, mp, err := m.MaskTexts(context.Background(), []string{"a jan@example.com", "b jan@example.com", "c"})
	if err != nil {
		t.Fatal(err)
	}
	if out[0] != "a {EMAIL_1}" || out[1] != "b {EMAIL_1}" || out[2] != "c" || len(mp) != 1 || mp["EMAIL_1"] != "jan@example.com" {
		t.Fatalf("got %q %v", out, mp)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, _, err := m.MaskTexts(ctx, []string{"x"}); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestPlaceholdersLeftAlone(t *testing.T) {
	m := New()
	for _, in := range []string{"{EMAIL_1}", "{DATE_12345} {POSTAL_CODE_1234567}", "{X_1}{Y_2}", "{PESEL_TAGGED_3}"} {
		if got := m.Mask(in, nil); got != in {
			t.Errorf("Mask(%q) = %q", in, got)
		}
	}
	// Braces alone do not protect a value.
	pesel := genPESEL(newRand())
	if got := m.Mask("{"+pesel+"}", nil); got != "{{PESEL_1}}" {
		t.Errorf("got %q", got)
	}
}

func TestNoAllocOnCleanText(t *testing.T) {
	m := New()
	text := cleanText(newRand(), 64<<10)
	var s Session
	if n := testing.AllocsPerRun(5, func() { m.Mask(text, &s) }); n != 0 {
		t.Errorf("clean text: %v allocations per Mask, want 0", n)
	}
	if s.Len() != 0 {
		t.Errorf("clean text masked %d values: %v", s.Len(), s.Mappings())
	}
}

// TestDenseText masks generated PII-dense text: the output is a fixed
// point, the mapping restores the input and no planted PESEL, IBAN or
// card number survives.
func TestDenseText(t *testing.T) {
	m := New()
	r := newRand()
	for i := 0; i < 20; i++ {
		text := denseText(r, 16<<10)
		var s Session
		out := m.Mask(text, &s)
		if again := m.Mask(out, &s); again != out {
			t.Fatalf("not a fixed point:\n%s\n%s", out, again)
		}
		restored := out
		for _, e := range s.Entries() {
			restored = strings.ReplaceAll(restored, e.Placeholder(), e.Original)
		}
		if restored != text {
			t.Fatal("mapping does not restore the input")
		}
		for _, e := range s.Entries() {
			if strings.Contains(out, e.Original) && len(e.Original) > 8 {
				t.Errorf("masked value %q still in the output", e.Original)
			}
		}
	}
	// Every kind of value the generator plants is masked.
	for i := 0; i < 2000; i++ {
		v := piiValue(r)
		out := m.Mask("x "+v+" y", nil)
		if strings.Contains(out, v) {
			t.Errorf("%q not masked: %q", v, out)
		}
	}
}

// TestConcurrentUse masks from several goroutines with one Masker (one
// Session each) and expects the sequential result everywhere.
func TestConcurrentUse(t *testing.T) {
	m := New()
	text := denseText(newRand(), 64<<10)
	want := m.Mask(text, &Session{})
	const n = 4
	got := make([]string, n)
	done := make(chan struct{})
	for i := 0; i < n; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			got[i] = m.Mask(text, &Session{})
		}()
	}
	for i := 0; i < n; i++ {
		<-done
	}
	for i, g := range got {
		if g != want {
			t.Errorf("goroutine %d: different output", i)
		}
	}
}
