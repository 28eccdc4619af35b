package jsonscan

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestScanAgreesWithEncodingJSON(t *testing.T) {
	docs := []string{
		`{}`, ` { "a" : 1 } `, `{"model":"m","stream":true,"messages":[{"role":"user","content":"h\u00e9\"llo"}]}`,
		`{"a":[1,2,{"b":[]}],"c":-0.5e+3,"d":null,"e":false}`, `{"a":"\ud83d\ude00"}`,
		`{`, `{"a"}`, `{"a":}`, `{"a":1,}`, `{"a":01}`, `{"a":1.}`, `{"a":"x\q"}`, `{"a":"` + "\x01" + `"}`,
		`{"a":[1,]}`, `{"a":1} x`, `{"a":tru}`, `{"a":"\u12"}`, "{\"a\":\"\xff\"}", `{"a":1}{}`, ``, `   `,
	}
	for _, d := range docs {
		_, err := Scan([]byte(d))
		valid := json.Valid([]byte(d))
		if (err == nil) != valid {
			t.Errorf("Scan(%q) err=%v, json.Valid=%v", d, err, valid)
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
	for _, s := range []string{`{"model":"m","stream":true}`, `{"a":[{"b":"\u0041"}]}`, `{`, `[]`, `{"a":1e5}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		o, err := Scan(b)
		if err == nil {
			if !json.Valid(b) {
				t.Fatalf("accepted invalid JSON %q", b)
			}
			out := o.Set("model", []byte(`"z"`))
			if !json.Valid(out) {
				t.Fatalf("Set broke JSON: %q", out)
			}
			return
		}
		if err != ErrNotObject && json.Valid(b) && strings.HasPrefix(strings.TrimSpace(string(b)), "{") {
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
