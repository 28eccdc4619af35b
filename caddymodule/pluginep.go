package caddymodule

import (
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/plugins"
)

// endpointPlugins lists the modules every router loads for the endpoints
// they serve (plugins.EndpointProvider), by ID, so that the router knows
// them only through the registry and the interface: fast_masker, with
// every rule on, serves the original's fast_text_mask whatever the masking
// pipeline. A module missing from the build serves nothing.
func endpointPlugins() []string {
	return []string{"llm_router.maskers.fast_masker"}
}

// provisionPluginEndpoints loads the endpoint plugins and collects their
// endpoints; the routes are added by mountPluginEndpoints.
func (h *Handler) provisionPluginEndpoints(ctx caddy.Context) error {
	for _, id := range endpointPlugins() {
		if _, err := caddy.GetModule(id); err != nil {
			h.logger.Debug("endpoint plugin not in this build", zap.String("module", id))
			continue
		}
		mod, err := ctx.LoadModuleByID(id, nil)
		if err != nil {
			return fmt.Errorf("loading endpoint plugin %s: %w", id, err)
		}
		ep, ok := mod.(plugins.EndpointProvider)
		if !ok {
			return fmt.Errorf("endpoint plugin %s serves no endpoints", id)
		}
		for _, e := range ep.Endpoints() {
			if e.Method == "" || !strings.HasPrefix(e.Path, "/") || e.Name == "" || e.Serve == nil {
				return fmt.Errorf("endpoint plugin %s: endpoint %s %q: method, path (starting with /), name and Serve are required", id, e.Method, e.Path)
			}
			h.endpoints = append(h.endpoints, e)
		}
	}
	return nil
}

// mountPluginEndpoints adds the plugins' endpoints, under the prefix, to
// the routes; a plugin may not take a route of the router's own.
func (h *Handler) mountPluginEndpoints() error { return h.srv.Mount(h.endpoints) }
