package engine

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// Defaults of the retries option: today's failover.
const (
	// DefaultRetryAttempts is how many providers one request may try.
	DefaultRetryAttempts = 3
	// DefaultRetryBackoff is the pause before the second attempt; each
	// later pause doubles it (jittered down to half).
	DefaultRetryBackoff = 25 * time.Millisecond
	// DefaultRetryBackoffMax caps the doubling pause.
	DefaultRetryBackoffMax = time.Second
)

// RetryOptions configure failover: how many providers a request may try,
// the pause between attempts, and which provider failures are retried on
// another provider. Zero values take the defaults.
type RetryOptions struct {
	// Attempts is how many providers one request may try (default 3; 1
	// means no failover).
	Attempts int `json:"attempts,omitempty"`
	// Backoff is the pause before the second attempt (default 25ms); each
	// later pause doubles, up to BackoffMax, and is jittered down to half.
	Backoff caddy.Duration `json:"backoff,omitempty"`
	// BackoffMax caps the pause (default 1s).
	BackoffMax caddy.Duration `json:"backoff_max,omitempty"`
	// On lists the failures that are retried: connect (the connection
	// could not be made or broke before an answer), timeout, 429, 5xx and
	// malformed (an answer that could not be read). Default: all of them.
	On []string `json:"on,omitempty"`
}

// retryClass is a set of retried failure classes.
type retryClass uint8

const (
	retryConnect retryClass = 1 << iota
	retryTimeout
	retry429
	retry5xx
	retryMalformed

	retryAll = retryConnect | retryTimeout | retry429 | retry5xx | retryMalformed
)

var retryClassNames = map[string]retryClass{
	"connect": retryConnect, "timeout": retryTimeout, "429": retry429, "5xx": retry5xx, "malformed": retryMalformed,
}

// retryPolicy is RetryOptions resolved at provision.
type retryPolicy struct {
	attempts   int
	backoff    time.Duration
	backoffMax time.Duration
	on         retryClass
}

// resolve validates o and fills in the defaults.
func (o *RetryOptions) resolve() (retryPolicy, error) {
	p := retryPolicy{attempts: DefaultRetryAttempts, backoff: DefaultRetryBackoff, backoffMax: DefaultRetryBackoffMax, on: retryAll}
	if o == nil {
		return p, nil
	}
	switch {
	case o.Attempts < 0:
		return p, fmt.Errorf("retries: attempts must be at least 1, got %d", o.Attempts)
	case o.Attempts > 0:
		p.attempts = o.Attempts
	}
	if o.Backoff < 0 || o.BackoffMax < 0 {
		return p, fmt.Errorf("retries: backoff must not be negative")
	}
	if o.Backoff > 0 {
		p.backoff = time.Duration(o.Backoff)
	}
	if o.BackoffMax > 0 {
		p.backoffMax = time.Duration(o.BackoffMax)
	} else if p.backoff > p.backoffMax {
		p.backoffMax = p.backoff
	}
	if p.backoffMax < p.backoff {
		return p, fmt.Errorf("retries: backoff maximum %v is below the initial backoff %v", p.backoffMax, p.backoff)
	}
	if len(o.On) > 0 {
		p.on = 0
		for _, name := range o.On {
			c, ok := retryClassNames[strings.ToLower(name)]
			if !ok {
				return p, fmt.Errorf("retries: on: unknown failure %q (want connect, timeout, 429, 5xx or malformed)", name)
			}
			p.on |= c
		}
	}
	return p, nil
}

// pause is the jittered pause after the attempt-th attempt (0-based): a
// random point in the upper half of backoff·2^attempt, capped at backoffMax.
func (p retryPolicy) pause(attempt int) time.Duration {
	d := p.backoff
	for i := 0; i < attempt && d < p.backoffMax; i++ {
		d *= 2
	}
	d = min(d, p.backoffMax)
	return d/2 + time.Duration(time.Now().UnixNano()%int64(d/2+1))
}

// status reports whether a provider's answer status is retried.
func (p retryPolicy) status(s int) bool {
	switch {
	case s == http.StatusTooManyRequests:
		return p.on&retry429 != 0
	case s >= 500:
		return p.on&retry5xx != 0
	}
	return false
}

// faultStatus reports whether a provider's answer status is the
// provider's fault (429, 5xx): it counts against the provider's passive
// health whether or not the retries option retries it.
func faultStatus(s int) bool { return s == http.StatusTooManyRequests || s >= 500 }

// failure reports whether a failed provider call of this kind is retried.
func (p retryPolicy) failure(kind provider.Failure) bool {
	switch kind {
	case provider.Canceled:
		return false
	case provider.Timeout:
		return p.on&retryTimeout != 0
	}
	return p.on&retryConnect != 0
}

// malformed reports whether an unreadable answer is retried.
func (p retryPolicy) malformed() bool { return p.on&retryMalformed != 0 }

// Provider transports.
const (
	// TransportH1 serves plain-http providers with the router's HTTP/1.1
	// client (each exchange on the caller's goroutine) and https providers
	// with net/http: the default.
	TransportH1 = "h1"
	// TransportNetHTTP serves every provider with net/http.
	TransportNetHTTP = "net_http"
)

// checkTransport validates a transport option's value.
func checkTransport(option, v string) error {
	switch v {
	case "", TransportH1, TransportNetHTTP:
		return nil
	}
	return fmt.Errorf("%s: unknown transport %q (want h1 or net_http)", option, v)
}
