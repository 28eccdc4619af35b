package balance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"pgregory.net/rapid"
)

// leaseMachine checks, against a plain model, that an exclusive lease is
// never held twice, that a busy answer means every usable provider is
// really held, and that every lease is released (double releases are
// no-ops). bs are the balancers that share state (one in memory, or
// several routers on one Redis).
type leaseMachine struct {
	bs   []*Balancer
	cs   []Candidate
	held map[string]*Lease // provider id → lease, per the model
	gone []*Lease          // released leases
	down map[string]bool   // marked down or cooled
}

func (m *leaseMachine) acquire(t *rapid.T) {
	b := rapid.SampledFrom(m.bs).Draw(t, "balancer")
	k := rapid.SampledFrom([]Kind{FirstAvailable, FirstAvailableOptim}).Draw(t, "kind")
	ex := rapid.SliceOfDistinct(rapid.SampledFrom(m.cs), func(c Candidate) string { return c.ID }).Draw(t, "excluded")
	excluded := func(id string) bool {
		return slices.ContainsFunc(ex, func(c Candidate) bool { return c.ID == id })
	}
	// A 1ns queue timeout makes Acquire answer at once.
	l, err := b.Acquire(context.Background(), "m", Policy{Kind: k, QueueTimeout: time.Nanosecond}, m.cs, excluded)
	usable := 0
	free := 0
	for _, c := range m.cs {
		if !excluded(c.ID) && !m.down[c.ID] {
			usable++
			if m.held[c.ID] == nil {
				free++
			}
		}
	}
	switch {
	case err == nil:
		id := l.Provider().ID
		if m.held[id] != nil {
			t.Fatalf("provider %s leased twice", id)
		}
		if excluded(id) || m.down[id] {
			t.Fatalf("provider %s is excluded or down but was leased", id)
		}
		m.held[id] = l
	case errors.Is(err, ErrNoProvider):
		if usable > 0 {
			t.Fatalf("ErrNoProvider with %d usable providers", usable)
		}
	case errors.Is(err, ErrQueueTimeout):
		if free > 0 {
			t.Fatalf("busy answer with %d free providers", free)
		}
	default:
		t.Fatalf("unexpected error %v", err)
	}
}

func (m *leaseMachine) release(t *rapid.T) {
	if len(m.held) == 0 {
		t.Skip("nothing held")
	}
	ids := make([]string, 0, len(m.held))
	for id := range m.held {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	id := rapid.SampledFrom(ids).Draw(t, "lease")
	r := rapid.SampledFrom([]Result{Success, Failure, Canceled}).Draw(t, "result")
	l := m.held[id]
	if !l.Release(Outcome{Result: r}) {
		t.Fatalf("first release of %s was a no-op", id)
	}
	delete(m.held, id)
	m.gone = append(m.gone, l)
	if r == Failure {
		m.down[id] = true // cooling down for the rest of the run
	}
}

func (m *leaseMachine) releaseAgain(t *rapid.T) {
	if len(m.gone) == 0 {
		t.Skip("nothing released")
	}
	l := rapid.SampledFrom(m.gone).Draw(t, "old lease")
	if l.Release(Outcome{}) {
		t.Fatalf("second release of %s did something", l.Provider().ID)
	}
}

func (m *leaseMachine) markDown(t *rapid.T) {
	c := rapid.SampledFrom(m.cs).Draw(t, "provider")
	if err := m.bs[0].MarkDown(context.Background(), c.ID, time.Hour); err != nil {
		t.Fatal(err)
	}
	m.down[c.ID] = true
}

// check runs after every step: each lease the model holds is held for real.
func (m *leaseMachine) check(t *rapid.T) {
	for id := range m.held {
		if _, err := m.bs[0].TryAcquire(context.Background(), "m", Candidate{ID: id}); !errors.Is(err, ErrBusy) && !errors.Is(err, ErrNoProvider) {
			t.Fatalf("provider %s should be held: TryAcquire gave %v", id, err)
		}
	}
}

func (m *leaseMachine) finish(t *rapid.T) {
	for id, l := range m.held {
		l.Release(Outcome{})
		delete(m.held, id)
	}
	for _, b := range m.bs {
		if st := b.Stats(); len(st.InFlight) != 0 || st.Waiting != 0 {
			t.Fatalf("leftovers after releasing all: %+v", st)
		}
		for _, c := range m.cs {
			if u, err := b.InUse(context.Background(), c.ID); err != nil || u {
				t.Fatalf("provider %s in use after releasing all (%v)", c.ID, err)
			}
		}
	}
}

func runLeaseMachine(t *rapid.T, bs []*Balancer) {
	m := &leaseMachine{
		bs:   bs,
		cs:   []Candidate{{ID: "p1", Host: "h1"}, {ID: "p2", Host: "h1"}, {ID: "p3", Host: "h2"}},
		held: map[string]*Lease{},
		down: map[string]bool{},
	}
	t.Repeat(map[string]func(*rapid.T){
		"acquire":      m.acquire,
		"release":      m.release,
		"releaseAgain": m.releaseAgain,
		"markDown":     m.markDown,
		"":             m.check,
	})
	m.finish(t)
}

func TestPropertyLeasesMemory(t *testing.T) {
	rapid.Check(t, func(t *rapid.T) {
		b, err := New(Options{Cooldown: time.Hour, CooldownAfter: 1})
		if err != nil {
			t.Fatal(err)
		}
		defer b.Close()
		runLeaseMachine(t, []*Balancer{b})
	})
}
