package auth

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// limStep is one request (or settlement) in a limiter scenario.
type limStep struct {
	advance  time.Duration // move the clock first
	key      string        // which key (default "k")
	est      int           // estimated tokens passed to Allow
	settle   bool          // instead of Allow: Settle(est, actual)
	actual   int
	repeat   int           // do the step this many times (default 1), all expecting want
	want     time.Duration // expected retryAfter; 0 means admitted
	wantText string        // substring of the denial message
}

type limScenario struct {
	name   string
	policy map[string]Policy
	steps  []limStep
}

var limScenarios = []limScenario{
	{
		name:   "rpm burst then one per interval",
		policy: map[string]Policy{"k": {RPM: 3}},
		steps: []limStep{
			{repeat: 3},
			{want: 20 * time.Second, wantText: "limit of 3 requests per minute; retry in 20s"},
			{advance: 19 * time.Second, want: time.Second},
			{advance: time.Second},
			{want: 20 * time.Second},
		},
	},
	{
		name:   "full refill after a minute",
		policy: map[string]Policy{"k": {RPM: 60}},
		steps: []limStep{
			{repeat: 60},
			{want: time.Second},
			{advance: time.Minute, repeat: 1},
			{repeat: 59},
			{want: time.Second},
		},
	},
	{
		name:   "tpm from estimates",
		policy: map[string]Policy{"k": {TPM: 1000}},
		steps: []limStep{
			{est: 600},
			{est: 600, want: 12 * time.Second, wantText: "limit of 1000 tokens per minute"},
			{advance: 12 * time.Second, est: 600},
		},
	},
	{
		name:   "settle charges tokens used beyond the estimate",
		policy: map[string]Policy{"k": {TPM: 1000}},
		steps: []limStep{
			{est: 100},
			{settle: true, est: 100, actual: 1100},
			{est: 0, want: 6 * time.Second},
			{advance: 6 * time.Second, est: 0},
		},
	},
	{
		name:   "settle refunds an overestimate",
		policy: map[string]Policy{"k": {TPM: 1000}},
		steps: []limStep{
			{est: 1000},
			{est: 1, want: 60 * time.Millisecond},
			{settle: true, est: 1000, actual: 0},
			{est: 1000},
		},
	},
	{
		name:   "estimate above the limit is capped",
		policy: map[string]Policy{"k": {TPM: 100}},
		steps: []limStep{
			{est: 5000},
			{est: 1, want: 600 * time.Millisecond},
			{settle: true, est: 5000, actual: 100},
			{est: 1, want: 600 * time.Millisecond},
		},
	},
	{
		name:   "a request denied by tpm does not use rpm",
		policy: map[string]Policy{"k": {RPM: 2, TPM: 100}},
		steps: []limStep{
			{est: 100},
			{est: 100, want: time.Minute},
			{est: 0}, // rpm still has one request left
			{est: 0, want: 30 * time.Second, wantText: "requests per minute"},
		},
	},
	{
		name:   "keys are independent",
		policy: map[string]Policy{"k": {RPM: 1}, "other": {RPM: 1}},
		steps: []limStep{
			{},
			{want: time.Minute},
			{key: "other"},
			{key: "other", want: time.Minute},
		},
	},
	{
		name:   "no limits",
		policy: map[string]Policy{"k": {}},
		steps: []limStep{
			{est: 1 << 30, repeat: 500},
			{settle: true, est: 0, actual: 1 << 30},
			{est: 1},
		},
	},
}

// runScenario plays sc against the limiters, using them in turn (two Redis
// limiters stand for two router processes).
func runScenario(t *testing.T, sc limScenario, clk *clock, lims ...Limiter) {
	t.Helper()
	ctx := context.Background()
	keys := map[string]*Key{}
	for name, p := range sc.policy {
		k := testKey(t, p)
		k.Name = name
		keys[name] = k
	}
	n := 0
	for i, st := range sc.steps {
		clk.Advance(st.advance)
		name := st.key
		if name == "" {
			name = "k"
		}
		for r := range max(st.repeat, 1) {
			lim := lims[n%len(lims)]
			n++
			if st.settle {
				if err := lim.Settle(ctx, keys[name], st.est, st.actual); err != nil {
					t.Fatalf("step %d: Settle: %v", i, err)
				}
				continue
			}
			wait, err := lim.Allow(ctx, keys[name], st.est)
			if st.want == 0 {
				if err != nil || wait != 0 {
					t.Fatalf("step %d.%d: Allow = %v, %v; want admitted", i, r, wait, err)
				}
				continue
			}
			if !errors.Is(err, ErrRateLimited) || wait != st.want {
				t.Fatalf("step %d.%d: Allow = %v, %v; want denied for %v", i, r, wait, err, st.want)
			}
			if !strings.Contains(err.Error(), st.wantText) {
				t.Errorf("step %d: message %q does not contain %q", i, err, st.wantText)
			}
		}
	}
}

func TestMemoryLimiter(t *testing.T) {
	for _, sc := range limScenarios {
		t.Run(sc.name, func(t *testing.T) {
			clk := newClock()
			runScenario(t, sc, clk, NewMemoryLimiter(clk.Now))
		})
	}
}

func TestRetrySeconds(t *testing.T) {
	for d, want := range map[time.Duration]int{0: 1, time.Millisecond: 1, time.Second: 1, 1001 * time.Millisecond: 2, time.Minute: 60} {
		if got := RetrySeconds(d); got != want {
			t.Errorf("RetrySeconds(%v) = %d, want %d", d, got, want)
		}
	}
}

func TestMemoryLimiterSweeps(t *testing.T) {
	clk := newClock()
	l := NewMemoryLimiter(clk.Now)
	for i := range 100 {
		k := testKey(t, Policy{RPM: 10})
		k.Name = fmt.Sprint("k", i)
		if _, err := l.Allow(context.Background(), k, 0); err != nil {
			t.Fatal(err)
		}
	}
	clk.Advance(2 * time.Minute)
	k := testKey(t, Policy{RPM: 10})
	if _, err := l.Allow(context.Background(), k, 0); err != nil {
		t.Fatal(err)
	}
	if n := len(l.state); n != 1 {
		t.Errorf("after idle keys refilled: %d buckets kept, want 1", n)
	}
}

// concurrentAdmits runs many concurrent requests against lims with a frozen
// clock and returns how many were admitted.
func concurrentAdmits(t *testing.T, k *Key, lims ...Limiter) int {
	t.Helper()
	var admitted atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lim := lims[g%len(lims)]
			for range 25 {
				_, err := lim.Allow(context.Background(), k, 10)
				switch {
				case err == nil:
					admitted.Add(1)
				case !errors.Is(err, ErrRateLimited):
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	return int(admitted.Load())
}

func TestMemoryLimiterConcurrent(t *testing.T) {
	clk := newClock()
	k := testKey(t, Policy{RPM: 37, TPM: 1000})
	if got := concurrentAdmits(t, k, NewMemoryLimiter(clk.Now)); got != 37 {
		t.Errorf("admitted %d of 200 concurrent requests, want exactly the rpm (37)", got)
	}
}
