package jsonscan

import (
	"bytes"
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

// FuzzScan is the differential test of the package against encoding/json
// (with RFC 8259's UTF-8 rule): the same verdict on every input, and on a
// valid one the same values, read by every reader at every depth (see
// checkValue), the same members for Scan, and edits that stay valid JSON.
func FuzzScan(f *testing.F) {
	for _, s := range []string{`{"model":"m","stream":true}`, `{"a":[{"b":"\u0041"}]}`, `{`, `[]`, `{"a":1e5}`,
		"{\"a\":\"\xff\"}", "{\"\xc3\":1}", "{\"a\":[\"\xed\xa0\x80\"]}", `{"a":"łódź 😀"}`, "\"\xe2\x82\"",
		// from wire's FuzzScalars and FuzzSplit
		"true", "false", "0", "-0", "1.5", "-12e3", "1E+2", "1e400", "-1e-400", "9007199254740993",
		"123456789012345678", "1234567890123456789", `"1"`, "null", "[1]", "{}", " 7 ",
		`{"a":1,"b":"x\"y","c":[1,{"d":"]"}],"e":{"f":null},"a":2," k\u0065y ":true}`,
		`{"s":"\u00e9\ud83d\ude00","n":-1.5e3}`, "{\"a\":[{\"\xc3\":1}],\"b\":\"ż\"}",
		"\v{}", `{"k\"q":"\\","model":null}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		valid := validJSON(b)
		if verr := Valid(b); (verr == nil) != valid {
			t.Fatalf("Valid(%q) = %v, oracle %v", b, verr, valid)
		}
		o, err := Scan(b)
		switch {
		case err == nil && !valid:
			t.Fatalf("accepted invalid JSON %q", b)
		case err != nil && err != ErrNotObject && valid && strings.HasPrefix(strings.TrimSpace(string(b)), "{"):
			t.Fatalf("rejected valid object %q: %v", b, err)
		}
		if !valid {
			return
		}
		checkValue(t, b)
		strs, err := Strings(b)
		if err != nil {
			t.Fatalf("Strings(%q): %v", b, err)
		}
		if same, err := ReplaceStrings(b, strs); err != nil || string(same) != string(b) {
			t.Fatalf("ReplaceStrings(%q, its own strings) = %q, %v", b, same, err)
		}
		if o == nil {
			return
		}
		checkWalk(t, o)
		checkObject(t, o)
		out := o.Set("model", []byte(`"z"`))
		if !json.Valid(out) {
			t.Fatalf("Set broke JSON: %q", out)
		}
		if o2, err := Scan(out); err != nil {
			t.Fatalf("Scan of Set's output %q: %v", out, err)
		} else if m, ok, err := o2.String("model"); m != "z" || !ok || err != nil {
			t.Fatalf("model after Set = %q, %v, %v in %q", m, ok, err, out)
		}
	})
}

// checkValue compares every reader of a raw value with what encoding/json
// decodes from the same bytes, then does the same for each member and
// element, at every depth.
func checkValue(t *testing.T, raw []byte) {
	t.Helper()
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var want any
	if err := d.Decode(&want); err != nil {
		t.Fatalf("encoding/json refused %q: %v", raw, err)
	}
	if IsNull(raw) != (want == nil) {
		t.Fatalf("IsNull(%q) = %v, encoding/json: %v", raw, IsNull(raw), want)
	}
	wb, isBool := want.(bool)
	if v, ok := Boolean(raw); ok != isBool || v != wb {
		t.Fatalf("Boolean(%q) = %v, %v; encoding/json: %#v", raw, v, ok, want)
	}
	ws, isStr := want.(string)
	if v, ok := String(raw); ok != isStr || v != ws {
		t.Fatalf("String(%q) = %q, %v; encoding/json: %#v", raw, v, ok, want)
	}
	if v, ok := Unquote(TrimWS(raw)); ok != isStr || v != ws {
		t.Fatalf("Unquote(%q) = %q, %v; encoding/json: %#v", raw, v, ok, want)
	}
	if IsString(raw) != isStr {
		t.Fatalf("IsString(%q) = %v; encoding/json: %#v", raw, IsString(raw), want)
	}
	var wf float64
	ferr := json.Unmarshal(raw, &wf) // a number out of float64's range is an error
	if v, ok := Number(raw); ok != (ferr == nil && want != nil) || (ok && v != wf) {
		t.Fatalf("Number(%q) = %v, %v; encoding/json: %v, %v", raw, v, ok, wf, ferr)
	}
	if v, ok := Int(TrimWS(raw)); ok {
		var wi int
		if err := json.Unmarshal(raw, &wi); err != nil || wi != v {
			t.Fatalf("Int(%q) = %d; encoding/json: %d, %v", raw, v, wi, err)
		}
	} else if n, isNum := want.(json.Number); isNum && !strings.ContainsAny(string(n), ".eE") &&
		len(strings.TrimPrefix(string(n), "-")) <= 18 {
		t.Fatalf("Int(%q) refused an integer of at most 18 digits", raw)
	}
	var wstrs []string
	collectStrings(t, TrimWS(raw), &wstrs)
	if got, err := Strings(raw); err != nil || strings.Join(got, "\x00") != strings.Join(wstrs, "\x00") || len(got) != len(wstrs) {
		t.Fatalf("Strings(%q) = %q, %v; walked: %q", raw, got, err, wstrs)
	}
	switch w := want.(type) {
	case map[string]any:
		keys := map[string]bool{}
		Members(raw, func(k, v []byte) bool {
			key, ok := Key(k)
			if !ok {
				t.Fatalf("Key(%q) refused a member name of %q", k, raw)
			}
			keys[key] = true
			checkValue(t, v)
			return true
		})
		if len(keys) != len(w) {
			t.Fatalf("Members(%q): %d names, encoding/json %d", raw, len(keys), len(w))
		}
		for k := range w {
			if !keys[k] {
				t.Fatalf("Members(%q) has no %q", raw, k)
			}
		}
	case []any:
		var walked, validated [][]byte
		Elements(raw, func(i int, v []byte) bool {
			if i != len(walked) {
				t.Fatalf("Elements(%q): index %d for element %d", raw, i, len(walked))
			}
			walked = append(walked, v)
			checkValue(t, v)
			return true
		})
		if err := Elems(raw, func(v []byte) bool { validated = append(validated, v); return true }); err != nil {
			t.Fatalf("Elems(%q): %v", raw, err)
		}
		if len(walked) != len(w) || len(validated) != len(w) {
			t.Fatalf("%q: Elements %d, Elems %d, encoding/json %d elements", raw, len(walked), len(validated), len(w))
		}
		for i := range walked {
			if string(walked[i]) != string(validated[i]) {
				t.Fatalf("%q element %d: Elements %q, Elems %q", raw, i, walked[i], validated[i])
			}
		}
	}
}

// collectStrings lists the string values of the validated value raw in
// document order, with the walkers and String (Strings' own scan is what
// it checks).
func collectStrings(t *testing.T, raw []byte, out *[]string) {
	t.Helper()
	switch {
	case len(raw) > 0 && raw[0] == '"':
		s, _ := String(raw)
		*out = append(*out, s)
	case len(raw) > 0 && raw[0] == '{':
		Members(raw, func(_, v []byte) bool { collectStrings(t, v, out); return true })
	case len(raw) > 0 && raw[0] == '[':
		Elements(raw, func(_ int, v []byte) bool { collectStrings(t, v, out); return true })
	}
}

// checkObject compares Scan's reading of each member with encoding/json's
// (the last of a repeated name wins in both).
func checkObject(t *testing.T, o *Object) {
	t.Helper()
	var want map[string]json.RawMessage
	if err := json.Unmarshal(o.Doc, &want); err != nil {
		t.Fatalf("encoding/json refused a scanned object: %v", err)
	}
	for k, v := range want {
		raw := o.Raw(k)
		if raw == nil {
			t.Fatalf("Raw(%q) is missing in %q", k, o.Doc)
		}
		var a, b bytes.Buffer
		_ = json.Compact(&a, v)
		_ = json.Compact(&b, raw)
		if a.String() != b.String() {
			t.Fatalf("Raw(%q) = %s, encoding/json %s", k, b.String(), a.String())
		}
		var ws string
		sErr := json.Unmarshal(v, &ws)
		s, ok, err := o.String(k)
		switch {
		case IsNull(v):
			if ok || err != nil {
				t.Fatalf("String(%q) of null = %q, %v, %v", k, s, ok, err)
			}
		case (sErr == nil) != ok || (err == nil) != ok || s != ws:
			t.Fatalf("String(%q) = %q, %v, %v; encoding/json %q, %v", k, s, ok, err, ws, sErr)
		}
		var wb bool
		bErr := json.Unmarshal(v, &wb)
		bv, ok, err := o.Bool(k)
		switch {
		case IsNull(v):
			if ok || err != nil {
				t.Fatalf("Bool(%q) of null = %v, %v, %v", k, bv, ok, err)
			}
		case (bErr == nil) != ok || (err == nil) != ok || bv != wb:
			t.Fatalf("Bool(%q) = %v, %v, %v; encoding/json %v, %v", k, bv, ok, err, wb, bErr)
		}
	}
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
