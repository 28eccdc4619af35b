// Package llmrouter registers every llm-router Caddy module and subcommand.
// Import it (blank) into a Caddy build, as `xcaddy build --with
// github.com/llmrouter/llm-router` does, to get the router.
package llmrouter

import (
	// The llm_router app and http.handlers.llm_router handler.
	_ "github.com/llmrouter/llm-router/caddymodule"
	// `llm-router audit keygen|verify|decrypt`.
	_ "github.com/llmrouter/llm-router/caddymodule/audit"
	// `llm-router keys create|list|disable|rotate|delete`.
	_ "github.com/llmrouter/llm-router/caddymodule/auth"
	// The Anonymizer web app (http.handlers.llm_router_anonymizer).
	_ "github.com/llmrouter/llm-router/caddymodule/web/anonymizer"
	// The Config Manager web app (http.handlers.llm_router_configs).
	_ "github.com/llmrouter/llm-router/caddymodule/web/manager"
	// `llm-router anonymize [FILE]`.
	_ "github.com/llmrouter/llm-router/cli/anonymize"
	// `llm-router util translate|genai-classifier|genai-data-augmentation`.
	_ "github.com/llmrouter/llm-router/cli/batch"
	// `llm-router config discover|merge|validate`.
	_ "github.com/llmrouter/llm-router/cli/configcmd"
	// `llm-router rag index`.
	_ "github.com/llmrouter/llm-router/cli/rag"
	// Plugins: maskers, guardrails, utils.
	_ "github.com/llmrouter/llm-router/plugins/fast_masker"
	_ "github.com/llmrouter/llm-router/plugins/nask_guard"
	_ "github.com/llmrouter/llm-router/plugins/pii_masker"
	_ "github.com/llmrouter/llm-router/plugins/rag"
	_ "github.com/llmrouter/llm-router/plugins/semantic_routing"
	_ "github.com/llmrouter/llm-router/plugins/simple_semantic_routing"
	_ "github.com/llmrouter/llm-router/plugins/sojka_guard"
)
