package plugins_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

func newGuard(t *testing.T, srv *plugintest.Server, timeout time.Duration) *plugins.HTTPGuardrail {
	t.Helper()
	g, err := plugins.NewHTTPGuardrail(plugins.ServiceConfig{Name: "nask_guard", Host: srv.URL + "/", Timeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.Close)
	return g
}

func TestHTTPGuardrailDecisions(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.SetUnsafe("bomb")
	g := newGuard(t, srv, 0)
	ctx := context.Background()

	d, err := g.Check(ctx, []string{"Dzień dobry", "what is 2+2?"})
	if err != nil || !d.Safe {
		t.Fatalf("safe texts: %+v, %v", d, err)
	}
	var body struct{ Texts []string }
	if err := json.Unmarshal(srv.LastBody(plugintest.PathNask), &body); err != nil ||
		strings.Join(body.Texts, "|") != "Dzień dobry|what is 2+2?" {
		t.Errorf("service got %s; want {\"texts\": [...]} with the texts", srv.LastBody(plugintest.PathNask))
	}

	d, err = g.Check(ctx, []string{"hi", "how to build a BOMB"})
	if err != nil {
		t.Fatal(err)
	}
	if d.Safe || d.Guardrail != "nask_guard" || d.Reason != plugins.BlockReason {
		t.Errorf("unsafe text: %+v", d)
	}
	var chunks []struct {
		ChunkText string `json:"chunk_text"`
		Safe      bool   `json:"safe"`
	}
	if err := json.Unmarshal(d.Details, &chunks); err != nil || len(chunks) != 2 || chunks[1].Safe {
		t.Errorf("details %s: want the per-chunk results, second unsafe", d.Details)
	}
}

func TestHTTPGuardrailSkipsEmptyInput(t *testing.T) {
	srv := plugintest.NewServer(t)
	g := newGuard(t, srv, 0)
	for _, texts := range [][]string{nil, {""}, {"", ""}} {
		d, err := g.Check(context.Background(), texts)
		if err != nil || !d.Safe {
			t.Errorf("Check(%q) = %+v, %v; want safe", texts, d, err)
		}
	}
	if n := srv.Calls(plugintest.PathNask); n != 0 {
		t.Errorf("%d calls for empty input, want 0", n)
	}
}

func TestHTTPGuardrailFailsClosed(t *testing.T) {
	tests := []struct {
		name  string
		setup func(*plugintest.Server)
		kind  string
	}{
		{"status 500", func(s *plugintest.Server) { s.SetFault(plugintest.Status500) }, "status 500"},
		{"garbage", func(s *plugintest.Server) { s.SetFault(plugintest.Garbage) }, "invalid answer"},
		{"no results.safe", func(s *plugintest.Server) { s.SetFault(plugintest.WrongShape) }, "invalid answer"},
		{"connection dropped", func(s *plugintest.Server) { s.SetFault(plugintest.Down) }, "unreachable"},
		{"slow", func(s *plugintest.Server) { s.SetDelay(time.Hour) }, "timeout after 50ms"},
		{"closed server", func(s *plugintest.Server) { s.Close() }, "unreachable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := plugintest.NewServer(t)
			g := newGuard(t, srv, 50*time.Millisecond)
			tt.setup(srv)
			d, err := g.Check(context.Background(), []string{"hello"})
			if d.Safe {
				t.Error("decision is safe")
			}
			if !errors.Is(err, plugins.ErrServiceUnavailable) {
				t.Fatalf("err = %v; want ErrServiceUnavailable", err)
			}
			msg := err.Error()
			if !strings.Contains(msg, "nask_guard") || !strings.Contains(msg, tt.kind) {
				t.Errorf("message %q does not name the guardrail and %q", msg, tt.kind)
			}
			u, _ := url.Parse(srv.URL)
			if strings.Contains(msg, u.Host) || strings.Contains(msg, "/api/") {
				t.Errorf("message %q leaks the service address", msg)
			}
		})
	}
}

func TestHTTPServiceCallerCancelIsNotUnavailability(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.Hold()
	g := newGuard(t, srv, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		_, err := g.Check(ctx, []string{"hi"})
		errc <- err
	}()
	srv.WaitCalls(t, plugintest.PathNask, 1)
	cancel()
	err := <-errc
	if !errors.Is(err, context.Canceled) || errors.Is(err, plugins.ErrServiceUnavailable) {
		t.Errorf("err = %v; want context.Canceled, not ErrServiceUnavailable", err)
	}
}

func TestHTTPServiceCloseAbortsCalls(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.Hold()
	g := newGuard(t, srv, time.Hour)
	errc := make(chan error, 1)
	go func() {
		_, err := g.Check(context.Background(), []string{"hi"})
		errc <- err
	}()
	srv.WaitCalls(t, plugintest.PathNask, 1)
	g.Close()
	err := <-errc
	if !errors.Is(err, plugins.ErrServiceUnavailable) || !strings.Contains(err.Error(), "plugin stopped") {
		t.Errorf("err = %v; want a service error saying the plugin stopped", err)
	}
}

func TestNewHTTPServiceValidates(t *testing.T) {
	tests := []struct {
		cfg  plugins.ServiceConfig
		want string
	}{
		{plugins.ServiceConfig{Host: "http://x"}, "empty name"},
		{plugins.ServiceConfig{Name: "nask_guard"}, "nask_guard: no service host"},
		{plugins.ServiceConfig{Name: "nask_guard", Host: "localhost:5000"}, "not an http(s) URL"},
		{plugins.ServiceConfig{Name: "nask_guard", Host: "http://x", Timeout: -time.Second}, "negative timeout"},
	}
	for _, tt := range tests {
		_, err := plugins.NewHTTPService(tt.cfg)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("NewHTTPService(%+v) = %v; want error with %q", tt.cfg, err, tt.want)
		}
	}
	s, err := plugins.NewHTTPService(plugins.ServiceConfig{Name: "sojka_guard", Host: "http://h:5000/"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.PingURL() != "http://h:5000/api/ping" || s.Timeout() != plugins.DefaultServiceTimeout || s.FailOpen() {
		t.Errorf("ping %q timeout %v failOpen %v", s.PingURL(), s.Timeout(), s.FailOpen())
	}
}

func BenchmarkHTTPGuardrailCheck(b *testing.B) {
	srv := plugintest.NewServer(b)
	g, err := plugins.NewHTTPGuardrail(plugins.ServiceConfig{Name: "nask_guard", Host: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	defer g.Close()
	texts := []string{strings.Repeat("Ala ma kota. ", 40), "What is the capital of Poland?"}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := g.Check(context.Background(), texts); err != nil {
			b.Fatal(err)
		}
	}
}
