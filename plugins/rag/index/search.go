package index

import (
	"cmp"
	"slices"
	"sync"
)

// Index is a built or opened vector index. Its methods are safe for
// concurrent use, except Close.
//
// Every array below is what the file holds, section by section: an opened
// index's slices point into the mapped file.
type Index struct {
	dim      int
	n        int
	kind     Kind
	m        int // neighbours per node on layers >= 1; 2m on layer 0
	efSearch int

	ids       []uint32 // position -> id, insertion order
	sortedIDs []uint32 // ids ascending
	sortedPos []uint32 // position of sortedIDs[i]

	f32    []float32 // Float32: n*dim
	i8     []int8    // Int8: n*dim
	scales []float32 // Int8: n

	graph    bool
	entry    uint32
	maxLevel int
	levels   []uint8  // n: top layer of each node
	upperOff []uint32 // n: start of the node's layer-1.. lists in upper
	layer0   []uint32 // n*(1+2m): count, then up to 2m neighbours
	upper    []uint32 // per node with level L >= 1: L lists of count + m

	payload int64 // bytes of the arrays (the file minus its header)
	release func() error
	pool    sync.Pool // *scratch
}

// scratch is one search's working memory, pooled per index.
type scratch struct {
	q       []float32 // normalised query (Float32)
	qi      []int8    // quantised query (Int8)
	qs      float32   // its scale
	visited []uint32  // per node: epoch of the last visit
	epoch   uint32
	cand    bestHeap
	res     worstHeap
	// build only: neighbour selection
	sel, pruned, linkCands, linkOut []item
}

// item is a node position with its similarity to the current query.
type item struct {
	sim float32
	pos uint32
}

// worse reports whether a ranks below b: lower similarity, or the same and a
// later position.
func worse(a, b item) bool {
	return a.sim < b.sim || (a.sim == b.sim && a.pos > b.pos)
}

// worstHeap keeps the worst item on top (the bounded result set).
type worstHeap []item

func (h *worstHeap) push(x item) {
	s := append(*h, x)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !worse(s[i], s[p]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
	*h = s
}

func (h *worstHeap) pop() item {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && worse(s[r], s[l]) {
			c = r
		}
		if !worse(s[c], s[i]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

// bestHeap keeps the best item on top (the candidates to expand).
type bestHeap []item

func (h *bestHeap) push(x item) {
	s := append(*h, x)
	i := len(s) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !worse(s[p], s[i]) {
			break
		}
		s[i], s[p] = s[p], s[i]
		i = p
	}
	*h = s
}

func (h *bestHeap) pop() item {
	s := *h
	top := s[0]
	last := len(s) - 1
	s[0] = s[last]
	s = s[:last]
	for i := 0; ; {
		l := 2*i + 1
		if l >= len(s) {
			break
		}
		c := l
		if r := l + 1; r < len(s) && worse(s[l], s[r]) {
			c = r
		}
		if !worse(s[i], s[c]) {
			break
		}
		s[i], s[c] = s[c], s[i]
		i = c
	}
	*h = s
	return top
}

// Len is the number of vectors.
func (ix *Index) Len() int { return ix.n }

// Dim is the vector dimension.
func (ix *Index) Dim() int { return ix.dim }

// Kind is the vector storage.
func (ix *Index) Kind() Kind { return ix.kind }

// HasGraph reports whether the index has an HNSW graph (else every search is
// a flat scan).
func (ix *Index) HasGraph() bool { return ix.graph }

// Bytes is the size of the index's data (vectors, ids and graph): the file
// size minus its header, and about the memory the index occupies.
func (ix *Index) Bytes() int64 { return ix.payload }

// init prepares the scratch pool once the arrays are in place.
func (ix *Index) init() {
	ix.pool.New = func() any {
		s := &scratch{}
		if ix.kind == Int8 {
			s.qi = make([]int8, ix.dim)
		}
		s.q = make([]float32, ix.dim)
		if ix.graph {
			s.visited = make([]uint32, ix.n)
		}
		return s
	}
}

// setQuery normalises q into s (and quantises it for Int8); false for a
// query of the wrong length or a zero/NaN/infinite one.
func (ix *Index) setQuery(s *scratch, q []float32) bool {
	if len(q) != ix.dim || !normalise(s.q, q) {
		return false
	}
	if ix.kind == Int8 {
		s.qs = quantise(s.qi, s.q)
	}
	return true
}

// sim is the similarity of the query in s to the node at pos.
func (ix *Index) sim(s *scratch, pos uint32) float32 {
	d := ix.dim
	o := int(pos) * d
	if ix.kind == Int8 {
		return float32(dotI8(s.qi, ix.i8[o:o+d])) * s.qs * ix.scales[pos]
	}
	return dotF32(s.q, ix.f32[o:o+d])
}

// nodeSim is the similarity of two stored vectors.
func (ix *Index) nodeSim(a, b uint32) float32 {
	d := ix.dim
	oa, ob := int(a)*d, int(b)*d
	if ix.kind == Int8 {
		return float32(dotI8(ix.i8[oa:oa+d], ix.i8[ob:ob+d])) * ix.scales[a] * ix.scales[b]
	}
	return dotF32(ix.f32[oa:oa+d], ix.f32[ob:ob+d])
}

// Search returns the k vectors most similar to q, best first (ties by
// ascending id): through the graph when the index has one (approximate),
// else exactly. q need not be normalised. A q of the wrong length (see Dim),
// a zero q or k <= 0 gives nil; k larger than Len gives Len results.
func (ix *Index) Search(q []float32, k int) []Result {
	return ix.SearchEf(q, k, ix.efSearch)
}

// SearchEf is Search with the graph's candidate list size ef instead of the
// index's default (larger: slower, better recall; at least k is used).
func (ix *Index) SearchEf(q []float32, k, ef int) []Result {
	if !ix.graph {
		return ix.SearchExact(q, k)
	}
	if k <= 0 || ix.n == 0 {
		return nil
	}
	s := ix.pool.Get().(*scratch)
	defer ix.pool.Put(s)
	if !ix.setQuery(s, q) {
		return nil
	}
	cur := ix.entry
	curSim := ix.sim(s, cur)
	for l := ix.maxLevel; l > 0; l-- {
		cur, curSim = ix.greedy(s, cur, curSim, l)
	}
	ix.searchLayer(s, cur, curSim, max(ef, k), 0)
	for len(s.res) > k {
		s.res.pop()
	}
	return ix.results(&s.res)
}

// SearchExact returns the k vectors most similar to q by a full scan, best
// first (ties by ascending id), with the same rules as Search.
func (ix *Index) SearchExact(q []float32, k int) []Result {
	if k <= 0 || ix.n == 0 {
		return nil
	}
	s := ix.pool.Get().(*scratch)
	defer ix.pool.Put(s)
	if !ix.setQuery(s, q) {
		return nil
	}
	k = min(k, ix.n)
	h := s.res[:0]
	d := ix.dim
	for p := 0; p < ix.n; p++ {
		var sim float32
		if ix.kind == Int8 {
			sim = float32(dotI8(s.qi, ix.i8[p*d:p*d+d])) * s.qs * ix.scales[p]
		} else {
			sim = dotF32(s.q, ix.f32[p*d:p*d+d])
		}
		if len(h) < k {
			h.push(item{sim, uint32(p)})
		} else if sim > h[0].sim || (sim == h[0].sim && ix.ids[p] < ix.ids[h[0].pos]) {
			h.pop()
			h.push(item{sim, uint32(p)})
		}
	}
	s.res = h
	return ix.results(&s.res)
}

// results empties h into a new slice, best first, ties by ascending id.
func (ix *Index) results(h *worstHeap) []Result {
	out := make([]Result, len(*h))
	for i := len(out) - 1; i >= 0; i-- {
		it := h.pop()
		out[i] = Result{ID: ix.ids[it.pos], Score: it.sim}
	}
	slices.SortStableFunc(out, func(a, b Result) int {
		if c := cmp.Compare(b.Score, a.Score); c != 0 {
			return c
		}
		return cmp.Compare(a.ID, b.ID)
	})
	return out
}

// neighbours is the neighbour list of the node at pos on layer l.
func (ix *Index) neighbours(pos uint32, l int) []uint32 {
	if l == 0 {
		w := 1 + 2*ix.m
		b := ix.layer0[int(pos)*w : int(pos)*w+w]
		return b[1 : 1+b[0]]
	}
	w := 1 + ix.m
	o := int(ix.upperOff[pos]) + (l-1)*w
	b := ix.upper[o : o+w]
	return b[1 : 1+b[0]]
}

// greedy walks layer l from cur to a local best for the query in s.
func (ix *Index) greedy(s *scratch, cur uint32, curSim float32, l int) (uint32, float32) {
	for changed := true; changed; {
		changed = false
		for _, e := range ix.neighbours(cur, l) {
			if d := ix.sim(s, e); d > curSim {
				cur, curSim, changed = e, d, true
			}
		}
	}
	return cur, curSim
}

// searchLayer is the HNSW beam search on layer l from ep: s.res ends with
// the (up to) ef best nodes found.
func (ix *Index) searchLayer(s *scratch, ep uint32, epSim float32, ef, l int) {
	s.epoch++
	if s.epoch == 0 {
		clear(s.visited)
		s.epoch = 1
	}
	epoch := s.epoch
	visited := s.visited
	cand, res := s.cand[:0], s.res[:0]
	visited[ep] = epoch
	cand.push(item{epSim, ep})
	res.push(item{epSim, ep})
	for len(cand) > 0 {
		c := cand.pop()
		if len(res) >= ef && c.sim < res[0].sim {
			break
		}
		for _, e := range ix.neighbours(c.pos, l) {
			if visited[e] == epoch {
				continue
			}
			visited[e] = epoch
			d := ix.sim(s, e)
			if len(res) < ef || d > res[0].sim {
				cand.push(item{d, e})
				res.push(item{d, e})
				if len(res) > ef {
					res.pop()
				}
			}
		}
	}
	s.cand, s.res = cand, res
}

// position is the position of id, by binary search of the sorted ids.
func (ix *Index) position(id uint32) (int, bool) {
	i, ok := slices.BinarySearch(ix.sortedIDs, id)
	if !ok {
		return 0, false
	}
	return int(ix.sortedPos[i]), true
}

// Contains reports whether id is in the index.
func (ix *Index) Contains(id uint32) bool {
	_, ok := ix.position(id)
	return ok
}

// Vector returns a copy of the stored (normalised; for Int8 dequantised)
// vector of id, for rebuilding after an update or removal.
func (ix *Index) Vector(id uint32) ([]float32, bool) {
	p, ok := ix.position(id)
	if !ok {
		return nil, false
	}
	v := make([]float32, ix.dim)
	ix.vectorAt(v, p)
	return v, true
}

// vectorAt writes the vector at position p into v.
func (ix *Index) vectorAt(v []float32, p int) {
	d := ix.dim
	if ix.kind == Int8 {
		sc := ix.scales[p]
		for i, x := range ix.i8[p*d : p*d+d] {
			v[i] = float32(x) * sc
		}
		return
	}
	copy(v, ix.f32[p*d:p*d+d])
}

// IDs returns the ids in the index, in insertion order (a copy).
func (ix *Index) IDs() []uint32 { return slices.Clone(ix.ids) }
