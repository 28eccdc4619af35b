// Package client is the Go client of llm-router: typed calls for the
// built-in task endpoints (conversation_with_model, translate, …), ping,
// version, the model list, fast_text_mask and OpenAI-style chat completions
// through the router, streamed as an iterator.
//
// Every call takes a context. A [Client] sends `Authorization: Bearer
// <token>` when given a token, bounds each attempt with a timeout, reads at
// most a bounded number of bytes of each answer, and retries with
// exponential backoff and jitter on 429 (waiting at least as long as the
// Retry-After header asks), 502, 503, 504 and connection errors; it never
// retries any other 4xx. Failed calls return typed errors that callers test
// with errors.As: [*AuthenticationError], [*RateLimitError],
// [*ValidationError] (with the server's message), [*NotFoundError],
// [*ServerError]; each unwraps to the [*APIError] with the status and
// message.
//
//	c, err := client.New("http://localhost:8080", client.WithToken(os.Getenv("LLM_ROUTER_TOKEN")))
//	res, err := c.Translate(ctx, client.TranslateRequest{Model: "bielik", Texts: []string{"Hello"}})
//
// The package uses only the standard library.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults of a [Client]; each has an option to change it.
const (
	DefaultTimeout          = 60 * time.Second
	DefaultRetries          = 3
	DefaultBackoff          = 250 * time.Millisecond
	DefaultMaxBackoff       = 10 * time.Second
	DefaultMaxResponseBytes = 32 << 20
	DefaultPrefix           = "/api"
)

// Client calls one llm-router. It is safe for concurrent use.
type Client struct {
	base       string
	prefix     string
	token      string
	hc         *http.Client
	timeout    time.Duration
	retries    int
	backoff    time.Duration
	maxBackoff time.Duration
	maxBody    int64
	userAgent  string
}

// Option configures a [Client].
type Option func(*Client)

// WithToken sends `Authorization: Bearer token` on every call (none when
// empty).
func WithToken(token string) Option { return func(c *Client) { c.token = token } }

// WithHTTPClient uses hc for the calls (its Timeout, if any, applies too).
// The default is a client of its own whose transport keeps up to 128 idle
// connections to the router.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.hc = hc } }

// WithTimeout bounds each attempt of a call, answer body included (default
// [DefaultTimeout]; 0 = no bound but the context's). For a stream it bounds
// the wait for the response headers only.
func WithTimeout(d time.Duration) Option { return func(c *Client) { c.timeout = d } }

// WithRetries sets how many times a call is retried after a retryable
// failure (default [DefaultRetries]; 0 = never).
func WithRetries(n int) Option { return func(c *Client) { c.retries = max(n, 0) } }

// WithBackoff sets the first retry delay and the cap of the exponential
// backoff (defaults [DefaultBackoff], [DefaultMaxBackoff]). The delay before
// retry n is a random duration in [d/2, d] with d = min(base·2ⁿ, max), or
// the server's Retry-After when that is longer.
func WithBackoff(base, maxDelay time.Duration) Option {
	return func(c *Client) { c.backoff, c.maxBackoff = base, max(maxDelay, base) }
}

// WithMaxResponseBytes bounds the size of an answer body read into memory
// (default [DefaultMaxResponseBytes]); a stream bounds each event to it.
func WithMaxResponseBytes(n int64) Option { return func(c *Client) { c.maxBody = n } }

// WithPrefix sets the router's endpoint prefix (LLM_ROUTER_EP_PREFIX; default
// "/api"; "" for none).
func WithPrefix(p string) Option {
	return func(c *Client) {
		p = strings.Trim(p, "/")
		if p == "" {
			c.prefix = ""
			return
		}
		c.prefix = "/" + p
	}
}

// WithUserAgent sets the User-Agent header.
func WithUserAgent(ua string) Option { return func(c *Client) { c.userAgent = ua } }

// New returns a client of the router at baseURL (scheme, host and port,
// e.g. "http://localhost:8080"; without the /api prefix).
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(strings.TrimRight(baseURL, "/"))
	if err != nil {
		return nil, fmt.Errorf("llm-router client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("llm-router client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 128 // batch tools keep many calls in flight to one router
	c := &Client{
		base: u.String(), prefix: DefaultPrefix, hc: &http.Client{Transport: tr}, timeout: DefaultTimeout,
		retries: DefaultRetries, backoff: DefaultBackoff, maxBackoff: DefaultMaxBackoff,
		maxBody: DefaultMaxResponseBytes, userAgent: "llm-router-go-client",
	}
	for _, o := range opts {
		o(c)
	}
	if c.maxBody <= 0 {
		c.maxBody = DefaultMaxResponseBytes
	}
	return c, nil
}

// BaseURL returns the router's base URL.
func (c *Client) BaseURL() string { return c.base }

// ErrResponseTooLarge is returned (wrapped) when an answer exceeds the
// client's response size bound.
var ErrResponseTooLarge = errors.New("answer larger than the client's bound")

// ErrInvalidResponse is returned (wrapped) when an answer is not the JSON
// the endpoint documents.
var ErrInvalidResponse = errors.New("invalid answer from the router")

// getJSON sends GET path and decodes the answer into out.
func (c *Client) getJSON(ctx context.Context, path string, out any) error {
	return c.callJSON(ctx, http.MethodGet, path, nil, out)
}

// postJSON sends in as JSON to path and decodes the answer into out.
func (c *Client) postJSON(ctx context.Context, path string, in, out any) error {
	body, err := json.Marshal(in)
	if err != nil {
		return fmt.Errorf("llm-router client: encoding request: %w", err)
	}
	return c.callJSON(ctx, http.MethodPost, path, body, out)
}

func (c *Client) callJSON(ctx context.Context, method, path string, body []byte, out any) error {
	return c.retry(ctx, method, path, func(ctx context.Context) (time.Duration, bool, error) {
		ctx, cancel := c.attemptContext(ctx)
		defer cancel()
		resp, err := c.send(ctx, method, path, body, "application/json")
		if err != nil {
			return 0, retryableNetErr(ctx, err), err
		}
		defer resp.Body.Close()
		data, err := readBounded(resp.Body, c.maxBody)
		if err != nil {
			if errors.Is(err, ErrResponseTooLarge) {
				return 0, false, fmt.Errorf("%s %s: %w (%d bytes)", method, path, err, c.maxBody)
			}
			return 0, retryableNetErr(ctx, err), fmt.Errorf("%s %s: reading answer: %w", method, path, err)
		}
		if resp.StatusCode/100 != 2 {
			apiErr := newAPIError(resp, data)
			return apiErr.RetryAfter, retryableStatus(resp.StatusCode), typed(apiErr)
		}
		if err := json.Unmarshal(data, out); err != nil {
			return 0, false, fmt.Errorf("%s %s: %w: %v", method, path, ErrInvalidResponse, err)
		}
		return 0, false, nil
	})
}

// attemptContext bounds one attempt by the client's timeout.
func (c *Client) attemptContext(ctx context.Context) (context.Context, context.CancelFunc) {
	if c.timeout > 0 {
		return context.WithTimeout(ctx, c.timeout)
	}
	return context.WithCancel(ctx)
}

// send makes one HTTP request.
func (c *Client) send(ctx context.Context, method, path string, body []byte, accept string) (*http.Response, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, fmt.Errorf("llm-router client: %w", err)
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	req.Header.Set("Accept", accept)
	if c.userAgent != "" {
		req.Header.Set("User-Agent", c.userAgent)
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	return resp, nil
}

// attempt runs one try of a call: it returns the server's Retry-After (0 if
// none), whether the failure may be retried, and the error.
type attempt func(ctx context.Context) (retryAfter time.Duration, retryable bool, err error)

// retry runs fn until it succeeds, fails for good, the retries are spent or
// ctx ends.
func (c *Client) retry(ctx context.Context, method, path string, fn attempt) error {
	for n := 0; ; n++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("%s %s: %w", method, path, err)
		}
		ra, retryable, err := fn(ctx)
		if err == nil || !retryable || n >= c.retries {
			if err != nil && n > 0 {
				return fmt.Errorf("after %d attempts: %w", n+1, err)
			}
			return err
		}
		wait := c.delay(n, ra)
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) < wait {
			return fmt.Errorf("not retried, the context ends before the next attempt: %w", err)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("%s %s: %w (last error: %v)", method, path, ctx.Err(), err)
		case <-t.C:
		}
	}
}

// delay is the wait before retry n+1: full exponential backoff with jitter
// in [d/2, d], at least retryAfter.
func (c *Client) delay(n int, retryAfter time.Duration) time.Duration {
	d := c.backoff
	for i := 0; i < n && d < c.maxBackoff; i++ {
		d *= 2
	}
	d = min(d, c.maxBackoff)
	if d > 0 {
		d = d/2 + rand.N(d/2+1)
	}
	return max(d, retryAfter)
}

func retryableStatus(code int) bool {
	switch code {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return true
	}
	return false
}

// retryableNetErr reports whether a transport error is a connection failure
// worth retrying: not the caller's cancellation nor the attempt's timeout.
func retryableNetErr(ctx context.Context, err error) bool {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return false
	}
	var oe *net.OpError
	return errors.As(err, &oe) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) ||
		strings.Contains(err.Error(), "connection reset")
}

// readBounded reads at most limit bytes of r.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	data, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, ErrResponseTooLarge
	}
	return data, nil
}

// parseRetryAfter reads a Retry-After header: seconds or an HTTP date.
func parseRetryAfter(v string, now time.Time) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil && s >= 0 {
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}
