package fastmasker

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// groups reads digit groups of the sizes in sz (one byte per size), each
// after the first optionally preceded by one separator byte from seps
// (only when a digit follows it). It appends the digits to d and returns
// the end, or -1.
func (sc *scanner) groups(p int, sz, seps string, d []byte) (int, []byte) {
	src := sc.src
	for g := 0; g < len(sz); g++ {
		if g > 0 && p+1 < len(src) && strings.IndexByte(seps, src[p]) >= 0 && isDigit(src[p+1]) {
			p++
		}
		k := int(sz[g])
		if p+k > len(src) {
			return -1, d
		}
		for j := 0; j < k; j++ {
			c := src[p+j]
			if !isDigit(c) {
				return -1, d
			}
			d = append(d, c)
		}
		p += k
	}
	return p, d
}

// alnumEnd returns the end of the ASCII alphanumeric run starting at p.
func (sc *scanner) alnumEnd(p int) int {
	for p < len(sc.src) && isAlnum(sc.src[p]) {
		p++
	}
	return p
}

// alphaEnd returns the end of the ASCII letter run starting at p.
func (sc *scanner) alphaEnd(p int) int {
	for p < len(sc.src) && isAlpha(sc.src[p]) {
		p++
	}
	return p
}

// spacesEnd skips ASCII white space and no-break spaces (U+00A0).
func (sc *scanner) spacesEnd(p int) int {
	src := sc.src
	for p < len(src) {
		if isSpace(src[p]) {
			p++
		} else if src[p] == 0xC2 && p+1 < len(src) && src[p+1] == 0xA0 {
			p += 2
		} else {
			break
		}
	}
	return p
}

// letterRunEnd returns the end of the Unicode letter run starting at p.
func (sc *scanner) letterRunEnd(p int) int {
	src := sc.src
	for p < len(src) {
		c := src[p]
		if c < utf8.RuneSelf {
			if !isAlpha(c) {
				break
			}
			p++
			continue
		}
		r, n := utf8.DecodeRuneInString(src[p:])
		if !unicode.IsLetter(r) {
			break
		}
		p += n
	}
	return p
}

// fold writes the lower-case form of w into buf and returns its length,
// or -1 when w does not fit.
func fold(w string, buf *[32]byte) int {
	n := 0
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if n >= len(buf) {
				return -1
			}
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			buf[n] = c
			n++
			i++
			continue
		}
		r, sz := utf8.DecodeRuneInString(w[i:])
		lr := unicode.ToLower(r)
		if utf8.RuneLen(lr) != sz || n+sz > len(buf) {
			return -1
		}
		utf8.EncodeRune(buf[n:], lr)
		n += sz
		i += sz
	}
	return n
}

// isENMonth reports whether w is an English month name or abbreviation.
func isENMonth(w string) bool {
	var buf [32]byte
	n := fold(w, &buf)
	if n < 3 || n > 9 {
		return false
	}
	switch string(buf[:n]) {
	case "january", "jan", "february", "feb", "march", "mar", "april", "apr", "may", "june", "jun",
		"july", "jul", "august", "aug", "september", "sep", "october", "oct", "november", "nov",
		"december", "dec":
		return true
	}
	return false
}

// isPLMonth reports whether w is a Polish month name (nominative or
// genitive) or abbreviation.
func isPLMonth(w string) bool {
	var buf [32]byte
	n := fold(w, &buf)
	if n < 3 {
		return false
	}
	switch string(buf[:n]) {
	case "styczeń", "stycznia", "sty", "luty", "lutego", "lut", "marzec", "marca", "mar",
		"kwiecień", "kwietnia", "kwi", "maj", "maja", "czerwiec", "czerwca", "cze",
		"lipiec", "lipca", "lip", "sierpień", "sierpnia", "sie", "wrzesień", "września", "wrz",
		"październik", "października", "paź", "listopad", "listopada", "lis",
		"grudzień", "grudnia", "gru":
		return true
	}
	return false
}

// isCurrencyCode reports whether w is one of the ISO currency codes the
// masker knows (any case).
func isCurrencyCode(w string) bool {
	var buf [32]byte
	if len(w) != 3 || fold(w, &buf) != 3 {
		return false
	}
	switch string(buf[:3]) {
	case "usd", "eur", "gbp", "pln", "chf", "cad", "aud", "jpy", "nok", "sek", "dkk", "czk",
		"huf", "rub", "cny", "inr":
		return true
	}
	return false
}

// isCurrencyWord reports whether w is a Polish name of a currency.
func isCurrencyWord(w string) bool {
	var buf [32]byte
	n := fold(w, &buf)
	if n < 2 {
		return false
	}
	switch string(buf[:n]) {
	case "zł", "złoty", "złote", "złotych", "złotymi", "dolar", "dolara", "dolarów", "dolary",
		"dolarami", "euro", "eura", "eurów", "eurem", "funt", "funty", "funtów", "funtami",
		"rubel", "rubla", "rubli", "rublami":
		return true
	}
	return false
}

// specialWord reports whether the pure-letter word w can start a rule
// when followed by white space: an English month, PESEL or localhost.
func specialWord(w string) bool {
	switch w[0] | 0x20 {
	case 'p':
		return strings.EqualFold(w, "pesel")
	case 'l':
		return strings.EqualFold(w, "localhost")
	case 'j', 'f', 'm', 'a', 's', 'o', 'n', 'd':
		return isENMonth(w)
	}
	return false
}

// letterStart tries the rules that start with an ASCII letter at p, a
// word start (or a word glued to markdown markers, where only an amount
// with a currency code may start).
func (sc *scanner) letterStart(p int) int {
	src := sc.src
	on := &sc.m.on
	ws := !sc.wordBefore(p)
	a := sc.alnumEnd(p)
	hasDigit := false
	for k := p; k < a; k++ {
		if isDigit(src[k]) {
			hasDigit = true
			break
		}
	}
	nb := sc.byteAt(a)
	if nb >= utf8.RuneSelf && sc.wordAt(a) {
		return -1 // the word goes on with a non-ASCII letter: no rule fits
	}
	if !hasDigit {
		switch {
		case a-p <= 3:
			nx := sc.byteAt(sc.spacesEnd(a))
			if !isDigit(nx) && nb != ':' && nb != '.' && nb != '-' && nb != '_' && nb != '/' {
				return -1
			}
		case a-p < 16:
			if nb != ':' && nb != '.' && nb != '-' && nb != '_' && nb != '/' && !specialWord(src[p:a]) {
				return -1
			}
		}
	}
	if !ws {
		// Only amounts may follow markdown markers glued to a word.
		if on[rMoney] {
			return sc.moneyCode(p)
		}
		return -1
	}
	return sc.letterRules(p, a, hasDigit)
}

// letterRules tries, in order of priority, the rules that may start at a
// word start with an ASCII letter at p, the alphanumeric run ending at a.
func (sc *scanner) letterRules(p, a int, hasDigit bool) int {
	on := &sc.m.on
	f := sc.src[p] | 0x20
	if on[rURL] && (f == 'h' || f == 'w') {
		if e := sc.url(p); e > 0 {
			return e
		}
	}
	if on[rIP] {
		if f == 'l' {
			if e := sc.localhost(p); e > 0 {
				return e
			}
		}
		if f <= 'f' {
			if e := sc.ipv6(p); e > 0 {
				return e
			}
		}
	}
	if on[rPeselTagged] && f == 'p' {
		if e := sc.peselTagged(p, a); e > 0 {
			return e
		}
	}
	if on[rDate] {
		if e := sc.dateEN(p, a); e > 0 {
			return e
		}
	}
	if on[rMoney] {
		if e := sc.moneyCode(p); e > 0 {
			return e
		}
	}
	if !hasDigit && a-p > 3 && a-p < 16 {
		// Pure words: besides the above only JWT, invoice, order and
		// transaction references can start here.
		return sc.tokenRules(p, a)
	}
	return sc.codeRules(p, a)
}

// codeRules tries the rules of codes mixing letters and digits (VIN, IBAN,
// car plate, passport, ID card, MAC, SSL serial, tokens, social handles,
// EU VAT) at p, the alphanumeric run ending at a.
func (sc *scanner) codeRules(p, a int) int {
	on := &sc.m.on
	if on[rVIN] {
		if e := sc.vin(p, a); e > 0 {
			return e
		}
	}
	if on[rBank] {
		if e := sc.iban(p); e > 0 {
			return e
		}
	}
	if on[rCarPlate] {
		if e := sc.carPlate(p); e > 0 {
			return e
		}
	}
	if on[rPassport] {
		if e := sc.lettersDigits(p, a, 2, 7, rPassport); e > 0 {
			return e
		}
	}
	if on[rIDCard] {
		if e := sc.lettersDigits(p, a, 3, 6, rIDCard); e > 0 {
			return e
		}
	}
	if on[rMAC] {
		if e := sc.mac(p); e > 0 {
			return e
		}
	}
	if on[rSSL] {
		if e := sc.ssl(p, a); e > 0 {
			return e
		}
	}
	if e := sc.tokenRules(p, a); e > 0 {
		return e
	}
	if on[rSocial] {
		if e := sc.social(p, a); e > 0 {
			return e
		}
	}
	if on[rEUVAT] {
		if e := sc.euVAT(p, a); e > 0 {
			return e
		}
	}
	return -1
}

// tokenRules tries JWT, invoice, order and transaction references.
func (sc *scanner) tokenRules(p, a int) int {
	on := &sc.m.on
	f := sc.src[p] | 0x20
	if on[rJWT] {
		if e := sc.jwt(p); e > 0 {
			return e
		}
	}
	if on[rInvoice] && (f == 'f' || f == 'i') {
		if e := sc.invoice(p); e > 0 {
			return e
		}
	}
	if on[rOrder] && f == 'o' {
		if e := sc.order(p); e > 0 {
			return e
		}
	}
	if on[rTxRef] {
		if e := sc.txRef(p); e > 0 {
			return e
		}
	}
	return -1
}

// digitStart tries the rules that start with a digit at p (the first digit
// of a run).
func (sc *scanner) digitStart(p int) int {
	on := &sc.m.on
	ws := !sc.wordBefore(p)
	wsw := ws || !sc.wordBeforeWrap(p)
	pd := isDigit(sc.pb(p))
	if pd {
		return -1
	}
	l := sc.digitsEnd(p) - p
	if l < 9 && l != 5 {
		// Short numbers need something after them: a separator, a glued
		// letter, or white space and a digit, currency or month.
		end := p + l
		nb := sc.byteAt(end)
		switch {
		case nb == '.' || nb == ':' || nb == '-' || nb == '/' || nb == '_' || nb == '*' || nb == '$' ||
			nb >= utf8.RuneSelf || isAlpha(nb) || nb == ',' && sc.digitAtPos(end+1):
		case isSpace(nb):
			q := sc.spacesEnd(end)
			if c := sc.byteAt(q); !isDigit(c) && c != '-' {
				if !isAlpha(c) && c < utf8.RuneSelf && c != '$' {
					return -1
				}
				// Only an amount with a currency or a date can follow.
				if wsw && on[rMoney] {
					if e := sc.moneyAmount(p, p, true); e > 0 {
						return e
					}
				}
				if ws && on[rDate] && (l <= 2 || l == 4) {
					return sc.dateWords(p, l)
				}
				return -1
			}
		default:
			return -1
		}
	}
	return sc.numberRules(p, l, ws, wsw)
}

// numberRules tries, in order of priority, the rules that may start with
// the run of l digits at p; ws: p is a word start, wsw: it is one once
// markdown markers (_ and *) before it are skipped.
func (sc *scanner) numberRules(p, l int, ws, wsw bool) int {
	on := &sc.m.on
	if ws && on[rIP] {
		if e := sc.ipv4(p); e > 0 {
			return e
		}
		if e := sc.ipv6(p); e > 0 {
			return e
		}
	}
	if wsw && l == 11 && on[rPesel] {
		if e := sc.pesel(p); e > 0 {
			return e
		}
	}
	if wsw && on[rNIP] && (l == 3 || l == 6 || l == 8 || l == 10) {
		if e := sc.nip(p); e > 0 {
			return e
		}
	}
	if ws && on[rREGON] && l <= 14 {
		if e := sc.regon(p); e > 0 {
			return e
		}
	}
	if on[rDate] {
		if ws && (l <= 2 || l == 4) {
			if e := sc.dateWords(p, l); e > 0 {
				return e
			}
		}
		if l <= 2 || l == 4 {
			if e := sc.dateNum(p, l); e > 0 {
				return e
			}
		}
	}
	if wsw && on[rMoney] {
		if e := sc.moneyAmount(p, p, true); e > 0 {
			return e
		}
	}
	if ws && on[rTime] && l <= 2 {
		if e := sc.time(p, l); e > 0 {
			return e
		}
	}
	if ws && on[rVIN] {
		if e := sc.vin(p, sc.alnumEnd(p)); e > 0 {
			return e
		}
	}
	if wsw && on[rPostal] && (l == 2 || l == 5) {
		if e := sc.postal(p, l); e > 0 {
			return e
		}
	}
	if on[rNRB] && l <= 26 && (l-2)%4 == 0 {
		if e := sc.nrb(p); e > 0 {
			return e
		}
	}
	if !ws {
		return -1
	}
	return sc.wordNumberRules(p, l)
}

// wordNumberRules tries the rules that only a word start may begin with
// the run of l digits at p: KRS, SSN, health insurance, phone, MAC, card,
// SSL serial, JWT, SIM.
func (sc *scanner) wordNumberRules(p, l int) int {
	on := &sc.m.on
	if on[rKRS] && (l == 3 || l == 6 || l == 8 || l == 10) {
		var buf [16]byte
		if e, _ := sc.groups(p, "\x03\x03\x02\x02", " -", buf[:0]); e > 0 && !sc.wordAt(e) {
			sc.emit(p, e, rKRS)
			return e
		}
	}
	if on[rSSN] && l == 3 {
		if e := sc.ssn(p); e > 0 {
			return e
		}
	}
	if on[rHealth] && l == 8 && sc.byteAt(p+8) == '/' && sc.digitsEnd(p+9)-(p+9) == 3 && !sc.wordAt(p+12) {
		sc.emit(p, p+12, rHealth)
		return p + 12
	}
	if on[rPhone] {
		if e := sc.phone(p, l); e > 0 {
			return e
		}
	}
	if on[rMAC] {
		if e := sc.mac(p); e > 0 {
			return e
		}
	}
	if on[rCard] && l >= 4 {
		if e := sc.card(p); e > 0 {
			return e
		}
	}
	if on[rSSL] {
		if e := sc.ssl(p, sc.alnumEnd(p)); e > 0 {
			return e
		}
	}
	if on[rJWT] {
		if e := sc.jwt(p); e > 0 {
			return e
		}
	}
	if on[rSIM] && l >= 4 {
		if e := sc.sim(p); e > 0 {
			return e
		}
	}
	return -1
}
