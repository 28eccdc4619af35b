package batch

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/llmrouter/llm-router/client"
)

// Example is a dataset text used as an example of its label.
type Example struct {
	ID, Text string
}

// Pools reads, per label, at most size example texts of the dataset
// (reservoir sampling with seed), streaming the source.
func Pools(src Source, textCol, labelCol string, labels []string, size int, seed uint64) (map[string][]Example, error) {
	want := map[string]bool{}
	for _, l := range labels {
		want[l] = true
	}
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	pools := map[string][]Example{}
	seen := map[string]int{}
	for r, err := range src.Records() {
		var le *LineError
		if errors.As(err, &le) {
			continue
		}
		if err != nil {
			return nil, err
		}
		l, ok := r.String(labelCol)
		if !ok || !want[l] {
			continue
		}
		text, ok := r.String(textCol)
		if !ok || strings.TrimSpace(text) == "" {
			continue
		}
		seen[l]++
		if len(pools[l]) < size {
			pools[l] = append(pools[l], Example{r.ID, text})
		} else if k := rng.IntN(seen[l]); k < size {
			pools[l][k] = Example{r.ID, text}
		}
	}
	return pools, nil
}

// Augmenter writes new examples of each label: the unit of work is one
// (label, n) pair with id "<label>#<n>", so that a second run resumes on
// the pairs not yet written. An output line is
// {"id", "<text column>": new text, "<label column>": label, "examples": [ids]}.
type Augmenter struct {
	Client      *client.Client
	Model       string
	Temperature float64
	// Prompt is the system prompt; {label} / ##LABEL## and {examples} /
	// ##EXAMPLES## are filled in (examples are appended when it has no
	// examples placeholder).
	Prompt    string
	Pools     map[string][]Example
	NExamples int
	Seed      uint64
	TextCol   string
	LabelCol  string
}

// Units yields the work: n records per label.
func Units(labels []string, n int) func(func(Record, error) bool) {
	return func(yield func(Record, error) bool) {
		line := 0
		for _, l := range labels {
			for i := 1; i <= n; i++ {
				line++
				r := Record{ID: l + "#" + strconv.Itoa(i), File: "labels", Line: line,
					Fields: map[string]any{"label": l, "n": i}}
				if !yield(r, nil) {
					return
				}
			}
		}
	}
}

// Check requires examples for the record's label.
func (a *Augmenter) Check(r Record) error {
	l, _ := r.String("label")
	if len(a.Pools[l]) == 0 {
		return fmt.Errorf("label %q: no example in the dataset (check --labels and --label-column-name)", l)
	}
	return nil
}

// Process generates one text per unit of the batch.
func (a *Augmenter) Process(ctx context.Context, batch []Record) []Result {
	out := make([]Result, len(batch))
	for i, r := range batch {
		label, _ := r.String("label")
		ex := a.examples(r.ID, a.Pools[label])
		var list strings.Builder
		ids := make([]string, len(ex))
		for k, e := range ex {
			fmt.Fprintf(&list, "%d. %s\n", k+1, e.Text)
			ids[k] = e.ID
		}
		examples := strings.TrimSpace(list.String())
		sys := strings.NewReplacer("{label}", label, "##LABEL##", label, "{examples}", examples, "##EXAMPLES##", examples).Replace(a.Prompt)
		msg := fmt.Sprintf("Label: %s\nWrite one new text with this label, in the style of the examples. Answer with the text only.", label)
		if !strings.Contains(a.Prompt, "{examples}") && !strings.Contains(a.Prompt, "##EXAMPLES##") {
			msg = fmt.Sprintf("Label: %s\nExamples:\n%s\n\nWrite one new text with this label, in the style of the examples. Answer with the text only.", label, examples)
		}
		res, err := a.Client.ExtendedConversation(ctx, client.ExtendedConversationRequest{
			Model: a.Model, SystemPrompt: sys, Message: msg,
			Options: client.Options{Temperature: client.Float(a.Temperature)},
		})
		text := strings.TrimSpace(res.Response)
		if err == nil && text == "" {
			err = errors.New("the model answered an empty text")
		}
		out[i] = Result{Rec: r, Err: err, Out: map[string]any{"id": r.ID, a.TextCol: text, a.LabelCol: label, "examples": ids}}
	}
	return out
}

// examples draws NExamples examples for a unit, the same ones on every run.
func (a *Augmenter) examples(id string, pool []Example) []Example {
	h := fnv.New64a()
	h.Write([]byte(id))
	rng := rand.New(rand.NewPCG(a.Seed, h.Sum64()))
	idx := rng.Perm(len(pool))
	n := min(max(a.NExamples, 1), len(pool))
	out := make([]Example, n)
	for i := range n {
		out[i] = pool[idx[i]]
	}
	return out
}
