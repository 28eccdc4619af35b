package h1

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// rawServer answers each request it reads on a connection with whatever
// reply writes; a reply that returns false ends the connection.
type rawServer struct {
	ln    net.Listener
	reply func(c net.Conn, req *http.Request, body []byte) bool
	conns atomic.Int64
	wg    sync.WaitGroup
	mu    sync.Mutex
	open  []net.Conn
	// closed receives one value per connection the client closed (read EOF).
	closed chan struct{}
}

func newRawServer(t *testing.T, reply func(c net.Conn, req *http.Request, body []byte) bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, reply: reply, closed: make(chan struct{}, 100)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			s.mu.Lock()
			s.open = append(s.open, c)
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		s.mu.Lock()
		for _, c := range s.open {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, syscall.ECONNRESET) {
				s.closed <- struct{}{}
			}
			return
		}
		body, err := io.ReadAll(req.Body)
		if err != nil {
			return
		}
		if !s.reply(c, req, body) {
			return
		}
	}
}

func (s *rawServer) url(path string) string { return "http://" + s.ln.Addr().String() + path }

// countingDial dials TCP and counts the dials.
type countingDial struct {
	n    atomic.Int64
	wrap func(net.Conn) net.Conn
}

func (d *countingDial) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.n.Add(1)
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err == nil && d.wrap != nil {
		c = d.wrap(c)
	}
	return c, err
}

func newTransport(d *countingDial) *Transport {
	return &Transport{Dial: d.dial, Fallback: failingRT{}}
}

type failingRT struct{}

func (failingRT) RoundTrip(*http.Request) (*http.Response, error) {
	return nil, errors.New("fallback used")
}

// result is what a user of a transport sees of one exchange.
type result struct {
	err     bool
	status  int
	header  http.Header
	body    string
	bodyErr bool
	length  int64
}

func roundTrip(rt http.RoundTripper, u string) result {
	req, _ := http.NewRequest("POST", u, strings.NewReader(`{"model":"m"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := rt.RoundTrip(req)
	if err != nil {
		return result{err: true}
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return result{status: resp.StatusCode, header: resp.Header, body: string(b), bodyErr: err != nil, length: resp.ContentLength}
}

// TestAgreesWithNetHTTP reads the same raw responses through h1 and
// through net/http's Transport and expects the same status, headers, body
// and errors.
func TestAgreesWithNetHTTP(t *testing.T) {
	tests := []struct {
		name string
		raw  string
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"id\":\"x1\"}"},
		{"chunked stream", "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nTransfer-Encoding: chunked\r\n\r\n" +
			"d\r\ndata: {\"a\":1}\n\r\n" + "1\r\n\n\r\n" + "e\r\ndata: [DONE]\n\n\r\n" + "0\r\n\r\n"},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nTrailer: X-T\r\n\r\n3\r\nabc\r\n0\r\nX-T: 1\r\n\r\n"},
		{"chunk extension", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;ext=1\r\nabc\r\n0\r\n\r\n"},
		{"close-delimited", "HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end"},
		{"http/1.0", "HTTP/1.0 200 OK\r\n\r\nold"},
		{"early hints first", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"many early hints", strings.Repeat("HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\n", 50) + "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{"status 000", "HTTP/1.1 000 \r\n\r\nbody"},
		{"no content", "HTTP/1.1 204 No Content\r\n\r\n"},
		{"provider error", "HTTP/1.1 429 Too Many Requests\r\nRetry-After: 3\r\nContent-Length: 9\r\n\r\nslow down"},
		{"repeated header", "HTTP/1.1 200 OK\r\nX-A: 1\r\nX-A: 2\r\nContent-Length: 0\r\n\r\n"},
		{"folded case header", "HTTP/1.1 200 OK\r\ncontent-type: text/plain\r\ncontent-length: 1\r\n\r\nz"},
		{"short content-length", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\ncut"},
		{"cut chunked", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nabc"},
		{"bad chunk size", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"endless headers", "HTTP/1.1 200 OK\r\n" + strings.Repeat("X-A: "+strings.Repeat("a", 1000)+"\r\n", 11<<10)},
		{"garbage status line", "HTTP/1.1 OK\r\n\r\n"},
		{"not http", "SSH-2.0-OpenSSH\r\n"},
		{"nothing", ""},
		{"headers cut", "HTTP/1.1 200 OK\r\nContent-Le"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
				io.WriteString(c, tt.raw)
				return false
			})
			std := &http.Transport{DisableCompression: true}
			defer std.CloseIdleConnections()
			want := roundTrip(std, srv.url("/v1/chat/completions"))
			got := roundTrip(newTransport(&countingDial{}), srv.url("/v1/chat/completions"))
			if got.err != want.err || got.status != want.status || got.body != want.body ||
				got.bodyErr != want.bodyErr || got.length != want.length {
				t.Errorf("h1 = %+v\nnet/http = %+v", got, want)
			}
			if !want.err && !headersEqual(got.header, want.header) {
				t.Errorf("headers: h1 %v, net/http %v", got.header, want.header)
			}
		})
	}
}

func headersEqual(a, b http.Header) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if strings.Join(v, "\x00") != strings.Join(b[k], "\x00") {
			return false
		}
	}
	return true
}

// TestRequestAgreesWithNetHTTP compares the requests both transports put
// on the wire, as a server parses them.
func TestRequestAgreesWithNetHTTP(t *testing.T) {
	tests := []struct {
		name, method, path, body string
		header                   http.Header
		host                     string
		close                    bool
	}{
		{name: "chat", method: "POST", path: "/v1/chat/completions?x=1", body: `{"model":"m","stream":true}`,
			header: http.Header{"Content-Type": {"application/json"}, "Authorization": {"Bearer t"}, "X-Request-Id": {"r1"}}},
		{name: "get without body", method: "GET", path: "/v1/models"},
		{name: "post without body", method: "POST", path: "/api/version"},
		{name: "host override", method: "GET", path: "/", host: "llm.internal"},
		{name: "user agent", method: "GET", path: "/", header: http.Header{"User-Agent": {"llm-router"}}},
		{name: "header with line break", method: "GET", path: "/", header: http.Header{"X-A": {"a\r\nX-Injected: 1"}}},
		{name: "header name not a token", method: "GET", path: "/", header: http.Header{"X A": {"1"}}},
		{name: "connection close", method: "GET", path: "/", close: true},
		{name: "escaped path", method: "GET", path: "/a%2Fb/c d"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			type seen struct {
				method, uri, host, body string
				header                  http.Header
				length                  int64
			}
			got := make(chan seen, 2)
			srv := newRawServer(t, func(c net.Conn, req *http.Request, body []byte) bool {
				got <- seen{req.Method, req.RequestURI, req.Host, string(body), req.Header, req.ContentLength}
				io.WriteString(c, "HTTP/1.1 204 No Content\r\n\r\n")
				return true
			})
			send := func(rt http.RoundTripper) seen {
				var body io.Reader
				if tt.body != "" {
					body = strings.NewReader(tt.body)
				}
				req, err := http.NewRequest(tt.method, srv.url(tt.path), body)
				if err != nil {
					t.Fatal(err)
				}
				for k, v := range tt.header {
					req.Header[k] = v
				}
				req.Host = tt.host
				req.Close = tt.close
				resp, err := rt.RoundTrip(req)
				if err != nil {
					return seen{method: "refused: " + strings.SplitN(err.Error(), ":", 2)[1]}
				}
				resp.Body.Close()
				return <-got
			}
			std := &http.Transport{DisableCompression: true}
			defer std.CloseIdleConnections()
			want := send(std)
			have := send(newTransport(&countingDial{}))
			if have.method != want.method || have.uri != want.uri || have.host != want.host ||
				have.body != want.body || have.length != want.length {
				t.Errorf("h1 sent %+v\nnet/http sent %+v", have, want)
			}
			delete(want.header, "Accept-Encoding")
			if !headersEqual(have.header, want.header) {
				t.Errorf("headers: h1 %v, net/http %v", have.header, want.header)
			}
		})
	}
}

func okServer(t *testing.T, answer string) *rawServer {
	return newRawServer(t, func(c net.Conn, req *http.Request, _ []byte) bool {
		io.WriteString(c, answer)
		return true
	})
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

func get(t *testing.T, rt http.RoundTripper, u string, readAll bool) {
	t.Helper()
	req, _ := http.NewRequest("POST", u, strings.NewReader("{}"))
	resp, err := rt.RoundTrip(req)
	if err != nil {
		t.Fatalf("round trip: %v", err)
	}
	if readAll {
		if b, err := io.ReadAll(resp.Body); err != nil || string(b) != "ok" {
			t.Fatalf("body %q, %v", b, err)
		}
	}
	resp.Body.Close()
}

func TestConnectionReuse(t *testing.T) {
	tests := []struct {
		name      string
		answer    string
		readAll   bool
		wantDials int64
	}{
		{"read to the end: one connection", okAnswer, true, 1},
		{"closed before the end: a new connection each time", okAnswer, false, 5},
		{"provider says close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", true, 5},
		{"chunked stream read to the end", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n", true, 1},
		{"no body", "HTTP/1.1 204 No Content\r\n\r\n", false, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := okServer(t, tt.answer)
			d := &countingDial{}
			tr := newTransport(d)
			defer tr.CloseIdleConnections()
			for range 5 {
				req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
				resp, err := tr.RoundTrip(req)
				if err != nil {
					t.Fatal(err)
				}
				if tt.readAll {
					io.ReadAll(resp.Body)
				}
				resp.Body.Close()
			}
			if got := d.n.Load(); got != tt.wantDials {
				t.Errorf("%d dials, want %d", got, tt.wantDials)
			}
		})
	}
}

// TestIdleClosedByProvider: a provider that closes a keep-alive connection
// while it waits in the pool costs the next request nothing.
func TestIdleClosedByProvider(t *testing.T) {
	if !canPeek {
		t.Skip("idle connections are not peeked at on this platform")
	}
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, okAnswer)
		return false // keep-alive announced, closed anyway
	})
	d := &countingDial{}
	tr := newTransport(d)
	defer tr.CloseIdleConnections()
	get(t, tr, srv.url("/"), true)
	// Wait until the provider's FIN has reached this side.
	waitFor(t, func() bool {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		for _, cs := range tr.idle {
			for _, c := range cs {
				return !c.peek.alive()
			}
		}
		return false
	})
	get(t, tr, srv.url("/"), true)
	if got := d.n.Load(); got != 2 {
		t.Errorf("%d dials, want 2", got)
	}
}

// brokenWrite fails every write after the first exchange, as a connection
// the provider reset while idle does.
type brokenWrite struct {
	net.Conn
	writes atomic.Int64
}

func (c *brokenWrite) Write(p []byte) (int, error) {
	if c.writes.Add(1) > 1 {
		return 0, syscall.EPIPE
	}
	return c.Conn.Write(p)
}

// TestResendWhenNothingWritten: a request that could not be written at all
// on a reused connection is sent again on a new one.
func TestResendWhenNothingWritten(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, body []byte) bool {
		mu.Lock()
		bodies = append(bodies, string(body))
		mu.Unlock()
		io.WriteString(c, okAnswer)
		return true
	})
	d := &countingDial{wrap: func(c net.Conn) net.Conn { return &brokenWrite{Conn: c} }}
	tr := newTransport(d)
	defer tr.CloseIdleConnections()
	for _, b := range []string{`{"n":1}`, `{"n":2}`} {
		req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader(b))
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %s: %v", b, err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if got := d.n.Load(); got != 2 {
		t.Errorf("%d dials, want 2", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if strings.Join(bodies, " ") != `{"n":1} {"n":2}` {
		t.Errorf("provider received %q", bodies)
	}
}

// TestCancel: a request whose context ends stops waiting at once, headers
// or body, with the context's cause, and its connection is not reused.
func TestCancel(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	srv := newRawServer(t, func(c net.Conn, req *http.Request, _ []byte) bool {
		if req.URL.Path == "/body" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nfirst\r\n")
		}
		<-hold
		return false
	})
	cause := errors.New("client left")
	for _, path := range []string{"/headers", "/body"} {
		t.Run(path, func(t *testing.T) {
			d := &countingDial{}
			tr := newTransport(d)
			defer tr.CloseIdleConnections()
			ctx, cancel := context.WithCancelCause(context.Background())
			req, _ := http.NewRequestWithContext(ctx, "POST", srv.url(path), strings.NewReader("{}"))
			var err error
			if path == "/headers" {
				go func() {
					waitFor(t, func() bool { return d.n.Load() == 1 })
					cancel(cause)
				}()
				_, err = tr.RoundTrip(req)
			} else {
				resp, rerr := tr.RoundTrip(req)
				if rerr != nil {
					t.Fatal(rerr)
				}
				buf := make([]byte, 5)
				if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first" {
					t.Fatalf("first chunk %q, %v", buf, err)
				}
				cancel(cause)
				_, err = resp.Body.Read(buf)
				if _, again := resp.Body.Read(buf); !errors.Is(again, cause) {
					t.Errorf("a read after the cancellation: %v, want the cause again", again)
				}
				resp.Body.Close()
			}
			if !errors.Is(err, cause) {
				t.Errorf("error %v, want the cause %v", err, cause)
			}
			tr.mu.Lock()
			idle := len(tr.idle[hostPort(req)])
			tr.mu.Unlock()
			if idle != 0 {
				t.Errorf("%d idle connections after a canceled exchange", idle)
			}
		})
	}
}

func TestResponseHeaderTimeout(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
		<-hold
		return false
	})
	tr := newTransport(&countingDial{})
	tr.ResponseHeaderTimeout = 20 * time.Millisecond
	req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
	_, err := tr.RoundTrip(req)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a timeout", err)
	}
}

// TestHeaderTimeoutDoesNotLimitBody: the header timeout ends with the
// headers; a stream may be slower than it afterwards.
func TestHeaderTimeoutDoesNotLimitBody(t *testing.T) {
	next := make(chan struct{})
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\r\n")
		<-next
		io.WriteString(c, "1\r\nb\r\n0\r\n\r\n")
		return true
	})
	tr := newTransport(&countingDial{})
	tr.ResponseHeaderTimeout = time.Millisecond
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	buf := make([]byte, 1)
	if _, err := io.ReadFull(resp.Body, buf); err != nil {
		t.Fatal(err)
	}
	// Well past the header timeout before the rest comes.
	timer := time.NewTimer(20 * tr.ResponseHeaderTimeout)
	<-timer.C
	close(next)
	rest, err := io.ReadAll(resp.Body)
	if err != nil || string(rest) != "b" {
		t.Fatalf("rest %q, %v", rest, err)
	}
}

func TestIdleTimeout(t *testing.T) {
	srv := okServer(t, okAnswer)
	tr := newTransport(&countingDial{})
	tr.IdleConnTimeout = 10 * time.Millisecond
	get(t, tr, srv.url("/"), true)
	select {
	case <-srv.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("the idle connection was not closed")
	}
}

func TestMaxIdleConnsPerHost(t *testing.T) {
	release := make(chan struct{})
	var waiting atomic.Int64
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
		waiting.Add(1)
		<-release
		io.WriteString(c, okAnswer)
		return true
	})
	d := &countingDial{}
	tr := newTransport(d)
	tr.MaxIdleConnsPerHost = 1
	defer tr.CloseIdleConnections()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			get(t, tr, srv.url("/"), true)
		}()
	}
	waitFor(t, func() bool { return waiting.Load() == 3 })
	close(release)
	wg.Wait()
	for range 2 {
		<-srv.closed // two of the three were not kept
	}
	get(t, tr, srv.url("/"), true)
	if got := d.n.Load(); got != 3 {
		t.Errorf("%d dials, want 3 (the fourth request reuses the one idle connection)", got)
	}
}

func TestMaxConnsPerHost(t *testing.T) {
	srv := okServer(t, okAnswer)
	d := &countingDial{}
	tr := newTransport(d)
	tr.MaxConnsPerHost = 1
	defer tr.CloseIdleConnections()
	req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
	first, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	// A second request waits for the first connection; its context ends.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req2, _ := http.NewRequestWithContext(ctx, "POST", srv.url("/"), strings.NewReader("{}"))
	if _, err := tr.RoundTrip(req2); !errors.Is(err, context.Canceled) {
		t.Fatalf("capped request: %v, want context.Canceled", err)
	}
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
		resp, err := tr.RoundTrip(req)
		if err == nil {
			io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		done <- err
	}()
	first.Body.Close() // not read to the end: the connection closes, freeing the slot
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := d.n.Load(); got != 2 {
		t.Errorf("%d dials, want 2", got)
	}
}

// TestFallback: what h1 does not speak goes to the fallback transport.
func TestFallback(t *testing.T) {
	tls := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "over "+r.Proto)
	}))
	defer tls.Close()
	plain := okServer(t, okAnswer)
	tests := []struct {
		name  string
		req   func() *http.Request
		proxy bool
		want  string
	}{
		{"https", func() *http.Request { r, _ := http.NewRequest("GET", tls.URL, nil); return r }, false, "over HTTP/1.1"},
		{"proxy", func() *http.Request { r, _ := http.NewRequest("GET", plain.url("/"), nil); return r }, true, "fallback"},
		{"unknown length", func() *http.Request {
			r, _ := http.NewRequest("POST", plain.url("/"), io.NopCloser(strings.NewReader("{}")))
			return r
		}, false, "fallback"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &countingDial{}
			tr := &Transport{Dial: d.dial, Fallback: tls.Client().Transport}
			if tt.name != "https" {
				tr.Fallback = answerRT("fallback")
			}
			if tt.proxy {
				tr.Proxy = func(*http.Request) (bool, error) { return true, nil }
			}
			resp, err := tr.RoundTrip(tt.req())
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if string(b) != tt.want || d.n.Load() != 0 {
				t.Errorf("body %q, h1 dials %d; want %q and none", b, d.n.Load(), tt.want)
			}
		})
	}
}

type answerRT string

func (a answerRT) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: 200, Body: io.NopCloser(strings.NewReader(string(a)))}, nil
}

// TestConcurrentReadAndClose: closing a body from another goroutine while
// a read waits ends the read.
func TestConcurrentReadAndClose(t *testing.T) {
	hold := make(chan struct{})
	defer close(hold)
	srv := newRawServer(t, func(c net.Conn, _ *http.Request, _ []byte) bool {
		io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
		<-hold
		return false
	})
	tr := newTransport(&countingDial{})
	req, _ := http.NewRequest("POST", srv.url("/"), strings.NewReader("{}"))
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := resp.Body.Read(make([]byte, 10))
		done <- err
	}()
	resp.Body.Close()
	if err := <-done; err == nil {
		t.Fatal("read on a closed body succeeded")
	}
}

// waitFor polls cond until it holds, failing after a generous deadline.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Error("condition not reached in 10s")
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// BenchmarkRoundTrip is a keep-alive request with a small JSON answer,
// through h1 and through net/http's Transport.
func BenchmarkRoundTrip(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"id":"chatcmpl-1","object":"chat.completion","choices":[{"index":0,"message":{"role":"assistant","content":"hello"},"finish_reason":"stop"}]}`)
	}))
	defer srv.Close()
	body := bytes.Repeat([]byte("x"), 1500)
	for _, tt := range []struct {
		name string
		rt   http.RoundTripper
	}{
		{"h1", &Transport{Dial: (&net.Dialer{}).DialContext}},
		{"net-http", &http.Transport{DisableCompression: true, MaxIdleConnsPerHost: 10}},
	} {
		b.Run(tt.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				req, _ := http.NewRequest("POST", srv.URL+"/v1/chat/completions", bytes.NewReader(body))
				resp, err := tt.rt.RoundTrip(req)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}

// FuzzAgreesWithNetHTTP feeds arbitrary provider answers to h1 and to
// net/http's Transport over in-memory connections and expects the same
// status, headers, body and errors from both.
func FuzzAgreesWithNetHTTP(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nold",
		"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, answer []byte) {
		pipe := func(ctx context.Context, _, _ string) (net.Conn, error) {
			client, server := net.Pipe()
			go func() {
				defer server.Close()
				if _, err := http.ReadRequest(bufio.NewReader(server)); err != nil {
					return
				}
				server.Write(answer)
			}()
			return client, nil
		}
		std := &http.Transport{DialContext: pipe, DisableCompression: true}
		defer std.CloseIdleConnections()
		h := &Transport{Dial: pipe, Fallback: failingRT{}}
		want := roundTrip(std, "http://provider.test/v1/chat/completions")
		got := roundTrip(h, "http://provider.test/v1/chat/completions")
		if got.err != want.err || got.status != want.status || got.body != want.body ||
			got.bodyErr != want.bodyErr || got.length != want.length {
			t.Errorf("answer %q:\nh1 = %+v\nnet/http = %+v", answer, got, want)
		}
		if !want.err && !headersEqual(got.header, want.header) {
			t.Errorf("answer %q: headers: h1 %v, net/http %v", answer, got.header, want.header)
		}
	})
}
