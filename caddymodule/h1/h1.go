// Package h1 is a lean HTTP/1.1 client transport for plain-http providers.
//
// net/http's Transport runs two goroutines per connection (a read loop and a
// write loop) and keeps a 4 KiB read and a write buffer for each connection's
// whole life. For a gateway holding thousands of slow LLM streams that is a
// third of the memory of every stream. This transport does each exchange on
// the caller's goroutine: it writes the request, reads the response headers
// and hands back a body that reads straight from the connection. A
// connection holds a read buffer only while an exchange uses it, and no
// goroutine at all while it waits in the pool.
//
// Requests it does not take (https, which goes to HTTP/2 where the provider
// offers it; a proxy from the environment; a body of unknown length) go to
// the fallback transport.
package h1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"time"

	"golang.org/x/net/http/httpguts"
)

// Transport is an http.RoundTripper for http:// URLs with keep-alive
// connections reused last-in first-out. The zero value is not usable; fill
// Dial and Fallback.
type Transport struct {
	// Dial opens a connection (a net.Dialer's DialContext).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// Fallback takes the requests this transport does not.
	Fallback http.RoundTripper
	// Proxy, when set, says whether a request goes through a proxy; those
	// go to Fallback (which knows how to speak to proxies).
	Proxy func(*http.Request) (bool, error)
	// ResponseHeaderTimeout bounds the wait for the response headers after
	// the request is written (0: no limit but the request's context).
	ResponseHeaderTimeout time.Duration
	// IdleConnTimeout closes a connection idle that long (0: 90 s).
	IdleConnTimeout time.Duration
	// MaxIdleConnsPerHost caps the idle connections kept per host (0: 256).
	MaxIdleConnsPerHost int
	// MaxConnsPerHost caps the connections per host, idle or busy; a request
	// beyond it waits for one to free (0: no cap).
	MaxConnsPerHost int

	mu    sync.Mutex
	idle  map[string][]*conn // per host:port, most recently used last
	count map[string]int     // open connections per host:port, when capped
	freed chan struct{}      // closed (and replaced) when a capped connection closes

	readers sync.Pool // *bufio.Reader, held by a connection only while busy
	writers sync.Pool // *bufio.Writer, held only while a request is written
}

// readBufSize is the read buffer of a busy connection: headers of a
// response, and the events of a stream burst in one read.
const readBufSize = 4 << 10

// writeBufSize holds the request line, the headers and a short body, written
// in one system call; a long body goes out in writes of this size.
const writeBufSize = 4 << 10

// conn is one connection to a provider.
type conn struct {
	t      *Transport
	nc     net.Conn
	peek   *peeker
	br     *bufio.Reader // nil while idle
	key    string
	reused bool  // carried an exchange before this one
	nwrite int64 // bytes written to nc
	// readLimit is what may still be read: the header limit while headers
	// are read, unlimited after.
	readLimit int64
	idleAt    time.Time // when it entered the pool
	timer     *time.Timer

	mu       sync.Mutex
	canceled bool // the exchange's context ended: the deadline stays in the past
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.takes(req) {
		return t.Fallback.RoundTrip(req)
	}
	if err := validHeader(req.Header); err != nil {
		closeBody(req)
		return nil, err
	}
	ctx := req.Context()
	if ctx.Err() != nil {
		closeBody(req)
		return nil, context.Cause(ctx)
	}
	key := hostPort(req)
	for attempt := 0; ; attempt++ {
		c, err := t.get(ctx, key)
		if err != nil {
			closeBody(req)
			return nil, err
		}
		resp, written, err := c.exchange(ctx, req)
		if err == nil {
			return resp, nil
		}
		// A reused connection the provider closed as the request left: the
		// request never reached it (nothing could be written), so sending
		// it again on a fresh connection cannot deliver it twice.
		if !written && c.reused && attempt == 0 && ctx.Err() == nil && req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr == nil {
				closeBody(req)
				req = req.Clone(ctx)
				req.Body = body
				continue
			}
		}
		closeBody(req)
		return nil, err
	}
}

// takes reports whether the request is one for this transport.
func (t *Transport) takes(req *http.Request) bool {
	if req.URL == nil || req.URL.Scheme != "http" || req.URL.Host == "" {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0 {
		return false // unknown length would need a chunked request body
	}
	if len(req.Trailer) > 0 || req.Method == http.MethodConnect {
		return false
	}
	if t.Proxy != nil {
		if via, err := t.Proxy(req); err != nil || via {
			return false
		}
	}
	return true
}

// hostPort is the dial address of req: its host with the default port.
func hostPort(req *http.Request) string {
	if _, _, err := net.SplitHostPort(req.URL.Host); err == nil {
		return req.URL.Host
	}
	return net.JoinHostPort(req.URL.Hostname(), "80")
}

// validHeader refuses what net/http refuses: a header name that is not a
// token, a value with a line break or another control character.
func validHeader(h http.Header) error {
	for k, vs := range h {
		if !httpguts.ValidHeaderFieldName(k) {
			return fmt.Errorf("h1: invalid header field name %q", k)
		}
		for _, v := range vs {
			if !httpguts.ValidHeaderFieldValue(v) {
				return fmt.Errorf("h1: invalid header field value for %q", k)
			}
		}
	}
	return nil
}

// closeBody closes a request body RoundTrip will not send.
func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// CloseIdleConnections closes the connections waiting in the pool; busy
// ones close when their exchange ends. http.Client calls it too.
func (t *Transport) CloseIdleConnections() {
	t.mu.Lock()
	idle := t.idle
	t.idle = nil
	t.mu.Unlock()
	for _, cs := range idle {
		for _, c := range cs {
			c.timer.Stop()
			c.close()
		}
	}
	if ci, ok := t.Fallback.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

// get returns an idle connection to key that is still open, or a new one.
func (t *Transport) get(ctx context.Context, key string) (*conn, error) {
	for {
		c, err := t.take(ctx, key)
		if err != nil {
			return nil, err
		}
		if c == nil {
			return t.dial(ctx, key)
		}
		if c.peek.alive() {
			c.reused = true
			c.br = t.reader(c)
			return c, nil
		}
		c.close()
	}
}

// take pops the most recently used idle connection of key, closing those
// idle too long; with a connection cap it waits until one may be opened.
// It returns nil when a new connection is to be dialed (already counted).
func (t *Transport) take(ctx context.Context, key string) (*conn, error) {
	for {
		t.mu.Lock()
		cs := t.idle[key]
		for len(cs) > 0 {
			c := cs[len(cs)-1]
			cs[len(cs)-1] = nil
			cs = cs[:len(cs)-1]
			t.idle[key] = cs
			c.timer.Stop()
			if time.Since(c.idleAt) < t.idleTimeout() {
				t.mu.Unlock()
				return c, nil
			}
			t.mu.Unlock()
			c.close()
			t.mu.Lock()
			cs = t.idle[key]
		}
		if t.MaxConnsPerHost <= 0 {
			t.mu.Unlock()
			return nil, nil
		}
		if t.count == nil {
			t.count = map[string]int{}
			t.freed = make(chan struct{})
		}
		if t.count[key] < t.MaxConnsPerHost {
			t.count[key]++
			t.mu.Unlock()
			return nil, nil
		}
		freed := t.freed
		t.mu.Unlock()
		select {
		case <-freed:
		case <-ctx.Done():
			return nil, context.Cause(ctx)
		}
	}
}

// release gives back a connection slot of a capped host.
func (t *Transport) release(key string) {
	if t.MaxConnsPerHost <= 0 {
		return
	}
	t.mu.Lock()
	t.count[key]--
	close(t.freed)
	t.freed = make(chan struct{})
	t.mu.Unlock()
}

func (t *Transport) idleTimeout() time.Duration {
	if t.IdleConnTimeout > 0 {
		return t.IdleConnTimeout
	}
	return 90 * time.Second
}

func (t *Transport) dial(ctx context.Context, key string) (*conn, error) {
	nc, err := t.Dial(ctx, "tcp", key)
	if err != nil {
		t.release(key)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx)
		}
		return nil, err
	}
	c := &conn{t: t, nc: nc, peek: newPeeker(nc), key: key, readLimit: math.MaxInt64}
	c.br = t.reader(c)
	return c, nil
}

func (t *Transport) reader(c *conn) *bufio.Reader {
	if br, ok := t.readers.Get().(*bufio.Reader); ok {
		br.Reset(c)
		return br
	}
	return bufio.NewReaderSize(c, readBufSize)
}

func (t *Transport) writer(w io.Writer) *bufio.Writer {
	if bw, ok := t.writers.Get().(*bufio.Writer); ok {
		bw.Reset(w)
		return bw
	}
	return bufio.NewWriterSize(w, writeBufSize)
}

// put returns a connection whose exchange ended cleanly to the pool, or
// closes it when the pool is full or closed.
func (t *Transport) put(c *conn) {
	if c.br.Buffered() > 0 { // bytes beyond the response: not HTTP we understand
		c.close()
		return
	}
	c.br.Reset(nil)
	t.readers.Put(c.br)
	c.br = nil
	limit := t.MaxIdleConnsPerHost
	if limit <= 0 {
		limit = 256
	}
	t.mu.Lock()
	if t.idle == nil {
		t.idle = map[string][]*conn{}
	}
	if len(t.idle[c.key]) >= limit {
		t.mu.Unlock()
		c.close()
		return
	}
	c.idleAt = time.Now()
	t.idle[c.key] = append(t.idle[c.key], c)
	if c.timer == nil {
		c.timer = time.AfterFunc(t.idleTimeout(), c.expire)
	} else {
		c.timer.Reset(t.idleTimeout())
	}
	t.mu.Unlock()
}

// expire closes c if it is still idle when its idle time is up (it may
// have been taken and put back while the timer fired).
func (c *conn) expire() {
	t := c.t
	t.mu.Lock()
	cs := t.idle[c.key]
	for i, x := range cs {
		if x == c && time.Since(c.idleAt) >= t.idleTimeout() {
			t.idle[c.key] = append(cs[:i], cs[i+1:]...)
			cs[len(cs)-1] = nil
			t.mu.Unlock()
			c.close()
			return
		}
	}
	t.mu.Unlock()
}

// close closes the connection and frees its slot. Its read buffer is left
// to the collector: a Read may still be using it.
func (c *conn) close() {
	c.nc.Close()
	c.t.release(c.key)
}

// exchange writes req on c and reads the response headers. written tells
// whether any part of the request may have reached the provider.
func (c *conn) exchange(ctx context.Context, req *http.Request) (resp *http.Response, written bool, err error) {
	stop := context.AfterFunc(ctx, c.cancel)
	fail := func(err error) (*http.Response, bool, error) {
		stop()
		c.close()
		return nil, written, c.wrap(ctx, err, false)
	}
	if written, err = c.write(req); err != nil {
		return fail(err)
	}
	if d := c.t.ResponseHeaderTimeout; d > 0 {
		c.setReadDeadline(time.Now().Add(d))
	}
	// 1xx informational responses (103 Early Hints) precede the answer;
	// the header limit holds for all of them together, as in net/http.
	c.readLimit = maxHeaderBytes
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			stop()
			c.close()
			return nil, true, c.wrap(ctx, err, true)
		}
		if resp.StatusCode < 100 || resp.StatusCode > 199 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
	}
	c.readLimit = math.MaxInt64
	if c.t.ResponseHeaderTimeout > 0 {
		c.setReadDeadline(time.Time{})
	}
	closeBody(req)
	b := &body{c: c, rc: resp.Body, ctx: ctx, stop: stop, reuse: !resp.Close && !req.Close}
	if resp.Body == http.NoBody {
		b.end(io.EOF)
	}
	resp.Body = b
	return resp, true, nil
}

// write sends the request line, headers and body. written is false while
// nothing has left for the network.
func (c *conn) write(req *http.Request) (written bool, err error) {
	start := c.nwrite
	bw := c.t.writer(c)
	defer func() {
		bw.Reset(nil)
		c.t.writers.Put(bw)
	}()
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	bw.WriteString(req.Method)
	bw.WriteByte(' ')
	bw.WriteString(req.URL.RequestURI())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	if ua, ok := req.Header["User-Agent"]; !ok {
		bw.WriteString("User-Agent: Go-http-client/1.1\r\n")
	} else if len(ua) > 0 && ua[0] != "" {
		bw.WriteString("User-Agent: ")
		bw.WriteString(ua[0])
		bw.WriteString("\r\n")
	}
	hasBody := req.Body != nil && req.Body != http.NoBody
	switch {
	case hasBody:
		bw.WriteString("Content-Length: ")
		bw.WriteString(strconv.FormatInt(req.ContentLength, 10))
		bw.WriteString("\r\n")
	case req.Method == http.MethodPost || req.Method == http.MethodPut || req.Method == http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	if err := req.Header.WriteSubset(bw, skipHeaders); err != nil {
		return c.nwrite > start, err
	}
	bw.WriteString("\r\n")
	if hasBody {
		n, err := io.CopyN(bw, req.Body, req.ContentLength)
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("http: ContentLength=%d with Body length %d", req.ContentLength, n)
			}
			return c.nwrite > start, err
		}
	}
	err = bw.Flush()
	return c.nwrite > start, err
}

// Read implements io.Reader for the response reader: response headers may
// not exceed maxHeaderBytes, as with net/http.
func (c *conn) Read(p []byte) (int, error) {
	if c.readLimit <= 0 {
		return 0, errHeadersTooLong
	}
	if int64(len(p)) > c.readLimit {
		p = p[:c.readLimit]
	}
	n, err := c.nc.Read(p)
	c.readLimit -= int64(n)
	return n, err
}

// maxHeaderBytes bounds a response's headers, informational responses
// included (net/http's default).
const maxHeaderBytes = 10 << 20

var errHeadersTooLong = fmt.Errorf("h1: provider response headers exceeded %d bytes; aborted", maxHeaderBytes)

// Write implements io.Writer for the request writer, counting what leaves.
func (c *conn) Write(p []byte) (int, error) {
	n, err := c.nc.Write(p)
	c.nwrite += int64(n)
	return n, err
}

// skipHeaders are written by write itself, not copied from req.Header.
var skipHeaders = map[string]bool{
	"Host": true, "User-Agent": true, "Content-Length": true,
	"Transfer-Encoding": true, "Connection": true, "Trailer": true,
}

// cancel runs when the exchange's context ends: it unblocks any read or
// write on the connection, for good.
func (c *conn) cancel() {
	c.mu.Lock()
	c.canceled = true
	c.mu.Unlock()
	c.nc.SetDeadline(aLongTimeAgo)
}

// setReadDeadline sets the read deadline unless the exchange was canceled.
func (c *conn) setReadDeadline(t time.Time) {
	c.mu.Lock()
	if !c.canceled {
		c.nc.SetReadDeadline(t)
	}
	c.mu.Unlock()
}

var aLongTimeAgo = time.Unix(1, 0)

// wrap turns an I/O error into what the caller should see: the context's
// cause when it ended, a timeout error when the headers were late.
func (c *conn) wrap(ctx context.Context, err error, headers bool) error {
	if ctx.Err() != nil {
		return context.Cause(ctx)
	}
	if headers && errors.Is(err, os.ErrDeadlineExceeded) {
		return errHeaderTimeout
	}
	return err
}

// errHeaderTimeout is returned when the response headers are late; it is a
// net.Error whose Timeout is true, as net/http's.
var errHeaderTimeout error = timeoutError{"h1: timeout awaiting response headers"}

type timeoutError struct{ msg string }

func (e timeoutError) Error() string   { return e.msg }
func (e timeoutError) Timeout() bool   { return true }
func (e timeoutError) Temporary() bool { return true }

// body is a response body read on the caller's goroutine; at its end the
// connection returns to the pool.
type body struct {
	mu    sync.Mutex
	c     *conn // nil once ended
	rc    io.ReadCloser
	ctx   context.Context
	stop  func() bool
	reuse bool
	err   error // returned by reads after the end (set with c = nil)
}

// Read implements io.Reader.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	c, rc, ended := b.c, b.rc, b.err
	b.mu.Unlock()
	if c == nil {
		return 0, ended
	}
	n, err := rc.Read(p)
	switch {
	case err == io.EOF:
		b.end(io.EOF)
	case err != nil:
		err = c.wrap(b.ctx, err, false)
		b.end(err)
	}
	return n, err
}

// Close implements io.Closer: a body not read to its end closes the
// connection (whatever is left of it is not worth reading).
func (b *body) Close() error {
	b.end(errClosed)
	return nil
}

// end releases the connection once, with err for later reads: to the pool
// after a complete body (io.EOF) when both sides keep it alive, closed
// otherwise.
func (b *body) end(err error) {
	b.mu.Lock()
	c := b.c
	if c != nil {
		b.c, b.err = nil, err
	}
	b.mu.Unlock()
	if c == nil {
		return
	}
	if !b.stop() || err != io.EOF || !b.reuse {
		// stop false: the context ended, and its deadline is on the conn.
		c.close()
		return
	}
	c.t.put(c)
}

// errClosed is what reading a closed body returns, as net/http's.
var errClosed = errors.New("http: read on closed response body")
