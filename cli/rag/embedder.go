package rag

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/plugins"
)

// openEmbedder makes the embedder of `rag index`: the router's provider
// code in process, from the models-config (caddymodule.OpenEmbedder:
// balancing, failover and retries as the server has them), or with
// --llm-router-url a running router's /v1/embeddings.
func openEmbedder(ctx context.Context, cfg config) (plugins.Embedder, io.Closer, error) {
	if cfg.routerURL != "" {
		e, err := newHTTPEmbedder(cfg.routerURL, cfg.routerToken, cfg.routerTimeout)
		if err != nil {
			return nil, nil, err
		}
		return e, nopCloser{}, nil
	}
	return caddymodule.OpenEmbedder(ctx, cfg.modelsConfig)
}

// maxEmbedAnswer bounds an embeddings answer (32 vectors of 4096 floats
// as JSON are about 3 MB).
const maxEmbedAnswer = 256 << 20

// httpEmbedder embeds through a router's OpenAI-compatible /v1/embeddings.
type httpEmbedder struct {
	url     string
	token   string
	hc      *http.Client
	timeout time.Duration
}

func newHTTPEmbedder(base, token string, timeout time.Duration) (*httpEmbedder, error) {
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	base = strings.TrimRight(base, "/")
	if !strings.HasSuffix(base, "/v1") {
		base += "/v1"
	}
	if _, err := http.NewRequest(http.MethodPost, base, nil); err != nil {
		return nil, fmt.Errorf("--llm-router-url: %w", err)
	}
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	return &httpEmbedder{url: base + "/embeddings", token: token, hc: &http.Client{}, timeout: timeout}, nil
}

// Embed implements plugins.Embedder. A network error or a 429/502/503/504
// answer is tried again (three attempts in all, 1 s and 2 s apart).
func (h *httpEmbedder) Embed(ctx context.Context, model string, texts []string) ([][]float32, error) {
	body, err := json.Marshal(map[string]any{"model": model, "input": texts})
	if err != nil {
		return nil, err
	}
	var last error
	for attempt := range 3 {
		if attempt > 0 {
			t := time.NewTimer(time.Duration(attempt) * time.Second)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
		}
		vecs, retry, err := h.once(ctx, model, body, len(texts))
		if err == nil {
			return vecs, nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return nil, last
}

func (h *httpEmbedder) once(ctx context.Context, model string, body []byte, n int) ([][]float32, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, h.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, h.url, bytes.NewReader(body))
	if err != nil {
		return nil, false, err
	}
	req.Header.Set("Content-Type", "application/json")
	if h.token != "" {
		req.Header.Set("Authorization", "Bearer "+h.token)
	}
	resp, err := h.hc.Do(req)
	if err != nil {
		return nil, true, fmt.Errorf("embedding model %q: %w", model, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxEmbedAnswer+1))
	if err != nil {
		return nil, true, fmt.Errorf("embedding model %q: reading the answer: %w", model, err)
	}
	if len(b) > maxEmbedAnswer {
		return nil, false, fmt.Errorf("embedding model %q: answer larger than %d bytes", model, maxEmbedAnswer)
	}
	if resp.StatusCode != http.StatusOK {
		retry := resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusBadGateway ||
			resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusGatewayTimeout
		return nil, retry, fmt.Errorf("embedding model %q: %s: %s", model, resp.Status, errorMessage(b))
	}
	var ans struct {
		Data []struct {
			Index     int       `json:"index"`
			Embedding []float32 `json:"embedding"`
		} `json:"data"`
	}
	if err := json.Unmarshal(b, &ans); err != nil {
		return nil, false, fmt.Errorf("embedding model %q: the answer is not an embeddings list: %w", model, err)
	}
	if len(ans.Data) != n {
		return nil, false, fmt.Errorf("embedding model %q answered %d vectors for %d texts", model, len(ans.Data), n)
	}
	out := make([][]float32, n)
	for _, d := range ans.Data {
		if d.Index < 0 || d.Index >= n || out[d.Index] != nil {
			return nil, false, fmt.Errorf("embedding model %q: answer with a bad or repeated index %d", model, d.Index)
		}
		out[d.Index] = d.Embedding
	}
	return out, false, nil
}

// errorMessage is the message of an OpenAI-shaped error body, else the
// body's start.
func errorMessage(b []byte) string {
	var e struct {
		Error json.RawMessage `json:"error"`
	}
	if json.Unmarshal(b, &e) == nil && len(e.Error) > 0 {
		var obj struct {
			Message string `json:"message"`
		}
		var s string
		switch {
		case json.Unmarshal(e.Error, &obj) == nil && obj.Message != "":
			return clip(obj.Message)
		case json.Unmarshal(e.Error, &s) == nil:
			return clip(s)
		}
	}
	return clip(string(b))
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	if s == "" {
		return "(no message)"
	}
	return s
}

var _ plugins.Embedder = (*httpEmbedder)(nil)

// nopCloser is the Closer of an embedder with nothing to release.
type nopCloser struct{}

func (nopCloser) Close() error { return nil }
