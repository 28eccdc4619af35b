package fastmasker

import (
	"math/rand/v2"
	"strconv"
	"strings"
)

// Generators of valid identifiers, computed with the checksum functions of
// this package, for tests and benchmarks.

func digits(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte('0' + r.IntN(10))
	}
	return b
}

func genPESEL(r *rand.Rand) string {
	for {
		d := digits(r, 11)
		d[2] = byte('0' + r.IntN(2)) // month 01–12 or 21–32 shape
		w := [10]int{1, 3, 7, 9, 1, 3, 7, 9, 1, 3}
		sum := 0
		for i, x := range w {
			sum += x * digitAt(d[i])
		}
		d[10] = byte('0' + (10-sum%10)%10)
		if validPESEL(d) {
			return string(d)
		}
	}
}

func genNIP(r *rand.Rand) string {
	for {
		d := digits(r, 10)
		w := [9]int{6, 5, 7, 2, 3, 4, 5, 6, 7}
		sum := 0
		for i, x := range w {
			sum += x * digitAt(d[i])
		}
		if sum%11 == 10 {
			continue
		}
		d[9] = byte('0' + sum%11)
		return string(d)
	}
}

func genREGON(r *rand.Rand, n int) string {
	for {
		d := digits(r, n)
		for c := byte('0'); c <= '9'; c++ {
			d[8] = c
			if validREGON(d[:9]) {
				break
			}
		}
		if n == 14 {
			for c := byte('0'); c <= '9'; c++ {
				d[13] = c
				if validREGON(d) {
					break
				}
			}
		}
		if validREGON(d) {
			return string(d)
		}
	}
}

// genIBAN returns a compact IBAN of country cc with a digit BBAN.
func genIBAN(r *rand.Rand, cc string) string {
	n := ibanLen(cc[0], cc[1])
	d := append([]byte(cc+"00"), digits(r, n-4)...)
	chk := 98 - ibanMod97(d)
	d[2], d[3] = byte('0'+chk/10), byte('0'+chk%10)
	return string(d)
}

// spaced groups s by four characters.
func spaced(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i += 4 {
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(s[i:min(i+4, len(s))])
	}
	return b.String()
}

// genLuhn returns prefix plus random digits, n digits in total, with a
// valid Luhn check digit.
func genLuhn(r *rand.Rand, prefix string, n int) string {
	d := append([]byte(prefix), digits(r, n-len(prefix))...)
	for c := byte('0'); c <= '9'; c++ {
		d[n-1] = c
		if luhn(d) {
			break
		}
	}
	return string(d)
}

func genVIN(r *rand.Rand) string {
	const set = "ABCDEFGHJKLMNPRSTUVWXYZ0123456789"
	for {
		b := make([]byte, 17)
		for i := range b {
			b[i] = set[r.IntN(len(set))]
		}
		b[16] = byte('0' + r.IntN(10))
		for _, c := range []byte("0123456789X") {
			b[8] = c
			if validVIN(string(b)) {
				return string(b)
			}
		}
	}
}

func genMobile(r *rand.Rand) string {
	pre := []string{"50", "51", "53", "45", "60", "66", "69", "72", "73", "78", "79"}
	return pre[r.IntN(len(pre))] + string(digits(r, 7))
}

// breakLast changes the last digit of s so that its checksum fails (for
// mod-10 and mod-11 checks exactly one digit value passes).
func breakLast(s string, valid func(string) bool) string {
	b := []byte(s)
	for i := 1; i < 10; i++ {
		b[len(b)-1] = byte('0' + (digitAt(s[len(s)-1])+i)%10)
		if !valid(string(b)) {
			return string(b)
		}
	}
	panic("cannot break " + s)
}

func itoa(i int) string { return strconv.Itoa(i) }
