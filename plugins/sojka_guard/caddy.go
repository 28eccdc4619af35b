package sojkaguard

import (
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/httpguard"
)

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the Caddy module llm_router.guardrails.sojka_guard.
//
// Caddyfile:
//
//	sojka_guard [<host>] {
//		host      <url>         # default {env.LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST}
//		timeout   <duration>    # default 10s
//		fail_open               # let requests pass unchecked while the service is down
//	}
type Module struct {
	httpguard.Module
}

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.guardrails." + Name, New: func() caddy.Module { return newModule() }}
}

func newModule() *Module { return &Module{httpguard.NewModule(Name, HostEnv)} }

var (
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Guardrail     = (*Module)(nil)
	_ plugins.Service       = (*Module)(nil)
)
