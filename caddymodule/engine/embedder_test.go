package engine

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
)

// embedEngine is an engine over the models of a models-config document,
// its providers leased first-available in their configured order, with the
// default failover policy.
func embedEngine(t *testing.T, modelsConfig string, pipeline *plugins.Pipeline) *Engine {
	t.Helper()
	cfg, err := config.Parse("test.json", []byte(modelsConfig))
	if err != nil {
		t.Fatal(err)
	}
	ups := map[string]*provider.Upstream{}
	for _, m := range cfg.Models() {
		for _, p := range m.Providers {
			rt := provider.NewTransport(provider.TransportOptions{ConnectTimeout: time.Second})
			t.Cleanup(rt.CloseIdleConnections)
			if ups[p.ID], err = provider.New(p, "", rt); err != nil {
				t.Fatal(err)
			}
		}
	}
	return New(Options{Config: cfg, Upstreams: ups, Balancer: newTestBalancer(), Retry: defaultRetry, Pipeline: pipeline,
		ExternalTimeout: 10 * time.Second, MaxResponseBody: 64 << 20})
}

// providers is the JSON of a model's providers of apiType at hosts, with
// ids prefix0, prefix1, ...
func providers(prefix, apiType string, hosts ...string) string {
	var ps []string
	for i, h := range hosts {
		ps = append(ps, fmt.Sprintf(`{"id": "%s%d", "api_host": %q, "api_type": %q, "is_embedding": true, "model_path": "up-%s"}`, prefix, i, h, apiType, prefix))
	}
	return "[" + strings.Join(ps, ",") + "]"
}

// want is the vectors the fake providers answer for texts.
func want(texts ...string) [][]float32 {
	var out [][]float32
	for _, t := range texts {
		var v []float32
		for _, x := range llmtest.Vector(t) {
			v = append(v, float32(x))
		}
		out = append(out, v)
	}
	return out
}

func equalVectors(a, b [][]float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if len(a[i]) != len(b[i]) {
			return false
		}
		for j := range a[i] {
			if a[i][j] != b[i][j] {
				return false
			}
		}
	}
	return true
}

// failMasker refuses every text: a pipeline Embed must not run.
type failMasker struct{ called *int }

func (m failMasker) MaskTexts(context.Context, []string) ([]string, map[string]string, error) {
	*m.called++
	return nil, nil, errors.New("the masker must not see the router's own texts")
}

// Embed serves OpenAI-wire and Ollama providers, asking each for its
// upstream model, and returns one vector per text in order, without the
// masking pipeline (even with force masking on).
func TestEmbed(t *testing.T) {
	oa := llmtest.NewOpenAIPlus("oa")
	t.Cleanup(oa.Close)
	ol := llmtest.NewOllama("ol")
	t.Cleanup(ol.Close)
	masked := 0
	e := embedEngine(t, `{
		"openai_models": {"e-oa": {"providers": `+providers("oa", "openai", oa.URL)+`}},
		"ollama_models": {"e-ol": {"providers": `+providers("ol", "ollama", ol.URL)+`}},
		"active_models": {"openai_models": ["e-oa"], "ollama_models": ["e-ol"]}}`,
		&plugins.Pipeline{ForceMasking: true, Maskers: []plugins.Masker{failMasker{&masked}}})
	texts := []string{"Jan Kowalski, tel. 600100200", "drugi tekst", "trzeci"}
	for _, tc := range []struct {
		model, path string
		fake        interface{ Requests() []llmtest.Request }
	}{
		{"e-oa", "/v1/embeddings", oa},
		{"e-ol", "/api/embed", ol},
	} {
		got, err := e.Embed(context.Background(), tc.model, texts)
		if err != nil {
			t.Fatalf("%s: %v", tc.model, err)
		}
		if !equalVectors(got, want(texts...)) {
			t.Errorf("%s: vectors %v, want %v", tc.model, got, want(texts...))
		}
		reqs := tc.fake.Requests()
		if len(reqs) != 1 || reqs[0].Path != tc.path {
			t.Fatalf("%s: provider requests %+v, want one to %s", tc.model, reqs, tc.path)
		}
		body := reqs[0].JSON()
		if body["model"] != "up-"+tc.model[2:] {
			t.Errorf("%s: upstream model %v, want the provider's model_path", tc.model, body["model"])
		}
		if !strings.Contains(string(reqs[0].Body), "600100200") {
			t.Errorf("%s: the text reached the provider changed: %s", tc.model, reqs[0].Body)
		}
		if reqs[0].Header.Get("X-Request-Id") == "" {
			t.Errorf("%s: no request id sent to the provider", tc.model)
		}
	}
	if masked != 0 {
		t.Errorf("the masker ran %d times on the router's own texts", masked)
	}
	// Called by a plugin while it serves a client's request, Embed leaves
	// that request's record (its model and provider, in the log, metrics
	// and provider header) alone, and sends its id.
	info := &reqInfo{requestID: "client-1"}
	info.routed("chat-model", "chat-provider")
	if _, err := e.Embed(context.WithValue(context.Background(), reqInfoKey{}, info), "e-oa", texts[:1]); err != nil {
		t.Fatal(err)
	}
	if info.model != "chat-model" || info.provider != "chat-provider" {
		t.Errorf("the client's request now names %s/%s", info.model, info.provider)
	}
	if id := oa.Requests()[1].Header.Get("X-Request-Id"); id != "client-1" {
		t.Errorf("the embedding call went out with request id %q, want the client request's", id)
	}
	got, err := e.Embed(context.Background(), "e-oa", nil)
	if err != nil || len(got) != 0 || len(oa.Requests()) != 2 {
		t.Errorf("no texts: %v, %v, %d requests; want no vectors, no error, no provider request", got, err, len(oa.Requests()))
	}
}

// A provider that fails (5xx, refused connection) or answers wrongly (a
// vector count other than the texts', vectors of differing dimension) is
// failed over to the model's next provider.
func TestEmbedFailover(t *testing.T) {
	good := llmtest.NewOpenAIPlus("good")
	t.Cleanup(good.Close)
	for _, tc := range []struct {
		name  string
		fault llmtest.Fault
		raw   string // the bad provider's answer, for NotJSON
	}{
		{"500", llmtest.Fail500, ""},
		{"wrong count", llmtest.NotJSON, `{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5,0.5]}]}`},
		{"differing dimensions", llmtest.NotJSON, `{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5,0.5]},{"object":"embedding","index":1,"embedding":[0.5,0.5,0.5]}]}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bad := llmtest.NewOpenAIPlus("bad")
			t.Cleanup(bad.Close)
			bad.SetFault(tc.fault)
			if tc.raw != "" {
				bad.SetRawAnswer("application/json", []byte(tc.raw))
			}
			e := embedEngine(t, `{"openai_models": {"e": {"providers": `+providers("p", "openai", bad.URL, good.URL)+`}},
				"active_models": {"openai_models": ["e"]}}`, nil)
			texts := []string{"one", "two"}
			got, err := e.Embed(context.Background(), "e", texts)
			if err != nil || !equalVectors(got, want(texts...)) {
				t.Fatalf("got %v, %v; want the second provider's vectors", got, err)
			}
			if n := bad.Count("/v1/embeddings"); n != 1 {
				t.Errorf("the failing provider got %d requests, want 1", n)
			}
		})
	}
	e := embedEngine(t, `{"openai_models": {"e": {"providers": `+providers("p", "openai", llmtest.RefusedURL(), good.URL)+`}},
		"active_models": {"openai_models": ["e"]}}`, nil)
	if got, err := e.Embed(context.Background(), "e", []string{"x"}); err != nil || !equalVectors(got, want("x")) {
		t.Fatalf("refused connection: %v, %v; want the second provider's vectors", got, err)
	}
}

// Every failure is an error that names the model, and says what went
// wrong.
func TestEmbedErrors(t *testing.T) {
	down := llmtest.NewOpenAIPlus("down")
	t.Cleanup(down.Close)
	down.SetFault(llmtest.Fail500)
	short := llmtest.NewOpenAIPlus("short")
	t.Cleanup(short.Close)
	short.SetFault(llmtest.NotJSON)
	short.SetRawAnswer("application/json", []byte(`{"object":"list","model":"m","data":[{"object":"embedding","index":0,"embedding":[0.5,0.5]}]}`))
	e := embedEngine(t, `{
		"openai_models": {
			"e-down": {"providers": `+providers("d", "openai", down.URL, down.URL)+`},
			"e-short": {"providers": `+providers("s", "openai", short.URL)+`}},
		"anthropic_models": {"claude": {"providers": [{"id": "a", "api_host": "http://127.0.0.1:1", "api_type": "anthropic"}]}},
		"active_models": {"openai_models": ["e-down", "e-short"], "anthropic_models": ["claude"]}}`, nil)
	for _, tc := range []struct {
		model string
		texts []string
		want  []string
	}{
		{"nope", []string{"x"}, []string{`embedding model "nope"`, "no such active model"}},
		{"claude", []string{"x"}, []string{`embedding model "claude"`, "none of its providers has an embeddings API"}},
		{"e-down", []string{"x"}, []string{`embedding model "e-down"`, "all 2 providers tried failed", "provider error"}},
		{"e-short", []string{"x", "y"}, []string{`embedding model "e-short"`, "1 vectors for 2 texts"}},
	} {
		got, err := e.Embed(context.Background(), tc.model, tc.texts)
		if err == nil {
			t.Errorf("%s: vectors %v, want an error", tc.model, got)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q, want it to say %q", tc.model, err, w)
			}
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := e.Embed(ctx, "e-short", []string{"x"}); !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), `"e-short"`) {
		t.Errorf("canceled: %v, want context.Canceled naming the model", err)
	}
}

func TestCheckVectors(t *testing.T) {
	for _, tc := range []struct {
		vs   [][]float32
		n    int
		want string
	}{
		{[][]float32{{1, 2}, {3, 4}}, 2, ""},
		{[][]float32{{1, 2}}, 2, "1 vectors for 2 texts"},
		{[][]float32{{1, 2}, {3}}, 2, "vector 1 has 1 dimensions, vector 0 has 2"},
		{[][]float32{{}, {}}, 2, "vector 0 is empty"},
	} {
		err := checkVectors(tc.vs, tc.n)
		if (err == nil) != (tc.want == "") || err != nil && err.Error() != tc.want {
			t.Errorf("checkVectors(%v, %d) = %v, want %q", tc.vs, tc.n, err, tc.want)
		}
	}
}
