package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `{
  // comments and trailing commas are allowed (HuJSON)
  "google_models": {
    "google/gemma-3-12b-it": {
      "providers": [
        {"id": "gemma-a", "api_host": "http://10.0.0.71:7000/", "api_token": "", "api_type": "VLLM",
         "input_size": 4096, "model_path": "", "weight": 1.0, "keep_alive": null, "tool_calling": false},
        {"id": "gemma-b", "api_host": "http://10.0.0.71:7001/", "api_type": "vllm", "input_size": "8192", "weight": 0.5},
      ],
      "providers_sleep": [],
    },
    "not-active": {"providers": [{"id": "x", "api_host": "http://h", "api_type": "openai"}]},
  },
  "openai_models": {
    "gpt-oss:120b": {"providers": [{"id": "oss", "api_host": "http://10.0.0.66:11434", "api_type": "ollama",
      "keep_alive": "35m", "tool_calling": true, "model_path": "gpt-oss:120b-q4"}]},
  },
  "active_models": {
    "openai_models": ["gpt-oss:120b"],
    "google_models": ["google/gemma-3-12b-it"],
  },
}`

func TestParseGood(t *testing.T) {
	cfg, err := Parse("models.json", []byte(good))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, m := range cfg.Models() {
		names = append(names, m.Name)
	}
	// Groups keep document order, models keep their active_models order.
	if got, want := strings.Join(names, ","), "google/gemma-3-12b-it,gpt-oss:120b"; got != want {
		t.Fatalf("models = %s, want %s", got, want)
	}
	if _, ok := cfg.Model("not-active"); ok {
		t.Fatal("inactive model must not be served")
	}
	g, _ := cfg.Model("google/gemma-3-12b-it")
	if len(g.Providers) != 2 || g.Providers[0].APIType != APIVLLM || g.Providers[1].Weight != 0.5 || g.Providers[1].InputSize != 8192 {
		t.Fatalf("providers parsed wrong: %+v %+v", g.Providers[0], g.Providers[1])
	}
	o, _ := cfg.Model("gpt-oss:120b")
	p := o.Providers[0]
	if p.UpstreamModel(o.Name) != "gpt-oss:120b-q4" || p.KeepAlive != "35m" || !p.ToolCalling || p.Weight != 1 {
		t.Fatalf("provider parsed wrong: %+v", p)
	}
	if g.Providers[0].UpstreamModel(g.Name) != g.Name {
		t.Fatal("empty model_path must send the logical name")
	}
}

func TestParseErrors(t *testing.T) {
	wrap := func(providers string) string {
		return `{"g": {"m": {"providers": [` + providers + `]}}, "active_models": {"g": ["m"]}}`
	}
	tests := []struct {
		name, doc string
		want      []string // substrings the error must contain
	}{
		{"syntax", "{\n\"a\": ,\n}", []string{"cfg.json", "line 2", "invalid JSON"}},
		{"no active", `{"g": {}}`, []string{`field "active_models"`, "required"}},
		{"undefined group", `{"active_models": {"g": ["m"]}}`, []string{`group "g" is not defined`}},
		{"undefined model", `{"g": {}, "active_models": {"g": ["m"]}}`, []string{`model "m"`, "not defined"}},
		{"no providers key", `{"g": {"m": {}}, "active_models": {"g": ["m"]}}`, []string{`model "m"`, `field "providers"`}},
		{"missing id", wrap(`{"api_host": "http://h", "api_type": "openai"}`), []string{`model "m"`, "provider #0", `field "id"`}},
		{"missing host", wrap(`{"id": "p1", "api_type": "openai"}`), []string{`provider "p1"`, `field "api_host"`}},
		{"bad host", wrap(`{"id": "p1", "api_host": "h:80", "api_type": "openai"}`), []string{`provider "p1"`, `field "api_host"`}},
		{"unknown type", wrap(`{"id": "p1", "api_host": "http://h", "api_type": "llamacpp"}`), []string{`provider "p1"`, `field "api_type"`, "llamacpp"}},
		{"dup id", wrap(`{"id": "p1", "api_host": "http://h", "api_type": "openai"}, {"id": "p1", "api_host": "http://h2", "api_type": "vllm"}`), []string{`provider "p1"`, "duplicate"}},
		{"bad weight", wrap(`{"id": "p1", "api_host": "http://h", "api_type": "openai", "weight": "heavy"}`), []string{`field "weight"`}},
		{"bad input", wrap(`{"id": "p1", "api_host": "http://h", "api_type": "openai", "input_size": 1.5}`), []string{`field "input_size"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("cfg.json", []byte(tt.doc))
			if err == nil {
				t.Fatal("want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLoadFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.json")
	if err := os.WriteFile(p, []byte(good), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := LoadFile(p)
	if err != nil || cfg.Source != p {
		t.Fatalf("LoadFile: %v", err)
	}
	if _, err := LoadFile(filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Fatal("missing file must fail")
	}
}

func TestAcceptsTools(t *testing.T) {
	tests := []struct {
		apiType           string
		toolCalling, want bool
	}{
		{APIOpenAI, false, false},
		{APIVLLM, true, true},
		{APIOllama, false, false},
		{APIAnthropic, false, true}, // tools are part of the Messages API
	}
	for _, tt := range tests {
		p := Provider{APIType: tt.apiType, ToolCalling: tt.toolCalling}
		if got := p.AcceptsTools(); got != tt.want {
			t.Errorf("%s with tool_calling %v: AcceptsTools() = %v", tt.apiType, tt.toolCalling, got)
		}
	}
}

func TestUnknownFields(t *testing.T) {
	doc := `{
  "g": {
    "m": {
      "providers": [
        {"id": "p1", "api_host": "http://h", "api_type": "openai",
         "api_tokn": "secret", "model_pth": "x"},
      ],
      "fallback": [],
    },
  },
  "active_models": {"g": ["m"]},
}`
	tests := []struct {
		name  string
		want  []string // one warning each, in order
		field string
	}{
		{"provider typo", []string{
			`cfg.json:6: model "m": provider "p1": field "api_tokn": unknown field (did you mean "api_token"?); it is ignored`,
		}, "api_tokn"},
		{"second typo", []string{
			`cfg.json:6: model "m": provider "p1": field "model_pth": unknown field (did you mean "model_path"?); it is ignored`,
		}, "model_pth"},
		{"model level", []string{
			`cfg.json:8: model "m": field "fallback": unknown field (known: providers, providers_sleep); it is ignored`,
		}, "fallback"},
	}
	cfg, err := Parse("cfg.json", []byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	byField := map[string]string{}
	for _, w := range cfg.Warnings {
		byField[w.Field] = w.Error()
	}
	if len(cfg.Warnings) != 3 {
		t.Fatalf("warnings = %v, want 3", cfg.Warnings)
	}
	for _, tt := range tests {
		if got := byField[tt.field]; got != tt.want[0] {
			t.Errorf("%s:\n got %s\nwant %s", tt.name, got, tt.want[0])
		}
	}
	for _, w := range cfg.Warnings {
		if strings.Contains(w.Error(), "secret") {
			t.Errorf("warning shows a value: %s", w)
		}
	}

	_, err = Options{Strict: true}.Parse("cfg.json", []byte(doc))
	var ce *Error
	if !errors.As(err, &ce) || ce.Field != "fallback" || !strings.Contains(err.Error(), "strict_models_config") {
		t.Fatalf("strict: err = %v, want the unknown field refused", err)
	}

	clean, err := Options{Strict: true}.Parse("cfg.json", []byte(good))
	if err != nil || len(clean.Warnings) != 0 {
		t.Fatalf("a config with known fields only: err %v, warnings %v", err, clean.Warnings)
	}
}

func TestClosest(t *testing.T) {
	tests := []struct{ in, want string }{
		{"api_tokn", "api_token"},
		{"API_HOST", "api_host"},
		{"model_pth", "model_path"},
		{"toolcalling", "tool_calling"},
		{"completely_different", ""},
	}
	for _, tt := range tests {
		if got := closest(tt.in, providerFields); got != tt.want {
			t.Errorf("closest(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestReadFileBounded(t *testing.T) {
	p := filepath.Join(t.TempDir(), "big.json")
	if err := os.WriteFile(p, make([]byte, MaxFileSize+1), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(p); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("err = %v, want the size refused", err)
	}
}

func TestErrorLine(t *testing.T) {
	doc := "{\n\"g\": {\"m\": {\"providers\": [\n  {\"id\": \"a\", \"api_host\": \"http://h\", \"api_type\": \"openai\"},\n  {\"id\": \"b\", \"api_host\": \"h:80\", \"api_type\": \"openai\"}\n]}},\n\"active_models\": {\"g\": [\"m\"]}\n}"
	_, err := Parse("cfg.json", []byte(doc))
	if err == nil || !strings.HasPrefix(err.Error(), `cfg.json:4: model "m": provider "b": field "api_host"`) {
		t.Fatalf("err = %v, want it at line 4, the provider's", err)
	}
}
