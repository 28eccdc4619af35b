package plugins

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// DefaultPingTimeout bounds one health ping, as in the original router.
const DefaultPingTimeout = 2 * time.Second

// MonitorConfig configures a ServicesMonitor.
type MonitorConfig struct {
	// Interval between rounds of pings; ≤ 0 means DefaultMonitorInterval.
	Interval time.Duration
	// Timeout of one ping; 0 means DefaultPingTimeout.
	Timeout time.Duration
	// Fails is how many consecutive failed pings mark a service down; 0 means 1.
	// One good ping marks it up again.
	Fails int
	// Client overrides the HTTP client (tests).
	Client *http.Client
	// OnChange, when set, is called after a service changes state (for logs).
	OnChange func(service string, up bool)
}

// ServicesMonitor pings the HTTP plugin services (GET <host>/api/ping,
// healthy iff 200 and {"response":"pong"}) and remembers who is up. It is a
// Health for the Pipeline and a prometheus.Collector exporting
// llm_router_plugin_service_up{service}. A service never checked is up.
type ServicesMonitor struct {
	cfg      MonitorConfig
	client   *http.Client
	services []Service
	desc     *prometheus.Desc

	mu    sync.RWMutex
	state map[string]*svcState
}

type svcState struct {
	up    bool
	fails int
}

// NewServicesMonitor returns a monitor of services (deduplicated by
// ServiceName; the first wins).
func NewServicesMonitor(cfg MonitorConfig, services ...Service) *ServicesMonitor {
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultMonitorInterval
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = DefaultPingTimeout
	}
	if cfg.Fails <= 0 {
		cfg.Fails = 1
	}
	m := &ServicesMonitor{
		cfg:    cfg,
		client: cfg.Client,
		state:  map[string]*svcState{},
		desc: prometheus.NewDesc("llm_router_plugin_service_up",
			"Whether a plugin service (masker, guardrail) answers its health ping (1) or not (0).",
			[]string{"service"}, nil),
	}
	if m.client == nil {
		m.client = &http.Client{}
	}
	for _, s := range services {
		if _, dup := m.state[s.ServiceName()]; dup {
			continue
		}
		m.services = append(m.services, s)
		m.state[s.ServiceName()] = &svcState{up: true}
	}
	return m
}

// Run checks every service at once and then every interval until ctx ends.
func (m *ServicesMonitor) Run(ctx context.Context) {
	if len(m.services) == 0 {
		return
	}
	t := time.NewTicker(m.cfg.Interval)
	defer t.Stop()
	for {
		m.CheckNow(ctx)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// CheckNow pings every service once, concurrently, and records the results.
func (m *ServicesMonitor) CheckNow(ctx context.Context) {
	var wg sync.WaitGroup
	for _, s := range m.services {
		wg.Go(func() {
			ok := m.ping(ctx, s.PingURL())
			if ctx.Err() != nil {
				return // shutting down: a cancelled ping says nothing
			}
			m.record(s.ServiceName(), ok)
		})
	}
	wg.Wait()
}

func (m *ServicesMonitor) ping(ctx context.Context, url string) bool {
	ctx, cancel := context.WithTimeout(ctx, m.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return false
	}
	resp, err := m.client.Do(req)
	if err != nil {
		return false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return false
	}
	var body struct {
		Response string `json:"response"`
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	return err == nil && json.Unmarshal(data, &body) == nil && body.Response == "pong"
}

func (m *ServicesMonitor) record(name string, ok bool) {
	m.mu.Lock()
	st := m.state[name]
	was := st.up
	if ok {
		st.fails = 0
		st.up = true
	} else {
		st.fails++
		if st.fails >= m.cfg.Fails {
			st.up = false
		}
	}
	now := st.up
	m.mu.Unlock()
	if was != now && m.cfg.OnChange != nil {
		m.cfg.OnChange(name, now)
	}
}

// Up implements Health: false only for a monitored service whose last
// pings failed.
func (m *ServicesMonitor) Up(name string) bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	st, ok := m.state[name]
	return !ok || st.up
}

// States returns service name → up.
func (m *ServicesMonitor) States() map[string]bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	out := make(map[string]bool, len(m.state))
	for k, st := range m.state {
		out[k] = st.up
	}
	return out
}

// Describe implements prometheus.Collector.
func (m *ServicesMonitor) Describe(ch chan<- *prometheus.Desc) { ch <- m.desc }

// Collect implements prometheus.Collector.
func (m *ServicesMonitor) Collect(ch chan<- prometheus.Metric) {
	for name, up := range m.States() {
		v := 0.0
		if up {
			v = 1
		}
		ch <- prometheus.MustNewConstMetric(m.desc, prometheus.GaugeValue, v, name)
	}
}

var (
	_ Health               = (*ServicesMonitor)(nil)
	_ prometheus.Collector = (*ServicesMonitor)(nil)
)
