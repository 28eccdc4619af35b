package rag

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

func searchCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "search --collection NAME --persist-dir DIR [flags] QUERY...",
		Short: "Shows the chunks of a collection a query retrieves",
		Long: `Embeds the query with the collection's own embedding model (in process from
the models-config, or through a running router with --llm-router-url) and
prints the best chunks: similarity, document#chunk, and the text.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(c *cobra.Command, args []string) error {
			c.SilenceUsage = true
			f := c.Flags()
			var cfg config
			cfg.coll.Name, _ = f.GetString("collection")
			cfg.coll.PersistDir, _ = f.GetString("persist-dir")
			cfg.modelsConfig, _ = f.GetString("models-config")
			cfg.routerURL, _ = f.GetString("llm-router-url")
			cfg.routerToken, _ = f.GetString("llm-router-token")
			if cfg.routerToken == "" {
				cfg.routerToken = os.Getenv("LLM_ROUTER_TOKEN")
			}
			cfg.routerTimeout, _ = f.GetDuration("llm-router-timeout")
			if cfg.coll.Name == "" || cfg.coll.PersistDir == "" {
				return errors.New("missing --collection (or $" + envCollection + ") or --persist-dir (or $" + envPersistDir + ")")
			}
			if cfg.routerURL == "" {
				cfg.modelsConfig = caddymodule.ResolveModelsConfig(cfg.modelsConfig)
			}
			k, _ := f.GetInt("top-k")
			minScore, _ := f.GetFloat32("min-score")
			full, _ := f.GetBool("full")
			return search(c.Context(), cfg, openEmbedder, strings.Join(args, " "), k, minScore, full, c.OutOrStdout())
		},
	}
	f := c.Flags()
	f.String("collection", os.Getenv(envCollection), "collection name")
	f.String("persist-dir", os.Getenv(envPersistDir), "directory that holds the collections")
	f.String("models-config", "", "models-config file (default: as 'llm-router run' finds it)")
	f.Int("top-k", 5, "chunks to show")
	f.Float32("min-score", -1, "least similarity to show")
	f.Bool("full", false, "print whole chunks (default: their first 200 characters)")
	f.String("llm-router-url", "", "embed through a running router at this URL instead of in process")
	f.String("llm-router-token", "", "API key for --llm-router-url (default $LLM_ROUTER_TOKEN)")
	f.Duration("llm-router-timeout", time.Minute, "time the embedding request may take through --llm-router-url")
	return c
}

// search prints the chunks of cfg's collection that query retrieves.
func search(ctx context.Context, cfg config, open opener, query string, k int, minScore float32, full bool, w io.Writer) error {
	coll, err := collection.Open(cfg.coll.PersistDir, cfg.coll.Name)
	if err != nil {
		return err
	}
	defer coll.Close()
	e, closer, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer closer.Close()
	vecs, err := e.Embed(ctx, coll.Model(), []string{query})
	if err != nil {
		return err
	}
	if len(vecs) != 1 {
		return fmt.Errorf("embedding model %q answered %d vectors for 1 text", coll.Model(), len(vecs))
	}
	hits, err := coll.Search(vecs[0], k, minScore)
	if err != nil {
		return err
	}
	if len(hits) == 0 {
		fmt.Fprintln(w, "no chunk found")
		return nil
	}
	for _, h := range hits {
		text := h.Text
		if r := []rune(text); !full && len(r) > 200 {
			text = string(r[:200]) + "…"
		}
		fmt.Fprintf(w, "%.4f  %s#%d\n%s\n\n", h.Score, h.Doc, h.Chunk, indent(text))
	}
	return nil
}

func indent(s string) string { return "    " + strings.ReplaceAll(s, "\n", "\n    ") }
