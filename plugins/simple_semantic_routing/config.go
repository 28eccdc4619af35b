package simplerouting

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// Environment variables read by [Config.ApplyEnv] (those of the original).
const (
	EnvModels       = "LLM_ROUTER_ROUTING_MODELS"                // pipe-separated model pool, simplest first
	EnvThresholds   = "LLM_ROUTER_ROUTING_COMPLEXITY_THRESHOLDS" // "simple|medium" token limits
	EnvDefaultModel = "LLM_ROUTER_ROUTING_DEFAULT_MODEL"         // model for requests without text
	EnvIntentPrefix = "LLM_ROUTER_ROUTING_INTENT_"               // + CATEGORY = "kw|kw|phrase:5"
)

// Complexity levels.
const (
	Simple  = "simple"
	Medium  = "medium"
	Complex = "complex"
)

// NoIntent is the intent of a text that matches no category.
const NoIntent = "none"

//go:embed simple.json
var bundled []byte

// Config is the routing configuration: the bundled simple.json (or an
// operator's file in the same format) plus environment overrides.
type Config struct {
	// Thresholds are the largest token estimates still counted as simple
	// and as medium; above Thresholds[1] a text is complex.
	Thresholds [2]int
	// Levels maps complexity levels to models, in file order (simplest
	// first); their models form the pool unless Models is set.
	Levels []Level
	// Models, when set, is the model pool, simplest first
	// (LLM_ROUTER_ROUTING_MODELS).
	Models []string
	// DefaultModel answers requests without text; empty means the simple
	// level's model (LLM_ROUTER_ROUTING_DEFAULT_MODEL).
	DefaultModel string
	// Adjust maps an intent to the complexity level it calls for; an intent
	// mapped to "" or absent lowers the choice by one model.
	Adjust map[string]string
	// Intents are the categories, in file order (earlier wins a tie).
	Intents []Intent
}

// Level is one entry of settings.default_models.
type Level struct {
	Name  string // simple, medium, …
	Model string
}

// Intent is one category of intent detection.
type Intent struct {
	Name string
	// Keywords match whole words; a keyword of four or more letters also
	// matches words it begins ("debug" matches "debugging").
	Keywords []Term
	// Phrases match as whole-word sequences.
	Phrases []Term
	// Patterns are regular expressions (RE2 syntax) matched on the
	// lower-cased text, with their literal letters lower-cased too; each
	// matching pattern adds PatternWeight.
	Patterns []string
}

// Term is a keyword or phrase with its weight.
type Term struct {
	Text   string
	Weight float64
}

// Default weights, as in the original.
const (
	KeywordWeight = 1
	PhraseWeight  = 2
	PatternWeight = 3
)

// DefaultConfig returns the bundled configuration (simple.json in this
// package), without environment overrides.
func DefaultConfig() (*Config, error) {
	return ParseConfig(bundled)
}

// fileConfig is the JSON layout of simple.json.
type fileConfig struct {
	Settings struct {
		LenThresholdsMax map[string]int    `json:"len_thresholds_max"`
		DefaultModels    json.RawMessage   `json:"default_models"`
		IntentAdjustment map[string]string `json:"intent_adjustment"`
	} `json:"settings"`
	Intents json.RawMessage `json:"intents"`
}

// fileIntent is an intent in object form; an intent may also be a plain
// array of keywords.
type fileIntent struct {
	Keywords []string           `json:"keywords"`
	Phrases  []string           `json:"phrases"`
	Patterns []string           `json:"patterns"`
	Weights  map[string]float64 `json:"weights"`
}

// ParseConfig reads a configuration in the format of the original
// simple.json: settings.len_thresholds_max {simple, medium},
// settings.default_models {level: model}, settings.intent_adjustment
// {intent: level}, and intents {name: [keywords…] | {keywords, phrases
// ("text:weight"), patterns, weights {keyword: weight}}}. Other top-level
// keys are ignored.
func ParseConfig(data []byte) (*Config, error) {
	var f fileConfig
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("routing config: %w", err)
	}
	c := &Config{Adjust: f.Settings.IntentAdjustment}
	t := f.Settings.LenThresholdsMax
	if _, ok := t[Simple]; !ok {
		return nil, errors.New("routing config: settings.len_thresholds_max.simple is required")
	}
	if _, ok := t[Medium]; !ok {
		return nil, errors.New("routing config: settings.len_thresholds_max.medium is required")
	}
	c.Thresholds = [2]int{t[Simple], t[Medium]}

	levels, err := ordered(f.Settings.DefaultModels)
	if err != nil {
		return nil, fmt.Errorf("routing config: settings.default_models: %w", err)
	}
	for _, kv := range levels {
		var m string
		if err := json.Unmarshal(kv.val, &m); err != nil || strings.TrimSpace(m) == "" {
			return nil, fmt.Errorf("routing config: settings.default_models.%s must be a model name", kv.key)
		}
		c.Levels = append(c.Levels, Level{kv.key, strings.TrimSpace(m)})
	}

	intents, err := ordered(f.Intents)
	if err != nil {
		return nil, fmt.Errorf("routing config: intents: %w", err)
	}
	for _, kv := range intents {
		in := Intent{Name: strings.ToLower(kv.key)}
		var fi fileIntent
		if err := json.Unmarshal(kv.val, &fi.Keywords); err != nil {
			fi = fileIntent{}
			dec := json.NewDecoder(bytes.NewReader(kv.val))
			dec.DisallowUnknownFields()
			if err := dec.Decode(&fi); err != nil {
				return nil, fmt.Errorf("routing config: intents.%s: %w", kv.key, err)
			}
		}
		for _, k := range fi.Keywords {
			w, ok := fi.Weights[strings.ToLower(k)]
			if !ok {
				w = KeywordWeight
			}
			in.Keywords = append(in.Keywords, Term{k, w})
		}
		for _, p := range fi.Phrases {
			term, err := parsePhrase(p)
			if err != nil {
				return nil, fmt.Errorf("routing config: intents.%s.phrases: %w", kv.key, err)
			}
			in.Phrases = append(in.Phrases, term)
		}
		in.Patterns = fi.Patterns
		c.Intents = append(c.Intents, in)
	}
	return c, c.Validate()
}

// parsePhrase reads "text:weight" (weight defaults to PhraseWeight).
func parsePhrase(s string) (Term, error) {
	i := strings.LastIndex(s, ":")
	if i < 0 {
		return Term{strings.TrimSpace(s), PhraseWeight}, nil
	}
	w, err := strconv.ParseFloat(strings.TrimSpace(s[i+1:]), 64)
	if err != nil {
		return Term{}, fmt.Errorf("%q: weight after ':' is not a number", s)
	}
	return Term{strings.TrimSpace(s[:i]), w}, nil
}

type kv struct {
	key string
	val json.RawMessage
}

// ordered decodes a JSON object keeping its key order; null or absent is
// empty.
func ordered(raw json.RawMessage) ([]kv, error) {
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		return nil, nil
	}
	dec := json.NewDecoder(bytes.NewReader(raw))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("must be an object")
	}
	var out []kv
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var v json.RawMessage
		if err := dec.Decode(&v); err != nil {
			return nil, err
		}
		out = append(out, kv{tok.(string), v})
	}
	return out, nil
}

// Pool returns the models to choose from, simplest first.
func (c *Config) Pool() []string {
	if len(c.Models) > 0 {
		return c.Models
	}
	out := make([]string, len(c.Levels))
	for i, l := range c.Levels {
		out[i] = l.Model
	}
	return out
}

// levelModel returns the model of a complexity level from default_models.
func (c *Config) levelModel(level string) (string, bool) {
	for _, l := range c.Levels {
		if l.Name == level {
			return l.Model, true
		}
	}
	return "", false
}

// Validate checks thresholds, the model pool and the patterns.
func (c *Config) Validate() error {
	var errs []error
	if c.Thresholds[0] < 0 || c.Thresholds[1] < c.Thresholds[0] {
		errs = append(errs, fmt.Errorf("routing config: thresholds %d|%d: want 0 ≤ simple ≤ medium", c.Thresholds[0], c.Thresholds[1]))
	}
	if len(c.Pool()) == 0 {
		errs = append(errs, fmt.Errorf("routing config: no models: set settings.default_models or %s", EnvModels))
	}
	for _, in := range c.Intents {
		for _, p := range in.Patterns {
			if _, err := compilePattern(p); err != nil {
				errs = append(errs, fmt.Errorf("routing config: intents.%s.patterns: %w", in.Name, err))
			}
		}
	}
	return errors.Join(errs...)
}

// ApplyEnv applies the original's environment overrides, given as
// "KEY=value" strings (os.Environ()): LLM_ROUTER_ROUTING_MODELS (pipe-
// separated pool), LLM_ROUTER_ROUTING_COMPLEXITY_THRESHOLDS ("a|b"),
// LLM_ROUTER_ROUTING_DEFAULT_MODEL, and LLM_ROUTER_ROUTING_INTENT_<CAT>
// ("kw|kw|phrase:5"; replaces category cat, or adds it, with keywords and,
// for entries with a colon, weighted phrases). Empty values are ignored.
// Unlike the original, a malformed value is an error rather than silently
// ignored.
func (c *Config) ApplyEnv(environ []string) error {
	var errs []error
	environ = slices.Clone(environ)
	slices.Sort(environ) // new intent categories are added in name order
	for _, e := range environ {
		k, v, ok := strings.Cut(e, "=")
		if !ok || !strings.HasPrefix(k, "LLM_ROUTER_ROUTING_") {
			continue
		}
		v = strings.TrimSpace(v)
		if v == "" {
			continue
		}
		switch {
		case k == EnvModels:
			c.Models = splitPipe(v)
		case k == EnvDefaultModel:
			c.DefaultModel = v
		case k == EnvThresholds:
			parts := strings.Split(v, "|")
			var a, b int
			var errA, errB error
			if len(parts) == 2 {
				a, errA = strconv.Atoi(strings.TrimSpace(parts[0]))
				b, errB = strconv.Atoi(strings.TrimSpace(parts[1]))
			}
			if len(parts) != 2 || errA != nil || errB != nil || a < 0 || b < a {
				errs = append(errs, fmt.Errorf("%s=%q: want two whole numbers \"simple|medium\" with simple ≤ medium", k, v))
				continue
			}
			c.Thresholds = [2]int{a, b}
		case strings.HasPrefix(k, EnvIntentPrefix) && len(k) > len(EnvIntentPrefix):
			in := Intent{Name: strings.ToLower(k[len(EnvIntentPrefix):])}
			for _, item := range splitPipe(v) {
				if !strings.Contains(item, ":") {
					in.Keywords = append(in.Keywords, Term{item, KeywordWeight})
					continue
				}
				t, err := parsePhrase(item)
				if err != nil {
					errs = append(errs, fmt.Errorf("%s: %w", k, err))
					continue
				}
				in.Phrases = append(in.Phrases, t)
			}
			c.setIntent(in)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	return c.Validate()
}

func (c *Config) setIntent(in Intent) {
	for i := range c.Intents {
		if c.Intents[i].Name == in.Name {
			c.Intents[i] = in
			return
		}
	}
	c.Intents = append(c.Intents, in)
}

func splitPipe(v string) []string {
	var out []string
	for _, s := range strings.Split(v, "|") {
		if s = strings.TrimSpace(s); s != "" {
			out = append(out, s)
		}
	}
	return out
}
