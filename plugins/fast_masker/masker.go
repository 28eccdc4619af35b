// Package fastmasker is a rule-based PII masker: it replaces e-mail
// addresses, URLs, IP addresses, Polish identifiers (PESEL, NIP, REGON,
// NRB, KRS), IBANs, card numbers, phone numbers, dates, amounts and other
// identifiers with placeholders such as {PESEL_1}.
//
// All rules run in one left-to-right pass over the text: at each position
// where a rule can start (a word start, a digit run, '+', a currency sign)
// the rules are tried in the order of the original system and the first
// that matches wins, so of two overlapping candidates the leftmost wins.
// Values with a checksum (PESEL, NIP, REGON, IBAN, card numbers, ICCID,
// VIN) are replaced only when the checksum holds.
//
// Placeholders are numbered per Session (one per request): {TAG_n}, n = 1,
// 2, … in order of first appearance, and the same original value reuses its
// placeholder within the session. Numbers continue above any placeholder
// already present in the texts (from a masker earlier in the pipeline), so
// they never collide with it. Masking an already masked text changes
// nothing: placeholders of the form {TAG_n} are never masked again.
//
// Deliberate differences from the rules of the original Python masker, which
// this one otherwise reproduces: VIN uses the real ISO 3779 transliteration
// (J=1, S=2, …) and needs a digit; REGON-14 uses the official weights
// 2,4,8,5,0,9,7,3,6,1,2,4,8; IBAN lengths follow the ISO 13616 registry, an
// IBAN must end at a word boundary and a partly masked one (X) may hold only
// digits and X; an invalid IP keeps its ":port" text; amounts may be plain
// digit runs ("1500 zł"); car plates must be upper case; a phone number may
// end in punctuation ("600 700 800,"); NIP and postal codes must not touch
// letters; a postal code is rejected only when '/' follows it directly; NRB
// is rejected after an IBAN country code only; SSL serials need a letter
// A–F; and the pseudonym map is per request, not process-wide.
package fastmasker

import (
	"context"
	"fmt"
	"strconv"
	"strings"
)

// rule identifies one masking rule; its tag is the placeholder name.
type rule uint8

const (
	rEmail rule = iota
	rURL
	rIP
	rPort
	rPeselTagged
	rPesel
	rNIP
	rREGON
	rDate
	rTime
	rMoney
	rVIN
	rBank
	rCarPlate
	rPostal
	rNRB
	rKRS
	rPassport
	rIDCard
	rSSN
	rHealth
	rPhoneIntl
	rPhone
	rMAC
	rCard
	rSSL
	rJWT
	rInvoice
	rOrder
	rTxRef
	rSIM
	rSocial
	rEUVAT
	numRules
)

// String returns the rule's tag.
func (r rule) String() string {
	switch r {
	case rEmail:
		return "EMAIL"
	case rURL:
		return "URL"
	case rIP:
		return "IP"
	case rPort:
		return "PORT"
	case rPeselTagged:
		return "PESEL_TAGGED"
	case rPesel:
		return "PESEL"
	case rNIP:
		return "NIP"
	case rREGON:
		return "REGON"
	case rDate:
		return "DATE"
	case rTime:
		return "TIME"
	case rMoney:
		return "MONEY"
	case rVIN:
		return "VIN"
	case rBank:
		return "BANK_ACCOUNT"
	case rCarPlate:
		return "CAR_PLATE"
	case rPostal:
		return "POSTAL_CODE"
	case rNRB:
		return "NRB"
	case rKRS:
		return "KRS"
	case rPassport:
		return "PASSPORT"
	case rIDCard:
		return "ID_CARD"
	case rSSN:
		return "SSN"
	case rHealth:
		return "HEALTH_CODE"
	case rPhoneIntl:
		return "PHONE_INTERNATIONAL"
	case rPhone:
		return "PHONE"
	case rMAC:
		return "MAC_ADDRESS"
	case rCard:
		return "CREDIT_CARD"
	case rSSL:
		return "SSL_CERT"
	case rJWT:
		return "JWT"
	case rInvoice:
		return "INVOICE_NUMBER"
	case rOrder:
		return "ORDER_NUMBER"
	case rTxRef:
		return "TRANSACTION_REF"
	case rSIM:
		return "SIM_CARD"
	case rSocial:
		return "SOCIAL_ID"
	case rEUVAT:
		return "EU_VAT"
	}
	return "UNKNOWN"
}

// Tags returns every tag the masker knows, in rule order. PORT is the port
// part of an IP address (IP 10.0.0.1:8080 becomes {IP_1}:{PORT_2}).
func Tags() []string {
	t := make([]string, numRules)
	for r := rule(0); r < numRules; r++ {
		t[r] = r.String()
	}
	return t
}

// KnownTag reports whether tag (case-insensitive) names a rule.
func KnownTag(tag string) bool {
	_, ok := lookupTag(tag)
	return ok
}

func lookupTag(tag string) (rule, bool) {
	for r := rule(0); r < numRules; r++ {
		if strings.EqualFold(r.String(), tag) {
			return r, true
		}
	}
	return 0, false
}

// Option configures a Masker.
type Option func(*Masker)

// Disable turns off the rules with the given tags (case-insensitive);
// unknown tags are ignored (check them with KnownTag).
func Disable(tags ...string) Option {
	return func(m *Masker) {
		for _, t := range tags {
			if r, ok := lookupTag(t); ok {
				m.on[r] = false
			}
		}
	}
}

// Only turns on only the rules with the given tags (case-insensitive).
func Only(tags ...string) Option {
	return func(m *Masker) {
		m.on = [numRules]bool{}
		for _, t := range tags {
			if r, ok := lookupTag(t); ok {
				m.on[r] = true
			}
		}
	}
}

// Masker masks PII in texts. It is immutable after New and safe for
// concurrent use; per-request state lives in a Session.
type Masker struct {
	on [numRules]bool
}

// New returns a Masker with every rule enabled unless opts say otherwise.
func New(opts ...Option) *Masker {
	m := &Masker{}
	for r := range m.on {
		m.on[r] = true
	}
	for _, o := range opts {
		o(m)
	}
	return m
}

// Enabled returns the tags of the enabled rules, in rule order.
func (m *Masker) Enabled() []string {
	var t []string
	for r := rule(0); r < numRules; r++ {
		if m.on[r] {
			t = append(t, r.String())
		}
	}
	return t
}

// Entry is one replacement made in a Session.
type Entry struct {
	// Tag is the rule tag (EMAIL, PESEL, …).
	Tag string
	// N is the placeholder number, 1-based, unique within the session.
	N int
	// Original is the masked value as it appeared in the text.
	Original string
}

// Key returns the mapping key "TAG_n" (the placeholder without braces).
func (e Entry) Key() string { return e.Tag + "_" + strconv.Itoa(e.N) }

// Placeholder returns the text that replaced the value: "{TAG_n}".
func (e Entry) Placeholder() string { return "{" + e.Key() + "}" }

// Session holds the placeholders of one request: their numbering and the
// placeholder → original mapping. Texts masked with the same Session share
// the numbering, and an original value seen twice gets the same placeholder.
// The zero value is ready to use. A Session is not safe for concurrent use
// and holds secrets: never log it.
type Session struct {
	index   map[string]int
	entries []Entry
	// last is the highest placeholder number used or seen in a masked text.
	last int
}

// Len returns the number of distinct values masked so far.
func (s *Session) Len() int { return len(s.entries) }

// Entries returns the replacements in placeholder order. The slice is
// shared with the session; do not modify it.
func (s *Session) Entries() []Entry { return s.entries }

// Mappings returns a new map from "TAG_n" (placeholder without braces) to
// the original value, the shape the original /fast_text_mask returned.
func (s *Session) Mappings() map[string]string {
	mp := make(map[string]string, len(s.entries))
	for _, e := range s.entries {
		mp[e.Key()] = e.Original
	}
	return mp
}

// write appends the placeholder for original to b, allocating a new
// number on first sight.
func (s *Session) write(b *strings.Builder, r rule, original string) {
	if s.index == nil {
		s.index = make(map[string]int)
	}
	i, ok := s.index[original]
	if !ok {
		i = len(s.entries)
		s.index[original] = i
		s.last++
		s.entries = append(s.entries, Entry{Tag: r.String(), N: s.last, Original: original})
	}
	e := &s.entries[i]
	var num [20]byte
	b.WriteByte('{')
	b.WriteString(e.Tag)
	b.WriteByte('_')
	b.Write(strconv.AppendInt(num[:0], int64(e.N), 10))
	b.WriteByte('}')
}

// Mask returns text with every PII value replaced by its placeholder,
// recording replacements in s (a nil s uses a throwaway session). Text
// without PII is returned as is, without copying.
func (m *Masker) Mask(text string, s *Session) string {
	if s == nil {
		s = &Session{}
	}
	sc := scanner{m: m, src: text, sess: s, lastEnd: -1}
	sc.reserve()
	return sc.scan()
}

// MaskTexts masks texts with one fresh Session and returns the masked
// texts (same order) and the mapping "TAG_n" → original. It stops with the
// context's error if ctx is done between texts.
func (m *Masker) MaskTexts(ctx context.Context, texts []string) ([]string, map[string]string, error) {
	var s Session
	out := make([]string, len(texts))
	for i, t := range texts {
		if err := ctx.Err(); err != nil {
			return nil, nil, fmt.Errorf("fast_masker: %w", err)
		}
		out[i] = m.Mask(t, &s)
	}
	return out, s.Mappings(), nil
}
