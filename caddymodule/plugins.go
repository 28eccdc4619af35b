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
	var err error
	if a.UtilsRaw != nil {
		if p.Utils, err = loadRawPlugins[plugins.Util](ctx, a, "UtilsRaw", "a utils plugin", p.Utils, svcs); err != nil {
			return err
		}
	}
	if a.MaskersRaw != nil {
		if p.Maskers, err = loadRawPlugins[plugins.Masker](ctx, a, "MaskersRaw", "a masker", p.Maskers, svcs); err != nil {
			return err
		}
	}
	if a.RequestGuardrailsRaw != nil {
		if p.RequestGuardrails, err = loadRawPlugins[plugins.Guardrail](ctx, a, "RequestGuardrailsRaw", "a guardrail", p.RequestGuardrails, svcs); err != nil {
			return err
		}
	}
	if a.ResponseGuardrailsRaw != nil {
		if p.ResponseGuardrails, err = loadRawPlugins[plugins.Guardrail](ctx, a, "ResponseGuardrailsRaw", "a guardrail", p.ResponseGuardrails, svcs); err != nil {
			return err
		}
	}
	return nil
}

// loadRawPlugins loads the modules of the app's field (one of its *Raw
// module lists), appends them to out (each must be a T, kind names T in
// the error when it is not) and those that are services to svcs.
func loadRawPlugins[T any](ctx caddy.Context, a *App, field, kind string, out []T, svcs *[]plugins.Service) ([]T, error) {
	mods, err := ctx.LoadModule(a, field)
	if err != nil {
		return nil, fmt.Errorf("loading %s: %w", field, err)
	}
	list, _ := mods.([]any)
	for _, m := range list {
		if s, ok := m.(plugins.Service); ok {
			*svcs = append(*svcs, s)
		}
		t, ok := m.(T)
		if !ok {
			return nil, fmt.Errorf("%T is not %s", m, kind)
		}
		out = append(out, t)
	}
	return out, nil
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
