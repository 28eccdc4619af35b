package batch

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"sort"
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
	o.Verbose, _ = f.GetBool("verbose")
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
	if err := interrupted(w, sum, err, o.Output); err != nil {
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

// filter keeps the records whose id is in keep (unreadable lines pass, to
// be reported).
func filter(src func(func(Record, error) bool), keep map[string]bool) func(func(Record, error) bool) {
	return func(yield func(Record, error) bool) {
		for r, err := range src {
			if err == nil && !keep[r.ID] {
				continue
			}
			if !yield(r, err) {
				return
			}
		}
	}
}

func classifierCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "genai-classifier --dataset-dir DIR --prompts-dir DIR --output-dir DIR [flags]",
		Short: "Classifies dataset texts with one prompt per feature (extended_conversation_with_model)",
		Long: `
For every sampled record and every *.prompt file of --prompts-dir (one
feature each), asks the model (the prompt is the system prompt, the
record's text the user message) and expects a JSON object (up to 5 tries).
Writes, per dataset, <output-dir>/<dataset>.jsonl lines
{"id","text","field","features":[{"name","response"}]}, then
<dataset>_clean_labels.jsonl {"id","text","labels","original_field"} (labels:
each answer's "class", or the feature name when "exists" is true) and
<dataset>.xlsx. --n-sample records are drawn per field (the value of
--field-column-name, else the dataset) with --seed, so a second run resumes
on the same sample.
`,
		Args: cobra.NoArgs,
		RunE: runClassifier,
	}
	routerFlags(c)
	f := c.Flags()
	f.String("dataset-dir", "", "directory whose *.jsonl files are classified")
	f.StringArray("dataset-path", nil, "extra dataset file (repeatable; json, jsonl or csv)")
	f.String("prompts-dir", "", "directory of *.prompt files, one feature each (required)")
	f.String("output-dir", "", "output directory (required)")
	f.String("model-name", "gpt-oss:120b", "model name")
	f.Float64("temperature", 0, "sampling temperature")
	f.Int("batch-save-size", 5, "records per batch")
	f.Bool("dry-run", false, "print what would be sent, send nothing")
	f.Int("n-sample", 50, "records drawn per field (≤ 0: all)")
	f.String("text-column-name", "Tekst", "column holding the text")
	f.String("field-column-name", "", "column whose value is the record's field (default: the dataset name)")
	f.Uint64("seed", 1, "seed of the sampling")
	f.Bool("no-xlsx", false, "do not export <dataset>.xlsx")
	_ = c.MarkFlagRequired("prompts-dir")
	_ = c.MarkFlagRequired("output-dir")
	return c
}

// runClassifier runs genai-classifier: every dataset in turn.
func runClassifier(c *cobra.Command, _ []string) error {
	c.SilenceUsage = true
	f := c.Flags()
	dir, _ := f.GetString("dataset-dir")
	extra, _ := f.GetStringArray("dataset-path")
	promptsDir, _ := f.GetString("prompts-dir")
	outDir, _ := f.GetString("output-dir")
	model, _ := f.GetString("model-name")
	temp, _ := f.GetFloat64("temperature")
	batchSize, _ := f.GetInt("batch-save-size")
	dry, _ := f.GetBool("dry-run")
	nSample, _ := f.GetInt("n-sample")
	textCol, _ := f.GetString("text-column-name")
	fieldCol, _ := f.GetString("field-column-name")
	seed, _ := f.GetUint64("seed")
	idField, _ := f.GetString("id-field")
	noXLSX, _ := f.GetBool("no-xlsx")
	paths, err := datasetPaths(dir, extra)
	if err != nil {
		return err
	}
	srcs, err := sources(paths, "", idField)
	if err != nil {
		return err
	}
	features, err := LoadFeatures(promptsDir)
	if err != nil {
		return err
	}
	w := c.ErrOrStderr()
	if dry {
		for _, s := range srcs {
			probe := &Classifier{FieldColumn: fieldCol}
			_, n, err := sampled(s, nSample, seed, probe.field)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.OutOrStdout(), "%s: %d records to classify × %d features = %d requests\n", s.Path, n, len(features), n*len(features))
		}
		return nil
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext(c)
	defer cancel()
	var partial error
	for _, s := range srcs {
		name := filepath.Base(stem(s.Path))
		task := &Classifier{Client: cl, Model: model, Temperature: temp, Features: features,
			TextField: textCol, FieldColumn: fieldCol, Dataset: name}
		records, total, err := sampled(s, nSample, seed, task.field)
		if err != nil {
			return err
		}
		o := runOptions(c, "classify "+name)
		o.BatchSize, o.Total = batchSize, total
		o.Output = filepath.Join(outDir, name+".jsonl")
		sum, err := Run(ctx, records, task, o)
		if err := interrupted(w, sum, err, o.Output); err != nil {
			return err
		}
		if err := writeLabels(o.Output, filepath.Join(outDir, name), features, noXLSX); err != nil {
			return err
		}
		fmt.Fprintf(w, "%s → %s\n", o.Label, o.Output)
		sum.Print(w)
		if err := sum.Err(); err != nil {
			partial = err
		}
	}
	return partial
}

// datasetPaths is the dataset files: extra, then dir's *.jsonl in name
// order.
func datasetPaths(dir string, extra []string) ([]string, error) {
	paths := append([]string(nil), extra...)
	if dir != "" {
		found, err := filepath.Glob(filepath.Join(dir, "*.jsonl"))
		if err != nil {
			return nil, err
		}
		sort.Strings(found)
		paths = append(paths, found...)
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("no dataset: give --dataset-dir with *.jsonl files or --dataset-path")
	}
	return paths, nil
}

// sampled is the records of s to classify and their number: n drawn per
// field with seed, or all of them when n ≤ 0.
func sampled(s Source, n int, seed uint64, field func(Record) string) (func(func(Record, error) bool), int, error) {
	records := chain([]Source{s})
	if n <= 0 {
		return records, s.Count(), nil
	}
	keep, err := Sample(s, n, seed, field)
	if err != nil {
		return nil, 0, err
	}
	return filter(records, keep), len(keep), nil
}

// writeLabels writes, from a classifier's output, base+"_clean_labels.jsonl"
// and, unless noXLSX, base+".xlsx".
func writeLabels(output, base string, features []Feature, noXLSX bool) error {
	if err := WriteCleanLabels(output, base+"_clean_labels.jsonl"); err != nil {
		return err
	}
	if noXLSX {
		return nil
	}
	return WriteXLSX(output, base+".xlsx", features)
}

func augmentCommand() *cobra.Command {
	c := &cobra.Command{
		Use:   "genai-data-augmentation --dataset-path FILE --prompt-file FILE --labels a,b [flags]",
		Short: "Writes new examples of each label from dataset examples (extended_conversation_with_model)",
		Long: `
For each label of --labels, asks the model --n-samples times for a new text
with that label, showing it --n-examples texts of the label drawn from a
pool of --samples-as-examples dataset records (seeded, so a second run
shows the same examples and resumes on the missing samples). The prompt
file is the system prompt; {label} / ##LABEL## and {examples} / ##EXAMPLES##
are filled in. Output lines: {"id": "<label>#<n>", "<text column>": …,
"<label column>": …, "examples": [ids of the examples shown]}.
`,
		Args: cobra.NoArgs,
		RunE: runAugment,
	}
	routerFlags(c)
	f := c.Flags()
	f.String("dataset-path", "", "dataset with labelled examples (required)")
	f.String("dataset-type", "", "json, jsonl or csv (default: from the extension)")
	f.String("prompt-file", "", "system prompt file (required)")
	f.String("labels", "", "labels to write samples for, comma-separated (required)")
	f.Int("n-samples", 5, "new samples per label")
	f.Int("n-examples", 3, "examples shown per request")
	f.Int("samples-as-examples", 5, "dataset records per label kept as the example pool")
	f.String("model-name", "gpt-oss:120b", "model name")
	f.Float64("temperature", 0.7, "sampling temperature")
	f.Int("batch-save-size", 5, "samples per batch")
	f.Bool("dry-run", false, "print what would be sent, send nothing")
	f.StringP("output", "o", "", "output JSONL (default <output-dir>/<dataset>.augmented.jsonl)")
	f.String("output-dir", "", "output directory (default: the dataset's)")
	f.String("text-column-name", "Tekst", "column holding the text")
	f.String("label-column-name", "label", "column holding the label")
	f.Uint64("seed", 1, "seed of the example draws")
	_ = c.MarkFlagRequired("dataset-path")
	_ = c.MarkFlagRequired("prompt-file")
	_ = c.MarkFlagRequired("labels")
	return c
}

// runAugment runs genai-data-augmentation.
func runAugment(c *cobra.Command, _ []string) error {
	c.SilenceUsage = true
	f := c.Flags()
	path, _ := f.GetString("dataset-path")
	typ, _ := f.GetString("dataset-type")
	promptFile, _ := f.GetString("prompt-file")
	labelsFlag, _ := f.GetString("labels")
	nSamples, _ := f.GetInt("n-samples")
	nExamples, _ := f.GetInt("n-examples")
	poolSize, _ := f.GetInt("samples-as-examples")
	model, _ := f.GetString("model-name")
	temp, _ := f.GetFloat64("temperature")
	batchSize, _ := f.GetInt("batch-save-size")
	dry, _ := f.GetBool("dry-run")
	output, _ := f.GetString("output")
	outDir, _ := f.GetString("output-dir")
	textCol, _ := f.GetString("text-column-name")
	labelCol, _ := f.GetString("label-column-name")
	seed, _ := f.GetUint64("seed")
	idField, _ := f.GetString("id-field")
	labels := splitLabels(labelsFlag)
	if len(labels) == 0 {
		return fmt.Errorf("--labels is required (comma-separated)")
	}
	srcs, err := sources([]string{path}, typ, idField)
	if err != nil {
		return err
	}
	prompt, err := readSmall(promptFile, 1<<20)
	if err != nil {
		return fmt.Errorf("--prompt-file: %w", err)
	}
	if err := checkColumns(srcs[0], textCol, labelCol); err != nil {
		return err
	}
	pools, err := Pools(srcs[0], textCol, labelCol, labels, max(poolSize, nExamples), seed)
	if err != nil {
		return err
	}
	if dry {
		for _, l := range labels {
			fmt.Fprintf(c.OutOrStdout(), "label %s: %d examples in the pool, %d samples to write\n", l, len(pools[l]), nSamples)
		}
		return nil
	}
	if output == "" {
		if outDir == "" {
			outDir = filepath.Dir(path)
		}
		output = filepath.Join(outDir, filepath.Base(stem(path))+".augmented.jsonl")
	}
	if err := os.MkdirAll(filepath.Dir(output), 0o755); err != nil {
		return err
	}
	cl, err := newClient(c)
	if err != nil {
		return err
	}
	ctx, cancel := signalContext(c)
	defer cancel()
	task := &Augmenter{Client: cl, Model: model, Temperature: temp, Prompt: strings.TrimSpace(string(prompt)),
		Pools: pools, NExamples: nExamples, Seed: seed, TextCol: textCol, LabelCol: labelCol}
	o := runOptions(c, "augment")
	o.BatchSize, o.Total, o.Output = batchSize, len(labels)*nSamples, output
	sum, err := Run(ctx, Units(labels, nSamples), task, o)
	if err := interrupted(c.ErrOrStderr(), sum, err, o.Output); err != nil {
		return err
	}
	fmt.Fprintf(c.ErrOrStderr(), "%s → %s\n", o.Label, o.Output)
	sum.Print(c.ErrOrStderr())
	return sum.Err()
}

// splitLabels is the comma-separated labels of --labels, trimmed, without
// empty ones.
func splitLabels(s string) []string {
	var labels []string
	for _, l := range strings.Split(s, ",") {
		if l = strings.TrimSpace(l); l != "" {
			labels = append(labels, l)
		}
	}
	return labels
}

// checkColumns checks that the first readable record of src has the text
// and label columns.
func checkColumns(src Source, textCol, labelCol string) error {
	for r, err := range src.Records() {
		var le *LineError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			return err
		}
		for _, col := range []string{textCol, labelCol} {
			if _, ok := r.Fields[col]; !ok {
				return fmt.Errorf("%s:%d: column %q not in the record (its fields: %s; use --text-column-name / --label-column-name)",
					r.File, r.Line, col, strings.Join(r.Names(), ", "))
			}
		}
		break
	}
	return nil
}

// interrupted turns a run's error into the command's: after SIGINT or
// SIGTERM it prints the summary and says how to resume.
func interrupted(w io.Writer, sum Summary, err error, output string) error {
	if errors.Is(err, context.Canceled) {
		sum.Print(w)
		return fmt.Errorf("interrupted; what is in %s stays, run the same command again to resume", output)
	}
	return err
}
