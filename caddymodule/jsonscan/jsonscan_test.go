package jsonscan

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// validJSON is the oracle of the differential tests: encoding/json's
// grammar with RFC 8259's rule that JSON text is UTF-8 (outside strings a
// byte >= 0x80 is a syntax error anyway).
func validJSON(b []byte) bool { return json.Valid(b) && utf8.Valid(b) }

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, ` { "a" : 1 } `, `{"model":"m","stream":true,"messages":[{"role":"user","content":"h\u00e9\"llo"}]}`,
		`{"a":[1,2,{"b":[]}],"c":-0.5e+3,"d":null,"e":false}`, `{"a":"\ud83d\ude00"}`,
		`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":"x\q"}`, `{"a":"` + "\x01" + `"}`,
		`{"a":[1,]}`, `{"a":1} x`, `{"a":tru}`, `{"a":"\u12"}`, "{\"a\":\"\xff\"}", `{"a":1}{}`, ``, `   `,
	}
	for _, d := range docs {
		_, err := Scan([]byte(d))
		valid := validJSON([]byte(d))
		if (err == nil) != valid {
			t.Errorf("Scan(%q) err=%v, valid=%v", d, err, valid)
		}
	}
}

// A string that is not UTF-8 is refused where the scanner meets it, in a
// key or a value at any depth; valid multi-byte text and escapes (even of
// lone surrogates, which encoding/json accepts) pass.
func TestUTF8(t *testing.T) {
	tests := []struct {
		doc    string
		offset int // of the bad byte; -1: valid
	}{
		{`{"a":"zażółć gęślą jaźń 日本 😀"}`, -1},
		{`{"a":"\ud800"}`, -1},
		{"{\"a\":\"\xff\"}", 6},
		{"{\"\xc3\":1}", 2},                      // truncated sequence in a key
		{"{\"a\":[{\"b\":\"ok\xe2\x82\"}]}", 14}, // truncated 3-byte sequence, nested
		{"{\"a\":\"\xc0\xaf\"}", 6},              // overlong encoding of '/'
		{"{\"a\":\"\xed\xa0\x80\"}", 6},          // UTF-16 surrogate encoded in UTF-8
		{"{\"a\":\"\xf4\x90\x80\x80\"}", 6},      // above U+10FFFF
		{"{\"a\":\"x\xa0\"}", 7},                 // lone continuation byte
		{"{\"a\":\"\xef\xbf\xbd\"}", -1},         // U+FFFD itself is valid
	}
	for _, tt := range tests {
		_, err := Scan([]byte(tt.doc))
		verr := Valid([]byte(tt.doc))
		eerr := Each([]byte(tt.doc), func(k, v []byte) bool { return true })
		if tt.offset < 0 {
			if err != nil || verr != nil || eerr != nil {
				t.Errorf("%q: Scan %v, Valid %v, Each %v; want valid", tt.doc, err, verr, eerr)
			}
			continue
		}
		for _, e := range []error{err, verr, eerr} {
			var se *SyntaxError
			if !errors.As(e, &se) || !errors.Is(e, ErrInvalidUTF8) || se.Offset != tt.offset {
				t.Errorf("%q: %v, want invalid UTF-8 at byte %d", tt.doc, e, tt.offset)
			}
		}
	}
}

func TestValid(t *testing.T) {
	for _, d := range []string{`1`, ` "x" `, `[1,{"a":null}]`, `{}`, `true`} {
		if err := Valid([]byte(d)); err != nil {
			t.Errorf("Valid(%s) = %v", d, err)
		}
	}
	for _, d := range []string{``, `1 2`, `[1,]`, `{"a":1}}`, "\"\xff\""} {
		if Valid([]byte(d)) == nil {
			t.Errorf("Valid(%q) accepted it", d)
		}
	}
}

func TestNotObject(t *testing.T) {
	for _, d := range []string{`[]`, `"x"`, `1`, `null`} {
		if _, err := Scan([]byte(d)); err != ErrNotObject {
			t.Errorf("Scan(%s) = %v, want ErrNotObject", d, err)
		}
	}
}

func TestFields(t *testing.T) {
	o, err := Scan([]byte(`{"model":"gpt\/4","stream":true,"n":null,"x":3,"model2":"no","s":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if v, ok, err := o.String("model"); v != "gpt/4" || !ok || err != nil {
		t.Fatalf("model = %q %v %v", v, ok, err)
	}
	if v, ok, err := o.Bool("stream"); !v || !ok || err != nil {
		t.Fatalf("stream = %v %v %v", v, ok, err)
	}
	if _, ok, err := o.String("n"); ok || err != nil {
		t.Fatal("null must read as absent")
	}
	if _, _, err := o.String("x"); err == nil {
		t.Fatal("a number is not a string")
	}
	if _, _, err := o.Bool("s"); err == nil {
		t.Fatal("a string is not a bool")
	}
	if _, ok, _ := o.Bool("missing"); ok {
		t.Fatal("missing must be absent")
	}
}

func TestSetDelete(t *testing.T) {
	tests := []struct{ doc, key, val, want string }{
		{`{"model":"a","x":1}`, "model", `"b"`, `{"model":"b","x":1}`},
		{`{"x":1}`, "model", `"b"`, `{"x":1,"model":"b"}`},
		{`{}`, "model", `"b"`, `{"model":"b"}`},
		{` { } `, "stream", `true`, ` { "stream":true} `},
		{`{"model":"a","model":"c"}`, "model", `"b"`, `{"model":"b","model":"b"}`},
	}
	for _, tt := range tests {
		o, err := Scan([]byte(tt.doc))
		if err != nil {
			t.Fatal(err)
		}
		got := string(o.Set(tt.key, []byte(tt.val)))
		if got != tt.want {
			t.Errorf("Set(%s, %s, %s) = %s, want %s", tt.doc, tt.key, tt.val, got, tt.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("Set produced invalid JSON %s", got)
		}
	}
	o, _ := Scan([]byte(`{"a":1,"anonymize":true,"b":[2]}`))
	if got := string(o.Delete("anonymize")); got != `{"a":1,"b":[2]}` {
		t.Fatalf("Delete = %s", got)
	}
}

func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"model":"m","stream":true}`, `{"a":[{"b":"\u0041"}]}`, `{`, `[]`, `{"a":1e5}`,
		"{\"a\":\"\xff\"}", "{\"\xc3\":1}", "{\"a\":[\"\xed\xa0\x80\"]}", `{"a":"łódź 😀"}`, "\"\xe2\x82\""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		if verr := Valid(b); (verr == nil) != validJSON(b) {
			t.Fatalf("Valid(%q) = %v, oracle %v", b, verr, validJSON(b))
		}
		o, err := Scan(b)
		if err == nil {
			if !validJSON(b) {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			checkWalk(t, o)
			out := o.Set("model", []byte(`"z"`))
			if !json.Valid(out) {
				t.Fatalf("Set broke JSON: %q", out)
			}
			return
		}
		if err != ErrNotObject && validJSON(b) && strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
			t.Fatalf("rejected valid object %q: %v", b, err)
		}
	})
}

var benchDoc = []byte(`{"model":"meta-llama/Llama-3.1-8B-Instruct","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"` + strings.Repeat("Tell me about load balancing. ", 40) + `"}],"temperature":0.7,"max_tokens":256,"stream":true}`)

func BenchmarkScanAndRewrite(b *testing.B) {
	b.SetBytes(int64(len(benchDoc)))
	b.ReportAllocs()
	for b.Loop() {
		o, err := Scan(benchDoc)
		if err != nil {
			b.Fatal(err)
		}
		o.Bool("stream")
		o.String("model")
		_ = o.Set("model", []byte(`"llama3"`))
	}
}

func BenchmarkStdlibUnmarshalMarshal(b *testing.B) {
	b.SetBytes(int64(len(benchDoc)))
	b.ReportAllocs()
	for b.Loop() {
		var m map[string]any
		if err := json.Unmarshal(benchDoc, &m); err != nil {
			b.Fatal(err)
		}
		m["model"] = "llama3"
		if _, err := json.Marshal(m); err != nil {
			b.Fatal(err)
		}
	}
}

func TestEach(t *testing.T) {
	var keys, vals []string
	err := Each([]byte(` {"model":"m","message":{"role":"assistant","content":"h\"i"},"done":false} `), func(k, v []byte) bool {
		keys, vals = append(keys, string(k)), append(vals, string(v))
		return true
	})
	if err != nil || strings.Join(keys, ",") != "model,message,done" || vals[2] != "false" {
		t.Fatalf("Each: %v %v %v", keys, vals, err)
	}
	n := 0
	if err := Each([]byte(`{"a":1,"b":2}`), func(k, v []byte) bool { n++; return false }); err != nil || n != 1 {
		t.Fatal("Each must stop when fn returns false")
	}
	for _, bad := range []string{`[]`, `{"a":}`, `{"a":1} x`, `{"a" 1}`} {
		if Each([]byte(bad), func(k, v []byte) bool { return true }) == nil {
			t.Errorf("Each(%s) accepted invalid input", bad)
		}
	}
	if s, ok := Unquote([]byte(`"h\"i\u00e9"`)); !ok || s != `h"ié` {
		t.Fatalf("Unquote = %q %v", s, ok)
	}
	if _, ok := Unquote([]byte(`12`)); ok {
		t.Fatal("a number is not a string")
	}
	if allocs := testing.AllocsPerRun(100, func() {
		_ = Each(benchDoc, func(k, v []byte) bool { return true })
	}); allocs != 0 {
		t.Fatalf("Each allocates %v times", allocs)
	}
}

func TestEvery(t *testing.T) {
	known := func(k, v []byte) bool { return string(k) == "a" || string(k) == "b" }
	tests := []struct {
		doc  string
		want bool
	}{
		{`{"a":1,"b":[2]}`, true},
		{`{}`, true},
		{`{"a":1,"c":2}`, false},   // a member fn refuses
		{`{"a":1,"b":2} x`, false}, // invalid after the members
		{`{"a":1,"b"}`, false},
		{`[1]`, false},
	}
	for _, tt := range tests {
		if got := Every([]byte(tt.doc), known); got != tt.want {
			t.Errorf("Every(%s) = %v, want %v", tt.doc, got, tt.want)
		}
	}
	n := 0
	Every([]byte(`{"c":1,"a":2}`), func(k, v []byte) bool { n++; return false })
	if n != 1 {
		t.Errorf("Every went on after a refusal: %d calls", n)
	}
}

func TestInt(t *testing.T) {
	tests := []struct {
		raw  string
		want int
		ok   bool
	}{
		{"0", 0, true}, {"42", 42, true}, {"-7", -7, true}, {"-0", 0, true},
		{"123456789012345678", 123456789012345678, true},
		{"1234567890123456789", 0, false}, // may not fit an int: left to encoding/json
		{"1.5", 0, false}, {"1e3", 0, false}, {"-", 0, false}, {"", 0, false},
		{`"1"`, 0, false}, {"null", 0, false}, {"true", 0, false},
	}
	for _, tt := range tests {
		if got, ok := Int([]byte(tt.raw)); got != tt.want || ok != tt.ok {
			t.Errorf("Int(%s) = %d, %v; want %d, %v", tt.raw, got, ok, tt.want, tt.ok)
		}
	}
}

func TestStringOrNull(t *testing.T) {
	tests := []struct {
		prev, raw, want string
		ok              bool
	}{
		{"", `"a"`, `"a"`, true},
		{`"a"`, `"b"`, `"b"`, true},
		{`"a"`, "null", `"a"`, true}, // null leaves the earlier value, as encoding/json does
		{`"a"`, "1", `"a"`, false},
		{"", "{}", "", false},
	}
	for _, tt := range tests {
		dst := []byte(tt.prev)
		if ok := StringOrNull(&dst, []byte(tt.raw)); ok != tt.ok || (ok && string(dst) != tt.want) {
			t.Errorf("StringOrNull(%q, %s) = %q, %v; want %q, %v", tt.prev, tt.raw, dst, ok, tt.want, tt.ok)
		}
	}
}

// checkWalk checks Members and Elements against encoding/json on a
// validated object: the same members, and the same elements of each array.
func checkWalk(t *testing.T, o *Object) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(o.Doc, &want); err != nil {
		t.Fatalf("encoding/json refused a scanned object: %v", err)
	}
	n := 0
	Members(o.Doc, func(k, v []byte) bool {
		m := o.Members[n]
		if string(k) != string(m.Key) || string(v) != string(o.Doc[m.Value.Start:m.Value.End]) {
			t.Fatalf("member %d: %q=%q, Scan has %q=%q", n, k, v, m.Key, o.Doc[m.Value.Start:m.Value.End])
		}
		n++
		if len(v) > 0 && v[0] == '[' {
			var elems []json.RawMessage
			_ = json.Unmarshal(v, &elems)
			c := 0
			Elements(v, func(i int, e []byte) bool {
				if i != c || c >= len(elems) || !jsonEqual(e, elems[c]) {
					t.Fatalf("element %d of %q: %q", i, v, e)
				}
				c++
				return true
			})
			if c != len(elems) {
				t.Fatalf("%q: %d elements, want %d", v, c, len(elems))
			}
		}
		return true
	})
	if n != len(o.Members) {
		t.Fatalf("Members saw %d members, Scan %d", n, len(o.Members))
	}
}

func jsonEqual(a, b []byte) bool {
	var x, y any
	return json.Unmarshal(a, &x) == nil && json.Unmarshal(b, &y) == nil && equalJSON(x, y)
}

func equalJSON(x, y any) bool {
	xb, _ := json.Marshal(x)
	yb, _ := json.Marshal(y)
	return string(xb) == string(yb)
}

func TestWalkers(t *testing.T) {
	doc := []byte(` { "a" : [ 1 , "x\\\"]" , {"b":["]"]} , [ ] ] , "k\"q" : "\\\\" , "e" : { } } `)
	o, err := Scan(doc)
	if err != nil {
		t.Fatal(err)
	}
	checkWalk(t, o)
	var got []string
	Elements(o.Raw("a"), func(i int, v []byte) bool { got = append(got, string(v)); return true })
	if strings.Join(got, "|") != `1|"x\\\"]"|{"b":["]"]}|[ ]` {
		t.Fatalf("Elements = %q", got)
	}
	if allocs := testing.AllocsPerRun(100, func() {
		Members(benchDoc, func(k, v []byte) bool {
			Elements(v, func(int, []byte) bool { return true })
			return true
		})
		_ = Valid(benchDoc)
	}); allocs != 0 {
		t.Fatalf("the walkers allocate %v times", allocs)
	}
}

// Every byte value at every offset of a string, across the eight-byte
// steps of str, gets the verdict of the oracle; and so do two-byte
// sequences split at each offset.
func TestStringBytes(t *testing.T) {
	for n := 0; n < 20; n++ {
		for c := 0; c < 256; c++ {
			for _, tail := range []string{"", "\x80", "abcdefghij"} {
				text := strings.Repeat("a", n) + string(rune(0)) + tail
				doc := []byte(`{"k":"` + text + `"}`)
				doc[6+n] = byte(c)
				if got, want := Valid(doc) == nil, validJSON(doc); got != want {
					t.Fatalf("%q: Valid %v, want %v", doc, got, want)
				}
			}
		}
	}
}
