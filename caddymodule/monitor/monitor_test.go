package monitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/balance"
)

func TestProbeRequest(t *testing.T) {
	for _, tc := range []struct {
		typ, host, token string
		url, header, val string
	}{
		{"vllm", "http://h:8000/", "", "http://h:8000/health", "Authorization", ""},
		{"vllm", "http://h:8000/v1", "", "http://h:8000/health", "Authorization", ""},
		{"ollama", "http://h:11434", "", "http://h:11434/api/version", "Authorization", ""},
		{"openai", "https://api.x.com", "sk-1", "https://api.x.com/v1/models", "Authorization", "Bearer sk-1"},
		{"OpenAI", "https://g.com/v1beta/openai/v1/", "k", "https://g.com/v1beta/openai/v1/models", "Authorization", "Bearer k"},
		{"lmstudio", "http://h:1234", "", "http://h:1234/v1/models", "Authorization", ""},
		{"anthropic", "https://api.anthropic.com", "ak", "https://api.anthropic.com/v1/models", "x-api-key", "ak"},
	} {
		r, err := ProbeRequest(context.Background(), Target{ID: "p", Host: tc.host, APIType: tc.typ, Token: tc.token})
		if err != nil {
			t.Fatal(err)
		}
		if r.Method != http.MethodGet || r.URL.String() != tc.url || r.Header.Get(tc.header) != tc.val {
			t.Errorf("%s %s: %s %s %s=%q; want GET %s %s=%q", tc.typ, tc.host, r.Method, r.URL, tc.header, r.Header.Get(tc.header), tc.url, tc.header, tc.val)
		}
	}
}

// health records verdicts.
type health struct {
	mu    sync.Mutex
	calls []string
}

func (h *health) MarkDown(_ context.Context, id string, ttl time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf("down %s %s", id, ttl))
	return nil
}

func (h *health) MarkUp(_ context.Context, id string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, "up "+id)
	return nil
}

func (h *health) take() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	c := h.calls
	h.calls = nil
	return c
}

// fakeProvider answers the probe path of its api type with a settable
// status, and 401 without the right token.
func fakeProvider(t *testing.T, path, token string) (*httptest.Server, *atomic.Int32) {
	var status atomic.Int32
	status.Store(200)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != path {
			http.NotFound(w, r)
			return
		}
		if token != "" && r.Header.Get("Authorization") != "Bearer "+token {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		w.WriteHeader(int(status.Load()))
	}))
	t.Cleanup(s.Close)
	return s, &status
}

func TestProviderMonitorHysteresis(t *testing.T) {
	for _, tc := range []struct{ typ, path, token string }{
		{"vllm", "/health", ""},
		{"ollama", "/api/version", ""},
		{"openai", "/v1/models", "sk-test"},
	} {
		t.Run(tc.typ, func(t *testing.T) {
			srv, status := fakeProvider(t, tc.path, tc.token)
			h := &health{}
			m := &ProviderMonitor{Client: srv.Client(), Health: h, Interval: time.Second, Fails: 2, Passes: 2}
			m.SetTargets([]Target{{ID: "p", Host: srv.URL, APIType: tc.typ, Token: tc.token}})
			for i, step := range []struct {
				status int
				want   []string
			}{
				{200, nil},
				{500, nil}, // one failure: not yet
				{200, nil}, // streak broken
				{503, nil},
				{302, nil}, // 3xx counts as up
				{404, nil}, // first failure
				{500, []string{"down p 3s"}},
				{500, []string{"down p 3s"}}, // re-asserted while down
				{200, []string{"down p 3s"}}, // one pass of two: still down
				{204, []string{"up p"}},
				{200, nil},
			} {
				status.Store(int32(step.status))
				m.Check(context.Background())
				if got := h.take(); fmt.Sprint(got) != fmt.Sprint(step.want) {
					t.Fatalf("step %d (status %d): calls %v, want %v", i, step.status, got, step.want)
				}
			}
		})
	}
}

func TestProviderMonitorWrongTokenIsDown(t *testing.T) {
	srv, _ := fakeProvider(t, "/v1/models", "right")
	h := &health{}
	m := &ProviderMonitor{Client: srv.Client(), Health: h, Fails: 1}
	m.SetTargets([]Target{{ID: "p", Host: srv.URL, APIType: "openai", Token: "wrong"}})
	m.Check(context.Background())
	if got := h.take(); len(got) != 1 || m.Down()[0] != "p" {
		t.Fatalf("calls %v, down %v; want p down", got, m.Down())
	}
}

func TestProviderMonitorUnreachable(t *testing.T) {
	srv, _ := fakeProvider(t, "/health", "")
	url := srv.URL
	srv.Close()
	b, err := balance.New(balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	m := &ProviderMonitor{Client: http.DefaultClient, Health: b, Fails: 1}
	m.SetTargets([]Target{{ID: "dead", Host: url, APIType: "vllm"}})
	m.Check(context.Background())
	cs := []balance.Candidate{{ID: "dead"}, {ID: "ok"}}
	for range 3 {
		l, err := b.Acquire(context.Background(), "m", nil, cs, nil)
		if err != nil || l.Provider().ID != "ok" {
			t.Fatalf("got %v, %v; the down provider must be skipped", l, err)
		}
		l.Release(balance.Outcome{})
	}
}

func TestProviderMonitorRunStops(t *testing.T) {
	probed := make(chan struct{})
	var once sync.Once
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { once.Do(func() { close(probed) }) }))
	defer srv.Close()
	m := &ProviderMonitor{Client: srv.Client(), Health: &health{}, Interval: time.Hour}
	m.SetTargets([]Target{{ID: "p", Host: srv.URL, APIType: "vllm"}})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- m.Run(ctx) }()
	<-probed // Run probes at once, not after the first hour
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestPingRequest(t *testing.T) {
	for _, tc := range []struct {
		typ, url string
		want     map[string]any
	}{
		{"ollama", "http://h/api/generate", map[string]any{"model": "llama3:8b", "keep_alive": "2100s", "stream": false}},
		{"vllm", "http://h/v1/chat/completions", map[string]any{"model": "llama3:8b", "max_tokens": 1.0, "stream": false}},
	} {
		r, err := PingRequest(context.Background(), Target{ID: "p", Model: "llama", ModelPath: "llama3:8b", Host: "http://h/", APIType: tc.typ, Token: "t", KeepAlive: 35 * time.Minute})
		if err != nil {
			t.Fatal(err)
		}
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Fatal(err)
		}
		if r.Method != http.MethodPost || r.URL.String() != tc.url || r.Header.Get("Authorization") != "Bearer t" {
			t.Errorf("%s: %s %s auth %q", tc.typ, r.Method, r.URL, r.Header.Get("Authorization"))
		}
		for k, v := range tc.want {
			if body[k] != v {
				t.Errorf("%s: body[%s] = %v, want %v", tc.typ, k, body[k], v)
			}
		}
	}
}

func TestParseKeepAlive(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		err  bool
	}{
		{"", 0, false}, {"35m", 35 * time.Minute, false}, {" 90 S ", 90 * time.Second, false},
		{"1h", time.Hour, false}, {"soon", 0, true}, {"-5m", 0, true},
	} {
		d, err := ParseKeepAlive(tc.in)
		if (err != nil) != tc.err || d != tc.want {
			t.Errorf("ParseKeepAlive(%q) = %v, %v", tc.in, d, err)
		}
	}
}

type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func TestKeepAliveSchedule(t *testing.T) {
	b, err := balance.New(balance.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	var pings atomic.Int32
	var heldDuringPing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/generate" {
			http.NotFound(w, r)
			return
		}
		u, _ := b.InUse(r.Context(), "warm")
		heldDuringPing.Store(u)
		pings.Add(1)
		w.Write([]byte(`{"done":true}`))
	}))
	defer srv.Close()
	c := &clock{t: time.Unix(0, 0)}
	k := &KeepAliveMonitor{Client: srv.Client(), Balancer: b, Interval: time.Second, now: c.now}
	warm := Target{ID: "warm", Model: "m", Host: srv.URL, APIType: "ollama", KeepAlive: 10 * time.Minute}
	k.SetTargets([]Target{
		warm,
		{ID: "cold", Model: "m", Host: srv.URL, APIType: "ollama"}, // no keep_alive
		{ID: "never", Model: "m", Host: srv.URL, APIType: "ollama", KeepAlive: time.Minute},
		{ID: "cloud", Model: "m", Host: srv.URL, APIType: "anthropic", KeepAlive: time.Minute},
	})
	k.Touch("warm")
	k.Touch("cold")
	k.Touch("cloud")
	tick := func(advance time.Duration, want int32) {
		t.Helper()
		c.add(advance)
		k.Tick(context.Background())
		k.Wait()
		if got := pings.Load(); got != want {
			t.Fatalf("after +%v: %d pings, want %d", advance, got, want)
		}
	}
	tick(5*time.Minute, 0)               // idle, but far from expiry
	tick(4*time.Minute-2*time.Second, 0) // 8m58s: not yet
	tick(2*time.Second, 1)               // 9m: due (9/10 of 10m − 1s)
	if !heldDuringPing.Load() {
		t.Fatal("the ping did not hold the provider's lease")
	}
	tick(time.Second, 1) // the ping counts as use
	// Busy provider: not idle, no ping; rescheduled.
	l, err := b.Acquire(context.Background(), "m", balance.Policy{Kind: balance.FirstAvailable}, []balance.Candidate{{ID: "warm"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tick(9*time.Minute, 1)
	l.Release(balance.Outcome{})
	k.Touch("warm")
	tick(9*time.Minute, 2)
	if u, _ := b.InUse(context.Background(), "warm"); u {
		t.Fatal("the ping's lease was not released")
	}
}
