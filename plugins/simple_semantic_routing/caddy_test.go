package simplerouting

import (
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in      string
		want    Module
		wantErr bool
	}{
		{in: `simple_semantic_routing`, want: Module{}},
		{in: `simple_semantic_routing {
			config_file /etc/llm-router/simple.json
			models small mid big
			thresholds 10 100
			default_model small
		}`, want: Module{ConfigFile: "/etc/llm-router/simple.json", Models: []string{"small", "mid", "big"},
			Thresholds: []int{10, 100}, DefaultModel: "small"}},
		{in: `simple_semantic_routing extra`, wantErr: true},
		{in: "simple_semantic_routing {\n thresholds 10\n}", wantErr: true},
		{in: "simple_semantic_routing {\n thresholds ten 20\n}", wantErr: true},
		{in: "simple_semantic_routing {\n models\n}", wantErr: true},
		{in: "simple_semantic_routing {\n colour blue\n}", wantErr: true},
	}
	for _, tt := range tests {
		var m Module
		err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if (err != nil) != tt.wantErr {
			t.Errorf("%s: error %v, wantErr %v", tt.in, err, tt.wantErr)
			continue
		}
		if !tt.wantErr && !reflect.DeepEqual(m, tt.want) {
			t.Errorf("%s: got %+v, want %+v", tt.in, m, tt.want)
		}
	}
}

// TestModuleLayers checks the order file → environment → module fields.
func TestModuleLayers(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routing.json")
	if err := os.WriteFile(file, []byte(testJSON), 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{EnvModels + "=e1|e2|e3", EnvThresholds + "=1|2", EnvDefaultModel + "=envdef"}
	tests := []struct {
		name string
		mod  Module
		pool []string
		th   [2]int
		def  string
	}{
		{"bundled + env", Module{}, []string{"e1", "e2", "e3"}, [2]int{1, 2}, "envdef"},
		{"file + env", Module{ConfigFile: file}, []string{"e1", "e2", "e3"}, [2]int{1, 2}, "envdef"},
		{"fields win", Module{ConfigFile: file, Models: []string{"f1"}, Thresholds: []int{3, 4}, DefaultModel: "fdef"},
			[]string{"f1"}, [2]int{3, 4}, "fdef"},
	}
	for _, tt := range tests {
		c, err := tt.mod.config(env)
		if err != nil {
			t.Errorf("%s: %v", tt.name, err)
			continue
		}
		if !reflect.DeepEqual(c.Pool(), tt.pool) || c.Thresholds != tt.th || c.DefaultModel != tt.def {
			t.Errorf("%s: pool %v thresholds %v default %q", tt.name, c.Pool(), c.Thresholds, c.DefaultModel)
		}
	}
	bad := []Module{
		{ConfigFile: filepath.Join(t.TempDir(), "missing.json")},
		{Thresholds: []int{1}},
		{Thresholds: []int{9, 1}},
	}
	for _, m := range bad {
		if _, err := m.config(nil); err == nil {
			t.Errorf("%+v: want error", m)
		}
	}
	if _, err := (&Module{}).config([]string{EnvThresholds + "=oops"}); err == nil {
		t.Error("malformed env: want error")
	}
}

func TestModuleApply(t *testing.T) {
	for _, k := range []string{EnvModels, EnvThresholds, EnvDefaultModel} {
		t.Setenv(k, "") // empty values are ignored
	}
	m := &Module{Models: []string{"small", "big"}}
	if err := m.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	if err := m.Validate(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		model  string
		texts  []string
		want   string
		reason string
	}{
		{"llama3", []string{"napisz funkcję w pythonie"}, "llama3", ""},
		{Auto, []string{"napisz funkcję w pythonie"}, "big", "intent=code complexity=simple tokens=5"},
		{Auto, []string{"jaka jest stolica Francji?"}, "small", "intent=general complexity=simple tokens=5"},
		{Auto, nil, "gpt-oss:120b", "no text: default model"}, // default: the bundled simple level's model
	}
	for _, tt := range tests {
		r := &plugins.Request{Model: tt.model, Texts: tt.texts}
		if err := m.Apply(t.Context(), r); err != nil || r.Model != tt.want || r.Reason != tt.reason {
			t.Errorf("Apply(%q, %q) → %q %q, %v; want %q %q", tt.model, tt.texts, r.Model, r.Reason, err, tt.want, tt.reason)
		}
	}
}
