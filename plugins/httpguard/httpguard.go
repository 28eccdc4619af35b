// Package httpguard is the shared implementation of the guardrails backed by
// a classifier service of llm-router-services (POST <host>/api/guardrails/<name>,
// decision in results.safe): nask_guard and sojka_guard differ only in
// their name and the environment variable holding their host.
package httpguard

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// Register registers the guardrail name, whose default host is in the
// environment variable hostEnv, as the Caddy module
// llm_router.guardrails.<name>. Call it from the guardrail package's init.
func Register(name, hostEnv string) {
	caddy.RegisterModule(NewModule(name, hostEnv))
}

// Module is the Caddy module of a guardrail registered by Register: one
// type for every guardrail, told apart by the name it was made with.
//
// Caddyfile:
//
//	<name> [<host>] {
//		host      <url>         # default {env.<host variable>}
//		timeout   <duration>    # default 10s
//		fail_open               # let requests pass unchecked while the service is down
//	}
type Module struct {
	svcmod.Options

	name    string
	hostEnv string
	g       *plugins.HTTPGuardrail
}

// NewModule returns the module of the guardrail name whose default host is
// in the environment variable hostEnv.
func NewModule(name, hostEnv string) Module {
	return Module{name: name, hostEnv: hostEnv}
}

// CaddyModule implements caddy.Module: llm_router.guardrails.<name>.
func (mo Module) CaddyModule() caddy.ModuleInfo {
	name, hostEnv := mo.name, mo.hostEnv
	return caddy.ModuleInfo{ID: caddy.ModuleID("llm_router.guardrails." + name), New: func() caddy.Module {
		m := NewModule(name, hostEnv)
		return &m
	}}
}

// Config configures a guardrail client.
type Config struct {
	// Name is the guardrail (and service path) name.
	Name string
	// Host is the service base URL.
	Host string
	// Timeout bounds one call; 0 means plugins.DefaultServiceTimeout.
	Timeout time.Duration
	// FailOpen lets requests pass unchecked while the service is unavailable.
	FailOpen bool
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// New builds a guardrail client.
func New(cfg Config) (*plugins.HTTPGuardrail, error) {
	return plugins.NewHTTPGuardrail(plugins.ServiceConfig{
		Name: cfg.Name, Host: cfg.Host, Timeout: cfg.Timeout, FailOpen: cfg.FailOpen, Client: cfg.Client,
	})
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(caddy.Context) error {
	host, err := mo.ResolveHost(mo.name, mo.hostEnv)
	if err != nil {
		return err
	}
	g, err := New(Config{Name: mo.name, Host: host, Timeout: time.Duration(mo.Timeout), FailOpen: mo.AllowFailOpen})
	if err != nil {
		return err
	}
	mo.g = g
	return nil
}

// Validate implements caddy.Validator.
func (mo *Module) Validate() error {
	if mo.g == nil {
		return errors.New(mo.name + ": not provisioned")
	}
	return nil
}

// Cleanup implements caddy.CleanerUpper.
func (mo *Module) Cleanup() error {
	if mo.g != nil {
		mo.g.Close()
	}
	return nil
}

// Check implements plugins.Guardrail.
func (mo *Module) Check(ctx context.Context, texts []string) (plugins.Decision, error) {
	return mo.g.Check(ctx, texts)
}

// ServiceName implements plugins.Service.
func (mo *Module) ServiceName() string { return mo.name }

// PingURL implements plugins.Service.
func (mo *Module) PingURL() string { return mo.g.PingURL() }

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return mo.ParseCaddyfile(d, mo.name, nil)
}

var (
	_ caddy.Module          = (*Module)(nil)
	_ caddy.Provisioner     = (*Module)(nil)
	_ caddy.Validator       = (*Module)(nil)
	_ caddy.CleanerUpper    = (*Module)(nil)
	_ caddyfile.Unmarshaler = (*Module)(nil)
	_ plugins.Guardrail     = (*Module)(nil)
	_ plugins.Service       = (*Module)(nil)
)
