package rag

import (
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

// OpenCollection opens a collection written by `llm-router rag index`
// (package collection): memory-mapped vectors, chunk texts read when found.
// A collection that does not exist is an error wrapping fs.ErrNotExist.
func OpenCollection(dir, name string) (Store, io.Closer, error) {
	c, err := collection.Open(dir, name)
	if err != nil {
		if errors.Is(err, collection.ErrNotFound) && !errors.Is(err, fs.ErrNotExist) {
			err = fmt.Errorf("%w: %w", fs.ErrNotExist, err)
		}
		return nil, nil, err
	}
	return store{c}, c, nil
}

// store adapts a collection to Store.
type store struct{ c *collection.Collection }

func (s store) Search(vec []float32, k int, minScore float32) ([]Hit, error) {
	hits, err := s.c.Search(vec, k, minScore)
	if err != nil {
		return nil, err
	}
	out := make([]Hit, len(hits))
	for i, h := range hits {
		out[i] = Hit{Doc: h.Doc, Chunk: h.Chunk, Text: h.Text, Score: h.Score}
	}
	return out, nil
}

func (s store) Model() string  { return s.c.Model() }
func (s store) Dim() int       { return s.c.Dim() }
func (s store) ChunkSize() int { return s.c.ChunkSize() }
