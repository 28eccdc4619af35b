package balance

import (
	"context"
	"errors"
	"sync"
	"time"
)

// errBusy means every usable provider is leased (exclusive kinds only).
var errBusy = errors.New("balance: all providers busy")

// request is one acquisition as a store sees it.
type request struct {
	kind    Kind
	model   string
	token   string
	ttl     time.Duration
	cands   []Candidate // already without excluded providers
	weights []int64     // scaled weights (weighted kinds)
}

// store keeps the shared balancing state: the memory one for a single
// node, the Redis one for a fleet. acquire returns the index of the chosen
// candidate, errBusy, or ErrNoProvider when all are down or cooling down.
type store interface {
	acquire(ctx context.Context, r *request) (int, error)
	// release frees the lease and applies the passive-health rule h.
	release(ctx context.Context, l *Lease, h health) error
	renew(ctx context.Context, ls []*Lease, ttl time.Duration) error
	// mark sets (ttl > 0) or clears the active-health "down" flag.
	mark(ctx context.Context, id string, ttl time.Duration) error
	// inUse reports whether any lease is held on the provider.
	inUse(ctx context.Context, id string) (bool, error)
}

// health is the passive-health rule a release applies: a Failure extends
// the provider's run of failures (which lapses after window without one),
// and after failures in a row cool it down for cool; a Success ends the
// run. cool 0: no passive health.
type health struct {
	result Result
	cool   time.Duration
	after  int
	window time.Duration
}

// failRun is a provider's run of failures in a row.
type failRun struct {
	n    int
	last time.Time
}

type hostLease struct {
	model string
	exp   time.Time
}

// memStore is the in-process store. Its logic mirrors the Lua scripts of
// redisStore line for line.
type memStore struct {
	mu     sync.Mutex
	now    func() time.Time
	flight map[string]map[string]time.Time // provider id → token → expiry
	hosts  map[string]map[string]hostLease // host → token → lease
	served map[string]map[string]uint64    // model → provider id → count
	swrr   map[string]map[string]int64     // model → provider id → current weight
	last   map[string]string               // model → host that last served it
	warm   map[string]string               // host → model it last served
	down   map[string]time.Time            // provider id → down until (active)
	cool   map[string]time.Time            // provider id → cool until (passive)
	fails  map[string]failRun              // provider id → failures in a row (passive)
	scr    []int                           // scratch, guarded by mu
}

func newMemStore(now func() time.Time) *memStore {
	m := &memStore{
		now:    now,
		flight: map[string]map[string]time.Time{},
		hosts:  map[string]map[string]hostLease{},
		served: map[string]map[string]uint64{},
		swrr:   map[string]map[string]int64{},
		last:   map[string]string{},
		warm:   map[string]string{},
		down:   map[string]time.Time{},
		cool:   map[string]time.Time{},
		fails:  map[string]failRun{},
	}
	return m
}

func (m *memStore) up(id string, now time.Time) bool {
	if t, ok := m.down[id]; ok {
		if now.Before(t) {
			return false
		}
		delete(m.down, id)
	}
	if t, ok := m.cool[id]; ok {
		if now.Before(t) {
			return false
		}
		delete(m.cool, id)
	}
	return true
}

// live purges expired leases of a provider and counts the rest.
func (m *memStore) live(id string, now time.Time) int {
	f := m.flight[id]
	for tok, exp := range f {
		if !now.Before(exp) {
			delete(f, tok)
		}
	}
	if len(f) == 0 {
		delete(m.flight, id)
	}
	return len(f)
}

// busyOther reports whether the host serves another model right now.
func (m *memStore) busyOther(host, model string, now time.Time) bool {
	h := m.hosts[host]
	other := false
	for tok, hl := range h {
		if !now.Before(hl.exp) {
			delete(h, tok)
			continue
		}
		if hl.model != model {
			other = true
		}
	}
	if len(h) == 0 {
		delete(m.hosts, host)
	}
	return other
}

// tier ranks a host for first_available_optim; lower is better.
func tier(host, last, warm, model string, busyOther bool) int {
	switch {
	case busyOther:
		return 4
	case host == last:
		return 0
	case warm == model:
		return 1
	case warm == "":
		return 2
	}
	return 3
}

func (m *memStore) acquire(_ context.Context, r *request) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	ok := m.scr[:0]
	for i, c := range r.cands {
		if m.up(c.ID, now) {
			ok = append(ok, i)
		}
	}
	m.scr = ok
	if len(ok) == 0 {
		return -1, ErrNoProvider
	}
	var pick int
	switch r.kind {
	case Balanced:
		pick = m.pickBalanced(r, ok, now)
	case Weighted, DynamicWeighted:
		pick = m.pickWeighted(r, ok)
	default: // exclusive kinds
		if pick = m.pickFree(r, ok, now); pick < 0 {
			return -1, errBusy
		}
	}
	id := r.cands[pick].ID
	f := m.flight[id]
	if f == nil {
		f = map[string]time.Time{}
		m.flight[id] = f
	}
	f[r.token] = now.Add(r.ttl)
	return pick, nil
}

// pickBalanced picks, of the candidates ok (indexes in r.cands), the one
// with the fewest requests in flight, then the least served for r.model,
// and counts it served. m.mu is held.
func (m *memStore) pickBalanced(r *request, ok []int, now time.Time) int {
	served := m.served[r.model]
	if served == nil {
		served = map[string]uint64{}
		m.served[r.model] = served
	}
	pick := -1
	bestF, bestS := 0, uint64(0)
	for _, i := range ok {
		id := r.cands[i].ID
		f, s := m.live(id, now), served[id]
		if pick < 0 || f < bestF || (f == bestF && s < bestS) {
			pick, bestF, bestS = i, f, s
		}
	}
	served[r.cands[pick].ID]++
	return pick
}

// pickWeighted picks, of the candidates ok, by smooth weighted round robin
// over r.weights for r.model. m.mu is held.
func (m *memStore) pickWeighted(r *request, ok []int) int {
	cur := m.swrr[r.model]
	if cur == nil {
		cur = map[string]int64{}
		m.swrr[r.model] = cur
	}
	pick := -1
	var total, best int64
	for _, i := range ok {
		id := r.cands[i].ID
		c := cur[id] + r.weights[i]
		cur[id] = c
		total += r.weights[i]
		if pick < 0 || c > best {
			pick, best = i, c
		}
	}
	cur[r.cands[pick].ID] = best - total
	return pick
}

// pickFree picks, for the exclusive kinds, the first of the candidates ok
// with no request in flight (for FirstAvailableOptim, the one of the best
// host tier, and its host is then leased to r.model); -1 when all are busy.
// m.mu is held.
func (m *memStore) pickFree(r *request, ok []int, now time.Time) int {
	pick := -1
	last := m.last[r.model]
	bestT := 0
	for _, i := range ok {
		c := r.cands[i]
		if m.live(c.ID, now) > 0 {
			continue
		}
		t := 0
		if r.kind == FirstAvailableOptim {
			t = tier(c.Host, last, m.warm[c.Host], r.model, m.busyOther(c.Host, r.model, now))
		}
		if pick < 0 || t < bestT {
			pick, bestT = i, t
		}
	}
	if pick < 0 || r.kind != FirstAvailableOptim {
		return pick
	}
	h := r.cands[pick].Host
	m.last[r.model] = h
	m.warm[h] = r.model
	hl := m.hosts[h]
	if hl == nil {
		hl = map[string]hostLease{}
		m.hosts[h] = hl
	}
	hl[r.token] = hostLease{model: r.model, exp: now.Add(r.ttl)}
	return pick
}

func (m *memStore) release(_ context.Context, l *Lease, h health) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if f := m.flight[l.c.ID]; f != nil {
		delete(f, l.token)
		if len(f) == 0 {
			delete(m.flight, l.c.ID)
		}
	}
	if l.kind == FirstAvailableOptim {
		if h := m.hosts[l.c.Host]; h != nil {
			delete(h, l.token)
			if len(h) == 0 {
				delete(m.hosts, l.c.Host)
			}
		}
	}
	if h.cool > 0 {
		m.passive(l.c.ID, h)
	}
	return nil
}

// passive applies the passive-health rule (as releaseLua does).
func (m *memStore) passive(id string, h health) {
	switch h.result {
	case Success:
		delete(m.fails, id)
	case Failure:
		now := m.now()
		run := m.fails[id]
		if !now.Before(run.last.Add(h.window)) {
			run.n = 0 // lapsed
		}
		run.n++
		run.last = now
		if run.n >= h.after {
			m.cool[id] = now.Add(h.cool)
			delete(m.fails, id)
			return
		}
		m.fails[id] = run
	}
}

func (m *memStore) renew(_ context.Context, ls []*Lease, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	exp := m.now().Add(ttl)
	for _, l := range ls {
		if f := m.flight[l.c.ID]; f != nil {
			if _, ok := f[l.token]; ok {
				f[l.token] = exp
			}
		}
		if h := m.hosts[l.c.Host]; h != nil && l.kind == FirstAvailableOptim {
			if hl, ok := h[l.token]; ok {
				hl.exp = exp
				h[l.token] = hl
			}
		}
	}
	return nil
}

func (m *memStore) mark(_ context.Context, id string, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if ttl > 0 {
		m.down[id] = m.now().Add(ttl)
	} else {
		delete(m.down, id)
	}
	return nil
}

func (m *memStore) inUse(_ context.Context, id string) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.live(id, m.now()) > 0, nil
}
