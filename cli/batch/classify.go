package batch

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/llmrouter/llm-router/client"
)

// Feature is one classification prompt: a *.prompt file of the prompts
// directory, named after the file.
type Feature struct {
	Name   string
	Prompt string
}

// LoadFeatures reads every *.prompt file of dir, sorted by name.
func LoadFeatures(dir string) ([]Feature, error) {
	paths, err := filepath.Glob(filepath.Join(dir, "*.prompt"))
	if err != nil {
		return nil, err
	}
	if len(paths) == 0 {
		return nil, fmt.Errorf("--prompts-dir %s: no *.prompt files", dir)
	}
	sort.Strings(paths)
	var out []Feature
	for _, p := range paths {
		b, err := readSmall(p, 1<<20)
		if err != nil {
			return nil, fmt.Errorf("prompt: %w", err)
		}
		text := strings.TrimSpace(string(b))
		if text == "" {
			return nil, fmt.Errorf("prompt %s is empty", p)
		}
		out = append(out, Feature{Name: strings.TrimSuffix(filepath.Base(p), ".prompt"), Prompt: text})
	}
	return out, nil
}

// readSmall reads a file of at most limit bytes.
func readSmall(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// Classifier asks the model, for every record and every feature, the
// feature's prompt (as system prompt) about the record's text, and expects
// a JSON object back. An output line is
// {"id", "text", "field", "features": [{"name", "response"}]}.
type Classifier struct {
	Client      *client.Client
	Model       string
	Temperature float64
	Features    []Feature
	// TextField is the text column (--text-column-name).
	TextField string
	// FieldColumn names the column whose value is the record's "field"
	// (its group); "" or a missing column: Dataset.
	FieldColumn string
	// Dataset names the dataset (the default field).
	Dataset string
	// Attempts bounds the tries per feature when the answer is not a JSON
	// object (default 5).
	Attempts int
}

// Check requires the text column.
func (c *Classifier) Check(r Record) error {
	if _, ok := r.Fields[c.TextField]; !ok {
		return fmt.Errorf("text column %q not in the record (its fields: %s; use --text-column-name)", c.TextField, strings.Join(r.Names(), ", "))
	}
	if _, ok := r.String(c.TextField); !ok {
		return fmt.Errorf("text column %q is not a string", c.TextField)
	}
	return nil
}

func (c *Classifier) field(r Record) string {
	if c.FieldColumn != "" {
		if v, ok := r.String(c.FieldColumn); ok {
			return v
		}
	}
	return c.Dataset
}

// FeatureResult is one feature's answer.
type FeatureResult struct {
	Name     string         `json:"name"`
	Response map[string]any `json:"response"`
}

// Process classifies the batch's records one after the other.
func (c *Classifier) Process(ctx context.Context, batch []Record) []Result {
	out := make([]Result, len(batch))
	for i, r := range batch {
		text, _ := r.String(c.TextField)
		line := struct {
			ID       string          `json:"id"`
			Text     string          `json:"text"`
			Field    string          `json:"field"`
			Features []FeatureResult `json:"features"`
		}{r.ID, text, c.field(r), []FeatureResult{}}
		var err error
		for _, f := range c.Features {
			var resp map[string]any
			if resp, err = c.ask(ctx, f, text); err != nil {
				err = fmt.Errorf("feature %s: %w", f.Name, err)
				break
			}
			line.Features = append(line.Features, FeatureResult{f.Name, resp})
		}
		out[i] = Result{Rec: r, Out: line, Err: err}
	}
	return out
}

// ask sends one feature prompt, retrying while the answer is not a JSON
// object.
func (c *Classifier) ask(ctx context.Context, f Feature, text string) (map[string]any, error) {
	attempts := c.Attempts
	if attempts <= 0 {
		attempts = 5
	}
	var last string
	for range attempts {
		res, err := c.Client.ExtendedConversation(ctx, client.ExtendedConversationRequest{
			Model: c.Model, SystemPrompt: f.Prompt, Message: text,
			Options: client.Options{Temperature: client.Float(c.Temperature)},
		})
		if err != nil {
			return nil, err
		}
		if obj, ok := JSONObject(res.Response); ok {
			return obj, nil
		}
		last = res.Response
	}
	if len(last) > 80 {
		last = last[:80] + "…"
	}
	return nil, fmt.Errorf("no JSON object in %d answers (last: %q)", attempts, last)
}

// JSONObject finds the JSON object in a model's answer: the whole answer,
// a ```json fenced block, or the span from the first '{' to the last '}'.
func JSONObject(s string) (map[string]any, bool) {
	try := func(s string) (map[string]any, bool) {
		var m map[string]any
		if json.Unmarshal([]byte(strings.TrimSpace(s)), &m) == nil && m != nil {
			return m, true
		}
		return nil, false
	}
	if m, ok := try(s); ok {
		return m, true
	}
	if i := strings.Index(s, "```"); i >= 0 {
		rest := s[i+3:]
		rest = strings.TrimPrefix(rest, "json")
		if j := strings.Index(rest, "```"); j >= 0 {
			if m, ok := try(rest[:j]); ok {
				return m, true
			}
		}
	}
	if i, j := strings.Index(s, "{"), strings.LastIndex(s, "}"); i >= 0 && j > i {
		return try(s[i : j+1])
	}
	return nil, false
}

// Labels returns a record's labels from its feature answers: the answer's
// "class" when it is a non-empty string, else the feature's name when the
// answer's "exists" is true.
func Labels(features []FeatureResult) []string {
	labels := []string{}
	for _, f := range features {
		switch cls := f.Response["class"].(type) {
		case string:
			if cls != "" {
				labels = append(labels, cls)
				continue
			}
		}
		if b, _ := f.Response["exists"].(bool); b {
			labels = append(labels, f.Name)
		}
	}
	return labels
}

// classLine is one line of the classifier's output.
type classLine struct {
	ID       string          `json:"id"`
	Text     string          `json:"text"`
	Field    string          `json:"field"`
	Features []FeatureResult `json:"features"`
}

// eachLine streams the lines of a classifier output file.
func eachLine(path string, fn func(classLine) error) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	br := bufio.NewReaderSize(f, 64<<10)
	for n := 1; ; n++ {
		b, tooLong, err := readLine(br, MaxLineBytes)
		if len(bytes.TrimSpace(b)) > 0 && !tooLong {
			var l classLine
			if jerr := json.Unmarshal(b, &l); jerr != nil {
				return fmt.Errorf("%s:%d: %w", path, n, jerr)
			}
			if ferr := fn(l); ferr != nil {
				return ferr
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// WriteCleanLabels rewrites cleanPath from the classifier output: one line
// {"id", "text", "labels", "original_field"} per record.
func WriteCleanLabels(outPath, cleanPath string) error {
	tmp := cleanPath + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	w := bufio.NewWriter(f)
	err = eachLine(outPath, func(l classLine) error {
		b, err := marshalLine(map[string]any{"id": l.ID, "text": l.Text, "labels": Labels(l.Features), "original_field": l.Field})
		if err != nil {
			return err
		}
		_, err = w.Write(b)
		return err
	})
	if err == nil {
		err = w.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("clean labels: %w", err)
	}
	return os.Rename(tmp, cleanPath)
}

// WriteXLSX exports the classifier output as a spreadsheet: id, text,
// field, labels, then one column per feature holding its JSON answer. Rows
// are streamed, so memory does not grow with the number of records.
func WriteXLSX(outPath, xlsxPath string, features []Feature) error {
	x := excelize.NewFile()
	defer x.Close()
	const sheet = "Sheet1"
	sw, err := x.NewStreamWriter(sheet)
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	header := []any{"id", "text", "field", "labels"}
	for _, f := range features {
		header = append(header, f.Name)
	}
	if err := sw.SetRow("A1", header); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	row := 2
	err = eachLine(outPath, func(l classLine) error {
		vals := []any{l.ID, l.Text, l.Field, strings.Join(Labels(l.Features), ", ")}
		byName := map[string]map[string]any{}
		for _, fr := range l.Features {
			byName[fr.Name] = fr.Response
		}
		for _, f := range features {
			b, _ := json.Marshal(byName[f.Name])
			vals = append(vals, string(b))
		}
		cell, err := excelize.CoordinatesToCellName(1, row)
		if err != nil {
			return err
		}
		row++
		return sw.SetRow(cell, vals)
	})
	if err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if err := sw.Flush(); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	if err := x.SaveAs(xlsxPath); err != nil {
		return fmt.Errorf("xlsx: %w", err)
	}
	return nil
}

// Sample picks at most n record ids per group (the value of groupField, or
// one group when it is ""), uniformly at random with a seeded generator, so
// that a resumed run picks the same records. It streams the source and
// keeps only the ids.
func Sample(src Source, n int, seed uint64, group func(Record) string) (map[string]bool, error) {
	type reservoir struct {
		seen int
		ids  []string
	}
	h := fnv.New64a()
	h.Write([]byte(src.Path))
	rng := rand.New(rand.NewPCG(seed, h.Sum64()))
	groups := map[string]*reservoir{}
	for r, err := range src.Records() {
		var le *LineError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			return nil, err
		}
		g := groups[group(r)]
		if g == nil {
			g = &reservoir{}
			groups[group(r)] = g
		}
		g.seen++
		if len(g.ids) < n {
			g.ids = append(g.ids, r.ID)
		} else if k := rng.IntN(g.seen); k < n {
			g.ids[k] = r.ID
		}
	}
	out := map[string]bool{}
	for _, g := range groups {
		for _, id := range g.ids {
			out[id] = true
		}
	}
	return out, nil
}
