// Package simplerouting is the simple_semantic_routing utils plugin: when a
// client asks for model "auto", it picks a concrete model from the newest
// user text's intent (keywords, weighted phrases and patterns per category)
// and complexity (an estimated token count against two thresholds).
//
// The algorithm is the original's (llm-router-plugins, simple.json):
//
//  1. Intent: each category scores the weights of its keywords and phrases
//     found in the text, plus 3 per matching pattern; the highest strictly
//     positive score wins (ties go to the earlier category), else "none".
//  2. Complexity: tokens = int(words × 1.25); ≤ simple threshold → simple,
//     ≤ medium threshold → medium, else complex.
//  3. With a pool of n models (simplest first) the complexity gives a base
//     index (simple 0, medium n/2, complex n−1); the intent's level (from
//     intent_adjustment) gives an intent index — the last pool position of
//     that level's model. The choice is max(base, intent index), or base−1
//     when the intent calls for no level; clamped to the pool.
//
// Deliberate differences from the original: keywords and phrases match
// whole words (the original's substring test let "ts" match "its" and "co"
// match "code"); a keyword of four or more letters also matches words it
// begins, which covers inflection ("debug" → "debugging", "funkcj" →
// "funkcjami"); the literal letters of patterns are lower-cased, so "SELECT"
// matches too (the original lower-cased the text only, so a pattern with a
// capital letter never matched); very long texts are analysed through their
// head and tail (MaxIntentBytes); malformed environment overrides are
// errors instead of being ignored.
package simplerouting

import (
	"context"
	"fmt"
	"regexp"
	"regexp/syntax"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Auto is the model name that asks for routing.
const Auto = "auto"

// Router chooses models. It is immutable and safe for concurrent use.
type Router struct {
	pool         []string
	defaultModel string
	thresholds   [2]int
	intents      []string       // names, in tie-break order
	intentIdx    map[string]int // intent → pool index it calls for, -1 none

	exact      map[string][]hit // whole-word keywords
	prefix     map[string][]hit // keywords that also match as word prefixes
	prefixLens []int            // distinct byte lengths of prefix keys
	phrases    []phrase
	patterns   []pattern
	nTerms     int
}

// hit is one keyword occurrence in one category; term identifies the
// keyword entry so that it counts once per text.
type hit struct {
	intent, term int
	weight       float64
}

type phrase struct {
	text string // " tok tok " (tokens joined by single spaces, padded)
	hit
}

type pattern struct {
	re     *regexp.Regexp
	intent int
}

// Decision is the outcome of routing one text.
type Decision struct {
	Model      string
	Intent     string // category name, "none", or "" when there was no text
	Complexity string // simple, medium, complex, or "" when there was no text
	Tokens     int    // estimated tokens
}

// Reason describes the decision for logs and response headers.
func (d Decision) Reason() string {
	if d.Complexity == "" {
		return "no text: default model"
	}
	return fmt.Sprintf("intent=%s complexity=%s tokens=%d", d.Intent, d.Complexity, d.Tokens)
}

// New builds a Router from a validated configuration.
func New(c *Config) (*Router, error) {
	if err := c.Validate(); err != nil {
		return nil, err
	}
	r := &Router{
		pool:       append([]string(nil), c.Pool()...),
		thresholds: c.Thresholds,
		intentIdx:  map[string]int{},
		exact:      map[string][]hit{},
		prefix:     map[string][]hit{},
	}
	r.defaultModel = c.DefaultModel
	if r.defaultModel == "" {
		if m, ok := c.levelModel(Simple); ok {
			r.defaultModel = m
		} else {
			r.defaultModel = r.pool[0]
		}
	}
	lens := map[int]bool{}
	for ii, in := range c.Intents {
		if err := r.addIntent(ii, in, lens); err != nil {
			return nil, err
		}
	}
	for l := range lens {
		r.prefixLens = append(r.prefixLens, l)
	}
	for _, name := range append(append([]string(nil), r.intents...), NoIntent) {
		r.intentIdx[name] = -1
		if level := c.Adjust[name]; level != "" {
			r.intentIdx[name] = r.levelIndex(c, level)
		}
	}
	return r, nil
}

// levelIndex is the index in the pool of the model for a complexity level:
// the configured model of that level (its last place in the pool), else the
// first, middle or last model of the pool.
func (r *Router) levelIndex(c *Config, level string) int {
	n := len(r.pool)
	if m, ok := c.levelModel(level); ok {
		for i := n - 1; i >= 0; i-- {
			if r.pool[i] == m {
				return i
			}
		}
	}
	switch level {
	case Simple:
		return 0
	case Medium:
		return n / 2
	default:
		return n - 1
	}
}

// addIntent indexes intent number ii: its keywords (one word exactly, or as
// a prefix from four letters; several words as a phrase), phrases and
// patterns. lens collects the lengths of the prefix keywords.
func (r *Router) addIntent(ii int, in Intent, lens map[int]bool) error {
	r.intents = append(r.intents, in.Name)
	dup := map[string]bool{}
	for _, k := range in.Keywords {
		toks := tokens(strings.ToLower(k.Text))
		switch {
		case len(toks) == 0 || dup[pad(toks)]:
			continue
		case len(toks) > 1: // "e-mail": a sequence of words
			r.phrases = append(r.phrases, phrase{pad(toks), hit{ii, r.nTerms, k.Weight}})
		case utf8.RuneCountInString(toks[0]) >= 4:
			r.prefix[toks[0]] = append(r.prefix[toks[0]], hit{ii, r.nTerms, k.Weight})
			lens[len(toks[0])] = true
		default:
			r.exact[toks[0]] = append(r.exact[toks[0]], hit{ii, r.nTerms, k.Weight})
		}
		dup[pad(toks)] = true
		r.nTerms++
	}
	for _, p := range in.Phrases {
		if toks := tokens(strings.ToLower(p.Text)); len(toks) > 0 {
			r.phrases = append(r.phrases, phrase{pad(toks), hit{ii, r.nTerms, p.Weight}})
			r.nTerms++
		}
	}
	for _, p := range in.Patterns {
		re, err := compilePattern(p)
		if err != nil {
			return fmt.Errorf("routing config: intents.%s.patterns: %w", in.Name, err)
		}
		r.patterns = append(r.patterns, pattern{re, ii})
	}
	return nil
}

// Choose picks a model for texts (oldest first; the newest non-blank one is
// routed) and says why.
func (r *Router) Choose(texts []string) (model, reason string) {
	d := r.Decide(newest(texts))
	return d.Model, d.Reason()
}

func newest(texts []string) string {
	for i := len(texts) - 1; i >= 0; i-- {
		if strings.TrimSpace(texts[i]) != "" {
			return texts[i]
		}
	}
	return ""
}

// Decide routes one text.
func (r *Router) Decide(text string) Decision {
	if strings.TrimSpace(text) == "" {
		return Decision{Model: r.defaultModel}
	}
	d := Decision{Intent: r.intent(text), Tokens: int(float64(len(strings.Fields(text))) * 1.25)}
	n := len(r.pool)
	var base int
	switch {
	case d.Tokens <= r.thresholds[0]:
		d.Complexity, base = Simple, 0
	case d.Tokens <= r.thresholds[1]:
		d.Complexity, base = Medium, n/2
	default:
		d.Complexity, base = Complex, n-1
	}
	idx := base - 1
	if ii := r.intentIdx[d.Intent]; ii >= 0 {
		idx = max(base, ii)
	}
	d.Model = r.pool[min(max(idx, 0), n-1)]
	return d
}

// MaxIntentBytes bounds the text intent detection reads: a longer text
// is analysed through its first and last MaxIntentBytes/2 bytes (where the
// request usually states what it wants), so that routing stays cheap for
// long prompts. The token estimate always counts the whole text.
const MaxIntentBytes = 8 << 10

// window returns s, or its head and tail when it is longer than
// MaxIntentBytes, cut at rune boundaries.
func window(s string) string {
	if len(s) <= MaxIntentBytes {
		return s
	}
	head, tail := MaxIntentBytes/2, len(s)-MaxIntentBytes/2
	for head > 0 && !utf8.RuneStart(s[head]) {
		head--
	}
	for tail < len(s) && !utf8.RuneStart(s[tail]) {
		tail++
	}
	return s[:head] + "\n" + s[tail:]
}

// compilePattern compiles an intent pattern to match lower-cased text: its
// literal letters are lower-cased (so patterns are case-insensitive, and
// a literal prefix keeps the regexp engine's fast path, which (?i) loses).
// Letters inside character classes are used as written.
func compilePattern(p string) (*regexp.Regexp, error) {
	re, err := syntax.Parse(p, syntax.Perl)
	if err != nil {
		return nil, err
	}
	lowerLiterals(re)
	return regexp.Compile(re.String())
}

func lowerLiterals(re *syntax.Regexp) {
	if re.Op == syntax.OpLiteral {
		for i, c := range re.Rune {
			re.Rune[i] = unicode.ToLower(c)
		}
	}
	for _, sub := range re.Sub {
		lowerLiterals(sub)
	}
}

// intent returns the best-scoring category of text, or NoIntent.
func (r *Router) intent(text string) string {
	if len(r.intents) == 0 {
		return NoIntent
	}
	lower := strings.ToLower(window(text))
	toks := tokens(lower)
	scores := make([]float64, len(r.intents))
	seen := make([]bool, r.nTerms)
	add := func(hs []hit) {
		for _, h := range hs {
			if !seen[h.term] {
				seen[h.term] = true
				scores[h.intent] += h.weight
			}
		}
	}
	for _, t := range toks {
		add(r.exact[t])
		for _, l := range r.prefixLens {
			if l <= len(t) && (l == len(t) || utf8.RuneStart(t[l])) {
				add(r.prefix[t[:l]])
			}
		}
	}
	if len(r.phrases) > 0 {
		joined := pad(toks)
		for _, p := range r.phrases {
			if !seen[p.term] && strings.Contains(joined, p.text) {
				seen[p.term] = true
				scores[p.intent] += p.weight
			}
		}
	}
	for _, p := range r.patterns {
		if p.re.MatchString(lower) {
			scores[p.intent] += PatternWeight
		}
	}
	best, bestScore := NoIntent, 0.0
	for i, s := range scores {
		if s > bestScore {
			best, bestScore = r.intents[i], s
		}
	}
	return best
}

// Route returns model unchanged unless it is [Auto], in which case it
// returns the model chosen for texts (oldest first).
func (r *Router) Route(ctx context.Context, model string, texts []string) (string, error) {
	if model != Auto {
		return model, nil
	}
	if err := ctx.Err(); err != nil {
		return model, fmt.Errorf("simple_semantic_routing: %w", err)
	}
	m, _ := r.Choose(texts)
	return m, nil
}

// Pool returns the models the router chooses from, simplest first.
func (r *Router) Pool() []string { return append([]string(nil), r.pool...) }

// tokens splits lower-cased text into words: runs of letters, digits and
// the characters + # _ (so "c++" and "c#" are words).
func tokens(s string) []string {
	return strings.FieldsFunc(s, func(c rune) bool {
		return !unicode.IsLetter(c) && !unicode.IsDigit(c) && c != '+' && c != '#' && c != '_'
	})
}

func pad(toks []string) string {
	return " " + strings.Join(toks, " ") + " "
}
