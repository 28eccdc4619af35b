// Package naskguard is the nask_guard plugin: a guardrail backed by the
// NASK-PIB/HerBERT-PL-Guard classifier of llm-router-services
// (POST <host>/api/guardrails/nask_guard, decision in results.safe).
//
// It is the Caddy module llm_router.guardrails.nask_guard, an
// [httpguard.Module] (options and Caddyfile there), whose host defaults to
// {env.LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST}.
package naskguard

import "github.com/llmrouter/llm-router/plugins"

// Name is the plugin name in pipelines.
const Name = "nask_guard"

// HostEnv is the variable of the original router holding the service host.
const HostEnv = plugins.EnvNaskGuardHost
