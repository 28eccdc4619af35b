package semrouting

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/llmrouter/llm-router/plugins/rag/chunk"
)

// Environment variables (the original's semantic_biencoder_routing ones;
// _CHUNK_SIZE bounds the routed text (see the package doc); _CHUNK_OVERLAP
// is accepted and checked but unused: each example is embedded whole).
const (
	EnvPrefix       = "LLM_ROUTER_ROUTING_SEMANTIC_BIENCODER_"
	EnvConfig       = EnvPrefix + "CONFIG"  // raw JSON (starts with { or [) or a file path
	EnvModel        = EnvPrefix + "MODEL"   // embedding model (a models-config model)
	EnvTargets      = EnvPrefix + "TARGETS" // pipe-separated whitelist of target names
	EnvChunkSize    = EnvPrefix + "CHUNK_SIZE"
	EnvChunkOverlap = EnvPrefix + "CHUNK_OVERLAP"
	EnvPersistDir   = EnvPrefix + "PERSIST_DIR" // the example-vector cache
)

// MaxConfigBytes bounds a configuration file.
const MaxConfigBytes = 4 << 20

// Config is the routing configuration, in the format of the original's
// semantic_biencoder_routing file.
type Config struct {
	// EmbeddingModel embeds the examples and the requests.
	EmbeddingModel string `json:"embedding_model"`
	Settings       struct {
		ChunkSize           int     `json:"chunk_size,omitempty"`
		ChunkOverlap        int     `json:"chunk_overlap,omitempty"`
		SimilarityThreshold float64 `json:"similarity_threshold"`
		TopK                int     `json:"top_k,omitempty"`
		VectorStorePath     string  `json:"vector_store_path,omitempty"`
		// FallbackModel answers "auto" when no target is similar enough
		// (not in the original, which always took the best target).
		FallbackModel string `json:"fallback_model,omitempty"`
	} `json:"settings"`
	Targets []Target `json:"routing_targets"`
}

// Target is a routing target: requests like its examples go to its model.
type Target struct {
	Name        string   `json:"name"`
	ModelName   string   `json:"model_name"`
	Description string   `json:"description,omitempty"`
	Examples    []string `json:"examples"`
}

// ParseConfig reads a configuration. Unknown keys are errors (a typo must
// not silently drop a setting).
func ParseConfig(data []byte) (*Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("semantic routing config: %w", err)
	}
	return &c, nil
}

// ReadConfig reads src: raw JSON when it starts with '{' or '[', else the
// path of a file (at most MaxConfigBytes).
func ReadConfig(src string) (*Config, error) {
	s := strings.TrimSpace(src)
	if strings.HasPrefix(s, "{") || strings.HasPrefix(s, "[") {
		return ParseConfig([]byte(s))
	}
	f, err := os.Open(s)
	if err != nil {
		return nil, fmt.Errorf("semantic routing config: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxConfigBytes+1))
	if err != nil {
		return nil, fmt.Errorf("semantic routing config %s: %w", s, err)
	}
	if len(data) > MaxConfigBytes {
		return nil, fmt.Errorf("semantic routing config %s: larger than %d bytes", s, MaxConfigBytes)
	}
	return ParseConfig(data)
}

// ApplyEnv applies the environment overrides (getenv is os.Getenv in
// production): _MODEL, _TARGETS (keeps only the named targets), _PERSIST_DIR,
// _CHUNK_SIZE, and checks _CHUNK_OVERLAP.
func (c *Config) ApplyEnv(getenv func(string) string) error {
	env := func(k string) string { return strings.TrimSpace(getenv(k)) }
	if v := env(EnvModel); v != "" {
		c.EmbeddingModel = v
	}
	if v := env(EnvPersistDir); v != "" {
		c.Settings.VectorStorePath = v
	}
	var errs []error
	for _, k := range []string{EnvChunkSize, EnvChunkOverlap} {
		if v := env(k); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 0 {
				errs = append(errs, fmt.Errorf("%s=%q is not a whole number", k, v))
			} else if k == EnvChunkSize {
				c.Settings.ChunkSize = n
			}
		}
	}
	if v := env(EnvTargets); v != "" {
		if err := c.Keep(strings.Split(v, "|")); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", EnvTargets, err))
		}
	}
	return errors.Join(errs...)
}

// Keep keeps only the named targets (in file order); a name that is no
// target is an error.
func (c *Config) Keep(names []string) error {
	want := map[string]bool{}
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			want[n] = true
		}
	}
	var kept []Target
	for _, t := range c.Targets {
		if want[t.Name] {
			kept = append(kept, t)
			delete(want, t.Name)
		}
	}
	for n := range want {
		return fmt.Errorf("no routing target %q", n)
	}
	c.Targets = kept
	return nil
}

// Validate checks the configuration and fills the defaults (top_k 1,
// chunk_size 400).
func (c *Config) Validate() error {
	var errs []error
	if strings.TrimSpace(c.EmbeddingModel) == "" {
		errs = append(errs, fmt.Errorf("semantic routing config: no embedding_model (or %s)", EnvModel))
	}
	if c.Settings.TopK == 0 {
		c.Settings.TopK = 1
	}
	if c.Settings.ChunkSize == 0 {
		c.Settings.ChunkSize = chunk.DefaultSize
	}
	if c.Settings.ChunkSize < 0 {
		errs = append(errs, fmt.Errorf("semantic routing config: settings.chunk_size %d: want ≥ 1", c.Settings.ChunkSize))
	}
	if c.Settings.TopK < 1 {
		errs = append(errs, fmt.Errorf("semantic routing config: settings.top_k %d: want ≥ 1", c.Settings.TopK))
	}
	if t := c.Settings.SimilarityThreshold; t < -1 || t > 1 {
		errs = append(errs, fmt.Errorf("semantic routing config: settings.similarity_threshold %v: want -1 to 1", t))
	}
	if len(c.Targets) == 0 {
		errs = append(errs, errors.New("semantic routing config: no routing_targets"))
	}
	seen := map[string]bool{}
	for i, t := range c.Targets {
		switch {
		case strings.TrimSpace(t.Name) == "":
			errs = append(errs, fmt.Errorf("semantic routing config: routing_targets[%d]: no name", i))
		case seen[t.Name]:
			errs = append(errs, fmt.Errorf("semantic routing config: routing target %q twice", t.Name))
		case strings.TrimSpace(t.ModelName) == "":
			errs = append(errs, fmt.Errorf("semantic routing config: routing target %q: no model_name", t.Name))
		case len(t.texts()) == 0:
			errs = append(errs, fmt.Errorf("semantic routing config: routing target %q: no examples or description", t.Name))
		}
		seen[t.Name] = true
	}
	return errors.Join(errs...)
}

// texts are what represents a target: its description and its examples.
func (t Target) texts() []string {
	var out []string
	for _, s := range append([]string{t.Description}, t.Examples...) {
		if strings.TrimSpace(s) != "" {
			out = append(out, s)
		}
	}
	return out
}
