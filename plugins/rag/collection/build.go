package collection

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/docs"
	"github.com/llmrouter/llm-router/plugins/rag/index"
)

// DefaultBatch is how many texts one Embed call carries.
const DefaultBatch = 32

// DefaultWorkers is how many Embed calls run at once: two, so that reading
// and splitting overlap embedding; more help when the model has several
// providers.
const DefaultWorkers = 2

// MaxChunkSize bounds Options.Chunk.Size (so that one chunk record stays
// small).
const MaxChunkSize = 8192

// ErrNoDocuments is an index run that found no document with text.
var ErrNoDocuments = errors.New("no documents to index")

// Options configure an index run.
type Options struct {
	// PersistDir holds the collections; Name is this one's directory.
	PersistDir, Name string
	// Model is the embedding model (a models-config model with
	// is_embedding).
	Model string
	// Kind is how vectors are stored.
	Kind index.Kind
	// Chunk sets the chunk size and overlap in tokens.
	Chunk chunk.Options
	// Exts filters the files of directories (docs.NormExts; empty: the
	// defaults).
	Exts []string
	// Batch is how many texts one Embed call carries (DefaultBatch when 0).
	Batch int
	// Workers is how many Embed calls run at once (DefaultWorkers when 0).
	Workers int
	// Index tunes the vector index; its Kind is replaced by Kind.
	Index index.Options
	// Warn, if set, receives a line for every file skipped and for a change
	// of model or chunking that makes every document be embedded again.
	Warn func(string)
}

// Progress is reported while documents are embedded.
type Progress struct {
	// Docs is the number of documents to embed (new or changed); Done of
	// them are finished.
	Docs, Done int
	// Bytes is the size of those documents; Read of it is read so far.
	Bytes, Read int64
	// Chunks is the number of chunks embedded so far.
	Chunks int
	// Doc is the document being read.
	Doc string
}

// Summary says what an index run did.
type Summary struct {
	// Added, Updated, Unchanged and Removed count documents: new, changed
	// (embedded again), kept as they were, and gone from the paths.
	Added, Updated, Unchanged, Removed int
	// Skipped lists files left out (binary, PDF, unreadable), with why.
	Skipped []docs.Skip
	// Embedded is the number of chunks new in this run (embedded, or taken
	// from the journal of a run that did not finish: Resumed of them);
	// Chunks the collection's total.
	Embedded, Resumed, Chunks int
	// Dim is the vector dimension.
	Dim int
	// Written is false when nothing changed and no file was written.
	Written bool
	// Elapsed is how long the run took.
	Elapsed time.Duration
}

// Index brings the collection o.Name in line with the documents under
// paths: new and changed documents (by SHA-256 of their content) are split
// and embedded through e, in batches; unchanged ones keep their chunks and
// vectors; documents no longer found are dropped. A change of model, vector
// kind or chunking embeds every document again. progress, if not nil, is
// called as documents are read. Nothing is written when nothing changed.
//
// Errors: no document with text (ErrNoDocuments), an embedding error, or
// vectors of a dimension other than the collection's (naming the model and
// both dimensions). On any error the collection on disk is left as it was,
// and the chunks embedded so far stay in the collection's journal: the next
// run takes the documents this one finished from there.
func Index(ctx context.Context, o Options, e plugins.Embedder, paths []string, progress func(Progress)) (Summary, error) {
	start := time.Now()
	var sum Summary
	o, err := o.withDefaults()
	if err != nil {
		return sum, err
	}
	warn := o.Warn
	if warn == nil {
		warn = func(string) {}
	}
	found, err := walk(paths, o.Exts, warn, &sum)
	if err != nil {
		return sum, err
	}

	dir := filepath.Join(o.PersistDir, o.Name)
	old, err := openOld(dir)
	if err != nil {
		return sum, err
	}
	if old != nil {
		defer old.Close()
	}
	b := &build{o: o, e: e, dir: dir, warn: warn, progress: progress, states: map[int]*docState{}}
	ctx, cancel := context.WithCancel(ctx)
	defer func() {
		cancel()
		b.wait()
	}()
	reuse := old != nil && old.compatible(o, warn)
	if reuse {
		b.nextID = old.man.NextID
	}
	var p Progress
	keep, todo, err := b.triage(ctx, found, old, reuse, &sum, &p)
	if err != nil {
		return sum, err
	}
	if reuse && len(todo) == 0 && sum.Removed == 0 {
		sum.Chunks, sum.Dim, sum.Elapsed = old.man.Total, old.man.Dim, time.Since(start)
		// Nothing changed. A journal left by a failed run is of no more use.
		os.Remove(filepath.Join(dir, journalFile))
		return sum, nil
	}

	gen := 1
	if old != nil {
		gen = old.man.Generation + 1
	}
	_, statErr := os.Stat(dir)
	if err := b.open(gen); err != nil {
		return sum, err
	}
	committed := false
	defer func() {
		if !committed {
			b.abort(statErr != nil)
		}
	}()
	if err := b.copyUnchanged(old, keep); err != nil {
		return sum, err
	}
	if err := b.embedAll(ctx, todo, &sum, &p); err != nil {
		return sum, err
	}
	if b.builder == nil || b.builder.Len() == 0 {
		return sum, fmt.Errorf("%w: the %d files found have no text", ErrNoDocuments, len(found))
	}
	total, err := b.commit(gen)
	if err != nil {
		return sum, err
	}
	committed = true
	sum.Chunks, sum.Dim, sum.Written, sum.Elapsed = total, b.dim, true, time.Since(start)
	sum.Resumed = b.resumed
	return sum, nil
}

// withDefaults checks o and fills in the defaults of the fields left zero.
func (o Options) withDefaults() (Options, error) {
	if err := CheckName(o.Name); err != nil {
		return o, err
	}
	if o.Model == "" {
		return o, errors.New("no embedding model given")
	}
	if err := o.Chunk.Validate(); err != nil {
		return o, err
	}
	if o.Chunk.Size > MaxChunkSize {
		return o, fmt.Errorf("chunk size %d: at most %d", o.Chunk.Size, MaxChunkSize)
	}
	if o.Chunk.Size == 0 {
		o.Chunk.Size = chunk.DefaultSize
	}
	if o.Batch <= 0 {
		o.Batch = DefaultBatch
	}
	if o.Workers <= 0 {
		o.Workers = DefaultWorkers
	}
	return o, nil
}

// walk finds the documents under paths, recording in sum (and warning of)
// the files it leaves out; finding none is ErrNoDocuments.
func walk(paths, exts []string, warn func(string), sum *Summary) ([]docs.Doc, error) {
	found, skips, err := docs.Walk(paths, exts)
	if err != nil {
		return nil, err
	}
	sum.Skipped = skips
	for _, s := range skips {
		warn("skipped " + s.String())
	}
	if len(found) == 0 {
		return nil, fmt.Errorf("%w: none found in %s with extensions %s", ErrNoDocuments,
			strings.Join(paths, ", "), strings.Join(docs.NormExts(exts), " "))
	}
	return found, nil
}

// toEmbed is a document to split and embed: new, or changed (updated).
type toEmbed struct {
	doc     docs.Doc
	hash    string
	updated bool
}

// triage hashes every document found and sorts them into those the old
// collection keeps (when reuse) and those to embed; it counts them in sum,
// and the documents to embed and their bytes in p.
func (b *build) triage(ctx context.Context, found []docs.Doc, old *Collection, reuse bool, sum *Summary, p *Progress) (keep []docInfo, todo []toEmbed, err error) {
	oldDocs := map[string]docInfo{}
	if old != nil {
		for _, d := range old.man.Documents {
			oldDocs[d.Path] = d
		}
	}
	for _, d := range found {
		if err := ctx.Err(); err != nil {
			return nil, nil, err
		}
		h, err := hashFile(d.File)
		if err != nil {
			sum.Skipped = append(sum.Skipped, docs.Skip{Path: d.Path, Reason: err.Error()})
			b.warn("skipped " + d.Path + ": " + err.Error())
			continue
		}
		od, seen := oldDocs[d.Path]
		if reuse && seen && od.SHA256 == h {
			keep = append(keep, od)
			if od.Skipped != "" {
				sum.Skipped = append(sum.Skipped, docs.Skip{Path: d.Path, Reason: od.Skipped})
				b.warn("skipped " + d.Path + ": " + od.Skipped)
			}
			continue
		}
		if seen {
			sum.Updated++
		} else {
			sum.Added++
		}
		todo = append(todo, toEmbed{d, h, seen})
		p.Docs++
		p.Bytes += d.Size
	}
	for _, d := range keep {
		if d.Skipped == "" {
			sum.Unchanged++
		}
	}
	if old != nil {
		sum.Removed = len(old.man.Documents) - len(keep) - sum.Updated
	}
	return keep, todo, nil
}

// open starts generation gen: the directory, the journal and the chunk
// writer. Until commit, abort undoes it.
func (b *build) open(gen int) error {
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return err
	}
	o := b.o
	var err error
	b.jr, err = openJournal(b.dir, journalHeader{Model: o.Model, Kind: o.Kind.String(), ChunkSize: o.Chunk.Size, ChunkOverlap: o.Chunk.Overlap})
	if err != nil {
		return err
	}
	b.indexName = "index-" + strconv.Itoa(gen) + ".bin"
	b.chunksName = "chunks-" + strconv.Itoa(gen) + ".bin"
	// Files of a generation that never got committed (a crash) are in the way.
	os.Remove(filepath.Join(b.dir, b.indexName))
	os.Remove(filepath.Join(b.dir, b.chunksName+".tmp"))
	b.cw, err = newChunkWriter(filepath.Join(b.dir, b.chunksName+".tmp"))
	return err
}

// abort drops the files of a generation that was not committed, keeping the
// journal (the next run resumes from it); madeDir: the run made the
// collection's directory, removed if empty.
func (b *build) abort(madeDir bool) {
	b.jr.close()
	b.cw.abort()
	os.Remove(filepath.Join(b.dir, b.indexName))
	if madeDir {
		os.Remove(b.dir)
	}
}

// copyUnchanged copies the chunk records and vectors of the documents kept
// from the old collection.
func (b *build) copyUnchanged(old *Collection, keep []docInfo) error {
	if len(keep) == 0 {
		return nil
	}
	b.dim = old.man.Dim
	b.builder = index.NewBuilder(b.dim, b.indexOptions())
	kept := map[uint32]bool{}
	for _, d := range keep {
		for id := d.FirstID; id < d.FirstID+uint32(d.Chunks); id++ {
			raw, err := old.chunks.raw(id)
			if err != nil {
				return err
			}
			if err := b.cw.add(id, raw); err != nil {
				return err
			}
			kept[id] = true
		}
		b.docs = append(b.docs, d)
	}
	if err := b.builder.AddFrom(old.ix, func(id uint32) bool { return kept[id] }); err != nil {
		return fmt.Errorf("copying the unchanged vectors: %w", err)
	}
	return nil
}

// embedAll splits, embeds and adds the new and changed documents (taking
// from the journal those a failed run finished), and waits for the last
// batches. A binary document is remembered as skipped.
func (b *build) embedAll(ctx context.Context, todo []toEmbed, sum *Summary, p *Progress) error {
	for _, t := range todo {
		p.Doc = t.doc.Path
		var n int
		var err error
		if refs, ok := b.jr.complete[journalKey(t.doc.Path, t.hash)]; ok {
			n, err = b.resume(ctx, t.doc, t.hash, refs, p)
		} else {
			n, err = b.document(ctx, t.doc, t.hash, p)
		}
		if errors.Is(err, docs.ErrBinary) {
			// Remembered as skipped, so that the next run does not read it again.
			why := docs.ErrBinary.Error()
			b.docs = append(b.docs, docInfo{Path: t.doc.Path, SHA256: t.hash, Size: t.doc.Size, Skipped: why})
			sum.Skipped = append(sum.Skipped, docs.Skip{Path: t.doc.Path, Reason: why})
			b.warn("skipped " + t.doc.Path + ": " + why)
			if t.updated {
				sum.Updated--
				sum.Removed++
			} else {
				sum.Added--
			}
		} else if err != nil {
			return err
		}
		sum.Embedded += n
		p.Done++
		if b.progress != nil {
			b.progress(*p)
		}
	}
	return b.drain(ctx, p)
}

// commit writes generation gen (index, chunks) and commits it with the
// manifest, then drops the journal and the files of older generations. It
// returns the collection's number of chunks.
func (b *build) commit(gen int) (int, error) {
	dir := b.dir
	ix, err := b.builder.Build()
	if err != nil {
		return 0, fmt.Errorf("building the index: %w", err)
	}
	if err := ix.WriteFile(filepath.Join(dir, b.indexName)); err != nil {
		return 0, err
	}
	total := ix.Len()
	ix.Close()
	if err := b.cw.finish(); err != nil {
		return 0, err
	}
	if err := os.Rename(filepath.Join(dir, b.chunksName+".tmp"), filepath.Join(dir, b.chunksName)); err != nil {
		return 0, err
	}
	slices.SortFunc(b.docs, func(x, y docInfo) int { return strings.Compare(x.Path, y.Path) })
	o := b.o
	m := &manifest{Format: FormatVersion, Model: o.Model, Dim: b.dim, Kind: o.Kind.String(),
		ChunkSize: o.Chunk.Size, ChunkOverlap: o.Chunk.Overlap, Generation: gen,
		Index: b.indexName, Chunks: b.chunksName, NextID: b.nextID, Total: total,
		Updated: time.Now().UTC(), Documents: b.docs}
	if err := writeManifest(dir, m); err != nil {
		os.Remove(filepath.Join(dir, b.chunksName))
		return 0, err
	}
	b.jr.remove()
	removeStale(dir, m)
	return total, nil
}

// build is the state of one index run.
type build struct {
	o        Options
	e        plugins.Embedder
	dir      string
	warn     func(string)
	progress func(Progress)

	indexName, chunksName string
	cw                    *chunkWriter
	builder               *index.Builder
	dim                   int
	nextID                uint32
	docs                  []docInfo
	states                map[int]*docState // by index in docs
	resumed               int               // chunks taken from the journal

	pending []pendingChunk
	queue   []*job // batches being embedded, oldest first
	jr      *journal
}

type pendingChunk struct {
	doc  int // index in docs
	n    int
	text string
}

// docState is what a run knows of a document it embeds, beside its docInfo.
type docState struct {
	// final is the document's number of chunks once it is split, else -1.
	final int
	// resumed: its chunks come from the journal (nothing to journal again).
	resumed bool
}

func (b *build) indexOptions() index.Options {
	opts := b.o.Index
	opts.Kind = b.o.Kind
	return opts
}

// document splits and embeds one document; it returns the number of chunks.
func (b *build) document(ctx context.Context, d docs.Doc, hash string, p *Progress) (int, error) {
	base := p.Read
	rc, err := docs.OpenCounted(d, func(n int) {
		p.Read += int64(n)
	})
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	// Ids are given in the order of pending chunks, so a document's ids are
	// consecutive even when a batch holds chunks of several documents.
	b.docs = append(b.docs, docInfo{Path: d.Path, SHA256: hash, Size: d.Size})
	di := len(b.docs) - 1
	st := &docState{final: -1}
	b.states[di] = st
	n := 0
	err = chunk.Split(rc, b.o.Chunk, func(c chunk.Chunk) error {
		b.pending = append(b.pending, pendingChunk{doc: di, n: c.N, text: c.Text})
		n++
		if len(b.pending) >= b.o.Batch {
			return b.flush(ctx, p)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("%s: %w", d.Path, err)
	}
	p.Read = base + d.Size // the file may have changed size since the walk
	st.final = n
	if b.docs[di].Chunks == n { // all added already (or none)
		if err := b.jr.addDone(d.Path, hash, n); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// resume adds a document's chunks and vectors from the journal of an
// earlier run, in batches that keep their place in the queue.
func (b *build) resume(ctx context.Context, d docs.Doc, hash string, refs []int64, p *Progress) (int, error) {
	if err := b.flush(ctx, p); err != nil { // what is pending goes first
		return 0, err
	}
	b.docs = append(b.docs, docInfo{Path: d.Path, SHA256: hash, Size: d.Size})
	di := len(b.docs) - 1
	b.states[di] = &docState{final: len(refs), resumed: true}
	for len(refs) > 0 {
		n := min(len(refs), b.o.Batch)
		j := &job{done: make(chan struct{})}
		close(j.done)
		for _, off := range refs[:n] {
			c, v, err := b.jr.chunk(off)
			if err != nil {
				return 0, err
			}
			if c.Doc != d.Path || c.SHA256 != hash {
				return 0, fmt.Errorf("%s: chunk record at %d is of %s", b.jr.path, off, c.Doc)
			}
			j.chunks = append(j.chunks, pendingChunk{doc: di, n: c.Chunk, text: c.Text})
			j.vecs = append(j.vecs, v)
		}
		refs = refs[n:]
		b.queue = append(b.queue, j)
		for len(b.queue) >= b.o.Workers {
			if err := b.apply(p); err != nil {
				return 0, err
			}
		}
	}
	total := b.states[di].final
	b.resumed += total
	p.Read += d.Size
	return total, nil
}

// job is one Embed call of a batch of chunks.
type job struct {
	chunks []pendingChunk
	vecs   [][]float32
	err    error
	done   chan struct{}
}

// flush sends the pending chunks to the embedder as one batch. Up to
// Workers batches are embedded at once; finished ones are added in the order
// they were sent, so ids follow the documents' order.
func (b *build) flush(ctx context.Context, p *Progress) error {
	if len(b.pending) > 0 {
		if err := ctx.Err(); err != nil {
			return err
		}
		j := &job{chunks: b.pending, done: make(chan struct{})}
		b.pending = make([]pendingChunk, 0, b.o.Batch)
		texts := make([]string, len(j.chunks))
		for i, c := range j.chunks {
			texts[i] = c.text
		}
		go func() {
			defer close(j.done)
			j.vecs, j.err = b.e.Embed(ctx, b.o.Model, texts)
		}()
		b.queue = append(b.queue, j)
	}
	for len(b.queue) >= b.o.Workers {
		if err := b.apply(p); err != nil {
			return err
		}
	}
	return nil
}

// drain sends what is pending and adds every batch.
func (b *build) drain(ctx context.Context, p *Progress) error {
	if err := b.flush(ctx, p); err != nil {
		return err
	}
	for len(b.queue) > 0 {
		if err := b.apply(p); err != nil {
			return err
		}
	}
	return nil
}

// wait waits for the batches in flight (after their context is canceled,
// on an error), so that no Embed call outlives the run.
func (b *build) wait() {
	for _, j := range b.queue {
		<-j.done
	}
	b.queue = nil
}

// apply waits for the oldest batch and adds its chunks.
func (b *build) apply(p *Progress) error {
	j := b.queue[0]
	<-j.done
	b.queue = b.queue[1:]
	if j.err != nil {
		if strings.Contains(j.err.Error(), strconv.Quote(b.o.Model)) {
			return fmt.Errorf("embedding: %w", j.err) // the error names the model
		}
		return fmt.Errorf("embedding with model %q: %w", b.o.Model, j.err)
	}
	if len(j.vecs) != len(j.chunks) {
		return fmt.Errorf("embedding model %q answered %d vectors for %d texts", b.o.Model, len(j.vecs), len(j.chunks))
	}
	if uint64(b.nextID)+uint64(len(j.chunks)) > math.MaxUint32 {
		return errors.New("chunk ids exhausted: index into a new collection")
	}
	for i, v := range j.vecs {
		if b.builder == nil {
			if len(v) == 0 {
				return fmt.Errorf("embedding model %q answered an empty vector", b.o.Model)
			}
			b.dim = len(v)
			b.builder = index.NewBuilder(b.dim, b.indexOptions())
		}
		if len(v) != b.dim {
			return fmt.Errorf("embedding model %q answered a vector of %d dimensions, the collection %q has %d: %w",
				b.o.Model, len(v), b.o.Name, b.dim, index.ErrDim)
		}
		c := j.chunks[i]
		id := b.nextID
		if err := b.builder.Add(id, v); err != nil {
			return fmt.Errorf("embedding model %q, %s chunk %d: %w", b.o.Model, b.docs[c.doc].Path, c.n, err)
		}
		js, err := json.Marshal(record{Doc: b.docs[c.doc].Path, Chunk: c.n, Text: c.text})
		if err != nil {
			return err
		}
		if err := b.cw.add(id, js); err != nil {
			return err
		}
		if b.docs[c.doc].Chunks == 0 {
			b.docs[c.doc].FirstID = id
		}
		b.nextID++
		b.docs[c.doc].Chunks++
		if st := b.states[c.doc]; st != nil && !st.resumed {
			d := b.docs[c.doc]
			if err := b.jr.addChunk(d.Path, d.SHA256, c.n, c.text, v); err != nil {
				return err
			}
			if st.final == d.Chunks {
				if err := b.jr.addDone(d.Path, d.SHA256, d.Chunks); err != nil {
					return err
				}
			}
		}
	}
	p.Chunks += len(j.vecs)
	if b.progress != nil {
		b.progress(*p)
	}
	return nil
}

// openOld opens the existing collection in dir, or returns nil if there is
// none.
func openOld(dir string) (*Collection, error) {
	c, err := open(dir)
	if errors.Is(err, ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("the existing collection: %w (remove %s to index from scratch)", err, dir)
	}
	return c, nil
}

// compatible reports whether the vectors of c can be kept for a run with o,
// saying why not through warn.
func (c *Collection) compatible(o Options, warn func(string)) bool {
	m := c.man
	why := ""
	switch {
	case m.Model != o.Model:
		why = fmt.Sprintf("the embedding model changed from %q to %q", m.Model, o.Model)
	case m.Kind != o.Kind.String():
		why = fmt.Sprintf("the vector kind changed from %s to %s", m.Kind, o.Kind)
	case m.ChunkSize != o.Chunk.Size || m.ChunkOverlap != o.Chunk.Overlap:
		why = fmt.Sprintf("chunking changed from %d/%d to %d/%d tokens (size/overlap)", m.ChunkSize, m.ChunkOverlap, o.Chunk.Size, o.Chunk.Overlap)
	default:
		return true
	}
	warn(why + ": every document is embedded again")
	return false
}

func hashFile(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}

func writeManifest(dir string, m *manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(dir, manifestFile+".tmp*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(append(b, '\n'))
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), filepath.Join(dir, manifestFile))
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("writing the manifest: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		d.Sync() // the rename itself
		d.Close()
	}
	return nil
}

// removeStale removes the index and chunks files m does not name.
func removeStale(dir string, m *manifest) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range ents {
		n := e.Name()
		if n == m.Index || n == m.Chunks {
			continue
		}
		if (strings.HasPrefix(n, "index-") || strings.HasPrefix(n, "chunks-")) && (strings.HasSuffix(n, ".bin") || strings.HasSuffix(n, ".tmp")) {
			os.Remove(filepath.Join(dir, n))
		}
	}
}
