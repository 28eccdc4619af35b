package anonymizer

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// The page reaches the router through the rest of the Caddy route, in
// process: an internal request to the router's own OpenAI endpoints, with
// the caller's key, so the router's authentication, policies, rate limits,
// balancing and logs apply exactly as they do to any API client.

// maxRouterAnswer bounds a non-streamed answer read from the router.
const maxRouterAnswer = 4 << 20

type nextKey struct{}

// withNext stores the rest of the route in the request context for the
// page's handlers.
func withNext(r *http.Request, next caddyhttp.Handler) *http.Request {
	return r.WithContext(context.WithValue(r.Context(), nextKey{}, next))
}

func nextOf(r *http.Request) caddyhttp.Handler {
	n, _ := r.Context().Value(nextKey{}).(caddyhttp.Handler)
	return n
}

// internal returns a copy of r (same context, so cancelling r cancels it)
// that asks path of the router with key as its bearer token.
func internal(r *http.Request, method, path, key string, body []byte) *http.Request {
	ir := r.Clone(r.Context())
	ir.Method = method
	ir.URL = &url.URL{Path: path}
	ir.RequestURI = path
	ir.Header = http.Header{}
	ir.Header.Set("Accept", "application/json, text/event-stream")
	if key != "" {
		ir.Header.Set("Authorization", "Bearer "+key)
	}
	ir.Form, ir.PostForm, ir.MultipartForm, ir.GetBody = nil, nil, nil, nil
	ir.Body = http.NoBody
	ir.ContentLength = 0
	if body != nil {
		ir.Header.Set("Content-Type", "application/json")
		ir.Body = io.NopCloser(bytes.NewReader(body))
		ir.ContentLength = int64(len(body))
	}
	return ir
}

// recorder keeps a bounded copy of a response.
type recorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func newRecorder() *recorder { return &recorder{header: http.Header{}} }

func (c *recorder) Header() http.Header { return c.header }

func (c *recorder) WriteHeader(code int) {
	if c.status == 0 {
		c.status = code
	}
}

func (c *recorder) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	if room := maxRouterAnswer - c.body.Len(); room > 0 {
		c.body.Write(b[:min(len(b), room)])
	}
	return len(b), nil
}

func (c *recorder) code() int {
	if c.status == 0 {
		return http.StatusNotFound // nothing answered: the route ended
	}
	return c.status
}

// ask runs a non-streamed internal request and returns the status and body.
func ask(r *http.Request, method, path, key string, body []byte) (int, []byte, error) {
	next := nextOf(r)
	if next == nil {
		return 0, nil, fmt.Errorf("anonymizer: no handler after the anonymizer")
	}
	rec := newRecorder()
	if err := next.ServeHTTP(rec, internal(r, method, path, key, body)); err != nil {
		var he caddyhttp.HandlerError
		if errors.As(err, &he) && he.StatusCode != 0 {
			return he.StatusCode, nil, nil
		}
		return 0, nil, fmt.Errorf("anonymizer: asking the router %s: %w", path, err)
	}
	return rec.code(), rec.body.Bytes(), nil
}

// Model is one entry of the model picker.
type Model struct {
	ID      string `json:"id"`
	OwnedBy string `json:"owned_by,omitempty"`
}

// models asks the router for the models the key may use (GET /v1/models).
func models(r *http.Request, key string) (int, []Model, error) {
	code, body, err := ask(r, http.MethodGet, "/v1/models", key, nil)
	if err != nil || code != http.StatusOK {
		return code, nil, err
	}
	var list struct {
		Data []Model `json:"data"`
	}
	if err := json.Unmarshal(body, &list); err != nil {
		return 0, nil, fmt.Errorf("anonymizer: the router's model list: %w", err)
	}
	return code, list.Data, nil
}

// routerError returns the message of an OpenAI error body, or "".
func routerError(body []byte) string {
	var e struct {
		Error struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	return e.Error.Message
}

// ChatMessage is one message of a chat.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// chatBody is the OpenAI chat request the page sends to the router.
func chatBody(model string, msgs []ChatMessage) ([]byte, error) {
	return json.Marshal(struct {
		Model    string        `json:"model"`
		Messages []ChatMessage `json:"messages"`
		Stream   bool          `json:"stream"`
	}{model, msgs, true})
}

// deltaWriter turns the router's OpenAI event stream into the bare text of
// its content deltas, as the original's /chat/message answered. An error
// answer (before the stream) is kept for the caller; an error event inside
// the stream is written as a line of text.
type deltaWriter struct {
	w      http.ResponseWriter
	header http.Header
	status int
	line   []byte
	errBuf bytes.Buffer
	wrote  bool
}

func newDeltaWriter(w http.ResponseWriter) *deltaWriter {
	return &deltaWriter{w: w, header: http.Header{}}
}

func (d *deltaWriter) Header() http.Header { return d.header }

func (d *deltaWriter) WriteHeader(code int) {
	if d.status == 0 {
		d.status = code
	}
}

func (d *deltaWriter) Write(b []byte) (int, error) {
	if d.status == 0 {
		d.status = http.StatusOK
	}
	if d.status != http.StatusOK {
		if room := 64<<10 - d.errBuf.Len(); room > 0 {
			d.errBuf.Write(b[:min(len(b), room)])
		}
		return len(b), nil
	}
	n := len(b)
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			if len(d.line)+len(b) > maxRouterAnswer {
				return n, fmt.Errorf("anonymizer: stream line over %d bytes", maxRouterAnswer)
			}
			d.line = append(d.line, b...)
			break
		}
		d.line = append(d.line, b[:i]...)
		b = b[i+1:]
		if err := d.event(d.line); err != nil {
			return n, err
		}
		d.line = d.line[:0]
	}
	return n, nil
}

// Flush implements http.Flusher for the router's streaming.
func (d *deltaWriter) Flush() {
	if d.wrote {
		_ = http.NewResponseController(d.w).Flush()
	}
}

func (d *deltaWriter) event(line []byte) error {
	data, ok := bytes.CutPrefix(bytes.TrimRight(line, "\r"), []byte("data:"))
	if !ok {
		return nil
	}
	data = bytes.TrimSpace(data)
	if len(data) == 0 || string(data) == "[DONE]" {
		return nil
	}
	text, errMsg := DeltaText(data)
	if errMsg != "" {
		text = "\n[" + errMsg + "]"
	}
	if text == "" {
		return nil
	}
	if !d.wrote {
		d.w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		d.w.WriteHeader(http.StatusOK)
		d.wrote = true
	}
	_, err := io.WriteString(d.w, text)
	return err
}

// DeltaText returns the content of one OpenAI stream event's data, or the
// message of an error event.
func DeltaText(data []byte) (text, errMsg string) {
	var ev struct {
		Choices []struct {
			Delta struct {
				Content string `json:"content"`
			} `json:"delta"`
		} `json:"choices"`
		Error *struct {
			Message string `json:"message"`
		} `json:"error"`
	}
	if json.Unmarshal(data, &ev) != nil {
		return "", ""
	}
	if ev.Error != nil {
		return "", ev.Error.Message
	}
	var b strings.Builder
	for _, c := range ev.Choices {
		b.WriteString(c.Delta.Content)
	}
	return b.String(), ""
}
