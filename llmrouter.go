// Package llmrouter registers every llm-router Caddy module. Import it
// (blank) into a Caddy build, as `xcaddy build --with
// github.com/llmrouter/llm-router` does, to get the router.
package llmrouter

import (
	// The llm_router app and http.handlers.llm_router handler.
	_ "github.com/llmrouter/llm-router/caddymodule"
)
