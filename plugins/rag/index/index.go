// Package index is the vector index behind retrieval-augmented generation and
// embedding-based routing: normalised vectors (float32, or int8 with a
// symmetric per-vector scale) searched by cosine similarity, exactly (flat
// scan) for small collections and through a hierarchical navigable small
// world graph (HNSW, our own implementation) above Options.FlatMax.
//
// An Index is immutable once built: Builder collects vectors and builds one;
// an update or removal is a rebuild (Builder.AddFrom copies what stays from
// an existing Index). WriteFile stores an Index in a versioned, checksummed
// file whose sections are the in-memory arrays themselves, so Open maps the
// file (mmap on unix) and searches it without copying.
//
// Search and SearchExact are safe for concurrent use; Close is not safe
// concurrently with them.
package index

import (
	"errors"
	"fmt"
)

// Kind is how an Index stores its vectors.
type Kind uint8

const (
	// Float32 stores each normalised vector as float32 (dim×4 bytes).
	Float32 Kind = 0
	// Int8 stores each normalised vector as int8 with a symmetric
	// per-vector scale (dim+4 bytes); similarity is an integer dot product
	// times both scales, so scores are approximate (about 1e-3).
	Int8 Kind = 1
)

// String names the kind ("float32", "int8").
func (k Kind) String() string {
	switch k {
	case Float32:
		return "float32"
	case Int8:
		return "int8"
	}
	return fmt.Sprintf("kind(%d)", uint8(k))
}

// Options tune an index build. The zero value is usable: every zero field
// takes its default.
type Options struct {
	// Kind is the vector storage (Float32 by default).
	Kind Kind
	// M is the number of graph neighbours per node on the upper layers
	// (twice that on layer 0). Default 16.
	M int
	// EfConstruction is the candidate list size while building. Default 128.
	EfConstruction int
	// EfSearch is the default candidate list size while searching (at least
	// k is used). Stored in the file. Default 96.
	EfSearch int
	// FlatMax: an index with fewer vectors than this has no graph and is
	// always searched exactly. 0 means a default derived from the
	// dimension (a flat scan stays well under 5 ms on one core); a negative
	// value always builds the graph.
	FlatMax int
	// Seed makes the build deterministic: the same vectors added in the same
	// order with the same options give the same index, byte for byte.
	Seed int64
	// Progress, if set, is called by Build from its own goroutine as the
	// graph grows (every 1024 nodes inserted, and once at the end) with the
	// nodes inserted so far and the number to insert: a graph of 100k × 768
	// takes minutes of CPU. Not stored.
	Progress func(done, total int)
}

// Result is one search hit.
type Result struct {
	// ID is the id given to Builder.Add.
	ID uint32
	// Score is the cosine similarity to the query (vectors are normalised),
	// in [-1, 1]; approximate for Int8.
	Score float32
}

// Errors that callers may test with errors.Is.
var (
	// ErrDim is a vector or query whose length is not the index dimension.
	ErrDim = errors.New("index: wrong vector dimension")
	// ErrFormat is a file that is not an index, is of another version, or
	// is corrupt or truncated.
	ErrFormat = errors.New("index: bad index file")
)
