// Package balance picks a provider for each request and holds it (a Lease)
// until the request ends. Five strategies (see Kind) run over a store that
// is in memory for one node or in Redis, through atomic Lua scripts, for a
// fleet of routers that then behave as one balancer. When Redis is
// unreachable the balancer keeps working on local state and reconnects by
// itself.
//
// Redis layout (prefix P, "llmr:" by default; on a Redis Cluster a prefix
// without a hash tag is wrapped in one, "{llmr}:", so that every key shares
// the slot the scripts run on):
//
//	P flight:<provider id>   zset  lease token → expiry (ms); in-flight requests
//	P host:<api host>        zset  "<model>\n<token>" → expiry; host occupancy (first_available_optim)
//	P served:<model>         hash  provider id → requests served (balanced tie-break)
//	P swrr:<model>           hash  provider id → current weight (weighted, dynamic_weighted)
//	P last:<model>           str   host that last served the model (first_available_optim)
//	P warm:<api host>        str   model the host last served (first_available_optim)
//	P down:<provider id>     str   set with a TTL while the provider monitor sees it down
//	P fails:<provider id>    str   failures in a row (passive health), expires CooldownWindow after the last
//	P cool:<provider id>     str   set with a TTL while the provider cools down after CooldownAfter failures in a row
//	P released               channel  "<provider id>\n<router>", published when an exclusive lease frees
//
// Leases expire unless renewed; the balancer renews the leases it holds every
// LeaseTTL/3, so a crashed router frees its providers within LeaseTTL.
// No secret (api_token) is ever written to Redis.
//
// Waiting (first_available*): requests queue in FIFO order per router. A
// release wakes the oldest waiter that can use the freed provider, in this
// router directly and in the others through the "released" channel; a
// waiter that wins passes the baton on. Nothing polls: the only timer is a
// safety re-check every Options.Recheck, for wake-ups that cannot come (a
// crashed router's lease expiring, a message lost while Redis restarts).
// Across routers, waiters of different routers contend for a freed
// provider, so the order is FIFO per router, not global.
package balance

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Candidate is one provider of a model as the balancer sees it.
type Candidate struct {
	ID      string  // unique provider id
	Host    string  // api_host; groups providers for host affinity
	APIType string  // openai, vllm, ollama, lmstudio, anthropic
	Weight  float64 // relative weight (weighted kinds); not positive = 0
	Ref     any     // the caller's own data (e.g. its provider config); never stored
}

// Result classifies how a request on a lease ended.
type Result int

const (
	// Success: the provider answered.
	Success Result = iota
	// Failure: the provider failed (transport error, 429, 5xx, broken
	// stream); dynamic_weighted lowers its weight, and CooldownAfter
	// failures in a row cool it down.
	Failure
	// Canceled: the client went away or the request was refused before it
	// reached the provider; says nothing about the provider.
	Canceled
)

// Outcome is what a Lease is released with.
type Outcome struct {
	Result Result
	// Latency the router observed (time to first byte is the best signal);
	// zero means the time since Acquire.
	Latency time.Duration
}

var (
	// ErrNoProvider means no candidate can serve: all are excluded, down or
	// cooling down. Answer at once (503), don't wait.
	ErrNoProvider = errors.New("balance: no provider available")
	// ErrQueueTimeout is matched (errors.Is) by a *QueueTimeoutError.
	ErrQueueTimeout = errors.New("balance: timed out waiting for a free provider")
	// ErrBusy is returned by TryAcquire when the provider holds a lease.
	ErrBusy = errBusy
	// ErrClosed is returned after Close.
	ErrClosed = errors.New("balance: balancer closed")
)

// QueueTimeoutError reports a first_available wait that ran out.
type QueueTimeoutError struct {
	Waited     time.Duration
	RetryAfter time.Duration // suggested Retry-After
}

// Error implements error.
func (e *QueueTimeoutError) Error() string {
	return fmt.Sprintf("balance: no provider became free within %s", e.Waited.Round(time.Millisecond))
}

// Is makes errors.Is(err, ErrQueueTimeout) true.
func (e *QueueTimeoutError) Is(target error) bool { return target == ErrQueueTimeout }

// Options configure a Balancer. Zero values take the defaults shown.
type Options struct {
	Default      Policy        // strategy for models without their own (balanced)
	QueueTimeout time.Duration // first_available wait (60s)
	RetryAfter   time.Duration // suggested in QueueTimeoutError (5s)
	Cooldown     time.Duration // passive health: rest after CooldownAfter failures in a row (10s; negative: none)
	LeaseTTL     time.Duration // lease lifetime without renewal (15s)
	Recheck      time.Duration // waiters' safety re-check for lost wake-ups (5s)
	Redis        *RedisConfig  // nil: in memory only
	Logger       *zap.Logger   // nil: no logs
	// OnRelease, if set, is called after every first Release (e.g. to
	// feed KeepAliveMonitor.Touch or metrics). It must not block.
	OnRelease func(c Candidate, o Outcome)

	// CooldownAfter is how many failures in a row, none more than
	// CooldownWindow after the previous one, cool a provider down (3). A
	// success ends the run; a canceled request does not count. With Redis
	// the run is counted across the fleet.
	CooldownAfter  int
	CooldownWindow time.Duration // a run of failures lapses after this long without one (60s)

	now func() time.Time
}

func (o *Options) defaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&o.QueueTimeout, 60*time.Second)
	def(&o.RetryAfter, 5*time.Second)
	if o.Cooldown == 0 {
		o.Cooldown = 10 * time.Second
	}
	if o.CooldownAfter <= 0 {
		o.CooldownAfter = 3
	}
	def(&o.CooldownWindow, 60*time.Second)
	def(&o.LeaseTTL, 15*time.Second)
	def(&o.Recheck, 5*time.Second)
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.now == nil {
		o.now = time.Now
	}
}

// Balancer hands out provider leases. Create one per router app with New;
// it outlives config reloads; Close it when the app stops.
type Balancer struct {
	o     Options
	log   *zap.Logger
	mem   *memStore
	rds   *redisStore // nil without Redis
	upR   atomic.Bool // Redis in use (false: fallen back to memory)
	kick  chan struct{}
	q     queue
	pre   string
	seq   atomic.Uint64
	ctx   context.Context
	stop  context.CancelFunc
	wg    sync.WaitGroup
	mu    sync.Mutex
	held  map[*Lease]struct{}
	unrel []*Lease // Redis leases whose release failed, replayed on reconnect
	dmu   sync.Mutex
	dyn   map[string]*ewma
	nFall atomic.Uint64
	nErr  atomic.Uint64
	nTO   atomic.Uint64
}

// New creates a Balancer and, with Redis configured, connects to it. An
// unreachable Redis is not an error: the balancer starts on local state and
// keeps trying to reconnect.
func New(o Options) (*Balancer, error) {
	o.defaults()
	var buf [6]byte
	if _, err := rand.Read(buf[:]); err != nil {
		return nil, fmt.Errorf("balance: token prefix: %w", err)
	}
	ctx, stop := context.WithCancel(context.Background())
	b := &Balancer{
		o: o, log: o.Logger, mem: newMemStore(o.now), kick: make(chan struct{}, 1),
		pre: hex.EncodeToString(buf[:]) + ":", ctx: ctx, stop: stop,
		held: map[*Lease]struct{}{}, dyn: map[string]*ewma{},
	}
	if o.Redis != nil {
		r, err := newRedisStore(*o.Redis, o.LeaseTTL)
		if err != nil {
			stop()
			return nil, err
		}
		b.rds = r
		pctx, cancel := context.WithTimeout(ctx, 2*time.Second)
		err = r.ping(pctx)
		cancel()
		b.upR.Store(true)
		if err != nil {
			b.fallback(err)
		}
		b.goRun(b.reconnect)
		ready := make(chan struct{})
		b.goRun(func() { r.subscribe(b.ctx, b.pre, b.q.wake, ready) })
		if err == nil {
			<-ready // so that no release message is missed from here on
		}
	}
	b.goRun(b.renewLoop)
	return b, nil
}

func (b *Balancer) goRun(f func()) {
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f()
	}()
}

// Close stops the background work (renewal, reconnect, wake-ups) and
// closes the Redis client. Leases still held expire by their TTL.
func (b *Balancer) Close() error {
	b.stop()
	b.q.wakeAll()
	b.wg.Wait()
	if b.rds != nil {
		return b.rds.close()
	}
	return nil
}

func (b *Balancer) token() string {
	return b.pre + strconv.FormatUint(b.seq.Add(1), 36)
}

// Acquire leases a provider of model among cands (in preference order),
// skipping those for which exclude returns true (nil: none). s chooses the
// strategy (nil: the balancer's default). With an exclusive strategy it
// waits in a fair queue while every usable provider is busy, up to the
// queue timeout (*QueueTimeoutError) or until ctx ends. It returns
// ErrNoProvider at once when no candidate is up.
func (b *Balancer) Acquire(ctx context.Context, model string, s Strategy, cands []Candidate, exclude func(id string) bool) (*Lease, error) {
	if b.ctx.Err() != nil {
		return nil, ErrClosed
	}
	p := b.o.Default
	if s != nil {
		p = s.Policy()
	}
	cs := make([]Candidate, 0, len(cands))
	for _, c := range cands {
		if exclude == nil || !exclude(c.ID) {
			cs = append(cs, c)
		}
	}
	if len(cs) == 0 {
		return nil, ErrNoProvider
	}
	r := &request{kind: p.Kind, model: model, token: b.token(), ttl: b.o.LeaseTTL, cands: cs}
	switch p.Kind {
	case Weighted:
		r.weights = intWeights(cs, nil, nil)
	case DynamicWeighted:
		r.weights = intWeights(cs, b.factors(cs), nil)
	}
	if !p.Kind.exclusive() {
		return b.try(ctx, r)
	}
	if !b.q.ahead(model) {
		if l, err := b.try(ctx, r); !errors.Is(err, errBusy) {
			return l, err
		}
	}
	return b.wait(ctx, r, p)
}

// wait queues r until a lease frees. After joining it tries once more, so a
// release between the failed try and the join is not missed.
func (b *Balancer) wait(ctx context.Context, r *request, p Policy) (*Lease, error) {
	limit := p.QueueTimeout
	if limit <= 0 {
		limit = b.o.QueueTimeout
	}
	start := time.Now()
	w, ahead := b.q.join(r.model, r.cands)
	defer b.q.leave(w)
	deadline := time.NewTimer(limit)
	defer deadline.Stop()
	recheck := time.NewTimer(b.o.Recheck)
	defer recheck.Stop()
	try := !ahead
	for {
		if try {
			l, err := b.try(ctx, r)
			if err == nil {
				return l, nil
			}
			if !errors.Is(err, errBusy) {
				return nil, err
			}
		}
		try = true
		select {
		case <-w.ch:
		case <-recheck.C:
			recheck.Reset(b.o.Recheck)
		case <-deadline.C:
			b.nTO.Add(1)
			return nil, &QueueTimeoutError{Waited: time.Since(start), RetryAfter: b.o.RetryAfter}
		case <-ctx.Done():
			return nil, fmt.Errorf("balance: waiting for a provider of %q: %w", r.model, ctx.Err())
		case <-b.ctx.Done():
			return nil, ErrClosed
		}
	}
}

// try makes one acquisition attempt on the current backend, falling back
// to memory when Redis fails.
func (b *Balancer) try(ctx context.Context, r *request) (*Lease, error) {
	if err := ctx.Err(); err != nil {
		return nil, fmt.Errorf("balance: acquiring a provider of %q: %w", r.model, err)
	}
	st, remote := b.backend()
	sctx := ctx
	if remote {
		// Not canceled half-way: a script that ran but whose answer was
		// dropped would leave a lease nobody renews or releases.
		var cancel context.CancelFunc
		sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), ReleaseTimeout)
		defer cancel()
	}
	i, err := st.acquire(sctx, r)
	if remote && b.infra(ctx, err) {
		b.fallback(err)
		remote = false
		i, err = b.mem.acquire(ctx, r)
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("balance: acquiring a provider of %q: %w", r.model, ctx.Err())
		}
		return nil, err
	}
	l := &Lease{b: b, c: r.cands[i], model: r.model, kind: r.kind, token: r.token, remote: remote, start: time.Now()}
	b.mu.Lock()
	b.held[l] = struct{}{}
	b.mu.Unlock()
	return l, nil
}

// TryAcquire leases provider c of model exclusively if nobody holds it, and
// returns ErrBusy otherwise, without waiting (the keep-alive pinger uses it
// so a ping never overlaps a request). A down provider gives ErrNoProvider.
func (b *Balancer) TryAcquire(ctx context.Context, model string, c Candidate) (*Lease, error) {
	if b.ctx.Err() != nil {
		return nil, ErrClosed
	}
	return b.try(ctx, &request{kind: FirstAvailable, model: model, token: b.token(), ttl: b.o.LeaseTTL, cands: []Candidate{c}})
}

func (b *Balancer) backend() (store, bool) {
	if b.rds != nil && b.upR.Load() {
		return b.rds, true
	}
	return b.mem, false
}

// infra reports whether err is a Redis failure (not a verdict, not ctx).
func (b *Balancer) infra(ctx context.Context, err error) bool {
	return err != nil && !errors.Is(err, errBusy) && !errors.Is(err, ErrNoProvider) && ctx.Err() == nil
}

// fallback switches to local state after a Redis failure and starts the
// reconnect loop.
func (b *Balancer) fallback(err error) {
	b.nErr.Add(1)
	if b.upR.CompareAndSwap(true, false) {
		b.nFall.Add(1)
		b.log.Warn("redis unreachable: balancing on local state until it is back", zap.Error(err))
		b.q.wakeAll()
	}
	select {
	case b.kick <- struct{}{}:
	default:
	}
}

// reconnect pings Redis with backoff after a failure until it answers.
func (b *Balancer) reconnect() {
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-b.kick:
		}
		if b.upR.Load() {
			continue
		}
		for wait := 100 * time.Millisecond; ; wait = min(2*wait, 2*time.Second) {
			ctx, cancel := context.WithTimeout(b.ctx, time.Second)
			err := b.rds.ping(ctx)
			cancel()
			if err == nil {
				break
			}
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(wait):
			}
		}
		b.replayReleases()
		b.upR.Store(true)
		b.log.Info("redis reachable again: balancing on shared state")
		b.q.wakeAll()
	}
}

// errNotUp marks a release while the balancer runs on local state.
var errNotUp = errors.New("balance: redis not in use")

// maxUnreleased bounds the leases kept for a release replay; past it the
// oldest are left to expire by their TTL.
const maxUnreleased = 4096

// replayReleases frees in Redis the leases released while it was
// unreachable (as after a Sentinel failover, where the promoted replica
// still holds them), so their providers need not wait out the lease TTL.
// A lease that has expired meanwhile is a no-op.
func (b *Balancer) replayReleases() {
	b.mu.Lock()
	ls := b.unrel
	b.unrel = nil
	b.mu.Unlock()
	for _, l := range ls {
		ctx, cancel := context.WithTimeout(b.ctx, ReleaseTimeout)
		err := b.rds.release(ctx, l, health{})
		cancel()
		if err != nil {
			return // gone again: the rest expire by their TTL
		}
	}
}

func (b *Balancer) renewLoop() {
	t := time.NewTicker(b.o.LeaseTTL / 3)
	defer t.Stop()
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-t.C:
		}
		var loc, rem []*Lease
		b.mu.Lock()
		for l := range b.held {
			if l.remote {
				rem = append(rem, l)
			} else {
				loc = append(loc, l)
			}
		}
		b.mu.Unlock()
		_ = b.mem.renew(b.ctx, loc, b.o.LeaseTTL)
		if len(rem) > 0 && b.upR.Load() {
			ctx, cancel := context.WithTimeout(b.ctx, b.o.LeaseTTL/3)
			err := b.rds.renew(ctx, rem, b.o.LeaseTTL)
			cancel()
			if b.infra(b.ctx, err) {
				b.fallback(err)
			}
		}
	}
}

// MarkDown records that the provider monitor found provider id down; it is
// skipped until MarkUp or until ttl passes (so a dead monitor cannot keep a
// provider out forever). Shared through Redis when configured.
func (b *Balancer) MarkDown(ctx context.Context, id string, ttl time.Duration) error {
	return b.mark(ctx, id, max(ttl, time.Millisecond))
}

// MarkUp clears MarkDown and wakes requests waiting for the provider.
func (b *Balancer) MarkUp(ctx context.Context, id string) error {
	err := b.mark(ctx, id, 0)
	b.q.wake(id)
	return err
}

func (b *Balancer) mark(ctx context.Context, id string, ttl time.Duration) error {
	_ = b.mem.mark(ctx, id, ttl)
	if st, remote := b.backend(); remote {
		if err := st.mark(ctx, id, ttl); b.infra(ctx, err) {
			b.fallback(err)
		} else if err != nil {
			return fmt.Errorf("balance: marking %s: %w", id, err)
		}
	}
	return nil
}

// InUse reports whether any router holds a lease on provider id.
func (b *Balancer) InUse(ctx context.Context, id string) (bool, error) {
	st, remote := b.backend()
	u, err := st.inUse(ctx, id)
	if remote && b.infra(ctx, err) {
		b.fallback(err)
		return b.mem.inUse(ctx, id)
	}
	return u, err
}

// factors returns the dynamic_weighted factor of each candidate.
func (b *Balancer) factors(cs []Candidate) func(string) float64 {
	b.dmu.Lock()
	defer b.dmu.Unlock()
	best := 0.0
	for _, c := range cs {
		if e := b.dyn[c.ID]; e != nil && e.lat > 0 && (best == 0 || e.lat < best) {
			best = e.lat
		}
	}
	f := make(map[string]float64, len(cs))
	for _, c := range cs {
		if e := b.dyn[c.ID]; e != nil {
			f[c.ID] = DynamicFactor(e.lat, best, e.errs)
		} else {
			f[c.ID] = 1
		}
	}
	return func(id string) float64 { return f[id] }
}

func (b *Balancer) observe(id string, o Outcome) {
	if o.Result == Canceled {
		return
	}
	b.dmu.Lock()
	e := b.dyn[id]
	if e == nil {
		e = &ewma{}
		b.dyn[id] = e
	}
	e.add(o.Latency, o.Result == Failure)
	b.dmu.Unlock()
}

// Stats is a snapshot for metrics.
type Stats struct {
	Redis          bool           // Redis is configured
	RedisUp        bool           // Redis is in use (false: local fallback)
	RedisFallbacks uint64         // switches from Redis to local state
	RedisErrors    uint64         // Redis operations that failed
	Waiting        int            // requests queued for a provider
	QueueTimeouts  uint64         // waits that ran out
	InFlight       map[string]int // provider id → leases held by this process
}

// Stats returns current counters.
func (b *Balancer) Stats() Stats {
	s := Stats{
		Redis: b.rds != nil, RedisUp: b.upR.Load(), RedisFallbacks: b.nFall.Load(),
		RedisErrors: b.nErr.Load(), Waiting: b.q.len(), QueueTimeouts: b.nTO.Load(),
		InFlight: map[string]int{},
	}
	b.mu.Lock()
	for l := range b.held {
		s.InFlight[l.c.ID]++
	}
	b.mu.Unlock()
	return s
}

// Lease is a provider held for one request. Release it exactly once on
// every path; further calls are no-ops. While held it is renewed in the
// background, however long a stream lasts.
type Lease struct {
	b      *Balancer
	c      Candidate
	model  string
	kind   Kind
	token  string
	remote bool
	start  time.Time
	done   atomic.Bool
}

// Provider returns the leased provider.
func (l *Lease) Provider() Candidate { return l.c }

// ReleaseTimeout bounds the Redis call of Release, which runs even when the
// request's context is already canceled.
const ReleaseTimeout = 2 * time.Second

// Release frees the provider and records the outcome (passive health and
// dynamic weights). It reports whether this call released the lease (false
// for a repeated call).
func (l *Lease) Release(o Outcome) bool {
	if !l.done.CompareAndSwap(false, true) {
		return false
	}
	b := l.b
	b.mu.Lock()
	delete(b.held, l)
	b.mu.Unlock()
	if o.Latency <= 0 {
		o.Latency = time.Since(l.start)
	}
	b.observe(l.c.ID, o)
	h := health{result: o.Result}
	if b.o.Cooldown > 0 {
		h.cool, h.after, h.window = b.o.Cooldown, b.o.CooldownAfter, b.o.CooldownWindow
	}
	if l.remote {
		err := errNotUp
		if b.upR.Load() {
			ctx, cancel := context.WithTimeout(context.Background(), ReleaseTimeout)
			err = b.rds.release(ctx, l, h)
			cancel()
		}
		if err != nil {
			// Replayed once Redis answers again (else it expires by its TTL).
			b.mu.Lock()
			if len(b.unrel) >= maxUnreleased {
				b.unrel = b.unrel[1:]
			}
			b.unrel = append(b.unrel, l)
			b.mu.Unlock()
			if err != errNotUp {
				b.fallback(err)
			}
		}
	}
	// Local release (for local leases; for remote ones it only counts the
	// run of failures, so a fallback still knows about it).
	_ = b.mem.release(context.Background(), l, h)
	b.q.wake(l.c.ID) // even after a failure: a waiter then learns if all are down
	if b.o.OnRelease != nil {
		b.o.OnRelease(l.c, o)
	}
	return true
}
