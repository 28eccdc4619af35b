package engine

import (
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// RetryClass is a set of retried failure classes.
type RetryClass uint8

// The failure classes the retries option names: connect, timeout, 429,
// 5xx, malformed; RetryAll is every one (the default).
const (
	RetryConnect RetryClass = 1 << iota
	RetryTimeout
	Retry429
	Retry5xx
	RetryMalformed

	RetryAll = RetryConnect | RetryTimeout | Retry429 | Retry5xx | RetryMalformed
)

// RetryPolicy is the failover policy: the retries option resolved.
type RetryPolicy struct {
	Attempts   int           // providers one request may try
	Backoff    time.Duration // the pause before the second attempt
	BackoffMax time.Duration // the cap of the doubling pause
	On         RetryClass    // the failures retried
}

// Pause is the jittered pause after the attempt-th attempt (0-based): a
// random point in the upper half of backoff·2^attempt, capped at backoffMax.
func (p RetryPolicy) Pause(attempt int) time.Duration {
	d := p.Backoff
	for i := 0; i < attempt && d < p.BackoffMax; i++ {
		d *= 2
	}
	d = min(d, p.BackoffMax)
	return d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
}

// Status reports whether a provider's answer status is retried.
func (p RetryPolicy) Status(s int) bool {
	switch {
	case s == http.StatusTooManyRequests:
		return p.On&Retry429 != 0
	case s >= 500:
		return p.On&Retry5xx != 0
	}
	return false
}

// faultStatus reports whether a provider's answer status is the
// provider's fault (429, 5xx): it counts against the provider's passive
// health whether or not the retries option retries it.
func faultStatus(s int) bool { return s == http.StatusTooManyRequests || s >= 500 }

// Failure reports whether a failed provider call of this kind is retried.
func (p RetryPolicy) Failure(kind provider.Failure) bool {
	switch kind {
	case provider.Canceled:
		return false
	case provider.Timeout:
		return p.On&RetryTimeout != 0
	}
	return p.On&RetryConnect != 0
}

// Malformed reports whether an unreadable answer is retried.
func (p RetryPolicy) Malformed() bool { return p.On&RetryMalformed != 0 }
