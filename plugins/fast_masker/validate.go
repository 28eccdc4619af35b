package fastmasker

// Checksum validators. Each takes the digits (or characters) of a candidate
// with separators already skipped and never allocates.

// digitAt returns the numeric value of ASCII digit c.
func digitAt(c byte) int { return int(c - '0') }

// validPESEL reports whether the 11 digits d carry a valid PESEL checksum:
// weights 1,3,7,9,1,3,7,9,1,3 over the first ten digits, check digit
// (10 - sum mod 10) mod 10.
func validPESEL(d []byte) bool {
	if len(d) != 11 {
		return false
	}
	w := [10]int{1, 3, 7, 9, 1, 3, 7, 9, 1, 3}
	sum := 0
	for i, x := range w {
		sum += x * digitAt(d[i])
	}
	return (10-sum%10)%10 == digitAt(d[10])
}

// validNIP reports whether the 10 digits d form a valid NIP (weights
// 6,5,7,2,3,4,5,6,7; sum mod 11 is the last digit, 10 is never valid).
func validNIP(d []byte) bool {
	if len(d) != 10 {
		return false
	}
	w := [9]int{6, 5, 7, 2, 3, 4, 5, 6, 7}
	sum := 0
	for i, x := range w {
		sum += x * digitAt(d[i])
	}
	r := sum % 11
	return r != 10 && r == digitAt(d[9])
}

// validREGON reports whether d is a valid 9- or 14-digit REGON.
func validREGON(d []byte) bool {
	switch len(d) {
	case 9:
		return regonCheck(d, []int{8, 9, 2, 3, 4, 5, 6, 7})
	case 14:
		return regonCheck(d[:9], []int{8, 9, 2, 3, 4, 5, 6, 7}) &&
			regonCheck(d, []int{2, 4, 8, 5, 0, 9, 7, 3, 6, 1, 2, 4, 8})
	}
	return false
}

func regonCheck(d []byte, w []int) bool {
	sum := 0
	for i, x := range w {
		sum += x * digitAt(d[i])
	}
	r := sum % 11
	if r == 10 {
		r = 0
	}
	return r == digitAt(d[len(w)])
}

// luhn reports whether the digits d pass the Luhn check.
func luhn(d []byte) bool {
	if len(d) == 0 {
		return false
	}
	sum := 0
	double := false
	for i := len(d) - 1; i >= 0; i-- {
		v := digitAt(d[i])
		if double {
			v *= 2
			if v > 9 {
				v -= 9
			}
		}
		sum += v
		double = !double
	}
	return sum%10 == 0
}

// vinValue is the ISO 3779 transliteration of a VIN character (0 for
// characters that are not allowed: I, O, Q and non-alphanumerics).
func vinValue(c byte) (int, bool) {
	c = upper(c)
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0'), true
	case c >= 'A' && c <= 'H':
		return int(c-'A') + 1, true // A=1 … H=8
	case c >= 'J' && c <= 'N':
		return int(c-'J') + 1, true // J=1 … N=5
	case c == 'P':
		return 7, true
	case c == 'R':
		return 9, true
	case c >= 'S' && c <= 'Z':
		return int(c-'S') + 2, true // S=2 … Z=9
	}
	return 0, false
}

// validVIN reports whether the 17 characters v carry a valid ISO 3779 check
// digit in position 9 (weights 8,7,6,5,4,3,2,10,0,9,8,7,6,5,4,3,2; sum mod
// 11, 10 written as X).
func validVIN(v string) bool {
	if len(v) != 17 {
		return false
	}
	w := [17]int{8, 7, 6, 5, 4, 3, 2, 10, 0, 9, 8, 7, 6, 5, 4, 3, 2}
	sum := 0
	for i := 0; i < 17; i++ {
		x, ok := vinValue(v[i])
		if !ok {
			return false
		}
		sum += x * w[i]
	}
	r := sum % 11
	c := upper(v[8])
	if r == 10 {
		return c == 'X'
	}
	return c == byte('0'+r)
}

// ibanMod97 computes the ISO 13616 remainder of the compact IBAN s (upper
// or lower case letters, digits): the first four characters move to the end,
// letters count as 10…35. A valid IBAN gives 1.
func ibanMod97(s []byte) int {
	r := 0
	add := func(c byte) {
		c = upper(c)
		if c >= '0' && c <= '9' {
			r = (r*10 + int(c-'0')) % 97
		} else {
			r = (r*100 + int(c-'A') + 10) % 97
		}
	}
	for _, c := range s[4:] {
		add(c)
	}
	for _, c := range s[:4] {
		add(c)
	}
	return r
}

// validSSN reports whether the US SSN area-group-serial is plausible: area
// not 000, 666 or 900–999; group not 00; serial not 0000.
func validSSN(area, group, serial int) bool {
	return area != 0 && area != 666 && area < 900 && group != 0 && serial != 0
}

// validPLMobile reports whether the 9 digits d start with a Polish mobile
// prefix (50, 51, 53, 45, 60, 66, 69, 72, 73, 78, 79) or with 800.
func validPLMobile(d []byte) bool {
	if len(d) != 9 {
		return false
	}
	switch string(d[:2]) {
	case "50", "51", "53", "45", "60", "66", "69", "72", "73", "78", "79":
		return true
	}
	return string(d[:3]) == "800"
}

// ibanTable lists IBAN country codes with their total IBAN length (ISO
// 13616 registry, plus UK, which the original accepted as an alias of GB),
// four characters per country.
const ibanTable = "AL28AD24AE23AT20BA20BH22BY28BE16BG22BR29CH21CR22CY28CZ24DE22DK18DO28EE20EG29ES24FI18FO18FR27GB22GE22GI23GL18GR27GT28HR21HU28IE22IQ23IL23IS26IT27JO30KW30KZ20LB28LC32LI21LT20LU20LV21MC27MD24ME22MK19MR27MT31MU30NL18NO15PK24PL28PS29PT25QA29RO24RS22SA24SC31SE24SI19SK24SM27ST25TL23TN24TR26UA29UK22VA22VG24IR26XK20LY25SV28SD18BI27DJ27FK18MN20NI28OM23RU33SO23YE30AZ28"

// ibanLen returns the IBAN length of country code ab (upper case) or 0.
func ibanLen(a, b byte) int {
	for i := 0; i+4 <= len(ibanTable); i += 4 {
		if ibanTable[i] == a && ibanTable[i+1] == b {
			return int(ibanTable[i+2]-'0')*10 + int(ibanTable[i+3]-'0')
		}
	}
	return 0
}
