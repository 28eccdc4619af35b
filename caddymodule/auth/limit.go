package auth

import (
	"context"
	"math"
	"sync"
	"time"
)

// Limiter enforces a key's requests-per-minute (Policy.RPM) and
// tokens-per-minute (Policy.TPM) limits.
//
// Both limits use GCRA (a token bucket kept as one timestamp): a key may
// burst up to a full minute's allowance, which refills continuously. A
// request is admitted only if both limits admit it, and then charged to
// both: one request, and its estimated tokens. When the response is done,
// Settle charges the difference between the actual and the estimated
// tokens (a refund when negative), so TPM follows what was really used.
type Limiter interface {
	// Allow admits a request of key that is expected to use estTokens
	// tokens (0 when unknown: the request then passes if the key is not in
	// token debt). When denied, err wraps ErrRateLimited and retryAfter is
	// how long until the request would be admitted. Other errors (Redis
	// unreachable) come with retryAfter 0.
	Allow(ctx context.Context, key *Key, estTokens int) (retryAfter time.Duration, err error)
	// Settle charges actualTokens-estTokens to the key's TPM, where
	// estTokens is what was passed to Allow.
	Settle(ctx context.Context, key *Key, estTokens, actualTokens int) error
}

// window is the period of both limits.
const window = time.Minute

// RetrySeconds rounds a retry delay up to whole seconds (at least 1), the
// form of the Retry-After header.
func RetrySeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	return max(s, 1)
}

// charge returns the tokens Allow charges: the estimate capped at the limit,
// so an estimate larger than a whole minute's allowance can still pass once
// the bucket is full.
func charge(est, limit int) int {
	return max(0, min(est, limit))
}

// step is one GCRA decision. tat is the theoretical arrival time, now the
// current time, both in the same unit as period. It returns the new tat and
// how long the request must wait (> 0: denied). limit <= 0 means no limit.
func step(tat, now, period int64, limit, cost int) (next, wait int64) {
	if limit <= 0 {
		return tat, 0
	}
	tat = max(tat, now)
	next = tat + int64(math.Floor(float64(cost)*float64(period)/float64(limit)))
	return next, next - now - period
}

// limitError builds the ErrRateLimited error naming the exceeded limit.
func limitError(k *Key, rpmWait, tpmWait int64, wait time.Duration) error {
	if rpmWait > 0 {
		return deny(ErrRateLimited, "API key %q is over its limit of %d requests per minute; retry in %ds",
			k.Name, k.Policy.RPM, RetrySeconds(wait))
	}
	return deny(ErrRateLimited, "API key %q is over its limit of %d tokens per minute; retry in %ds",
		k.Name, k.Policy.TPM, RetrySeconds(wait))
}

// MemoryLimiter is a Limiter for one process.
type MemoryLimiter struct {
	now func() time.Time

	mu        sync.Mutex
	state     map[string]*bucket
	lastSweep int64
}

// bucket holds the GCRA timestamps (Unix nanoseconds) of one key.
type bucket struct{ rpm, tpm int64 }

// NewMemoryLimiter returns an in-memory Limiter; now is its clock (nil:
// time.Now).
func NewMemoryLimiter(now func() time.Time) *MemoryLimiter {
	if now == nil {
		now = time.Now
	}
	return &MemoryLimiter{now: now, state: make(map[string]*bucket)}
}

// Allow implements Limiter.
func (l *MemoryLimiter) Allow(_ context.Context, k *Key, estTokens int) (time.Duration, error) {
	p := k.Policy
	if p.RPM <= 0 && p.TPM <= 0 {
		return 0, nil
	}
	now := l.now().UnixNano()
	period := int64(window)
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweep(now)
	b := l.state[k.Name]
	if b == nil {
		b = &bucket{}
		l.state[k.Name] = b
	}
	rn, rw := step(b.rpm, now, period, p.RPM, 1)
	tn, tw := step(b.tpm, now, period, p.TPM, charge(estTokens, p.TPM))
	if wait := max(rw, tw); wait > 0 {
		return time.Duration(wait), limitError(k, rw, tw, time.Duration(wait))
	}
	b.rpm, b.tpm = rn, tn
	return 0, nil
}

// Settle implements Limiter.
func (l *MemoryLimiter) Settle(_ context.Context, k *Key, estTokens, actualTokens int) error {
	limit := k.Policy.TPM
	delta := actualTokens - charge(estTokens, limit)
	if limit <= 0 || delta == 0 {
		return nil
	}
	now := l.now().UnixNano()
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.state[k.Name]
	if b == nil {
		b = &bucket{}
		l.state[k.Name] = b
	}
	b.tpm = settle(b.tpm, now, int64(window), limit, delta)
	return nil
}

// settle moves a TPM timestamp by delta tokens, never below now.
func settle(tat, now, period int64, limit, delta int) int64 {
	tat = max(tat, now) + int64(math.Floor(float64(delta)*float64(period)/float64(limit)))
	return max(tat, now)
}

// sweep drops, at most once a window, the buckets that are full again (both
// timestamps in the past), so memory follows the active keys only.
func (l *MemoryLimiter) sweep(now int64) {
	if now-l.lastSweep < int64(window) {
		return
	}
	l.lastSweep = now
	for name, b := range l.state {
		if b.rpm <= now && b.tpm <= now {
			delete(l.state, name)
		}
	}
}
