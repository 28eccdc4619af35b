package fastmasker

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Byte classes.
func isDigit(c byte) bool { return c >= '0' && c <= '9' }
func isAlpha(c byte) bool { return (c|0x20) >= 'a' && (c|0x20) <= 'z' }
func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
func isAlnum(c byte) bool { return isDigit(c) || isAlpha(c) }
func isHex(c byte) bool   { return isDigit(c) || ((c|0x20) >= 'a' && (c|0x20) <= 'f') }
func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 0x20
	}
	return c
}

func isSpace(c byte) bool {
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\v' || c == '\f'
}

// isWordRune reports whether r is a word character (regexp \w, Unicode).
func isWordRune(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// scanner is the state of one Mask call.
type scanner struct {
	m    *Masker
	sess *Session
	src  string
	b    strings.Builder
	// copied is the prefix of src already written to b.
	copied int
	// lastEnd is the end of the last replacement, -1 before the first.
	lastEnd int
	// the last run of e-mail-local bytes examined: [runStart, runEnd) and
	// the union of its class bits.
	runStart, runEnd int
	runSeen          byte
	started          bool
}

// scan runs the single pass and returns the masked text.
func (sc *scanner) scan() string {
	src := sc.src
	n := len(src)
	i := 0
	for i < n {
		k := classes[src[i]]
		if k == 0 {
			i++
			continue
		}
		if k&cLocal != 0 {
			i = sc.run(i)
			continue
		}
		switch src[i] {
		case '{':
			i = sc.skipPlaceholder(i)
			continue
		case '$':
			if e := sc.moneySymbolPrefix(i, 1); e > 0 {
				i = e
				continue
			}
		case 0xC2: // £ ¥
			if i+1 < n && (src[i+1] == 0xA3 || src[i+1] == 0xA5) {
				if e := sc.moneySymbolPrefix(i, 2); e > 0 {
					i = e
					continue
				}
			}
		case 0xE2: // € ₽ ₹
			if i+2 < n && src[i+1] == 0x82 && (src[i+2] == 0xAC || src[i+2] == 0xBD || src[i+2] == 0xB9) {
				if e := sc.moneySymbolPrefix(i, 3); e > 0 {
					i = e
					continue
				}
			}
		}
		i++
	}
	if !sc.started {
		return src
	}
	sc.b.WriteString(src[sc.copied:])
	return sc.b.String()
}

// skipPlaceholder returns the end of a placeholder {TAG_n} starting at i
// (TAG upper case letters and '_', n at most 7 digits), or i+1.
func (sc *scanner) skipPlaceholder(i int) int {
	src := sc.src
	k := i + 1
	if k >= len(src) || !isUpper(src[k]) {
		return i + 1
	}
	for k < len(src) && (isUpper(src[k]) || src[k] == '_') {
		k++
	}
	if src[k-1] != '_' {
		return i + 1
	}
	d := k
	for d < len(src) && isDigit(src[d]) && d-k < 8 {
		d++
	}
	if d == k || d-k > 7 || d >= len(src) || src[d] != '}' {
		return i + 1
	}
	return d + 1
}

// reserve raises the session's last placeholder number to the highest one
// found in the text, so new placeholders never collide with existing ones.
func (sc *scanner) reserve() {
	src := sc.src
	for i := strings.IndexByte(src, '{'); i >= 0; {
		if e := sc.skipPlaceholder(i); e > i+1 {
			n := 0
			for k := strings.LastIndexByte(src[:e], '_') + 1; k < e-1; k++ {
				n = n*10 + int(src[k]-'0')
			}
			sc.sess.last = max(sc.sess.last, n)
		}
		j := strings.IndexByte(src[i+1:], '{')
		if j < 0 {
			break
		}
		i += 1 + j
	}
}

// emit replaces src[s:e] with the placeholder of rule r.
func (sc *scanner) emit(s, e int, r rule) {
	if !sc.started {
		sc.b.Grow(len(sc.src) + 64)
		sc.started = true
	}
	sc.b.WriteString(sc.src[sc.copied:s])
	sc.sess.write(&sc.b, r, sc.src[s:e])
	sc.copied = e
	sc.lastEnd = e
}

// pb returns the byte before position p as the output shows it: '}' right
// after a replacement, 0 at the start of the text or inside a replacement.
// Reading context this way makes masking idempotent.
func (sc *scanner) pb(p int) byte {
	if p <= 0 {
		return 0
	}
	if p <= sc.lastEnd {
		if p == sc.lastEnd {
			return '}'
		}
		return 0
	}
	return sc.src[p-1]
}

// wordBefore reports whether a word character precedes p.
func (sc *scanner) wordBefore(p int) bool {
	c := sc.pb(p)
	if c < utf8.RuneSelf {
		return isAlnum(c) || c == '_'
	}
	r, _ := utf8.DecodeLastRuneInString(sc.src[:p])
	return isWordRune(r)
}

// wordAt reports whether a word character starts at e. A placeholder
// counts as a word: what it replaced followed the value directly, so
// masking the output again sees the same boundary as the first pass.
func (sc *scanner) wordAt(e int) bool {
	if e >= len(sc.src) {
		return false
	}
	c := sc.src[e]
	if c < utf8.RuneSelf {
		return isAlnum(c) || c == '_' || c == '{' && sc.skipPlaceholder(e) > e+1
	}
	r, _ := utf8.DecodeRuneInString(sc.src[e:])
	return isWordRune(r)
}

// wordBeforeWrap is wordBefore after skipping markdown markers (_ and *).
func (sc *scanner) wordBeforeWrap(p int) bool {
	for {
		c := sc.pb(p)
		if c != '_' && c != '*' {
			break
		}
		p--
	}
	return sc.wordBefore(p)
}

// wordAtWrap is wordAt after skipping markdown markers (_ and *).
func (sc *scanner) wordAtWrap(e int) bool {
	for e < len(sc.src) && (sc.src[e] == '_' || sc.src[e] == '*') {
		e++
	}
	return sc.wordAt(e)
}

// digitAtPos reports whether src[e] is an ASCII digit.
func (sc *scanner) digitAtPos(e int) bool { return e < len(sc.src) && isDigit(sc.src[e]) }

// byteAt returns src[e] or 0 past the end.
func (sc *scanner) byteAt(e int) byte {
	if e < len(sc.src) {
		return sc.src[e]
	}
	return 0
}

// digitsEnd returns the end of the run of ASCII digits starting at p.
func (sc *scanner) digitsEnd(p int) int {
	for p < len(sc.src) && isDigit(sc.src[p]) {
		p++
	}
	return p
}

// run examines the run of e-mail-local bytes starting at i and returns
// where scanning continues.
func (sc *scanner) run(i int) int {
	src := sc.src
	var r int
	var seen byte
	if i > sc.runStart && i < sc.runEnd {
		// Resuming after a match inside a run: its end is known, and the
		// class bits of the whole run are a safe over-estimate.
		r, seen = sc.runEnd, sc.runSeen
	} else {
		r = i
		for r < len(src) {
			k := classes[src[r]]
			if k&cLocal == 0 {
				break
			}
			seen |= k
			r++
		}
		sc.runStart, sc.runEnd, sc.runSeen = i, r, seen
	}
	var next byte
	if r < len(src) {
		next = src[r]
	}
	if next == '@' && sc.m.on[rEmail] {
		if e := sc.email(i, r); e > 0 {
			return e
		}
	}
	// Fast path: a plain word of 4–15 ASCII letters can only start a date
	// ("May 5, 2020"), a tagged PESEL or localhost.
	if seen == cLocal|cAlpha && r-i > 3 && r-i < 16 && next != ':' && next != '/' && !specialWord(src[i:r]) {
		return r
	}
	p := i
	for p < r {
		c := src[p]
		switch k := classes[c]; {
		case k&cDigit != 0:
			if e := sc.digitStart(p); e > 0 {
				return e
			}
			p = sc.digitsEnd(p)
		case k&cAlpha != 0:
			if !sc.wordBefore(p) || !sc.wordBeforeWrap(p) {
				if e := sc.letterStart(p); e > 0 {
					return e
				}
			}
			for p < r && classes[src[p]]&cAlpha != 0 {
				p++
			}
		case c == '+':
			if sc.m.on[rPhoneIntl] {
				if e := sc.phoneIntl(p); e > 0 {
					return e
				}
			}
			p++
		default:
			p++
		}
	}
	return r
}
