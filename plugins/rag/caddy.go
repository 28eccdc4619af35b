package rag

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// Names of the plugin in pipelines and Caddy module IDs: Name is this
// router's, LangchainName the original's (both are the same module).
const (
	Name          = "rag"
	LangchainName = "langchain_rag"
)

// Environment variables (the original's, plus _TOP_K and _MIN_SCORE).
const (
	EnvCollection   = "LLM_ROUTER_LANGCHAIN_RAG_COLLECTION"
	EnvEmbedder     = "LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER" // an embedding model in models-config
	EnvPersistDir   = "LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR"
	EnvChunkSize    = "LLM_ROUTER_LANGCHAIN_RAG_CHUNK_SIZE"    // indexing only (llm-router rag index)
	EnvChunkOverlap = "LLM_ROUTER_LANGCHAIN_RAG_CHUNK_OVERLAP" // indexing only
	EnvTopK         = "LLM_ROUTER_LANGCHAIN_RAG_TOP_K"
	EnvMinScore     = "LLM_ROUTER_LANGCHAIN_RAG_MIN_SCORE"
)

// collections holds the open collections, keyed by path, shared by the
// module instances of successive configurations (a reload does not reopen
// them) and closed with their last user.
var collections = caddy.NewUsagePool()

func init() {
	caddy.RegisterModule(Module{})
	caddy.RegisterModule(Langchain{})
}

// Module is the Caddy module llm_router.utils.rag.
//
// Configuration is layered: the LLM_ROUTER_LANGCHAIN_RAG_* variables, then
// the fields below.
//
// Caddyfile:
//
//	util rag {
//		collection  <name>          # default collection
//		persist_dir <dir>           # where `llm-router rag index` wrote it
//		embedder    <model>         # embedding model; default: the collection's
//		top_k       <n>             # chunks added, at most (10)
//		min_score   <similarity>    # least cosine similarity of a chunk (0)
//		mode        preface|system  # how the chunks are added (preface)
//		language    en|pl           # preface language by default (en)
//		fail_open                   # embedding model down: request unchanged
//		collections <name>...       # the only others a request may name
//	}
type Module struct {
	// Collection is the default collection's name.
	Collection string `json:"collection,omitempty"`
	// PersistDir holds the collections (one directory each).
	PersistDir string `json:"persist_dir,omitempty"`
	// Embedder is the embedding model (a models-config model with
	// is_embedding); empty means the model the collection was built with.
	Embedder string `json:"embedder,omitempty"`
	// TopK is the most chunks added to a request.
	TopK int `json:"top_k,omitempty"`
	// MinScore is the least cosine similarity of a used chunk.
	MinScore *float64 `json:"min_score,omitempty"`
	// Mode is preface (append to the newest user turn) or system.
	Mode string `json:"mode,omitempty"`
	// Language is the preface language of requests that do not say (en, pl).
	Language string `json:"language,omitempty"`
	// FailOpen passes requests unchanged while the embedding model fails.
	FailOpen bool `json:"fail_open,omitempty"`
	// Collections, when set, are the only collections besides Collection
	// that a request (or a site's rag_collection) may name; each must
	// exist when the module starts. Empty: any under PersistDir.
	Collections []string `json:"collections,omitempty"`

	name   string
	open   Opener // tests replace it
	stores *poolStores
	r      *Retriever
}

// Langchain is the same module under the original's name,
// llm_router.utils.langchain_rag.
type Langchain struct{ Module }

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils." + Name, New: func() caddy.Module { return new(Module) }}
}

// CaddyModule implements caddy.Module.
func (Langchain) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.utils." + LangchainName, New: func() caddy.Module {
		return &Langchain{Module{name: LangchainName}}
	}}
}

// Provision implements caddy.Provisioner: it reads the settings and opens
// the default collection (a missing one is a configuration error).
func (mo *Module) Provision(ctx caddy.Context) error {
	if mo.name == "" {
		mo.name = Name
	}
	s, dir, err := mo.settings(svcmod.Getenv(ctx))
	if err != nil {
		return err
	}
	if err := dirExists(dir); err != nil {
		return fmt.Errorf("%s: persist_dir: %w", mo.name, err)
	}
	open := mo.open
	if open == nil {
		open = OpenCollection
	}
	mo.stores = newPoolStores(collections, dir, open)
	st, err := mo.stores.Get(s.Collection)
	if err != nil {
		_ = mo.stores.Close()
		if errors.Is(err, plugins.ErrInvalidRequest) {
			return fmt.Errorf("%s: no collection %q in %s (build it with llm-router rag index)", mo.name, s.Collection, dir)
		}
		return fmt.Errorf("%s: %w", mo.name, err)
	}
	if s.Embedder != "" && st.Model() != "" && st.Model() != s.Embedder {
		_ = mo.stores.Close()
		return fmt.Errorf("%s: collection %q was built with embedding model %q, not %q (embedder)", mo.name, s.Collection, st.Model(), s.Embedder)
	}
	for _, name := range s.Collections {
		if _, err := mo.stores.Get(name); err != nil {
			_ = mo.stores.Close()
			if errors.Is(err, plugins.ErrInvalidRequest) {
				return fmt.Errorf("%s: collections: no collection %q in %s (build it with llm-router rag index)", mo.name, name, dir)
			}
			return fmt.Errorf("%s: collections: %w", mo.name, err)
		}
	}
	mo.r = NewRetriever(s, mo.stores)
	logger := ctx.Logger()
	mo.r.OnFailOpen = func(err error) {
		logger.Warn("embedding model unavailable; request passed without retrieval (fail_open)", zap.Error(err))
	}
	mo.r.OnError = func(err error) { logger.Error("retrieval failed", zap.Error(err)) }
	return nil
}

// settings layers the environment (read through getenv) and the fields,
// and returns the validated settings and the persist dir.
func (mo *Module) settings(getenv func(string) string) (Settings, string, error) {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	s := Settings{Name: mo.name, Collection: env(EnvCollection), Embedder: env(EnvEmbedder)}
	dir := env(EnvPersistDir)
	var errs []error
	num := func(k string, bits int) float64 {
		v := env(k)
		if v == "" {
			return 0
		}
		var f float64
		var err error
		if bits == 0 {
			var n int
			n, err = strconv.Atoi(v)
			f = float64(n)
		} else {
			f, err = strconv.ParseFloat(v, 64)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("%s=%q is not a number", k, v))
		}
		return f
	}
	s.TopK = int(num(EnvTopK, 0))
	s.MinScore = float32(num(EnvMinScore, 64))
	// Indexing settings: checked, used by `llm-router rag index`.
	num(EnvChunkSize, 0)
	num(EnvChunkOverlap, 0)
	if err := errors.Join(errs...); err != nil {
		return s, "", fmt.Errorf("%s: %w", mo.name, err)
	}
	if mo.Collection != "" {
		s.Collection = mo.Collection
	}
	if mo.PersistDir != "" {
		dir = mo.PersistDir
	}
	if mo.Embedder != "" {
		s.Embedder = mo.Embedder
	}
	if mo.TopK != 0 {
		s.TopK = mo.TopK
	}
	if mo.MinScore != nil {
		s.MinScore = float32(*mo.MinScore)
	}
	s.Mode, s.Language, s.FailOpen, s.Collections = mo.Mode, mo.Language, mo.FailOpen, mo.Collections
	dir = caddy.NewReplacer().ReplaceAll(dir, "")
	if dir == "" {
		return s, "", fmt.Errorf("%s: no persist_dir: set persist_dir or %s", mo.name, EnvPersistDir)
	}
	if err := s.Validate(); err != nil {
		return s, "", err
	}
	return s, dir, nil
}

// Cleanup implements caddy.CleanerUpper: it releases the collections.
func (mo *Module) Cleanup() error {
	if mo.stores == nil {
		return nil
	}
	return mo.stores.Close()
}

// Apply implements plugins.Util; retrieval happens in Augment.
func (mo *Module) Apply(context.Context, *plugins.Request) error { return nil }

// UseEmbedder implements plugins.EmbedderUser.
func (mo *Module) UseEmbedder(e plugins.Embedder) { mo.r.UseEmbedder(e) }

// Augment implements plugins.Augmenter.
func (mo *Module) Augment(ctx context.Context, q *plugins.Query) (*plugins.Augmentation, error) {
	return mo.r.Augment(ctx, q)
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	name := mo.name
	if name == "" {
		name = Name
	}
	return svcmod.ParseBlock(d, func(opt string, args []string) error {
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.ArgErr()
			}
			*dst = args[0]
			return nil
		}
		switch opt {
		case "collection":
			return one(&mo.Collection)
		case "persist_dir":
			return one(&mo.PersistDir)
		case "embedder":
			return one(&mo.Embedder)
		case "mode":
			return one(&mo.Mode)
		case "language":
			return one(&mo.Language)
		case "top_k":
			var v string
			if err := one(&v); err != nil {
				return err
			}
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				return d.Errf("top_k: %q is not a whole number ≥ 1", v)
			}
			mo.TopK = n
		case "min_score":
			var v string
			if err := one(&v); err != nil {
				return err
			}
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return d.Errf("min_score: %q is not a number", v)
			}
			mo.MinScore = &f
		case "fail_open":
			if len(args) != 0 {
				return d.ArgErr()
			}
			mo.FailOpen = true
		case "collections":
			if len(args) == 0 {
				return d.ArgErr()
			}
			mo.Collections = append(mo.Collections, args...)
		default:
			return svcmod.UnknownOption(d, name, opt)
		}
		return nil
	})
}

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Util          = (*Module)(nil)
	_ plugins.EmbedderUser  = (*Module)(nil)
	_ plugins.Augmenter     = (*Module)(nil)
	_ plugins.Augmenter     = (*Langchain)(nil)
)
