package auth

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"
)

func TestRedisLimiterSharedByTwoRouters(t *testing.T) {
	c := startRedis(t)
	for i, sc := range limScenarios {
		t.Run(sc.name, func(t *testing.T) {
			clk := newClock()
			prefix := fmt.Sprintf("t%d:", i)
			a := NewRedisLimiter(c, prefix, clk.Now)
			b := NewRedisLimiter(c, prefix, clk.Now)
			runScenario(t, sc, clk, a, b)
		})
	}
}

func TestRedisLimiterConcurrent(t *testing.T) {
	c := startRedis(t)
	clk := newClock()
	k := testKey(t, Policy{RPM: 37, TPM: 1000})
	a := NewRedisLimiter(c, "", clk.Now)
	b := NewRedisLimiter(c, "", clk.Now)
	if got := concurrentAdmits(t, k, a, b); got != 37 {
		t.Errorf("admitted %d of 200 concurrent requests over two limiters, want exactly the rpm (37)", got)
	}
	ttl := c.PTTL(context.Background(), "llm-router:auth:rl:{alice}:rpm").Val()
	if ttl <= 0 || ttl > 62*time.Second {
		t.Errorf("rpm key TTL = %v, want (0, 62s]: keys must expire once the bucket refills", ttl)
	}
}

func TestRedisLimiterServerClock(t *testing.T) {
	c := startRedis(t)
	k := testKey(t, Policy{RPM: 2})
	l := NewRedisLimiter(c, "", nil)
	ctx := context.Background()
	for i := range 2 {
		if _, err := l.Allow(ctx, k, 0); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	wait, err := l.Allow(ctx, k, 0)
	if !errors.Is(err, ErrRateLimited) || wait <= 0 || wait > 30*time.Second {
		t.Fatalf("third request = %v, %v; want denied with a wait in (0, 30s]", wait, err)
	}
}

func TestRedisLimiterUnreachable(t *testing.T) {
	c := startRedis(t)
	l := NewRedisLimiter(c, "", nil)
	c.Close()
	k := testKey(t, Policy{RPM: 2})
	_, err := l.Allow(context.Background(), k, 0)
	if err == nil || errors.Is(err, ErrRateLimited) || StatusCode(err) != 503 {
		t.Errorf("Allow with Redis closed = %v; want a 503 error that is not ErrRateLimited", err)
	}
}
