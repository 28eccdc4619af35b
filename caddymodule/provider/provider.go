// Package provider builds requests to upstream LLM servers: the URL of each
// operation per api_type, the credential headers, and a tuned HTTP transport
// per provider.
package provider

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/h1"
)

// Op is an upstream operation.
type Op int

// Operations a provider may serve.
const (
	OpChat        Op = iota // OpenAI /v1/chat/completions, Ollama /api/chat, Anthropic /v1/messages
	OpCompletions           // legacy OpenAI /v1/completions, Ollama /api/generate
	OpEmbeddings            // OpenAI /v1/embeddings, Ollama /api/embed
	OpResponses             // OpenAI /v1/responses
	OpModels                // model listing (health probes)
	OpHealth                // vLLM /health, Ollama /api/version
)

// AnthropicVersion is the anthropic-version header sent to Anthropic providers.
const AnthropicVersion = "2023-06-01"

// Upstream is a provider ready to be called.
type Upstream struct {
	// P is the configured provider.
	P *config.Provider
	// Client sends the requests; it shares the provider's transport.
	Client *http.Client

	base  *url.URL
	token string
}

// New prepares a provider. token is the resolved credential (placeholders
// already replaced); rt is the transport to use.
func New(p *config.Provider, token string, rt http.RoundTripper) (*Upstream, error) {
	u, err := url.Parse(strings.TrimSpace(p.APIHost))
	if err != nil {
		return nil, fmt.Errorf("provider %s: api_host: %w", p.ID, err)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = ""
	return &Upstream{P: p, base: u, token: token, Client: &http.Client{Transport: rt}}, nil
}

// URL returns the absolute URL of op on this provider. An api_host that
// already carries a path (https://host/v1beta/openai) takes the place of the
// /v1 segment instead of receiving a second one; for Ollama a path is a prefix.
func (u *Upstream) URL(op Op) string {
	path := u.opPath(op)
	out := *u.base
	if u.base.Path != "" {
		if rest, ok := strings.CutPrefix(path, "/v1/"); ok {
			path = u.base.Path + "/" + rest
		} else if path == "/health" {
			path = strings.TrimSuffix(u.base.Path, "/v1") + path
		} else {
			path = u.base.Path + path
		}
	}
	out.Path = path
	return out.String()
}

func (u *Upstream) opPath(op Op) string {
	switch u.P.APIType {
	case config.APIOllama:
		switch op {
		case OpChat:
			return "/api/chat"
		case OpCompletions:
			return "/api/generate"
		case OpEmbeddings:
			return "/api/embed"
		case OpResponses:
			return "/v1/responses"
		case OpModels:
			return "/api/tags"
		case OpHealth:
			return "/api/version"
		}
	case config.APIAnthropic:
		switch op {
		case OpChat, OpCompletions:
			return "/v1/messages"
		case OpModels, OpHealth:
			return "/v1/models"
		}
	}
	switch op {
	case OpCompletions:
		return "/v1/completions"
	case OpEmbeddings:
		return "/v1/embeddings"
	case OpResponses:
		return "/v1/responses"
	case OpModels:
		return "/v1/models"
	case OpHealth:
		if u.P.APIType == config.APIVLLM {
			return "/health"
		}
		return "/v1/models"
	}
	return "/v1/chat/completions"
}

// NewRequest builds a request for op with the provider's credential headers.
// The client's own credentials are never copied: callers pass only the body.
func (u *Upstream) NewRequest(ctx context.Context, method string, op Op, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, u.URL(op), rd)
	if err != nil {
		return nil, fmt.Errorf("provider %s: %w", u.P.ID, err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	u.Authorize(req.Header)
	return req, nil
}

// Authorize sets the provider's credential headers on h.
func (u *Upstream) Authorize(h http.Header) {
	if u.P.APIType == config.APIAnthropic {
		if u.token != "" {
			h.Set("X-Api-Key", u.token)
		}
		h.Set("Anthropic-Version", AnthropicVersion)
		return
	}
	if u.token != "" {
		h.Set("Authorization", "Bearer "+u.token)
	}
}

// TransportOptions tune a provider transport.
type TransportOptions struct {
	// ConnectTimeout bounds the TCP (and TLS) handshake.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response headers.
	ResponseHeaderTimeout time.Duration
	// MaxConnsPerHost caps connections to the provider (0 = no cap).
	MaxConnsPerHost int
	// MaxIdleConnsPerHost is how many idle keep-alive connections are kept.
	MaxIdleConnsPerHost int
	// NetHTTP serves plain-http providers with net/http too, instead of h1.
	NetHTTP bool
}

// Transport is a provider transport: a round tripper whose idle
// connections can be closed when the last config using it is unloaded.
type Transport interface {
	http.RoundTripper
	CloseIdleConnections()
}

// NewTransport returns the transport of one provider: keep-alive
// connections, bounded handshakes and header waits, idle and per-host caps.
// Plain-http providers (vLLM, Ollama and LM Studio on the local network) are
// served by h1, which runs each exchange on the caller's goroutine; https
// providers, and any request through a proxy from the environment, by
// net/http (HTTP/2 where TLS offers it). With NetHTTP every provider is
// served by net/http (an *http.Transport).
func NewTransport(o TransportOptions) Transport {
	if o.ConnectTimeout <= 0 {
		o.ConnectTimeout = 10 * time.Second
	}
	if o.MaxIdleConnsPerHost <= 0 {
		o.MaxIdleConnsPerHost = 256
	}
	const idle = 90 * time.Second
	d := &net.Dialer{Timeout: o.ConnectTimeout, KeepAlive: 30 * time.Second}
	fallback := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           d.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		MaxConnsPerHost:       o.MaxConnsPerHost,
		IdleConnTimeout:       idle,
		TLSHandshakeTimeout:   o.ConnectTimeout,
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
		// Bodies are JSON and SSE; let the provider's compression choice pass
		// through unchanged rather than decoding and re-encoding it.
		DisableCompression: true,
		// Every connection keeps its write buffer for its whole life, idle
		// or streaming; requests are written once, so 2 KiB (headers and a
		// short body in one write, a long body in two) is plenty.
		WriteBufferSize: 2 << 10,
	}
	if o.NetHTTP {
		return fallback
	}
	return &h1.Transport{
		Dial:     d.DialContext,
		Fallback: fallback,
		Proxy: func(r *http.Request) (bool, error) {
			u, err := http.ProxyFromEnvironment(r)
			return u != nil, err
		},
		ResponseHeaderTimeout: o.ResponseHeaderTimeout,
		IdleConnTimeout:       idle,
		MaxIdleConnsPerHost:   o.MaxIdleConnsPerHost,
		MaxConnsPerHost:       o.MaxConnsPerHost,
	}
}

// Failure classifies an error from calling a provider.
type Failure int

// Kinds of provider failure.
const (
	// Unreachable: the connection could not be made (refused, DNS, connect timeout).
	Unreachable Failure = iota + 1
	// Timeout: the provider accepted the request but did not answer in time.
	Timeout
	// Broken: the connection failed after the request was sent.
	Broken
	// Canceled: the client went away.
	Canceled
)

// ClientGone reports whether ctx ended because the client went away (or
// the server shut down), as opposed to a deadline the router set itself:
// a timed-out request still gets an answer.
func ClientGone(ctx context.Context) bool {
	return ctx.Err() != nil && !errors.Is(context.Cause(ctx), context.DeadlineExceeded)
}

// Classify tells what kind of failure err is. clientCtx is the client's
// request context, to tell a client disconnect from a provider failure.
func Classify(clientCtx context.Context, err error) Failure {
	if ClientGone(clientCtx) {
		return Canceled
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return Unreachable
	}
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) {
		return Unreachable
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, ErrIdle) {
		return Timeout
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return Timeout
	}
	return Broken
}

// ErrIdle is the cancellation cause when a stream stays silent too long.
var ErrIdle = errors.New("provider stream idle timeout")
