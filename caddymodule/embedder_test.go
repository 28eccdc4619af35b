package caddymodule

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins"
)

// OpenEmbedder serves the models of a models-config file without a
// server: OpenAI-wire and Ollama providers, failing over from a provider
// that fails, with the api_token placeholders resolved as the app does.
func TestOpenEmbedder(t *testing.T) {
	down := llmtest.NewOpenAIPlus("down")
	t.Cleanup(down.Close)
	down.SetFault(llmtest.Fail500)
	oa := llmtest.NewOpenAIPlus("oa")
	t.Cleanup(oa.Close)
	ol := llmtest.NewOllama("ol")
	t.Cleanup(ol.Close)
	t.Setenv("E16_EMBED_TOKEN", "sk-test-token")
	path := filepath.Join(t.TempDir(), "models-config.json")
	if err := os.WriteFile(path, []byte(`{
		"openai_models": {"e-oa": {"providers": [
			{"id": "down", "api_host": "`+down.URL+`", "api_type": "openai", "is_embedding": true},
			{"id": "oa", "api_host": "`+oa.URL+`", "api_type": "openai", "is_embedding": true, "api_token": "{env.E16_EMBED_TOKEN}"}]}},
		"ollama_models": {"e-ol": {"providers": [{"id": "ol", "api_host": "`+ol.URL+`", "api_type": "ollama", "is_embedding": true}]}},
		"active_models": {"openai_models": ["e-oa"], "ollama_models": ["e-ol"]}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	e, c, err := OpenEmbedder(context.Background(), path)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	texts := []string{"pierwszy", "second text"}
	for _, model := range []string{"e-oa", "e-ol"} {
		// Balanced: the failing provider may come first or not; with it
		// first, failover goes on to the other.
		for range 2 {
			got, err := e.Embed(context.Background(), model, texts)
			if err != nil {
				t.Fatalf("%s: %v", model, err)
			}
			for i, v := range got {
				w := llmtest.Vector(texts[i])
				if len(v) != len(w) || float64(v[0]) != float64(float32(w[0])) {
					t.Fatalf("%s: vector %d = %v, want %v", model, i, v, w)
				}
			}
		}
	}
	reqs := oa.Requests()
	if len(reqs) == 0 {
		t.Fatal("the provider with a token got no request")
	}
	if got := reqs[0].Header.Get("Authorization"); got != "Bearer sk-test-token" {
		t.Errorf("Authorization %q; want the resolved token", got)
	}
	if _, err := e.Embed(context.Background(), "nope", texts); err == nil || !strings.Contains(err.Error(), `"nope"`) {
		t.Errorf("unknown model: %v, want an error naming it", err)
	}
	if _, _, err := OpenEmbedder(context.Background(), filepath.Join(t.TempDir(), "missing.json")); err == nil {
		t.Error("a missing models-config file must be an error")
	}
}

// embedderUser is a utils plugin that needs an embedder.
type embedderUser struct{ got plugins.Embedder }

func (u *embedderUser) Apply(context.Context, *plugins.Request) error { return nil }
func (u *embedderUser) UseEmbedder(e plugins.Embedder)                { u.got = e }

// embedderGuard is a guardrail that needs one too.
type embedderGuard struct{ embedderUser }

func (g *embedderGuard) Check(context.Context, []string) (plugins.Decision, error) {
	return plugins.Decision{Safe: true}, nil
}

type noEmbedder struct{}

func (noEmbedder) Embed(context.Context, string, []string) ([][]float32, error) { return nil, nil }

// Every plugin of the pipeline that needs an embedder gets the app's.
func TestUseEmbedder(t *testing.T) {
	u, g := &embedderUser{}, &embedderGuard{}
	p := &plugins.Pipeline{Utils: []plugins.Util{u}, ResponseGuardrails: []plugins.Guardrail{g}}
	e := noEmbedder{}
	useEmbedder(p, e)
	if u.got != e || g.got != e {
		t.Fatalf("util got %v, guardrail got %v; want the embedder", u.got, g.got)
	}
	useEmbedder(nil, e) // no pipeline: nothing to do
}
