package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

// TestRAGIndex is `llm-router rag index` run as a user would: the built
// binary embeds a directory of documents with a model of a models-config (an
// OpenAI-wire embedding provider), re-runs without embedding anything, does
// the same through a running router with --llm-router-url, and fails with a
// clear message on an empty directory, an unknown model and a provider that
// is down.
func TestRAGIndex(t *testing.T) {
	emb := llmtest.NewOpenAIPlus("emb")
	t.Cleanup(emb.Close)
	down := llmtest.NewOpenAIPlus("down")
	t.Cleanup(down.Close)
	down.SetFault(llmtest.Fail500)
	models := modelsJSON(map[string][]string{
		"embedder":      {prov("e1", emb.URL, "vllm", `"is_embedding": true`)},
		"down-embedder": {prov("d1", down.URL, "vllm", `"is_embedding": true`)},
	})
	modelsFile := filepath.Join(t.TempDir(), "models-config.json")
	if err := os.WriteFile(modelsFile, []byte(models), 0o644); err != nil {
		t.Fatal(err)
	}
	src, persist := t.TempDir(), t.TempDir()
	write := func(name, text string) {
		t.Helper()
		p := filepath.Join(src, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("guide.md", "# Guide\n\n"+strings.Repeat("Install the router, then point clients at it. ", 100))
	write("faq/page.html", "<html><body><h1>FAQ</h1><p>Tokens &amp; keys are rotated monthly.</p><script>secret()</script></body></html>")
	write("logo.txt", "\x89PNG\x00\x00")
	args := func(extra ...string) []string {
		return append([]string{"rag", "index", "--collection", "kb", "--model", "embedder", "--persist-dir", persist,
			"--models-config", modelsFile, "--chunk-size", "60", "--chunk-overlap", "15"}, extra...)
	}

	out, err := runCLI(t, nil, args("--ext", ".md", ".html", ".txt", src)...)
	if err != nil {
		t.Fatalf("rag index: %v\n%s", err, out)
	}
	if !strings.Contains(out, "collection kb: documents: 2 added, 0 updated, 0 unchanged, 0 removed, 1 skipped") ||
		!strings.Contains(out, "logo.txt: binary file") || !strings.Contains(out, "(4 dimensions, float32, model embedder)") {
		t.Errorf("output:\n%s", out)
	}
	calls := 0
	for _, q := range emb.Requests() {
		if q.Path == "/v1/embeddings" {
			calls++
			if strings.Contains(string(q.Body), "secret()") || strings.Contains(string(q.Body), "<h1>") {
				t.Errorf("the provider got HTML markup: %s", q.Body)
			}
		}
	}
	if calls == 0 {
		t.Fatal("the embedding provider got no request")
	}

	// The collection opens and finds a chunk by its own embedding.
	c, err := collection.Open(persist, "kb")
	if err != nil {
		t.Fatal(err)
	}
	if c.Model() != "embedder" || c.Dim() != 4 || c.Documents() != 2 {
		t.Errorf("collection: model %q, dim %d, %d documents", c.Model(), c.Dim(), c.Documents())
	}
	all, err := c.Search([]float32{1, 0, 0, 0}, c.Len(), -1)
	if err != nil || len(all) != c.Len() {
		t.Fatalf("search all: %d hits, %v", len(all), err)
	}
	var faq collection.Hit
	for _, h := range all {
		if strings.HasSuffix(h.Doc, "faq/page.html") {
			faq = h
		}
	}
	if faq.Text != "FAQ\n\nTokens & keys are rotated monthly." {
		t.Errorf("FAQ chunk %q", faq.Text)
	}
	v := llmtest.Vector(faq.Text)
	q := []float32{float32(v[0]), float32(v[1]), float32(v[2]), float32(v[3])}
	if hits, err := c.Search(q, 1, 0.99); err != nil || len(hits) != 1 || hits[0].Doc != faq.Doc {
		t.Errorf("search by the FAQ chunk's vector: %+v, %v", hits, err)
	}
	c.Close()

	// `rag search` finds it too, with the collection's own model.
	out, err = runCLI(t, nil, "rag", "search", "--collection", "kb", "--persist-dir", persist, "--models-config", modelsFile,
		"--top-k", "1", faq.Text)
	if err != nil || !strings.HasPrefix(out, "1.0000  "+faq.Doc+"#0\n    FAQ\n    \n    Tokens & keys") {
		t.Errorf("rag search: %v\n%s", err, out)
	}

	// Again: nothing to embed.
	before := len(emb.Requests())
	out, err = runCLI(t, nil, args("--ext", ".md,.html,.txt", src)...)
	if err != nil || !strings.Contains(out, "2 unchanged") || !strings.Contains(out, "nothing changed") {
		t.Errorf("second run: %v\n%s", err, out)
	}
	if n := len(emb.Requests()); n != before {
		t.Errorf("second run sent %d requests to the provider", n-before)
	}

	// Through a running router, with the variables of the original.
	r := startRouter(t, routerOpts{models: models})
	before = len(emb.Requests())
	out, err = runCLI(t, []string{"LLM_ROUTER_LANGCHAIN_RAG_COLLECTION=kb-url", "LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER=embedder",
		"LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR=" + persist}, "rag", "index", "--llm-router-url", r.Base(), src)
	if err != nil || !strings.Contains(out, "collection kb-url: documents: 2 added") {
		t.Errorf("through the router: %v\n%s", err, out)
	}
	if len(emb.Requests()) == before {
		t.Errorf("through the router: the provider got no request")
	}

	// An empty directory, an unknown model, a provider down: exit status 1,
	// a message, no collection.
	empty := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"empty directory", args(empty), "no documents to index: none found in " + empty},
		{"unknown model", []string{"rag", "index", "--collection", "kb2", "--model", "no-such-model", "--persist-dir", persist,
			"--models-config", modelsFile, src}, `embedding model "no-such-model"`},
		{"provider down", []string{"rag", "index", "--collection", "kb2", "--model", "down-embedder", "--persist-dir", persist,
			"--models-config", modelsFile, src}, `"down-embedder"`},
		{"unknown model through the router", []string{"rag", "index", "--collection", "kb2", "--model", "no-such-model",
			"--persist-dir", persist, "--llm-router-url", r.Base(), src}, `embedding model "no-such-model"`},
	} {
		out, err = runCLI(t, nil, tc.args...)
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, tc.want) {
			t.Errorf("%s: %v, want exit status 1 and %q in\n%s", tc.name, err, tc.want, out)
		}
	}
	if _, err := os.Stat(filepath.Join(persist, "kb2")); !os.IsNotExist(err) {
		t.Errorf("a failed run left a collection directory")
	}
}
