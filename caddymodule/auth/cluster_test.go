package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/rdb"
	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
)

// The Redis rate limiter and key store on a real three-master Redis
// Cluster: the limiter's script touches two keys (one hash slot per API
// key), the store's optimistic save watches one.
func TestRedisCluster(t *testing.T) {
	cl := rdbtest.StartCluster(t, 3)
	c, err := rdb.Options{Cluster: cl.Addrs()}.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })

	t.Run("limiter scenarios", func(t *testing.T) {
		for i, sc := range limScenarios {
			t.Run(sc.name, func(t *testing.T) {
				clk := newClock()
				prefix := fmt.Sprintf("c%d:", i)
				runScenario(t, sc, clk, NewRedisLimiter(c, prefix, clk.Now), NewRedisLimiter(c, prefix, clk.Now))
			})
		}
	})
	t.Run("limiter concurrent", func(t *testing.T) {
		clk := newClock()
		k := testKey(t, Policy{RPM: 37, TPM: 1000})
		a, b := NewRedisLimiter(c, "cc:", clk.Now), NewRedisLimiter(c, "cc:", clk.Now)
		if got := concurrentAdmits(t, k, a, b); got != 37 {
			t.Errorf("admitted %d of 200 concurrent requests over two limiters, want exactly the rpm (37)", got)
		}
	})
	t.Run("key store", func(t *testing.T) {
		s := &redisStore{c: c, key: DefaultRedisKey}
		_, rev, err := s.load(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if err := s.save(context.Background(), []byte(`{"keys": []}`), rev); err != nil {
			t.Fatal(err)
		}
		if err := s.save(context.Background(), []byte(`{"keys": []}`), "stale"); !errors.Is(err, errConflict) {
			t.Errorf("stale save = %v, want errConflict", err)
		}
		clk := newClock()
		a := newAuth(t, Config{Store: StoreRedis, Redis: c, Now: clk.Now, Poll: time.Millisecond})
		if a.Keys() != 0 {
			t.Errorf("keys read from the cluster: %d, want 0", a.Keys())
		}
		// The keys CLI edits the document on the cluster too.
		out, _, err := cli(t, clk, "create", "--redis-cluster="+strings.Join(cl.Addrs(), ","), "--name", "fleet")
		if err != nil {
			t.Fatal(err)
		}
		secret := strings.TrimSpace(out)
		eventually(t, "the key created on the cluster to apply", func() bool { _, err := a.Check(secret); return err == nil })
	})
}
