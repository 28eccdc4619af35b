package balance

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"pgregory.net/rapid"

	"github.com/llmrouter/llm-router/caddymodule/rdb"
	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
)

// clusterClient opens a go-redis Cluster client on addrs, closed after
// the balancers that use it.
func clusterClient(t testing.TB, addrs []string) redis.UniversalClient {
	t.Helper()
	c, err := rdb.Options{Cluster: addrs}.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// The Redis store on a real three-master Redis Cluster: the same rules as on
// one server (shared counters, exclusive leases woken across routers by
// the release channel, the lease model), with every key in one hash slot.
func TestRedisCluster(t *testing.T) {
	cl := rdbtest.StartCluster(t, 3)
	router := func(t testing.TB, prefix string, o Options) *Balancer {
		o.Redis = &RedisConfig{Client: clusterClient(t, cl.Addrs()), Prefix: prefix}
		b := newTest(t, o)
		if st := b.Stats(); !st.RedisUp {
			t.Fatalf("balancer did not connect to the cluster: %+v", st)
		}
		return b
	}

	t.Run("shared counters", func(t *testing.T) {
		for _, tc := range []struct {
			s    Policy
			want []int
		}{
			{Policy{Kind: Balanced}, []int{50, 50, 50}},
			{Policy{Kind: FirstAvailable}, []int{150, 0, 0}},
		} {
			p := uniquePrefix()
			bs := []*Balancer{router(t, p, Options{}), router(t, p, Options{})}
			cs := cands("a", "b", "c")
			n := alternate(t, bs, tc.s, cs, 150)
			if n["a"] != tc.want[0] || n["b"] != tc.want[1] || n["c"] != tc.want[2] {
				t.Fatalf("%s: counts %v, want %v", tc.s.Kind, n, tc.want)
			}
		}
	})

	t.Run("exclusive across routers", func(t *testing.T) {
		for _, k := range []Kind{FirstAvailable, FirstAvailableOptim} {
			p := uniquePrefix()
			// No polling: a waiter is woken only by the other router's
			// release message, published from a script on the cluster.
			o := Options{QueueTimeout: time.Hour, Recheck: time.Hour}
			exclusive(t, []*Balancer{router(t, p, o), router(t, p, o)}, Policy{Kind: k}, 4, 15)
		}
	})

	t.Run("lease model", func(t *testing.T) {
		rapid.Check(t, func(rt *rapid.T) {
			p := uniquePrefix()
			var bs []*Balancer
			for range 2 {
				b, err := New(Options{Cooldown: time.Hour, CooldownAfter: 1, Redis: &RedisConfig{Client: clusterClient(t, cl.Addrs()), Prefix: p}})
				if err != nil {
					rt.Fatal(err)
				}
				defer b.Close()
				bs = append(bs, b)
			}
			runLeaseMachine(rt, bs)
		})
	})

	t.Run("one slot", func(t *testing.T) {
		p := uniquePrefix()
		b := router(t, p, Options{})
		for _, s := range []Policy{{Kind: Balanced}, {Kind: Weighted}, {Kind: FirstAvailableOptim}} {
			l, err := b.Acquire(context.Background(), "m", s, cands("a", "b"), nil)
			if err != nil {
				t.Fatal(err)
			}
			l.Release(Outcome{})
		}
		l, err := b.Acquire(context.Background(), "m", nil, cands("a"), nil)
		if err != nil {
			t.Fatal(err)
		}
		l.Release(Outcome{Result: Failure}) // a cool-down key too
		if err := b.MarkDown(context.Background(), "b", time.Minute); err != nil {
			t.Fatal(err)
		}
		tag := "{" + strings.TrimSuffix(p, ":") + "}:"
		var holders []string
		for _, n := range cl.Nodes {
			keys, err := n.Client().Keys(context.Background(), tag+"*").Result()
			if err != nil {
				t.Fatal(err)
			}
			if len(keys) > 0 {
				holders = append(holders, n.Addr())
			}
		}
		if len(holders) != 1 {
			t.Fatalf("the balancer's keys (%s*) live on %d nodes %v, want exactly one", tag, len(holders), holders)
		}
	})
}

// A cluster whose slots were never assigned: the balancer says which slot
// is missing and how to fix it, and balances on local state meanwhile.
func TestRedisClusterWithoutSlots(t *testing.T) {
	cl := rdbtest.StartClusterNodes(t, 3)
	core, logs := observer.New(zap.WarnLevel)
	b := newTest(t, Options{Logger: zap.New(core), Redis: &RedisConfig{Client: clusterClient(t, cl.Addrs())}})
	if b.Stats().RedisUp {
		t.Fatal("a cluster without slots reported as in use")
	}
	l, err := b.Acquire(context.Background(), "m", nil, cands("a"), nil)
	if err != nil {
		t.Fatalf("no local fallback: %v", err)
	}
	l.Release(Outcome{})
	found := false
	for _, e := range logs.All() {
		if strings.Contains(fmt_(e.ContextMap()), "no node serves hash slot") && strings.Contains(fmt_(e.ContextMap()), "--cluster") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no clear warning about the unserved slot: %v", logs.All())
	}
}

func fmt_(m map[string]any) string { return fmt.Sprint(m) }
