// Package config loads and validates models-config.json, the model and provider
// registry of the original LLM Router, read as HuJSON (JSON with comments and
// trailing commas). A loaded Config is immutable and safe for concurrent use.
package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
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
	models map[string]*Model
	order  []string
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

// Error is a configuration error that names where it was found.
type Error struct {
	File     string
	Line     int // 0 when unknown
	Model    string
	Provider string
	Field    string
	Msg      string
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

// LoadFile reads and validates a models-config file.
func LoadFile(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("models config: %w", err)
	}
	return Parse(path, data)
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
func Parse(name string, data []byte) (*Config, error) {
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
			m, err := parseModel(name, g, mname, mraw, seenIDs)
			if err != nil {
				return nil, err
			}
			cfg.models[mname] = m
			cfg.order = append(cfg.order, mname)
		}
	}
	return cfg, nil
}

func parseModel(file, group, name string, raw json.RawMessage, seenIDs map[string]string) (*Model, error) {
	var rm rawModel
	if err := json.Unmarshal(raw, &rm); err != nil {
		return nil, &Error{File: file, Model: name, Msg: "invalid model object: " + err.Error()}
	}
	if rm.Providers == nil {
		return nil, &Error{File: file, Model: name, Field: "providers", Msg: "is required"}
	}
	if len(*rm.Providers) == 0 {
		return nil, &Error{File: file, Model: name, Field: "providers", Msg: "must list at least one provider"}
	}
	m := &Model{Name: name, Group: group}
	for i, rp := range *rm.Providers {
		where := "#" + strconv.Itoa(i)
		if rp.ID != nil && *rp.ID != "" {
			where = strconv.Quote(*rp.ID)
		}
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
		m.Providers = append(m.Providers, p)
	}
	return m, nil
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

func known(t string) bool {
	for _, k := range KnownAPITypes {
		if k == t {
			return true
		}
	}
	return false
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
