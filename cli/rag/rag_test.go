package rag

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
	"github.com/llmrouter/llm-router/plugins/rag/index"
)

func parse(t *testing.T, env map[string]string, args ...string) (config, error) {
	t.Helper()
	for k, v := range env {
		t.Setenv(k, v)
	}
	c := indexCommand()
	if err := c.ParseFlags(args); err != nil {
		return config{}, err
	}
	return parseFlags(c, c.Flags().Args())
}

func TestParseFlags(t *testing.T) {
	dir := t.TempDir()
	base := []string{"--collection", "kb", "--model", "emb", "--persist-dir", dir}
	for _, tc := range []struct {
		name  string
		env   map[string]string
		args  []string
		check func(config) bool
		err   string
	}{
		{name: "defaults are the original's", args: append(slices.Clone(base), "docs"),
			check: func(c config) bool {
				return c.coll.Chunk == chunk.Options{Size: 400, Overlap: 100} && c.coll.Kind == index.Float32 &&
					slices.Equal(c.paths, []string{"docs"}) && c.coll.Batch == 32 && c.coll.Workers == 2
			}},
		{name: "variables", env: map[string]string{envCollection: "c1", envEmbedder: "e1", envPersistDir: dir, envChunkSize: "200", envOverlap: "20"},
			args: []string{"docs"},
			check: func(c config) bool {
				return c.coll.Name == "c1" && c.coll.Model == "e1" && c.coll.PersistDir == dir && c.coll.Chunk == chunk.Options{Size: 200, Overlap: 20}
			}},
		{name: "flags beat variables", env: map[string]string{envChunkSize: "200", envOverlap: "20"},
			args:  append(slices.Clone(base), "--chunk-size", "300", "--chunk-overlap", "0", "docs"),
			check: func(c config) bool { return c.coll.Chunk == chunk.Options{Size: 300, Overlap: 0} }},
		{name: "ext as the original", args: append(slices.Clone(base), "--ext", ".md", ".html", ".TXT", "docs", "more"),
			check: func(c config) bool {
				return slices.Equal(c.coll.Exts, []string{".md", ".html", ".TXT"}) && slices.Equal(c.paths, []string{"docs", "more"})
			}},
		{name: "ext as a list", args: append(slices.Clone(base), "--ext", ".md,.html", "docs"),
			check: func(c config) bool { return slices.Equal(c.coll.Exts, []string{".md", ".html"}) }},
		{name: "int8", args: append(slices.Clone(base), "--kind", "int8", "docs"),
			check: func(c config) bool { return c.coll.Kind == index.Int8 }},
		{name: "nothing given", args: []string{},
			err: "missing --collection (or $LLM_ROUTER_LANGCHAIN_RAG_COLLECTION), --model (or $LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER), --persist-dir (or $LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR), at least one PATH"},
		{name: "no path", args: base, err: "at least one PATH"},
		{name: "bad variable", env: map[string]string{envChunkSize: "big"}, args: append(slices.Clone(base), "docs"), err: envChunkSize + `="big"`},
		{name: "overlap too big", args: append(slices.Clone(base), "--chunk-size", "100", "--chunk-overlap", "100", "docs"), err: "overlap 100"},
		{name: "size too big", args: append(slices.Clone(base), "--chunk-size", "100000", "docs"), err: "chunk size 100000"},
		{name: "bad workers", args: append(slices.Clone(base), "--workers", "0", "docs"), err: "workers 0"},
		{name: "bad kind", args: append(slices.Clone(base), "--kind", "float16", "docs"), err: "float16"},
		{name: "bad name", args: []string{"--collection", "../etc", "--model", "e", "--persist-dir", dir, "docs"}, err: "collection name"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{envCollection, envEmbedder, envPersistDir, envChunkSize, envOverlap} {
				t.Setenv(k, "")
			}
			cfg, err := parse(t, tc.env, tc.args...)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("error %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(cfg) {
				t.Errorf("config %+v", cfg)
			}
		})
	}
}

// fakeEmbedder answers 8-dimensional vectors of the text's bytes.
type fakeEmbedder struct{ calls int }

func (f *fakeEmbedder) Embed(_ context.Context, _ string, texts []string) ([][]float32, error) {
	f.calls++
	out := make([][]float32, len(texts))
	for i, t := range texts {
		v := make([]float32, 8)
		for j := range len(t) {
			v[j%8] += float32(t[j])
		}
		out[i] = v
	}
	return out, nil
}

func fixed(e plugins.Embedder) opener {
	return func(context.Context, config) (plugins.Embedder, io.Closer, error) { return e, nopCloser{}, nil }
}

func TestRun(t *testing.T) {
	src, persist := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "a.md"), []byte(strings.Repeat("Alpha beta gamma. ", 200)), 0o644)
	os.WriteFile(filepath.Join(src, "b.txt"), []byte("\x00binary"), 0o644)
	cfg := config{coll: collection.Options{PersistDir: persist, Name: "kb", Model: "emb", Chunk: chunk.Options{Size: 50, Overlap: 10}}, paths: []string{src}}
	e := &fakeEmbedder{}
	var out, errOut bytes.Buffer
	if err := run(context.Background(), cfg, fixed(e), &out, &errOut, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "collection kb: documents: 1 added, 0 updated, 0 unchanged, 0 removed, 1 skipped; chunks: ") ||
		!strings.Contains(out.String(), "(8 dimensions, float32, model emb)") {
		t.Errorf("summary %q", out.String())
	}
	if !strings.Contains(errOut.String(), "b.txt: binary file") || !strings.Contains(errOut.String(), "indexing: 2/2 documents") {
		t.Errorf("stderr %q: want the skipped file named and a progress line", errOut.String())
	}
	out.Reset()
	if err := run(context.Background(), cfg, fixed(e), &out, io.Discard, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 unchanged") || !strings.HasSuffix(strings.TrimSpace(out.String()), "nothing changed") {
		t.Errorf("second run %q", out.String())
	}

	cfg.paths = []string{t.TempDir()}
	err := run(context.Background(), cfg, fixed(e), io.Discard, io.Discard, false)
	if !errors.Is(err, collection.ErrNoDocuments) || !strings.Contains(err.Error(), "nothing was written") {
		t.Errorf("empty directory: %v", err)
	}
}

func TestProgressBar(t *testing.T) {
	var b bytes.Buffer
	start := time.Unix(1000, 0)
	pr := newProgress(&b, true, start)
	now := start.Add(10 * time.Second)
	pr.now = func() time.Time { return now }
	pr.update(collection.Progress{Docs: 4, Done: 1, Bytes: 4 << 20, Read: 1 << 20, Chunks: 50})
	pr.warn("skipped x.pdf: PDF is not supported")
	pr.finish()
	got := b.String()
	for _, want := range []string{"\r██████░", " 25.0% 1/4 documents, 1.0 MB/4.0 MB, 50 chunks, 5.0 chunks/s, ETA 30s",
		"\rllm-router rag: skipped x.pdf", "\n"} {
		if !strings.Contains(got, want) {
			t.Errorf("output %q lacks %q", got, want)
		}
	}
}

func TestHTTPEmbedder(t *testing.T) {
	f := llmtest.NewOpenAIPlus("emb")
	defer f.Close()
	e, err := newHTTPEmbedder(strings.TrimPrefix(f.URL, "http://"), "sk-secret", 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	vecs, err := e.Embed(context.Background(), "emb-model", []string{"one", "two"})
	if err != nil {
		t.Fatal(err)
	}
	if len(vecs) != 2 || len(vecs[1]) != 4 || vecs[1][2] != float32(llmtest.Vector("two")[2]) {
		t.Fatalf("vectors %v", vecs)
	}
	reqs := f.Requests()
	if last := reqs[len(reqs)-1]; last.Path != "/v1/embeddings" || last.Header.Get("Authorization") != "Bearer sk-secret" {
		t.Errorf("request %s %v", last.Path, last.Header)
	}
	f.SetFault(llmtest.Fail400)
	_, err = e.Embed(context.Background(), "emb-model", []string{"one"})
	if err == nil || !strings.Contains(err.Error(), `"emb-model"`) || strings.Contains(err.Error(), "sk-secret") {
		t.Errorf("error %v: want the model named, no token", err)
	}
}

// Without --llm-router-url the models-config's embedding model is used in
// process.
func TestRunInProcess(t *testing.T) {
	f := llmtest.NewOpenAIPlus("emb")
	defer f.Close()
	dir := t.TempDir()
	mc := filepath.Join(dir, "models-config.json")
	os.WriteFile(mc, []byte(`{"openai_models": {"emb": {"providers": [{"id": "e", "api_host": "`+f.URL+`", "api_type": "openai", "is_embedding": true}]}},
		"active_models": {"openai_models": ["emb"]}}`), 0o644)
	src := filepath.Join(dir, "docs")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a.md"), []byte("# A\n\nSome text to embed."), 0o644)
	cfg, err := parse(t, nil, "--collection", "kb", "--model", "emb", "--persist-dir", filepath.Join(dir, "rag"), "--models-config", mc, src)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(context.Background(), cfg, openEmbedder, &out, io.Discard, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "1 added") || !strings.Contains(out.String(), "(4 dimensions, float32, model emb)") {
		t.Errorf("summary %q", out.String())
	}
	if reqs := f.Requests(); len(reqs) != 1 || reqs[0].Path != "/v1/embeddings" {
		t.Errorf("provider requests %+v", reqs)
	}
}

func TestSearch(t *testing.T) {
	src, persist := t.TempDir(), t.TempDir()
	os.WriteFile(filepath.Join(src, "a.md"), []byte("Alpha beta gamma."), 0o644)
	os.WriteFile(filepath.Join(src, "b.md"), []byte(strings.Repeat("zzzz ", 100)), 0o644)
	cfg := config{coll: collection.Options{PersistDir: persist, Name: "kb", Model: "emb", Chunk: chunk.Options{Size: 400, Overlap: 100}}, paths: []string{src}}
	if err := run(context.Background(), cfg, fixed(&fakeEmbedder{}), io.Discard, io.Discard, false); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := search(context.Background(), cfg, fixed(&fakeEmbedder{}), "Alpha beta gamma.", 1, -1, false, &out); err != nil {
		t.Fatal(err)
	}
	want := "1.0000  " + filepath.ToSlash(filepath.Join(src, "a.md")) + "#0\n    Alpha beta gamma.\n"
	if !strings.HasPrefix(out.String(), want) {
		t.Errorf("search printed %q, want %q", out.String(), want)
	}
	out.Reset()
	if err := search(context.Background(), cfg, fixed(&fakeEmbedder{}), "zzzz", 2, -1, false, &out); err != nil || !strings.Contains(out.String(), "b.md#0") {
		t.Errorf("long chunk: %v %q", err, out.String())
	}
	if !strings.Contains(out.String(), "zzzz …") || strings.Count(out.String(), "zzzz") != 40 {
		t.Errorf("long chunk not clipped: %q", out.String())
	}
	cfg.coll.Name = "nope"
	if err := search(context.Background(), cfg, fixed(&fakeEmbedder{}), "x", 1, 0, false, io.Discard); !errors.Is(err, collection.ErrNotFound) {
		t.Errorf("missing collection: %v", err)
	}
}
