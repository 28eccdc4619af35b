package jsonscan

import "fmt"

// Elems calls fn with the raw value of every element of the JSON array arr,
// in order, until fn returns false. It validates arr as it goes.
func Elems(arr []byte, fn func(value []byte) bool) error {
	s := scanner{b: arr}
	s.ws()
	if s.i >= len(arr) || arr[s.i] != '[' {
		return s.err("expected an array")
	}
	s.i++
	s.ws()
	if s.i < len(arr) && arr[s.i] == ']' {
		s.i++
		return s.end()
	}
	for {
		s.ws()
		vs := s.i
		if err := s.value(); err != nil {
			return err
		}
		if !fn(arr[vs:s.i]) {
			return nil
		}
		s.ws()
		if s.i >= len(arr) {
			return s.err("unexpected end of array")
		}
		switch arr[s.i] {
		case ',':
			s.i++
		case ']':
			s.i++
			return s.end()
		default:
			return s.err("expected ',' or ']'")
		}
	}
}

// StringValues calls fn with every string value of the JSON document doc
// (raw, with its quotes), at any depth and in document order; member names
// are not string values. It validates doc as it goes.
func StringValues(doc []byte, fn func(raw []byte)) error {
	s := scanner{b: doc, onString: fn}
	s.ws()
	if err := s.value(); err != nil {
		return err
	}
	return s.end()
}

// end checks that only white space follows the value just read.
func (s *scanner) end() error {
	s.ws()
	if s.i != len(s.b) {
		return s.err("unexpected data after the value")
	}
	return nil
}

// Strings returns the string values of the JSON document doc, unquoted, in
// the order StringValues visits them.
func Strings(doc []byte) ([]string, error) {
	var out []string
	err := StringValues(doc, func(raw []byte) {
		s, _ := Unquote(raw)
		out = append(out, s)
	})
	return out, err
}

// ReplaceStrings returns a copy of the JSON document doc with its string
// values (as Strings lists them) replaced by vals, in order; member names,
// other values and the layout are kept. A value that did not change keeps
// its bytes.
func ReplaceStrings(doc []byte, vals []string) ([]byte, error) {
	out := make([]byte, 0, len(doc))
	last, i := 0, 0
	err := StringValues(doc, func(raw []byte) {
		if i < len(vals) {
			start := cap(doc) - cap(raw) // raw is a sub-slice of doc
			if old, _ := Unquote(raw); old != vals[i] {
				out = append(out, doc[last:start]...)
				out = append(out, Quote(vals[i])...)
				last = start + len(raw)
			}
		}
		i++
	})
	if err != nil {
		return nil, err
	}
	if i != len(vals) {
		return nil, fmt.Errorf("%d strings given for %d", len(vals), i)
	}
	return append(out, doc[last:]...), nil
}
