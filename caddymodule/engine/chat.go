package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
	"github.com/llmrouter/llm-router/caddymodule/protocol/shape"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

// chatKind describes a chat endpoint: its client codec, its stream default,
// and which providers can take the client's body as it is (passthrough).
type chatKind struct {
	codec         protocol.ClientCodec
	streamDefault bool
	// same maps a provider api_type that speaks this very dialect to the
	// upstream operation that serves it.
	same map[string]provider.Op
	// sseDone is the payload that ends a passthrough SSE stream cleanly
	// ("" when a clean EOF is enough).
	sseDone string
}

var openAIWire = []string{config.APIOpenAI, config.APIVLLM, config.APILMStudio}

func sameOp(op provider.Op, types ...string) map[string]provider.Op {
	m := map[string]provider.Op{}
	for _, t := range types {
		m[t] = op
	}
	return m
}

var (
	kindOpenAIChat  = &chatKind{codec: openai.Chat{}, same: sameOp(provider.OpChat, openAIWire...), sseDone: "[DONE]"}
	kindCompletions = &chatKind{codec: openai.Completions{}, same: sameOp(provider.OpCompletions, openAIWire...), sseDone: "[DONE]"}
	kindResponses   = &chatKind{codec: openai.Responses{}, same: sameOp(provider.OpResponses, config.APIOpenAI, config.APIVLLM)}
	kindAnthropic   = &chatKind{codec: anthropic.Messages{}, same: sameOp(provider.OpChat, config.APIAnthropic)}
	kindOllamaChat  = &chatKind{codec: ollama.Chat{}, streamDefault: true, same: sameOp(provider.OpChat, config.APIOllama)}
	kindOllamaGen   = &chatKind{codec: ollama.Generate{}, streamDefault: true, same: sameOp(provider.OpCompletions, config.APIOllama)}
)

// providerCodec returns the codec that speaks to a provider of apiType
// (the configuration only admits known api types).
func providerCodec(apiType string) protocol.ProviderCodec {
	c, _ := codecs.Provider(apiType, 0)
	return c
}

func chatEndpoint(k *chatKind) endpointFunc {
	return func(h *Server, w http.ResponseWriter, r *http.Request, rt Route) error {
		return h.serveChat(w, r, rt, k)
	}
}

// chatCall is one chat request on its way through the router.
type chatCall struct {
	kind     *chatKind
	body     []byte
	obj      *jsonscan.Object
	model    string // the client's model name (after routing)
	stream   bool
	creq     *protocol.Request // decoded lazily
	modified bool              // the decoded request was changed (prompt control, built-in streams): passthrough must re-encode it
	blocked  string            // set when a guardrail blocked the request
}

func (c *chatCall) decode() (*protocol.Request, error) {
	if c.creq != nil {
		return c.creq, nil
	}
	creq, err := c.kind.codec.DecodeRequest(c.body)
	if err != nil {
		return nil, requestError(err)
	}
	creq.Stream = c.stream
	c.creq = creq
	return creq, nil
}

func requestError(err error) error {
	var re *protocol.RequestError
	if errors.As(err, &re) {
		ae := &Error{Status: http.StatusBadRequest, Msg: "invalid request: " + re.Error()}
		if i := strings.IndexAny(re.Field, ".["); i > 0 {
			ae.Param = re.Field[:i]
		} else {
			ae.Param = re.Field
		}
		return ae
	}
	return &Error{Status: http.StatusBadRequest, Msg: "invalid request: " + err.Error()}
}

// serveChat serves any chat dialect against any provider type.
func (h *Server) serveChat(w http.ResponseWriter, r *http.Request, rt Route, k *chatKind) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	pr, err := parseChat(body, k.streamDefault)
	if err != nil {
		return err
	}
	// The shape the dialect's decoder would demand, checked before any
	// provider is chosen: a passthrough body is not decoded, and a
	// provider's 5xx on a malformed one would count against its health.
	if err := shape.Check(k.codec.Dialect(), pr.obj); err != nil {
		return requestError(err)
	}
	c := &chatCall{kind: k, body: body, obj: pr.obj, model: pr.model, stream: pr.stream}
	requestInfo(r.Context()).asked = c.model // a refusal from here on names it
	if err := h.promptControl(c); err != nil {
		return err
	}
	// Check the key and the model before any plugin sees the text; "auto"
	// is checked once the routing plugin has chosen.
	var m *config.Model
	if c.model != autoModel {
		if m, err = h.admit(r.Context(), rt, c.model, len(body)); err != nil {
			return err
		}
	}
	if err := h.runPipeline(r.Context(), w, rt, c); err != nil {
		return err
	}
	if c.stream && c.blocked != "" {
		return nil
	}
	if m == nil {
		if m, err = h.admit(r.Context(), rt, c.model, len(body)); err != nil {
			return err
		}
	}
	return h.callProviders(w, r, rt, c, m)
}

// callProviders tries the model's providers until one answers, failing over
// on connection errors, timeouts before the first byte, 429 and 5xx. When
// all fail, the last provider's error answer goes to the client.
func (h *Server) callProviders(w http.ResponseWriter, r *http.Request, rt Route, c *chatCall, m *config.Model) error {
	err := h.failover(r.Context(), m, func(p *config.Provider) attemptResult { return h.attempt(w, r, rt, c, m, p) })
	if provider.ClientGone(r.Context()) {
		return nil // the client left; nothing to tell it
	}
	if ans, ok := err.(*upstreamAnswer); ok {
		return ans.write(w, h, rt, c)
	}
	return err
}

// outcome tells the balancer how a call went: only provider faults count
// against the provider's health.
func outcome(ctx context.Context, res attemptResult) Result {
	switch {
	case ctx.Err() != nil:
		return Canceled
	case res.retry || res.fault:
		return Failure
	}
	return Success
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}

// upstreamAnswer is a provider's error answer kept until failover is over.
type upstreamAnswer struct {
	status      int
	header      http.Header
	body        []byte
	passthrough bool
}

func (u *upstreamAnswer) Error() string { return fmt.Sprintf("provider answered %d", u.status) }

// write sends the provider's error answer: as is when the client speaks the
// provider's dialect, else re-shaped into the client's error object.
func (u *upstreamAnswer) write(w http.ResponseWriter, h *Server, rt Route, c *chatCall) error {
	if u.passthrough {
		copyUpstreamHeaders(w.Header(), u.header)
		w.Header().Set("Content-Type", orDefault(u.header.Get("Content-Type"), "application/json"))
		w.WriteHeader(u.status)
		_, _ = w.Write(u.body)
		return nil
	}
	ae := &Error{Status: u.status, Msg: "provider error: " + upstreamMessage(u.body, u.status)}
	if ra := u.header.Get("Retry-After"); ra != "" {
		w.Header().Set("Retry-After", ra)
	}
	return ae
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// upstreamMessage extracts the message of an error body in any dialect,
// or the status text when the body has none.
func upstreamMessage(body []byte, status int) string {
	return orDefault(protocol.UpstreamErrorMessage(body), http.StatusText(status))
}

// attempt sends the request to one provider and relays its answer.
func (h *Server) attempt(w http.ResponseWriter, r *http.Request, rt Route, c *chatCall, m *config.Model, p *config.Provider) attemptResult {
	up := h.app.Upstream(p.ID)
	upBody, op, pcodec, err := h.upstreamRequest(c, m, p)
	if err != nil {
		return attemptResult{err: err}
	}

	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if !c.stream {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, h.app.externalTimeout)
		defer stop()
	}
	info := requestInfo(r.Context())
	info.apiType, info.translated, info.stream = p.APIType, pcodec != nil, c.stream
	began := time.Now()
	resp, res := h.send(ctx, up, op, m.Name, upBody)
	if resp == nil {
		return res
	}
	defer resp.Body.Close()

	if resp.StatusCode >= 300 || !c.stream {
		data, g, err := h.readAnswer(resp)
		if err != nil {
			return h.readFailed(ctx, up, m.Name, resp.StatusCode, err)
		}
		defer g.release()
		if resp.StatusCode >= 300 {
			return h.providerError(w, rt, c, m, p, resp, data, pcodec == nil)
		}
		return h.writeAnswer(w, r, rt, c, m, p, resp, data, pcodec, info, began)
	}

	// Streams: from here on bytes reach the client; no more failover.
	if pcodec == nil {
		h.relayStream(ctx, cancel, w, r, c, resp, p.ID, m.Name)
	} else {
		h.translateStream(ctx, cancel, w, r, c, resp, pcodec, p.ID, m.Name)
	}
	return attemptResult{}
}

// upstreamRequest builds the body sent to provider p and the operation that
// serves it. pcodec is the codec that translates the answer back, nil when
// the answer passes through in the client's dialect.
func (h *Server) upstreamRequest(c *chatCall, m *config.Model, p *config.Provider) (upBody []byte, op provider.Op, pcodec protocol.ProviderCodec, err error) {
	op, same := c.kind.same[p.APIType]
	upModel := p.UpstreamModel(m.Name)
	// Dialects the protocol package speaks only on the client side (legacy
	// completions, Responses, Ollama generate) cannot be re-encoded for the
	// same provider after prompt control, nor their answers read by the
	// response guardrails: such requests go through the provider's chat
	// dialect. (Masking edits the body in place and keeps the passthrough.)
	if _, isPC := c.kind.codec.(protocol.ProviderCodec); same && !isPC && (c.modified || h.app.hasResponseGuardrails()) {
		same = false
	}
	if same && !c.modified {
		if !p.AcceptsTools() && hasTools(c.obj) {
			return nil, op, nil, noToolsError(m.Name)
		}
		return c.obj.Set("model", jsonscan.Quote(upModel)), op, nil, nil
	}
	creq, err := c.decode()
	if err != nil {
		return nil, op, nil, err
	}
	if !p.AcceptsTools() && len(creq.Tools) > 0 {
		return nil, op, nil, noToolsError(m.Name)
	}
	cp := *creq
	cp.Model = upModel
	if same {
		pcodec = c.kind.codec.(protocol.ProviderCodec)
	} else {
		pcodec = providerCodec(p.APIType)
		op = provider.OpChat
	}
	upBody, err = pcodec.EncodeRequest(&cp)
	if err != nil {
		return nil, op, nil, requestError(err)
	}
	if same {
		pcodec = nil // the answer passes through
	}
	return upBody, op, pcodec, nil
}

// providerError handles a provider's error answer (status >= 300, body
// data): a retryable status fails the attempt over, any other is written
// to the client.
func (h *Server) providerError(w http.ResponseWriter, rt Route, c *chatCall, m *config.Model, p *config.Provider, resp *http.Response, data []byte, passthrough bool) attemptResult {
	h.logger.Info("provider answered with an error", zap.String("provider", p.ID), zap.String("model", m.Name), zap.Int("status", resp.StatusCode))
	ans := &upstreamAnswer{status: resp.StatusCode, header: resp.Header, body: data, passthrough: passthrough}
	if h.app.retry.Status(resp.StatusCode) {
		return attemptResult{err: ans, retry: true, fault: true}
	}
	return attemptResult{err: ans.write(w, h, rt, c), fault: faultStatus(resp.StatusCode)}
}

// writeAnswer checks a provider's whole (non-stream) answer data against the
// response guardrails and writes it to the client: relayed as it is when
// pcodec is nil, else translated into the client's dialect.
func (h *Server) writeAnswer(w http.ResponseWriter, r *http.Request, rt Route, c *chatCall, m *config.Model, p *config.Provider, resp *http.Response, data []byte, pcodec protocol.ProviderCodec, info *reqInfo, began time.Time) attemptResult {
	// The answer is decoded once, for translation and for the response
	// guardrails alike; a passthrough answer without guardrails is not.
	var cres *protocol.Response
	var err error
	dec := pcodec
	if dec == nil && h.app.hasResponseGuardrails() {
		var ok bool
		if dec, ok = c.kind.codec.(protocol.ProviderCodec); !ok {
			// Routed through the provider's chat dialect above, so
			// this cannot happen; never let an answer pass unchecked.
			return attemptResult{err: &Error{Status: http.StatusInternalServerError, Msg: "the answer could not be checked by the response guardrails"}}
		}
	}
	if dec != nil {
		if cres, err = dec.DecodeResponse(data); err != nil {
			return h.unreadable(p.ID, m.Name, err)
		}
		if err := h.checkResponse(r.Context(), rt, c, cres); err != nil {
			return attemptResult{err: err}
		}
	}
	if pcodec == nil {
		// Relayed as it is: it must be the JSON object it claims to be.
		u, err := answerUsage(data)
		if err != nil {
			return h.unreadable(p.ID, m.Name, err)
		}
		info.usage = u
		copyUpstreamHeaders(w.Header(), resp.Header)
		w.Header().Set("Content-Type", orDefault(resp.Header.Get("Content-Type"), "application/json"))
		w.WriteHeader(http.StatusOK)
		_, _ = w.Write(data)
		return attemptResult{}
	}
	cres.Model = c.model
	if cres.Durations.Total == 0 { // Ollama clients read total_duration: the router's measure
		cres.Durations.Total = time.Since(began)
	}
	info.usage = cres.Usage
	out, err := c.kind.codec.EncodeResponse(cres)
	if err != nil {
		return attemptResult{err: err}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(out)
	return attemptResult{}
}

// translateStream re-encodes a provider's stream in the client's dialect,
// event by event, and ends a cut or silent stream with the dialect's error.
func (h *Server) translateStream(ctx context.Context, cancel context.CancelCauseFunc, w http.ResponseWriter, r *http.Request, c *chatCall, resp *http.Response, pcodec protocol.ProviderCodec, providerID, model string) {
	setStreamHeaders(w.Header(), c.kind.codec.StreamContentType())
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	bw := &batchWriter{w: w}
	ir := h.watchIdle(resp.Body, cancel, func() error {
		if err := bw.writeOut(); err != nil {
			return err
		}
		return rc.Flush()
	})
	defer ir.stop()
	creq, _ := c.decode()
	enc := c.kind.codec.NewStreamEncoder(bw, ir.markFlush, protocol.StreamOptions{Model: c.model, IncludeUsage: creq != nil && creq.IncludeUsage})
	defer func() {
		if bw.writeOut() == nil {
			_ = rc.Flush()
		}
	}()
	dec := pcodec.NewStreamDecoder(ir)
	res, err := protocol.Pump(ctx, dec, enc)
	protocol.Release(dec)
	requestInfo(r.Context()).usage = res.Usage
	if err != nil && !provider.ClientGone(r.Context()) {
		h.logger.Warn("translated stream failed", zap.String("provider", providerID), zap.String("model", model), zap.Error(err))
		if errors.Is(err, protocol.ErrLineTooLong) {
			h.app.metrics.ProviderErrors.WithLabelValues(providerID, "too_large").Inc()
		}
		if ctx.Err() != nil && !res.Ended {
			// Pump stops without an event when the provider went silent.
			h.streamFailed(enc, ctx, ir)
		}
	}
}

// streamFailed ends a client's stream with its dialect's error event,
// saying whether the provider went silent or broke off.
func (h *Server) streamFailed(enc protocol.StreamEncoder, ctx context.Context, ir *idleReader) {
	ev := protocol.Event{Kind: protocol.EvError, Status: http.StatusBadGateway, Text: "the provider ended the stream before it was complete"}
	switch cause := context.Cause(ctx); {
	case errors.Is(cause, provider.ErrIdle):
		ev.Status, ev.Text = http.StatusGatewayTimeout, fmt.Sprintf("the provider sent nothing for %s", ir.idle)
	case errors.Is(cause, context.DeadlineExceeded):
		ev.Status, ev.Text = http.StatusGatewayTimeout, "the request took longer than the router's request timeout"
	}
	_ = enc.Write(&ev)
}

// hasTools reports whether a request body carries a non-empty tools list.
func hasTools(obj *jsonscan.Object) bool {
	raw := obj.Raw("tools")
	return len(raw) > 0 && raw[0] == '[' && len(bytes.TrimSpace(raw[1:len(raw)-1])) > 0
}

// noToolsError answers a request with tools for a provider configured
// without tool calling: the original silently dropped the tools, which
// leaves the client waiting for calls that never come.
func noToolsError(model string) error {
	return &Error{Status: http.StatusBadRequest, Param: "tools",
		Msg: fmt.Sprintf("model '%s' is served by a provider without tool calling (tool_calling is false in models-config); remove 'tools' or enable tool_calling for it", model)}
}

// batchWriter collects the events a translated stream encodes between two
// reads of the provider and hands them to the client in one Write when the
// flush comes: every ResponseWriter call costs a trip through net/http and
// a reset of Caddy's write deadline, once per event otherwise. Its buffer
// comes from a pool at the first event of a batch and goes back
// once the batch is written: a stream waiting on its provider holds none,
// and a burst does not grow a new buffer step by step.
type batchWriter struct {
	w   io.Writer
	bp  *[]byte // the pooled buffer behind buf, while a batch is open
	buf []byte
}

func (b *batchWriter) Write(p []byte) (int, error) {
	if b.bp == nil {
		b.bp = bufPool.Get().(*[]byte)
		b.buf = (*b.bp)[:0]
	}
	b.buf = append(b.buf, p...)
	return len(p), nil
}

// writeOut writes what was collected and returns the buffer to the pool
// (a buffer a burst outgrew is left to the collector).
func (b *batchWriter) writeOut() error {
	if len(b.buf) == 0 {
		return nil
	}
	_, err := b.w.Write(b.buf)    // idleReader.Read reports the error
	if cap(b.buf) == cap(*b.bp) { // still the pooled array
		bufPool.Put(b.bp)
	}
	b.bp, b.buf = nil, nil
	return err
}

// idleReader feeds a provider's stream to the router. Every read that
// returns data re-arms the idle timeout (which cancels the provider call),
// and the flushes a client encoder asked for are performed just before the
// next read: events that arrived together leave together, and nothing waits
// in our buffer while we wait on the provider.
type idleReader struct {
	r       io.Reader
	timer   *time.Timer
	idle    time.Duration
	flush   func() error
	pending bool
}

// watchIdle arms the idle timeout (ExternalTimeout) over a provider stream.
func (h *Server) watchIdle(body io.Reader, cancel context.CancelCauseFunc, flush func() error) *idleReader {
	idle := h.app.externalTimeout
	return &idleReader{r: body, idle: idle, flush: flush, timer: time.AfterFunc(idle, func() { cancel(provider.ErrIdle) })}
}

// stop disarms the idle timeout.
func (i *idleReader) stop() { i.timer.Stop() }

// markFlush is the encoder's flush: it defers the flush to the next read.
func (i *idleReader) markFlush() error {
	i.pending = true
	return nil
}

func (i *idleReader) Read(p []byte) (int, error) {
	if i.pending {
		i.pending = false
		if err := i.flush(); err != nil {
			return 0, fmt.Errorf("client gone: %w", err)
		}
	}
	n, err := i.r.Read(p)
	if n > 0 {
		i.timer.Reset(i.idle)
	}
	return n, err
}

// relayStream copies a same-dialect stream to the client as it arrives,
// flushing after every read, and ends a cut stream with the dialect's error.
func (h *Server) relayStream(ctx context.Context, cancel context.CancelCauseFunc, w http.ResponseWriter, r *http.Request, c *chatCall, resp *http.Response, providerID, model string) {
	copyUpstreamHeaders(w.Header(), resp.Header)
	setStreamHeaders(w.Header(), orDefault(resp.Header.Get("Content-Type"), c.kind.codec.StreamContentType()))
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()
	ir := h.watchIdle(resp.Body, cancel, rc.Flush)
	defer ir.stop()

	tail := tailBuffer{max: 1 << 10} // the usage report is the last event or two
	defer func() { requestInfo(r.Context()).usage = usageFromStreamTail(tail.buf) }()
	gone, err := relay(w, rc.Flush, ir, &tail)
	if gone || provider.ClientGone(r.Context()) {
		return // the deferred cancel stops the provider
	}
	if errors.Is(err, io.EOF) && (c.kind.sseDone == "" || bytes.HasSuffix(bytes.TrimRight(tail.buf, "\r\n "), []byte(c.kind.sseDone))) {
		return
	}
	h.logger.Warn("provider stream failed", zap.String("provider", providerID), zap.String("model", model), zap.Error(err))
	h.streamFailed(c.kind.codec.NewStreamEncoder(w, rc.Flush, protocol.StreamOptions{Model: c.model}), ctx, ir)
}

// relay copies a stream from src to w as it arrives, flushing after every
// read, and keeps its tail. It returns the error that ended the reading
// (io.EOF at the end of the stream), or gone when the client went away.
func relay(w io.Writer, flush func() error, src io.Reader, tail *tailBuffer) (gone bool, err error) {
	var rb relayBuf
	defer rb.release()
	buf := rb.next(0) // the first read may find several events at once
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if _, werr := w.Write(buf[:n]); werr != nil {
				return true, werr
			}
			if ferr := flush(); ferr != nil {
				return true, ferr
			}
			tail.Write(buf[:n])
		}
		if err != nil {
			return false, err
		}
		buf = rb.next(n)
	}
}
