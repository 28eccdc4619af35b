package jsonscan

import "bytes"

// The walkers below read values that a validating scan (Scan, Each, Valid)
// has already accepted: they find the ends of members and elements without
// checking anything again, skipping string bodies with bytes.IndexByte, so
// a second look at part of a request costs a fraction of the first.

// Members calls fn with the raw key (still escaped, without quotes) and raw
// value of each member of obj, a validated JSON object, until fn returns
// false; it does nothing for another kind of value. It allocates nothing.
func Members(obj []byte, fn func(key, value []byte) bool) {
	i := skipWS(obj, 0)
	if i >= len(obj) || obj[i] != '{' {
		return
	}
	i++
	for {
		i = skipWS(obj, i)
		if i >= len(obj) || obj[i] == '}' {
			return
		}
		if obj[i] == ',' {
			i = skipWS(obj, i+1)
		}
		ks := i
		i = skipStr(obj, i)
		key := obj[ks+1 : i-1]
		i = skipWS(obj, i) + 1 // past ':'
		i = skipWS(obj, i)
		vs := i
		i = skipVal(obj, i)
		if !fn(key, obj[vs:i]) {
			return
		}
	}
}

// Elements calls fn with the index and raw value of each element of arr, a
// validated JSON array, until fn returns false; it does nothing for another
// kind of value. It allocates nothing.
func Elements(arr []byte, fn func(i int, value []byte) bool) {
	i := skipWS(arr, 0)
	if i >= len(arr) || arr[i] != '[' {
		return
	}
	i++
	for n := 0; ; n++ {
		i = skipWS(arr, i)
		if i >= len(arr) || arr[i] == ']' {
			return
		}
		if arr[i] == ',' {
			i = skipWS(arr, i+1)
		}
		vs := i
		i = skipVal(arr, i)
		if !fn(n, arr[vs:i]) {
			return
		}
	}
}

func skipWS(b []byte, i int) int {
	for i < len(b) {
		switch b[i] {
		case ' ', '\t', '\n', '\r':
			i++
		default:
			return i
		}
	}
	return i
}

// skipStr returns the index after the valid string starting at b[i] ('"').
// Short strings (keys, roles, types) are read byte by byte, where a call to
// bytes.IndexByte would cost more than it saves; long ones (texts) with it.
func skipStr(b []byte, i int) int {
	i++
	for end := min(i+16, len(b)); i < end; i++ {
		switch b[i] {
		case '"':
			return i + 1
		case '\\':
			i++ // the escaped byte; a \u escape's hex digits need no care
		}
	}
	for {
		q := bytes.IndexByte(b[i:], '"')
		if q < 0 {
			return len(b)
		}
		i += q
		// The quote ends the string unless an odd run of backslashes
		// escapes it.
		n := 0
		for j := i - 1; b[j] == '\\'; j-- {
			n++
		}
		i++
		if n%2 == 0 {
			return i
		}
	}
}

// skipVal returns the index after the valid value starting at b[i].
func skipVal(b []byte, i int) int {
	if i >= len(b) {
		return i
	}
	switch b[i] {
	case '"':
		return skipStr(b, i)
	case '{', '[':
		depth := 0
		for i < len(b) {
			switch b[i] {
			case '"':
				i = skipStr(b, i)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				if depth--; depth == 0 {
					return i + 1
				}
			}
			i++
		}
		return i
	}
	for i < len(b) {
		switch b[i] {
		case ',', '}', ']', ' ', '\t', '\n', '\r':
			return i
		}
		i++
	}
	return i
}
