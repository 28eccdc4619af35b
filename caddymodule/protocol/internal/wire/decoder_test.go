package wire

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
)

func TestDecoderSequence(t *testing.T) {
	var x Decoder
	type doc struct {
		A string `json:"a"`
		B int    `json:"b"`
	}
	cases := []struct {
		in      string
		want    doc
		wantErr bool
	}{
		{`{"a":"x","b":1}`, doc{"x", 1}, false},
		{` {"b":2} `, doc{"", 2}, false},
		{`{"a":"y"} junk`, doc{}, true},
		{`{"a":"z"}`, doc{"z", 0}, false}, // recovers after an error
		{`{"a":`, doc{}, true},
		{``, doc{}, true},
		{`{"a":"w"}{"a":"v"}`, doc{}, true},
		{"{\"a\":\"\\u00e9\"}\n", doc{"é", 0}, false},
	}
	for i, c := range cases {
		var got doc
		err := x.Decode([]byte(c.in), &got)
		if (err != nil) != c.wantErr {
			t.Fatalf("%d %q: err = %v", i, c.in, err)
		}
		if err == nil && got != c.want {
			t.Errorf("%d %q: got %+v, want %+v", i, c.in, got, c.want)
		}
	}
}

func TestAppendString(t *testing.T) {
	cases := map[string]string{
		"plain":       `"plain"`,
		"q\"b\\":      `"q\"b\\"`,
		"\n\r\t\x01":  `"\n\r\t\u0001"`,
		"bad\xffutf8": `"bad\ufffdutf8"`,
		"ls\u2028ps":  `"ls\u2028ps"`,
		"é日本<>&":      `"é日本<>&"`,
	}
	for in, want := range cases {
		if got := string(AppendString(nil, in)); got != want {
			t.Errorf("AppendString(%q) = %s, want %s", in, got, want)
		}
	}
}

// FuzzSplit checks the splitter against encoding/json on valid objects.
func FuzzSplit(f *testing.F) {
	f.Add([]byte(`{"a":1,"b":"x\"y","c":[1,{"d":"]"}],"e":{"f":null},"a":2," k\u0065y ":true}`))
	f.Add([]byte(` { } `))
	f.Add([]byte(`{"s":"\u00e9\ud83d\ude00","n":-1.5e3}`))
	f.Add([]byte("{\"a\":\"\xff\"}"))
	f.Add([]byte("{\"a\":[{\"\xc3\":1}],\"b\":\"ż\"}"))
	f.Fuzz(func(t *testing.T, in []byte) {
		if !utf8.Valid(in) { // RFC 8259: JSON text is UTF-8; encoding/json lets it pass
			if _, err := Parse(in, ""); err == nil {
				t.Fatalf("invalid UTF-8 accepted: %q", in)
			}
			return
		}
		var want map[string]json.RawMessage
		if json.Unmarshal(in, &want) != nil || want == nil {
			if _, err := Parse(in, ""); err == nil && json.Valid(in) == false {
				t.Fatalf("invalid input accepted: %q", in)
			}
			return
		}
		o, err := Parse(in, "")
		if err != nil {
			t.Fatalf("valid object rejected: %v", err)
		}
		all := o.Rest()
		if len(all) != len(want) {
			t.Fatalf("keys %d, want %d", len(all), len(want))
		}
		for k, v := range want {
			got, ok := all[k]
			if !ok {
				t.Fatalf("missing key %q", k)
			}
			var a, b bytes.Buffer
			_ = json.Compact(&a, v)
			_ = json.Compact(&b, got)
			if a.String() != b.String() {
				t.Fatalf("key %q: %s, want %s", k, b.String(), a.String())
			}
			if arr := bytes.TrimSpace(v); len(arr) > 0 && arr[0] == '[' {
				var wantArr []json.RawMessage
				_ = json.Unmarshal(v, &wantArr)
				if gotArr := splitArray(got); len(gotArr) != len(wantArr) {
					t.Fatalf("array %q: %d elements, want %d", k, len(gotArr), len(wantArr))
				}
			}
			if s, ok := jsonscan.String(got); ok {
				var ws string
				if json.Unmarshal(v, &ws) != nil || ws != s {
					t.Fatalf("string %q: %q, want %q", k, s, ws)
				}
			}
		}
	})
}

// A request whose strings are not UTF-8 is refused by the one validating
// pass of Parse, wherever the bad byte is.
func TestParseUTF8(t *testing.T) {
	for _, in := range []string{"{\"a\":\"\xff\"}", "{\"m\":[{\"c\":\"ok\xe2\x82\"}]}", "{\"\xc0\xaf\":1}"} {
		_, err := Parse([]byte(in), "")
		if err == nil || !strings.Contains(err.Error(), "UTF-8") {
			t.Errorf("Parse(%q) = %v, want an invalid UTF-8 error", in, err)
		}
	}
	if _, err := Parse([]byte(`{"a":"zażółć 😀","b":"\ud800"}`), ""); err != nil {
		t.Errorf("valid UTF-8 refused: %v", err)
	}
}
