package balance

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
	"pgregory.net/rapid"

	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

// redisProc is a private redis-server on a free port.
type redisProc struct {
	t    testing.TB
	port int
	dir  string
	args []string
	cmd  *exec.Cmd
}

// startRedis starts redis-server or skips the test when it is missing
// (fails instead when LLM_ROUTER_REQUIRE_REDIS=1).
func startRedis(t testing.TB, args ...string) *redisProc {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("LLM_ROUTER_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server not found and LLM_ROUTER_REQUIRE_REDIS=1")
		}
		t.Skip("redis-server not installed; set LLM_ROUTER_REQUIRE_REDIS=1 to make this a failure")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	r := &redisProc{t: t, port: port, dir: t.TempDir(), args: args}
	r.start()
	t.Cleanup(r.stop)
	return r
}

func (r *redisProc) start() {
	r.t.Helper()
	args := append([]string{"--port", strconv.Itoa(r.port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--dir", r.dir}, r.args...)
	r.cmd = exec.Command("redis-server", args...)
	if err := r.cmd.Start(); err != nil {
		r.t.Fatal(err)
	}
	waitFor(r.t, "redis-server to answer PING", func() bool {
		c, err := net.Dial("tcp", r.addr())
		if err != nil {
			return false
		}
		defer c.Close()
		fmt.Fprint(c, "PING\r\n")
		s, err := bufio.NewReader(c).ReadString('\n')
		return err == nil && (s == "+PONG\r\n" || strings.HasPrefix(s, "-NOAUTH"))
	})
}

func (r *redisProc) stop() {
	if r.cmd == nil {
		return
	}
	_ = r.cmd.Process.Kill()
	_ = r.cmd.Wait()
	r.cmd = nil
}

func (r *redisProc) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(r.port)) }

var prefixSeq atomic.Int64

// router makes a balancer on r; routers made with the same prefix share
// state like router processes on one Redis.
func (r *redisProc) router(t testing.TB, prefix string, o Options) *Balancer {
	o.Redis = &RedisConfig{Options: rdb.Options{Host: "127.0.0.1", Port: r.port}, Prefix: prefix}
	b := newTest(t, o)
	if !b.Stats().RedisUp {
		t.Fatal("balancer did not connect to redis")
	}
	return b
}

func uniquePrefix() string { return fmt.Sprintf("t%d:", prefixSeq.Add(1)) }

func TestRedisTwoRoutersSplitEvenly(t *testing.T) {
	r := startRedis(t)
	for _, tc := range []struct {
		s       Policy
		weights []float64
		want    []int
	}{
		{Policy{Kind: Balanced}, []float64{1, 1, 1}, []int{100, 100, 100}},
		{Policy{Kind: Weighted}, []float64{3, 2, 1}, []int{150, 100, 50}},
		{Policy{Kind: FirstAvailable}, []float64{1, 1, 1}, []int{300, 0, 0}}, // always the first free
	} {
		t.Run(tc.s.Kind.String(), func(t *testing.T) {
			p := uniquePrefix()
			bs := []*Balancer{r.router(t, p, Options{}), r.router(t, p, Options{})}
			cs := cands("a", "b", "c")
			for i := range cs {
				cs[i].Weight = tc.weights[i]
			}
			n := alternate(t, bs, tc.s, cs, 300)
			if n["a"] != tc.want[0] || n["b"] != tc.want[1] || n["c"] != tc.want[2] {
				t.Fatalf("counts %v, want %v", n, tc.want)
			}
		})
	}
}

// alternate takes and releases a lease rounds times, from each of bs in
// turn, and counts the picks per provider.
func alternate(t *testing.T, bs []*Balancer, s Policy, cs []Candidate, rounds int) map[string]int {
	t.Helper()
	n := map[string]int{}
	for i := range rounds {
		l, err := bs[i%len(bs)].Acquire(context.Background(), "m", s, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		n[l.Provider().ID]++
		l.Release(Outcome{})
	}
	return n
}

func TestRedisBalancedConcurrentLoad(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	b1, b2 := r.router(t, p, Options{}), r.router(t, p, Options{})
	cs := cands("a", "b")
	var held []*Lease
	for i := range 10 { // ten requests in flight over two routers
		l, err := []*Balancer{b1, b2}[i%2].Acquire(context.Background(), "m", nil, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, l)
	}
	n := map[string]int{}
	for _, l := range held {
		n[l.Provider().ID]++
		l.Release(Outcome{})
	}
	if n["a"] != 5 || n["b"] != 5 {
		t.Fatalf("in-flight split %v, want 5/5 across both routers", n)
	}
}

func TestRedisFirstAvailableTwoRouters(t *testing.T) {
	r := startRedis(t)
	for _, k := range []Kind{FirstAvailable, FirstAvailableOptim} {
		t.Run(k.String(), func(t *testing.T) {
			p := uniquePrefix()
			// Recheck of an hour: a waiter on one router can only be woken by
			// the other router's release message, never by polling.
			o := Options{QueueTimeout: time.Hour, Recheck: time.Hour}
			exclusive(t, []*Balancer{r.router(t, p, o), r.router(t, p, o)}, Policy{Kind: k}, 5, 30)
		})
	}
}

func TestRedisRestartLosesNoRequest(t *testing.T) {
	r := startRedis(t)
	b := r.router(t, uniquePrefix(), Options{})
	cs := cands("a", "b")
	run := func(n int) {
		t.Helper()
		for range n {
			for _, s := range []Policy{{Kind: Balanced}, {Kind: FirstAvailable}} {
				l, err := b.Acquire(context.Background(), "m", s, cs, nil)
				if err != nil {
					t.Fatalf("request lost: %v (stats %+v)", err, b.Stats())
				}
				l.Release(Outcome{})
			}
		}
	}
	run(20)
	held, err := b.Acquire(context.Background(), "m", Policy{Kind: FirstAvailable}, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	r.stop()
	run(20) // on local state
	if st := b.Stats(); st.RedisUp || st.RedisFallbacks != 1 || st.RedisErrors == 0 {
		t.Fatalf("after redis stopped: %+v", st)
	}
	held.Release(Outcome{}) // the Redis lease of a dead Redis: a no-op, not a panic
	r.start()
	waitFor(t, "reconnect", func() bool { return b.Stats().RedisUp })
	run(20)
	if st := b.Stats(); !st.RedisUp || len(st.InFlight) != 0 {
		t.Fatalf("after restart: %+v", st)
	}
}

func TestRedisStartsWithoutRedis(t *testing.T) {
	r := startRedis(t)
	r.stop()
	b := newTest(t, Options{Redis: &RedisConfig{Options: rdb.Options{Host: "127.0.0.1", Port: r.port}, Prefix: uniquePrefix()}})
	if st := b.Stats(); st.RedisUp || !st.Redis {
		t.Fatalf("stats %+v, want configured but down", st)
	}
	l, err := b.Acquire(context.Background(), "m", nil, cands("a"), nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Release(Outcome{})
	r.start()
	waitFor(t, "connect", func() bool { return b.Stats().RedisUp })
}

func TestRedisCrashedRouterFreesProvider(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	ttl := 300 * time.Millisecond
	crash := r.router(t, p, Options{LeaseTTL: ttl})
	live := r.router(t, p, Options{LeaseTTL: ttl, Recheck: 50 * time.Millisecond, QueueTimeout: time.Hour})
	cs := cands("a")
	s := Policy{Kind: FirstAvailable}
	// A held lease is renewed well beyond its TTL.
	l, err := live.Acquire(context.Background(), "m", s, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(4 * ttl) // the subject of the test: time passes
	if _, err := crash.TryAcquire(context.Background(), "m", cs[0]); !errors.Is(err, ErrBusy) {
		t.Fatalf("lease lapsed while held: %v", err)
	}
	l.Release(Outcome{})
	// A router that dies holding a lease frees it within the TTL. The lease
	// is written after start, so it cannot lapse before start+ttl however
	// slowly this goroutine runs.
	start := time.Now()
	if _, err := crash.Acquire(context.Background(), "m", s, cs, nil); err != nil {
		t.Fatal(err)
	}
	_ = crash.Close() // no release, no more renewals
	l, err = live.Acquire(context.Background(), "m", s, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	l.Release(Outcome{})
	if w := time.Since(start); w < ttl/2 {
		t.Fatalf("acquired after %v: the crashed lease was not honoured", w)
	}
}

// A run of failures is counted across the fleet: two on one router and
// one on another cool the provider down for both.
func TestRedisSharedFailureRun(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	b1, b2 := r.router(t, p, Options{Cooldown: time.Hour}), r.router(t, p, Options{Cooldown: time.Hour})
	ctx := context.Background()
	cs := cands("a")
	for i, b := range []*Balancer{b1, b2, b1} {
		l, err := b.Acquire(ctx, "m", nil, cs, nil)
		if err != nil {
			t.Fatalf("failure %d: provider not available: %v", i+1, err)
		}
		l.Release(Outcome{Result: Failure})
	}
	for _, b := range []*Balancer{b1, b2} {
		if _, err := b.Acquire(ctx, "m", nil, cs, nil); !errors.Is(err, ErrNoProvider) {
			t.Fatalf("got %v, want ErrNoProvider after three failures in a row across routers", err)
		}
	}
}

func TestRedisSharedHealth(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	b1, b2 := r.router(t, p, Options{CooldownAfter: 1}), r.router(t, p, Options{CooldownAfter: 1})
	ctx := context.Background()
	cs := cands("a", "b")
	if err := b1.MarkDown(ctx, "a", time.Hour); err != nil {
		t.Fatal(err)
	}
	l, err := b2.Acquire(ctx, "m", nil, cs, nil)
	if err != nil || l.Provider().ID != "b" {
		t.Fatalf("got %v, %v; want b (a is down per the other router)", l, err)
	}
	l.Release(Outcome{Result: Failure}) // b cools down, for both routers
	if _, err := b1.Acquire(ctx, "m", nil, cs, nil); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("got %v, want ErrNoProvider", err)
	}
	if err := b2.MarkUp(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if l, err = b1.Acquire(ctx, "m", nil, cs, nil); err != nil || l.Provider().ID != "a" {
		t.Fatalf("got %v, %v; want a", l, err)
	}
	l.Release(Outcome{})
}

func TestPropertyLeasesRedis(t *testing.T) {
	r := startRedis(t)
	rapid.Check(t, func(t *rapid.T) {
		p := uniquePrefix()
		var bs []*Balancer
		for range 2 {
			b, err := New(Options{Cooldown: time.Hour, CooldownAfter: 1, Redis: &RedisConfig{Options: rdb.Options{Host: "127.0.0.1", Port: r.port}, Prefix: p}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			bs = append(bs, b)
		}
		runLeaseMachine(t, bs)
	})
}

func TestRedisWakeUpAfterRestart(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	// No safety re-check: the waiter must be woken by the other router's
	// release message, over a subscription that survived the restart.
	o := Options{QueueTimeout: time.Hour, Recheck: time.Hour}
	b1, b2 := r.router(t, p, o), r.router(t, p, o)
	cs := cands("a")
	s := Policy{Kind: FirstAvailable}
	ctx := context.Background()
	r.stop()
	r.start()
	for _, b := range []*Balancer{b1, b2} {
		l, err := b.Acquire(ctx, "m", s, cs, nil) // notices the restart
		if err != nil {
			t.Fatal(err)
		}
		l.Release(Outcome{})
		waitFor(t, "reconnect", func() bool { return b.Stats().RedisUp })
	}
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	waitFor(t, "both routers to resubscribe", func() bool {
		n, err := c.PubSubNumSub(ctx, p+"released").Result()
		return err == nil && n[p+"released"] == 2
	})
	l1, err := b1.Acquire(ctx, "m", s, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		l, err := b2.Acquire(ctx, "m", s, cs, nil)
		if err == nil {
			l.Release(Outcome{})
		}
		done <- err
	}()
	waitFor(t, "the waiter", func() bool { return b2.Stats().Waiting == 1 })
	l1.Release(Outcome{})
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestRedisPasswordAndDB(t *testing.T) {
	const secret = "s3cret-pw"
	r := startRedis(t, "--requirepass", secret)
	p := uniquePrefix()
	b := newTest(t, Options{Redis: &RedisConfig{Options: rdb.Options{Host: "127.0.0.1", Port: r.port, Password: secret, DB: 3}, Prefix: p}})
	l, err := b.Acquire(context.Background(), "m", nil, cands("a"), nil)
	if err != nil || !b.Stats().RedisUp {
		t.Fatalf("%v, stats %+v", err, b.Stats())
	}
	l.Release(Outcome{})
	c := redis.NewClient(&redis.Options{Addr: r.addr(), Password: secret, DB: 3})
	defer c.Close()
	if n, err := c.HGet(context.Background(), p+"served:m", "a").Int(); err != nil || n != 1 {
		t.Fatalf("served count in DB 3: %v, %v", n, err)
	}
	// A wrong password: local fallback with a warning that does not
	// reveal the password.
	core, logs := observer.New(zap.WarnLevel)
	bad := newTest(t, Options{Logger: zap.New(core), Redis: &RedisConfig{Options: rdb.Options{Host: "127.0.0.1", Port: r.port, Password: "wrong-" + secret}, Prefix: p}})
	if bad.Stats().RedisUp {
		t.Fatal("connected with a wrong password")
	}
	if _, err := bad.Acquire(context.Background(), "m", nil, cands("a"), nil); err != nil {
		t.Fatal(err)
	}
	if logs.Len() == 0 {
		t.Fatal("no warning logged")
	}
	for _, e := range logs.All() {
		if s := fmt.Sprint(e.Message, e.ContextMap()); strings.Contains(s, secret) {
			t.Fatalf("log reveals the password: %s", s)
		}
	}
}

// A lease released while Redis does not answer (a Sentinel failover, a
// paused server) is released there once it answers again, rather than
// holding its provider until the lease TTL: the promoted replica still
// has it.
func TestRedisReleaseReplayedAfterOutage(t *testing.T) {
	r := startRedis(t)
	p := uniquePrefix()
	o := Options{LeaseTTL: time.Minute}
	b := r.router(t, p, o)
	c := redis.NewClient(&redis.Options{Addr: r.addr()})
	defer c.Close()
	leased := func() int64 {
		return c.ZCount(context.Background(), p+"flight:a", fmt.Sprint("(", time.Now().UnixMilli()), "+inf").Val()
	}
	cs := cands("a")
	l, err := b.Acquire(context.Background(), "m", Policy{Kind: FirstAvailable}, cs, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n := leased(); n != 1 {
		t.Fatalf("%d live leases in Redis, want the one held", n)
	}
	if err := r.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	l.Release(Outcome{}) // Redis does not answer: released locally only
	if b.Stats().RedisUp {
		t.Fatal("the release did not notice that Redis is gone")
	}
	if err := r.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "reconnect", func() bool { return b.Stats().RedisUp })
	if n := leased(); n != 0 {
		t.Fatalf("after the outage %d lease of the provider is still live in Redis (TTL 1 min): the release was not replayed", n)
	}
}
