// Package sojkaguard is the sojka_guard plugin: a guardrail backed by the
// speakleash/Bielik-Guard-0.1B-v1.0 classifier of llm-router-services
// (POST <host>/api/guardrails/sojka_guard, decision in results.safe).
//
// It is the Caddy module llm_router.guardrails.sojka_guard, an
// [httpguard.Module] (options and Caddyfile there), whose host defaults to
// {env.LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST}.
package sojkaguard

import "github.com/llmrouter/llm-router/plugins"

// Name is the plugin name in pipelines.
const Name = "sojka_guard"

// HostEnv is the variable of the original router holding the service host.
const HostEnv = plugins.EnvSojkaGuardHost
