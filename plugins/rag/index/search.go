package index

// Index is a built or opened vector index. Its methods are safe for
// concurrent use, except Close.
type Index struct {
	dim  int
	n    int
	kind Kind
}

// Len is the number of vectors.
func (ix *Index) Len() int { return ix.n }

// Dim is the vector dimension.
func (ix *Index) Dim() int { return ix.dim }

// Kind is the vector storage.
func (ix *Index) Kind() Kind { return ix.kind }

// Search returns the k vectors most similar to q, best first: through the
// graph when the index has one (approximate), else exactly. q need not be
// normalised. A q of the wrong length, a zero q or k <= 0 gives nil; k
// larger than Len gives Len results.
func (ix *Index) Search(q []float32, k int) []Result {
	panic("not implemented yet")
}

// SearchEf is Search with the graph's candidate list size ef instead of the
// index's default (larger: slower, better recall).
func (ix *Index) SearchEf(q []float32, k, ef int) []Result {
	panic("not implemented yet")
}

// SearchExact returns the k vectors most similar to q by a full scan, best
// first (ties by ascending id), with the same rules as Search.
func (ix *Index) SearchExact(q []float32, k int) []Result {
	panic("not implemented yet")
}

// Vector returns a copy of the stored (normalised; for Int8 dequantised)
// vector of id, for rebuilding after an update or removal.
func (ix *Index) Vector(id uint32) ([]float32, bool) {
	panic("not implemented yet")
}

// IDs returns the ids in the index, in insertion order (a copy).
func (ix *Index) IDs() []uint32 {
	panic("not implemented yet")
}

// Bytes is the size of the index's data (vectors, ids and graph): the file
// size minus its header, and about the memory the index occupies.
func (ix *Index) Bytes() int64 {
	panic("not implemented yet")
}
