// Package piimasker is the pii_masker plugin: a client of an external PII
// anonymisation service (POST <host>/api/maskers/pii, the original
// router's contract) with an in-memory LRU cache of answers and
// de-duplication of concurrent identical calls.
//
// Each text is sent on its own as {"text": "<text>"} (the shape the
// original Anonymizer UI uses) and the answer must be
// {"anonymized": {"text": "<masked>"}, "mappings": {"<placeholder>": "<original>"}}.
// Per-text calls make the cache effective for chat: every turn resends the
// earlier messages, and only the new one reaches the service.
package piimasker

import (
	"context"
	"crypto/sha256"
	"net/http"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/errgroup"
	"golang.org/x/sync/singleflight"

	"github.com/llmrouter/llm-router/plugins"
)

// Name is the plugin name in pipelines.
const Name = "pii_masker"

// Path is the service endpoint below the host.
const Path = "api/maskers/pii"

// Defaults.
const (
	DefaultCacheSize   = 10000
	DefaultCacheTTL    = time.Hour
	DefaultConcurrency = 4
)

// Config configures a Masker.
type Config struct {
	// Host is the service base URL (LLM_ROUTER_MASKER_PII_HOST).
	Host string
	// Timeout bounds one service call; 0 means plugins.DefaultServiceTimeout.
	Timeout time.Duration
	// FailOpen lets requests pass unmasked while the service is unavailable.
	FailOpen bool
	// CacheSize is the number of cached texts; 0 means DefaultCacheSize,
	// negative disables the cache.
	CacheSize int
	// CacheTTL is how long a cached answer is used; 0 means DefaultCacheTTL.
	CacheTTL time.Duration
	// Concurrency caps parallel service calls of one MaskTexts; 0 means
	// DefaultConcurrency.
	Concurrency int
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// Masker is the pii_masker client. It is safe for concurrent use; Close it
// when unloaded.
type Masker struct {
	svc   *plugins.HTTPService
	cache *lru.Cache[[sha256.Size]byte, entry] // nil: no cache
	ttl   time.Duration
	conc  int
	group singleflight.Group
	now   func() time.Time

	waiting  atomic.Int64 // callers inside singleflight (tests)
	inflight atomic.Int64 // service calls running (tests)
}

// entry is one cached answer. Its map is never handed out; callers get copies.
type entry struct {
	masked   string
	mappings map[string]string
	expires  time.Time
}

// New builds a Masker.
func New(cfg Config) (*Masker, error) {
	svc, err := plugins.NewHTTPService(plugins.ServiceConfig{
		Name: Name, Host: cfg.Host, Path: Path, Timeout: cfg.Timeout,
		FailOpen: cfg.FailOpen, Client: cfg.Client,
	})
	if err != nil {
		return nil, err
	}
	m := &Masker{svc: svc, ttl: cfg.CacheTTL, conc: cfg.Concurrency, now: time.Now}
	if m.ttl <= 0 {
		m.ttl = DefaultCacheTTL
	}
	if m.conc <= 0 {
		m.conc = DefaultConcurrency
	}
	size := cfg.CacheSize
	if size == 0 {
		size = DefaultCacheSize
	}
	if size > 0 {
		// The plain LRU with expiry checked on read: the expirable variant
		// starts a goroutine that can never be stopped.
		m.cache, err = lru.New[[sha256.Size]byte, entry](size)
		if err != nil {
			svc.Close()
			return nil, err
		}
	}
	return m, nil
}

// ServiceName implements plugins.Service.
func (m *Masker) ServiceName() string { return Name }

// PingURL implements plugins.Service.
func (m *Masker) PingURL() string { return m.svc.PingURL() }

// FailOpen implements plugins.Service.
func (m *Masker) FailOpen() bool { return m.svc.FailOpen() }

// Close aborts calls in flight and drops the cache.
func (m *Masker) Close() {
	m.svc.Close()
	if m.cache != nil {
		m.cache.Purge()
	}
}

// MaskTexts implements plugins.Masker. Empty texts are not sent; identical
// texts are sent once; cached texts are not sent at all. Any failure fails
// the whole call (nothing partially masked is returned).
func (m *Masker) MaskTexts(ctx context.Context, texts []string) ([]string, map[string]string, error) {
	out := make([]string, len(texts))
	results := make(map[[sha256.Size]byte]entry, len(texts))
	var todo [][sha256.Size]byte
	var todoText []string
	keys := make([][sha256.Size]byte, len(texts))
	for i, t := range texts {
		if t == "" {
			continue
		}
		k := sha256.Sum256([]byte(t))
		keys[i] = k
		if _, seen := results[k]; seen {
			continue
		}
		if e, ok := m.lookup(k); ok {
			results[k] = e
			continue
		}
		results[k] = entry{}
		todo = append(todo, k)
		todoText = append(todoText, t)
	}
	if len(todo) > 0 {
		fetched := make([]entry, len(todo))
		g, gctx := errgroup.WithContext(ctx)
		g.SetLimit(m.conc)
		for j := range todo {
			g.Go(func() error {
				e, err := m.fetch(gctx, todo[j], todoText[j])
				fetched[j] = e
				return err
			})
		}
		if err := g.Wait(); err != nil {
			if ctx.Err() != nil {
				return nil, nil, ctx.Err()
			}
			return nil, nil, err
		}
		for j, k := range todo {
			results[k] = fetched[j]
		}
	}
	var mappings map[string]string
	for i, t := range texts {
		if t == "" {
			continue
		}
		e := results[keys[i]]
		out[i] = e.masked
		mappings = plugins.MergeMappings(mappings, e.mappings)
	}
	return out, mappings, nil
}

func (m *Masker) lookup(k [sha256.Size]byte) (entry, bool) {
	if m.cache == nil {
		return entry{}, false
	}
	e, ok := m.cache.Get(k)
	if !ok {
		return entry{}, false
	}
	if !m.now().Before(e.expires) {
		m.cache.Remove(k)
		return entry{}, false
	}
	return e, true
}

// fetch masks one text through the service, sharing the call with
// concurrent callers for the same text. The shared call is detached from
// any one caller, so a caller that gives up does not fail the others; it
// still ends at the service timeout or on Close.
func (m *Masker) fetch(ctx context.Context, k [sha256.Size]byte, text string) (entry, error) {
	m.waiting.Add(1)
	ch := m.group.DoChan(string(k[:]), func() (any, error) {
		if e, ok := m.lookup(k); ok { // filled while we queued
			return e, nil
		}
		m.inflight.Add(1)
		defer m.inflight.Add(-1)
		e, err := m.call(context.WithoutCancel(ctx), text)
		if err != nil {
			return nil, err
		}
		if m.cache != nil {
			m.cache.Add(k, e)
		}
		return e, nil
	})
	defer m.waiting.Add(-1)
	select {
	case <-ctx.Done():
		return entry{}, ctx.Err()
	case r := <-ch:
		if r.Err != nil {
			return entry{}, r.Err
		}
		return r.Val.(entry), nil
	}
}

type request struct {
	Text string `json:"text"`
}

type answer struct {
	Anonymized *struct {
		Text *string `json:"text"`
	} `json:"anonymized"`
	Mappings map[string]string `json:"mappings"`
}

func (m *Masker) call(ctx context.Context, text string) (entry, error) {
	var a answer
	if err := m.svc.Post(ctx, request{Text: text}, &a); err != nil {
		return entry{}, err
	}
	if a.Anonymized == nil || a.Anonymized.Text == nil {
		return entry{}, m.svc.InvalidAnswer("answer has no anonymized.text string")
	}
	return entry{masked: *a.Anonymized.Text, mappings: a.Mappings, expires: m.now().Add(m.ttl)}, nil
}

var (
	_ plugins.Masker  = (*Masker)(nil)
	_ plugins.Service = (*Masker)(nil)
)
