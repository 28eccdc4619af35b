package doc

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/tailscale/hujson"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/resources"
)

// decode reads JSON or HuJSON into encoding/json values, numbers as written.
func decode(t *testing.T, data []byte) any {
	t.Helper()
	std, err := hujson.Standardize(bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

// topKeys returns the top-level keys in document order.
func topKeys(t *testing.T, data []byte) []string {
	t.Helper()
	std, err := hujson.Standardize(bytes.Clone(data))
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(std))
	var keys []string
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return keys
		}
		switch v := tok.(type) {
		case json.Delim:
			if v == '{' || v == '[' {
				depth++
				expectKey = v == '{' && depth == 1
			} else {
				depth--
				expectKey = depth == 1
			}
			continue
		case string:
			if depth == 1 && expectKey {
				keys = append(keys, v)
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
}

func examples(t *testing.T) map[string][]byte {
	t.Helper()
	repo, err := resources.FS.ReadFile("models-config.json")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := os.ReadFile("testdata/seed-example.json")
	if err != nil {
		t.Fatal(err)
	}
	return map[string][]byte{"repository example": repo, "seed example": seed}
}

// TestImportExportRoundTrip: import then export gives the same document:
// the same decoded values (every field: keep_alive null, weight 1.0,
// is_embedding, providers_sleep, any group), the same key order, and the
// export imports again to the same bytes.
func TestImportExportRoundTrip(t *testing.T) {
	for name, data := range examples(t) {
		t.Run(name, func(t *testing.T) {
			d, err := Parse(data)
			if err != nil {
				t.Fatal(err)
			}
			out := d.JSON()
			if !reflect.DeepEqual(decode(t, data), decode(t, out)) {
				t.Fatalf("export differs from import:\n%s", out)
			}
			if got, want := topKeys(t, out), topKeys(t, data); !slices.Equal(got, want) {
				t.Fatalf("key order %v, want %v", got, want)
			}
			d2, err := Parse(out)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d2.JSON(), out) {
				t.Fatal("export is not stable")
			}
			if err := d.Validate(); err != nil {
				t.Fatalf("the router refuses the example: %v", err)
			}
		})
	}
	seed, _ := Parse(examples(t)["seed example"])
	out := string(seed.JSON())
	for _, want := range []string{`"weight": 1.0`, `"keep_alive": null`, `"is_embedding": true`, `"providers_sleep": []`, `"sk-…"`} {
		if !strings.Contains(out, want) {
			t.Errorf("export lacks %s", want)
		}
	}
	if got := seed.Groups(); !slices.Equal(got, []string{"google_models", "openai_models", "qwen_models"}) {
		t.Errorf("groups %v", got)
	}
}

// TestUnknownFieldsKept: fields the router does not read, at every level,
// survive an edit and the export.
func TestUnknownFieldsKept(t *testing.T) {
	src := `{
  "team_models": {
    "m": {
      "providers": [{"id": "a", "api_host": "http://h:1", "api_type": "openai", "x_rack": {"row": 3, "tags": ["gpu", "a100"]}, "x_note": "keep"}],
      "x_owner": "ops"
    }
  },
  "x_meta": {"z": 1, "a": 2},
  "active_models": {"team_models": ["m"]}
}`
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.SetProvider("team_models", "m", 0, Fields{"weight": "0.5", "x_note": "kept"}); err != nil {
		t.Fatal(err)
	}
	got := decode(t, d.JSON()).(map[string]any)
	p := got["team_models"].(map[string]any)["m"].(map[string]any)["providers"].([]any)[0].(map[string]any)
	if !reflect.DeepEqual(p["x_rack"], decode(t, []byte(`{"row": 3, "tags": ["gpu", "a100"]}`))) || p["x_note"] != "kept" || p["weight"] != json.Number("0.5") {
		t.Fatalf("provider after edit: %v", p)
	}
	if got["team_models"].(map[string]any)["m"].(map[string]any)["x_owner"] != "ops" {
		t.Fatal("model-level unknown field lost")
	}
	if !strings.Contains(string(d.JSON()), "\"x_meta\": {\n    \"z\": 1,\n    \"a\": 2\n  }") {
		t.Fatalf("top-level unknown object not kept in order:\n%s", d.JSON())
	}
	m, _ := d.Model("team_models", "m")
	if len(m.Extra) != 1 || m.Extra[0].Name != "x_owner" {
		t.Fatalf("model extra fields %v", m.Extra)
	}
	var unknown []string
	for _, f := range m.Providers[0].Fields {
		if !f.Known {
			unknown = append(unknown, f.Name)
		}
	}
	if !slices.Equal(unknown, []string{"x_rack", "x_note"}) {
		t.Fatalf("unknown provider fields %v", unknown)
	}
	// A nested unknown value is form text in document order, and edited as
	// JSON.
	if got := m.Providers[0].Get("x_rack"); got != `{"row":3,"tags":["gpu","a100"]}` {
		t.Fatalf("x_rack as form text: %s", got)
	}
	if err := d.SetProvider("team_models", "m", 0, Fields{"x_rack": `{"row": 4}`}); err != nil {
		t.Fatal(err)
	}
	if err := d.SetProvider("team_models", "m", 0, Fields{"x_rack": `{"row": `}); err == nil || !strings.Contains(err.Error(), "not valid JSON") {
		t.Fatalf("invalid JSON for a nested field: %v", err)
	}
	if m, _ := d.Model("team_models", "m"); m.Providers[0].Get("x_rack") != `{"row":4}` {
		t.Fatalf("x_rack after edit: %s", m.Providers[0].Get("x_rack"))
	}
}

// TestHuJSON: comments and trailing commas are accepted; export is plain
// JSON without them.
func TestHuJSON(t *testing.T) {
	src := `// models for the lab
{
  /* the group */ "lab_models": {
    "m": {"providers": [{"id": "a", "api_host": "http://h:1", "api_type": "ollama",},],},
  },
  "active_models": {"lab_models": ["m",],}, // trailing
}`
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	out := d.JSON()
	if !json.Valid(out) || bytes.Contains(out, []byte("for the lab")) || bytes.Contains(out, []byte("the group")) || bytes.Contains(out, []byte(",]")) {
		t.Fatalf("export is not plain JSON:\n%s", out)
	}
	if err := d.Validate(); err != nil {
		t.Fatal(err)
	}
}

// TestSyntaxErrors: a malformed import names the line and column.
func TestSyntaxErrors(t *testing.T) {
	tests := []struct {
		name      string
		src       string
		line, col int
	}{
		{"missing comma", "{\n  \"a\": {}\n  \"b\": {}\n}", 3, 3},
		{"number then value", "{\n  \"a\": 1 2\n}", 2, 10},
		{"bad literal", "{\n  \"a\": nul\n}", 2, 8},
		{"top level array", "[1, 2]", 1, 1},
		{"data after the object", "{}\n{}", 2, 1},
		{"empty", "", 1, 1},
		// Unbounded, the parser's recursion overflowed the stack and
		// ended the process.
		{"nested too deep", `{"a": ` + strings.Repeat("[", MaxSize-10), 1, 7 + MaxDepth - 1},
		{"nested too deep, brackets in comments and strings", deepHead + strings.Repeat(`{"b": `, MaxDepth) + "1" + strings.Repeat("}", MaxDepth+1),
			3, len(deepHead) - strings.LastIndexByte(deepHead, '\n') + 6*(MaxDepth-1)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.src))
			var se *SyntaxError
			if !errors.As(err, &se) {
				t.Fatalf("error %v (%T), want *SyntaxError", err, err)
			}
			if se.Line != tc.line || se.Col != tc.col {
				t.Fatalf("at line %d column %d, want %d:%d (%v)", se.Line, se.Col, tc.line, tc.col, err)
			}
			if !strings.Contains(err.Error(), "line ") || !strings.Contains(err.Error(), "column ") {
				t.Fatalf("message %q does not say where", err)
			}
		})
	}
}

// deepHead opens a document with brackets in a comment and in a string,
// then a key whose value nests.
const deepHead = "{\n  // [[[[\n  \"a\": /* {{{{ */ \"[[[\\\"[\", \"c\": "

// TestMaxDepth: a document nested MaxDepth deep parses; brackets in strings
// and comments do not count.
func TestMaxDepth(t *testing.T) {
	src := deepHead + strings.Repeat(`{"b": `, MaxDepth-1) + "1" + strings.Repeat("}", MaxDepth)
	d, err := Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(d.JSON(), []byte(`"a": "[[[\"["`)) {
		t.Fatalf("export lost the string:\n%s", d.JSON())
	}
}

func TestTooLarge(t *testing.T) {
	big := make([]byte, MaxSize+1)
	if _, err := Parse(big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("error %v, want ErrTooLarge", err)
	}
}

// TestValidationMessages: the router's validator speaks, naming the file,
// model, provider and field.
func TestValidationMessages(t *testing.T) {
	tests := []struct {
		name, src string
		want      []string
	}{
		{"unknown api_type", `{"g": {"m": {"providers": [{"id": "p1", "api_host": "http://h", "api_type": "grpc"}]}}, "active_models": {"g": ["m"]}}`,
			[]string{"lab.json", `model "m"`, `provider "p1"`, `field "api_type"`, `unknown api_type "grpc"`}},
		{"missing api_host", `{"g": {"m": {"providers": [{"id": "p1", "api_type": "openai"}]}}, "active_models": {"g": ["m"]}}`,
			[]string{`provider "p1"`, `field "api_host"`, "is required"}},
		{"active model not defined", `{"g": {}, "active_models": {"g": ["ghost"]}}`,
			[]string{`model "ghost"`, "not defined"}},
		{"duplicate id", `{"g": {"a": {"providers": [{"id": "p", "api_host": "http://h", "api_type": "openai"}]}, "b": {"providers": [{"id": "p", "api_host": "http://h", "api_type": "openai"}]}}, "active_models": {"g": ["a", "b"]}}`,
			[]string{`model "b"`, "duplicate provider id"}},
		{"no active_models", `{"g": {}}`, []string{`field "active_models"`, "is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d, err := Parse([]byte(tc.src))
			if err != nil {
				t.Fatal(err)
			}
			d.Name = "lab.json"
			err = d.Validate()
			var ce *config.Error
			if !errors.As(err, &ce) {
				t.Fatalf("error %v, want *config.Error", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("message %q lacks %q", err, w)
				}
			}
		})
	}
	d, _ := Parse([]byte(`{"g": {"m": {"providers": [{"id": "p", "api_host": "http://h", "api_type": "openai", "api_tokn": "x"}]}}, "active_models": {"g": ["m"]}}`))
	warn, err := d.Check()
	if err != nil || len(warn) != 1 || !strings.Contains(warn[0].Error(), `did you mean "api_token"`) {
		t.Fatalf("warnings %v, error %v", warn, err)
	}
}

// TestProviderFields: the form's schema is the router's: every field it
// reads, every api_type it accepts.
func TestProviderFields(t *testing.T) {
	var names []string
	for _, f := range ProviderFields() {
		names = append(names, f.Name)
		if f.Type == "" || f.Help == "" {
			t.Errorf("field %s has no type or help", f.Name)
		}
		if f.Name == "api_type" && !slices.Equal(f.Enum, config.KnownAPITypes) {
			t.Errorf("api_type enum %v, want %v", f.Enum, config.KnownAPITypes)
		}
	}
	if !slices.Equal(names, config.ProviderFieldNames()) {
		t.Fatalf("schema %v, router reads %v", names, config.ProviderFieldNames())
	}
	for _, want := range []string{"weight", "input_size", "keep_alive", "tool_calling", "is_embedding", "model_path"} {
		if !slices.Contains(names, want) {
			t.Errorf("schema lacks %s", want)
		}
	}
}
