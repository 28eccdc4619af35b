package caddymodule

import (
	"time"
)

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
			a.metrics.ProviderUp.WithLabelValues(p.ID).Set(v)
		}
	}
	st := a.balancer.Stats()
	if st.Redis {
		v := 0.0
		if st.RedisUp {
			v = 1
		}
		a.metrics.RedisUp.Set(v)
	}
}
