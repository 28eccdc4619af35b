package anonymizer

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"unicode/utf8"

	"github.com/llmrouter/llm-router/plugins"
)

// Algorithms of the masking playground, as the original's form field
// "algorithm" spells them. AlgoPII also accepts the short form "pii".
const (
	AlgoFast    = "fast"
	AlgoPII     = "pii_masking"
	AlgoFastPII = "fast+pii"
)

// Errors of Mask. Each is shown to the user as a translated message.
var (
	ErrUnknownAlgorithm = errors.New("anonymizer: unknown masking algorithm")
	ErrNoPIIService     = errors.New("anonymizer: no PII masking service is configured")
	ErrEmptyText        = errors.New("anonymizer: empty text")
	ErrNotText          = errors.New("anonymizer: the input is not text")
)

// NormalizeAlgorithm returns the canonical algorithm name, or "" when a is
// not one of fast, pii_masking (or pii) and fast+pii.
func NormalizeAlgorithm(a string) string {
	switch strings.ToLower(strings.TrimSpace(a)) {
	case AlgoFast, "":
		return AlgoFast
	case AlgoPII, "pii":
		return AlgoPII
	case AlgoFastPII, "fast pii", "fast_pii": // "+" in a urlencoded form may arrive as a space
		return AlgoFastPII
	}
	return ""
}

// Maskers are the two maskers the page can run. PII may be nil when no
// PII service is configured.
type Maskers struct {
	Fast plugins.Masker
	PII  plugins.Masker
}

// Result is one masking: the masked texts and the mapping placeholder
// ("{KEY}") → original value. The mapping is secret: it goes back to the
// user who typed the text and nowhere else.
type Result struct {
	Texts    []string
	Mappings map[string]string
}

// CheckText refuses texts the maskers must not see: invalid UTF-8 or
// NUL bytes (a binary file), or nothing but white space.
func CheckText(s string) error {
	if !utf8.ValidString(s) || strings.ContainsRune(s, 0) {
		return ErrNotText
	}
	if strings.TrimSpace(s) == "" {
		return ErrEmptyText
	}
	return nil
}

// Mask masks texts with the algorithm: fast (the fast_masker), pii_masking
// (the PII service) or fast+pii (the PII service first, then the
// fast_masker over its output, mappings merged, as the original did).
// An error from a masker is returned wrapped; no partially masked text is
// ever returned.
func (m Maskers) Mask(ctx context.Context, algorithm string, texts []string) (Result, error) {
	var steps []plugins.Masker
	switch NormalizeAlgorithm(algorithm) {
	case AlgoFast:
		steps = []plugins.Masker{m.Fast}
	case AlgoPII:
		steps = []plugins.Masker{m.PII}
	case AlgoFastPII:
		steps = []plugins.Masker{m.PII, m.Fast}
	default:
		return Result{}, fmt.Errorf("%w %q", ErrUnknownAlgorithm, algorithm)
	}
	res := Result{Texts: texts, Mappings: map[string]string{}}
	for _, s := range steps {
		if s == nil {
			return Result{}, ErrNoPIIService
		}
		out, mp, err := s.MaskTexts(ctx, res.Texts)
		if err != nil {
			return Result{}, fmt.Errorf("masking: %w", err)
		}
		if len(out) != len(res.Texts) {
			return Result{}, fmt.Errorf("masking: %w: %d texts for %d", plugins.ErrServiceUnavailable, len(out), len(res.Texts))
		}
		res.Texts = out
		for k, v := range mp {
			res.Mappings[braced(k)] = v
		}
	}
	return res, nil
}

// braced returns a mapping key in "{KEY}" form, the form placeholders take
// in masked text (the original normalised keys the same way for display).
func braced(k string) string {
	if strings.HasPrefix(k, "{") && strings.HasSuffix(k, "}") {
		return k
	}
	return "{" + strings.Trim(k, "{}") + "}"
}

// Mapping is one row of the result table.
type Mapping struct{ Placeholder, Original string }

// Rows returns the mapping sorted by where each placeholder first appears
// in text (placeholders absent from it last, by name).
func (r Result) Rows() []Mapping {
	text := strings.Join(r.Texts, "\n")
	rows := make([]Mapping, 0, len(r.Mappings))
	for k, v := range r.Mappings {
		rows = append(rows, Mapping{k, v})
	}
	pos := func(p string) int {
		if i := strings.Index(text, p); i >= 0 {
			return i
		}
		return len(text) + 1
	}
	sort.Slice(rows, func(i, j int) bool {
		pi, pj := pos(rows[i].Placeholder), pos(rows[j].Placeholder)
		if pi != pj {
			return pi < pj
		}
		return rows[i].Placeholder < rows[j].Placeholder
	})
	return rows
}

// Segment is a run of masked text; Placeholder marks a run that is one of
// the mapping's placeholders (the page highlights it).
type Segment struct {
	Text        string
	Placeholder bool
}

// Segments splits text into plain runs and the placeholders of mappings.
func Segments(text string, mappings map[string]string) []Segment {
	var segs []Segment
	plain := 0
	for i := 0; i < len(text); {
		if text[i] != '{' {
			i++
			continue
		}
		end := strings.IndexByte(text[i:], '}')
		if end < 0 {
			break
		}
		p := text[i : i+end+1]
		if _, ok := mappings[p]; !ok {
			i++
			continue
		}
		if plain < i {
			segs = append(segs, Segment{Text: text[plain:i]})
		}
		segs = append(segs, Segment{Text: p, Placeholder: true})
		i += len(p)
		plain = i
	}
	if plain < len(text) {
		segs = append(segs, Segment{Text: text[plain:]})
	}
	return segs
}
