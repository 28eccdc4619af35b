// Package plugins defines the request pipeline of the router: utils (which may
// rewrite the request, e.g. pick a model), guardrails (which may refuse it)
// and maskers (which pseudonymise the text a model reads), run in that order.
//
// A plugin is a Caddy module in one of the namespaces llm_router.utils.*,
// llm_router.guardrails.* or llm_router.maskers.*; its logic implements one
// of the interfaces below in plain Go. Plugins see texts, never raw request
// bodies: the handler extracts the texts a model would read (message
// contents, prompts, tool results) from whatever wire format the client
// speaks and writes the results back, so JSON keys, model names and numbers
// are never masked.
//
// Failure policy is fail-closed: a plugin whose backing service is down,
// slow past its timeout or answering garbage returns an error wrapping
// ErrServiceUnavailable and the request must be refused (503) before
// anything reaches a provider, unless that plugin opted into fail-open.
package plugins

import (
	"context"
	"encoding/json"
	"errors"
)

// Masker pseudonymises texts. MaskTexts returns one masked text per input
// text, in the same order, and the mapping placeholder → original value.
// The mapping is secret: it must never reach logs, errors or metrics.
type Masker interface {
	MaskTexts(ctx context.Context, texts []string) (masked []string, mappings map[string]string, err error)
}

// Guardrail decides whether texts are safe to send to (or return from) a
// model. An error means no decision could be made; it is not "unsafe".
type Guardrail interface {
	Check(ctx context.Context, texts []string) (Decision, error)
}

// Decision is a guardrail verdict.
type Decision struct {
	// Safe is true when the texts may pass.
	Safe bool
	// Guardrail names the guardrail that decided (set on unsafe decisions).
	Guardrail string
	// Reason is a short message fit for the client ("not safe content").
	Reason string
	// Details is the guardrail's own explanation (e.g. per-chunk labels and
	// scores). It may quote the checked text: audit it, do not log it.
	Details json.RawMessage
}

// Request is what a Util sees and may change.
type Request struct {
	// Model is the model the client asked for; a util may replace it (the
	// semantic router turns "auto" into a concrete model name).
	Model string
	// Texts are the user-authored texts of the request, one per user
	// message (its text parts joined by newlines), oldest first: the last
	// one is the newest user turn. The system prompt, assistant turns and
	// tool results are not in it. Utils read them; changes are not written
	// back to the request.
	Texts []string
	// Reason is set by a util that chose Model, for the request log
	// ("target=code similarity=0.83"); never the request's text.
	Reason string
}

// Util transforms a request before guardrails and maskers run.
type Util interface {
	Apply(ctx context.Context, r *Request) error
}

// Service is implemented by plugins backed by a remote HTTP service. The
// ServicesMonitor pings them and the Pipeline uses their state to fail fast.
type Service interface {
	// ServiceName names the plugin in errors, logs and metrics ("pii_masker").
	ServiceName() string
	// PingURL is the health-check address: GET, healthy iff 200 and {"response":"pong"}.
	PingURL() string
	// FailOpen reports whether requests may proceed without this plugin
	// (unmasked, unchecked) while its service is unavailable.
	FailOpen() bool
}

// ErrServiceUnavailable is wrapped by every error meaning "the plugin's
// service could not give a usable answer": down, timed out, non-2xx status
// or a malformed answer. The handler answers it with 503.
var ErrServiceUnavailable = errors.New("service unavailable")

// ServiceError reports an unusable plugin service. Its message names the
// plugin and the kind of failure but never the host, URL or any token; the
// underlying cause stays reachable through errors.Is/As.
type ServiceError struct {
	// Service is the plugin name, e.g. "nask_guard".
	Service string
	// Kind is a short, host-free description: "timeout", "unreachable",
	// "status 500", "invalid answer", "marked down by monitor".
	Kind string
	// Err is the cause (may contain the URL; not part of Error()).
	Err error
}

// Error implements error.
func (e *ServiceError) Error() string {
	return e.Service + ": " + ErrServiceUnavailable.Error() + " (" + e.Kind + ")"
}

// Unwrap returns ErrServiceUnavailable and the cause.
func (e *ServiceError) Unwrap() []error {
	if e.Err == nil {
		return []error{ErrServiceUnavailable}
	}
	return []error{ErrServiceUnavailable, e.Err}
}
