package semrouting

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
)

const testConfig = `{
  "embedding_model": "bow",
  "settings": {"chunk_size": 256, "chunk_overlap": 64, "similarity_threshold": 0.3, "top_k": 1},
  "routing_targets": [
    {"name": "code", "model_name": "coder", "description": "Programming and software questions",
     "examples": ["Write a python function that parses JSON", "Fix the compile error in my golang program"]},
    {"name": "cooking", "model_name": "chef", "description": "Recipes and cooking",
     "examples": ["How do I bake sourdough bread", "A recipe for pierogi with potatoes and cheese"]}
  ]
}`

func testRouter(t *testing.T, mutate func(*Config), cacheDir string, failOpen bool) (*Router, *plugintest.Embedder) {
	t.Helper()
	cfg, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	if mutate != nil {
		mutate(cfg)
	}
	r, err := New(Name, cfg, cacheDir, failOpen)
	if err != nil {
		t.Fatal(err)
	}
	e := &plugintest.Embedder{Dim: 64, Models: []string{"bow"}}
	r.UseEmbedder(e)
	return r, e
}

func TestApply(t *testing.T) {
	fallback := func(c *Config) { c.Settings.FallbackModel = "general" }
	tests := []struct {
		name   string
		mutate func(*Config)
		req    plugins.Request
		model  string
		reason string
	}{
		{name: "code", req: plugins.Request{Model: "auto", Texts: []string{"hello", "Please fix this python function, it parses JSON wrong"}},
			model: "coder", reason: "target=code similarity="},
		{name: "cooking", req: plugins.Request{Model: "auto", Texts: []string{"What potatoes are best for pierogi?"}},
			model: "chef", reason: "target=cooking similarity="},
		{name: "not auto: untouched", req: plugins.Request{Model: "llama", Texts: []string{"python function"}}, model: "llama"},
		{name: "below threshold, no fallback: auto stays for the next util",
			req: plugins.Request{Model: "auto", Texts: []string{"quantum chromodynamics lattice"}}, model: "auto"},
		{name: "below threshold: fallback", mutate: fallback,
			req:   plugins.Request{Model: "auto", Texts: []string{"quantum chromodynamics lattice"}},
			model: "general", reason: "fallback: best target="},
		{name: "no text: fallback", mutate: fallback, req: plugins.Request{Model: "auto"}, model: "general", reason: "no text: fallback"},
		{name: "top_k 2 averages two examples", mutate: func(c *Config) { c.Settings.TopK = 2 },
			req: plugins.Request{Model: "auto", Texts: []string{"bake sourdough bread recipe"}}, model: "chef", reason: "target=cooking"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := testRouter(t, tt.mutate, "", false)
			req := tt.req
			if err := r.Apply(context.Background(), &req); err != nil {
				t.Fatal(err)
			}
			if req.Model != tt.model || !strings.HasPrefix(req.Reason, tt.reason) || (tt.reason == "" && req.Reason != "") {
				t.Fatalf("model %q reason %q, want %q %q…", req.Model, req.Reason, tt.model, tt.reason)
			}
		})
	}
}

func TestEmbedderDown(t *testing.T) {
	r, e := testRouter(t, func(c *Config) { c.Settings.FallbackModel = "general" }, "", false)
	e.SetDown(true)
	req := plugins.Request{Model: "auto", Texts: []string{"python"}}
	if err := r.Apply(context.Background(), &req); !errors.Is(err, plugins.ErrServiceUnavailable) || !strings.Contains(err.Error(), "embedding model bow") {
		t.Fatalf("fail closed: %v", err)
	}
	r, e = testRouter(t, func(c *Config) { c.Settings.FallbackModel = "general" }, "", true)
	e.SetDown(true)
	req = plugins.Request{Model: "auto", Texts: []string{"python"}}
	if err := r.Apply(context.Background(), &req); err != nil || req.Model != "general" {
		t.Fatalf("fail open: %v %q", err, req.Model)
	}
	// Back up: the examples are embedded then.
	e.SetDown(false)
	req = plugins.Request{Model: "auto", Texts: []string{"golang compile error"}}
	if err := r.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
		t.Fatalf("recovered: %v %q", err, req.Model)
	}
}

// TestCache checks that the example vectors are embedded once, read back
// by a new router, and rebuilt when the model or the examples change.
func TestCache(t *testing.T) {
	dir := t.TempDir()
	route := func(r *Router) {
		t.Helper()
		req := plugins.Request{Model: "auto", Texts: []string{"golang compile error"}}
		if err := r.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
			t.Fatalf("%v %q", err, req.Model)
		}
	}
	r, e := testRouter(t, nil, dir, false)
	route(r)
	route(r)
	if calls, texts := e.Calls(); calls != 3 || texts != 6+2 {
		t.Fatalf("first router: %d calls, %d texts; want the 6 examples once and 2 queries", calls, texts)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "examples-*.json"))
	if len(files) != 1 {
		t.Fatalf("cache files %v", files)
	}

	r2, e2 := testRouter(t, nil, dir, false)
	route(r2)
	if _, texts := e2.Calls(); texts != 1 {
		t.Fatalf("second router embedded %d texts, want only the query", texts)
	}

	r3, e3 := testRouter(t, func(c *Config) { c.Targets[0].Examples = append(c.Targets[0].Examples, "Refactor this golang module") }, dir, false)
	route(r3)
	if _, texts := e3.Calls(); texts != 7+1 {
		t.Fatalf("changed examples: embedded %d texts, want 8", texts)
	}
	r4, e4 := testRouter(t, func(c *Config) { c.EmbeddingModel = "bow2" }, dir, false)
	e4.Models = []string{"bow2"}
	route(r4)
	if _, texts := e4.Calls(); texts != 6+1 {
		t.Fatalf("changed model: embedded %d texts, want 7", texts)
	}

	// A damaged cache is rebuilt, not trusted.
	if err := os.WriteFile(files[0], []byte(`{"version":1,"vectors":[[1]]`), 0o600); err != nil {
		t.Fatal(err)
	}
	r5, e5 := testRouter(t, nil, dir, false)
	route(r5)
	if _, texts := e5.Calls(); texts != 7 {
		t.Fatalf("damaged cache: embedded %d texts, want 7", texts)
	}
}

// A cache of another dimension than the model now answers (another model
// under the same name) is rebuilt, not a 503 until someone deletes it.
func TestCacheOfAnotherDimension(t *testing.T) {
	dir := t.TempDir()
	r, _ := testRouter(t, nil, dir, false)
	if err := r.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	r2, _ := testRouter(t, nil, dir, false)
	e := &plugintest.Embedder{Dim: 32, Models: []string{"bow"}}
	r2.UseEmbedder(e)
	req := plugins.Request{Model: "auto", Texts: []string{"golang compile error"}}
	if err := r2.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
		t.Fatalf("%v %q", err, req.Model)
	}
	if _, texts := e.Calls(); texts != 1+6 {
		t.Fatalf("%d texts embedded, want the query and the 6 examples once", texts)
	}
	r3, e3 := testRouter(t, nil, dir, false)
	e3.Dim = 32
	req = plugins.Request{Model: "auto", Texts: []string{"golang compile error"}}
	if err := r3.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
		t.Fatalf("%v %q", err, req.Model)
	}
	if _, texts := e3.Calls(); texts != 1 {
		t.Fatalf("the rebuilt cache was not kept: %d texts embedded", texts)
	}
}

func TestConfig(t *testing.T) {
	file := filepath.Join(t.TempDir(), "routing.json")
	if err := os.WriteFile(file, []byte(testConfig), 0o644); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{EnvConfig: file, EnvModel: "envmodel", EnvTargets: "cooking", EnvPersistDir: "/cache"}
	getenv := func(k string) string { return env[k] }
	c, err := (&Module{name: Name}).config(getenv)
	if err != nil || c.EmbeddingModel != "envmodel" || len(c.Targets) != 1 || c.Targets[0].Name != "cooking" || c.Settings.VectorStorePath != "/cache" {
		t.Fatalf("env layer: %+v %v", c, err)
	}
	th := 0.7
	c, err = (&Module{name: Name, ConfigFile: file, Embedder: "f", Targets: []string{"code"}, Threshold: &th, TopK: 2, FallbackModel: "fb", CacheDir: "/c2"}).config(func(string) string { return "" })
	if err != nil || c.EmbeddingModel != "f" || c.Targets[0].Name != "code" || c.Settings.SimilarityThreshold != 0.7 || c.Settings.TopK != 2 ||
		c.Settings.FallbackModel != "fb" || c.Settings.VectorStorePath != "/c2" {
		t.Fatalf("fields layer: %+v %v", c, err)
	}
	raw := map[string]string{EnvConfig: testConfig}
	if c, err := (&Module{name: Name}).config(func(k string) string { return raw[k] }); err != nil || len(c.Targets) != 2 {
		t.Fatalf("raw JSON in the variable: %v", err)
	}

	bad := []struct {
		name string
		json string
		env  map[string]string
		has  string
	}{
		{"unknown key", `{"embedding_model":"m","routing_targets":[{"name":"a","model_name":"b","examples":["x"]}],"colour":1}`, nil, "colour"},
		{"no model", `{"routing_targets":[{"name":"a","model_name":"b","examples":["x"]}]}`, nil, "embedding_model"},
		{"no targets", `{"embedding_model":"m"}`, nil, "no routing_targets"},
		{"no model_name", `{"embedding_model":"m","routing_targets":[{"name":"a","examples":["x"]}]}`, nil, "no model_name"},
		{"no examples", `{"embedding_model":"m","routing_targets":[{"name":"a","model_name":"b"}]}`, nil, "no examples"},
		{"twice", `{"embedding_model":"m","routing_targets":[{"name":"a","model_name":"b","examples":["x"]},{"name":"a","model_name":"c","examples":["y"]}]}`, nil, "twice"},
		{"unknown target", testConfig, map[string]string{EnvTargets: "cooking|sports"}, `"sports"`},
		{"chunk size", testConfig, map[string]string{EnvChunkSize: "big"}, EnvChunkSize},
	}
	for _, b := range bad {
		e := map[string]string{EnvConfig: b.json}
		for k, v := range b.env {
			e[k] = v
		}
		if _, err := (&Module{name: Name}).config(func(k string) string { return e[k] }); err == nil || !strings.Contains(err.Error(), b.has) {
			t.Errorf("%s: error %v, want %q", b.name, err, b.has)
		}
	}
	if _, err := (&Module{name: Name}).config(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), EnvConfig) {
		t.Errorf("no config: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	th := 0.5
	tests := []struct {
		in      string
		want    Module
		wantErr bool
	}{
		{in: `semantic_routing`, want: Module{}},
		{in: `semantic_routing {
			config_file /etc/llm-router/targets.json
			embedder nomic-embed-text
			targets code cooking
			threshold 0.5
			top_k 3
			fallback_model general
			cache_dir /var/cache/llm-router
			fail_open
		}`, want: Module{ConfigFile: "/etc/llm-router/targets.json", Embedder: "nomic-embed-text", Targets: []string{"code", "cooking"},
			Threshold: &th, TopK: 3, FallbackModel: "general", CacheDir: "/var/cache/llm-router", FailOpen: true}},
		{in: "semantic_routing {\n threshold 2\n}", wantErr: true},
		{in: "semantic_routing {\n top_k 0\n}", wantErr: true},
		{in: "semantic_routing {\n targets\n}", wantErr: true},
		{in: "semantic_routing {\n colour blue\n}", wantErr: true},
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
	if (Biencoder{}).CaddyModule().ID != "llm_router.utils.semantic_biencoder_routing" || (Biencoder{}).CaddyModule().New().(*Biencoder).name != BiencoderName {
		t.Fatal("biencoder id")
	}
}

// blockingEmbedder answers nothing until its caller's context ends.
type blockingEmbedder struct{ started chan struct{} }

func (b blockingEmbedder) Embed(ctx context.Context, _ string, _ []string) ([][]float32, error) {
	select {
	case b.started <- struct{}{}:
	default:
	}
	<-ctx.Done()
	return nil, ctx.Err()
}

func provisioned(t *testing.T) *Module {
	t.Helper()
	dir := t.TempDir()
	cfgFile := filepath.Join(dir, "routing.json")
	if err := os.WriteFile(cfgFile, []byte(testConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	m := &Module{ConfigFile: cfgFile, CacheDir: filepath.Join(dir, "cache")}
	if err := m.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	return m
}

// The examples are embedded when the module gets its embedder, before any
// request; the first routed request then embeds only its own text.
func TestModuleEmbedsExamplesAtStart(t *testing.T) {
	m := provisioned(t)
	defer m.Cleanup()
	e := &plugintest.Embedder{Dim: 64, Models: []string{"bow"}}
	m.UseEmbedder(e)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, texts := e.Calls(); texts == 6 {
			break
		}
		if time.Now().After(deadline) {
			_, texts := e.Calls()
			t.Fatalf("examples not embedded at start: %d texts embedded, want 6", texts)
		}
		time.Sleep(5 * time.Millisecond)
	}
	req := plugins.Request{Model: "auto", Texts: []string{"golang compile error"}}
	if err := m.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
		t.Fatalf("%v %q", err, req.Model)
	}
	if _, texts := e.Calls(); texts != 7 {
		t.Fatalf("%d texts embedded, want the 6 examples once and the query", texts)
	}
}

// Cleanup stops an embedding of the examples that has not finished, and a
// request waiting for it gives up when its own context ends.
func TestModuleCleanupStopsWarm(t *testing.T) {
	m := provisioned(t)
	b := blockingEmbedder{started: make(chan struct{}, 1)}
	m.UseEmbedder(b)
	<-b.started
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req := plugins.Request{Model: "auto", Texts: []string{"golang"}}
	if err := m.Apply(ctx, &req); !errors.Is(err, context.Canceled) {
		t.Fatalf("waiting request: %v, want its context's end", err)
	}
	if err := m.Cleanup(); err != nil {
		t.Fatal(err)
	}
}

// shortEmbedder is an embedding server that refuses a text longer than
// max tokens, as vLLM and TEI refuse input past the model's length.
type shortEmbedder struct {
	plugintest.Embedder
	max int
}

func (e *shortEmbedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	for _, s := range texts {
		if n := chunk.Count(s); n > e.max {
			return nil, fmt.Errorf("status 400: input of %d tokens is longer than %d", n, e.max)
		}
	}
	return e.Embedder.Embed(ctx, model, texts)
}

// A user text longer than the embedding model takes is cut to chunk_size
// tokens and routed, not refused (503) because the model refused it.
func TestLongTextIsCut(t *testing.T) {
	long := "Please fix this python function, it parses JSON wrong. " + strings.Repeat("The traceback shows a line of the stack. ", 200)
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		env    string
		max    int
	}{
		{"chunk_size of the config", nil, "", 256},
		{"default chunk_size", func(c *Config) { c.Settings.ChunkSize = 0 }, "", chunk.DefaultSize},
		{"chunk_size of the environment", func(c *Config) { c.Settings.ChunkSize = 0 }, "64", 64},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := ParseConfig([]byte(testConfig))
			if err != nil {
				t.Fatal(err)
			}
			if tc.mutate != nil {
				tc.mutate(cfg)
			}
			if err := cfg.ApplyEnv(func(k string) string {
				if k == EnvChunkSize {
					return tc.env
				}
				return ""
			}); err != nil {
				t.Fatal(err)
			}
			r, err := New(Name, cfg, "", false)
			if err != nil {
				t.Fatal(err)
			}
			r.UseEmbedder(&shortEmbedder{Embedder: plugintest.Embedder{Dim: 64, Models: []string{"bow"}}, max: tc.max})
			req := plugins.Request{Model: "auto", Texts: []string{long}}
			if err := r.Apply(context.Background(), &req); err != nil || req.Model != "coder" {
				t.Fatalf("long text: %v, model %q; want coder", err, req.Model)
			}
		})
	}
}

// Writing a new cache removes the module's caches of older examples or
// models from the cache directory, and nothing else there.
func TestNewCacheRemovesOldOnes(t *testing.T) {
	dir := t.TempDir()
	r, _ := testRouter(t, nil, dir, false)
	if err := r.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	old := r.cacheFile()
	others := []string{"notes.json", "examples-mine.json", "examples-0123456789abcdef0123456789abcdef.json.bak"}
	for _, n := range others {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("{}"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	r2, _ := testRouter(t, func(c *Config) { c.Targets[0].Examples = append(c.Targets[0].Examples, "Refactor this golang module") }, dir, false)
	if err := r2.Warm(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the cache of the old examples is still there (%v)", err)
	}
	if _, err := os.Stat(r2.cacheFile()); err != nil {
		t.Errorf("the new cache: %v", err)
	}
	for _, n := range others {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			t.Errorf("%s, not the module's cache, was removed: %v", n, err)
		}
	}
}
