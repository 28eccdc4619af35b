package balance

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func newTest(t testing.TB, o Options) *Balancer {
	t.Helper()
	b, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// backend makes a balancer on one kind of store; the Redis ones get a
// fresh key prefix each.
type backend func(t testing.TB, o Options) *Balancer

// eachBackend runs f in memory and against a private redis-server (that
// subtest skips without one), so both stores obey the same tests.
func eachBackend(t *testing.T, f func(t *testing.T, mk backend)) {
	t.Run("memory", func(t *testing.T) { f(t, newTest) })
	t.Run("redis", func(t *testing.T) {
		r := startRedis(t)
		f(t, func(t testing.TB, o Options) *Balancer { return r.router(t, uniquePrefix(), o) })
	})
}

func cands(ids ...string) []Candidate {
	cs := make([]Candidate, len(ids))
	for i, id := range ids {
		cs[i] = Candidate{ID: id, Host: "http://" + id, Weight: 1}
	}
	return cs
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	end := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(end) {
			t.Fatalf("gave up waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestParseKind(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want Kind
		err  bool
	}{
		{"", Balanced, false},
		{"balanced", Balanced, false},
		{"Weighted", Weighted, false},
		{" dynamic_weighted ", DynamicWeighted, false},
		{"first_available", FirstAvailable, false},
		{"first_available_optim", FirstAvailableOptim, false},
		{"random", 0, true},
	} {
		k, err := ParseKind(tc.in)
		if (err != nil) != tc.err || (!tc.err && k != tc.want) {
			t.Errorf("ParseKind(%q) = %v, %v; want %v (error %v)", tc.in, k, err, tc.want, tc.err)
		}
		if !tc.err && k.String() != kindNames[tc.want] {
			t.Errorf("String() = %q", k.String())
		}
	}
}

// pickSeq acquires and releases n times and returns the chosen ids.
func pickSeq(t testing.TB, b *Balancer, s Strategy, cs []Candidate, n int) []string {
	t.Helper()
	var out []string
	for range n {
		l, err := b.Acquire(context.Background(), "m", s, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, l.Provider().ID)
		l.Release(Outcome{})
	}
	return out
}

func TestBalancedEvenOverAnyWindow(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{})
		cs := cands("a", "b", "c")
		seq := pickSeq(t, b, nil, cs, 30)
		for i := 0; i+3 <= len(seq); i++ {
			seen := map[string]bool{}
			for _, id := range seq[i : i+3] {
				seen[id] = true
			}
			if len(seen) != 3 {
				t.Fatalf("window %d..%d = %v, want all three providers", i, i+3, seq[i:i+3])
			}
		}
	})
}

func TestBalancedLeastInFlight(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{})
		cs := cands("a", "b", "c")
		held := map[string]*Lease{}
		for range 3 {
			l, err := b.Acquire(context.Background(), "m", nil, cs, nil)
			if err != nil {
				t.Fatal(err)
			}
			held[l.Provider().ID] = l
		}
		if len(held) != 3 {
			t.Fatalf("three concurrent requests went to %d providers", len(held))
		}
		held["b"].Release(Outcome{})
		// a and c still busy: the next request must go to b.
		l, err := b.Acquire(context.Background(), "m", nil, cs, nil)
		if err != nil || l.Provider().ID != "b" {
			t.Fatalf("got %v, %v; want b (least in flight)", l, err)
		}
	})
}

func TestWeightedExactSmooth(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		for _, tc := range []struct {
			weights []float64
			want    string
		}{
			{[]float64{5, 1, 1}, "aabacaa"},
			{[]float64{0.5, 0.25, 0.25}, "abca"},
			{[]float64{1, 1, 1}, "abcabc"},
			{[]float64{0, 0, 0}, "abc"},    // all zero: uniform
			{[]float64{2, 0, 1}, "acaaca"}, // zero weight: never
		} {
			b := mk(t, Options{})
			cs := cands("a", "b", "c")
			for i := range cs {
				cs[i].Weight = tc.weights[i]
			}
			got := ""
			for _, id := range pickSeq(t, b, Policy{Kind: Weighted}, cs, len(tc.want)) {
				got += id
			}
			if got != tc.want {
				t.Errorf("weights %v: sequence %q, want %q", tc.weights, got, tc.want)
			}
		}
	})
}

func TestWeightedProportions(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{})
		cs := cands("a", "b", "c")
		cs[0].Weight, cs[1].Weight, cs[2].Weight = 0.6, 0.3, 0.1
		n := map[string]int{}
		for _, id := range pickSeq(t, b, Policy{Kind: Weighted}, cs, 1000) {
			n[id]++
		}
		if n["a"] != 600 || n["b"] != 300 || n["c"] != 100 {
			t.Fatalf("counts %v, want exactly 600/300/100", n)
		}
	})
}

func TestDynamicFactor(t *testing.T) {
	for _, tc := range []struct {
		lat, best, errs, want float64
	}{
		{0, 0, 0, 1},           // no data
		{1, 1, 0, 1},           // the fastest
		{2, 1, 0, 0.5},         // twice as slow
		{1, 1, 0.5, 0.5},       // half the requests fail
		{100, 1, 0, MinFactor}, // floor
		{1, 1, 1, MinFactor},
	} {
		if got := DynamicFactor(tc.lat, tc.best, tc.errs); got != tc.want {
			t.Errorf("DynamicFactor(%v, %v, %v) = %v, want %v", tc.lat, tc.best, tc.errs, got, tc.want)
		}
	}
}

func TestDynamicWeightedAdapts(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{})
		cs := cands("fast", "slow")
		s := Policy{Kind: DynamicWeighted}
		n := map[string]int{}
		for range 400 {
			l, err := b.Acquire(context.Background(), "m", s, cs, nil)
			if err != nil {
				t.Fatal(err)
			}
			lat := 100 * time.Millisecond
			if l.Provider().ID == "slow" {
				lat = 400 * time.Millisecond
			}
			n[l.Provider().ID]++
			l.Release(Outcome{Result: Success, Latency: lat})
		}
		// Equal configured weights, 4x latency: slow should get about 1/5.
		if n["slow"] > 120 || n["slow"] < 40 {
			t.Fatalf("counts %v: want slow near 80 of 400", n)
		}
		// Bounded by configured weights: with weight 0 it never gets traffic.
		cs[1].Weight = 0
		for _, id := range pickSeq(t, b, s, cs, 20) {
			if id == "slow" {
				t.Fatal("provider with weight 0 was chosen")
			}
		}
	})
}

func TestNoProviderAtOnce(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		ctx := context.Background()
		for _, k := range []Kind{Balanced, Weighted, DynamicWeighted, FirstAvailable, FirstAvailableOptim} {
			t.Run(k.String(), func(t *testing.T) {
				b := mk(t, Options{QueueTimeout: time.Hour, CooldownAfter: 1})
				cs := cands("a", "b")
				s := Policy{Kind: k}
				if _, err := b.Acquire(ctx, "m", s, cs, func(string) bool { return true }); !errors.Is(err, ErrNoProvider) {
					t.Fatalf("all excluded: %v, want ErrNoProvider", err)
				}
				// a is down (monitor), b fails (passive cool-down).
				if err := b.MarkDown(ctx, "a", time.Hour); err != nil {
					t.Fatal(err)
				}
				l, err := b.Acquire(ctx, "m", s, cs, nil)
				if err != nil || l.Provider().ID != "b" {
					t.Fatalf("got %v, %v; want b", l, err)
				}
				l.Release(Outcome{Result: Failure})
				if _, err := b.Acquire(ctx, "m", s, cs, nil); !errors.Is(err, ErrNoProvider) {
					t.Fatalf("all down: %v, want ErrNoProvider", err)
				}
				if err := b.MarkUp(ctx, "a"); err != nil {
					t.Fatal(err)
				}
				l, err = b.Acquire(ctx, "m", s, cs, nil)
				if err != nil || l.Provider().ID != "a" {
					t.Fatalf("after MarkUp: %v, %v; want a", l, err)
				}
				l.Release(Outcome{})
			})
		}
	})
}

func TestCooldownEnds(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := newTest(t, Options{Cooldown: 10 * time.Second, CooldownAfter: 1, now: clock})
	cs := cands("a")
	l, _ := b.Acquire(context.Background(), "m", nil, cs, nil)
	l.Release(Outcome{Result: Failure})
	if _, err := b.Acquire(context.Background(), "m", nil, cs, nil); !errors.Is(err, ErrNoProvider) {
		t.Fatalf("cooling: %v", err)
	}
	mu.Lock()
	now = now.Add(11 * time.Second)
	mu.Unlock()
	if _, err := b.Acquire(context.Background(), "m", nil, cs, nil); err != nil {
		t.Fatalf("after cool-down: %v", err)
	}
}

// Passive health: one failure does not cool a provider down (a single bad
// request must not take it offline for everyone); CooldownAfter failures
// in a row do. A success ends the run, a canceled request leaves it as it
// is, and the memory store lets a run lapse after CooldownWindow.
func TestCooldownAfterRun(t *testing.T) {
	ctx := context.Background()
	cs := cands("a")
	fail := func(t *testing.T, b *Balancer, r Result) {
		t.Helper()
		l, err := b.Acquire(ctx, "m", nil, cs, nil)
		if err != nil {
			t.Fatalf("provider not available: %v", err)
		}
		l.Release(Outcome{Result: r})
	}
	eachBackend(t, func(t *testing.T, mk backend) {
		tests := []struct {
			name    string
			results []Result
			cooled  bool
		}{
			{"one failure", []Result{Failure}, false},
			{"two failures", []Result{Failure, Failure}, false},
			{"three in a row", []Result{Failure, Failure, Failure}, true},
			{"a success ends the run", []Result{Failure, Failure, Success, Failure, Failure}, false},
			{"a cancel does not", []Result{Failure, Failure, Canceled, Failure}, true},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				b := mk(t, Options{Cooldown: time.Hour})
				for _, r := range tt.results {
					fail(t, b, r)
				}
				_, err := b.Acquire(ctx, "m", nil, cs, nil)
				if cooled := errors.Is(err, ErrNoProvider); cooled != tt.cooled {
					t.Fatalf("cooled down: %v (%v), want %v", cooled, err, tt.cooled)
				}
			})
		}
		t.Run("configured run", func(t *testing.T) {
			b := mk(t, Options{Cooldown: time.Hour, CooldownAfter: 5})
			for range 4 {
				fail(t, b, Failure)
			}
			fail(t, b, Failure)
			if _, err := b.Acquire(ctx, "m", nil, cs, nil); !errors.Is(err, ErrNoProvider) {
				t.Fatalf("after 5 failures: %v, want ErrNoProvider", err)
			}
		})
		t.Run("off", func(t *testing.T) {
			b := mk(t, Options{Cooldown: -1, CooldownAfter: 1})
			fail(t, b, Failure)
			fail(t, b, Failure)
		})
	})
	t.Run("a run lapses", func(t *testing.T) {
		now := time.Unix(1000, 0)
		var mu sync.Mutex
		clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		b := newTest(t, Options{Cooldown: time.Hour, CooldownWindow: time.Minute, now: clock})
		fail(t, b, Failure)
		fail(t, b, Failure)
		mu.Lock()
		now = now.Add(61 * time.Second)
		mu.Unlock()
		fail(t, b, Failure) // a new run of one
		fail(t, b, Failure)
		if _, err := b.Acquire(ctx, "m", nil, cs, nil); err != nil {
			t.Fatalf("a lapsed run still counted: %v", err)
		}
		fail(t, b, Failure)
		if _, err := b.Acquire(ctx, "m", nil, cs, nil); !errors.Is(err, ErrNoProvider) {
			t.Fatalf("three in a row within the window: %v, want ErrNoProvider", err)
		}
	})
}

func TestDoubleReleaseIsNoOp(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		var hooks []Result
		b := mk(t, Options{OnRelease: func(_ Candidate, o Outcome) { hooks = append(hooks, o.Result) }})
		cs := cands("a")
		s := Policy{Kind: FirstAvailable}
		l1, _ := b.Acquire(context.Background(), "m", s, cs, nil)
		if !l1.Release(Outcome{}) {
			t.Fatal("first release reported no-op")
		}
		l2, err := b.Acquire(context.Background(), "m", s, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		if l1.Release(Outcome{}) {
			t.Fatal("second release of the same lease did something")
		}
		// l2 must still hold the provider.
		if _, err := b.TryAcquire(context.Background(), "m", cs[0]); !errors.Is(err, ErrBusy) {
			t.Fatalf("after a double release the provider is free (%v): the original bug", err)
		}
		l2.Release(Outcome{Result: Failure})
		if fmt.Sprint(hooks) != fmt.Sprint([]Result{Success, Failure}) {
			t.Fatalf("OnRelease saw %v, want one call per lease", hooks)
		}
	})
}

func TestFirstAvailableFIFO(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{QueueTimeout: time.Hour, Recheck: time.Hour})
		cs := cands("a")
		s := Policy{Kind: FirstAvailable}
		hold, err := b.Acquire(context.Background(), "m", s, cs, nil)
		if err != nil {
			t.Fatal(err)
		}
		var order []int
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				l, err := b.Acquire(context.Background(), "m", s, cs, nil)
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				order = append(order, i)
				mu.Unlock()
				l.Release(Outcome{})
			}()
			waitFor(t, "waiter to queue", func() bool { return b.Stats().Waiting == i+1 })
		}
		hold.Release(Outcome{})
		wg.Wait()
		for i, v := range order {
			if v != i {
				t.Fatalf("served in order %v, want FIFO", order)
			}
		}
	})
}

func TestFirstAvailableExclusive(t *testing.T) {
	for _, k := range []Kind{FirstAvailable, FirstAvailableOptim} {
		t.Run(k.String(), func(t *testing.T) {
			b := newTest(t, Options{QueueTimeout: time.Hour, Recheck: time.Hour})
			exclusive(t, []*Balancer{b}, Policy{Kind: k}, 8, 50)
		})
	}
}

// exclusive runs workers goroutines per balancer doing rounds of acquire /
// release over two providers and checks no provider is ever held twice.
func exclusive(t *testing.T, bs []*Balancer, s Strategy, workers, rounds int) {
	cs := []Candidate{{ID: "p1", Host: "h1", Weight: 1}, {ID: "p2", Host: "h2", Weight: 1}}
	var holders [2]atomic.Int32
	var served [2]atomic.Int32
	var wg sync.WaitGroup
	for _, b := range bs {
		for range workers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for range rounds {
					l, err := b.Acquire(context.Background(), "m", s, cs, nil)
					if err != nil {
						t.Error(err)
						return
					}
					i := 0
					if l.Provider().ID == "p2" {
						i = 1
					}
					if n := holders[i].Add(1); n != 1 {
						t.Errorf("provider %s held by %d requests", l.Provider().ID, n)
					}
					served[i].Add(1)
					for range 100 { // a little work while holding
						_ = fmt.Sprint(i)
					}
					holders[i].Add(-1)
					l.Release(Outcome{})
				}
			}()
		}
	}
	wg.Wait()
	total := int(served[0].Load() + served[1].Load())
	if total != len(bs)*workers*rounds {
		t.Fatalf("served %d, want %d", total, len(bs)*workers*rounds)
	}
	for _, b := range bs {
		if st := b.Stats(); st.Waiting != 0 || len(st.InFlight) != 0 {
			t.Fatalf("leftovers: %+v", st)
		}
	}
}

func TestQueueTimeout(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{RetryAfter: 7 * time.Second})
		cs := cands("a")
		hold, _ := b.Acquire(context.Background(), "m", Policy{Kind: FirstAvailable}, cs, nil)
		defer hold.Release(Outcome{})
		_, err := b.Acquire(context.Background(), "m", Policy{Kind: FirstAvailable, QueueTimeout: 20 * time.Millisecond}, cs, nil)
		var qe *QueueTimeoutError
		if !errors.Is(err, ErrQueueTimeout) || !errors.As(err, &qe) || qe.RetryAfter != 7*time.Second {
			t.Fatalf("got %v, want a QueueTimeoutError with RetryAfter 7s", err)
		}
		if st := b.Stats(); st.QueueTimeouts != 1 || st.Waiting != 0 {
			t.Fatalf("stats %+v", st)
		}
	})
}

func TestWaiterCanceled(t *testing.T) {
	b := newTest(t, Options{QueueTimeout: time.Hour})
	cs := cands("a")
	s := Policy{Kind: FirstAvailable}
	hold, _ := b.Acquire(context.Background(), "m", s, cs, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() {
		_, err := b.Acquire(ctx, "m", s, cs, nil)
		done <- err
	}()
	waitFor(t, "waiter", func() bool { return b.Stats().Waiting == 1 })
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	hold.Release(Outcome{})
	if st := b.Stats(); st.Waiting != 0 || len(st.InFlight) != 0 {
		t.Fatalf("leftovers %+v", st)
	}
}

func TestWaiterLearnsAllFailed(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		b := mk(t, Options{QueueTimeout: time.Hour, Recheck: time.Hour, CooldownAfter: 1})
		cs := cands("a")
		s := Policy{Kind: FirstAvailable}
		hold, _ := b.Acquire(context.Background(), "m", s, cs, nil)
		done := make(chan error)
		go func() {
			_, err := b.Acquire(context.Background(), "m", s, cs, nil)
			done <- err
		}()
		waitFor(t, "waiter", func() bool { return b.Stats().Waiting == 1 })
		hold.Release(Outcome{Result: Failure})
		if err := <-done; !errors.Is(err, ErrNoProvider) {
			t.Fatalf("got %v, want ErrNoProvider once the only provider failed", err)
		}
	})
}

func TestLeaseExpiresWithoutRenewal(t *testing.T) {
	now := time.Unix(1000, 0)
	var mu sync.Mutex
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	b := newTest(t, Options{LeaseTTL: time.Hour, now: clock})
	cs := cands("a")
	if _, err := b.TryAcquire(context.Background(), "m", cs[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := b.TryAcquire(context.Background(), "m", cs[0]); !errors.Is(err, ErrBusy) {
		t.Fatalf("second TryAcquire: %v, want ErrBusy", err)
	}
	mu.Lock()
	now = now.Add(time.Hour + time.Second) // the holder "crashed": no renewals
	mu.Unlock()
	if _, err := b.TryAcquire(context.Background(), "m", cs[0]); err != nil {
		t.Fatalf("expired lease still held: %v", err)
	}
}

func TestAffinity(t *testing.T) {
	eachBackend(t, func(t *testing.T, mk backend) {
		ctx := context.Background()
		b := mk(t, Options{QueueTimeout: time.Hour})
		s := Policy{Kind: FirstAvailableOptim}
		a := []Candidate{{ID: "a1", Host: "h1"}, {ID: "a2", Host: "h2"}}
		bb := []Candidate{{ID: "b1", Host: "h1"}, {ID: "b2", Host: "h2"}}
		get := func(model string, cs []Candidate) *Lease {
			t.Helper()
			l, err := b.Acquire(ctx, model, s, cs, nil)
			if err != nil {
				t.Fatal(err)
			}
			return l
		}
		steps := []struct {
			model string
			cs    []Candidate
			hold  bool
			want  string
		}{
			{"A", a, false, "a1"},  // cold hosts: list order; h1 now warm with A
			{"B", bb, false, "b2"}, // B avoids A's warm h1
			{"A", a, true, "a1"},   // A returns to its last host
			{"B", bb, true, "b2"},  // h1 busy with A; h2 is B's
			{"A", a, true, "a2"},   // a1 busy: a2 on h2 (B busy there, but only choice)
		}
		var held []*Lease
		for i, st := range steps {
			l := get(st.model, st.cs)
			if l.Provider().ID != st.want {
				t.Fatalf("step %d (%s): got %s, want %s", i, st.model, l.Provider().ID, st.want)
			}
			if st.hold {
				held = append(held, l)
			} else {
				l.Release(Outcome{})
			}
		}
		// A's leases end; B still holds b2 on h2. C lists h2 first, but h2 is
		// busy with B while h1 (whose occupancy by A was released) is idle.
		held[0].Release(Outcome{})
		held[2].Release(Outcome{})
		l := get("C", []Candidate{{ID: "c2", Host: "h2"}, {ID: "c1", Host: "h1"}})
		if l.Provider().ID != "c1" {
			t.Fatalf("C got %s: h1 still looks occupied after A released it", l.Provider().ID)
		}
		l.Release(Outcome{})
		held[1].Release(Outcome{})
		if st := b.Stats(); len(st.InFlight) != 0 {
			t.Fatalf("leftovers %+v", st)
		}
		if b.rds != nil {
			return
		}
		b.mem.mu.Lock()
		defer b.mem.mu.Unlock()
		if len(b.mem.hosts) != 0 || len(b.mem.flight) != 0 {
			t.Fatalf("occupancy not released: %v %v", b.mem.hosts, b.mem.flight)
		}
	})
}

func TestClose(t *testing.T) {
	b, err := New(Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Acquire(context.Background(), "m", nil, cands("a"), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}
