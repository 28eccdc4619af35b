package caddymodule

import (
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/plugins"
)

// buildPipeline loads the plugins named by the original's LLM_ROUTER_*
// pipeline variables as Caddy modules.
func (a *App) buildPipeline(ctx caddy.Context) error {
	env, err := a.vars.Plugins, a.vars.PluginsErr
	if err != nil {
		return fmt.Errorf("plugin pipelines: %w", err)
	}
	a.env = env
	p := &plugins.Pipeline{ForceMasking: env.ForceMasking || a.ForceMasking,
		OnFailOpen: func(svc string, err error) {
			a.logger.Warn("plugin service unavailable; fail-open plugin skipped", zap.String("service", svc), zap.Error(err))
		}}
	var svcs []plugins.Service
	if err := a.loadCaddyfilePlugins(ctx, p, &svcs); err != nil {
		return err
	}
	if err := a.loadEnvPlugins(ctx, env, p, &svcs); err != nil {
		return err
	}
	if err := a.startServicesMonitor(ctx, env, p, svcs); err != nil {
		return err
	}
	a.pipeline = p
	return nil
}

// loadEnvPlugins loads the pipelines the LLM_ROUTER_* variables name into
// p, each stage only when the Caddyfile configured none for it.
func (a *App) loadEnvPlugins(ctx caddy.Context, env plugins.Env, p *plugins.Pipeline, svcs *[]plugins.Service) error {
	if a.UtilsRaw != nil {
		env.UtilsPipeline = nil
	}
	if a.MaskersRaw != nil {
		env.MaskingPipeline = nil
	}
	if a.RequestGuardrailsRaw != nil {
		env.ForceGuardrailRequest = false
	}
	if a.ResponseGuardrailsRaw != nil {
		env.ForceGuardrailResponse = false
	}
	var err error
	if p.Utils, err = loadPlugins[plugins.Util](ctx, "llm_router.utils", "a utils plugin", env.UtilsPipeline, p.Utils, svcs); err != nil {
		return err
	}
	if p.Maskers, err = loadPlugins[plugins.Masker](ctx, "llm_router.maskers", "a masker", env.MaskingPipeline, p.Maskers, svcs); err != nil {
		return err
	}
	if env.ForceGuardrailRequest {
		if p.RequestGuardrails, err = loadPlugins[plugins.Guardrail](ctx, "llm_router.guardrails", "a guardrail", env.GuardrailPipelineRequest, nil, svcs); err != nil {
			return err
		}
	}
	if env.ForceGuardrailResponse {
		if p.ResponseGuardrails, err = loadPlugins[plugins.Guardrail](ctx, "llm_router.guardrails", "a guardrail", env.GuardrailPipelineResponse, nil, svcs); err != nil {
			return err
		}
	}
	return nil
}

// loadPlugins loads the modules named in namespace ns, appends them to out
// (each must be a T, kind names T in the error when it is not) and those
// that are services to svcs.
func loadPlugins[T any](ctx caddy.Context, ns, kind string, names []string, out []T, svcs *[]plugins.Service) ([]T, error) {
	for _, n := range names {
		mod, err := ctx.LoadModuleByID(ns+"."+n, nil)
		if err != nil {
			return nil, fmt.Errorf("plugin %q: %w", n, err)
		}
		if s, ok := mod.(plugins.Service); ok {
			*svcs = append(*svcs, s)
		}
		t, ok := mod.(T)
		if !ok {
			return nil, fmt.Errorf("plugin %q is not %s", n, kind)
		}
		out = append(out, t)
	}
	return out, nil
}

// startServicesMonitor watches the plugins' backing services when there are
// any and the monitor interval is positive, and reports their health to p
// and to the metrics registry.
func (a *App) startServicesMonitor(ctx caddy.Context, env plugins.Env, p *plugins.Pipeline, svcs []plugins.Service) error {
	if len(svcs) == 0 || env.MonitorInterval <= 0 {
		return nil
	}
	a.monitor = plugins.NewServicesMonitor(plugins.MonitorConfig{Interval: env.MonitorInterval}, svcs...)
	p.Health = a.monitor
	if reg := ctx.GetMetricsRegistry(); reg != nil {
		var are prometheus.AlreadyRegisteredError
		if err := reg.Register(a.monitor); err != nil && !errors.As(err, &are) {
			return fmt.Errorf("services monitor metrics: %w", err)
		}
	}
	return nil
}

// loadCaddyfilePlugins loads the pipelines configured in the Caddyfile.
func (a *App) loadCaddyfilePlugins(ctx caddy.Context, p *plugins.Pipeline, svcs *[]plugins.Service) error {
	load := func(field string) ([]any, error) {
		mods, err := ctx.LoadModule(a, field)
		if err != nil {
			return nil, fmt.Errorf("loading %s: %w", field, err)
		}
		list, _ := mods.([]any)
		for _, m := range list {
			if s, ok := m.(plugins.Service); ok {
				*svcs = append(*svcs, s)
			}
		}
		return list, nil
	}
	if a.UtilsRaw != nil {
		mods, err := load("UtilsRaw")
		if err != nil {
			return err
		}
		for _, m := range mods {
			u, ok := m.(plugins.Util)
			if !ok {
				return fmt.Errorf("%T is not a utils plugin", m)
			}
			p.Utils = append(p.Utils, u)
		}
	}
	if a.MaskersRaw != nil {
		mods, err := load("MaskersRaw")
		if err != nil {
			return err
		}
		for _, m := range mods {
			mk, ok := m.(plugins.Masker)
			if !ok {
				return fmt.Errorf("%T is not a masker", m)
			}
			p.Maskers = append(p.Maskers, mk)
		}
	}
	for _, g := range []struct {
		field string
		dst   *[]plugins.Guardrail
	}{{"RequestGuardrailsRaw", &p.RequestGuardrails}, {"ResponseGuardrailsRaw", &p.ResponseGuardrails}} {
		if (g.field == "RequestGuardrailsRaw" && a.RequestGuardrailsRaw == nil) || (g.field == "ResponseGuardrailsRaw" && a.ResponseGuardrailsRaw == nil) {
			continue
		}
		mods, err := load(g.field)
		if err != nil {
			return err
		}
		for _, m := range mods {
			gr, ok := m.(plugins.Guardrail)
			if !ok {
				return fmt.Errorf("%T is not a guardrail", m)
			}
			*g.dst = append(*g.dst, gr)
		}
	}
	return nil
}

// useEmbedder hands e to every plugin of p that needs an embedder
// (plugins.EmbedderUser), once the pipeline is loaded and before the
// first request.
func useEmbedder(p *plugins.Pipeline, e plugins.Embedder) {
	if p == nil {
		return
	}
	var all []any
	for _, u := range p.Utils {
		all = append(all, u)
	}
	for _, m := range p.Maskers {
		all = append(all, m)
	}
	for _, g := range p.RequestGuardrails {
		all = append(all, g)
	}
	for _, g := range p.ResponseGuardrails {
		all = append(all, g)
	}
	for _, pl := range all {
		if u, ok := pl.(plugins.EmbedderUser); ok {
			u.UseEmbedder(e)
		}
	}
}
