package index

import "slices"

// none marks a removed node in a position map.
const none = ^uint32(0)

// graphBase is the graph of the kept nodes of an old index, in the new
// positions (0..kept-1), copied by AddFrom for Build to extend.
type graphBase struct {
	// first[p] is the span of node p's layer 0; its layer l is span
	// first[p]+l, up to first[p+1]-1.
	first []uint32
	// spans[k]..spans[k+1] is span k's slice of adj.
	spans []uint32
	adj   []uint32
	// repair lists the spans that lost a neighbour: they hold the kept
	// neighbours and the kept neighbours of the removed ones, to be
	// re-selected by Build.
	repair []uint32
	entry  uint32
}

// copyGraph copies the links of ix among the nodes newPos keeps (newPos[p]
// is the new position of old position p, or none).
func copyGraph(ix *Index, newPos []uint32) *graphBase {
	g := &graphBase{first: []uint32{0}, spans: []uint32{0}, entry: none}
	mark := make([]uint32, ix.n) // generation of the last span p was added to
	gen := uint32(0)
	var top uint8
	for p := range ix.n {
		np := newPos[p]
		if np == none {
			continue
		}
		level := ix.levels[p]
		if g.entry == none || level > top {
			g.entry, top = np, level // the first kept node of the top level
		}
		for l := range int(level) + 1 {
			gen++
			mark[p] = gen
			lost := false
			for _, e := range ix.neighbours(uint32(p), l) {
				if newPos[e] == none {
					lost = true
				} else if mark[e] != gen {
					mark[e] = gen
					g.adj = append(g.adj, newPos[e])
				}
			}
			if lost {
				// At most twice the list's capacity of candidates: the
				// relinking costs a similarity per candidate, and more
				// per pair kept.
				capacity := ix.m
				if l == 0 {
					capacity = 2 * ix.m
				}
				limit := int(g.spans[len(g.spans)-1]) + 2*capacity
				for _, e := range ix.neighbours(uint32(p), l) {
					if newPos[e] != none {
						continue
					}
					for _, f := range ix.neighbours(e, l) {
						if len(g.adj) >= limit {
							break
						}
						if newPos[f] != none && mark[f] != gen {
							mark[f] = gen
							g.adj = append(g.adj, newPos[f])
						}
					}
				}
				g.repair = append(g.repair, uint32(len(g.spans)-1))
			}
			g.spans = append(g.spans, uint32(len(g.adj)))
		}
		g.first = append(g.first, uint32(len(g.spans)-1))
	}
	if newPos[ix.entry] != none {
		g.entry = newPos[ix.entry] // keep the old entry when it stays
	}
	return g
}

// extendGraph lays out the graph of g's kept nodes, re-selects the
// neighbours of those that lost one, and inserts the nodes added after them.
func (ix *Index) extendGraph(g *graphBase, efC int, seed int64, progress func(int, int)) {
	kept := len(g.first) - 1
	ix.levels = make([]uint8, ix.n)
	ix.upperOff = make([]uint32, ix.n)
	for p := range kept {
		ix.levels[p] = uint8(g.first[p+1] - g.first[p] - 1)
	}
	ix.drawLevels(kept, seed)
	ix.entry = g.entry
	ix.maxLevel = int(ix.levels[g.entry])

	// Kept links, in place; repaired spans are written below.
	repair := g.repair
	var cands, chosen []item
	for p := range kept {
		for l := range int(ix.levels[p]) + 1 {
			k := g.first[p] + uint32(l)
			nb := g.adj[g.spans[k]:g.spans[k+1]]
			lst := ix.list(uint32(p), l)
			capacity := len(lst) - 1
			if len(repair) > 0 && repair[0] == k {
				repair = repair[1:]
				cands = cands[:0]
				for _, e := range nb {
					cands = append(cands, item{ix.nodeSim(uint32(p), e), e})
				}
				slices.SortFunc(cands, byBest)
				chosen = ix.selectNeighbours(cands, capacity, chosen[:0])
				lst[0] = uint32(len(chosen))
				for i, c := range chosen {
					lst[1+i] = c.pos
				}
				continue
			}
			nb = nb[:min(len(nb), capacity)]
			lst[0] = uint32(len(nb))
			copy(lst[1:], nb)
		}
	}
	ix.insertFrom(kept, efC, progress)
}

// byBest orders items best first.
func byBest(a, b item) int {
	if worse(a, b) {
		return 1
	}
	if worse(b, a) {
		return -1
	}
	return 0
}
