// Package plugintest provides a fake plugin-services host for tests, in the
// manner of net/http/httptest: one server answering like the original
// llm-router-services (guardrails) plus a PII masker service, with knobs for
// unsafe content, delays, errors, garbage and outages, and call counters.
//
// Wire contract (copied from the original system):
//
//	GET  /api/ping                   → 200 {"response":"pong"}
//	POST /api/maskers/pii            body: any JSON
//	                                 → 200 {"anonymized": <same shape, masked>, "mappings": {"PII_1": "<original>"}}
//	POST /api/guardrails/<name>      body: any JSON; every string value and every key longer than 8 characters is checked
//	                                 → 200 {"results": {"safe": bool, "detailed": [{"chunk_index", "chunk_text", "label", "score", "safe"}]}}
//	non-JSON body                    → 400 {"error": "Request body must be JSON"}
//	service failure                  → 500 {"error": "<text>"}
package plugintest

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// Paths served by Server.
const (
	PathPing  = "/api/ping"
	PathPII   = "/api/maskers/pii"
	PathNask  = "/api/guardrails/nask_guard"
	PathSojka = "/api/guardrails/sojka_guard"
)

// Fault selects how the fake misbehaves.
type Fault int

// Faults. Down applies to every path (ping included); the others to the
// masker and guardrail endpoints only.
const (
	// OK answers normally.
	OK Fault = iota
	// Status500 answers 500 {"error": "..."} like a crashed classifier.
	Status500
	// Garbage answers 200 with a body that is not JSON.
	Garbage
	// WrongShape answers 200 with JSON lacking the contract's fields.
	WrongShape
	// Down closes the connection without answering.
	Down
)

// Server is a fake plugin-services host. Its zero knobs answer every
// request normally, mask e-mail addresses and find everything safe.
type Server struct {
	*httptest.Server

	mu      sync.Mutex
	unsafe  []string
	secrets []string
	delay   time.Duration
	fault   Fault
	gate    chan struct{}
	calls   map[string]int
	bodies  map[string][]byte
}

var email = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

// NewServer starts a fake serving the ping, the PII masker and the given
// guardrails (both nask_guard and sojka_guard when none are named).
// It is closed by t.Cleanup.
func NewServer(t testing.TB, guardrails ...string) *Server {
	if len(guardrails) == 0 {
		guardrails = []string{"nask_guard", "sojka_guard"}
	}
	s := &Server{calls: map[string]int{}, bodies: map[string][]byte{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+PathPing, s.ping)
	mux.HandleFunc("POST "+PathPII, s.mask)
	for _, g := range guardrails {
		mux.HandleFunc("POST /api/guardrails/"+g, s.guard)
	}
	s.Server = httptest.NewServer(s.count(mux))
	t.Cleanup(s.Close)
	return s
}

// Close releases held calls and shuts the server down.
func (s *Server) Close() {
	s.Release()
	s.Server.Close()
}

// SetUnsafe makes guardrails answer unsafe when any checked text contains
// one of substrs (case-insensitive).
func (s *Server) SetUnsafe(substrs ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.unsafe = substrs
}

// SetSecrets makes the masker replace these words too (e-mail addresses are
// always masked).
func (s *Server) SetSecrets(words ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.secrets = words
}

// SetDelay delays every masker and guardrail answer.
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetFault selects a failure mode (OK restores normal answers).
func (s *Server) SetFault(f Fault) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fault = f
}

// Hold makes masker and guardrail calls wait (after being counted) until
// Release.
func (s *Server) Hold() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate == nil {
		s.gate = make(chan struct{})
	}
}

// Release lets held calls answer.
func (s *Server) Release() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.gate != nil {
		close(s.gate)
		s.gate = nil
	}
}

// Calls is how many requests arrived at path.
func (s *Server) Calls(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[path]
}

// LastBody is the body of the last request to path.
func (s *Server) LastBody(path string) []byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.bodies[path]
}

// WaitCalls blocks until at least n requests arrived at path; it fails the
// test if that does not happen within 30 s.
func (s *Server) WaitCalls(t testing.TB, path string, n int) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for s.Calls(path) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d calls, want %d", path, s.Calls(path), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *Server) count(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		r.Body = io.NopCloser(strings.NewReader(string(body)))
		s.mu.Lock()
		s.calls[r.URL.Path]++
		s.bodies[r.URL.Path] = body
		fault := s.fault
		s.mu.Unlock()
		if fault == Down {
			hangUp(w)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// hangUp closes the client connection without a response.
func hangUp(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler)
	}
	conn.Close()
}

func (s *Server) ping(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"response": "pong"})
}

// wait applies the hold, the delay and the fault; it reports whether the
// handler should go on with a normal answer.
func (s *Server) wait(w http.ResponseWriter, r *http.Request) bool {
	s.mu.Lock()
	gate, delay := s.gate, s.delay
	s.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return false
		}
	}
	if delay > 0 {
		t := time.NewTimer(delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-r.Context().Done():
			return false
		}
	}
	s.mu.Lock()
	fault := s.fault
	s.mu.Unlock()
	switch fault {
	case Status500:
		writeJSON(w, http.StatusInternalServerError, map[string]string{"error": "CUDA out of memory"})
		return false
	case Garbage:
		w.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(w, "<html><body>502 Bad Gateway</body></html>")
		return false
	case Down:
		hangUp(w)
		return false
	}
	return true
}

func decode(w http.ResponseWriter, r *http.Request) (any, bool) {
	var v any
	if err := json.NewDecoder(r.Body).Decode(&v); err != nil {
		writeJSON(w, http.StatusBadRequest, map[string]string{"error": "Request body must be JSON"})
		return nil, false
	}
	return v, true
}

func (s *Server) mask(w http.ResponseWriter, r *http.Request) {
	payload, ok := decode(w, r)
	if !ok || !s.wait(w, r) {
		return
	}
	if s.currentFault() == WrongShape {
		writeJSON(w, http.StatusOK, map[string]any{"masked": payload})
		return
	}
	s.mu.Lock()
	secrets := append([]string(nil), s.secrets...)
	s.mu.Unlock()
	m := &masking{mappings: map[string]string{}, secrets: secrets}
	writeJSON(w, http.StatusOK, map[string]any{"anonymized": m.walk(payload), "mappings": m.mappings})
}

func (s *Server) currentFault() Fault {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.fault
}

type masking struct {
	secrets  []string
	mappings map[string]string
	byValue  map[string]string
}

func (m *masking) placeholder(orig string) string {
	if m.byValue == nil {
		m.byValue = map[string]string{}
	}
	if p, ok := m.byValue[orig]; ok {
		return "{" + p + "}"
	}
	p := fmt.Sprintf("PII_%d", len(m.mappings)+1)
	m.byValue[orig] = p
	m.mappings[p] = orig
	return "{" + p + "}"
}

func (m *masking) walk(v any) any {
	switch x := v.(type) {
	case string:
		for _, sec := range m.secrets {
			if sec != "" && strings.Contains(x, sec) {
				x = strings.ReplaceAll(x, sec, m.placeholder(sec))
			}
		}
		return email.ReplaceAllStringFunc(x, m.placeholder)
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			out[i] = m.walk(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(x))
		for k, e := range x {
			out[k] = m.walk(e)
		}
		return out
	}
	return v
}

type chunk struct {
	ChunkIndex int     `json:"chunk_index"`
	ChunkText  string  `json:"chunk_text"`
	Label      string  `json:"label"`
	Score      float64 `json:"score"`
	Safe       bool    `json:"safe"`
}

func (s *Server) guard(w http.ResponseWriter, r *http.Request) {
	payload, ok := decode(w, r)
	if !ok || !s.wait(w, r) {
		return
	}
	if s.currentFault() == WrongShape {
		writeJSON(w, http.StatusOK, map[string]any{"results": map[string]any{"detailed": []any{}}})
		return
	}
	s.mu.Lock()
	unsafe := append([]string(nil), s.unsafe...)
	s.mu.Unlock()
	var texts []string
	collect(payload, &texts)
	safe := true
	detailed := make([]chunk, 0, len(texts))
	for i, t := range texts {
		c := chunk{ChunkIndex: i, ChunkText: t, Label: "safe", Score: 0.9876, Safe: true}
		for _, u := range unsafe {
			if u != "" && strings.Contains(strings.ToLower(t), strings.ToLower(u)) {
				c.Label, c.Safe, safe = "unsafe", false, false
				break
			}
		}
		detailed = append(detailed, c)
	}
	writeJSON(w, http.StatusOK, map[string]any{"results": map[string]any{"safe": safe, "detailed": detailed}})
}

// collect gathers what the real service classifies: every string value and
// every object key longer than 8 characters (keys in sorted order).
func collect(v any, out *[]string) {
	switch x := v.(type) {
	case string:
		*out = append(*out, x)
	case []any:
		for _, e := range x {
			collect(e, out)
		}
	case map[string]any:
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if len(k) > 8 {
				*out = append(*out, k)
			}
			collect(x[k], out)
		}
	}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
