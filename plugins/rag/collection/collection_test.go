package collection

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"

	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/index"
)

// bagEmbedder embeds a text as a hashed bag of its lower-cased words, so that
// texts sharing words are near. It records what it was asked.
type bagEmbedder struct {
	dim int

	mu     sync.Mutex
	calls  int
	texts  []string
	models []string
	// failAt makes call number failAt (1-based) fail; dimAt makes the
	// vectors of calls from dimAt on have dim2 dimensions.
	failAt, dimAt, dim2 int
	// forget keeps no texts, and cheap answers a vector of the text's
	// length instead of its words (for big runs).
	forget, cheap bool
}

func (e *bagEmbedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls++
	e.models = append(e.models, model)
	if e.failAt > 0 && e.calls >= e.failAt {
		return nil, errors.New("provider down")
	}
	dim := e.dim
	if e.dimAt > 0 && e.calls >= e.dimAt {
		dim = e.dim2
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		if !e.forget {
			e.texts = append(e.texts, t)
		}
		if e.cheap {
			out[i] = []float32{float32(len(t)), 1, 1, 1}
			continue
		}
		out[i] = bag(t, dim)
	}
	return out, nil
}

func bag(t string, dim int) []float32 {
	v := make([]float32, dim)
	for _, w := range strings.FieldsFunc(strings.ToLower(t), func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) }) {
		sum := sha256.Sum256([]byte(w)) // FNV's low bits collide for words like d2w20, d0w31
		s := binary.LittleEndian.Uint32(sum[:])
		if s&(1<<31) != 0 {
			v[s%uint32(dim)]--
		} else {
			v[s%uint32(dim)]++
		}
	}
	v[0] += 0.01 // never a zero vector
	return v
}

func (e *bagEmbedder) embedded() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.texts)
}

func (e *bagEmbedder) reset() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.calls, e.texts = 0, nil
}

func write(t *testing.T, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// corpus writes three documents on distinct topics, a binary file and a PDF.
func corpus(t *testing.T) string {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "cats.md"), "# Cats\n\nCats purr and chase mice. A cat sleeps sixteen hours a day.\n")
	write(t, filepath.Join(dir, "sub", "rockets.txt"), strings.Repeat("Rockets burn fuel and oxidizer to reach orbit. ", 40))
	write(t, filepath.Join(dir, "bread.html"), "<html><body><h1>Bread</h1><p>Knead the dough, let the yeast rise, bake the loaf.</p><script>var rockets=1</script></body></html>")
	write(t, filepath.Join(dir, "blob.txt"), "\x00\x01\x02binary")
	write(t, filepath.Join(dir, "paper.pdf"), "%PDF-1.4")
	return dir
}

func opts(persist string) Options {
	return Options{PersistDir: persist, Name: "kb", Model: "embedder-1", Chunk: chunk.Options{Size: 50, Overlap: 10}}
}

func search(t *testing.T, c *Collection, query string, k int) []Hit {
	t.Helper()
	hits, err := c.Search(bag(query, c.Dim()), k, -1)
	if err != nil {
		t.Fatal(err)
	}
	return hits
}

func openKB(t *testing.T, persist string) *Collection {
	t.Helper()
	c, err := Open(persist, "kb")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func docsOf(hits []Hit) []string {
	var out []string
	for _, h := range hits {
		if !slices.Contains(out, h.Doc) {
			out = append(out, h.Doc)
		}
	}
	slices.Sort(out)
	return out
}

func TestIndexBuildSearchUpdateRemove(t *testing.T) {
	for _, tc := range []struct {
		name    string
		kind    index.Kind
		flatMax int
	}{{"float32", index.Float32, 0}, {"int8", index.Int8, 0}, {"float32 graph", index.Float32, -1}, {"int8 graph", index.Int8, -1}} {
		t.Run(tc.name, func(t *testing.T) {
			ctx := context.Background()
			src, persist := corpus(t), t.TempDir()
			e := &bagEmbedder{dim: 64}
			o := opts(persist)
			o.Kind = tc.kind
			o.Index.FlatMax = tc.flatMax
			o.Exts = []string{".md", ".txt", ".html", ".pdf"}
			var warnings []string
			o.Warn = func(s string) { warnings = append(warnings, s) }
			rel := func(p string) string { return filepath.ToSlash(filepath.Join(src, p)) }

			// Build.
			sum, err := Index(ctx, o, e, []string{src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Added != 3 || len(sum.Skipped) != 2 || !sum.Written || sum.Dim != 64 || sum.Chunks != sum.Embedded {
				t.Fatalf("first run: %+v", sum)
			}
			if !slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "blob.txt") && strings.Contains(w, "binary") }) ||
				!slices.ContainsFunc(warnings, func(w string) bool { return strings.Contains(w, "paper.pdf") && strings.Contains(w, "PDF") }) {
				t.Errorf("warnings %q: want blob.txt (binary) and paper.pdf named", warnings)
			}
			if slices.ContainsFunc(e.embedded(), func(s string) bool { return strings.Contains(s, "var rockets") || strings.Contains(s, "<p>") }) {
				t.Errorf("HTML script or tags were embedded")
			}
			c := openKB(t, persist)
			if c.Model() != "embedder-1" || c.Dim() != 64 || c.Len() != sum.Chunks || c.Documents() != 3 {
				t.Fatalf("opened: model %q dim %d len %d docs %d", c.Model(), c.Dim(), c.Len(), c.Documents())
			}
			if c.ix.HasGraph() != (tc.flatMax < 0) {
				t.Errorf("index has a graph: %v, FlatMax %d", c.ix.HasGraph(), tc.flatMax)
			}
			hits := search(t, c, "why do cats purr", 1)
			if len(hits) != 1 || hits[0].Doc != rel("cats.md") || hits[0].Chunk != 0 || !strings.Contains(hits[0].Text, "Cats purr") {
				t.Fatalf("cats query: %+v", hits)
			}
			if hits := search(t, c, "knead dough yeast", 1); len(hits) != 1 || hits[0].Doc != rel("bread.html") {
				t.Fatalf("bread query: %+v", hits)
			}
			if hits, _ := c.Search(bag("cats purr", 64), 10, 0.999); len(hits) != 0 {
				t.Errorf("min score 0.999 let %d hits through", len(hits))
			}
			if _, err := c.Search(make([]float32, 63), 3, 0); err == nil || !strings.Contains(err.Error(), "embedder-1") {
				t.Errorf("wrong query dimension: %v", err)
			}
			c.Close()

			// Again, unchanged: nothing embedded, nothing written.
			e.reset()
			warnings = nil
			sum, err = Index(ctx, o, e, []string{src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Unchanged != 3 || sum.Added+sum.Updated+sum.Removed != 0 || sum.Written || e.calls != 0 || len(sum.Skipped) != 2 {
				t.Fatalf("unchanged run: %+v, %d embed calls", sum, e.calls)
			}

			// Edit one document: only it is embedded again.
			write(t, filepath.Join(src, "cats.md"), "# Cats\n\nCats meow at the door and demand tuna.\n")
			e.reset()
			sum, err = Index(ctx, o, e, []string{src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Updated != 1 || sum.Unchanged != 2 || !sum.Written {
				t.Fatalf("edit run: %+v", sum)
			}
			for _, tx := range e.embedded() {
				if !strings.Contains(tx, "Cats") {
					t.Errorf("embedded %q, which is not from the edited document", tx)
				}
			}
			c = openKB(t, persist)
			if hits := search(t, c, "meow tuna", 1); len(hits) != 1 || !strings.Contains(hits[0].Text, "tuna") {
				t.Fatalf("after edit: %+v", hits)
			}
			for _, h := range search(t, c, "x", c.Len()) {
				if strings.Contains(h.Text, "purr") {
					t.Errorf("old text still indexed: %q", h.Text)
				}
			}
			if hits := search(t, c, "rockets fuel orbit", 1); len(hits) != 1 || hits[0].Doc != rel("sub/rockets.txt") {
				t.Fatalf("unchanged document lost after edit: %+v", hits)
			}
			c.Close()

			// Remove a document: its chunks go.
			if err := os.Remove(filepath.Join(src, "sub", "rockets.txt")); err != nil {
				t.Fatal(err)
			}
			e.reset()
			sum, err = Index(ctx, o, e, []string{src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Removed != 1 || sum.Unchanged != 2 || e.calls != 0 {
				t.Fatalf("remove run: %+v, %d embed calls", sum, e.calls)
			}
			c = openKB(t, persist)
			all := search(t, c, "rockets", c.Len())
			if got := docsOf(all); !slices.Equal(got, []string{rel("bread.html"), rel("cats.md")}) {
				t.Fatalf("documents after removal: %q", got)
			}
			// Only the files of the current generation are left.
			ents, _ := os.ReadDir(filepath.Join(persist, "kb"))
			var names []string
			for _, e := range ents {
				names = append(names, e.Name())
			}
			if len(names) != 3 {
				t.Errorf("collection files %q, want manifest, index and chunks", names)
			}
		})
	}
}

func TestIndexWrongDimension(t *testing.T) {
	ctx := context.Background()
	src, persist := corpus(t), t.TempDir()
	if _, err := Index(ctx, opts(persist), &bagEmbedder{dim: 64}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	// The same model now answers 32 dimensions.
	write(t, filepath.Join(src, "new.md"), "something new")
	_, err := Index(ctx, opts(persist), &bagEmbedder{dim: 32}, []string{src}, nil)
	if err == nil || !errors.Is(err, index.ErrDim) {
		t.Fatalf("error %v, want ErrDim", err)
	}
	for _, want := range []string{`"embedder-1"`, "32", "64"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not name %s", err, want)
		}
	}
	// The collection is as it was.
	c := openKB(t, persist)
	if c.Dim() != 64 || c.Documents() != 3 {
		t.Errorf("after the failed run: dim %d, %d documents", c.Dim(), c.Documents())
	}

	// A model whose answers change dimension within one run.
	o := opts(t.TempDir())
	o.Batch = 1
	_, err = Index(ctx, o, &bagEmbedder{dim: 16, dimAt: 2, dim2: 8}, []string{src}, nil)
	if !errors.Is(err, index.ErrDim) || !strings.Contains(err.Error(), "embedder-1") {
		t.Errorf("dimension change within a run: %v", err)
	}
}

// An embedding failure mid-run leaves the old collection whole and no
// files of the failed run behind.
func TestIndexFailureKeepsOld(t *testing.T) {
	ctx := context.Background()
	src, persist := corpus(t), t.TempDir()
	if _, err := Index(ctx, opts(persist), &bagEmbedder{dim: 64}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(persist, "kb", manifestFile))
	write(t, filepath.Join(src, "cats.md"), strings.Repeat("Dogs bark. ", 500))
	o := opts(persist)
	o.Batch = 2
	_, err := Index(ctx, o, &bagEmbedder{dim: 64, failAt: 3}, []string{src}, nil)
	if err == nil || !strings.Contains(err.Error(), "provider down") || !strings.Contains(err.Error(), "embedder-1") {
		t.Fatalf("error %v", err)
	}
	after, _ := os.ReadFile(filepath.Join(persist, "kb", manifestFile))
	if string(before) != string(after) {
		t.Errorf("the manifest changed")
	}
	ents, _ := os.ReadDir(filepath.Join(persist, "kb"))
	if len(ents) != 4 || !slices.ContainsFunc(ents, func(e os.DirEntry) bool { return e.Name() == journalFile }) {
		t.Errorf("%d files in the collection, want 3 and the journal", len(ents))
	}
	c := openKB(t, persist)
	if hits := search(t, c, "cats purr", 1); len(hits) != 1 || !strings.Contains(hits[0].Text, "purr") {
		t.Errorf("old collection: %+v", hits)
	}

	// A run killed before its commit leaves files of the next generation
	// behind: the next run replaces them and the collection is whole.
	for _, n := range []string{"index-2.bin", "chunks-2.bin.tmp", "chunks-2.bin"} {
		write(t, filepath.Join(persist, "kb", n), "torn")
	}
	if _, err := Index(ctx, o, &bagEmbedder{dim: 64}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	c2 := openKB(t, persist)
	if hits := search(t, c2, "dogs bark", 1); len(hits) != 1 || !strings.Contains(hits[0].Text, "Dogs bark") {
		t.Errorf("after the torn files: %+v", hits)
	}
	ents, _ = os.ReadDir(filepath.Join(persist, "kb"))
	if len(ents) != 3 {
		t.Errorf("%d files in the collection, want 3", len(ents))
	}
}

func TestIndexModelChangeReembeds(t *testing.T) {
	ctx := context.Background()
	src, persist := corpus(t), t.TempDir()
	if _, err := Index(ctx, opts(persist), &bagEmbedder{dim: 64}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	o := opts(persist)
	o.Model = "embedder-2"
	var warned string
	o.Warn = func(s string) {
		if strings.Contains(s, "model") {
			warned = s
		}
	}
	e := &bagEmbedder{dim: 16}
	sum, err := Index(ctx, o, e, []string{src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Updated != 3 || sum.Dim != 16 || e.calls == 0 || !strings.Contains(warned, "embedder-2") {
		t.Fatalf("model change: %+v, warning %q", sum, warned)
	}
	c := openKB(t, persist)
	if c.Model() != "embedder-2" || c.Dim() != 16 {
		t.Errorf("model %q dim %d", c.Model(), c.Dim())
	}
}

func TestIndexBadInput(t *testing.T) {
	ctx := context.Background()
	persist := t.TempDir()
	empty := t.TempDir()
	onlyBinary := t.TempDir()
	write(t, filepath.Join(onlyBinary, "x.txt"), "\x00\x00")
	for _, tc := range []struct {
		name  string
		o     func(*Options)
		paths []string
		want  string
		is    error
	}{
		{name: "empty directory", paths: []string{empty}, want: "none found in " + empty, is: ErrNoDocuments},
		{name: "only a binary file", paths: []string{onlyBinary}, want: "no text", is: ErrNoDocuments},
		{name: "missing path", paths: []string{filepath.Join(empty, "nope")}, want: "nope"},
		{name: "bad name", o: func(o *Options) { o.Name = "../x" }, paths: []string{empty}, want: "collection name"},
		{name: "no model", o: func(o *Options) { o.Model = "" }, paths: []string{empty}, want: "model"},
		{name: "overlap too big", o: func(o *Options) { o.Chunk = chunk.Options{Size: 10, Overlap: 10} }, paths: []string{empty}, want: "overlap"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o := opts(persist)
			if tc.o != nil {
				tc.o(&o)
			}
			_, err := Index(ctx, o, &bagEmbedder{dim: 8}, tc.paths, nil)
			if err == nil || !strings.Contains(err.Error(), tc.want) || (tc.is != nil && !errors.Is(err, tc.is)) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(persist, "kb")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a collection directory was made")
			}
		})
	}
	if _, err := Open(persist, "kb"); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open of a missing collection: %v", err)
	}
}

func TestOpenCorrupt(t *testing.T) {
	ctx := context.Background()
	src, persist := corpus(t), t.TempDir()
	if _, err := Index(ctx, opts(persist), &bagEmbedder{dim: 8}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(persist, "kb")
	m, err := readManifest(dir)
	if err != nil {
		t.Fatal(err)
	}
	chunks := filepath.Join(dir, m.Chunks)
	good, _ := os.ReadFile(chunks)
	for _, tc := range []struct {
		name string
		mod  func([]byte) []byte
	}{
		{"truncated", func(b []byte) []byte { return b[:len(b)-5] }},
		{"flipped table byte", func(b []byte) []byte { b[len(b)-trailerLen-3] ^= 1; return b }},
		{"empty", func([]byte) []byte { return nil }},
	} {
		os.WriteFile(chunks, tc.mod(slices.Clone(good)), 0o644)
		if c, err := Open(persist, "kb"); err == nil {
			c.Close()
			t.Errorf("%s chunks file: opened", tc.name)
		} else if !strings.Contains(err.Error(), m.Chunks) {
			t.Errorf("%s: error %v does not name the file", tc.name, err)
		}
	}
}

// A 200 MB document is indexed with bounded memory: read, split and
// embedded as a stream.
func TestIndexLargeFileStreamed(t *testing.T) {
	if testing.Short() {
		t.Skip("writes 200 MB")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "big.txt")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	const size = 200 << 20
	for n, i := 0, 0; n < size; i++ {
		k, _ := fmt.Fprintf(w, "Sentence number %d talks about topic %d. ", i, i%97)
		n += k
		if i%20 == 19 {
			w.WriteString("\n\n")
			n += 2
		}
	}
	if err := errors.Join(w.Flush(), f.Close()); err != nil {
		t.Fatal(err)
	}
	runtime.GC()
	var ms runtime.MemStats
	var peak uint64
	samples := 0
	o := opts(t.TempDir())
	o.Chunk = chunk.Options{Size: chunk.DefaultSize, Overlap: chunk.DefaultOverlap}
	o.Batch = 256
	o.Index.FlatMax = math.MaxInt32 // this test is about reading, not the graph
	var last Progress
	sum, err := Index(context.Background(), o, &bagEmbedder{dim: 4, forget: true, cheap: true}, []string{path}, func(p Progress) {
		last = p
		if samples++; samples%50 == 0 {
			runtime.ReadMemStats(&ms)
			peak = max(peak, ms.HeapInuse)
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	if sum.Added != 1 || sum.Chunks < 50000 || last.Read != last.Bytes || last.Bytes < size {
		t.Fatalf("summary %+v, last progress %+v", sum, last)
	}
	// Vectors (4 floats) and the chunk table (12 bytes) of ~100k chunks are
	// a few MB; the file is 200.
	t.Logf("%d MB file, %d chunks: peak heap in use %d MB (sampled)", size>>20, sum.Chunks, peak>>20)
	if peak > 64<<20 {
		t.Errorf("heap in use reached %d MB indexing a %d MB file", peak>>20, size>>20)
	}
	c, err := Open(o.PersistDir, o.Name)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if c.Len() != sum.Chunks {
		t.Errorf("collection has %d chunks, summary says %d", c.Len(), sum.Chunks)
	}
}

// gateEmbedder holds every call until `need` calls are in flight at once
// (or a deadline passes, which fails the call), then answers in reverse
// order of arrival.
type gateEmbedder struct {
	bagEmbedder
	need int

	mu       sync.Mutex
	inflight int
	open     chan struct{}
	order    chan struct{}
}

func (g *gateEmbedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	g.mu.Lock()
	g.inflight++
	if g.inflight == g.need {
		close(g.open)
	}
	g.mu.Unlock()
	select {
	case <-g.open:
	case <-time.After(20 * time.Second):
		return nil, fmt.Errorf("%d calls never were in flight at once", g.need)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return g.bagEmbedder.Embed(ctx, model, texts)
}

// Batches embedded concurrently are added in order: every chunk's record
// goes with its own vector.
func TestIndexConcurrentBatches(t *testing.T) {
	src, persist := t.TempDir(), t.TempDir()
	for d := range 6 {
		var b strings.Builder
		for w := range 60 {
			fmt.Fprintf(&b, "d%dw%d ", d, w)
		}
		write(t, filepath.Join(src, fmt.Sprintf("d%d.txt", d)), b.String())
	}
	o := opts(persist)
	o.Chunk = chunk.Options{Size: 10}
	o.Batch, o.Workers = 3, 4
	g := &gateEmbedder{bagEmbedder: bagEmbedder{dim: 256}, need: 4, open: make(chan struct{})}
	sum, err := Index(context.Background(), o, g, []string{src}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Chunks != 36 {
		t.Fatalf("%d chunks, want 36", sum.Chunks)
	}
	// Edit d5 and run again: the other documents' chunks are copied by
	// their id ranges, which must be right.
	write(t, filepath.Join(src, "d5.txt"), "something else entirely")
	g = &gateEmbedder{bagEmbedder: bagEmbedder{dim: 256}, need: 1, open: make(chan struct{})}
	if sum, err = Index(context.Background(), o, g, []string{src}, nil); err != nil || sum.Unchanged != 5 || sum.Chunks != 31 {
		t.Fatalf("second run: %+v, %v", sum, err)
	}
	c := openKB(t, persist)
	for d := range 5 {
		for n := range 6 {
			var b strings.Builder
			for w := n * 10; w < n*10+10; w++ {
				if w > n*10 {
					b.WriteByte(' ')
				}
				fmt.Fprintf(&b, "d%dw%d", d, w)
			}
			hits := search(t, c, b.String(), 1)
			if len(hits) != 1 || hits[0].Text != b.String() || hits[0].Chunk != n || !strings.HasSuffix(hits[0].Doc, fmt.Sprintf("d%d.txt", d)) {
				t.Fatalf("chunk %d of d%d: %+v", n, d, hits)
			}
		}
	}
}

// resumeCorpus writes 5 documents of 40 distinct words.
func resumeCorpus(t *testing.T) string {
	src := t.TempDir()
	for d := range 5 {
		var b strings.Builder
		for w := range 40 {
			fmt.Fprintf(&b, "d%dw%d ", d, w)
		}
		write(t, filepath.Join(src, fmt.Sprintf("d%d.txt", d)), b.String())
	}
	return src
}

// A run that fails part way leaves a journal; the next run takes the
// documents it finished from there instead of embedding them again.
func TestIndexResumesFromJournal(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		// between changes things between the failed run and the next.
		between     func(t *testing.T, src, dir string, o *Options)
		wantResumed int
	}{
		{name: "resumed", wantResumed: 8},
		{name: "torn last record", between: func(t *testing.T, _, dir string, _ *Options) {
			p := filepath.Join(dir, journalFile)
			st, _ := os.Stat(p)
			os.Truncate(p, st.Size()-3) // d1's "done" record: d1 is embedded again
		}, wantResumed: 4},
		{name: "document changed", between: func(t *testing.T, src, _ string, _ *Options) {
			write(t, filepath.Join(src, "d0.txt"), "d0 is new now")
		}, wantResumed: 4},
		{name: "other chunking", between: func(t *testing.T, _, _ string, o *Options) {
			o.Chunk.Overlap = 1
		}, wantResumed: 0},
		{name: "journal of another format", between: func(t *testing.T, _, dir string, _ *Options) {
			write(t, filepath.Join(dir, journalFile), "garbage")
		}, wantResumed: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src, persist := resumeCorpus(t), t.TempDir()
			o := opts(persist)
			o.Chunk = chunk.Options{Size: 10}
			o.Batch, o.Workers = 2, 1
			// 5 documents of 4 chunks, 2 per call: calls 1–4 finish d0 and d1.
			_, err := Index(ctx, o, &bagEmbedder{dim: 64, failAt: 5}, []string{src}, nil)
			if err == nil {
				t.Fatal("no error")
			}
			dir := filepath.Join(persist, "kb")
			if _, err := Open(persist, "kb"); !errors.Is(err, ErrNotFound) {
				t.Fatalf("a collection after the failed run: %v", err)
			}
			if tc.between != nil {
				tc.between(t, src, dir, &o)
			}
			e := &bagEmbedder{dim: 64}
			sum, err := Index(ctx, o, e, []string{src}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if sum.Resumed != tc.wantResumed || sum.Added != 5 || sum.Embedded != sum.Chunks {
				t.Errorf("summary %+v, want %d resumed", sum, tc.wantResumed)
			}
			if got := len(e.embedded()); got != sum.Chunks-tc.wantResumed {
				t.Errorf("%d texts embedded, want %d", got, sum.Chunks-tc.wantResumed)
			}
			if _, err := os.Stat(filepath.Join(dir, journalFile)); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("the journal is still there after a committed run")
			}
			c := openKB(t, persist)
			for d := range 5 {
				if d == 0 && tc.name == "document changed" {
					continue
				}
				for n := range 4 {
					var b strings.Builder
					for w := n * 10; w < n*10+10; w++ {
						if w > n*10 {
							b.WriteByte(' ')
						}
						fmt.Fprintf(&b, "d%dw%d", d, w)
					}
					if tc.name == "other chunking" {
						continue
					}
					hits := search(t, c, b.String(), 1)
					if len(hits) != 1 || hits[0].Text != b.String() || hits[0].Chunk != n || hits[0].Score < 0.999 {
						t.Fatalf("chunk %d of d%d: %+v", n, d, hits)
					}
				}
			}
		})
	}
}
