// Package rag is the retrieval-augmented generation utils plugin (the
// original's langchain_rag): it embeds the newest user text with one of the
// router's own embedding models, finds the nearest chunks of a collection
// built by `llm-router rag index`, and adds them to the request — appended
// to the newest user turn after the original's preface (English or Polish),
// or as a system message.
//
// Differences from the original: nothing retrieved leaves the request
// unchanged (the original failed with a 500); chunks under a minimum
// similarity are not used; the collection, top_k and mode can be chosen per
// request ("rag": {"collection": …, "top_k": n, "mode": "system"}); the
// embedding model is a models-config model served by the router's own
// providers, not a local Hugging Face model.
package rag

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
)

// Modes of adding the retrieved text.
const (
	// ModePreface appends the chunks to the newest user turn after the
	// original's preface.
	ModePreface = "preface"
	// ModeSystem sends them as a system message.
	ModeSystem = "system"
)

// Defaults, as in the original where it had them.
const (
	DefaultTopK = 10
	// MaxTopK bounds top_k, from the configuration and from requests.
	MaxTopK = 100
)

// Prefaces introduce the retrieved chunks. English is the original's text.
var prefaces = map[string][2]string{
	// {appended to the user turn, system message}
	"en": {"If the context below will help answer the above question, use it. Context separated with double enter:",
		"Use the context below if it helps answer the user's question. Context separated with double enter:"},
	"pl": {"Jeżeli poniższy kontekst pomoże odpowiedzieć na powyższe pytanie, wykorzystaj go. Fragmenty kontekstu są oddzielone podwójnym enterem:",
		"Wykorzystaj poniższy kontekst, jeżeli pomoże odpowiedzieć na pytanie użytkownika. Fragmenty kontekstu są oddzielone podwójnym enterem:"},
}

// Hit is one retrieved chunk.
type Hit struct {
	Doc   string  // document path, as indexed
	Chunk int     // chunk number in the document
	Text  string  // chunk text
	Score float32 // cosine similarity to the query
}

// Store is an open collection.
type Store interface {
	// Search returns up to k chunks with similarity ≥ minScore, best first.
	Search(vec []float32, k int, minScore float32) ([]Hit, error)
	// Model names the embedding model the collection was built with.
	Model() string
	// Dim is the collection's vector dimension.
	Dim() int
	// ChunkSize is the chunk size (tokens, package chunk) it was indexed
	// with, 0 if unknown: a query is cut to it before it is embedded.
	ChunkSize() int
}

// Stores gives the collections by name. Names are validated by the caller.
type Stores interface {
	Get(name string) (Store, error)
}

// Settings are a retriever's defaults; a request may override Collection,
// TopK and Mode.
type Settings struct {
	Name       string  // plugin name for errors ("langchain_rag")
	Collection string  // default collection
	Embedder   string  // embedding model; empty means the collection's
	TopK       int     // chunks to add, at most
	MinScore   float32 // least cosine similarity of a used chunk
	Mode       string  // ModePreface or ModeSystem
	FailOpen   bool    // embedding model down: pass the request unchanged
	Language   string  // preface language when the request has none ("en")
	// Collections, when not empty, are the only collections besides
	// Collection that a request may name; empty allows any under the
	// persist dir.
	Collections []string
}

// Retriever implements plugins.Augmenter over Stores and an Embedder. It is
// safe for concurrent use once UseEmbedder was called.
type Retriever struct {
	s      Settings
	stores Stores
	emb    plugins.Embedder
	// OnFailOpen, when set, is told about an embedding failure let through
	// by FailOpen (for the log).
	OnFailOpen func(err error)
	// OnError, when set, is told the full cause of a failure the client
	// is told less about: a collection that cannot be opened or read, whose
	// cause names the server's files (for the log).
	OnError func(err error)
}

// NewRetriever returns a Retriever; s must be validated (see Validate).
func NewRetriever(s Settings, stores Stores) *Retriever {
	return &Retriever{s: s, stores: stores}
}

// UseEmbedder implements plugins.EmbedderUser.
func (r *Retriever) UseEmbedder(e plugins.Embedder) { r.emb = e }

var collectionName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$`)

// ValidCollection reports whether name may name a collection: letters,
// digits, '.', '_' and '-', starting with a letter or digit, at most 128
// characters (package collection's rule) — never a path.
func ValidCollection(name string) bool { return collectionName.MatchString(name) }

// Validate checks the settings and fills the defaults.
func (s *Settings) Validate() error {
	if s.Name == "" {
		s.Name = "rag"
	}
	if s.Collection == "" {
		return fmt.Errorf("%s: no collection: set collection or LLM_ROUTER_LANGCHAIN_RAG_COLLECTION", s.Name)
	}
	if !ValidCollection(s.Collection) {
		return fmt.Errorf("%s: collection %q: use letters, digits, '_', '.' and '-'", s.Name, s.Collection)
	}
	for _, c := range s.Collections {
		if !ValidCollection(c) {
			return fmt.Errorf("%s: collections: %q: use letters, digits, '_', '.' and '-'", s.Name, c)
		}
	}
	if s.TopK == 0 {
		s.TopK = DefaultTopK
	}
	if s.TopK < 1 || s.TopK > MaxTopK {
		return fmt.Errorf("%s: top_k %d: want 1 to %d", s.Name, s.TopK, MaxTopK)
	}
	if s.MinScore < -1 || s.MinScore > 1 {
		return fmt.Errorf("%s: min_score %v: want a cosine similarity, -1 to 1", s.Name, s.MinScore)
	}
	switch s.Mode {
	case "":
		s.Mode = ModePreface
	case ModePreface, ModeSystem:
	default:
		return fmt.Errorf("%s: mode %q: want preface or system", s.Name, s.Mode)
	}
	if s.Language == "" {
		s.Language = "en"
	}
	if _, ok := prefaces[s.Language]; !ok {
		return fmt.Errorf("%s: language %q: want en or pl", s.Name, s.Language)
	}
	return nil
}

// options is the request's "rag" member.
type options struct {
	Collection *string          `json:"collection"`
	TopK       *json.RawMessage `json:"top_k"`
	Mode       *string          `json:"mode"`
}

// request resolves the per-request options against the settings.
func (r *Retriever) request(raw json.RawMessage) (collection string, topK int, mode string, err error) {
	collection, topK, mode = r.s.Collection, r.s.TopK, r.s.Mode
	if len(raw) == 0 || string(raw) == "null" {
		return collection, topK, mode, nil
	}
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: rag: %s", plugins.ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	var o options
	dec := json.NewDecoder(strings.NewReader(string(raw)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&o); err != nil {
		return "", 0, "", bad("want an object {\"collection\", \"top_k\", \"mode\"}: %v", err)
	}
	if o.Collection != nil {
		if !ValidCollection(*o.Collection) || !r.offers(*o.Collection) {
			return "", 0, "", bad("unknown collection %q", *o.Collection)
		}
		collection = *o.Collection
	}
	if o.TopK != nil {
		n, err := strconv.Atoi(string(*o.TopK))
		if err != nil || n < 1 || n > MaxTopK {
			return "", 0, "", bad("top_k must be a whole number from 1 to %d", MaxTopK)
		}
		topK = n
	}
	if o.Mode != nil {
		if *o.Mode != ModePreface && *o.Mode != ModeSystem {
			return "", 0, "", bad("mode %q: want preface or system", *o.Mode)
		}
		mode = *o.Mode
	}
	return collection, topK, mode, nil
}

// offers reports whether a request may name collection name: the default
// one, or one of Settings.Collections when that list is set.
func (r *Retriever) offers(name string) bool {
	return len(r.s.Collections) == 0 || name == r.s.Collection || slices.Contains(r.s.Collections, name)
}

// Augment implements plugins.Augmenter: it retrieves the chunks nearest to
// q.Text and returns them as text to add, or nil when there is no text or
// no chunk is near enough.
func (r *Retriever) Augment(ctx context.Context, q *plugins.Query) (*plugins.Augmentation, error) {
	name, topK, mode, err := r.request(q.Options)
	if err != nil {
		return nil, err
	}
	st, err := r.stores.Get(name)
	if err != nil {
		if errors.Is(err, plugins.ErrInvalidRequest) {
			return nil, err
		}
		return nil, r.hide(err, fmt.Errorf("%s: collection %q could not be opened", r.s.Name, name))
	}
	if strings.TrimSpace(q.Text) == "" {
		return nil, nil
	}
	model := r.s.Embedder
	if model == "" {
		model = st.Model()
	}
	// A query longer than the chunks is cut to their size: the embedding
	// model took texts that long, and may refuse longer ones (a 400 from a
	// 512-token model would fail the request closed); the original's local
	// model truncated too.
	vec, err := r.embed(ctx, model, chunk.Head(q.Text, st.ChunkSize()))
	if err != nil {
		if r.s.FailOpen && errors.Is(err, plugins.ErrServiceUnavailable) {
			if r.OnFailOpen != nil {
				r.OnFailOpen(err)
			}
			return nil, nil
		}
		return nil, err
	}
	if len(vec) != st.Dim() {
		return nil, &plugins.ServiceError{Service: r.s.Name, Kind: "wrong embedding dimension",
			Err: fmt.Errorf("embedding model %q answered %d dimensions; collection %q has %d", model, len(vec), name, st.Dim())}
	}
	hits, err := st.Search(vec, topK, r.s.MinScore)
	if err != nil {
		return nil, r.hide(err, fmt.Errorf("%s: collection %q could not be read", r.s.Name, name))
	}
	if len(hits) == 0 {
		return nil, nil
	}
	return build(hits, mode, q.Language, r.s.Language), nil
}

// hide tells OnError the cause of a failure and returns public, what the
// client is told: the cause may name files of the server.
func (r *Retriever) hide(cause, public error) error {
	if r.OnError != nil {
		r.OnError(fmt.Errorf("%w: %w", public, cause))
	}
	return public
}

// embed embeds one text; any failure of the embedding model is a
// ServiceError (fail closed) unless the request itself ended.
func (r *Retriever) embed(ctx context.Context, model, text string) ([]float32, error) {
	if r.emb == nil {
		return nil, &plugins.ServiceError{Service: r.s.Name, Kind: "no embedder", Err: errors.New("the router provided no embedder")}
	}
	vecs, err := r.emb.Embed(ctx, model, []string{text})
	if err == nil && len(vecs) != 1 {
		err = fmt.Errorf("embedding model %q answered %d vectors for 1 text", model, len(vecs))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s: %w", r.s.Name, ctx.Err())
		}
		return nil, &plugins.ServiceError{Service: r.s.Name, Kind: "embedding model " + model + " unavailable", Err: err}
	}
	return vecs[0], nil
}

// build writes the augmentation: the preface, then the chunks separated by
// blank lines (the original's layout), with sources "path#chunk".
func build(hits []Hit, mode, lang, defLang string) *plugins.Augmentation {
	p, ok := prefaces[lang]
	if !ok {
		p = prefaces[defLang]
	}
	a := &plugins.Augmentation{System: mode == ModeSystem}
	var b strings.Builder
	if a.System {
		b.WriteString(p[1])
	} else {
		b.WriteString(p[0])
	}
	seen := map[string]bool{}
	for _, h := range hits {
		b.WriteString("\n\n")
		b.WriteString(strings.TrimSpace(h.Text))
		src := h.Doc + "#" + strconv.Itoa(h.Chunk)
		if !seen[src] {
			seen[src] = true
			a.Sources = append(a.Sources, src)
		}
	}
	a.Text = b.String()
	return a
}
