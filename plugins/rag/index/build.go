package index

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
)

// Defaults and limits of Options.
const (
	defaultM        = 16
	defaultEfC      = 128
	defaultEfSearch = 96
	// flatBudget is the flat scan a default FlatMax allows: n·dim
	// multiply-adds, about a millisecond on one core.
	flatBudget = 4 << 20
	maxDim     = 1 << 16
	maxM       = 128
	maxLevel   = 24
	maxN       = 1<<31 - 1
)

// Builder collects vectors for a new Index. It is not safe for concurrent
// use.
type Builder struct {
	dim  int
	opts Options
	ids  []uint32
	vecs []float32 // normalised, len(ids)*dim
	seen map[uint32]struct{}
	base *graphBase // the graph AddFrom copied, if any
	err  error
}

// NewBuilder returns a Builder for vectors of length dim. Invalid options
// (a dim outside 1..65536, an unknown Kind, M outside 2..128, EfSearch
// above 2^20) make Add and Build fail.
func NewBuilder(dim int, o Options) *Builder {
	b := &Builder{dim: dim, opts: o, seen: make(map[uint32]struct{})}
	switch {
	case dim < 1 || dim > maxDim:
		b.err = fmt.Errorf("index: dimension %d outside 1..%d", dim, maxDim)
	case o.Kind != Float32 && o.Kind != Int8:
		b.err = fmt.Errorf("index: unknown vector kind %d", o.Kind)
	case o.M != 0 && (o.M < 2 || o.M > maxM):
		b.err = fmt.Errorf("index: M %d outside 2..%d", o.M, maxM)
	case o.EfConstruction < 0 || o.EfSearch < 0 || o.EfSearch > maxEfSearch:
		b.err = fmt.Errorf("index: EfConstruction %d or EfSearch %d outside 0..%d", o.EfConstruction, o.EfSearch, maxEfSearch)
	}
	if b.opts.M == 0 {
		b.opts.M = defaultM
	}
	if b.opts.EfConstruction == 0 {
		b.opts.EfConstruction = defaultEfC
	}
	if b.opts.EfSearch == 0 {
		b.opts.EfSearch = defaultEfSearch
	}
	if b.opts.FlatMax == 0 && dim > 0 {
		b.opts.FlatMax = max(flatBudget/dim, 2*b.opts.M)
	}
	return b
}

// Add adds the vector vec under id. The vector is normalised (a copy is
// kept). A vector of the wrong length is an error naming both dimensions
// (wrapping ErrDim); a zero, NaN or infinite vector and an id added twice
// are errors too.
func (b *Builder) Add(id uint32, vec []float32) error {
	if err := b.check(id, len(vec)); err != nil {
		return err
	}
	start := len(b.vecs)
	b.vecs = slices.Grow(b.vecs, b.dim)[:start+b.dim]
	if !normalise(b.vecs[start:], vec) {
		b.vecs = b.vecs[:start]
		return fmt.Errorf("index: vector of id %d is zero, NaN or infinite", id)
	}
	b.ids = append(b.ids, id)
	b.seen[id] = struct{}{}
	return nil
}

// check validates an addition.
func (b *Builder) check(id uint32, n int) error {
	if b.err != nil {
		return b.err
	}
	if b.vecs == nil && b.ids == nil && b.seen == nil {
		return errors.New("index: Builder used after Build")
	}
	if n != b.dim {
		return fmt.Errorf("%w: vector of id %d has %d dimensions, the index %d", ErrDim, id, n, b.dim)
	}
	if _, dup := b.seen[id]; dup {
		return fmt.Errorf("index: id %d added twice", id)
	}
	if len(b.ids) >= maxN {
		return fmt.Errorf("index: more than %d vectors", maxN)
	}
	return nil
}

// AddFrom adds every vector of ix whose id keep accepts (all of them when
// keep is nil), as stored (no re-normalisation, so an Int8 index rebuilt
// into Int8 keeps its vectors). This is how a collection updates or removes
// vectors: AddFrom the old index keeping what did not change, Add the new
// vectors, Build. ix must have the Builder's dimension; it may be closed
// once AddFrom returns.
//
// When AddFrom is the Builder's first addition, ix has a graph of the same
// Kind and M, and at least half of its vectors are kept, Build reuses that
// graph: the kept nodes keep their links (a node that lost a neighbour is
// relinked among its former two-hop neighbours) and only the added vectors
// are inserted, so a small update costs in proportion to its size, not to
// the collection's.
func (b *Builder) AddFrom(ix *Index, keep func(id uint32) bool) error {
	if ix.dim != b.dim {
		return fmt.Errorf("%w: index has %d dimensions, the builder %d", ErrDim, ix.dim, b.dim)
	}
	adopt := len(b.ids) == 0 && b.base == nil && ix.graph && ix.kind == b.opts.Kind && ix.m == b.opts.M
	var newPos []uint32
	if adopt {
		newPos = make([]uint32, ix.n)
	}
	kept := 0
	for p, id := range ix.ids {
		if keep != nil && !keep(id) {
			if adopt {
				newPos[p] = none
			}
			continue
		}
		if err := b.check(id, ix.dim); err != nil {
			return err
		}
		start := len(b.vecs)
		b.vecs = slices.Grow(b.vecs, b.dim)[:start+b.dim]
		ix.vectorAt(b.vecs[start:], p)
		b.ids = append(b.ids, id)
		b.seen[id] = struct{}{}
		if adopt {
			newPos[p] = uint32(kept)
		}
		kept++
	}
	if adopt && kept > 0 && 2*kept >= ix.n {
		b.base = copyGraph(ix, newPos)
	}
	return nil
}

// Len is the number of vectors added so far.
func (b *Builder) Len() int { return len(b.ids) }

// Build builds the index: the vectors, and the graph when there are at least
// Options.FlatMax of them (and more than one). The Builder may not be used
// afterwards.
func (b *Builder) Build() (*Index, error) {
	if b.err != nil {
		return nil, b.err
	}
	if b.seen == nil {
		return nil, errors.New("index: Builder used after Build")
	}
	o := b.opts
	n := len(b.ids)
	ix := &Index{
		dim:      b.dim,
		n:        n,
		kind:     o.Kind,
		m:        o.M,
		efSearch: o.EfSearch,
		ids:      b.ids,
	}
	if ix.ids == nil {
		ix.ids = []uint32{}
	}
	if o.Kind == Int8 {
		ix.i8 = make([]int8, n*b.dim)
		ix.scales = make([]float32, n)
		for p := range n {
			ix.scales[p] = quantise(ix.i8[p*b.dim:(p+1)*b.dim], b.vecs[p*b.dim:(p+1)*b.dim])
		}
	} else {
		ix.f32 = b.vecs[: n*b.dim : n*b.dim]
	}
	b.ids, b.vecs, b.seen = nil, nil, nil

	ix.sortedIDs = slices.Clone(ix.ids)
	ix.sortedPos = make([]uint32, n)
	for p := range ix.sortedPos {
		ix.sortedPos[p] = uint32(p)
	}
	slices.SortFunc(ix.sortedPos, func(a, c uint32) int { return cmp.Compare(ix.ids[a], ix.ids[c]) })
	for i, p := range ix.sortedPos {
		ix.sortedIDs[i] = ix.ids[p]
	}
	base := b.base
	b.base = nil
	if n > 1 && (o.FlatMax < 0 || n >= o.FlatMax) {
		if base != nil {
			ix.extendGraph(base, o.EfConstruction, o.Seed, o.Progress)
		} else {
			ix.buildGraph(o.EfConstruction, o.Seed, o.Progress)
		}
	}
	ix.payload = int64(layoutOf(ix.header()).total)
	ix.init()
	return ix, nil
}

// buildGraph inserts every node, in position order, into a new HNSW graph.
// Node levels are drawn up front from Seed, so the arrays are sized once and
// the build is deterministic.
func (ix *Index) buildGraph(efC int, seed int64, progress func(int, int)) {
	ix.levels = make([]uint8, ix.n)
	ix.upperOff = make([]uint32, ix.n)
	ix.drawLevels(0, seed)
	ix.entry = 0
	ix.maxLevel = int(ix.levels[0])
	ix.insertFrom(1, efC, progress)
}

// drawLevels draws the levels of the nodes from position from on and lays
// out the graph arrays for all nodes (levels[:from] already set).
func (ix *Index) drawLevels(from int, seed int64) {
	n, m := ix.n, ix.m
	rng := rand.New(rand.NewPCG(uint64(seed), 0x9e3779b97f4a7c15))
	ml := 1 / math.Log(float64(m))
	for p := from; p < n; p++ {
		ix.levels[p] = uint8(min(int(-math.Log(1-rng.Float64())*ml), maxLevel))
	}
	total := 0
	for p := range n {
		ix.upperOff[p] = uint32(total)
		total += int(ix.levels[p]) * (1 + m)
	}
	ix.layer0 = make([]uint32, n*(1+2*m))
	ix.upper = make([]uint32, total)
	ix.graph = true
}

// insertFrom inserts the nodes from position from on, in order, reporting
// progress (if not nil).
func (ix *Index) insertFrom(from, efC int, progress func(int, int)) {
	s := &scratch{visited: make([]uint32, ix.n)}
	total := ix.n - from
	for p := from; p < ix.n; p++ {
		ix.insert(s, uint32(p), efC)
		if done := p - from + 1; progress != nil && (done%1024 == 0 || done == total) {
			progress(done, total)
		}
	}
}

// list is the whole neighbour block of pos on layer l: count, then capacity
// slots.
func (ix *Index) list(pos uint32, l int) []uint32 {
	if l == 0 {
		w := 1 + 2*ix.m
		return ix.layer0[int(pos)*w : int(pos)*w+w]
	}
	w := 1 + ix.m
	o := int(ix.upperOff[pos]) + (l-1)*w
	return ix.upper[o : o+w]
}

// insert links the node at p into the graph (Malkov & Yashunin, algorithm 1,
// with the neighbour-selection heuristic of their algorithm 4).
func (ix *Index) insert(s *scratch, p uint32, efC int) {
	d := ix.dim
	if ix.kind == Int8 {
		s.qi, s.qs = ix.i8[int(p)*d:int(p)*d+d], ix.scales[p]
	} else {
		s.q = ix.f32[int(p)*d : int(p)*d+d]
	}
	level := int(ix.levels[p])
	cur := ix.entry
	curSim := ix.sim(s, cur)
	for l := ix.maxLevel; l > level; l-- {
		cur, curSim = ix.greedy(s, cur, curSim, l)
	}
	for l := min(level, ix.maxLevel); l >= 0; l-- {
		ix.searchLayer(s, cur, curSim, efC, l)
		cands := s.sel[:0]
		for len(s.res) > 0 {
			cands = append(cands, s.res.pop())
		}
		slices.Reverse(cands) // best first
		s.sel = cands
		cur, curSim = cands[0].pos, cands[0].sim

		chosen := ix.selectNeighbours(cands, ix.m, s.pruned[:0])
		s.pruned = chosen
		own := ix.list(p, l)
		own[0] = uint32(len(chosen))
		for i, c := range chosen {
			own[1+i] = c.pos
		}
		for _, c := range chosen {
			ix.link(s, c.pos, p, c.sim, l)
		}
	}
	if level > ix.maxLevel {
		ix.maxLevel, ix.entry = level, p
	}
}

// selectNeighbours keeps, from cands (best first), up to max nodes each
// closer to the query than to any node kept before it: neighbours that point
// in different directions, which keeps clusters connected.
func (ix *Index) selectNeighbours(cands []item, max int, out []item) []item {
	for _, c := range cands {
		if len(out) >= max {
			break
		}
		ok := true
		for _, r := range out {
			if ix.nodeSim(c.pos, r.pos) > c.sim {
				ok = false
				break
			}
		}
		if ok {
			out = append(out, c)
		}
	}
	return out
}

// link adds p (at similarity sim) to the neighbours of e on layer l,
// re-selecting e's neighbours when its list is full.
func (ix *Index) link(s *scratch, e, p uint32, sim float32, l int) {
	lst := ix.list(e, l)
	capacity := len(lst) - 1
	if cnt := int(lst[0]); cnt < capacity {
		lst[1+cnt] = p
		lst[0]++
		return
	}
	cands := append(s.linkCands[:0], item{sim, p})
	for _, x := range lst[1:] {
		cands = append(cands, item{ix.nodeSim(e, x), x})
	}
	slices.SortFunc(cands, byBest)
	chosen := ix.selectNeighbours(cands, capacity, s.linkOut[:0])
	s.linkCands, s.linkOut = cands, chosen
	lst[0] = uint32(len(chosen))
	for i, c := range chosen {
		lst[1+i] = c.pos
	}
}
