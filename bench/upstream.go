package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// pace says how a fake upstream spaces the events of a stream.
type pace struct {
	gap    time.Duration // between content deltas; 0 writes the stream at once
	deltas int           // content deltas per stream
}

// upstream is a fast fake LLM server speaking OpenAI (/v1/chat/completions,
// SSE) and Ollama (/api/chat, NDJSON) over HTTP/1.1 with keep-alive. Every
// answer is rendered once at start; a request costs a header parse, a body
// read and one write (or one write per event when paced).
type upstream struct {
	ln   net.Listener
	pace pace

	openaiJSON   []byte   // whole non-streamed response, headers included
	openaiStream [][]byte // response head, then one chunked frame per event
	ollamaJSON   []byte
	ollamaStream [][]byte
	openaiAll    []byte // openaiStream joined (unpaced write)
	ollamaAll    []byte
	get          map[string][]byte // GET path -> whole response
	notFound     []byte

	accepted atomic.Int64 // connections accepted so far
	served   atomic.Int64 // requests answered so far

	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// Fixed reply texts (about 300 bytes for the non-streamed completion).
const (
	replyText = "Hello! This is a fixed benchmark reply from the fast fake upstream; it has about fifty tokens of text so the body is realistic."
	chunkID   = "chatcmpl-bench0001"
	model     = "bench-model"
)

// newUpstream listens on a free loopback port and serves until close.
func newUpstream(p pace) (*upstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("upstream listen: %w", err)
	}
	if p.deltas <= 0 {
		p.deltas = 16
	}
	u := &upstream{ln: ln, pace: p, conns: map[net.Conn]struct{}{}}
	u.render()
	u.wg.Add(1)
	go u.accept()
	return u, nil
}

// URL is the upstream's base URL.
func (u *upstream) URL() string { return "http://" + u.ln.Addr().String() }

// Addr is the upstream's host:port.
func (u *upstream) Addr() string { return u.ln.Addr().String() }

// close stops accepting, drops every connection and waits for the handlers.
func (u *upstream) close() {
	u.ln.Close()
	u.mu.Lock()
	for c := range u.conns {
		c.Close()
	}
	u.mu.Unlock()
	u.wg.Wait()
}

func (u *upstream) accept() {
	defer u.wg.Done()
	for {
		c, err := u.ln.Accept()
		if err != nil {
			return
		}
		u.accepted.Add(1)
		u.mu.Lock()
		u.conns[c] = struct{}{}
		u.mu.Unlock()
		u.wg.Add(1)
		go func() {
			defer u.wg.Done()
			u.serve(c)
			c.Close()
			u.mu.Lock()
			delete(u.conns, c)
			u.mu.Unlock()
		}()
	}
}

func httpResponse(status, ctype string, body []byte) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 %s\r\nContent-Type: %s\r\nContent-Length: %d\r\n\r\n%s", status, ctype, len(body), body)
}

func chunkFrame(b []byte) []byte {
	return fmt.Appendf(nil, "%x\r\n%s\r\n", len(b), b)
}

func streamHead(ctype string) []byte {
	return fmt.Appendf(nil, "HTTP/1.1 200 OK\r\nContent-Type: %s\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n", ctype)
}

// tokens splits replyText into n content deltas.
func tokens(n int) []string {
	words := strings.SplitAfter(replyText, " ")
	out := make([]string, n)
	for i := range out {
		out[i] = words[i%len(words)]
	}
	return out
}

func (u *upstream) render() {
	esc := func(s string) string { q := strconv.Quote(s); return q[1 : len(q)-1] }
	toks := tokens(u.pace.deltas)
	nTok := len(toks)

	u.openaiJSON = httpResponse("200 OK", "application/json", fmt.Appendf(nil,
		`{"id":%q,"object":"chat.completion","created":1760000000,"model":%q,"choices":[{"index":0,"message":{"role":"assistant","content":%q,"refusal":null},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":24,"completion_tokens":%d,"total_tokens":%d}}`,
		chunkID, model, replyText, nTok, 24+nTok))

	sse := func(data string) []byte { return chunkFrame([]byte("data: " + data + "\n\n")) }
	chunk := func(choices, usage string) string {
		return fmt.Sprintf(`{"id":%q,"object":"chat.completion.chunk","created":1760000000,"model":%q,"choices":%s,"usage":%s}`, chunkID, model, choices, usage)
	}
	s := [][]byte{streamHead("text/event-stream"),
		sse(chunk(`[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]`, "null"))}
	for _, t := range toks {
		s = append(s, sse(chunk(`[{"index":0,"delta":{"content":"`+esc(t)+`"},"logprobs":null,"finish_reason":null}]`, "null")))
	}
	s = append(s,
		sse(chunk(`[{"index":0,"delta":{},"logprobs":null,"finish_reason":"stop"}]`, "null")),
		sse(chunk(`[]`, fmt.Sprintf(`{"prompt_tokens":24,"completion_tokens":%d,"total_tokens":%d}`, nTok, 24+nTok))),
		sse("[DONE]"),
		[]byte("0\r\n\r\n"))
	u.openaiStream = s
	u.openaiAll = bytes.Join(s, nil)

	const created = "2025-07-07T20:22:19.180000000Z"
	final := func(content string) string {
		return fmt.Sprintf(`{"model":%q,"created_at":%q,"message":{"role":"assistant","content":%q},"done":true,"done_reason":"stop","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":24,"prompt_eval_duration":342546000,"eval_count":%d,"eval_duration":4535599000}`,
			model, created, content, nTok)
	}
	u.ollamaJSON = httpResponse("200 OK", "application/json; charset=utf-8", []byte(final(replyText)))
	o := [][]byte{streamHead("application/x-ndjson")}
	for _, t := range toks {
		o = append(o, chunkFrame(fmt.Appendf(nil, `{"model":%q,"created_at":%q,"message":{"role":"assistant","content":"%s"},"done":false}`+"\n", model, created, esc(t))))
	}
	o = append(o, chunkFrame([]byte(final("")+"\n")), []byte("0\r\n\r\n"))
	u.ollamaStream = o
	u.ollamaAll = bytes.Join(o, nil)

	js := func(b string) []byte { return httpResponse("200 OK", "application/json", []byte(b)) }
	models := js(fmt.Sprintf(`{"object":"list","data":[{"id":%q,"object":"model","created":1760000000,"owned_by":"bench"}]}`, model))
	u.get = map[string][]byte{
		"/v1/models":   models,
		"/health":      httpResponse("200 OK", "text/plain", nil),
		"/api/version": js(`{"version":"0.17.4"}`),
		"/api/tags":    js(fmt.Sprintf(`{"models":[{"name":%q,"model":%q,"size":1,"digest":"0"}]}`, model, model)),
		"/api/ps":      js(`{"models":[]}`),
	}
	u.notFound = httpResponse("404 Not Found", "application/json", []byte(`{"error":{"message":"not found","type":"invalid_request_error","param":null,"code":null}}`))
}

// errBadRequest is a request the fake server cannot parse.
var errBadRequest = errors.New("bad request")

// serve answers requests on one connection until it closes.
func (u *upstream) serve(c net.Conn) {
	br := bufio.NewReaderSize(c, 16<<10)
	var body []byte
	for {
		method, path, keep, b, err := readRequest(br, body[:0])
		if err != nil {
			if errors.Is(err, errBadRequest) {
				c.Write(httpResponse("400 Bad Request", "text/plain", []byte(err.Error())))
			}
			return
		}
		body = b
		if err := u.respond(c, method, path, body); err != nil || !keep {
			return
		}
	}
}

func (u *upstream) respond(c net.Conn, method, path string, body []byte) error {
	u.served.Add(1)
	var whole []byte
	var events [][]byte
	switch {
	case method == "POST" && path == "/v1/chat/completions":
		if streamFlag(body, false) {
			whole, events = u.openaiAll, u.openaiStream
		} else {
			whole = u.openaiJSON
		}
	case method == "POST" && path == "/api/chat":
		if streamFlag(body, true) { // Ollama streams unless told not to
			whole, events = u.ollamaAll, u.ollamaStream
		} else {
			whole = u.ollamaJSON
		}
	case method == "GET":
		if r, ok := u.get[path]; ok {
			whole = r
		} else {
			whole = u.notFound
		}
	default:
		whole = u.notFound
	}
	if events == nil || u.pace.gap <= 0 {
		_, err := c.Write(whole)
		return err
	}
	// Paced: head, role chunk (or first NDJSON line) and the first delta
	// together, then one delta per gap, then the tail at once.
	first := 2
	if path == "/api/chat" {
		first = 1
	}
	last := first + u.pace.deltas // index after the last content delta
	if _, err := c.Write(bytes.Join(events[:first+1], nil)); err != nil {
		return err
	}
	t := time.NewTimer(u.pace.gap)
	defer t.Stop()
	for _, e := range events[first+1 : last] {
		<-t.C
		t.Reset(u.pace.gap)
		if _, err := c.Write(e); err != nil {
			return err
		}
	}
	_, err := c.Write(bytes.Join(events[last:], nil))
	return err
}

// streamFlag finds the top-level-looking "stream" boolean in a JSON body
// without decoding it; def when absent.
func streamFlag(body []byte, def bool) bool {
	i := bytes.Index(body, []byte(`"stream"`))
	if i < 0 {
		return def
	}
	rest := bytes.TrimLeft(body[i+len(`"stream"`):], " \t\r\n")
	if len(rest) == 0 || rest[0] != ':' {
		return def
	}
	rest = bytes.TrimLeft(rest[1:], " \t\r\n")
	return bytes.HasPrefix(rest, []byte("true"))
}

// readRequest reads one HTTP/1.x request into body (reused). keep reports
// whether the connection may serve another request.
func readRequest(br *bufio.Reader, body []byte) (method, path string, keep bool, _ []byte, err error) {
	line, err := br.ReadSlice('\n')
	if err != nil {
		return "", "", false, body, err
	}
	parts := bytes.SplitN(bytes.TrimRight(line, "\r\n"), []byte(" "), 3)
	if len(parts) != 3 {
		return "", "", false, body, fmt.Errorf("%w: request line %q", errBadRequest, line)
	}
	method, path = string(parts[0]), string(parts[1])
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	keep = string(parts[2]) == "HTTP/1.1"
	length, chunked := int64(0), false
	for {
		h, err := br.ReadSlice('\n')
		if err != nil {
			return "", "", false, body, err
		}
		h = bytes.TrimRight(h, "\r\n")
		if len(h) == 0 {
			break
		}
		name, val, ok := bytes.Cut(h, []byte(":"))
		if !ok {
			return "", "", false, body, fmt.Errorf("%w: header %q", errBadRequest, h)
		}
		val = bytes.TrimSpace(val)
		switch {
		case bytes.EqualFold(name, []byte("Content-Length")):
			if length, err = strconv.ParseInt(string(val), 10, 64); err != nil || length < 0 || length > 64<<20 {
				return "", "", false, body, fmt.Errorf("%w: content-length %q", errBadRequest, val)
			}
		case bytes.EqualFold(name, []byte("Transfer-Encoding")):
			chunked = bytes.EqualFold(val, []byte("chunked"))
		case bytes.EqualFold(name, []byte("Connection")):
			if bytes.EqualFold(val, []byte("close")) {
				keep = false
			} else if bytes.EqualFold(val, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	if chunked {
		body, err = readChunked(br, body)
		return method, path, keep, body, err
	}
	if int64(cap(body)) < length {
		body = make([]byte, length)
	}
	body = body[:length]
	_, err = io.ReadFull(br, body)
	return method, path, keep, body, err
}

func readChunked(br *bufio.Reader, body []byte) ([]byte, error) {
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return body, err
		}
		size, _, _ := bytes.Cut(bytes.TrimRight(line, "\r\n"), []byte(";"))
		n, err := strconv.ParseInt(string(bytes.TrimSpace(size)), 16, 64)
		if err != nil || n < 0 || int64(len(body))+n > 64<<20 {
			return body, fmt.Errorf("%w: chunk size %q", errBadRequest, line)
		}
		if n == 0 {
			for { // trailers
				t, err := br.ReadSlice('\n')
				if err != nil {
					return body, err
				}
				if len(bytes.TrimRight(t, "\r\n")) == 0 {
					return body, nil
				}
			}
		}
		start := len(body)
		body = append(body, make([]byte, n)...)
		if _, err := io.ReadFull(br, body[start:]); err != nil {
			return body, err
		}
		if _, err := br.Discard(2); err != nil {
			return body, err
		}
	}
}
