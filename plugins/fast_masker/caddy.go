package fastmasker

import (
	"context"
	"errors"
	"fmt"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/svcmod"
)

// Name is the masker's name in pipelines and its Caddy module name.
const Name = "fast_masker"

func init() {
	caddy.RegisterModule(Module{})
}

// Module is the Caddy module llm_router.maskers.fast_masker.
//
// Caddyfile:
//
//	fast_masker {
//		only    <TAG>...   # enable only these rules (default: all)
//		disable <TAG>...   # then turn these off
//	}
//
// Tags: EMAIL URL IP PORT PESEL_TAGGED PESEL NIP REGON DATE TIME MONEY VIN
// BANK_ACCOUNT CAR_PLATE POSTAL_CODE NRB KRS PASSPORT ID_CARD SSN
// HEALTH_CODE PHONE_INTERNATIONAL PHONE MAC_ADDRESS CREDIT_CARD SSL_CERT JWT
// INVOICE_NUMBER ORDER_NUMBER TRANSACTION_REF SIM_CARD SOCIAL_ID EU_VAT.
type Module struct {
	// Only lists the rule tags to enable; empty enables every rule.
	Only []string `json:"only,omitempty"`
	// Disabled lists rule tags to turn off.
	Disabled []string `json:"disabled,omitempty"`

	m *Masker
}

// CaddyModule implements caddy.Module.
func (Module) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "llm_router.maskers." + Name, New: func() caddy.Module { return new(Module) }}
}

// Provision implements caddy.Provisioner.
func (mo *Module) Provision(caddy.Context) error {
	for _, t := range append(append([]string(nil), mo.Only...), mo.Disabled...) {
		if !KnownTag(t) {
			return fmt.Errorf("%s: unknown rule tag %q", Name, t)
		}
	}
	var opts []Option
	if len(mo.Only) > 0 {
		opts = append(opts, Only(mo.Only...))
	}
	opts = append(opts, Disable(mo.Disabled...))
	mo.m = New(opts...)
	return nil
}

// Validate implements caddy.Validator.
func (mo *Module) Validate() error {
	if mo.m == nil {
		return errors.New(Name + ": not provisioned")
	}
	if len(mo.m.Enabled()) == 0 {
		return errors.New(Name + ": every rule is disabled")
	}
	return nil
}

// MaskTexts implements plugins.Masker: one Session per call, so numbering
// and the mapping live for one request only.
func (mo *Module) MaskTexts(ctx context.Context, texts []string) ([]string, map[string]string, error) {
	return mo.m.MaskTexts(ctx, texts)
}

// UnmarshalCaddyfile implements caddyfile.Unmarshaler.
func (mo *Module) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return svcmod.ParseBlock(d, func(opt string, args []string) error {
		if len(args) == 0 {
			return d.ArgErr()
		}
		for _, a := range args {
			if !KnownTag(a) {
				return d.Errf("%s: unknown rule tag %q", opt, a)
			}
		}
		switch opt {
		case "only":
			mo.Only = append(mo.Only, args...)
		case "disable":
			mo.Disabled = append(mo.Disabled, args...)
		default:
			return svcmod.UnknownOption(d, Name, opt)
		}
		return nil
	})
}

var (
	_ caddy.Provisioner        = (*Module)(nil)
	_ caddy.Validator          = (*Module)(nil)
	_ caddyfile.Unmarshaler    = (*Module)(nil)
	_ plugins.Masker           = (*Module)(nil)
	_ plugins.EndpointProvider = (*Module)(nil)
)
