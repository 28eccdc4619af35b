package fastmasker

import "strings"

// The rules, in the order of the original system. Each is tried at a
// candidate start p; on a match it emits the replacement(s) and returns the
// position where scanning continues, otherwise it returns -1 and emits
// nothing.

// ---- 1. e-mail ----

// email matches the local part src[i:at] '@' domain '.' TLD (2+ letters).
func (sc *scanner) email(i, at int) int {
	src := sc.src
	d := at + 1
	de := d
	for de < len(src) && (isAlnum(src[de]) || src[de] == '.' || src[de] == '-') {
		de++
	}
	e := sc.domainEnd(d, de)
	if e < 0 {
		return -1
	}
	sc.emit(i, e, rEmail)
	return e
}

// domainEnd finds, inside the host run src[d:de], the rightmost '.'
// (not first) followed by two or more letters and returns the end of those
// letters, or -1.
func (sc *scanner) domainEnd(d, de int) int {
	src := sc.src
	for q := de - 1; q > d; q-- {
		if src[q] != '.' {
			continue
		}
		k := q + 1
		for k < de && isAlpha(src[k]) {
			k++
		}
		if k-(q+1) >= 2 {
			return k
		}
	}
	return -1
}

// ---- 2. URL ----

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// pathEnd consumes a URL path: everything up to white space or ')'.
func (sc *scanner) pathEnd(q int) int {
	src := sc.src
	for q < len(src) && !isSpace(src[q]) && src[q] != ')' {
		if src[q] == 0xC2 && q+1 < len(src) && src[q+1] == 0xA0 {
			break
		}
		q++
	}
	return q
}

func (sc *scanner) url(p int) int {
	src := sc.src
	rest := src[p:]
	var h int
	switch {
	case hasPrefixFold(rest, "https://"):
		h = p + 8
	case hasPrefixFold(rest, "http://"):
		h = p + 7
	case hasPrefixFold(rest, "www."):
		h = p + 4
		he := h
		for he < len(src) && (isAlnum(src[he]) || src[he] == '.' || src[he] == '-') {
			he++
		}
		if h >= len(src) || !isAlnum(src[h]) {
			return -1
		}
		// www.label.tld: the rightmost TLD that is followed by a path or
		// by neither a word character nor '('.
		for q := he - 1; q > h; q-- {
			if src[q] != '.' {
				continue
			}
			e := q + 1
			for e < he && isAlpha(src[e]) {
				e++
			}
			if e-(q+1) < 2 {
				continue
			}
			if sc.byteAt(e) == '/' {
				e = sc.pathEnd(e)
			} else if sc.wordAt(e) || sc.byteAt(e) == '(' {
				continue
			}
			sc.emit(p, e, rURL)
			return e
		}
		return -1
	default:
		return -1
	}
	he := h
	for he < len(src) && (isAlnum(src[he]) || src[he] == '.' || src[he] == '-') {
		he++
	}
	host := src[h:he]
	var e int
	if strings.EqualFold(host, "localhost") || isIPv4(host) {
		e = he
		if sc.byteAt(e) == ':' && sc.digitAtPos(e+1) {
			e = sc.digitsEnd(e + 1)
		}
		if sc.byteAt(e) == '/' {
			e = sc.pathEnd(e)
		}
	} else {
		e = sc.domainEnd(h, he)
		if e < 0 {
			return -1
		}
		if c := sc.byteAt(e); c == '/' || c == ':' {
			e = sc.pathEnd(e)
		}
	}
	sc.emit(p, e, rURL)
	return e
}

// isIPv4 reports whether s is exactly four dot-separated octets 0–255.
func isIPv4(s string) bool {
	parts := 0
	for s != "" {
		var oct string
		oct, s, _ = strings.Cut(s, ".")
		if len(oct) == 0 || len(oct) > 3 {
			return false
		}
		v := 0
		for i := 0; i < len(oct); i++ {
			if !isDigit(oct[i]) {
				return false
			}
			v = v*10 + digitAt(oct[i])
		}
		if v > 255 {
			return false
		}
		parts++
	}
	return parts == 4
}

// ---- 3. IP (+ PORT) ----

// port emits an optional ":port" after an address ending at e.
func (sc *scanner) port(e int) int {
	if sc.byteAt(e) != ':' || !sc.digitAtPos(e+1) {
		return e
	}
	pe := sc.digitsEnd(e + 1)
	if pe-(e+1) > 5 || sc.wordAt(pe) {
		return e
	}
	v := 0
	for k := e + 1; k < pe; k++ {
		v = v*10 + digitAt(sc.src[k])
	}
	if v < 1 || v > 65535 || !sc.m.on[rPort] {
		return e
	}
	sc.emit(e+1, pe, rPort)
	return pe
}

func (sc *scanner) localhost(p int) int {
	if !hasPrefixFold(sc.src[p:], "localhost") || sc.wordAt(p+9) {
		return -1
	}
	sc.emit(p, p+9, rIP)
	return sc.port(p + 9)
}

func (sc *scanner) ipv4(p int) int {
	q := p
	for k := 0; k < 4; k++ {
		if k > 0 {
			if sc.byteAt(q) != '.' {
				return -1
			}
			q++
		}
		e := sc.digitsEnd(q)
		if e == q || e-q > 3 {
			return -1
		}
		v := 0
		for j := q; j < e; j++ {
			v = v*10 + digitAt(sc.src[j])
		}
		if v > 255 {
			return -1
		}
		q = e
	}
	if sc.wordAt(q) {
		return -1
	}
	sc.emit(p, q, rIP)
	return sc.port(q)
}

func (sc *scanner) ipv6(p int) int {
	src := sc.src
	q := p
	for k := 0; k < 8; k++ {
		if k > 0 {
			if sc.byteAt(q) != ':' {
				return -1
			}
			q++
		}
		s := q
		for q < len(src) && isHex(src[q]) && q-s < 5 {
			q++
		}
		if q == s || q-s > 4 {
			return -1
		}
	}
	if sc.wordAt(q) {
		return -1
	}
	sc.emit(p, q, rIP)
	return q
}

// ---- 4, 5. PESEL ----

func (sc *scanner) peselTagged(p, a int) int {
	if a-p != 5 || !strings.EqualFold(sc.src[p:a], "pesel") {
		return -1
	}
	q := a
	for q < len(sc.src) && q-a < 4 && (sc.src[q] == ':' || isSpace(sc.src[q])) {
		q++
	}
	if q == a {
		return -1
	}
	e := sc.digitsEnd(q)
	var buf [11]byte
	if e-q != 11 || sc.wordAtWrap(e) || !validPESEL(buf[:copy(buf[:], sc.src[q:e])]) {
		return -1
	}
	sc.emit(q, e, rPeselTagged)
	return e
}

func (sc *scanner) pesel(p int) int {
	e := p + 11
	if sc.wordAtWrap(e) {
		return -1
	}
	var buf [11]byte
	copy(buf[:], sc.src[p:e])
	if !validPESEL(buf[:]) {
		return -1
	}
	sc.emit(p, e, rPesel)
	return e
}

// ---- 6. NIP, 7. REGON, 17. KRS ----

func (sc *scanner) nip(p int) int {
	var buf [16]byte
	e, d := sc.groups(p, "\x03\x03\x02\x02", "-", buf[:0])
	if e < 0 || sc.wordAtWrap(e) || !validNIP(d) {
		return -1
	}
	sc.emit(p, e, rNIP)
	return e
}

func (sc *scanner) regon(p int) int {
	var buf [16]byte
	e9, d := sc.groups(p, "\x02\x03\x04", " ", buf[:0])
	if e9 < 0 {
		return -1
	}
	q := e9
	if sc.byteAt(q) == ' ' {
		q++
	}
	if e14, d14 := sc.groups(q, "\x05", "", d); e14 > 0 && !sc.wordAt(e14) && validREGON(d14) {
		sc.emit(p, e14, rREGON)
		return e14
	}
	if sc.wordAt(e9) || !validREGON(d[:9]) {
		return -1
	}
	sc.emit(p, e9, rREGON)
	return e9
}

// ---- 8, 9. dates ----

// dateEN matches "Month DD[st|nd|rd|th][,] YYYY" with the month at p.
func (sc *scanner) dateEN(p, a int) int {
	if !isENMonth(sc.src[p:a]) {
		return -1
	}
	q := sc.spacesEnd(a)
	if q == a {
		return -1
	}
	e := sc.digitsEnd(q)
	if e == q || e-q > 2 {
		return -1
	}
	e = sc.ordinal(e)
	y := e
	if sc.byteAt(y) == ',' {
		y = sc.spacesEnd(y + 1)
	} else {
		y = sc.spacesEnd(y)
		if y == e {
			return -1
		}
	}
	ye := sc.digitsEnd(y)
	if ye-y != 4 || sc.wordAt(ye) {
		return -1
	}
	sc.emit(p, ye, rDate)
	return ye
}

// ordinal skips an English ordinal suffix at e.
func (sc *scanner) ordinal(e int) int {
	if e+2 <= len(sc.src) {
		switch string([]byte{sc.src[e] | 0x20, sc.src[e+1] | 0x20}) {
		case "st", "nd", "rd", "th":
			return e + 2
		}
	}
	return e
}

// dateWords matches "DD month YYYY" (Polish or English, English with an
// optional ordinal) and "YYYY month DD" (Polish) with l digits at p.
func (sc *scanner) dateWords(p, l int) int {
	q := p + l
	en := false
	if l <= 2 {
		if o := sc.ordinal(q); o != q {
			q, en = o, true
		}
	}
	m := sc.spacesEnd(q)
	if m == q {
		return -1
	}
	me := sc.letterRunEnd(m)
	if me == m {
		return -1
	}
	month := sc.src[m:me]
	pl := !en && isPLMonth(month)
	if !pl && !(l <= 2 && isENMonth(month)) {
		return -1
	}
	y := sc.spacesEnd(me)
	if y == me {
		return -1
	}
	ye := sc.digitsEnd(y)
	want := 4
	if l == 4 {
		if !pl || ye-y > 2 || ye == y {
			return -1
		}
		want = ye - y
	}
	if ye-y != want || sc.wordAt(ye) {
		return -1
	}
	sc.emit(p, ye, rDate)
	return ye
}

// dateNum matches YYYY-MM-DD and DD-MM-YYYY with separators - . / (white
// space allowed around them), month 1–12, day 1–31.
func (sc *scanner) dateNum(p, l int) int {
	num := func(s, e int) int {
		v := 0
		for k := s; k < e; k++ {
			v = v*10 + digitAt(sc.src[k])
		}
		return v
	}
	sep := func(q int) int {
		s := q
		if sc.byteAt(s) == ' ' {
			s++
		}
		if c := sc.byteAt(s); c != '-' && c != '.' && c != '/' {
			return -1
		}
		s++
		if sc.byteAt(s) == ' ' {
			s++
		}
		if !sc.digitAtPos(s) {
			return -1
		}
		return s
	}
	q := sep(p + l)
	if q < 0 {
		return -1
	}
	me := sc.digitsEnd(q)
	if me-q > 2 {
		return -1
	}
	month := num(q, me)
	r := sep(me)
	if r < 0 {
		return -1
	}
	re := sc.digitsEnd(r)
	var day int
	switch {
	case l == 4 && re-r <= 2:
		day = num(r, re)
	case l <= 2 && re-r == 4:
		day = num(p, p+l)
	default:
		return -1
	}
	if month < 1 || month > 12 || day < 1 || day > 31 {
		return -1
	}
	sc.emit(p, re, rDate)
	return re
}

// ---- 10. time ----

func (sc *scanner) time(p, l int) int {
	s := sc.byteAt(p + l)
	if s != ':' && !(s == '.' && l == 2) {
		return -1
	}
	m := p + l + 1
	me := sc.digitsEnd(m)
	if me-m != 2 || sc.wordAt(me) {
		return -1
	}
	h := 0
	for k := p; k < p+l; k++ {
		h = h*10 + digitAt(sc.src[k])
	}
	mm := digitAt(sc.src[m])*10 + digitAt(sc.src[m+1])
	if h > 23 || mm > 59 {
		return -1
	}
	sc.emit(p, me, rTime)
	return me
}

// ---- 11. money ----

// amount reads 1–3 digits with groups of 3 (separated by space, comma,
// dot or no-break space) or a plain digit run, then an optional decimal
// part (. or , and 1–2 digits). It returns the end or -1.
func (sc *scanner) amount(p int) int {
	src := sc.src
	e := sc.digitsEnd(p)
	if e == p {
		return -1
	}
	if e-p <= 3 {
		for {
			q := e
			if q < len(src) && (src[q] == ' ' || src[q] == ',' || src[q] == '.') {
				q++
			} else if q+1 < len(src) && src[q] == 0xC2 && src[q+1] == 0xA0 {
				q += 2
			} else {
				break
			}
			g := sc.digitsEnd(q)
			if g-q != 3 {
				break
			}
			e = g
		}
	}
	if c := sc.byteAt(e); (c == '.' || c == ',') && sc.digitAtPos(e+1) {
		if g := sc.digitsEnd(e + 1); g-(e+1) <= 2 {
			e = g
		}
	}
	return e
}

// currency returns the end of a currency sign, code or Polish currency word
// at q, or -1.
func (sc *scanner) currency(q int) int {
	src := sc.src
	if q >= len(src) {
		return -1
	}
	switch c := src[q]; {
	case c == '$':
		return q + 1
	case c == 0xC2 && q+1 < len(src) && (src[q+1] == 0xA3 || src[q+1] == 0xA5):
		return q + 2
	case c == 0xE2 && q+2 < len(src) && src[q+1] == 0x82 && (src[q+2] == 0xAC || src[q+2] == 0xBD || src[q+2] == 0xB9):
		return q + 3
	}
	e := sc.letterRunEnd(q)
	if e == q {
		return -1
	}
	w := src[q:e]
	if isCurrencyCode(w) || isCurrencyWord(w) {
		return e
	}
	return -1
}

// magnitude returns the end of "tys.", "mln" or "mld" at q, or -1.
func (sc *scanner) magnitude(q int) int {
	rest := sc.src[q:]
	if hasPrefixFold(rest, "tys.") {
		return q + 4
	}
	if (hasPrefixFold(rest, "mln") || hasPrefixFold(rest, "mld")) && !sc.wordAt(q+3) {
		return q + 3
	}
	return -1
}

// moneyAmount matches amount [magnitude] [currency] at a; s is where the
// match starts (the prefix sign or code, or a itself); needSuffix demands
// the currency after the amount.
func (sc *scanner) moneyAmount(s, a int, needSuffix bool) int {
	e := sc.amount(a)
	if e < 0 {
		return -1
	}
	// Like the regular expression's backtracking: with the magnitude, then
	// without; with the currency suffix, then (if optional) without.
	bases := [2]int{sc.magnitude(sc.spacesEnd(e)), e}
	for _, base := range bases {
		if base < 0 {
			continue
		}
		if c := sc.currency(sc.spacesEnd(base)); c > 0 && !sc.wordAtWrap(c) {
			sc.emit(s, c, rMoney)
			return c
		}
		if !needSuffix && !sc.wordAtWrap(base) {
			sc.emit(s, base, rMoney)
			return base
		}
	}
	return -1
}

// moneySymbolPrefix matches a currency sign of size bytes at i followed by
// an amount.
func (sc *scanner) moneySymbolPrefix(i, size int) int {
	if !sc.m.on[rMoney] || sc.wordBeforeWrap(i) {
		return -1
	}
	a := sc.spacesEnd(i + size)
	if !sc.digitAtPos(a) {
		return -1
	}
	return sc.moneyAmount(i, a, false)
}

// moneyCode matches a currency code at p followed by an amount.
func (sc *scanner) moneyCode(p int) int {
	e := sc.alphaEnd(p)
	if !isCurrencyCode(sc.src[p:e]) || sc.wordBeforeWrap(p) {
		return -1
	}
	a := sc.spacesEnd(e)
	if !sc.digitAtPos(a) {
		return -1
	}
	return sc.moneyAmount(p, a, false)
}

// ---- 12. VIN ----

func (sc *scanner) vin(p, a int) int {
	if a-p != 17 || sc.wordAt(a) {
		return -1
	}
	v := sc.src[p:a]
	if !strings.ContainsAny(v, "0123456789") || !validVIN(v) {
		return -1
	}
	sc.emit(p, a, rVIN)
	return a
}

// ---- 13. IBAN ----

func isIBANSep(c byte) bool {
	return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f' || c == '-'
}

func (sc *scanner) iban(p int) int {
	src := sc.src
	if p+2 > len(src) || !isAlpha(src[p+1]) {
		return -1
	}
	n := ibanLen(upper(src[p]), upper(src[p+1]))
	if n == 0 {
		return -1
	}
	var buf [40]byte
	d := append(buf[:0], src[p], src[p+1])
	q := p + 2
	// Anchor: optional separator, then two digits or two characters of
	// which the second is not followed by a letter.
	if q < len(src) && (isIBANSep(src[q]) || src[q] == '\n') {
		q++
	}
	if q+2 <= len(src) && isDigit(src[q]) && isDigit(src[q+1]) {
		d = append(d, src[q], src[q+1])
		q += 2
	} else {
		for k := 0; k < 2; k++ {
			if k > 0 && q < len(src) && isIBANSep(src[q]) {
				q++
			}
			if q >= len(src) || !isAlnum(src[q]) {
				return -1
			}
			d = append(d, src[q])
			q++
		}
		if q < len(src) && isAlpha(src[q]) {
			return -1
		}
	}
	for len(d) < n && q < len(src) {
		c := src[q]
		if isIBANSep(c) {
			q++
			continue
		}
		if !isAlnum(c) {
			break
		}
		d = append(d, c)
		q++
	}
	if len(d) != n || sc.wordAt(q) {
		return -1
	}
	// A partly masked account (digits hidden behind X) skips the checksum;
	// it must then consist of digits and X only after the country code.
	hasX, other := false, false
	for _, c := range d[2:] {
		switch {
		case c == 'X' || c == 'x':
			hasX = true
		case !isDigit(c):
			other = true
		}
	}
	if hasX && other || !hasX && ibanMod97(d) != 1 {
		return -1
	}
	sc.emit(p, q, rBank)
	return q
}

// ---- 14. car plate ----

func (sc *scanner) carPlate(p int) int {
	src := sc.src
	if sc.pb(p) == '-' && isAlpha(sc.pb(p-1)) && isAlpha(sc.pb(p-2)) {
		return -1
	}
	l := p
	for l < len(src) && isUpper(src[l]) {
		l++
	}
	a1 := l - p
	if a1 < 2 || a1 > 3 {
		return -1
	}
	q := l
	if sc.byteAt(q) == ' ' {
		q++
	}
	de := sc.digitsEnd(q)
	dn := de - q
	e := de
	for e < len(src) && isUpper(src[e]) {
		e++
	}
	a2 := e - de
	if sc.wordAt(e) {
		return -1
	}
	ok := false
	if a1 == 2 {
		ok = (dn == 5 && a2 == 0) || (dn == 2 && a2 == 2) || (dn == 3 && a2 == 2) || (dn == 4 && a2 == 1)
	} else {
		ok = (dn == 4 || dn == 5) && a2 <= 1
	}
	if !ok {
		return -1
	}
	sc.emit(p, e, rCarPlate)
	return e
}

// ---- 15. postal code ----

func (sc *scanner) postal(p, l int) int {
	e := p + l
	if l == 2 {
		if sc.byteAt(e) != '-' {
			return -1
		}
		g := sc.digitsEnd(e + 1)
		if g-(e+1) != 3 {
			return -1
		}
		e = g
	}
	// "12-345/2024" is a case or document number, not a postal code.
	if sc.wordAtWrap(e) || sc.byteAt(sc.spacesEnd(e)) == '/' {
		return -1
	}
	sc.emit(p, e, rPostal)
	return e
}

// ---- 16. NRB ----

func (sc *scanner) nrb(p int) int {
	// Not the tail of an IBAN: no country code (as in "PL61…", "PL 61…",
	// "PL-61…") right before.
	c1 := sc.pb(p)
	if isAlpha(c1) && isAlpha(sc.pb(p-1)) {
		return -1
	}
	if (c1 == ' ' || c1 == '-') && isAlpha(sc.pb(p-1)) && isAlpha(sc.pb(p-2)) && !isAlpha(sc.pb(p-3)) &&
		ibanLen(upper(sc.pb(p-2)), upper(sc.pb(p-1))) > 0 {
		return -1
	}
	var buf [32]byte
	e, _ := sc.groups(p, "\x02\x04\x04\x04\x04\x04\x04", " -", buf[:0])
	if e < 0 || sc.digitAtPos(e) {
		return -1
	}
	sc.emit(p, e, rNRB)
	return e
}

// ---- 18. passport, 19. ID card ----

// lettersDigits matches exactly nl letters and nd digits as one word.
func (sc *scanner) lettersDigits(p, a, nl, nd int, r rule) int {
	if a-p != nl+nd || sc.wordAt(a) {
		return -1
	}
	for k := p; k < a; k++ {
		if (k < p+nl) != isAlpha(sc.src[k]) {
			return -1
		}
	}
	sc.emit(p, a, r)
	return a
}

// ---- 20. SSN ----

func (sc *scanner) ssn(p int) int {
	var buf [9]byte
	q := p + 3
	if sc.byteAt(q) != '-' || sc.digitsEnd(q+1)-(q+1) != 2 || sc.byteAt(q+3) != '-' || sc.digitsEnd(q+4)-(q+4) != 4 || sc.wordAt(q+8) {
		return -1
	}
	e, d := sc.groups(p, "\x03\x02\x04", "-", buf[:0])
	area := digitAt(d[0])*100 + digitAt(d[1])*10 + digitAt(d[2])
	group := digitAt(d[3])*10 + digitAt(d[4])
	serial := digitAt(d[5])*1000 + digitAt(d[6])*100 + digitAt(d[7])*10 + digitAt(d[8])
	if !validSSN(area, group, serial) {
		return -1
	}
	sc.emit(p, e, rSSN)
	return e
}

// ---- 22. international phone ----

func (sc *scanner) phoneIntl(p int) int {
	src := sc.src
	var ends [8]int
	var lens [8]int
	n := 0
	q := p + 1
	for n < len(ends) {
		e := sc.digitsEnd(q)
		if e == q {
			break
		}
		ends[n], lens[n] = e, e-q
		n++
		if e+1 < len(src) && (src[e] == ' ' || src[e] == '-') && isDigit(src[e+1]) {
			q = e + 1
			continue
		}
		break
	}
	if n == 0 {
		return -1
	}
	for k := n; k >= 1; k-- {
		for c := 1; c <= 3 && c <= lens[0]; c++ {
			rem := lens[0] - c
			lo, hi := (rem+3)/4, rem
			for j := 1; j < k; j++ {
				lo += (lens[j] + 3) / 4
				hi += lens[j]
			}
			if lo <= 5 && hi >= 2 {
				e := ends[k-1]
				sc.emit(p, e, rPhoneIntl)
				return e
			}
		}
	}
	return -1
}

// ---- 23. Polish phone ----

func (sc *scanner) phone(p, l int) int {
	src := sc.src
	if l == 9 && !sc.wordAt(p+9) {
		var buf [9]byte
		if validPLMobile(buf[:copy(buf[:], src[p:p+9])]) {
			sc.emit(p, p+9, rPhone)
			return p + 9
		}
	}
	if l < 2 || l > 5 {
		return -1
	}
	var ends [5]int
	ends[0] = p + l
	n := 1
	for n < 5 {
		e := ends[n-1]
		if e+1 < len(src) && (src[e] == ' ' || src[e] == '-') && isDigit(src[e+1]) {
			g := sc.digitsEnd(e + 1)
			if g-(e+1) > 4 {
				break
			}
			ends[n] = g
			n++
			continue
		}
		break
	}
	for k := n - 1; k >= 2; k-- {
		e := ends[k]
		c := sc.byteAt(e)
		okEnd := e >= len(src) || isSpace(c) || (!sc.wordAt(e) && !((c == ' ' || c == '-') && sc.digitAtPos(e+1)))
		if !okEnd {
			continue
		}
		var buf [24]byte
		d := buf[:0]
		for q := p; q < e; q++ {
			if isDigit(src[q]) {
				d = append(d, src[q])
			}
		}
		if validPLMobile(d) {
			sc.emit(p, e, rPhone)
			return e
		}
	}
	return -1
}

// ---- 24. MAC ----

func (sc *scanner) mac(p int) int {
	src := sc.src
	if p+2 > len(src) || !isHex(src[p]) || !isHex(src[p+1]) {
		return -1
	}
	q := p + 2
	var sep byte
	if c := sc.byteAt(q); c == ':' || c == '-' {
		sep = c
	}
	for k := 1; k < 6; k++ {
		if sep != 0 {
			if sc.byteAt(q) != sep {
				return -1
			}
			q++
		}
		if q+2 > len(src) || !isHex(src[q]) || !isHex(src[q+1]) {
			return -1
		}
		q += 2
	}
	if sc.wordAt(q) {
		return -1
	}
	sc.emit(p, q, rMAC)
	return q
}

// ---- 25. credit card, 31. SIM ----

func (sc *scanner) card(p int) int {
	var buf [32]byte
	e, d := sc.groups(p, "\x04\x04\x04", " -", buf[:0])
	if e > 0 {
		q := e
		if c := sc.byteAt(q); (c == ' ' || c == '-') && sc.digitAtPos(q+1) {
			q++
		}
		g := sc.digitsEnd(q)
		if g > q && g-q <= 7 && !sc.wordAt(g) {
			d = append(d, sc.src[q:g]...)
			if len(d) >= 13 && len(d) <= 19 && luhn(d) {
				sc.emit(p, g, rCard)
				return g
			}
		}
	}
	e, d = sc.groups(p, "\x04\x06\x05", " -", buf[:0])
	if e > 0 && !sc.wordAt(e) && luhn(d) {
		sc.emit(p, e, rCard)
		return e
	}
	return -1
}

func (sc *scanner) sim(p int) int {
	var buf [32]byte
	e, d := sc.groups(p, "\x04\x04\x04\x04", " ", buf[:0])
	if e < 0 {
		return -1
	}
	q := e
	if sc.byteAt(q) == ' ' && sc.digitAtPos(q+1) {
		q++
	}
	g := sc.digitsEnd(q)
	if g == q || g-q > 4 || sc.wordAt(g) {
		return -1
	}
	d = append(d, sc.src[q:g]...)
	if len(d) < 19 || !luhn(d) {
		return -1
	}
	sc.emit(p, g, rSIM)
	return g
}

// ---- 26. SSL certificate serial ----

func (sc *scanner) ssl(p, a int) int {
	if a-p < 16 || a-p > 40 || sc.wordAt(a) {
		return -1
	}
	letters := 0
	for k := p; k < a; k++ {
		c := sc.src[k]
		if c >= 'A' && c <= 'F' {
			letters++
		} else if !isDigit(c) {
			return -1
		}
	}
	if letters == 0 {
		return -1 // a plain number (e.g. a card failing its checksum), not a serial
	}
	sc.emit(p, a, rSSL)
	return a
}

// ---- 27. JWT ----

func isJWTByte(c byte) bool { return isAlnum(c) || c == '_' || c == '-' }

func (sc *scanner) jwt(p int) int {
	src := sc.src
	if sc.pb(p) == '-' {
		// Inside a part already tried from its start: a shorter first
		// part cannot succeed where the longer one failed.
		return -1
	}
	q := p
	for part := 0; part < 3; part++ {
		if part > 0 {
			if sc.byteAt(q) != '.' {
				return -1
			}
			q++
		}
		s := q
		for q < len(src) && isJWTByte(src[q]) {
			q++
		}
		if q-s < 10 {
			return -1
		}
	}
	if sc.wordAt(q) {
		return -1
	}
	sc.emit(p, q, rJWT)
	return q
}

// ---- 28. invoice, 29. order, 30. transaction reference ----

func (sc *scanner) invoice(p int) int {
	l := sc.alphaEnd(p)
	w := sc.src[p:l]
	if !strings.EqualFold(w, "fv") && !strings.EqualFold(w, "inv") && !strings.EqualFold(w, "invoice") {
		return -1
	}
	if c := sc.byteAt(l); c != '/' && c != '-' {
		return -1
	}
	y := l + 1
	if sc.digitsEnd(y)-y != 4 {
		return -1
	}
	if c := sc.byteAt(y + 4); c != '/' && c != '-' {
		return -1
	}
	n := y + 5
	e := sc.digitsEnd(n)
	if e-n < 3 || e-n > 6 || sc.wordAt(e) {
		return -1
	}
	sc.emit(p, e, rInvoice)
	return e
}

func (sc *scanner) order(p int) int {
	l := sc.alphaEnd(p)
	w := sc.src[p:l]
	if !strings.EqualFold(w, "ord") && !strings.EqualFold(w, "order") {
		return -1
	}
	q := l
	if c := sc.byteAt(q); c == '-' || c == '_' {
		q++
	}
	e := sc.digitsEnd(q)
	if e-q < 3 || e-q > 10 || sc.wordAt(e) {
		return -1
	}
	sc.emit(p, e, rOrder)
	return e
}

func (sc *scanner) txRef(p int) int {
	if sc.pb(p) == '-' && isAlpha(sc.pb(p-1)) && isAlpha(sc.pb(p-2)) {
		return -1
	}
	l := sc.alphaEnd(p)
	if l-p < 2 || l-p > 5 {
		return -1
	}
	if c := sc.byteAt(l); c != '-' && c != '_' {
		return -1
	}
	a := l + 1
	ae := sc.digitsEnd(a)
	if ae-a < 4 || ae-a > 8 {
		return -1
	}
	if c := sc.byteAt(ae); c != '-' && c != '_' {
		return -1
	}
	b := ae + 1
	e := sc.digitsEnd(b)
	if e-b < 3 || e-b > 6 || sc.wordAt(e) {
		return -1
	}
	sc.emit(p, e, rTxRef)
	return e
}

// ---- 32. social id, 33. EU VAT ----

func (sc *scanner) social(p, a int) int {
	if a-p < 12 || !hasPrefixFold(sc.src[p:], "fbid") || sc.wordAt(a) {
		return -1
	}
	for k := p + 4; k < a; k++ {
		if !isDigit(sc.src[k]) {
			return -1
		}
	}
	sc.emit(p, a, rSocial)
	return a
}

func (sc *scanner) euVAT(p, a int) int {
	if a-p < 10 || a-p > 14 || sc.wordAt(a) || !isAlpha(sc.src[p+1]) {
		return -1
	}
	digits := 0
	for k := p + 2; k < a; k++ {
		if isDigit(sc.src[k]) {
			digits++
		}
	}
	if digits < 4 {
		return -1
	}
	sc.emit(p, a, rEUVAT)
	return a
}
