package index

// Builder collects vectors for a new Index. It is not safe for concurrent
// use.
type Builder struct {
	dim  int
	opts Options
	ids  []uint32
	vecs []float32 // normalised, len(ids)*dim
	seen map[uint32]struct{}
	err  error
}

// NewBuilder returns a Builder for vectors of length dim.
func NewBuilder(dim int, o Options) *Builder {
	panic("not implemented yet")
}

// Add adds the vector vec under id. The vector is normalised (a copy is
// kept); q need not be normalised. A vector of the wrong length is an error
// naming both dimensions (wrapping ErrDim); a zero, NaN or infinite vector
// and an id added twice are errors too.
func (b *Builder) Add(id uint32, vec []float32) error {
	panic("not implemented yet")
}

// AddFrom adds every vector of ix whose id keep accepts (all of them when
// keep is nil), as stored (no re-normalisation, so an Int8 index rebuilt
// into Int8 keeps its exact vectors). This is how a collection updates or
// removes vectors: AddFrom the old index keeping what did not change, Add
// the new vectors, Build. ix must have the Builder's dimension.
func (b *Builder) AddFrom(ix *Index, keep func(id uint32) bool) error {
	panic("not implemented yet")
}

// Len is the number of vectors added so far.
func (b *Builder) Len() int { return len(b.ids) }

// Build builds the index: the vectors, and the graph when there are at least
// Options.FlatMax of them. The Builder may not be used afterwards.
func (b *Builder) Build() (*Index, error) {
	panic("not implemented yet")
}
