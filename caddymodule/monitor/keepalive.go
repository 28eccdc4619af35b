package monitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
)

// Leaser hands out exclusive leases without waiting; *balance.Balancer
// implements it.
type Leaser interface {
	TryAcquire(ctx context.Context, model string, c balance.Candidate) (*balance.Lease, error)
}

// KeepAliveMonitor keeps the model of idle providers loaded. A target with
// KeepAlive d that served a request (Touch) at time u is pinged once it has
// been idle until u + 9d/10 − Interval (but not before u + d/2), so the ping
// lands before the provider unloads the model; the ping counts as use, so
// the next one follows d/10 + Interval before the next expiry, and so on.
//
// A ping holds the provider through Balancer.TryAcquire, so it never runs
// beside a request (a provider that is busy is not idle: the ping is
// skipped and rescheduled). Pings: Ollama POST /api/generate with the model
// and keep_alive and no prompt (loads the model, sets its keep-alive);
// OpenAI-compatible (openai, vllm, lmstudio) POST /v1/chat/completions with
// max_tokens 1. Anthropic providers are not pinged.
type KeepAliveMonitor struct {
	Client   *http.Client  // required
	Balancer Leaser        // nil: ping without a lease
	Interval time.Duration // LLM_ROUTER_KEEPALIVE_MODEL_MONITOR_INTERVAL_SECONDS (1s)
	Timeout  time.Duration // per ping (60s)
	Logger   *zap.Logger   // nil: no logs

	mu      sync.Mutex
	targets map[string]Target
	last    map[string]time.Time // provider id → last use
	busy    map[string]bool      // ping in flight
	wg      sync.WaitGroup
	now     func() time.Time
}

func (k *KeepAliveMonitor) interval() time.Duration { return or(k.Interval, time.Second) }

func (k *KeepAliveMonitor) clock() time.Time {
	if k.now != nil {
		return k.now()
	}
	return time.Now()
}

// SetTargets replaces the providers to keep warm; only those with
// KeepAlive > 0 and a pingable api_type are kept.
func (k *KeepAliveMonitor) SetTargets(ts []Target) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.targets = map[string]Target{}
	if k.last == nil {
		k.last, k.busy = map[string]time.Time{}, map[string]bool{}
	}
	for _, t := range ts {
		if t.KeepAlive > 0 && strings.ToLower(t.APIType) != "anthropic" {
			k.targets[t.ID] = t
		}
	}
	for id := range k.last {
		if _, ok := k.targets[id]; !ok {
			delete(k.last, id)
		}
	}
}

// Touch records that provider id served a request now (call it when a
// lease is released).
func (k *KeepAliveMonitor) Touch(id string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.targets[id]; ok {
		k.last[id] = k.clock()
	}
}

// due returns when a target used at u should be pinged.
func (k *KeepAliveMonitor) due(u time.Time, d time.Duration) time.Time {
	return u.Add(max(d*9/10-k.interval(), d/2))
}

// Run checks for due pings every Interval until ctx ends, then waits for
// pings in flight.
func (k *KeepAliveMonitor) Run(ctx context.Context) error {
	defer k.wg.Wait()
	t := time.NewTicker(k.interval())
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
		k.Tick(ctx)
	}
}

// Tick starts the pings that are due and returns; Wait waits for them.
func (k *KeepAliveMonitor) Tick(ctx context.Context) {
	now := k.clock()
	k.mu.Lock()
	defer k.mu.Unlock()
	for id, u := range k.last {
		t := k.targets[id]
		if k.busy[id] || now.Before(k.due(u, t.KeepAlive)) {
			continue
		}
		k.busy[id] = true
		k.wg.Add(1)
		go func() {
			defer k.wg.Done()
			k.ping(ctx, t)
		}()
	}
}

// Wait blocks until the pings started by Tick are done.
func (k *KeepAliveMonitor) Wait() { k.wg.Wait() }

func (k *KeepAliveMonitor) ping(ctx context.Context, t Target) {
	log := k.Logger
	if log == nil {
		log = zap.NewNop()
	}
	var err error
	defer func() {
		k.mu.Lock()
		delete(k.busy, t.ID)
		if _, ok := k.last[t.ID]; ok {
			k.last[t.ID] = k.clock() // used, pinged, or to retry in a while
		}
		k.mu.Unlock()
		if err != nil && ctx.Err() == nil {
			log.Warn("keep-alive ping failed", zap.String("provider", t.ID), zap.Error(err))
		}
	}()
	if k.Balancer != nil {
		l, lerr := k.Balancer.TryAcquire(ctx, t.Model, balance.Candidate{ID: t.ID, Host: t.Host, APIType: t.APIType})
		if errors.Is(lerr, balance.ErrBusy) || errors.Is(lerr, balance.ErrNoProvider) {
			return // busy: not idle; down: nothing to keep warm
		}
		if lerr != nil {
			err = lerr
			return
		}
		defer func() {
			// A failed ping says nothing new: health is the ProviderMonitor's job.
			l.Release(balance.Outcome{Result: balance.Canceled})
		}()
	}
	err = k.send(ctx, t)
}

func (k *KeepAliveMonitor) send(ctx context.Context, t Target) error {
	ctx, cancel := context.WithTimeout(ctx, or(k.Timeout, 60*time.Second))
	defer cancel()
	req, err := PingRequest(ctx, t)
	if err != nil {
		return err
	}
	resp, err := k.Client.Do(req)
	if err != nil {
		return fmt.Errorf("monitor: keep-alive ping of %s: %w", t.ID, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 300 {
		return fmt.Errorf("monitor: keep-alive ping of %s: status %d", t.ID, resp.StatusCode)
	}
	return nil
}

// PingRequest builds the keep-alive request for t (see KeepAliveMonitor).
func PingRequest(ctx context.Context, t Target) (*http.Request, error) {
	model := or(t.ModelPath, t.Model)
	typ := strings.ToLower(t.APIType)
	var url string
	var body any
	if typ == "ollama" {
		url = t.base() + "/api/generate"
		body = map[string]any{"model": model, "keep_alive": strconv.FormatInt(int64(t.KeepAlive/time.Second), 10) + "s", "stream": false}
	} else {
		url = t.v1() + "/chat/completions"
		body = map[string]any{
			"model": model, "stream": false, "max_tokens": 1, "temperature": 0,
			"messages": []map[string]string{{"role": "user", "content": "ping"}},
		}
	}
	b, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("monitor: keep-alive ping of %s: %w", t.ID, err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(b))
	if err != nil {
		return nil, fmt.Errorf("monitor: keep-alive ping of %s: %w", t.ID, err)
	}
	req.Header.Set("Content-Type", "application/json")
	setAuth(req, typ, t.Token)
	return req, nil
}

// ParseKeepAlive parses a keep_alive value such as "35m", "90s", "1h" or a
// Go duration; empty means none.
func ParseKeepAlive(s string) (time.Duration, error) {
	s = strings.ToLower(strings.Join(strings.Fields(s), ""))
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d < 0 {
		return 0, fmt.Errorf("monitor: bad keep_alive %q: want a duration like 35m", s)
	}
	return d, nil
}
