package piimasker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

func newMasker(t testing.TB, srv *plugintest.Server, cfg Config) *Masker {
	t.Helper()
	cfg.Host = srv.URL
	m, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(m.Close)
	return m
}

func TestMaskTexts(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.SetSecrets("Jan Kowalski")
	m := newMasker(t, srv, Config{})
	got, mp, err := m.MaskTexts(context.Background(), []string{
		"Jan Kowalski, jan@example.com", "", "bez danych", "Jan Kowalski, jan@example.com",
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"{PII_1}, {PII_2}", "", "bez danych", "{PII_1}, {PII_2}"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("masked %q, want %q", got, want)
	}
	if want := map[string]string{"PII_1": "Jan Kowalski", "PII_2": "jan@example.com"}; !reflect.DeepEqual(mp, want) {
		t.Errorf("mappings %v, want %v", mp, want)
	}
	// Empty texts are not sent, identical texts are sent once.
	if n := srv.Calls(plugintest.PathPII); n != 2 {
		t.Errorf("%d service calls, want 2", n)
	}
	var body map[string]any
	if err := json.Unmarshal(srv.LastBody(plugintest.PathPII), &body); err != nil || len(body) != 1 || body["text"] == nil {
		t.Errorf("request body %s; want {\"text\": ...}", srv.LastBody(plugintest.PathPII))
	}
}

func TestCache(t *testing.T) {
	srv := plugintest.NewServer(t)
	clock := time.Unix(1_800_000_000, 0)
	m := newMasker(t, srv, Config{CacheTTL: time.Minute})
	m.now = func() time.Time { return clock }
	ctx := context.Background()
	calls := func() int { return srv.Calls(plugintest.PathPII) }

	turn1 := []string{"Write to a@b.pl"}
	first, mp1, err := m.MaskTexts(ctx, turn1)
	if err != nil || calls() != 1 {
		t.Fatalf("first call: %v, %d calls", err, calls())
	}
	again, mp2, err := m.MaskTexts(ctx, turn1)
	if err != nil || calls() != 1 || !reflect.DeepEqual(first, again) || !reflect.DeepEqual(mp1, mp2) {
		t.Fatalf("repeat: %q %v, %v, %d calls; want the cached answer and no call", again, mp2, err, calls())
	}
	// Mutating a returned mapping must not change the cache.
	mp2["PII_1"] = "tampered"
	if _, mp3, _ := m.MaskTexts(ctx, turn1); mp3["PII_1"] != "a@b.pl" {
		t.Errorf("cache was changed through a returned map: %v", mp3)
	}
	// The next chat turn resends the first message: only the new one is sent.
	if _, _, err := m.MaskTexts(ctx, append(turn1, "and c@d.pl")); err != nil || calls() != 2 {
		t.Errorf("next turn: %v, %d calls, want 2", err, calls())
	}
	// After the TTL the text is asked again.
	clock = clock.Add(time.Minute)
	if _, _, err := m.MaskTexts(ctx, turn1); err != nil || calls() != 3 {
		t.Errorf("after TTL: %v, %d calls, want 3", err, calls())
	}
}

func TestCacheSizeAndOff(t *testing.T) {
	srv := plugintest.NewServer(t)
	ctx := context.Background()
	small := newMasker(t, srv, Config{CacheSize: 2})
	for _, txt := range []string{"a", "b", "c", "a"} { // "a" evicted by "c"
		if _, _, err := small.MaskTexts(ctx, []string{txt}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Calls(plugintest.PathPII); n != 4 {
		t.Errorf("size 2: %d calls, want 4 (a evicted)", n)
	}
	off := newMasker(t, srv, Config{CacheSize: -1})
	for range 2 {
		if _, _, err := off.MaskTexts(ctx, []string{"x"}); err != nil {
			t.Fatal(err)
		}
	}
	if n := srv.Calls(plugintest.PathPII); n != 6 {
		t.Errorf("cache off: %d calls, want 6", n)
	}
}

func TestConcurrentIdenticalCallsShareOne(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.Hold()
	m := newMasker(t, srv, Config{CacheSize: -1}) // no cache: only singleflight can dedupe
	const n = 8
	var wg sync.WaitGroup
	results := make([]string, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			out, _, err := m.MaskTexts(context.Background(), []string{"mail me: x@y.pl"})
			errs[i] = err
			if err == nil {
				results[i] = out[0]
			}
		})
	}
	waitFor(t, func() bool { return m.waiting.Load() == n })
	srv.Release()
	wg.Wait()
	for i := range n {
		if errs[i] != nil || results[i] != "mail me: {PII_1}" {
			t.Errorf("caller %d: %q, %v", i, results[i], errs[i])
		}
	}
	if c := srv.Calls(plugintest.PathPII); c != 1 {
		t.Errorf("%d service calls for %d identical concurrent requests, want 1", c, n)
	}
}

func TestCallerGivingUpDoesNotFailOthers(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.Hold()
	m := newMasker(t, srv, Config{})
	ctx, cancel := context.WithCancel(context.Background())
	errA := make(chan error, 1)
	go func() {
		_, _, err := m.MaskTexts(ctx, []string{"x@y.pl"})
		errA <- err
	}()
	srv.WaitCalls(t, plugintest.PathPII, 1)
	type res struct {
		out []string
		err error
	}
	resB := make(chan res, 1)
	go func() {
		out, _, err := m.MaskTexts(context.Background(), []string{"x@y.pl"})
		resB <- res{out, err}
	}()
	waitFor(t, func() bool { return m.waiting.Load() == 2 })
	cancel()
	if err := <-errA; !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled caller: %v", err)
	}
	srv.Release()
	if r := <-resB; r.err != nil || r.out[0] != "{PII_1}" {
		t.Errorf("other caller: %q, %v", r.out, r.err)
	}
	if c := srv.Calls(plugintest.PathPII); c != 1 {
		t.Errorf("%d calls, want 1", c)
	}
}

func TestFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*plugintest.Server)
		kind  string
	}{
		{"status 500", func(s *plugintest.Server) { s.SetFault(plugintest.Status500) }, "status 500"},
		{"garbage", func(s *plugintest.Server) { s.SetFault(plugintest.Garbage) }, "invalid answer"},
		{"no anonymized.text", func(s *plugintest.Server) { s.SetFault(plugintest.WrongShape) }, "invalid answer"},
		{"down", func(s *plugintest.Server) { s.SetFault(plugintest.Down) }, "unreachable"},
		{"slow", func(s *plugintest.Server) { s.SetDelay(time.Hour) }, "timeout"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := plugintest.NewServer(t)
			m := newMasker(t, srv, Config{Timeout: 50 * time.Millisecond})
			tt.setup(srv)
			out, mp, err := m.MaskTexts(context.Background(), []string{"a@b.pl", "c@d.pl"})
			if out != nil || mp != nil {
				t.Errorf("partial result %q %v returned with the error", out, mp)
			}
			if !errors.Is(err, plugins.ErrServiceUnavailable) || !strings.Contains(err.Error(), tt.kind) ||
				!strings.HasPrefix(err.Error(), "pii_masker: ") {
				t.Errorf("err = %v; want pii_masker service unavailable (%s)", err, tt.kind)
			}
			if strings.Contains(err.Error(), strings.TrimPrefix(srv.URL, "http://")) {
				t.Errorf("error %q leaks the host", err)
			}
			// A failure is not cached: the service is asked again once it is back.
			waitFor(t, func() bool { return m.inflight.Load() == 0 })
			srv.SetFault(plugintest.OK)
			srv.SetDelay(0)
			if _, _, err := m.MaskTexts(context.Background(), []string{"a@b.pl"}); err != nil {
				t.Errorf("after recovery: %v", err)
			}
		})
	}
}

func TestFailOpenThroughPipeline(t *testing.T) {
	for _, open := range []bool{false, true} {
		t.Run(fmt.Sprint("fail_open=", open), func(t *testing.T) {
			srv := plugintest.NewServer(t)
			srv.SetFault(plugintest.Down)
			m := newMasker(t, srv, Config{FailOpen: open})
			var skipped int
			p := plugins.Pipeline{Maskers: []plugins.Masker{m}, OnFailOpen: func(string, error) { skipped++ }}
			out, _, err := p.Mask(context.Background(), []string{"a@b.pl"})
			if open {
				if err != nil || out[0] != "a@b.pl" || skipped != 1 {
					t.Errorf("fail-open: %q, %v, %d skips; want the text unmasked and one skip", out, err, skipped)
				}
				return
			}
			if !errors.Is(err, plugins.ErrServiceUnavailable) || out != nil {
				t.Errorf("fail-closed: %q, %v", out, err)
			}
		})
	}
}

func TestNewRejectsBadHost(t *testing.T) {
	for _, h := range []string{"", "pii:8000", "ftp://pii"} {
		if _, err := New(Config{Host: h}); err == nil {
			t.Errorf("New(host %q) accepted", h)
		}
	}
}

// waitFor polls cond until it holds; it fails the test after 30 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkMaskTextsCached(b *testing.B) {
	srv := plugintest.NewServer(b)
	m := newMasker(b, srv, Config{})
	texts := make([]string, 10)
	for i := range texts {
		texts[i] = fmt.Sprintf("Message %d from jan.kowalski@example.com: %s", i, strings.Repeat("lorem ipsum ", 40))
	}
	ctx := context.Background()
	if _, _, err := m.MaskTexts(ctx, texts); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.MaskTexts(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMaskTextsMiss(b *testing.B) {
	srv := plugintest.NewServer(b)
	m := newMasker(b, srv, Config{CacheSize: -1})
	texts := []string{"Hello, I am Jan, write to jan.kowalski@example.com please."}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := m.MaskTexts(ctx, texts); err != nil {
			b.Fatal(err)
		}
	}
}
