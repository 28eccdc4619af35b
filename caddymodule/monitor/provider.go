// Package monitor watches providers: ProviderMonitor probes their health
// and reports it to the balancer, KeepAliveMonitor pings idle providers
// that have keep_alive set so their model stays loaded.
package monitor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"
)

// Target is one provider to watch.
type Target struct {
	ID        string
	Model     string        // logical model name
	ModelPath string        // name sent upstream; Model when empty
	Host      string        // api_host base URL
	APIType   string        // openai, vllm, ollama, lmstudio, anthropic
	Token     string        // api_token; sent to the provider only, never logged or stored
	KeepAlive time.Duration // keep_alive; 0 = none
}

// Health receives the verdicts; *balance.Balancer implements it.
type Health interface {
	MarkDown(ctx context.Context, id string, ttl time.Duration) error
	MarkUp(ctx context.Context, id string) error
}

// base returns the host without trailing slashes.
func (t Target) base() string { return strings.TrimRight(t.Host, "/") }

// v1 returns the base URL of the OpenAI-style API: host + "/v1" unless
// the host already ends with it.
func (t Target) v1() string {
	b := t.base()
	if strings.HasSuffix(b, "/v1") {
		return b
	}
	return b + "/v1"
}

// ProbeRequest builds the health probe for t's api_type:
// vLLM GET /health, Ollama GET /api/version, OpenAI-compatible (openai,
// lmstudio, others) GET /v1/models with the bearer token, Anthropic
// GET /v1/models with x-api-key.
func ProbeRequest(ctx context.Context, t Target) (*http.Request, error) {
	var url string
	typ := strings.ToLower(t.APIType)
	switch typ {
	case "vllm":
		url = strings.TrimSuffix(t.base(), "/v1") + "/health"
	case "ollama":
		url = t.base() + "/api/version"
	default:
		url = t.v1() + "/models"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("monitor: probe of %s: %w", t.ID, err)
	}
	setAuth(req, typ, t.Token)
	return req, nil
}

func setAuth(req *http.Request, typ, token string) {
	if token == "" {
		return
	}
	if typ == "anthropic" {
		req.Header.Set("x-api-key", token)
		req.Header.Set("anthropic-version", "2023-06-01")
		return
	}
	req.Header.Set("Authorization", "Bearer "+token)
}

// ProviderMonitor probes every target each Interval and reports state
// changes to Health, with hysteresis: a provider goes down after Fails
// consecutive failed probes and up again after Passes good ones. A probe
// is good when the provider answers 2xx or 3xx within Timeout. While a
// provider is down the verdict is re-sent each round with a TTL of three
// intervals, so a monitor that stops cannot keep it out for long.
type ProviderMonitor struct {
	Client   *http.Client  // required
	Health   Health        // required
	Interval time.Duration // LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS (5s)
	Timeout  time.Duration // per probe (5s)
	Fails    int           // failures before down (2)
	Passes   int           // successes before up (1)
	Logger   *zap.Logger   // nil: no logs

	mu      sync.Mutex
	targets []Target
	state   map[string]*probeState
}

type probeState struct {
	down       bool
	fails, oks int
}

func (m *ProviderMonitor) interval() time.Duration { return or(m.Interval, 5*time.Second) }

func or[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// SetTargets replaces the watched providers (e.g. after a config reload);
// state of providers that stay is kept.
func (m *ProviderMonitor) SetTargets(ts []Target) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.targets = append([]Target(nil), ts...)
	old := m.state
	m.state = make(map[string]*probeState, len(ts))
	for _, t := range ts {
		if s := old[t.ID]; s != nil {
			m.state[t.ID] = s
		} else {
			m.state[t.ID] = &probeState{}
		}
	}
}

// Down returns the ids this monitor currently holds down.
func (m *ProviderMonitor) Down() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	var ids []string
	for _, t := range m.targets {
		if s := m.state[t.ID]; s != nil && s.down {
			ids = append(ids, t.ID)
		}
	}
	return ids
}

// Run probes at once and then every Interval until ctx ends.
func (m *ProviderMonitor) Run(ctx context.Context) error {
	t := time.NewTicker(m.interval())
	defer t.Stop()
	for {
		m.Check(ctx)
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// Check runs one round: all targets are probed concurrently, and Check
// returns when every probe is done.
func (m *ProviderMonitor) Check(ctx context.Context) {
	m.mu.Lock()
	ts := append([]Target(nil), m.targets...)
	m.mu.Unlock()
	var wg sync.WaitGroup
	for _, t := range ts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := m.probe(ctx, t)
			if ctx.Err() != nil {
				return // shutting down: no verdict
			}
			m.record(ctx, t, err)
		}()
	}
	wg.Wait()
}

func (m *ProviderMonitor) probe(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, or(m.Timeout, 5*time.Second))
	defer cancel()
	req, err := ProbeRequest(ctx, t)
	if err != nil {
		return err
	}
	resp, err := m.Client.Do(req)
	if err != nil {
		return fmt.Errorf("monitor: probe of %s: %w", t.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode >= 400 {
		return fmt.Errorf("monitor: probe of %s: status %d", t.ID, resp.StatusCode)
	}
	return nil
}

func (m *ProviderMonitor) record(ctx context.Context, t Target, perr error) {
	m.mu.Lock()
	s := m.state[t.ID]
	if s == nil { // removed meanwhile
		m.mu.Unlock()
		return
	}
	wasDown := s.down
	if perr != nil {
		s.fails++
		s.oks = 0
		if s.fails >= or(m.Fails, 2) {
			s.down = true
		}
	} else {
		s.oks++
		s.fails = 0
		if s.oks >= or(m.Passes, 1) {
			s.down = false
		}
	}
	down := s.down
	m.mu.Unlock()
	log := m.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var err error
	switch {
	case down:
		if !wasDown {
			log.Warn("provider down", zap.String("provider", t.ID), zap.Error(perr))
		}
		err = m.Health.MarkDown(ctx, t.ID, 3*m.interval())
	case wasDown:
		log.Info("provider up again", zap.String("provider", t.ID))
		err = m.Health.MarkUp(ctx, t.ID)
	}
	if err != nil {
		log.Warn("recording provider health", zap.String("provider", t.ID), zap.Error(err))
	}
}
