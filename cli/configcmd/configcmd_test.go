package configcmd

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

func TestParseTarget(t *testing.T) {
	for in, want := range map[string]Target{
		"localhost":             {"http", "localhost", 0},
		"10.0.0.5:8001":         {"http", "10.0.0.5", 8001},
		"https://gpu1:8443":     {"https", "gpu1", 8443},
		"[::1]:1234":            {"http", "::1", 1234},
		"http://localhost:9000": {"http", "localhost", 9000},
	} {
		got, err := ParseTarget(in)
		if err != nil || got != want {
			t.Errorf("ParseTarget(%q) = %+v, %v", in, got, err)
		}
	}
	for _, bad := range []string{"host:0", "host:x", "http://"} {
		if _, err := ParseTarget(bad); err == nil {
			t.Errorf("ParseTarget(%q) accepted", bad)
		}
	}
}

func port(t *testing.T, url string) string {
	t.Helper()
	return url[strings.LastIndex(url, ":")+1:]
}

// Each runtime is recognised on its own port, with its context length; the
// config written is accepted by the router's validator and only uses api
// types the router routes.
func TestDiscover(t *testing.T) {
	oll := llmtest.NewOllama("o")
	defer oll.Close()
	oll.SetModels("llama3:8b", "qwen2:7b")
	vllm := llmtest.NewOpenAI("vllm")
	defer vllm.Close()
	vllm.SetModels("meta/llama-3.1-8b")
	kobold := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/v1/model":
			fmt.Fprint(w, `{"result":"koboldcpp/mistral-7b"}`)
		case "/api/extra/true_max_context_length":
			fmt.Fprint(w, `{"value":8192}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer kobold.Close()
	llama := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/props":
			fmt.Fprint(w, `{"default_generation_settings":{"n_ctx":4096}}`)
		case "/v1/models":
			fmt.Fprint(w, `{"object":"list","data":[{"id":"phi-3.gguf","object":"model","owned_by":"llamacpp"}]}`)
		default:
			http.NotFound(w, r)
		}
	}))
	defer llama.Close()
	refused := llmtest.RefusedURL()

	var targets []Target
	for _, u := range []string{oll.URL, vllm.URL, kobold.URL, llama.URL, refused} {
		tg, err := ParseTarget(u)
		if err != nil {
			t.Fatal(err)
		}
		targets = append(targets, tg)
	}
	var log []string
	eps := Discover(context.Background(), targets, false, time.Second, func(f string, a ...any) { log = append(log, fmt.Sprintf(f, a...)) })
	got := map[string]string{}
	for _, ep := range eps {
		for _, m := range ep.Models {
			got[m.Model] = fmt.Sprintf("%s/%s/%d", ep.Runtime.Name, ep.Runtime.APIType, m.InputSize)
		}
	}
	want := map[string]string{
		"llama3:8b": "ollama/ollama/0", "qwen2:7b": "ollama/ollama/0",
		"meta/llama-3.1-8b": "vllm/vllm/0", "mistral-7b": "koboldcpp/openai/8192", "phi-3.gguf": "llamacpp/openai/4096",
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("found %v\nwant  %v", got, want)
	}
	if !strings.Contains(strings.Join(log, "\n"), port(t, refused)+": nothing found") {
		t.Errorf("log: %v", log)
	}
	b, _ := json.Marshal(ModelsConfig(eps))
	cfg, err := config.Parse("discovered", b)
	if err != nil {
		t.Fatalf("%v\n%s", err, b)
	}
	if len(cfg.Models()) != 5 {
		t.Errorf("%d models", len(cfg.Models()))
	}
	m, _ := cfg.Model("mistral-7b")
	if p := m.Providers[0]; p.InputSize != 8192 || p.APIHost != kobold.URL || p.ID != "openai_mistral-7b_"+strings.TrimPrefix(kobold.URL, "http://") {
		t.Errorf("provider %+v", p)
	}
}

func TestMerge(t *testing.T) {
	a := `{
	// first file
	"vllm_models": {"llama": {"providers": [
		{"id": "p1", "api_host": "http://a:8000", "api_type": "vllm"},
		{"id": "p2", "api_host": "http://b:8000", "api_type": "vllm"},
	]}},
	"active_models": {"vllm_models": ["llama"]},
}`
	b := `{
	"vllm_models": {"llama": {"providers": [
		{"id": "p2", "api_host": "http://b:8000", "api_type": "vllm"},
		{"id": "p9", "api_host": "http://a:8000", "api_type": "openai"},
		{"id": "p1", "api_host": "http://c:8000", "api_type": "vllm"},
		{"id": "p3", "api_host": "http://d:8000", "api_type": "vllm"}
	]}},
	"ollama_models": {"llama": {"providers": [{"id": "o1", "api_host": "http://e:11434", "api_type": "ollama"}]},
	                  "qwen": {"providers": [{"id": "o2", "api_host": "http://e:11434", "api_type": "ollama"}]}},
	"active_models": {"vllm_models": ["llama"], "ollama_models": ["llama", "qwen"]}
}`
	doc, conflicts, err := Merge([]Input{{"a.json", []byte(a)}, {"b.json", []byte(b)}})
	if err != nil {
		t.Fatal(err)
	}
	data, _ := json.Marshal(doc)
	cfg, err := config.Parse("merged", data)
	if err != nil {
		t.Fatalf("%v\n%s", err, data)
	}
	llama, _ := cfg.Model("llama")
	var ids []string
	for _, p := range llama.Providers {
		ids = append(ids, p.ID)
	}
	if want := []string{"p1", "p2", "o1", "p3"}; !slices.Equal(ids, want) {
		t.Errorf("llama providers %v, want %v", ids, want)
	}
	if _, ok := cfg.Model("qwen"); !ok {
		t.Error("qwen lost")
	}
	all := strings.Join(conflicts, "\n")
	for _, want := range []string{
		`provider "p9" has api_host http://a:8000, already served by provider "p1" from a.json`,
		`provider id "p1" is already used for http://a:8000 (in a.json); dropped this one (http://c:8000)`,
		`model "llama" is in group "ollama_models" here but in "vllm_models" earlier`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("conflicts lack %q:\n%s", want, all)
		}
	}
	if len(conflicts) != 3 {
		t.Errorf("%d conflicts:\n%s", len(conflicts), all)
	}
}
