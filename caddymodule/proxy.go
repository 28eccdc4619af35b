package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/provider"
)

func contextWithTimeout(ctx context.Context, d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, d)
}

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
		return nil, &apiError{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	model, ok, err := obj.String("model")
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Msg: "'model' must be a string", Param: "model"}
	}
	if !ok || model == "" {
		return nil, &apiError{Status: http.StatusBadRequest, Msg: "'model' is required", Param: "model"}
	}
	stream, ok, err := obj.Bool("stream")
	if err != nil {
		return nil, &apiError{Status: http.StatusBadRequest, Msg: "'stream' must be a boolean", Param: "stream"}
	}
	if !ok {
		stream = streamDefault
	}
	return &chatRequest{body: body, obj: obj, model: model, stream: stream}, nil
}

// resolveModel finds an active model or answers 404 naming it.
func (h *Handler) resolveModel(name string) (*config.Model, error) {
	m, ok := h.app.Config().Model(name)
	if !ok {
		return nil, &apiError{Status: http.StatusNotFound, Code: "model_not_found", Param: "model",
			Msg: fmt.Sprintf("The model '%s' does not exist or is not active on this router", name)}
	}
	return m, nil
}

// pick chooses the provider of a model for this request.
func (h *Handler) pick(m *config.Model) *config.Provider {
	return m.Providers[h.app.rr.next(m.Name, len(m.Providers))]
}

func isOpenAIWire(apiType string) bool {
	return apiType == config.APIOpenAI || apiType == config.APIVLLM || apiType == config.APILMStudio
}

// openAIChat serves OpenAI chat completions.
func (h *Handler) openAIChat(w http.ResponseWriter, r *http.Request, rt route) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	req, err := parseChat(body, false)
	if err != nil {
		return err
	}
	m, err := h.resolveModel(req.model)
	if err != nil {
		return err
	}
	p := h.pick(m)
	if !isOpenAIWire(p.APIType) {
		return &apiError{Status: http.StatusNotImplemented,
			Msg: fmt.Sprintf("model '%s' is served by a provider of type %s, which this endpoint cannot reach yet", m.Name, p.APIType)}
	}
	up := h.app.Upstream(p.ID)
	upBody := req.obj.Set("model", jsonscan.Quote(p.UpstreamModel(m.Name)))
	return h.passthrough(w, r, rt, up, provider.OpChat, upBody, req.stream, m.Name)
}

// passthrough sends body to the provider and relays the answer unchanged:
// the client and the provider speak the same dialect.
func (h *Handler) passthrough(w http.ResponseWriter, r *http.Request, rt route, up *provider.Upstream, op provider.Op, body []byte, stream bool, model string) error {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	if !stream {
		var stop context.CancelFunc
		ctx, stop = context.WithTimeout(ctx, time.Duration(h.app.ExternalTimeout))
		defer stop()
	}
	upReq, err := up.NewRequest(ctx, http.MethodPost, op, body)
	if err != nil {
		return err
	}
	if stream {
		upReq.Header.Set("Accept", "text/event-stream")
	} else {
		upReq.Header.Set("Accept", "application/json")
	}
	resp, err := up.Client.Do(upReq)
	if err != nil {
		return h.upstreamError(r, up, model, err)
	}
	defer resp.Body.Close()

	if !stream || resp.StatusCode >= 300 {
		// Read the whole answer before the first byte goes to the client.
		data, err := io.ReadAll(resp.Body)
		if err != nil {
			return h.upstreamError(r, up, model, err)
		}
		copyUpstreamHeaders(w.Header(), resp.Header)
		if ct := resp.Header.Get("Content-Type"); ct != "" {
			w.Header().Set("Content-Type", ct)
		} else {
			w.Header().Set("Content-Type", "application/json")
		}
		if resp.StatusCode >= 400 {
			h.logger.Info("provider answered with an error", zap.String("provider", up.P.ID), zap.String("model", model), zap.Int("status", resp.StatusCode))
		}
		w.WriteHeader(resp.StatusCode)
		_, err = w.Write(data)
		return ignoreClientGone(err)
	}
	return h.relaySSE(ctx, cancel, w, r, resp, up, model)
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// setStreamHeaders sets the headers of every streamed response.
func setStreamHeaders(h http.Header, contentType string) {
	h.Set("Content-Type", contentType)
	h.Set("Cache-Control", "no-cache, no-store, must-revalidate")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "0")
	h.Set("X-Accel-Buffering", "no")
	h.Del("Content-Length")
}

// relaySSE copies an SSE stream to the client as it arrives, flushing after
// every read, and ends a stream the provider cut with an error event.
func (h *Handler) relaySSE(ctx context.Context, cancel context.CancelCauseFunc, w http.ResponseWriter, r *http.Request, resp *http.Response, up *provider.Upstream, model string) error {
	copyUpstreamHeaders(w.Header(), resp.Header)
	setStreamHeaders(w.Header(), "text/event-stream")
	w.WriteHeader(resp.StatusCode)
	rc := http.NewResponseController(w)
	_ = rc.Flush()

	idle := time.Duration(h.app.ExternalTimeout)
	timer := time.AfterFunc(idle, func() { cancel(provider.ErrIdle) })
	defer timer.Stop()

	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	var tail [32]byte
	tailLen := 0
	for {
		n, err := resp.Body.Read(buf)
		if n > 0 {
			timer.Reset(idle)
			if _, werr := w.Write(buf[:n]); werr != nil {
				return nil // client gone; the deferred cancel stops the provider
			}
			if ferr := rc.Flush(); ferr != nil {
				return nil
			}
			tailLen = keepTail(&tail, tailLen, buf[:n])
		}
		if err == nil {
			continue
		}
		if r.Context().Err() != nil {
			return nil
		}
		if errors.Is(err, io.EOF) && sawDone(tail[:tailLen]) {
			return nil
		}
		cause := "the provider ended the stream before it was complete"
		if errors.Is(context.Cause(ctx), provider.ErrIdle) {
			cause = fmt.Sprintf("the provider sent nothing for %s", idle)
		}
		h.logger.Warn("provider stream failed", zap.String("provider", up.P.ID), zap.String("model", model), zap.Error(err))
		_, _ = io.WriteString(w, streamErrorEvent(cause))
		_ = rc.Flush()
		return nil
	}
}

func keepTail(tail *[32]byte, n int, b []byte) int {
	if len(b) >= len(tail) {
		copy(tail[:], b[len(b)-len(tail):])
		return len(tail)
	}
	keep := min(n, len(tail)-len(b))
	copy(tail[:], tail[n-keep:n])
	copy(tail[keep:], b)
	return keep + len(b)
}

func sawDone(tail []byte) bool {
	return bytes.HasSuffix(bytes.TrimRight(tail, "\r\n "), []byte("[DONE]"))
}

func streamErrorEvent(msg string) string {
	b, _ := jsonMarshal(map[string]any{"error": map[string]any{"message": msg, "type": "api_error", "param": nil, "code": nil}})
	return "data: " + string(b) + "\n\n"
}

// upstreamError turns a failed provider call into the client's error, with
// no internal address in the message (the log has the detail).
func (h *Handler) upstreamError(r *http.Request, up *provider.Upstream, model string, err error) error {
	kind := provider.Classify(r.Context(), err)
	h.logger.Warn("provider call failed", zap.String("provider", up.P.ID), zap.String("model", model), zap.Error(err))
	switch kind {
	case provider.Canceled:
		return nil
	case provider.Unreachable:
		return &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the provider of model '%s' is unreachable", model)}
	case provider.Timeout:
		return &apiError{Status: http.StatusGatewayTimeout, Msg: fmt.Sprintf("the provider of model '%s' did not answer in time", model)}
	}
	return &apiError{Status: http.StatusBadGateway, Msg: fmt.Sprintf("the connection to the provider of model '%s' failed", model)}
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

func ignoreClientGone(err error) error {
	if err != nil {
		return nil // the client went away mid-write; nothing left to tell it
	}
	return nil
}
