// Package rag is the `llm-router rag` command: `rag index` builds and
// updates the collections that retrieval-augmented generation searches.
package rag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

// The original's variables, read as flag defaults.
const (
	envCollection = "LLM_ROUTER_LANGCHAIN_RAG_COLLECTION"
	envEmbedder   = "LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER"
	envPersistDir = "LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR"
	envChunkSize  = "LLM_ROUTER_LANGCHAIN_RAG_CHUNK_SIZE"
	envOverlap    = "LLM_ROUTER_LANGCHAIN_RAG_CHUNK_OVERLAP"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "rag",
		Usage: "index|search --collection NAME --persist-dir DIR [flags] ...",
		Short: "Builds and updates RAG collections: document chunks embedded by the router's models",
		Long: `
Indexes documents for retrieval-augmented generation (the langchain_rag /
rag utils plugin): Markdown, plain text and HTML files are split into
overlapping chunks, embedded with an embedding model of the models-config
(one with is_embedding), and stored under <persist-dir>/<collection>/.

  llm-router rag index --collection docs --model nomic-embed-text \
      --persist-dir /var/lib/llm-router/rag --ext .md .html ./handbook

Run it again after documents change: unchanged files are skipped (by content
hash), changed ones embedded again, removed ones dropped from the collection.

  llm-router rag search --collection docs --persist-dir /var/lib/llm-router/rag \
      "how do I rotate keys"

shows the chunks a query retrieves, with their similarity.
`,
		CobraFunc: func(cmd *cobra.Command) {
			cmd.AddCommand(indexCommand(), searchCommand())
		},
	})
}

// config is what `rag index` was asked to do.
type config struct {
	coll          collection.Options
	paths         []string
	modelsConfig  string
	routerURL     string
	routerToken   string
	routerTimeout time.Duration
}

// opener makes the embedder of a run.
type opener func(ctx context.Context, cfg config) (plugins.Embedder, io.Closer, error)

func envInt(name string, def int) (int, error) {
	v := strings.TrimSpace(os.Getenv(name))
	if v == "" {
		return def, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		return 0, fmt.Errorf("%s=%q: not a whole number", name, v)
	}
	return n, nil
}

func indexCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "index --collection NAME --model EMBEDDING_MODEL --persist-dir DIR [flags] PATH...",
		Short: "Indexes documents into a RAG collection (resumable)",
		Long: `Reads the documents under each PATH (directories recursively, following
links; hidden files skipped): Markdown and text as they are, HTML with tags,
scripts and styles stripped. Binary files and PDFs are skipped with a
warning (convert PDFs to text first, e.g. with pdftotext). The text is split
into chunks of --chunk-size tokens overlapping by --chunk-overlap, cut on
paragraph, else sentence, else word bounds. Tokens are counted without the
model's tokenizer (a word is one token, a long word one per 8 letters,
punctuation one per 4 characters, a CJK character one), so a chunk holds
about 1.3 times the English text of the original's 400 subword tokens.

Chunks are embedded in batches with --model, a model of the models-config
(found as 'llm-router run' finds it: $LLM_ROUTER_MODELS_CONFIG, else
/etc/llm-router/models-config.json, else the example built in), through the
router's provider code in process (balancing, failover and retries as the
server does them), or through a running router with --llm-router-url. The collection is written to
<persist-dir>/<collection>/ when the run succeeds; an interrupted or failed
run leaves the previous collection as it was, and a journal of the chunks it
embedded (journal.bin) from which the next run takes every document it
finished, instead of embedding it again.

Flags default to the original router's variables:
  --collection     $` + envCollection + `
  --model          $` + envEmbedder + `
  --persist-dir    $` + envPersistDir + `
  --chunk-size     $` + envChunkSize + ` (else 400)
  --chunk-overlap  $` + envOverlap + ` (else 100)

--ext takes extensions as the original did (--ext .md .html) or as a list
(--ext .md,.html or --ext .md --ext .html); default .md .markdown .txt .html .htm.

Exit status: 0 when the collection is up to date, 1 on an error (no
documents found, an embedding failure, vectors of the wrong dimension).`,
		Args: cobra.ArbitraryArgs,
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			cfg, err := parseFlags(c, args)
			if err != nil {
				return err
			}
			ctx, cancel := signal.NotifyContext(c.Context(), os.Interrupt, syscall.SIGTERM)
			defer cancel()
			stderr := c.ErrOrStderr()
			tty := false
			if f, ok := stderr.(*os.File); ok {
				tty = isTerminal(f)
			}
			return run(ctx, cfg, openEmbedder, c.OutOrStdout(), stderr, tty)
		},
	}
	f := c.Flags()
	f.String("collection", os.Getenv(envCollection), "collection name (a directory under --persist-dir)")
	f.String("model", os.Getenv(envEmbedder), "embedding model (a models-config model with is_embedding)")
	f.String("persist-dir", os.Getenv(envPersistDir), "directory that holds the collections")
	f.String("models-config", "", "models-config file (default: as 'llm-router run' finds it)")
	f.StringSlice("ext", nil, "file extensions to index in directories (default .md .markdown .txt .html .htm)")
	f.Int("chunk-size", 0, "tokens per chunk (default $"+envChunkSize+", else 400)")
	f.Int("chunk-overlap", 0, "tokens a chunk repeats from the one before (default $"+envOverlap+", else 100)")
	f.String("kind", "float32", "vector storage: float32, or int8 (4× smaller, scores within about 0.001)")
	f.Int("batch", collection.DefaultBatch, "texts per embedding request")
	f.Int("workers", collection.DefaultWorkers, "embedding requests in flight at once")
	f.String("llm-router-url", "", "embed through a running router at this URL (its /v1/embeddings) instead of in process")
	f.String("llm-router-token", "", "API key for --llm-router-url (default $LLM_ROUTER_TOKEN)")
	f.Duration("llm-router-timeout", 2*time.Minute, "time one embedding request may take through --llm-router-url")
	return c
}

// extRE is an argument that is an extension (".md"), which the original's
// `--ext .md .html` leaves among the paths.
var extRE = regexp.MustCompile(`^\.[A-Za-z0-9]{1,16}$`)

func parseFlags(c *cobra.Command, args []string) (config, error) {
	f := c.Flags()
	var cfg config
	o := &cfg.coll
	o.Name, _ = f.GetString("collection")
	o.Model, _ = f.GetString("model")
	o.PersistDir, _ = f.GetString("persist-dir")
	o.Exts, _ = f.GetStringSlice("ext")
	o.Batch, _ = f.GetInt("batch")
	o.Workers, _ = f.GetInt("workers")
	cfg.modelsConfig, _ = f.GetString("models-config")
	cfg.routerURL, _ = f.GetString("llm-router-url")
	cfg.routerToken, _ = f.GetString("llm-router-token")
	if cfg.routerToken == "" {
		cfg.routerToken = os.Getenv("LLM_ROUTER_TOKEN")
	}
	cfg.routerTimeout, _ = f.GetDuration("llm-router-timeout")
	for _, a := range args {
		if len(o.Exts) > 0 && extRE.MatchString(a) {
			if _, err := os.Stat(a); err != nil {
				o.Exts = append(o.Exts, a) // `--ext .md .html`: .html is an extension
				continue
			}
		}
		cfg.paths = append(cfg.paths, a)
	}
	var missing []string
	if o.Name == "" {
		missing = append(missing, "--collection (or $"+envCollection+")")
	}
	if o.Model == "" {
		missing = append(missing, "--model (or $"+envEmbedder+")")
	}
	if o.PersistDir == "" {
		missing = append(missing, "--persist-dir (or $"+envPersistDir+")")
	}
	if len(cfg.paths) == 0 {
		missing = append(missing, "at least one PATH of documents")
	}
	if len(missing) > 0 {
		return cfg, errors.New("missing " + strings.Join(missing, ", "))
	}
	size, _ := f.GetInt("chunk-size")
	overlap, _ := f.GetInt("chunk-overlap")
	var err error
	if !f.Changed("chunk-size") {
		if size, err = envInt(envChunkSize, chunk.DefaultSize); err != nil {
			return cfg, err
		}
	}
	if !f.Changed("chunk-overlap") {
		if overlap, err = envInt(envOverlap, chunk.DefaultOverlap); err != nil {
			return cfg, err
		}
	}
	if size <= 0 || size > collection.MaxChunkSize {
		return cfg, fmt.Errorf("chunk size %d: want 1 to %d tokens", size, collection.MaxChunkSize)
	}
	o.Chunk = chunk.Options{Size: size, Overlap: overlap}
	if err := o.Chunk.Validate(); err != nil {
		return cfg, err
	}
	kind, _ := f.GetString("kind")
	if o.Kind, err = collection.ParseKind(kind); err != nil {
		return cfg, err
	}
	if o.Batch <= 0 || o.Batch > 2048 {
		return cfg, fmt.Errorf("batch %d: want 1 to 2048", o.Batch)
	}
	if o.Workers <= 0 || o.Workers > 64 {
		return cfg, fmt.Errorf("workers %d: want 1 to 64", o.Workers)
	}
	if err := collection.CheckName(o.Name); err != nil {
		return cfg, err
	}
	if cfg.routerURL == "" {
		cfg.modelsConfig = caddymodule.ResolveModelsConfig(cfg.modelsConfig)
	}
	return cfg, nil
}

// run indexes as cfg says, with the embedder open makes; progress goes to
// stderr (a bar when tty), the summary to stdout.
func run(ctx context.Context, cfg config, open opener, stdout, stderr io.Writer, tty bool) error {
	e, closer, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closer.Close()
	pr := newProgress(stderr, tty, time.Now())
	o := cfg.coll
	o.Warn = pr.warn
	sum, err := collection.Index(ctx, o, e, cfg.paths, pr.update)
	pr.finish()
	if err != nil {
		if errors.Is(err, collection.ErrNoDocuments) {
			return fmt.Errorf("%w; nothing was written", err)
		}
		return err
	}
	fmt.Fprintln(stdout, summaryLine(o, sum))
	return nil
}

func summaryLine(o collection.Options, s collection.Summary) string {
	var b strings.Builder
	fmt.Fprintf(&b, "collection %s: documents: %d added, %d updated, %d unchanged, %d removed, %d skipped; ",
		o.Name, s.Added, s.Updated, s.Unchanged, s.Removed, len(s.Skipped))
	fmt.Fprintf(&b, "chunks: %d embedded, ", s.Embedded-s.Resumed)
	if s.Resumed > 0 {
		fmt.Fprintf(&b, "%d taken from the journal of an unfinished run, ", s.Resumed)
	}
	fmt.Fprintf(&b, "%d in the collection (%d dimensions, %s, model %s); %.1f s",
		s.Chunks, s.Dim, o.Kind, o.Model, s.Elapsed.Seconds())
	if !s.Written {
		b.WriteString("; nothing changed")
	}
	return b.String()
}
