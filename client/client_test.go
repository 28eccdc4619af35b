package client

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// script is a fake router that answers successive requests with the given
// handlers (the last one repeats) and records what it received.
type script struct {
	mu      sync.Mutex
	steps   []http.HandlerFunc
	n       int
	times   []time.Time
	headers []http.Header
}

func (s *script) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	i := min(s.n, len(s.steps)-1)
	s.n++
	s.times = append(s.times, time.Now())
	s.headers = append(s.headers, r.Header.Clone())
	s.mu.Unlock()
	s.steps[i](w, r)
}

func (s *script) calls() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n
}

func answer(status int, body string, hdr ...string) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		for i := 0; i+1 < len(hdr); i += 2 {
			w.Header().Set(hdr[i], hdr[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		fmt.Fprint(w, body)
	}
}

const okTranslate = `{"response":[{"original":"a","translated":"A"}],"generation_time":0.1}`

func newScript(t *testing.T, steps ...http.HandlerFunc) (*script, *Client) {
	t.Helper()
	s := &script{steps: steps}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, WithToken("tok-secret"), WithBackoff(time.Millisecond, 5*time.Millisecond), WithTimeout(2*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	return s, c
}

func translate(c *Client) (TranslateResponse, error) {
	return c.Translate(context.Background(), TextsRequest{Model: "m", Texts: []string{"a"}})
}

func TestRetries(t *testing.T) {
	tests := []struct {
		name  string
		steps []http.HandlerFunc
		calls int
		ok    bool
		as    func(error) bool
	}{
		{"503 then success", []http.HandlerFunc{answer(503, `{"error":{"message":"busy"}}`), answer(200, okTranslate)}, 2, true, nil},
		{"502 and 504 then success", []http.HandlerFunc{answer(502, `{}`), answer(504, `{}`), answer(200, okTranslate)}, 3, true, nil},
		{"503 forever: server error after the retries", []http.HandlerFunc{answer(503, `{"error":{"message":"busy"}}`)}, 4, false,
			func(err error) bool {
				var e *ServerError
				return errors.As(err, &e) && e.StatusCode == 503 && e.Message == "busy"
			}},
		{"500 is not retried", []http.HandlerFunc{answer(500, `{"error":{"message":"boom"}}`)}, 1, false,
			func(err error) bool { var e *ServerError; return errors.As(err, &e) && e.StatusCode == 500 }},
		{"400 is not retried and keeps the server's message", []http.HandlerFunc{
			answer(400, `{"error":{"message":"field \"texts\": is required","type":"builtin_error","param":"texts","code":400},"status":false}`)}, 1, false,
			func(err error) bool {
				var e *ValidationError
				return errors.As(err, &e) && e.Param == "texts" && e.Message == `field "texts": is required`
			}},
		{"401 is an authentication error", []http.HandlerFunc{answer(401, `{"error":{"message":"invalid API key"}}`)}, 1, false,
			func(err error) bool { var e *AuthenticationError; return errors.As(err, &e) }},
		{"403 is an authentication error", []http.HandlerFunc{answer(403, `{"error":{"message":"model not allowed"}}`)}, 1, false,
			func(err error) bool { var e *AuthenticationError; return errors.As(err, &e) }},
		{"404 is not found", []http.HandlerFunc{answer(404, `{"error":"model 'x' not found"}`)}, 1, false,
			func(err error) bool {
				var e *NotFoundError
				return errors.As(err, &e) && e.Message == "model 'x' not found"
			}},
		{"409 is a plain API error", []http.HandlerFunc{answer(409, `conflict`)}, 1, false,
			func(err error) bool {
				var e *APIError
				return errors.As(err, &e) && e.StatusCode == 409 && e.Message == "conflict"
			}},
		{"garbage JSON on 200 is not retried", []http.HandlerFunc{answer(200, `{"response": [`)}, 1, false,
			func(err error) bool { return errors.Is(err, ErrInvalidResponse) }},
		{"wrong number of entries", []http.HandlerFunc{answer(200, `{"response":[],"generation_time":0}`)}, 1, false,
			func(err error) bool { return errors.Is(err, ErrInvalidResponse) }},
		{"429 forever: rate limit error with Retry-After", []http.HandlerFunc{answer(429, `{"error":{"message":"slow down"}}`, "Retry-After", "0")}, 4, false,
			func(err error) bool { var e *RateLimitError; return errors.As(err, &e) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, c := newScript(t, tt.steps...)
			res, err := translate(c)
			if tt.ok != (err == nil) {
				t.Fatalf("err = %v, want ok=%v", err, tt.ok)
			}
			if tt.ok && res.Response[0].Translated != "A" {
				t.Errorf("response = %+v", res)
			}
			if tt.as != nil && !tt.as(err) {
				t.Errorf("error %v (%T) is not the expected type", err, errors.Unwrap(err))
			}
			if got := s.calls(); got != tt.calls {
				t.Errorf("server got %d calls, want %d", got, tt.calls)
			}
			if err != nil && strings.Contains(err.Error(), "tok-secret") {
				t.Errorf("error shows the token: %v", err)
			}
			for _, h := range s.headers {
				if h.Get("Authorization") != "Bearer tok-secret" {
					t.Errorf("Authorization = %q", h.Get("Authorization"))
				}
			}
		})
	}
}

// A 429 with Retry-After is retried no earlier than the server asked.
func TestRetryAfterHonoured(t *testing.T) {
	s, c := newScript(t, answer(429, `{"error":{"message":"slow down"}}`, "Retry-After", "1"), answer(200, okTranslate))
	if _, err := translate(c); err != nil {
		t.Fatal(err)
	}
	if s.calls() != 2 {
		t.Fatalf("calls = %d", s.calls())
	}
	if gap := s.times[1].Sub(s.times[0]); gap < time.Second {
		t.Errorf("retried after %v, before the 1s Retry-After", gap)
	}
}

// A Retry-After longer than the caller's deadline ends the call at once
// with the rate limit error.
func TestRetryAfterBeyondDeadline(t *testing.T) {
	s, c := newScript(t, answer(429, `{"error":{"message":"slow down"}}`, "Retry-After", "120"))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err := c.Translate(ctx, TextsRequest{Model: "m", Texts: []string{"a"}})
	var rl *RateLimitError
	if !errors.As(err, &rl) || rl.RetryAfter != 120*time.Second {
		t.Fatalf("err = %v, want a RateLimitError with RetryAfter 120s", err)
	}
	if s.calls() != 1 || ctx.Err() != nil {
		t.Errorf("calls = %d, ctx err = %v; want 1 call and an early return", s.calls(), ctx.Err())
	}
}

// The backoff grows exponentially, stays within its cap and is jittered.
func TestDelay(t *testing.T) {
	c, _ := New("http://x", WithBackoff(100*time.Millisecond, time.Second))
	seen := map[time.Duration]bool{}
	for n, want := range []time.Duration{100, 200, 400, 800, 1000, 1000} {
		want *= time.Millisecond
		for range 50 {
			d := c.delay(n, 0)
			if d < want/2 || d > want {
				t.Fatalf("delay(%d) = %v, want in [%v, %v]", n, d, want/2, want)
			}
			seen[d] = true
		}
	}
	if len(seen) < 10 {
		t.Errorf("only %d distinct delays: no jitter", len(seen))
	}
	if d := c.delay(0, 3*time.Second); d != 3*time.Second {
		t.Errorf("delay with Retry-After 3s = %v", d)
	}
}

// A refused connection is retried, then reported.
func TestConnectionRefused(t *testing.T) {
	c, _ := New(llmtest.RefusedURL(), WithBackoff(time.Millisecond, time.Millisecond), WithRetries(2))
	_, err := c.Ping(context.Background())
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("err = %v", err)
	}
	var api *APIError
	if errors.As(err, &api) {
		t.Errorf("a connection error is not an APIError")
	}
}

// A body that trickles in slower than the timeout fails the call; the
// timeout covers the body, not only the headers.
func TestSlowBody(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	s := &script{steps: []http.HandlerFunc{func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(200)
		fmt.Fprint(w, `{"response":`)
		w.(http.Flusher).Flush()
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := New(srv.URL, WithTimeout(200*time.Millisecond), WithBackoff(time.Millisecond, time.Millisecond))
	_, err := translate(c)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	if s.calls() != 1 {
		t.Errorf("a timed-out attempt was retried (%d calls)", s.calls())
	}
}

// Answers larger than the bound are refused, not read into memory.
func TestBoundedRead(t *testing.T) {
	big := `{"response":[{"original":"a","translated":"` + strings.Repeat("x", 4096) + `"}],"generation_time":0}`
	_, c := newScript(t, answer(200, big))
	WithMaxResponseBytes(1024)(c)
	if _, err := translate(c); !errors.Is(err, ErrResponseTooLarge) {
		t.Fatalf("err = %v, want ErrResponseTooLarge", err)
	}
	WithMaxResponseBytes(int64(len(big)))(c)
	if _, err := translate(c); err != nil {
		t.Fatalf("an answer of exactly the bound: %v", err)
	}
}

// The caller's cancellation stops the retries.
func TestContextStopsRetries(t *testing.T) {
	s := &script{steps: []http.HandlerFunc{answer(503, `{}`)}}
	srv := httptest.NewServer(s)
	defer srv.Close()
	c, _ := New(srv.URL, WithBackoff(time.Hour, time.Hour), WithRetries(5))
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for s.calls() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	_, err := c.Ping(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v", err)
	}
}

func TestErrorMessageShapes(t *testing.T) {
	tests := []struct{ body, msg, typ string }{
		{`{"error":{"message":"m1","type":"invalid_request_error","param":null}}`, "m1", "invalid_request_error"},
		{`{"type":"error","error":{"type":"rate_limit_error","message":"m2"}}`, "m2", "rate_limit_error"},
		{`{"error":"m3"}`, "m3", ""},
		{`<html>Bad Gateway</html>`, "<html>Bad Gateway</html>", ""},
	}
	for _, tt := range tests {
		msg, typ, _ := errorMessage([]byte(tt.body))
		if msg != tt.msg || typ != tt.typ {
			t.Errorf("%s: got %q %q", tt.body, msg, typ)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for in, want := range map[string]time.Duration{
		"": 0, "3": 3 * time.Second, "0.5": 500 * time.Millisecond, "x": 0, "-1": 0,
		now.Add(7 * time.Second).Format(http.TimeFormat): 7 * time.Second,
	} {
		if got := parseRetryAfter(in, now); got != want {
			t.Errorf("parseRetryAfter(%q) = %v, want %v", in, got, want)
		}
	}
}

// Streaming: events arrive in order, a 503 before the stream is retried, an
// error event ends the iteration with an error, a cut stream is reported.
func TestStream(t *testing.T) {
	sse := func(events ...string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Type", "text/event-stream")
			for _, e := range events {
				fmt.Fprintf(w, "data: %s\n\n", e)
			}
		}
	}
	chunk := func(s string) string {
		return `{"id":"c1","model":"m","choices":[{"index":0,"delta":{"content":"` + s + `"},"finish_reason":null}]}`
	}
	tests := []struct {
		name  string
		steps []http.HandlerFunc
		text  string
		err   string
	}{
		{"ok after a 503", []http.HandlerFunc{answer(503, `{}`), sse(chunk("Hel"), chunk("lo"), "[DONE]")}, "Hello", ""},
		{"error event", []http.HandlerFunc{sse(chunk("Hel"), `{"error":{"message":"upstream died","type":"server_error"}}`)}, "Hel", "upstream died"},
		{"cut", []http.HandlerFunc{sse(chunk("Hel"))}, "Hel", "without [DONE]"},
		{"garbage", []http.HandlerFunc{sse(`{nope`)}, "", "invalid answer"},
		{"400", []http.HandlerFunc{answer(400, `{"error":{"message":"bad model"}}`)}, "", "bad model"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, c := newScript(t, tt.steps...)
			var text strings.Builder
			var gotErr error
			for ch, err := range c.ChatCompletionStream(context.Background(), ChatRequest{Model: "m"}) {
				if err != nil {
					gotErr = err
					continue
				}
				text.WriteString(ch.Text())
			}
			if text.String() != tt.text {
				t.Errorf("text = %q, want %q", text.String(), tt.text)
			}
			if (tt.err == "") != (gotErr == nil) || gotErr != nil && !strings.Contains(gotErr.Error(), tt.err) {
				t.Errorf("err = %v, want %q", gotErr, tt.err)
			}
		})
	}
}

// Breaking out of a stream closes the connection; the server sees the
// request canceled.
func TestStreamBreak(t *testing.T) {
	fake := llmtest.NewOpenAI("f")
	defer fake.Close()
	fake.SetReply("one two three four five six", 6)
	fake.SetDelay(50 * time.Millisecond)
	c, _ := New(fake.URL, WithPrefix(""))
	for range c.ChatCompletionStream(context.Background(), ChatRequest{Model: "m", Messages: []ChatMessage{{Role: "user", Content: "x"}}}) {
		break
	}
	deadline := time.Now().Add(5 * time.Second)
	for fake.Canceled() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("the server never saw the stream canceled")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNewRejectsBadURL(t *testing.T) {
	for _, u := range []string{"", "localhost:8080", "ftp://x", "http://"} {
		if _, err := New(u); err == nil {
			t.Errorf("New(%q) accepted", u)
		}
	}
}
