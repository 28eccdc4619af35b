package caddymodule

import (
	"fmt"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/caddymodule/engine"
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

var retryClassNames = map[string]engine.RetryClass{
	"connect": engine.RetryConnect, "timeout": engine.RetryTimeout, "429": engine.Retry429, "5xx": engine.Retry5xx, "malformed": engine.RetryMalformed,
}

// resolve validates o and fills in the defaults.
func (o *RetryOptions) resolve() (engine.RetryPolicy, error) {
	p := engine.RetryPolicy{Attempts: DefaultRetryAttempts, Backoff: DefaultRetryBackoff, BackoffMax: DefaultRetryBackoffMax, On: engine.RetryAll}
	if o == nil {
		return p, nil
	}
	switch {
	case o.Attempts < 0:
		return p, fmt.Errorf("retries: attempts must be at least 1, got %d", o.Attempts)
	case o.Attempts > 0:
		p.Attempts = o.Attempts
	}
	if o.Backoff < 0 || o.BackoffMax < 0 {
		return p, fmt.Errorf("retries: backoff must not be negative")
	}
	if o.Backoff > 0 {
		p.Backoff = time.Duration(o.Backoff)
	}
	if o.BackoffMax > 0 {
		p.BackoffMax = time.Duration(o.BackoffMax)
	} else if p.Backoff > p.BackoffMax {
		p.BackoffMax = p.Backoff
	}
	if p.BackoffMax < p.Backoff {
		return p, fmt.Errorf("retries: backoff maximum %v is below the initial backoff %v", p.BackoffMax, p.Backoff)
	}
	if len(o.On) > 0 {
		p.On = 0
		for _, name := range o.On {
			c, ok := retryClassNames[strings.ToLower(name)]
			if !ok {
				return p, fmt.Errorf("retries: on: unknown failure %q (want connect, timeout, 429, 5xx or malformed)", name)
			}
			p.On |= c
		}
	}
	return p, nil
}

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
