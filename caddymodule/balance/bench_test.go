package balance

import (
	"context"
	"testing"
)

// BenchmarkAcquireRelease measures one acquire + release per strategy, in
// memory and against a local redis-server (one script call each way).
func BenchmarkAcquireRelease(b *testing.B) {
	kinds := []Kind{Balanced, Weighted, DynamicWeighted, FirstAvailable, FirstAvailableOptim}
	cs := []Candidate{
		{ID: "p1", Host: "h1", Weight: 3}, {ID: "p2", Host: "h2", Weight: 2},
		{ID: "p3", Host: "h3", Weight: 1}, {ID: "p4", Host: "h1", Weight: 1},
	}
	run := func(b *testing.B, bal *Balancer, k Kind) {
		s := Policy{Kind: k}
		ctx := context.Background()
		b.ReportAllocs()
		for b.Loop() {
			l, err := bal.Acquire(ctx, "model", s, cs, nil)
			if err != nil {
				b.Fatal(err)
			}
			l.Release(Outcome{Result: Success})
		}
	}
	b.Run("memory", func(b *testing.B) {
		for _, k := range kinds {
			b.Run(k.String(), func(b *testing.B) { run(b, newTest(b, Options{}), k) })
		}
	})
	b.Run("redis", func(b *testing.B) {
		r := startRedis(b)
		for _, k := range kinds {
			b.Run(k.String(), func(b *testing.B) { run(b, r.router(b, uniquePrefix(), Options{}), k) })
		}
	})
}

// BenchmarkAcquireReleaseParallel is the memory store under contention.
func BenchmarkAcquireReleaseParallel(b *testing.B) {
	bal := newTest(b, Options{})
	cs := []Candidate{{ID: "p1", Weight: 1}, {ID: "p2", Weight: 1}, {ID: "p3", Weight: 1}}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			l, err := bal.Acquire(context.Background(), "model", nil, cs, nil)
			if err != nil {
				b.Error(err)
				return
			}
			l.Release(Outcome{})
		}
	})
}
