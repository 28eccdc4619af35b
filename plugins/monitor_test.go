package plugins_test

import (
	"context"
	"reflect"
	"sync"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

type target struct{ name, host string }

func (s target) ServiceName() string { return s.name }
func (s target) PingURL() string     { return s.host + "/api/ping" }
func (s target) FailOpen() bool      { return false }

func TestMonitorTracksState(t *testing.T) {
	a, b := plugintest.NewServer(t), plugintest.NewServer(t)
	var mu sync.Mutex
	var changes []string
	m := plugins.NewServicesMonitor(plugins.MonitorConfig{
		Fails: 2,
		OnChange: func(s string, up bool) {
			mu.Lock()
			defer mu.Unlock()
			changes = append(changes, s+map[bool]string{true: " up", false: " down"}[up])
		},
	}, target{"nask_guard", a.URL}, target{"pii_masker", b.URL}, target{"nask_guard", "http://ignored"})
	ctx := context.Background()

	steps := []struct {
		name  string
		fault plugintest.Fault
		want  map[string]bool
	}{
		{"both answer pong", plugintest.OK, map[string]bool{"nask_guard": true, "pii_masker": true}},
		{"b drops: one failure is tolerated", plugintest.Down, map[string]bool{"nask_guard": true, "pii_masker": true}},
		{"b drops twice: down", plugintest.Down, map[string]bool{"nask_guard": true, "pii_masker": false}},
		{"b back: up after one good ping", plugintest.OK, map[string]bool{"nask_guard": true, "pii_masker": true}},
	}
	for _, st := range steps {
		b.SetFault(st.fault)
		m.CheckNow(ctx)
		if got := m.States(); !reflect.DeepEqual(got, st.want) {
			t.Errorf("%s: states %v, want %v", st.name, got, st.want)
		}
		if m.Up("pii_masker") != st.want["pii_masker"] {
			t.Errorf("%s: Up disagrees with States", st.name)
		}
	}
	if want := []string{"pii_masker down", "pii_masker up"}; !reflect.DeepEqual(changes, want) {
		t.Errorf("OnChange calls %q, want %q", changes, want)
	}
	if !m.Up("never_configured") {
		t.Error("unknown service reported down")
	}
	if n := a.Calls(plugintest.PathPing); n != len(steps) {
		t.Errorf("duplicate service pinged: %d pings of a, want %d", n, len(steps))
	}
}

func TestMonitorHealthyNeedsPong(t *testing.T) {
	for _, f := range []plugintest.Fault{plugintest.OK, plugintest.Down} {
		srv := plugintest.NewServer(t)
		srv.SetFault(f)
		m := plugins.NewServicesMonitor(plugins.MonitorConfig{}, target{"x", srv.URL})
		m.CheckNow(context.Background())
		if m.Up("x") != (f == plugintest.OK) {
			t.Errorf("fault %v: Up = %v", f, m.Up("x"))
		}
	}
	// A server without /api/ping (404) is down.
	srv := plugintest.NewServer(t)
	m := plugins.NewServicesMonitor(plugins.MonitorConfig{}, target{"x", srv.URL + "/nope"})
	m.CheckNow(context.Background())
	if m.Up("x") {
		t.Error("404 on ping counted as up")
	}
}

func TestMonitorMetrics(t *testing.T) {
	up, gone := plugintest.NewServer(t), plugintest.NewServer(t)
	gone.SetFault(plugintest.Down)
	m := plugins.NewServicesMonitor(plugins.MonitorConfig{}, target{"nask_guard", up.URL}, target{"sojka_guard", gone.URL})
	m.CheckNow(context.Background())
	reg := prometheus.NewPedanticRegistry()
	if err := reg.Register(m); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		if mf.GetName() != "llm_router_plugin_service_up" || mf.GetType().String() != "GAUGE" {
			t.Errorf("unexpected family %s (%s)", mf.GetName(), mf.GetType())
			continue
		}
		for _, mt := range mf.GetMetric() {
			got[mt.GetLabel()[0].GetName()+"="+mt.GetLabel()[0].GetValue()] = mt.GetGauge().GetValue()
		}
	}
	if want := map[string]float64{"service=nask_guard": 1, "service=sojka_guard": 0}; !reflect.DeepEqual(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

func TestMonitorRunStopsWithContext(t *testing.T) {
	srv := plugintest.NewServer(t)
	m := plugins.NewServicesMonitor(plugins.MonitorConfig{}, target{"x", srv.URL})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		m.Run(ctx)
		close(done)
	}()
	srv.WaitCalls(t, plugintest.PathPing, 1) // first round runs at once
	cancel()
	<-done
}
