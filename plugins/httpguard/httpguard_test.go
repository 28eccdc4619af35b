package httpguard_test

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
	"github.com/llmrouter/llm-router/plugins/httpguard"
	naskguard "github.com/llmrouter/llm-router/plugins/nask_guard"
	"github.com/llmrouter/llm-router/plugins/plugintest"
	sojkaguard "github.com/llmrouter/llm-router/plugins/sojka_guard"
)

// guardrail is one of the guardrails built on httpguard.
type guardrail struct {
	name, hostEnv string
	info          caddy.ModuleInfo
}

var guardrails = []guardrail{
	{naskguard.Name, naskguard.HostEnv, registered(naskguard.Name)},
	{sojkaguard.Name, sojkaguard.HostEnv, registered(sojkaguard.Name)},
}

// registered is what Caddy's registry holds as llm_router.guardrails.<name>
// (zero when nothing is registered).
func registered(name string) caddy.ModuleInfo {
	info, _ := caddy.GetModule("llm_router.guardrails." + name)
	return info
}

// module is what every guardrail module provides.
type module interface {
	caddy.Module
	caddy.Provisioner
	caddy.Validator
	caddy.CleanerUpper
	caddyfile.Unmarshaler
	plugins.Guardrail
	plugins.Service
}

// forEach runs f for every guardrail.
func forEach(t *testing.T, f func(t *testing.T, g guardrail)) {
	for _, g := range guardrails {
		t.Run(g.name, func(t *testing.T) { f(t, g) })
	}
}

func TestCheck(t *testing.T) { forEach(t, testCheck) }

func testCheck(t *testing.T, gr guardrail) {
	Name, path := gr.name, "/api/guardrails/"+gr.name
	srv := plugintest.NewServer(t)
	srv.SetUnsafe("zabij")
	g, err := httpguard.New(httpguard.Config{Name: Name, Host: srv.URL})
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

func TestFailClosedAndFailOpen(t *testing.T) { forEach(t, testFailClosedAndFailOpen) }

func testFailClosedAndFailOpen(t *testing.T, gr guardrail) {
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
			g, err := httpguard.New(httpguard.Config{Name: gr.name, Host: srv.URL, Timeout: 50 * time.Millisecond, FailOpen: tt.open})
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

func TestUnmarshalCaddyfile(t *testing.T) { forEach(t, testUnmarshalCaddyfile) }

func testUnmarshalCaddyfile(t *testing.T, gr guardrail) {
	Name := gr.name
	type fields struct {
		Host          string
		Timeout       caddy.Duration
		AllowFailOpen bool
	}
	tests := []struct {
		in   string
		want fields
		err  string
	}{
		{in: Name, want: fields{}},
		{in: Name + " http://g:5000", want: fields{Host: "http://g:5000"}},
		{in: Name + " {\nhost {env.G}\ntimeout 1500ms\nfail_open\n}",
			want: fields{Host: "{env.G}", Timeout: caddy.Duration(1500 * time.Millisecond), AllowFailOpen: true}},
		{in: Name + " a b", err: "wrong argument count"},
		{in: Name + " {\ntimeout\n}", err: "wrong argument count"},
		{in: Name + " {\ntimeout 0s\n}", err: "invalid duration"},
		{in: Name + " {\nfail_open now\n}", err: "wrong argument count"},
		{in: Name + " {\ncache_size 5\n}", err: `unknown ` + Name + ` option "cache_size"`},
	}
	for _, tt := range tests {
		m := httpguard.NewModule(gr.name, gr.hostEnv)
		err := m.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("%q: err = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if got := (fields{m.Host, m.Timeout, m.AllowFailOpen}); err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%q: got %+v, %v; want %+v", tt.in, m, err, tt.want)
		}
	}
}

func TestModule(t *testing.T) { forEach(t, testModule) }

func testModule(t *testing.T, gr guardrail) {
	Name, HostEnv := gr.name, gr.hostEnv
	srv := plugintest.NewServer(t)
	srv.SetUnsafe("bomb")
	t.Setenv(HostEnv, srv.URL)
	info := gr.info
	if string(info.ID) != "llm_router.guardrails."+Name || info.New == nil {
		t.Fatalf("module ID %q", info.ID)
	}
	mod := info.New().(module)
	if id := caddy.GetModuleID(mod); id != string(info.ID) {
		t.Errorf("a new module says it is %q", id)
	}
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
	err := info.New().(module).Provision(caddy.Context{})
	if err == nil || !strings.Contains(err.Error(), HostEnv) {
		t.Errorf("no host: err = %v; want a hint naming %s", err, HostEnv)
	}
}
