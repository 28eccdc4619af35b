package sojkaguard

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

const path = "/api/guardrails/" + Name

func TestCheck(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.SetUnsafe("zabij")
	g, err := New(Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	tests := []struct {
		texts []string
		safe  bool
	}{
		{[]string{"Jaka jest stolica Polski?"}, true},
		{[]string{"Cześć", "Jak go ZABIJĘ?"}, false},
	}
	for _, tt := range tests {
		d, err := g.Check(context.Background(), tt.texts)
		if err != nil || d.Safe != tt.safe {
			t.Errorf("Check(%q) = %+v, %v; want safe=%v", tt.texts, d, err, tt.safe)
		}
		if !tt.safe && (d.Guardrail != Name || d.Reason != plugins.BlockReason) {
			t.Errorf("unsafe decision %+v does not name %s", d, Name)
		}
	}
	if srv.Calls(path) != len(tests) {
		t.Errorf("%d calls to %s, want %d", srv.Calls(path), path, len(tests))
	}
}

func TestFailClosedAndFailOpen(t *testing.T) {
	tests := []struct {
		name     string
		open     bool
		fault    plugintest.Fault
		delay    time.Duration
		wantSafe bool
	}{
		{"500, closed", false, plugintest.Status500, 0, false},
		{"garbage, closed", false, plugintest.Garbage, 0, false},
		{"timeout, closed", false, plugintest.OK, time.Hour, false},
		{"down, open", true, plugintest.Down, 0, true},
		{"timeout, open", true, plugintest.OK, time.Hour, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := plugintest.NewServer(t)
			srv.SetUnsafe("hello") // a fail-open pass must not come from the service
			srv.SetFault(tt.fault)
			srv.SetDelay(tt.delay)
			g, err := New(Config{Host: srv.URL, Timeout: 50 * time.Millisecond, FailOpen: tt.open})
			if err != nil {
				t.Fatal(err)
			}
			defer g.Close()
			p := plugins.Pipeline{RequestGuardrails: []plugins.Guardrail{g}}
			d, err := p.CheckRequest(context.Background(), []string{"hello"})
			if tt.wantSafe {
				if err != nil || !d.Safe {
					t.Errorf("got %+v, %v; want a fail-open pass", d, err)
				}
				return
			}
			if !errors.Is(err, plugins.ErrServiceUnavailable) || d.Safe {
				t.Errorf("got %+v, %v; want ErrServiceUnavailable", d, err)
			}
		})
	}
}

func TestUnmarshalCaddyfile(t *testing.T) {
	tests := []struct {
		in   string
		want Module
		err  string
	}{
		{in: Name, want: Module{}},
		{in: Name + " http://g:5000", want: Module{Host: "http://g:5000"}},
		{in: Name + " {\nhost {env.G}\ntimeout 1500ms\nfail_open\n}",
			want: Module{Host: "{env.G}", Timeout: caddy.Duration(1500 * time.Millisecond), AllowFailOpen: true}},
		{in: Name + " a b", err: "wrong argument count"},
		{in: Name + " {\ntimeout\n}", err: "wrong argument count"},
		{in: Name + " {\ntimeout 0s\n}", err: "invalid duration"},
		{in: Name + " {\nfail_open now\n}", err: "wrong argument count"},
		{in: Name + " {\ncache_size 5\n}", err: `unknown ` + Name + ` option "cache_size"`},
	}
	for _, tt := range tests {
		var m Module
		err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(m, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, m, err, tt.want)
		}
	}
}

func TestModule(t *testing.T) {
	srv := plugintest.NewServer(t)
	srv.SetUnsafe("bomb")
	t.Setenv(HostEnv, srv.URL)
	info := Module{}.CaddyModule()
	if info.ID != "llm_router.guardrails."+Name {
		t.Errorf("module ID %q", info.ID)
	}
	mod := info.New().(*Module)
	if err := json.Unmarshal([]byte(`{"timeout":"5s"}`), mod); err != nil {
		t.Fatal(err)
	}
	if err := mod.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	defer mod.Cleanup()
	if err := mod.Validate(); err != nil {
		t.Fatal(err)
	}
	if mod.FailOpen() || mod.ServiceName() != Name || mod.PingURL() != srv.URL+"/api/ping" {
		t.Errorf("service: %v %q %q", mod.FailOpen(), mod.ServiceName(), mod.PingURL())
	}
	if d, err := mod.Check(context.Background(), []string{"a bomb"}); err != nil || d.Safe {
		t.Errorf("Check = %+v, %v; want unsafe", d, err)
	}

	t.Setenv(HostEnv, "")
	err := (&Module{}).Provision(caddy.Context{})
	if err == nil || !strings.Contains(err.Error(), HostEnv) {
		t.Errorf("no host: err = %v; want a hint naming %s", err, HostEnv)
	}
}
