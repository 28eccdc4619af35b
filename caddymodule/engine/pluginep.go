package engine

import (
	"errors"
	"fmt"
	"net/http"

	"github.com/llmrouter/llm-router/plugins"
)

// Mount adds the plugins' endpoints, under the prefix, to the routes; a
// plugin may not take a route of the router's own.
func (h *Server) Mount(endpoints []plugins.Endpoint) error {
	for _, e := range endpoints {
		path := h.Prefix + e.Path
		if rt, taken := h.routes[e.Method+" "+path]; taken {
			return fmt.Errorf("plugin endpoint %s %s: the route is the router's %s", e.Method, path, rt.Name)
		}
		h.addRoute(h.routes, e.Method, path, e.Name, NoDialect, FamilyBuiltin, pluginEndpoint(e))
	}
	return nil
}

// pluginEndpoint serves a plugin's endpoint: the body read within the
// router's limit, the answer written as JSON, an *plugins.EndpointError in
// the built-in endpoints' error shape.
func pluginEndpoint(e plugins.Endpoint) endpointFunc {
	return func(h *Server, w http.ResponseWriter, r *http.Request, _ Route) error {
		body, err := h.readBody(w, r)
		if err != nil {
			return err
		}
		out, err := e.Serve(r.Context(), body)
		if err != nil {
			var ee *plugins.EndpointError
			if errors.As(err, &ee) {
				return &Error{Status: ee.Status, Param: ee.Param, Msg: ee.Msg}
			}
			return fmt.Errorf("%s: %w", e.Name, err)
		}
		return WriteJSON(w, http.StatusOK, out)
	}
}
