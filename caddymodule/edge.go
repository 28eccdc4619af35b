package caddymodule

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"path"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// This file holds what the handler answers besides its endpoints: paths it
// does not serve (404, 405, CORS preflights), the readiness probe and the
// CORS headers of browser clients.

// unrouted answers a request no endpoint takes: a CORS preflight or a
// wrong method on a path the router serves, else the next handler; with
// NotFound, a 404 when no later handler answered either.
func (h *Handler) unrouted(w http.ResponseWriter, r *http.Request, path string, next caddyhttp.Handler) error {
	if allow, ok := h.srv.Allowed(path); ok {
		if h.cors != nil {
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" && r.Header.Get("Origin") != "" {
				h.cors.preflight(w, r, allow)
				return nil
			}
			h.cors.apply(w.Header(), r)
		}
		w.Header().Set("Allow", allow)
		engine.WriteError(w, protocol.OpenAIChat, &engine.Error{Status: http.StatusMethodNotAllowed, Msg: "method " + r.Method + " is not allowed on " + path})
		return nil
	}
	if !h.NotFound {
		return next.ServeHTTP(w, r)
	}
	aw := &answerWatch{ResponseWriter: w}
	if err := next.ServeHTTP(aw, r); err != nil || aw.answered {
		return err
	}
	h.notFound(w, r)
	return nil
}

// notFound answers 404 in the dialect the path suggests (Ollama's under
// the prefix, OpenAI's elsewhere), naming the path, and logs it.
func (h *Handler) notFound(w http.ResponseWriter, r *http.Request) {
	p := r.URL.Path
	d := protocol.OpenAIChat
	clean := path.Clean("/" + p)
	if h.prefix != "" && (clean == h.prefix || strings.HasPrefix(clean, h.prefix+"/")) {
		d = protocol.OllamaChat
	}
	shown := engine.Clip(p, 200)
	msg := fmt.Sprintf("Invalid URL (%s %s): llm-router serves no endpoint at this path", r.Method, shown)
	if s := h.suggest(p, clean); s != "" {
		msg += "; did you mean " + s + "? (check the client's base URL)"
	}
	id := engine.RequestID(r)
	w.Header().Set("X-Request-Id", id)
	if h.cors != nil {
		h.cors.apply(w.Header(), r)
	}
	engine.WriteError(w, d, &engine.Error{Status: http.StatusNotFound, Msg: msg, Code: "unknown_url"})
	h.app.metrics.Requests.WithLabelValues("not_found", "", "", "404").Inc()
	h.logger.Info("no such endpoint", zap.String("request_id", id), zap.String("method", r.Method),
		zap.String("path", shown), zap.Int("status", http.StatusNotFound))
}

// suggest returns a path the router serves that p most likely meant: p
// with its slashes cleaned, or with a doubled /v1 (a base URL ending in
// /v1 joined to a path starting with it).
func (h *Handler) suggest(p, clean string) string {
	for _, c := range []string{clean, strings.Replace(clean, "/v1/v1/", "/v1/", 1), strings.TrimSuffix(clean, "/")} {
		if _, ok := h.srv.Allowed(c); ok && c != p {
			return c
		}
	}
	return ""
}

// answerWatch notes whether a later handler answered a request.
type answerWatch struct {
	http.ResponseWriter
	answered bool
}

func (a *answerWatch) WriteHeader(code int) {
	a.answered = true
	a.ResponseWriter.WriteHeader(code)
}

func (a *answerWatch) Write(b []byte) (int, error) {
	a.answered = true
	return a.ResponseWriter.Write(b)
}

// FlushError flushes (which sends the headers: an answer).
func (a *answerWatch) FlushError() error {
	a.answered = true
	return http.NewResponseController(a.ResponseWriter).Flush()
}

// Hijack hands the connection over (a WebSocket proxied by a later
// handler): the request is answered.
func (a *answerWatch) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	a.answered = true
	return http.NewResponseController(a.ResponseWriter).Hijack()
}

// Unwrap lets http.ResponseController reach the writer underneath.
func (a *answerWatch) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// health is the readiness probe: 200 when every active model has a
// provider up, else 503; the body counts each model's providers up (the
// active health probes' verdict, as in llm_router_provider_up) and in all.
func (h *Handler) health(w http.ResponseWriter, _ *http.Request) error {
	down := map[string]bool{}
	for _, id := range h.app.provMon.Down() {
		down[id] = true
	}
	type modelHealth struct {
		Model string `json:"model"`
		Up    int    `json:"providers_up"`
		Total int    `json:"providers_total"`
	}
	models := []modelHealth{}
	ready := true
	for _, m := range h.app.Config().Models() {
		mh := modelHealth{Model: m.Name, Total: len(m.Providers)}
		for _, p := range m.Providers {
			if !down[p.ID] {
				mh.Up++
			}
		}
		ready = ready && mh.Up > 0
		models = append(models, mh)
	}
	status, code := "ok", http.StatusOK
	if !ready {
		status, code = "unavailable", http.StatusServiceUnavailable
	}
	w.Header().Set("Cache-Control", "no-store")
	return engine.WriteJSON(w, code, map[string]any{"status": status, "models": models})
}

// peekModel reads the "model" member of a refused request's body, for the
// log and the metrics; at most limit bytes are read.
func peekModel(body io.Reader, limit int64) string {
	if body == nil {
		return ""
	}
	data, _ := io.ReadAll(io.LimitReader(body, limit))
	var model string
	_ = jsonscan.Each(data, func(key, value []byte) bool {
		if string(key) == "model" {
			model, _ = jsonscan.Unquote(value)
			return false
		}
		return true
	})
	return model
}
