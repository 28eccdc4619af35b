package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

// RedisOptions locate the Redis shared by several router instances: one
// server (Host), a primary managed by Redis Sentinel (Sentinels and
// MasterName) or a Redis Cluster (Cluster).
type RedisOptions struct {
	Host string `json:"host,omitempty"`
	Port int    `json:"port,omitempty"`
	// Password may be a placeholder ({env.NAME}, {file./path}); it is
	// resolved at provisioning so the autosaved config never holds it.
	Password string `json:"password,omitempty"`
	DB       int    `json:"db,omitempty"`
	TLS      bool   `json:"tls,omitempty"`
	// Sentinels are host:port addresses of the Sentinels that watch the
	// primary called MasterName (LLM_ROUTER_REDIS_SENTINELS,
	// LLM_ROUTER_REDIS_MASTER_NAME).
	Sentinels  []string `json:"sentinels,omitempty"`
	MasterName string   `json:"master_name,omitempty"`
	// Cluster lists host:port seed nodes of a Redis Cluster
	// (LLM_ROUTER_REDIS_CLUSTER).
	Cluster []string `json:"cluster,omitempty"`
}

// redisFromEnv reads LLM_ROUTER_REDIS_HOST (or _SENTINELS with
// _MASTER_NAME, or _CLUSTER), _PORT, _PASSWORD, _DB and _TLS.
func redisFromEnv() (*RedisOptions, error) {
	o := &RedisOptions{Host: os.Getenv("LLM_ROUTER_REDIS_HOST"), Port: 6379, Password: os.Getenv("LLM_ROUTER_REDIS_PASSWORD"),
		Sentinels: rdb.ParseAddrs(os.Getenv("LLM_ROUTER_REDIS_SENTINELS")), MasterName: strings.TrimSpace(os.Getenv("LLM_ROUTER_REDIS_MASTER_NAME")),
		Cluster: rdb.ParseAddrs(os.Getenv("LLM_ROUTER_REDIS_CLUSTER"))}
	if o.Host == "" && len(o.Sentinels) == 0 && len(o.Cluster) == 0 {
		if o.MasterName != "" {
			return nil, errors.New("LLM_ROUTER_REDIS_MASTER_NAME is set but LLM_ROUTER_REDIS_SENTINELS is empty")
		}
		return nil, nil
	}
	for name, dst := range map[string]*int{"LLM_ROUTER_REDIS_PORT": &o.Port, "LLM_ROUTER_REDIS_DB": &o.DB} {
		if v := strings.TrimSpace(os.Getenv(name)); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				return nil, fmt.Errorf("%s: %q is not a number", name, v)
			}
			*dst = n
		}
	}
	o.TLS = strings.EqualFold(os.Getenv("LLM_ROUTER_REDIS_TLS"), "true") || os.Getenv("LLM_ROUTER_REDIS_TLS") == "1"
	return o, nil
}

type sharedBalancer struct{ *balance.Balancer }

func (s sharedBalancer) Destruct() error { return s.Close() }

type sharedRedis struct{ redis.UniversalClient }

func (s sharedRedis) Destruct() error { return s.Close() }

// provisionBalancer sets up the balancer (shared across reloads), the
// candidates of every model and the provider monitors.
func (a *App) provisionBalancer(ctx caddy.Context) error {
	if a.Strategy == "" {
		a.Strategy = os.Getenv("LLM_ROUTER_BALANCE_STRATEGY")
	}
	if a.Strategy == "" {
		a.Strategy = "balanced"
	}
	kind, err := balance.ParseKind(a.Strategy)
	if err != nil {
		return fmt.Errorf("strategy: %w", err)
	}
	a.strategies = map[string]balance.Strategy{}
	for model, raw := range a.ModelStrategies {
		if _, ok := a.cfg.Model(model); !ok {
			return fmt.Errorf("strategy of model %q: no such active model", model)
		}
		var fields map[string]json.RawMessage
		var policy string
		if err := json.Unmarshal(raw, &fields); err != nil || json.Unmarshal(fields["policy"], &policy) != nil || policy == "" {
			return fmt.Errorf("strategy of model %q: want {\"policy\": <strategy>, ...}", model)
		}
		delete(fields, "policy") // the inline key is not part of the module's own config
		cfg, err := json.Marshal(fields)
		if err != nil {
			return err
		}
		mod, err := ctx.LoadModuleByID("llm_router.strategies."+policy, cfg)
		if err != nil {
			return fmt.Errorf("strategy of model %q: %w", model, err)
		}
		s, ok := mod.(balance.Strategy)
		if !ok {
			return fmt.Errorf("strategy of model %q: %s is not a strategy", model, policy)
		}
		a.strategies[model] = s
	}
	if a.Redis == nil {
		if a.Redis, err = redisFromEnv(); err != nil {
			return err
		}
	}
	if a.MonitorInterval <= 0 {
		a.MonitorInterval = caddy.Duration(5 * time.Second)
		if v := os.Getenv("LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS"); v != "" {
			n, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return fmt.Errorf("LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS: %q is not a number", v)
			}
			a.MonitorInterval = caddy.Duration(n * float64(time.Second))
		}
	}
	var rc *balance.RedisConfig
	key := fmt.Sprintf("balancer|%s|%d|%d|%d|%d", a.Strategy, a.QueueTimeout, a.Cooldown, a.CooldownFailures, a.CooldownWindow)
	if a.Redis != nil {
		c, id, err := a.openRedis()
		if err != nil {
			return err
		}
		rc = &balance.RedisConfig{Client: c}
		key += "|redis|" + id
	}
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		b, err := balance.New(balance.Options{Default: balance.Policy{Kind: kind}, QueueTimeout: time.Duration(a.QueueTimeout),
			Cooldown: time.Duration(a.Cooldown), CooldownAfter: a.CooldownFailures, CooldownWindow: time.Duration(a.CooldownWindow), Redis: rc, Logger: a.logger.Named("balance")})
		if err != nil {
			return nil, err
		}
		return sharedBalancer{b}, nil
	})
	if err != nil {
		return fmt.Errorf("balancer: %w", err)
	}
	a.poolKeys = append(a.poolKeys, key)
	a.balancer = v.(sharedBalancer).Balancer

	a.cands = map[string][]balance.Candidate{}
	var targets []monitor.Target
	for _, m := range a.cfg.Models() {
		for _, p := range m.Providers {
			a.cands[m.Name] = append(a.cands[m.Name], balance.Candidate{ID: p.ID, Host: p.APIHost, APIType: p.APIType, Weight: p.Weight, Ref: p})
			ka, _ := monitor.ParseKeepAlive(p.KeepAlive)
			targets = append(targets, monitor.Target{ID: p.ID, Model: m.Name, ModelPath: p.ModelPath, Host: p.APIHost,
				APIType: p.APIType, Token: a.tokens[p.ID], KeepAlive: ka})
		}
	}
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2,
		ResponseHeaderTimeout: 5 * time.Second, IdleConnTimeout: time.Minute}}
	a.provMon = &monitor.ProviderMonitor{Client: hc, Health: a.balancer, Interval: time.Duration(a.MonitorInterval), Logger: a.logger.Named("monitor")}
	a.provMon.SetTargets(targets)
	a.keepAlive = &monitor.KeepAliveMonitor{Client: hc, Balancer: a.balancer, Logger: a.logger.Named("keepalive")}
	a.keepAlive.SetTargets(targets)
	return nil
}

// openRedis returns the client of the configured Redis from the
// reload-surviving pool, and the Redis identity it is keyed by (password
// hashed): balancing, rate limits and the key store share this one client,
// and a reload that points elsewhere gets a new one while the old one is
// closed with the last config that used it.
func (a *App) openRedis() (redis.UniversalClient, string, error) {
	o := rdb.Options{Host: a.Redis.Host, Port: a.Redis.Port, DB: a.Redis.DB, TLS: a.Redis.TLS,
		Password:  caddy.NewReplacer().ReplaceAll(a.Redis.Password, ""),
		Sentinels: a.Redis.Sentinels, MasterName: a.Redis.MasterName, Cluster: a.Redis.Cluster}
	if o.Mode() != "server" {
		o.Host, o.Port = "", 0 // a host beside sentinels or a cluster is not used
	}
	if err := o.Validate(); err != nil {
		return nil, "", err
	}
	a.logger.Info("shared state in Redis", zap.String("redis", o.String()))
	id := o.Identity()
	key := "redis|" + id
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		c, err := o.New()
		if err != nil {
			return nil, err
		}
		return sharedRedis{c}, nil
	})
	if err != nil {
		return nil, "", err
	}
	a.poolKeys = append(a.poolKeys, key)
	a.redis = v.(sharedRedis).UniversalClient
	a.redisID = id
	return a.redis, id, nil
}

// runMonitors probes providers, pings idle keep-alive providers and
// publishes their state as metrics until the config is unloaded.
func (a *App) runMonitors() {
	go func() { _ = a.provMon.Run(a.ctx) }()
	go func() { _ = a.keepAlive.Run(a.ctx) }()
	go func() {
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			a.publishHealth()
			select {
			case <-a.ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
}

func (a *App) publishHealth() {
	down := map[string]bool{}
	for _, id := range a.provMon.Down() {
		down[id] = true
	}
	for _, m := range a.cfg.Models() {
		for _, p := range m.Providers {
			v := 1.0
			if down[p.ID] {
				v = 0
			}
			a.metrics.providerUp.WithLabelValues(p.ID).Set(v)
		}
	}
	st := a.balancer.Stats()
	if st.Redis {
		v := 0.0
		if st.RedisUp {
			v = 1
		}
		a.metrics.redisUp.Set(v)
	}
}

// lease is a provider held by one request until it is released.
type lease struct {
	l *balance.Lease
	a *App
}

func (l lease) provider() *config.Provider { return l.l.Provider().Ref.(*config.Provider) }

// release returns the provider with the call's outcome.
func (l lease) release(res balance.Result, d time.Duration) {
	if l.l.Release(balance.Outcome{Result: res, Latency: d}) {
		l.a.keepAlive.Touch(l.l.Provider().ID)
	}
}

// acquire chooses a provider of m that exclude does not rule out.
func (a *App) acquire(ctx context.Context, m *config.Model, exclude func(id string) bool) (lease, error) {
	s := a.strategies[m.Name]
	l, err := a.balancer.Acquire(ctx, m.Name, s, a.cands[m.Name], exclude)
	if err != nil {
		var qe *balance.QueueTimeoutError
		switch {
		case errors.As(err, &qe):
			return lease{}, &apiError{Status: http.StatusServiceUnavailable, RetryAfter: qe.RetryAfter,
				Msg: fmt.Sprintf("every provider of model '%s' stayed busy for %s; retry later", m.Name, qe.Waited.Round(time.Second))}
		case errors.Is(err, balance.ErrNoProvider):
			return lease{}, &apiError{Status: http.StatusServiceUnavailable, RetryAfter: 5 * time.Second,
				Msg: fmt.Sprintf("no provider of model '%s' is available (all are down or failing)", m.Name)}
		case provider.ClientGone(ctx):
			return lease{}, ctx.Err()
		case ctx.Err() != nil:
			return lease{}, &apiError{Status: http.StatusGatewayTimeout,
				Msg: fmt.Sprintf("no provider of model '%s' became free before the request timed out", m.Name)}
		}
		a.logger.Error("balancer failure", zap.String("model", m.Name), zap.Error(err))
		return lease{}, &apiError{Status: http.StatusServiceUnavailable, Msg: fmt.Sprintf("no provider of model '%s' could be chosen", m.Name)}
	}
	kindName := a.Strategy
	if s != nil {
		kindName = s.Policy().Kind.String()
	}
	a.metrics.selections.WithLabelValues(kindName, m.Name, l.Provider().ID).Inc()
	return lease{l: l, a: a}, nil
}
