package caddymodule

import (
	"encoding/json"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
)

type sharedBalancer struct{ *balance.Balancer }

func (s sharedBalancer) Destruct() error { return s.Close() }

// provisionBalancer sets up the balancer (shared across reloads), the
// candidates of every model and the provider monitors.
func (a *App) provisionBalancer(ctx caddy.Context) error {
	kind, err := a.defaultStrategy()
	if err != nil {
		return err
	}
	if err := a.loadModelStrategies(ctx); err != nil {
		return err
	}
	if a.Redis == nil {
		if a.Redis, err = redisFromEnv(a.vars.Redis); err != nil {
			return err
		}
	}
	if err := a.defaultMonitorInterval(); err != nil {
		return err
	}
	if err := a.openBalancer(kind); err != nil {
		return err
	}
	a.setupMonitors(a.collectCandidates())
	return nil
}

// defaultStrategy settles the strategy of models without their own: the
// strategy option, else LLM_ROUTER_BALANCE_STRATEGY, else balanced.
func (a *App) defaultStrategy() (balance.Kind, error) {
	if a.Strategy == "" {
		a.Strategy = a.vars.BalanceStrategy
	}
	if a.Strategy == "" {
		a.Strategy = "balanced"
	}
	kind, err := balance.ParseKind(a.Strategy)
	if err != nil {
		return kind, fmt.Errorf("strategy: %w", err)
	}
	return kind, nil
}

// loadModelStrategies loads the strategy module of every model that names
// its own ({"policy": <strategy>, ...}).
func (a *App) loadModelStrategies(ctx caddy.Context) error {
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
	return nil
}

// defaultMonitorInterval settles the provider probe period: the option,
// else LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS, else 5 s.
func (a *App) defaultMonitorInterval() error {
	if a.MonitorInterval > 0 {
		return nil
	}
	a.MonitorInterval = caddy.Duration(5 * time.Second)
	if v := a.vars.ProviderMonitorInterval; v.Set {
		if v.Err != nil {
			return v.Err
		}
		a.MonitorInterval = caddy.Duration(v.Value)
	}
	return nil
}

// openBalancer takes the balancer from the reload-surviving pool, keyed by
// what configures it (and the Redis it keeps its state in, if any).
func (a *App) openBalancer(kind balance.Kind) error {
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
	return nil
}

// collectCandidates fills the balancing candidates of every model and
// returns the same providers as monitor targets.
func (a *App) collectCandidates() []monitor.Target {
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
	return targets
}

// setupMonitors builds the provider health monitor and the keep-alive
// monitor over targets; Start runs them.
func (a *App) setupMonitors(targets []monitor.Target) {
	hc := &http.Client{Transport: &http.Transport{Proxy: http.ProxyFromEnvironment, MaxIdleConnsPerHost: 2,
		ResponseHeaderTimeout: 5 * time.Second, IdleConnTimeout: time.Minute}}
	a.provMon = &monitor.ProviderMonitor{Client: hc, Health: a.balancer, Interval: time.Duration(a.MonitorInterval), Logger: a.logger.Named("monitor")}
	a.provMon.SetTargets(targets)
	a.keepAlive = &monitor.KeepAliveMonitor{Client: hc, Balancer: a.balancer, Logger: a.logger.Named("keepalive")}
	a.keepAlive.SetTargets(targets)
}
