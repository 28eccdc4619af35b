package batch

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"

	"github.com/llmrouter/llm-router/client"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "util",
		Usage: "translate|genai-classifier|genai-data-augmentation [flags]",
		Short: "Runs datasets through the router (translate, classify, augment)",
		Long: `
Sends the records of JSON, JSONL or CSV datasets through a running router.
Output is JSONL written as results arrive, one line per record, each with
the record's "id" (its --id-field, else <file>:<line>). A second run with
the same output resumes: records already in the output are skipped. Records
that fail are written to a side file (<output>.failed.jsonl) and the run
goes on; the summary at the end counts done, skipped and failed records.

  llm-router util translate --llm-router-url http://localhost:8080 --model bielik \
      --dataset-path data.jsonl --accept-field text --num-workers 8 -o data.pl.jsonl
  llm-router util genai-classifier --model-name bielik --dataset-dir data/ \
      --prompts-dir prompts/ --output-dir out/
  llm-router util genai-data-augmentation --model-name bielik --dataset-path data.jsonl \
      --prompt-file augment.prompt --labels pos,neg --output-dir out/
`,
		CobraFunc: utilCommand,
	})
}

func utilCommand(cmd *cobra.Command) {
	cmd.AddCommand(translateCommand(), classifierCommand(), augmentCommand())
}

// routerFlags adds the flags every tool shares.
func routerFlags(c *cobra.Command) {
	f := c.Flags()
	f.String("llm-router-url", "http://localhost:8080", "router base URL")
	f.String("llm-router-host", "", "alias of --llm-router-url")
	f.String("llm-router-token", "", "API key (default $LLM_ROUTER_TOKEN)")
	f.Float64("llm-router-timeout", 60, "seconds one request may take")
	f.Int("num-workers", 2, "requests in flight at once")
	f.String("id-field", "id", "record field that identifies a record (else <file>:<line>)")
	f.Duration("progress-interval", 0, "progress update interval (default 200ms on a terminal, 5s otherwise)")
	f.Bool("verbose", false, "print every failure as it happens")
}

// newClient builds a client from the shared flags and checks that the
// router answers.
func newClient(c *cobra.Command) (*client.Client, error) {
	f := c.Flags()
	url, _ := f.GetString("llm-router-url")
	if h, _ := f.GetString("llm-router-host"); h != "" {
		url = h
	}
	if !strings.Contains(url, "://") {
		url = "http://" + url
	}
	token, _ := f.GetString("llm-router-token")
	if token == "" {
		token = os.Getenv("LLM_ROUTER_TOKEN")
	}
	secs, _ := f.GetFloat64("llm-router-timeout")
	cl, err := client.New(url, client.WithToken(token), client.WithTimeout(time.Duration(secs*float64(time.Second))))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(c.Context(), 15*time.Second)
	defer cancel()
	if _, err := cl.Ping(ctx); err != nil {
		return nil, fmt.Errorf("cannot reach the router at %s: %w", url, err)
	}
	return cl, nil
}

// runOptions builds the run options from the shared flags.
func runOptions(c *cobra.Command, label string) Options {
	f := c.Flags()
	o := Options{Label: label, Progress: c.ErrOrStderr()}
	o.Workers, _ = f.GetInt("num-workers")
	o.Every, _ = f.GetDuration("progress-interval")
	if w, ok := o.Progress.(*os.File); ok {
		o.TTY = IsTerminal(w)
	}
	return o
}

// signalContext ends on SIGINT or SIGTERM, so a run stops cleanly (what is
// written stays; the next run resumes).
func signalContext(c *cobra.Command) (context.Context, context.CancelFunc) {
	ctx := c.Context()
	if ctx == nil {
		ctx = context.Background()
	}
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// sources turns dataset flags into sources.
func sources(paths []string, typ, idField string) ([]Source, error) {
	var out []Source
	for _, p := range paths {
		f, err := FormatOf(p, typ)
		if err != nil {
			return nil, err
		}
		if _, err := os.Stat(p); err != nil {
			return nil, fmt.Errorf("dataset: %w", err)
		}
		out = append(out, Source{Path: p, Format: f, IDField: idField})
	}
	return out, nil
}

func translateCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "translate --model M --dataset-path FILE [--accept-field F]... [-o OUT]",
		Short: "Translates the chosen fields of every record (POST /api/translate)",
		Args:  cobra.NoArgs,
		RunE: func(c *cobra.Command, _ []string) error {
			c.SilenceUsage = true
			f := c.Flags()
			model, _ := f.GetString("model")
			paths, _ := f.GetStringArray("dataset-path")
			typ, _ := f.GetString("dataset-type")
			fields, _ := f.GetStringArray("accept-field")
			output, _ := f.GetString("output")
			idField, _ := f.GetString("id-field")
			lang, _ := f.GetString("language")
			if len(paths) == 0 {
				return fmt.Errorf("--dataset-path is required")
			}
			if len(fields) == 0 {
				fields = []string{"text"}
			}
			srcs, err := sources(paths, typ, idField)
			if err != nil {
				return err
			}
			cl, err := newClient(c)
			if err != nil {
				return err
			}
			ctx, cancel := signalContext(c)
			defer cancel()
			task := &Translator{Client: cl, Model: model, Fields: fields, Options: client.Options{Language: lang}}
			o := runOptions(c, "translate")
			o.BatchSize, _ = f.GetInt("batch-size")
			// One output for all datasets with -o, else one per dataset.
			groups := [][]Source{srcs}
			if output == "" {
				groups = nil
				for _, s := range srcs {
					groups = append(groups, []Source{s})
				}
			}
			var failedAll error
			for _, g := range groups {
				o.Output = output
				if o.Output == "" {
					o.Output = stem(g[0].Path) + ".translated.jsonl"
				}
				o.Failed = ""
				if err := runSources(ctx, c.ErrOrStderr(), g, task, o); err != nil {
					if _, partial := err.(partialError); !partial {
						return err
					}
					failedAll = err
				}
			}
			return failedAll
		},
	}
	routerFlags(c)
	f := c.Flags()
	f.String("model", "", "model name (required)")
	f.StringArray("dataset-path", nil, "dataset file (repeatable)")
	f.String("dataset-type", "", "json, jsonl or csv (default: from the extension)")
	f.StringArray("accept-field", nil, "field to translate (repeatable; default text)")
	f.Int("batch-size", 8, "records per request")
	f.StringP("output", "o", "", "output JSONL (default <dataset>.translated.jsonl)")
	f.String("language", "", "prompt language sent to the router")
	_ = c.MarkFlagRequired("model")
	return c
}

// partialError is a run that finished with failed records.
type partialError struct{ error }

// runSources runs task over the records of srcs, one after the other, and
// prints the summary.
func runSources(ctx context.Context, w io.Writer, srcs []Source, task Task, o Options) error {
	for _, s := range srcs {
		o.Total += s.Count()
	}
	sum, err := Run(ctx, chain(srcs), task, o)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "%s → %s\n", o.Label, o.Output)
	sum.Print(w)
	if err := sum.Err(); err != nil {
		return partialError{err}
	}
	return nil
}

func chain(srcs []Source) func(func(Record, error) bool) {
	return func(yield func(Record, error) bool) {
		for _, s := range srcs {
			for r, err := range s.Records() {
				if !yield(r, err) {
					return
				}
			}
		}
	}
}

// stem is path without its extension.
func stem(path string) string {
	return strings.TrimSuffix(path, filepath.Ext(path))
}

func classifierCommand() *cobra.Command { return &cobra.Command{Use: "genai-classifier", Hidden: true} }
func augmentCommand() *cobra.Command {
	return &cobra.Command{Use: "genai-data-augmentation", Hidden: true}
}
