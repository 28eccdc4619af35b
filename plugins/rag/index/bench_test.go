package index

import (
	"fmt"
	"testing"
)

// benchIndexes caches the indexes of BenchmarkSearch per size: a graph of
// 100k × 768 takes minutes to build.
type benchIndexes map[string]*Index

func (c benchIndexes) get(b *testing.B, n, dim int, o Options) (*Index, [][]float32) {
	b.Helper()
	all := clustered(n+256, dim, 200, 21)
	key := fmt.Sprint(n, dim, o)
	ix, ok := c[key]
	if !ok {
		ix = build(b, all[:n], o, func(i int) uint32 { return uint32(i) })
		c[key] = ix
	}
	return ix, all[n:]
}

// BenchmarkSearch is one top-10 query at a time: flat (exact) and through
// the graph, float32 and int8, at 10k and 100k × 768 (100k not under
// -short).
func BenchmarkSearch(b *testing.B) {
	cache := benchIndexes{}
	for _, n := range []int{10000, 100000} {
		for _, kind := range []Kind{Float32, Int8} {
			for _, mode := range []string{"flat", "hnsw"} {
				b.Run(fmt.Sprintf("%s/%s/%dx768", mode, kind, n), func(b *testing.B) {
					if n > 10000 && testing.Short() {
						b.Skip("100k × 768 builds for minutes; not under -short")
					}
					ix, qs := cache.get(b, n, 768, Options{Kind: kind, FlatMax: -1, Seed: 1})
					b.ReportAllocs()
					b.ResetTimer()
					for i := 0; b.Loop(); i++ {
						q := qs[i%len(qs)]
						if mode == "flat" {
							ix.SearchExact(q, 10)
						} else {
							ix.Search(q, 10)
						}
					}
				})
			}
		}
	}
}

// BenchmarkBuild is a graph build of 5000 × 768 vectors.
func BenchmarkBuild(b *testing.B) {
	data := clustered(5000, 768, 50, 22)
	for b.Loop() {
		build(b, data, Options{FlatMax: -1, Seed: 1}, func(i int) uint32 { return uint32(i) })
	}
}

// BenchmarkRebuild is an update of 1% of a 5000 × 768 index: 50 vectors
// removed, 50 added, the graph reused.
func BenchmarkRebuild(b *testing.B) {
	all := clustered(5050, 768, 50, 24)
	o := Options{FlatMax: -1, Seed: 1}
	old := build(b, all[:5000], o, func(i int) uint32 { return uint32(i) })
	b.ResetTimer()
	for b.Loop() {
		nb := NewBuilder(768, o)
		if err := nb.AddFrom(old, func(id uint32) bool { return id >= 50 }); err != nil {
			b.Fatal(err)
		}
		for i, v := range all[5000:] {
			if err := nb.Add(uint32(5000+i), v); err != nil {
				b.Fatal(err)
			}
		}
		if _, err := nb.Build(); err != nil {
			b.Fatal(err)
		}
	}
}
