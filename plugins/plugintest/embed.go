package plugintest

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"math"
	"strings"
	"sync"
	"unicode"

	"github.com/llmrouter/llm-router/plugins"
)

// BagOfWords returns a deterministic embedding of text: its words (runs of
// letters and digits, lower-cased, three or more characters) hashed into
// dim signed buckets, L2-normalised. Texts that share words are near;
// texts that share none are nearly orthogonal. A text without words is the
// zero vector.
func BagOfWords(text string, dim int) []float32 {
	v := make([]float32, dim)
	for _, w := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !unicode.IsLetter(r) && !unicode.IsDigit(r)
	}) {
		if len([]rune(w)) < 3 {
			continue
		}
		h := fnv.New32a()
		h.Write([]byte(w))
		x := h.Sum32()
		if x&(1<<31) != 0 {
			v[int(x%uint32(dim))]--
		} else {
			v[int(x%uint32(dim))]++
		}
	}
	var n float64
	for _, f := range v {
		n += float64(f) * float64(f)
	}
	if n > 0 {
		s := float32(1 / math.Sqrt(n))
		for i := range v {
			v[i] *= s
		}
	}
	return v
}

// Embedder is a plugins.Embedder answering BagOfWords vectors of Dim
// dimensions for the models in Models (any model when Models is empty).
// Down makes it fail like an unreachable embedding model.
type Embedder struct {
	Dim    int
	Models []string

	mu    sync.Mutex
	down  bool
	calls int
	texts int
}

// SetDown makes later calls fail (true) or succeed again.
func (e *Embedder) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
}

// Calls returns how many Embed calls there were, and how many texts they carried.
func (e *Embedder) Calls() (calls, texts int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls, e.texts
}

// Embed implements plugins.Embedder.
func (e *Embedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	e.mu.Lock()
	e.calls++
	e.texts += len(texts)
	down := e.down
	e.mu.Unlock()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if down {
		return nil, fmt.Errorf("embedding model %q: all providers failed: %w", model, plugins.ErrServiceUnavailable)
	}
	if len(e.Models) > 0 && !contains(e.Models, model) {
		return nil, fmt.Errorf("embedding model %q: %w", model, errors.New("unknown model"))
	}
	out := make([][]float32, len(texts))
	for i, t := range texts {
		out[i] = BagOfWords(t, e.Dim)
	}
	return out, nil
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
