// Package config loads and validates models-config.json, the model and provider
// registry of the original LLM Router, read as HuJSON (JSON with comments and
// trailing commas). A loaded Config is immutable and safe for concurrent use.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/url"
	"os"
	"sort"
	"strconv"
	"strings"

	"github.com/tailscale/hujson"
)

// API types a provider may declare in api_type.
const (
	APIOpenAI    = "openai"
	APIVLLM      = "vllm"
	APILMStudio  = "lmstudio"
	APIOllama    = "ollama"
	APIAnthropic = "anthropic"
)

// KnownAPITypes lists every supported api_type value.
var KnownAPITypes = []string{APIOpenAI, APIVLLM, APILMStudio, APIOllama, APIAnthropic}

// Provider is one upstream LLM server that serves a model.
type Provider struct {
	// ID identifies the provider; unique across the active models.
	ID string
	// APIHost is the base URL of the server, e.g. http://10.0.0.5:8000.
	APIHost string
	// APIType is the wire protocol the server speaks (one of KnownAPITypes, lower case).
	APIType string
	// APIToken is sent upstream as the provider credential. It may hold a
	// Caddy placeholder ({env.NAME}, {file./path}) until resolved.
	APIToken string
	// ModelPath is the model name sent upstream; empty means the logical name.
	ModelPath string
	// Weight is the relative share for the weighted strategies (default 1).
	Weight float64
	// InputSize is the context length advertised by listing endpoints.
	InputSize int
	// KeepAlive is the idle keep-alive interval ("35m"), empty when unset.
	KeepAlive string
	// ToolCalling tells whether the provider accepts tool definitions.
	ToolCalling bool
	// IsEmbedding marks embedding models.
	IsEmbedding bool
}

// AcceptsTools tells whether requests with tool definitions may go to the
// provider: when tool_calling is set, and always for Anthropic, whose
// Messages API has tools built in.
func (p *Provider) AcceptsTools() bool { return p.ToolCalling || p.APIType == APIAnthropic }

// UpstreamModel returns the model name to send to this provider.
func (p *Provider) UpstreamModel(logical string) string {
	if p.ModelPath != "" {
		return p.ModelPath
	}
	return logical
}

// Model is one logical model with its providers.
type Model struct {
	// Name is the logical model name clients ask for.
	Name string
	// Group is the model-type group the model was defined in.
	Group string
	// Providers serve the model, in configuration order.
	Providers []*Provider
}

// Config is a validated, immutable models configuration.
type Config struct {
	// Source names where the configuration came from (a file path or "embedded").
	Source string
	// Warnings lists what was accepted but is probably a mistake: fields the
	// router does not know (a misspelled "api_tokn" is ignored, so the
	// provider gets no token). Options.Strict turns them into errors.
	Warnings []*Error
	models   map[string]*Model
	order    []string
}

// Model returns the active model with the given name.
func (c *Config) Model(name string) (*Model, bool) {
	m, ok := c.models[name]
	return m, ok
}

// Models returns the active models in a stable order (configuration order).
func (c *Config) Models() []*Model {
	out := make([]*Model, 0, len(c.order))
	for _, n := range c.order {
		out = append(out, c.models[n])
	}
	return out
}

// Error is a configuration error (or warning) that names where it was found.
type Error struct {
	// File is the file name (or "embedded models-config.json").
	File string
	// Line is the 1-based line, 0 when unknown.
	Line int
	// Model is the logical model name, empty at the top level.
	Model string
	// Provider is the provider's quoted id, or #index without one.
	Provider string
	// Field is the field in question.
	Field string
	// Msg says what is wrong and what to do.
	Msg string
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.File)
	if e.Line > 0 {
		fmt.Fprintf(&b, ":%d", e.Line)
	}
	b.WriteString(": ")
	if e.Model != "" {
		fmt.Fprintf(&b, "model %q: ", e.Model)
	}
	if e.Provider != "" {
		fmt.Fprintf(&b, "provider %s: ", e.Provider)
	}
	if e.Field != "" {
		fmt.Fprintf(&b, "field %q: ", e.Field)
	}
	b.WriteString(e.Msg)
	return b.String()
}

// MaxFileSize bounds the size of a models-config file.
const MaxFileSize = 16 << 20

// Options tune loading. The zero value is the default: unknown fields are
// warnings.
type Options struct {
	// Strict refuses unknown fields instead of warning about them.
	Strict bool
}

// LoadFile reads and validates a models-config file with default options.
func LoadFile(path string) (*Config, error) { return Options{}.LoadFile(path) }

// Parse validates a models-config document with default options. name is
// used in error messages.
func Parse(name string, data []byte) (*Config, error) { return Options{}.Parse(name, data) }

// ReadFile reads a models-config file, refusing one over MaxFileSize.
func ReadFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("models config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("models config %s: %w", path, err)
	}
	if len(data) > MaxFileSize {
		return nil, &Error{File: path, Msg: fmt.Sprintf("file is larger than %d MiB", MaxFileSize>>20)}
	}
	return data, nil
}

// LoadFile reads and validates a models-config file.
func (o Options) LoadFile(path string) (*Config, error) {
	data, err := ReadFile(path)
	if err != nil {
		return nil, err
	}
	return o.Parse(path, data)
}

type rawProvider struct {
	ID          *string         `json:"id"`
	APIHost     *string         `json:"api_host"`
	APIType     *string         `json:"api_type"`
	APIToken    *string         `json:"api_token"`
	ModelPath   *string         `json:"model_path"`
	Weight      json.RawMessage `json:"weight"`
	InputSize   json.RawMessage `json:"input_size"`
	KeepAlive   *string         `json:"keep_alive"`
	ToolCalling *bool           `json:"tool_calling"`
	IsEmbedding *bool           `json:"is_embedding"`
}

type rawModel struct {
	Providers      *[]rawProvider    `json:"providers"`
	ProvidersSleep []json.RawMessage `json:"providers_sleep"`
}

// Parse validates a models-config document. name is used in error messages.
func (o Options) Parse(name string, data []byte) (*Config, error) {
	std, err := hujson.Standardize(bytes.Clone(data))
	if err != nil {
		// hujson's message already carries "line N, column M".
		return nil, &Error{File: name, Msg: "invalid JSON: " + strings.TrimPrefix(err.Error(), "hujson: ")}
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(std, &top); err != nil {
		return nil, syntaxErr(name, std, err)
	}
	activeRaw, ok := top["active_models"]
	if !ok {
		return nil, &Error{File: name, Field: "active_models", Msg: "is required"}
	}
	var active map[string][]string
	if err := json.Unmarshal(activeRaw, &active); err != nil {
		return nil, &Error{File: name, Field: "active_models", Msg: "must map group names to lists of model names"}
	}
	groups := make([]string, 0, len(active))
	for g := range active {
		groups = append(groups, g)
	}
	// JSON object order is lost in a map; keep groups in document order.
	sortByOffset(std, groups)

	cfg := &Config{Source: name, models: map[string]*Model{}}
	seenIDs := map[string]string{}
	for _, g := range groups {
		groupRaw, ok := top[g]
		if !ok {
			return nil, &Error{File: name, Field: "active_models." + g, Msg: fmt.Sprintf("group %q is not defined", g)}
		}
		var group map[string]json.RawMessage
		if err := json.Unmarshal(groupRaw, &group); err != nil {
			return nil, &Error{File: name, Field: g, Msg: "a model group must be an object of models"}
		}
		for _, mname := range active[g] {
			mraw, ok := group[mname]
			if !ok {
				return nil, &Error{File: name, Model: mname, Field: "active_models." + g,
					Msg: fmt.Sprintf("active model is not defined in group %q", g)}
			}
			if _, dup := cfg.models[mname]; dup {
				return nil, &Error{File: name, Model: mname, Msg: "model is active more than once"}
			}
			m, unknown, err := parseModel(name, g, mname, mraw, seenIDs)
			if err != nil {
				var ce *Error
				if errors.As(err, &ce) && ce.Line == 0 {
					ce.Line = locate(std, ce)
				}
				return nil, err
			}
			for _, u := range unknown {
				u.Line = locate(std, u)
				if o.Strict {
					u.Msg += "; strict_models_config refuses unknown fields"
					return nil, u
				}
				u.Msg += "; it is ignored"
				cfg.Warnings = append(cfg.Warnings, u)
			}
			cfg.models[mname] = m
			cfg.order = append(cfg.order, mname)
		}
	}
	return cfg, nil
}

// Field names the router reads; any other is reported as unknown.
var (
	modelFields    = []string{"providers", "providers_sleep"}
	providerFields = []string{"id", "api_host", "api_type", "api_token", "model_path", "weight", "input_size",
		"keep_alive", "tool_calling", "is_embedding"}
)

// ProviderFieldNames returns the provider fields the router reads, in the
// order the documentation lists them (the Config Manager's form schema).
func ProviderFieldNames() []string { return append([]string(nil), providerFields...) }

// parseModel validates one active model; unknown lists the fields it does
// not know, for the caller to warn about or refuse.
func parseModel(file, group, name string, raw json.RawMessage, seenIDs map[string]string) (m *Model, unknown []*Error, err error) {
	var rm rawModel
	if err := json.Unmarshal(raw, &rm); err != nil {
		return nil, nil, &Error{File: file, Model: name, Msg: "invalid model object: " + err.Error()}
	}
	if rm.Providers == nil {
		return nil, nil, &Error{File: file, Model: name, Field: "providers", Msg: "is required"}
	}
	if len(*rm.Providers) == 0 {
		return nil, nil, &Error{File: file, Model: name, Field: "providers", Msg: "must list at least one provider"}
	}
	// The same document as key sets, to find fields the router does not read.
	var keys struct {
		Providers []map[string]json.RawMessage `json:"providers"`
	}
	var modelKeys map[string]json.RawMessage
	_ = json.Unmarshal(raw, &modelKeys)
	_ = json.Unmarshal(raw, &keys)
	for _, k := range sortedKeys(modelKeys) {
		if !contains(modelFields, k) {
			unknown = append(unknown, unknownField(file, name, "", k, modelFields))
		}
	}
	m = &Model{Name: name, Group: group}
	for i, rp := range *rm.Providers {
		where := "#" + strconv.Itoa(i)
		if rp.ID != nil && *rp.ID != "" {
			where = strconv.Quote(*rp.ID)
		}
		if i < len(keys.Providers) {
			for _, k := range sortedKeys(keys.Providers[i]) {
				if !contains(providerFields, k) {
					unknown = append(unknown, unknownField(file, name, where, k, providerFields))
				}
			}
		}
		p, err := parseProvider(file, name, where, rp, seenIDs)
		if err != nil {
			return nil, nil, err
		}
		m.Providers = append(m.Providers, p)
	}
	return m, unknown, nil
}

// parseProvider validates one provider of model name (where names it in
// errors: its quoted id, or #index) and records its id in seenIDs.
func parseProvider(file, name, where string, rp rawProvider, seenIDs map[string]string) (*Provider, error) {
	fail := func(field, msg string) error {
		return &Error{File: file, Model: name, Provider: where, Field: field, Msg: msg}
	}
	if rp.ID == nil || strings.TrimSpace(*rp.ID) == "" {
		return nil, fail("id", "is required")
	}
	if prev, dup := seenIDs[*rp.ID]; dup {
		return nil, fail("id", fmt.Sprintf("duplicate provider id (also used by model %q)", prev))
	}
	seenIDs[*rp.ID] = name
	if rp.APIHost == nil || strings.TrimSpace(*rp.APIHost) == "" {
		return nil, fail("api_host", "is required")
	}
	u, err := url.Parse(strings.TrimSpace(*rp.APIHost))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fail("api_host", "must be an http:// or https:// URL")
	}
	if rp.APIType == nil {
		return nil, fail("api_type", "is required (one of "+strings.Join(KnownAPITypes, ", ")+")")
	}
	at := strings.ToLower(strings.TrimSpace(*rp.APIType))
	if !known(at) {
		return nil, fail("api_type", fmt.Sprintf("unknown api_type %q (want one of %s)", *rp.APIType, strings.Join(KnownAPITypes, ", ")))
	}
	p := &Provider{ID: *rp.ID, APIHost: strings.TrimSpace(*rp.APIHost), APIType: at, Weight: 1}
	if rp.APIToken != nil {
		p.APIToken = *rp.APIToken
	}
	if rp.ModelPath != nil {
		p.ModelPath = *rp.ModelPath
	}
	if rp.KeepAlive != nil {
		p.KeepAlive = *rp.KeepAlive
	}
	if rp.ToolCalling != nil {
		p.ToolCalling = *rp.ToolCalling
	}
	if rp.IsEmbedding != nil {
		p.IsEmbedding = *rp.IsEmbedding
	}
	if w, ok, err := number(rp.Weight); err != nil {
		return nil, fail("weight", "must be a number")
	} else if ok {
		if w < 0 || math.IsNaN(w) || math.IsInf(w, 0) {
			return nil, fail("weight", "must be a non-negative number")
		}
		p.Weight = w
	}
	if n, ok, err := number(rp.InputSize); err != nil || (ok && (n < 0 || n != math.Trunc(n))) {
		return nil, fail("input_size", "must be a non-negative integer")
	} else if ok {
		p.InputSize = int(n)
	}
	return p, nil
}

// number reads a JSON number or numeric string; ok is false for null or absent.
func number(raw json.RawMessage) (v float64, ok bool, err error) {
	s := strings.TrimSpace(string(raw))
	if s == "" || s == "null" {
		return 0, false, nil
	}
	if s[0] == '"' {
		var str string
		if err := json.Unmarshal(raw, &str); err != nil {
			return 0, false, err
		}
		s = strings.TrimSpace(str)
		if s == "" {
			return 0, false, nil
		}
	}
	v, err = strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, false, fmt.Errorf("not a number: %w", err)
	}
	return v, true, nil
}

func known(t string) bool { return contains(KnownAPITypes, t) }

func contains(list []string, s string) bool {
	for _, k := range list {
		if k == s {
			return true
		}
	}
	return false
}

func sortedKeys(m map[string]json.RawMessage) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// unknownField describes a field the router does not read, with the closest
// known name when one is near enough to be a typo.
func unknownField(file, model, provider, field string, known []string) *Error {
	msg := "unknown field"
	if s := closest(field, known); s != "" {
		msg += fmt.Sprintf(" (did you mean %q?)", s)
	} else {
		msg += " (known: " + strings.Join(known, ", ") + ")"
	}
	return &Error{File: file, Model: model, Provider: provider, Field: field, Msg: msg}
}

// closest returns the known name nearest to s by edit distance, or "" when
// none is within a third of the name's length (at least 2 edits allowed).
func closest(s string, known []string) string {
	best, bestD := "", -1
	for _, k := range known {
		d := editDistance(strings.ToLower(s), k)
		if bestD < 0 || d < bestD {
			best, bestD = k, d
		}
	}
	if limit := max(2, len(s)/3); bestD > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// locate finds the line of a field error: the field's when its name occurs
// once in the document, else the provider's id when that occurs once, else 0.
func locate(doc []byte, e *Error) int {
	if e.Field != "" {
		if n := keyLine(doc, e.Field); n > 0 {
			return n
		}
	}
	if strings.HasPrefix(e.Provider, `"`) {
		return keyLine(doc, strings.Trim(e.Provider, `"`))
	}
	return 0
}

// keyLine returns the line of the only occurrence of "key" as a JSON string in
// doc, or 0 when it occurs more than once or not at all. hujson.Standardize
// keeps offsets, so lines match the original file.
func keyLine(doc []byte, key string) int {
	q := []byte(strconv.Quote(key))
	i := bytes.Index(doc, q)
	if i < 0 || bytes.Contains(doc[i+len(q):], q) {
		return 0
	}
	return lineAt(doc, i)
}

func syntaxErr(name string, data []byte, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return &Error{File: name, Line: lineAt(data, int(se.Offset)), Msg: "invalid JSON: " + err.Error()}
	}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return &Error{File: name, Line: lineAt(data, int(te.Offset)), Msg: "the top level must be a JSON object"}
	}
	return &Error{File: name, Msg: "invalid JSON: " + err.Error()}
}

func lineAt(data []byte, off int) int {
	if off > len(data) {
		off = len(data)
	}
	if off < 0 {
		off = 0
	}
	return bytes.Count(data[:off], []byte("\n")) + 1
}

// sortByOffset orders top-level keys by their first appearance in the document.
func sortByOffset(doc []byte, keys []string) {
	pos := map[string]int{}
	dec := json.NewDecoder(bytes.NewReader(doc))
	depth := 0
	expectKey := false
	for {
		off := int(dec.InputOffset())
		tok, err := dec.Token()
		if err != nil {
			break
		}
		switch t := tok.(type) {
		case json.Delim:
			if t == '{' || t == '[' {
				depth++
				expectKey = t == '{' && depth == 1
			} else {
				depth--
				expectKey = depth == 1
			}
			continue
		case string:
			if depth == 1 && expectKey {
				if _, ok := pos[t]; !ok {
					pos[t] = off
				}
				expectKey = false
				continue
			}
		}
		if depth == 1 {
			expectKey = true
		}
	}
	sort.SliceStable(keys, func(i, j int) bool { return pos[keys[i]] < pos[keys[j]] })
}
