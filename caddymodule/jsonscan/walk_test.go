package jsonscan

import (
	"strings"
	"testing"
)

func TestElems(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
		ok   bool
	}{
		{`[]`, ``, true},
		{` [1, "a", {"b":[2]}, null ] `, `1|"a"|{"b":[2]}|null`, true},
		{`{"a":1}`, ``, false},
		{`[1,]`, `1`, false},
		{`[1] x`, `1`, false},
	} {
		var got []string
		err := Elems([]byte(tc.in), func(v []byte) bool { got = append(got, string(v)); return true })
		if (err == nil) != tc.ok || strings.Join(got, "|") != tc.want {
			t.Errorf("Elems(%s) = %q, %v", tc.in, got, err)
		}
	}
}

func TestStringsAndReplace(t *testing.T) {
	for _, tc := range []struct {
		in, want, out string
		ok            bool
	}{
		{`{"to": "a@b.pl", "n": 1, "l": ["x", {"k\"ey": "\u0079"}], "t": true}`, `a@b.pl|x|y`,
			`{"to": "A", "n": 1, "l": ["B", {"k\"ey": "C"}], "t": true}`, true},
		{`"just a string"`, `just a string`, `"A"`, true},
		{`42`, ``, `42`, true},
		{`{"a": }`, ``, ``, false},
	} {
		got, err := Strings([]byte(tc.in))
		if (err == nil) != tc.ok || strings.Join(got, "|") != tc.want {
			t.Errorf("Strings(%s) = %q, %v", tc.in, got, err)
			continue
		}
		if !tc.ok {
			continue
		}
		repl := make([]string, len(got))
		for i := range repl {
			repl[i] = string(rune('A' + i))
		}
		out, err := ReplaceStrings([]byte(tc.in), repl)
		if err != nil || string(out) != tc.out {
			t.Errorf("ReplaceStrings(%s) = %s, %v", tc.in, out, err)
		}
		if _, err := ReplaceStrings([]byte(tc.in), append(repl, "extra")); err == nil {
			t.Errorf("ReplaceStrings(%s) took too many values", tc.in)
		}
	}
}
