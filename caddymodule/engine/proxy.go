package engine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"sync"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// chatRequest is what routing reads from a chat request body.
type chatRequest struct {
	body   []byte
	obj    *jsonscan.Object
	model  string
	stream bool
}

// parseChat reads the fields routing needs with one validating scan.
func parseChat(body []byte, streamDefault bool) (*chatRequest, error) {
	obj, err := jsonscan.Scan(body)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	model, ok, err := obj.String("model")
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "'model' must be a string", Param: "model"}
	}
	if !ok || model == "" {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "'model' is required", Param: "model"}
	}
	stream, ok, err := obj.Bool("stream")
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Msg: "'stream' must be a boolean", Param: "stream"}
	}
	if !ok {
		stream = streamDefault
	}
	return &chatRequest{body: body, obj: obj, model: model, stream: stream}, nil
}

// resolveModel finds an active model or answers 404 naming it.
func (h *Server) resolveModel(name string) (*config.Model, error) {
	m, ok := h.app.Config().Model(name)
	if !ok {
		return nil, &Error{Status: http.StatusNotFound, Code: "model_not_found", Param: "model",
			Msg: fmt.Sprintf("The model '%s' does not exist or is not active on this router", name)}
	}
	return m, nil
}

// bufPool holds 4 KiB buffers: the large relay buffers of passthrough
// streams and the event batches of translated ones. The transport already
// reads the provider through a 4 KiB buffer, so a larger one would only
// cost memory on every open stream.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 4<<10); return &b }}

// smallRelay is the relay buffer of a stream that trickles: one token event
// of any dialect fits, and a stream waiting on its provider holds only this.
const smallRelay = 512

// relayBuf chooses the buffer of a stream relay's next read. A read that
// filled its buffer means more is waiting, so the next one reads through a
// pooled 4 KiB buffer; a short read means the provider is drained and the
// next read will likely wait, so it goes through a small one and the large
// buffer returns to the pool. An open stream between tokens thus holds 512
// bytes, not 4 KiB, and a burst costs at most one extra flush.
type relayBuf struct {
	big   *[]byte
	small []byte
	last  int // length of the buffer handed out last
}

// next returns the buffer for the read after one that returned n bytes
// (n = 0 before the first read, which takes the large buffer).
func (b *relayBuf) next(n int) []byte {
	if b.last == 0 || n == b.last {
		if b.big == nil {
			b.big = bufPool.Get().(*[]byte)
		}
		b.last = len(*b.big)
		return *b.big
	}
	b.release()
	if b.small == nil {
		b.small = make([]byte, smallRelay)
	}
	b.last = smallRelay
	return b.small
}

// release returns the large buffer to the pool.
func (b *relayBuf) release() {
	if b.big != nil {
		bufPool.Put(b.big)
		b.big = nil
	}
}

// errTooLarge is returned by readAllSized for a body over its limit.
var errTooLarge = errors.New("body larger than its limit")

// sizedMax is the largest announced length readAllSized allocates at once;
// a longer body is read in chunks, so that memory follows the bytes that
// actually arrive, not what a provider claims.
const sizedMax = 64 << 20

// readAllSized reads r to the end, at most limit bytes: a body announced
// longer than limit is refused before any read, one that runs past it stops
// the reading with errTooLarge once limit+1 bytes are in (the caller then
// closes the connection rather than drain it). A body of announced length
// n is read into one allocation of exactly its size, where io.ReadAll or
// bytes.Buffer (which keeps 512 bytes free for every read) would grow
// through several; one of unknown length in chunks of growing size, joined
// once at the end.
func readAllSized(r io.Reader, n, limit int64) ([]byte, error) {
	return readGranted(r, n, limit, nil)
}

// readGranted is readAllSized for a provider answer, whose memory beyond
// an allowance is drawn through g from the budget all answers share: it
// stops with errBusy when the budget cannot cover the next bytes.
func readGranted(r io.Reader, n, limit int64, g *grant) ([]byte, error) {
	if n > limit {
		return nil, errTooLarge
	}
	if n <= 0 || n > sizedMax {
		return readChunks(r, nil, limit, g)
	}
	if !g.need(n) {
		return nil, errBusy
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(r, buf); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // shorter than announced
		}
		return nil, err
	}
	var one [1]byte
	for {
		m, err := r.Read(one[:])
		if m > 0 { // longer than announced
			return readChunks(r, append(buf, one[0]), limit, g)
		}
		if errors.Is(err, io.EOF) {
			return buf, nil
		}
		if err != nil {
			return nil, err
		}
	}
}

// readChunks reads r to the end after head (bytes already read), in chunks
// from 512 bytes doubling up to 1 MiB, and at most limit+1 bytes in all,
// each chunk covered by g before it is allocated.
func readChunks(r io.Reader, head []byte, limit int64, g *grant) ([]byte, error) {
	limit = min(limit, math.MaxInt64-1)
	total := int64(len(head))
	if total > limit {
		return nil, errTooLarge
	}
	var first [8][]byte // up to 8 chunks (130 KiB) without a slice allocation
	chunks := first[:0]
	if len(head) > 0 {
		chunks = append(chunks, head)
	}
	for size := int64(512); ; size = min(2*size, 1<<20) {
		want := min(size, limit-total+1)
		if !g.need(total + want) {
			return nil, errBusy
		}
		c := make([]byte, want)
		m, err := fill(r, c)
		total += int64(m)
		if total > limit {
			return nil, errTooLarge
		}
		if m > 0 {
			chunks = append(chunks, c[:m])
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	if len(chunks) == 1 {
		return chunks[0], nil
	}
	out := make([]byte, 0, total)
	for _, c := range chunks {
		out = append(out, c...)
	}
	return out, nil
}

// fill reads into c until it is full or the reader fails; unlike
// io.ReadFull it passes the reader's own error on unchanged (an
// io.ErrUnexpectedEOF from a cut chunked body stays an error).
func fill(r io.Reader, c []byte) (int, error) {
	n := 0
	for n < len(c) {
		m, err := r.Read(c[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// setStreamHeaders sets the headers of every streamed response.
func setStreamHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// upstreamErrorCtx turns a failed provider call into the client's error,
// with no internal address in the message (the log has the detail); nil
// when the client went away, with the failure's kind. ctx is the call's
// context.
func (h *Server) upstreamErrorCtx(ctx context.Context, up *provider.Upstream, model string, err error) (provider.Failure, error) {
	kind := provider.Classify(ctx, err)
	h.app.metrics.ProviderErrors.WithLabelValues(up.P.ID, [...]string{"other", "unreachable", "timeout", "broken", "canceled"}[kind]).Inc()
	h.logger.Warn("provider call failed", zap.String("provider", up.P.ID), zap.String("model", model), zap.Error(err))
	switch kind {
	case provider.Canceled:
		return kind, nil
	case provider.Unreachable:
		return kind, &Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the provider of model '%s' is unreachable", model)}
	case provider.Timeout:
		return kind, &Error{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("the provider of model '%s' did not answer in time", model)}
	}
	return kind, &Error{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the connection to the provider of model '%s' failed", model)}
}

// copyUpstreamHeaders keeps the provider headers a client may rely on.
func copyUpstreamHeaders(dst, src http.Header) {
	for _, k := range []string{"X-Request-Id", "Openai-Processing-Ms", "Retry-After", "Retry-After-Ms", "X-Should-Retry",
		"X-Ratelimit-Limit-Requests", "X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Requests",
		"X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Requests", "X-Ratelimit-Reset-Tokens"} {
		if v := src.Values(k); len(v) > 0 {
			dst[k] = v
		}
	}
}
