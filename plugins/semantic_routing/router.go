// Package semrouting is the embedding-based router for "model": "auto"
// (the original's semantic_biencoder_routing): each routing target has a
// model and example prompts; a request goes to the target whose examples
// its newest user text is most similar to, by an embedding model the
// router itself serves (a models-config model with is_embedding). A user
// text longer than chunk_size tokens (default 400, as package chunk
// counts them) is cut to its first chunk_size tokens before it is
// embedded, as the retrieval plugin cuts its query: embedding servers
// refuse long input (often past 512 tokens), and a refusal would fail
// the request.
//
// The score of a target is the mean cosine similarity of its top_k most
// similar examples (top_k 1: its best example). The best target wins when
// its score reaches similarity_threshold; otherwise the fallback model
// answers, or — with no fallback — the model stays "auto" for the next
// routing util of the pipeline (simple_semantic_routing, for one).
//
// The examples (and each target's description) are embedded once, at
// start (Warm, which the module runs in the background as soon as the
// router hands it its embedder; a routed request that comes first waits
// for it, and one that finds it failed tries again), and cached on disk
// under the cache directory in a file named by a hash of the embedding
// model and the targets: changing either builds a new cache; a cache that
// cannot be read, or of another dimension than the model now answers, is
// rebuilt. Writing a new cache removes the older caches of this module
// (examples-<hash>.json) in the same directory: routers with different
// targets should not share a cache directory.
//
// Differences from the original: an example is embedded whole (not cut
// into chunk_size windows — examples are prompts, short by nature); a
// target is scored by its own best examples rather than by the share it
// has of the overall nearest ones; an unreachable embedding model is a 503
// (fail closed) unless fail_open, which sends the request to the fallback.
package semrouting

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
)

// Auto is the model name that asks for routing.
const Auto = "auto"

// embedBatch is the most texts sent in one Embed call.
const embedBatch = 64

// cacheVersion is the format of the cache files.
const cacheVersion = 1

// maxCacheBytes bounds a cache file read.
const maxCacheBytes = 256 << 20

// Router routes "auto" by embedding similarity. It is safe for concurrent
// use once UseEmbedder was called.
type Router struct {
	name      string
	cfg       *Config
	cacheDir  string
	failOpen  bool
	key       string // hash of the model and the targets
	emb       plugins.Embedder
	ex        atomic.Pointer[exampleSet] // nil until embedded or loaded
	building  chan struct{}              // held (one slot) while ex is built
	OnFailure func(err error)
}

// exampleSet is the example vectors (normalised) and the target index of
// each.
type exampleSet struct {
	vecs  [][]float32
	owner []int
}

// New returns a Router for a validated configuration; cacheDir holds the
// example vectors ("" keeps them in memory only). A cache already there
// is loaded now.
func New(name string, cfg *Config, cacheDir string, failOpen bool) (*Router, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	r := &Router{name: name, cfg: cfg, cacheDir: cacheDir, failOpen: failOpen, building: make(chan struct{}, 1)}
	h := sha256.New()
	fmt.Fprintf(h, "v%d\x00%s\x00", cacheVersion, cfg.EmbeddingModel)
	for _, t := range cfg.Targets {
		fmt.Fprintf(h, "%q\x00", t.Name)
		for _, s := range t.texts() {
			fmt.Fprintf(h, "%q\x00", s)
		}
		h.Write([]byte{1})
	}
	r.key = hex.EncodeToString(h.Sum(nil))[:32]
	r.loadCache()
	return r, nil
}

// UseEmbedder implements plugins.EmbedderUser.
func (r *Router) UseEmbedder(e plugins.Embedder) { r.emb = e }

// cacheFile is the cache's path for the current model and targets.
func (r *Router) cacheFile() string {
	return filepath.Join(r.cacheDir, "examples-"+r.key+".json")
}

type cacheFile struct {
	Version int         `json:"version"`
	Model   string      `json:"model"`
	Key     string      `json:"key"`
	Owner   []int       `json:"owner"`
	Vectors [][]float32 `json:"vectors"`
}

// loadCache reads the cache when there is a valid one.
func (r *Router) loadCache() {
	if r.cacheDir == "" {
		return
	}
	f, err := os.Open(r.cacheFile())
	if err != nil {
		return
	}
	defer f.Close()
	var c cacheFile
	if json.NewDecoder(io.LimitReader(f, maxCacheBytes)).Decode(&c) != nil || c.Version != cacheVersion ||
		c.Key != r.key || c.Model != r.cfg.EmbeddingModel || len(c.Owner) != len(c.Vectors) || len(c.Vectors) == 0 {
		return
	}
	dim := len(c.Vectors[0])
	for i, v := range c.Vectors {
		if len(v) != dim || dim == 0 || c.Owner[i] < 0 || c.Owner[i] >= len(r.cfg.Targets) {
			return
		}
	}
	r.ex.Store(&exampleSet{vecs: c.Vectors, owner: c.Owner})
}

// writeCache stores the vectors atomically (temp file + rename), then
// removes the older caches of this module.
func (r *Router) writeCache(vecs [][]float32, owner []int) error {
	if err := os.MkdirAll(r.cacheDir, 0o700); err != nil {
		return err
	}
	tmp, err := os.CreateTemp(r.cacheDir, ".examples-*.tmp")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	err = json.NewEncoder(tmp).Encode(cacheFile{Version: cacheVersion, Model: r.cfg.EmbeddingModel, Key: r.key, Owner: owner, Vectors: vecs})
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp.Name(), r.cacheFile()); err != nil {
		return err
	}
	return r.removeOldCaches()
}

// cacheName matches the names of the cache files this module writes.
var cacheName = regexp.MustCompile(`^examples-[0-9a-f]{32}\.json$`)

// removeOldCaches removes this module's cache files other than the
// current one from the cache directory: those of examples or models no
// longer configured. Other files are left alone.
func (r *Router) removeOldCaches() error {
	entries, err := os.ReadDir(r.cacheDir)
	if err != nil {
		return fmt.Errorf("old caches not removed: %w", err)
	}
	current := filepath.Base(r.cacheFile())
	var errs []error
	for _, e := range entries {
		if n := e.Name(); n != current && e.Type().IsRegular() && cacheName.MatchString(n) {
			if err := os.Remove(filepath.Join(r.cacheDir, n)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, fmt.Errorf("old cache not removed: %w", err))
			}
		}
	}
	return errors.Join(errs...)
}

// Warm embeds (and caches) the example vectors now, unless they are
// already there; a request arriving meanwhile waits for it.
func (r *Router) Warm(ctx context.Context) error {
	_, err := r.examples(ctx)
	return err
}

// examples returns the example vectors, embedding (and caching) them on
// first use; one caller builds them while the others wait (or give up
// when their ctx ends).
func (r *Router) examples(ctx context.Context) (*exampleSet, error) {
	if ex := r.ex.Load(); ex != nil {
		return ex, nil
	}
	select {
	case r.building <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("%s: waiting for the example vectors: %w", r.name, ctx.Err())
	}
	defer func() { <-r.building }()
	if ex := r.ex.Load(); ex != nil {
		return ex, nil
	}
	var texts []string
	var owner []int
	for i, t := range r.cfg.Targets {
		for _, s := range t.texts() {
			texts = append(texts, s)
			owner = append(owner, i)
		}
	}
	vecs := make([][]float32, 0, len(texts))
	for start := 0; start < len(texts); start += embedBatch {
		batch := texts[start:min(start+embedBatch, len(texts))]
		got, err := r.embed(ctx, batch)
		if err != nil {
			return nil, err
		}
		vecs = append(vecs, got...)
	}
	for i := range vecs {
		if len(vecs[i]) != len(vecs[0]) || len(vecs[i]) == 0 {
			return nil, &plugins.ServiceError{Service: r.name, Kind: "invalid answer",
				Err: fmt.Errorf("embedding model %q answered vectors of %d and %d dimensions", r.cfg.EmbeddingModel, len(vecs[0]), len(vecs[i]))}
		}
		normalise(vecs[i])
	}
	if r.cacheDir != "" {
		if err := r.writeCache(vecs, owner); err != nil && r.OnFailure != nil {
			r.OnFailure(fmt.Errorf("%s: example cache: %w", r.name, err))
		}
	}
	ex := &exampleSet{vecs: vecs, owner: owner}
	r.ex.Store(ex)
	return ex, nil
}

// embed calls the embedder; any failure of the model is a ServiceError
// (fail closed) unless the request itself ended.
func (r *Router) embed(ctx context.Context, texts []string) ([][]float32, error) {
	model := r.cfg.EmbeddingModel
	if r.emb == nil {
		return nil, &plugins.ServiceError{Service: r.name, Kind: "no embedder", Err: errors.New("the router provided no embedder")}
	}
	vecs, err := r.emb.Embed(ctx, model, texts)
	if err == nil && len(vecs) != len(texts) {
		err = fmt.Errorf("embedding model %q answered %d vectors for %d texts", model, len(vecs), len(texts))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", r.name, ctx.Err())
		}
		return nil, &plugins.ServiceError{Service: r.name, Kind: "embedding model " + model + " unavailable", Err: err}
	}
	return vecs, nil
}

// Decision is the outcome of routing one text.
type Decision struct {
	Target     string  // the target chosen, "" for the fallback or none
	Model      string  // the model chosen, "" when none
	Similarity float64 // the best target's score
	Best       string  // the best target, chosen or not
}

// Reason describes a decision for the request log.
func (d Decision) Reason() string {
	switch {
	case d.Target != "":
		return fmt.Sprintf("target=%s similarity=%.2f", d.Target, d.Similarity)
	case d.Best != "":
		return fmt.Sprintf("fallback: best target=%s similarity=%.2f below threshold", d.Best, d.Similarity)
	}
	return "fallback"
}

// Decide routes one text.
func (r *Router) Decide(ctx context.Context, text string) (Decision, error) {
	ex, err := r.examples(ctx)
	if err != nil {
		return Decision{}, err
	}
	q, err := r.embed(ctx, []string{text})
	if err != nil {
		return Decision{}, err
	}
	if len(q[0]) != len(ex.vecs[0]) {
		// Another model now answers under the name (the cache is keyed by
		// the name): embed the examples again, as the original rebuilt its
		// index on a change of dimension.
		r.ex.CompareAndSwap(ex, nil)
		if ex, err = r.examples(ctx); err != nil {
			return Decision{}, err
		}
		if len(q[0]) != len(ex.vecs[0]) {
			return Decision{}, &plugins.ServiceError{Service: r.name, Kind: "invalid answer",
				Err: fmt.Errorf("embedding model %q answered %d dimensions; its examples have %d", r.cfg.EmbeddingModel, len(q[0]), len(ex.vecs[0]))}
		}
	}
	vecs, owner := ex.vecs, ex.owner
	normalise(q[0])
	sims := make([][]float64, len(r.cfg.Targets))
	for i, v := range vecs {
		sims[owner[i]] = append(sims[owner[i]], dot(v, q[0]))
	}
	d := Decision{Similarity: math.Inf(-1)}
	k := r.cfg.Settings.TopK
	for ti, s := range sims {
		if len(s) == 0 {
			continue
		}
		slices.SortFunc(s, func(a, b float64) int { return -compare(a, b) })
		n := min(k, len(s))
		var sum float64
		for _, x := range s[:n] {
			sum += x
		}
		if mean := sum / float64(n); mean > d.Similarity {
			d.Similarity, d.Best = mean, r.cfg.Targets[ti].Name
			d.Model = r.cfg.Targets[ti].ModelName
		}
	}
	if d.Best != "" && d.Similarity >= r.cfg.Settings.SimilarityThreshold {
		d.Target = d.Best
		return d, nil
	}
	d.Model = r.cfg.Settings.FallbackModel
	return d, nil
}

// Apply implements plugins.Util: a request for "auto" gets the model of
// the target its newest user text is most like.
func (r *Router) Apply(ctx context.Context, req *plugins.Request) error {
	if req.Model != Auto {
		return nil
	}
	text := chunk.Head(newest(req.Texts), r.cfg.Settings.ChunkSize)
	if text == "" {
		if fb := r.cfg.Settings.FallbackModel; fb != "" {
			req.Model, req.Reason = fb, "no text: fallback"
		}
		return nil
	}
	d, err := r.Decide(ctx, text)
	if err != nil {
		if r.failOpen && errors.Is(err, plugins.ErrServiceUnavailable) {
			if r.OnFailure != nil {
				r.OnFailure(err)
			}
			if fb := r.cfg.Settings.FallbackModel; fb != "" {
				req.Model, req.Reason = fb, "embedding model unavailable: fallback"
			}
			return nil
		}
		return err
	}
	if d.Model == "" {
		return nil // "auto" stays for the next routing util
	}
	req.Model, req.Reason = d.Model, d.Reason()
	return nil
}

func newest(texts []string) string {
	for i := len(texts) - 1; i >= 0; i-- {
		if strings.TrimSpace(texts[i]) != "" {
			return texts[i]
		}
	}
	return ""
}

func normalise(v []float32) {
	var n float64
	for _, x := range v {
		n += float64(x) * float64(x)
	}
	if n == 0 {
		return
	}
	s := float32(1 / math.Sqrt(n))
	for i := range v {
		v[i] *= s
	}
}

func dot(a, b []float32) float64 {
	var s float64
	for i := range a {
		s += float64(a[i]) * float64(b[i])
	}
	return s
}

func compare(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
