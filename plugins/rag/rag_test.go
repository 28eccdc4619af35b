package rag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
)

const dim = 64

// memStore is a collection in memory, searched exactly.
type memStore struct {
	model     string
	chunkSize int
	hits      []Hit
	vecs      [][]float32
	closed    *int
	mu        *sync.Mutex
}

func newMemStore(model string, docs map[string][]string) *memStore {
	s := &memStore{model: model, closed: new(int), mu: new(sync.Mutex)}
	names := make([]string, 0, len(docs))
	for n := range docs {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		for i, t := range docs[n] {
			s.hits = append(s.hits, Hit{Doc: n, Chunk: i, Text: t})
			s.vecs = append(s.vecs, plugintest.BagOfWords(t, dim))
		}
	}
	return s
}

func (s *memStore) Search(vec []float32, k int, minScore float32) ([]Hit, error) {
	var out []Hit
	for i, v := range s.vecs {
		var dot float32
		for j := range v {
			dot += v[j] * vec[j]
		}
		if dot >= minScore {
			h := s.hits[i]
			h.Score = dot
			out = append(out, h)
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Score > out[j].Score })
	if len(out) > k {
		out = out[:k]
	}
	return out, nil
}
func (s *memStore) Model() string  { return s.model }
func (s *memStore) Dim() int       { return dim }
func (s *memStore) ChunkSize() int { return s.chunkSize }
func (s *memStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	*s.closed++
	return nil
}

var docs = map[string]map[string][]string{
	"handbook": {
		"docs/vacation.md": {"Employees get twenty six vacation days per year.", "Vacation requests go through the portal."},
		"docs/parking.md":  {"Parking spaces are assigned by the facilities team."},
	},
	"recipes": {
		"pierogi.md": {"Pierogi dough needs flour water and salt."},
	},
}

// memOpener opens the collections of docs and counts the opens.
type memOpener struct {
	mu     sync.Mutex
	opens  int
	stores map[string]*memStore
}

func (o *memOpener) open(dir, name string) (Store, io.Closer, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	d, ok := docs[name]
	if !ok {
		return nil, nil, fmt.Errorf("open %s: %w", filepath.Join(dir, name), fs.ErrNotExist)
	}
	o.opens++
	s := newMemStore("bow", d)
	if o.stores == nil {
		o.stores = map[string]*memStore{}
	}
	o.stores[name] = s
	return s, s, nil
}

type mapStores map[string]Store

func (m mapStores) Get(name string) (Store, error) {
	if s, ok := m[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("%w: rag: unknown collection %q", plugins.ErrInvalidRequest, name)
}

func newTestRetriever(t *testing.T, s Settings) (*Retriever, *plugintest.Embedder) {
	t.Helper()
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewRetriever(s, mapStores{"handbook": newMemStore("bow", docs["handbook"]), "recipes": newMemStore("bow", docs["recipes"])})
	e := &plugintest.Embedder{Dim: dim, Models: []string{"bow"}}
	r.UseEmbedder(e)
	return r, e
}

func TestAugment(t *testing.T) {
	enPreface := "If the context below will help answer the above question, use it. Context separated with double enter:"
	tests := []struct {
		name     string
		settings Settings
		q        plugins.Query
		want     *plugins.Augmentation
		wantErr  error
		errHas   string
	}{
		{name: "preface, English, best chunk first",
			settings: Settings{Collection: "handbook", TopK: 2, MinScore: 0.3},
			q:        plugins.Query{Text: "How many vacation days per year do employees get?"},
			want: &plugins.Augmentation{Text: enPreface + "\n\nEmployees get twenty six vacation days per year.\n\nVacation requests go through the portal.",
				Sources: []string{"docs/vacation.md#0", "docs/vacation.md#1"}}},
		{name: "top_k bounds the chunks",
			settings: Settings{Collection: "handbook", TopK: 1, MinScore: 0.3},
			q:        plugins.Query{Text: "vacation days per year"},
			want:     &plugins.Augmentation{Text: enPreface + "\n\nEmployees get twenty six vacation days per year.", Sources: []string{"docs/vacation.md#0"}}},
		{name: "Polish preface",
			settings: Settings{Collection: "handbook", TopK: 1, MinScore: 0.3},
			q:        plugins.Query{Text: "vacation days", Language: "pl"},
			want: &plugins.Augmentation{Text: "Jeżeli poniższy kontekst pomoże odpowiedzieć na powyższe pytanie, wykorzystaj go. Fragmenty kontekstu są oddzielone podwójnym enterem:\n\nEmployees get twenty six vacation days per year.",
				Sources: []string{"docs/vacation.md#0"}}},
		{name: "system mode by configuration",
			settings: Settings{Collection: "handbook", TopK: 1, MinScore: 0.3, Mode: ModeSystem},
			q:        plugins.Query{Text: "parking spaces"},
			want: &plugins.Augmentation{System: true, Text: "Use the context below if it helps answer the user's question. Context separated with double enter:\n\nParking spaces are assigned by the facilities team.",
				Sources: []string{"docs/parking.md#0"}}},
		{name: "per request: collection, top_k, mode",
			settings: Settings{Collection: "handbook", TopK: 5, MinScore: 0.3},
			q:        plugins.Query{Text: "pierogi dough flour", Options: json.RawMessage(`{"collection":"recipes","top_k":1,"mode":"system"}`)},
			want: &plugins.Augmentation{System: true, Text: "Use the context below if it helps answer the user's question. Context separated with double enter:\n\nPierogi dough needs flour water and salt.",
				Sources: []string{"pierogi.md#0"}}},
		{name: "allow-list: a listed collection",
			settings: Settings{Collection: "handbook", Collections: []string{"recipes"}, TopK: 1, MinScore: 0.3},
			q:        plugins.Query{Text: "pierogi dough flour", Options: json.RawMessage(`{"collection":"recipes"}`)},
			want: &plugins.Augmentation{Text: enPreface + "\n\nPierogi dough needs flour water and salt.",
				Sources: []string{"pierogi.md#0"}}},
		{name: "allow-list: the default collection",
			settings: Settings{Collection: "handbook", Collections: []string{"recipes"}, TopK: 1, MinScore: 0.3},
			q:        plugins.Query{Text: "vacation days", Options: json.RawMessage(`{"collection":"handbook"}`)},
			want:     &plugins.Augmentation{Text: enPreface + "\n\nEmployees get twenty six vacation days per year.", Sources: []string{"docs/vacation.md#0"}}},
		{name: "allow-list: an unlisted collection is unknown",
			settings: Settings{Collection: "handbook", Collections: []string{"faq"}},
			q:        plugins.Query{Text: "pierogi", Options: json.RawMessage(`{"collection":"recipes"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: `unknown collection "recipes"`},
		{name: "nothing near enough: unchanged",
			settings: Settings{Collection: "handbook", MinScore: 0.3},
			q:        plugins.Query{Text: "quantum chromodynamics lattice"}},
		{name: "no text: unchanged",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "  "}},
		{name: "no text, bad options: refused",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Options: json.RawMessage(`{"collection":"secret"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: `unknown collection "secret"`},
		{name: "unknown collection",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`{"collection":"secret"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: `unknown collection "secret"`},
		{name: "a path is no collection",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`{"collection":"../etc"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: `unknown collection "../etc"`},
		{name: "bad top_k",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`{"top_k":0}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: "top_k"},
		{name: "bad mode",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`{"mode":"user"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: `mode "user"`},
		{name: "unknown option",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`{"colection":"handbook"}`)},
			wantErr:  plugins.ErrInvalidRequest, errHas: "colection"},
		{name: "not an object",
			settings: Settings{Collection: "handbook"},
			q:        plugins.Query{Text: "x", Options: json.RawMessage(`"handbook"`)},
			wantErr:  plugins.ErrInvalidRequest},
		{name: "embedder not serving the collection's model",
			settings: Settings{Collection: "handbook", Embedder: "other"},
			q:        plugins.Query{Text: "vacation"},
			wantErr:  plugins.ErrServiceUnavailable, errHas: "embedding model other"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, _ := newTestRetriever(t, tt.settings)
			got, err := r.Augment(context.Background(), &tt.q)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(fmt.Sprint(err), tt.errHas) {
					t.Fatalf("error %v, want %v containing %q", err, tt.wantErr, tt.errHas)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

// textsEmbedder records the texts it embeds.
type textsEmbedder struct {
	plugintest.Embedder
	texts []string
}

func (e *textsEmbedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	e.texts = append(e.texts, texts...)
	return e.Embedder.Embed(ctx, model, texts)
}

// A query longer than the collection's chunks is cut to their size before
// it is embedded (an embedding model may refuse longer texts); a short one
// is embedded as it came.
func TestAugmentCutsLongQuery(t *testing.T) {
	question := "How many vacation days per year do employees get?"
	long := question + " " + strings.Repeat("Some pasted text that goes on and on. ", 2000)
	st := newMemStore("bow", docs["handbook"])
	st.chunkSize = 20
	s := Settings{Collection: "handbook", TopK: 1, MinScore: 0.3}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewRetriever(s, mapStores{"handbook": st})
	e := &textsEmbedder{Embedder: plugintest.Embedder{Dim: dim}}
	r.UseEmbedder(e)
	for _, tc := range []struct{ query, embedded string }{
		{question, question},
		{long, chunk.Head(long, 20)},
	} {
		e.texts = nil
		a, err := r.Augment(context.Background(), &plugins.Query{Text: tc.query})
		if err != nil || a == nil || a.Sources[0] != "docs/vacation.md#0" {
			t.Fatalf("augmentation %+v error %v", a, err)
		}
		if len(e.texts) != 1 || e.texts[0] != tc.embedded || chunk.Count(e.texts[0]) > 20 || !strings.HasPrefix(e.texts[0], question) {
			t.Fatalf("embedded %q, want %q", e.texts, tc.embedded)
		}
	}
}

func TestAugmentEmbedderFailures(t *testing.T) {
	t.Run("down: fail closed", func(t *testing.T) {
		r, e := newTestRetriever(t, Settings{Collection: "handbook"})
		e.SetDown(true)
		_, err := r.Augment(context.Background(), &plugins.Query{Text: "vacation days"})
		var se *plugins.ServiceError
		if !errors.Is(err, plugins.ErrServiceUnavailable) || !errors.As(err, &se) || !strings.Contains(se.Kind, "bow") {
			t.Fatalf("error %v, want a service error naming the model", err)
		}
	})
	t.Run("down: fail open", func(t *testing.T) {
		r, e := newTestRetriever(t, Settings{Collection: "handbook", FailOpen: true})
		var told error
		r.OnFailOpen = func(err error) { told = err }
		e.SetDown(true)
		a, err := r.Augment(context.Background(), &plugins.Query{Text: "vacation days"})
		if err != nil || a != nil || told == nil {
			t.Fatalf("augmentation %v error %v told %v, want nothing and a log", a, err, told)
		}
	})
	t.Run("no embedder", func(t *testing.T) {
		s := Settings{Collection: "handbook"}
		_ = s.Validate()
		r := NewRetriever(s, mapStores{"handbook": newMemStore("bow", docs["handbook"])})
		if _, err := r.Augment(context.Background(), &plugins.Query{Text: "vacation"}); !errors.Is(err, plugins.ErrServiceUnavailable) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("wrong dimension", func(t *testing.T) {
		s := Settings{Collection: "handbook"}
		_ = s.Validate()
		r := NewRetriever(s, mapStores{"handbook": newMemStore("bow", docs["handbook"])})
		r.UseEmbedder(&plugintest.Embedder{Dim: 8})
		_, err := r.Augment(context.Background(), &plugins.Query{Text: "vacation"})
		var se *plugins.ServiceError
		if !errors.As(err, &se) || !strings.Contains(se.Err.Error(), `embedding model "bow" answered 8 dimensions; collection "handbook" has 64`) {
			t.Fatalf("error %v", err)
		}
	})
	t.Run("client gone", func(t *testing.T) {
		r, _ := newTestRetriever(t, Settings{Collection: "handbook"})
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_, err := r.Augment(ctx, &plugins.Query{Text: "vacation"})
		if !errors.Is(err, context.Canceled) || errors.Is(err, plugins.ErrServiceUnavailable) {
			t.Fatalf("error %v", err)
		}
	})
}

func TestSettingsValidate(t *testing.T) {
	bad := []Settings{
		{},
		{Collection: "../x"},
		{Collection: "c", TopK: -1},
		{Collection: "c", TopK: MaxTopK + 1},
		{Collection: "c", MinScore: 2},
		{Collection: "c", Mode: "user"},
		{Collection: "c", Language: "de"},
		{Collection: "c", Collections: []string{"ok", "../x"}},
	}
	for _, s := range bad {
		if err := s.Validate(); err == nil {
			t.Errorf("%+v: no error", s)
		}
	}
	s := Settings{Collection: "c"}
	if err := s.Validate(); err != nil || s.TopK != DefaultTopK || s.Mode != ModePreface || s.Language != "en" {
		t.Fatalf("defaults %+v %v", s, err)
	}
}

func TestModuleSettings(t *testing.T) {
	env := map[string]string{EnvCollection: "envcol", EnvEmbedder: "envemb", EnvPersistDir: "/envdir", EnvTopK: "3", EnvMinScore: "0.25",
		EnvChunkSize: "400", EnvChunkOverlap: "100"}
	getenv := func(k string) string { return env[k] }
	half := 0.5
	tests := []struct {
		name string
		mod  Module
		want Settings
		dir  string
	}{
		{"environment", Module{}, Settings{Name: Name, Collection: "envcol", Embedder: "envemb", TopK: 3, MinScore: 0.25, Mode: ModePreface, Language: "en"}, "/envdir"},
		{"fields win", Module{Collection: "c", PersistDir: "/d", Embedder: "e", TopK: 7, MinScore: &half, Mode: ModeSystem, Language: "pl", FailOpen: true},
			Settings{Name: Name, Collection: "c", Embedder: "e", TopK: 7, MinScore: 0.5, Mode: ModeSystem, Language: "pl", FailOpen: true}, "/d"},
	}
	for _, tt := range tests {
		s, dir, err := tt.mod.settings(getenv)
		if err != nil || !reflect.DeepEqual(s, tt.want) || dir != tt.dir {
			t.Errorf("%s: %+v %q %v", tt.name, s, dir, err)
		}
	}
	for _, k := range []string{EnvTopK, EnvMinScore, EnvChunkSize} {
		bad := map[string]string{EnvCollection: "c", EnvPersistDir: "/d", k: "many"}
		if _, _, err := (&Module{}).settings(func(v string) string { return bad[v] }); err == nil || !strings.Contains(err.Error(), k) {
			t.Errorf("%s=many: error %v", k, err)
		}
	}
	if _, _, err := (&Module{Collection: "c"}).settings(func(string) string { return "" }); err == nil || !strings.Contains(err.Error(), EnvPersistDir) {
		t.Errorf("no persist dir: %v", err)
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	score := 0.4
	tests := []struct {
		in      string
		want    Module
		wantErr bool
	}{
		{in: `rag`, want: Module{}},
		{in: `rag {
			collection handbook
			persist_dir /var/lib/llm-router/rag
			embedder nomic-embed-text
			top_k 4
			min_score 0.4
			mode system
			language pl
			fail_open
			collections recipes faq
		}`, want: Module{Collection: "handbook", PersistDir: "/var/lib/llm-router/rag", Embedder: "nomic-embed-text", TopK: 4,
			MinScore: &score, Mode: "system", Language: "pl", FailOpen: true, Collections: []string{"recipes", "faq"}}},
		{in: "rag {\n collections\n}", wantErr: true},
		{in: "rag {\n top_k zero\n}", wantErr: true},
		{in: "rag {\n top_k 0\n}", wantErr: true},
		{in: "rag {\n min_score high\n}", wantErr: true},
		{in: "rag {\n fail_open yes\n}", wantErr: true},
		{in: "rag {\n collection\n}", wantErr: true},
		{in: "rag {\n colour blue\n}", wantErr: true},
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

// TestProvisionSharesCollections checks that module instances share an
// open collection (a reload does not reopen it) and that the last one to
// go closes it; a missing default collection fails the configuration.
func TestProvisionSharesCollections(t *testing.T) {
	dir := t.TempDir()
	o := &memOpener{}
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	newMod := func(col string) *Module {
		return &Module{Collection: col, PersistDir: dir, MinScore: new(float64), open: o.open}
	}
	a, b := newMod("handbook"), newMod("handbook")
	for _, m := range []*Module{a, b} {
		if err := m.Provision(ctx); err != nil {
			t.Fatal(err)
		}
		m.UseEmbedder(&plugintest.Embedder{Dim: dim})
	}
	if o.opens != 1 {
		t.Fatalf("opened %d times, want once", o.opens)
	}
	got, err := a.Augment(context.Background(), &plugins.Query{Text: "pierogi dough", Options: json.RawMessage(`{"collection":"recipes"}`)})
	if err != nil || got == nil || got.Sources[0] != "pierogi.md#0" {
		t.Fatalf("per-request collection: %+v %v", got, err)
	}
	if err := a.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := *o.stores["handbook"].closed; n != 0 {
		t.Fatalf("closed while b still uses it (%d)", n)
	}
	if n := *o.stores["recipes"].closed; n != 1 {
		t.Fatalf("recipes closed %d times after its only user left", n)
	}
	if err := b.Cleanup(); err != nil {
		t.Fatal(err)
	}
	if n := *o.stores["handbook"].closed; n != 1 {
		t.Fatalf("handbook closed %d times after the last user left", n)
	}

	missing := newMod("nope")
	if err := missing.Provision(ctx); err == nil || !strings.Contains(err.Error(), `no collection "nope"`) {
		t.Fatalf("missing collection: %v", err)
	}
	unlisted := newMod("handbook")
	unlisted.Collections = []string{"recipes", "nope"}
	if err := unlisted.Provision(ctx); err == nil || !strings.Contains(err.Error(), `collections: no collection "nope"`) {
		t.Fatalf("missing listed collection: %v", err)
	}
	noDir := newMod("handbook")
	noDir.PersistDir = filepath.Join(dir, "absent")
	if err := noDir.Provision(ctx); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("missing persist dir: %v", err)
	}
	wrongModel := newMod("handbook")
	wrongModel.Embedder = "other"
	if err := wrongModel.Provision(ctx); err == nil || !strings.Contains(err.Error(), `built with embedding model "bow", not "other"`) {
		t.Fatalf("model mismatch: %v", err)
	}
	_ = os.Remove(dir)
}

func TestLangchainName(t *testing.T) {
	m := Langchain{}.CaddyModule().New().(*Langchain)
	if m.name != LangchainName || (Langchain{}).CaddyModule().ID != "llm_router.utils.langchain_rag" || (Module{}).CaddyModule().ID != "llm_router.utils.rag" {
		t.Fatalf("ids: %+v", m)
	}
}

// Opening a collection does not hold up the requests for one already open;
// concurrent first uses of one collection take one share of it between
// them, and nothing is opened after Close.
func TestStoresOpenConcurrently(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	unblock := func() { once.Do(func() { close(release) }) }
	defer unblock()
	var opening atomic.Int32
	o := &memOpener{}
	open := func(dir, name string) (Store, io.Closer, error) {
		if name == "recipes" {
			opening.Add(1)
			<-release
		}
		return o.open(dir, name)
	}
	p := newPoolStores(caddy.NewUsagePool(), t.TempDir(), open)
	if _, err := p.Get("handbook"); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := p.Get("recipes")
			errs <- err
		}()
	}
	deadline := time.Now().Add(10 * time.Second)
	for opening.Load() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("recipes never opened")
		}
		time.Sleep(time.Millisecond)
	}
	got := make(chan error, 1)
	go func() {
		_, err := p.Get("handbook")
		got <- err
	}()
	select {
	case err := <-got:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		unblock()
		t.Fatal("the open collection waited for another one's opening")
	}
	unblock()
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if o.opens != 2 || *o.stores["recipes"].closed != 1 || *o.stores["handbook"].closed != 1 {
		t.Fatalf("opens %d, closes recipes %d handbook %d; want 2, 1, 1", o.opens, *o.stores["recipes"].closed, *o.stores["handbook"].closed)
	}
	if _, err := p.Get("handbook"); err == nil || o.opens != 2 {
		t.Fatalf("Get after Close: %v, opens %d", err, o.opens)
	}
}

// brokenStore is a collection whose chunks cannot be read.
type brokenStore struct{ *memStore }

func (brokenStore) Search([]float32, int, float32) ([]Hit, error) {
	return nil, errors.New("/srv/rag/handbook/chunks-3.bin: corrupt record of chunk 7")
}

// A collection that fails mid-search is an error naming the collection,
// without the server's paths; the log gets them.
func TestAugmentUnreadableCollection(t *testing.T) {
	s := Settings{Collection: "handbook"}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	r := NewRetriever(s, mapStores{"handbook": brokenStore{newMemStore("bow", docs["handbook"])}})
	r.UseEmbedder(&plugintest.Embedder{Dim: dim, Models: []string{"bow"}})
	var logged []error
	r.OnError = func(err error) { logged = append(logged, err) }
	_, err := r.Augment(context.Background(), &plugins.Query{Text: "vacation days"})
	if err == nil || strings.Contains(err.Error(), "/srv/rag") || !strings.Contains(err.Error(), `collection "handbook" could not be read`) {
		t.Fatalf("client is told %v; want the collection named and no server path", err)
	}
	if len(logged) != 1 || !strings.Contains(logged[0].Error(), "/srv/rag/handbook/chunks-3.bin: corrupt record") {
		t.Fatalf("logged %v; want the cause", logged)
	}
}
