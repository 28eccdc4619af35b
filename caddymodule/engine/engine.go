// Package engine is the request path of llm-router, without Caddy: admit
// (key policy, rate limits, model lookup), the plugin pipeline (routing,
// guardrails, masking), failover over leased providers, the attempt at
// one provider, relay or translation of its answer, usage and the
// observation of the finished request (metrics, log line).
//
// The Caddy adapter (package caddymodule) builds its parts — balancer,
// API keys, audit log, plugins, metrics — and hands them in through the
// small interfaces below; an Engine serves the requests of one loaded
// configuration, a Server the endpoint table of one handler.
package engine

import (
	"context"
	"net/http"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
)

// Balancer leases the providers of a model; the adapter's balancer.
type Balancer interface {
	// Acquire chooses a provider of m that exclude does not rule out (nil:
	// none is ruled out). Its error is the client's answer (an *Error), or
	// ctx's error when the client went away.
	Acquire(ctx context.Context, m *config.Model, exclude func(id string) bool) (Lease, error)
	// Release returns a leased provider with the call's result and latency.
	Release(l Lease, r Result, d time.Duration)
}

// Lease is a provider held by one request until it is released.
type Lease struct {
	// Provider is the leased provider.
	Provider *config.Provider
	// Token is the balancer's own handle of the lease.
	Token any
}

// Result is how a provider call went, for the balancer: only provider
// faults count against a provider's health.
type Result uint8

// The results of a provider call.
const (
	Success  Result = iota // the provider answered
	Failure                // the provider failed (connection, timeout, 429, 5xx, unreadable answer)
	Canceled               // no verdict: the client left, or the router failed
)

// Family is a group of endpoints that an API key's policy may allow (the
// values of auth.Family).
type Family string

// The endpoint families.
const (
	FamilyChat       Family = "chat"
	FamilyEmbeddings Family = "embeddings"
	FamilyBuiltin    Family = "builtin"
	FamilyListing    Family = "listing"
)

// Caller is the API key a request was made with.
type Caller interface {
	// ID names the key in logs (never its secret).
	ID() string
	// AllowsModel reports whether the key's policy allows model.
	AllowsModel(model string) bool
}

// Gate checks callers: their API key before an endpoint runs, their policy
// and rate limits once the model is known. A Server without a Gate serves
// everyone.
type Gate interface {
	// Authenticate checks the key of r for route rt. It returns the
	// caller (nil on a public path) and, on a refusal, the error (an
	// *Error) and the model the refused request asked for, if known.
	Authenticate(r *http.Request, rt Route) (c Caller, asked string, err error)
	// Authorize checks that c may use model on route rt and charges its
	// rate limits with an estimate of tokens; it returns the estimate
	// charged (0 when none was), for Settle.
	Authorize(ctx context.Context, rt Route, c Caller, model string, estimate int) (charged int, err error)
	// Settle charges the tokens a provider reported (actual) in place of
	// the estimate charged.
	Settle(ctx context.Context, c Caller, charged, actual int)
}

// Auditor records audit events (the encrypted audit log).
type Auditor interface {
	Record(ctx context.Context, kind string, fields any) error
}

// Audit record kinds (the values of the audit package's kinds).
const (
	AuditMasking   = "masking"
	AuditGuardrail = "guardrail"
)

// Options are the parts of an Engine, built by the adapter.
type Options struct {
	// Config is the models configuration in force.
	Config *config.Config
	// Upstreams are the prepared clients of the providers, by id.
	Upstreams map[string]*provider.Upstream
	// Balancer leases providers.
	Balancer Balancer
	// Metrics are the router's collectors.
	Metrics *Metrics
	// Pipeline is the plugin pipeline (nil: none).
	Pipeline *plugins.Pipeline
	// Env carries the audit switches of the pipeline stages.
	Env plugins.Env
	// Audit records audit events (nil: no audit log).
	Audit Auditor
	// Retry is the failover policy.
	Retry RetryPolicy
	// ExternalTimeout bounds the wait for a provider's answer.
	ExternalTimeout time.Duration
	// MaxResponseBody bounds a provider's non-streamed answer, and the
	// answers buffered at once beyond their allowance.
	MaxResponseBody int64
	// Logger receives the engine's log lines.
	Logger *zap.Logger
}

// Engine is the request path of one loaded configuration: what every
// handler of it shares.
type Engine struct {
	cfg        *config.Config
	upstreams  map[string]*provider.Upstream
	balancer   Balancer
	metrics    *Metrics
	pipeline   *plugins.Pipeline
	augmenters []plugins.Augmenter // the utils that add retrieved text
	env        plugins.Env
	auditLog   Auditor
	retry      RetryPolicy
	answers    *answerBudget
	embedder   *Server // serves Embed: failover without a handler
	logger     *zap.Logger

	externalTimeout time.Duration // Options.ExternalTimeout
	maxResponseBody int64         // Options.MaxResponseBody
}

// New returns the engine of o's parts.
func New(o Options) *Engine {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Metrics == nil {
		o.Metrics = NewMetrics()
	}
	e := &Engine{cfg: o.Config, upstreams: o.Upstreams, balancer: o.Balancer, metrics: o.Metrics, pipeline: o.Pipeline,
		augmenters: augmenters(o.Pipeline), env: o.Env, auditLog: o.Audit, retry: o.Retry, answers: &answerBudget{max: o.MaxResponseBody},
		externalTimeout: o.ExternalTimeout, maxResponseBody: o.MaxResponseBody, logger: o.Logger}
	e.embedder = &Server{app: e, logger: o.Logger}
	return e
}

// Config returns the models configuration in force.
func (a *Engine) Config() *config.Config { return a.cfg }

// Upstream returns the prepared client of a provider.
func (a *Engine) Upstream(id string) *provider.Upstream { return a.upstreams[id] }

// Metrics returns the engine's collectors.
func (a *Engine) Metrics() *Metrics { return a.metrics }

// hasResponseGuardrails reports whether answers must be checked.
func (a *Engine) hasResponseGuardrails() bool {
	return a.pipeline != nil && len(a.pipeline.ResponseGuardrails) > 0
}
