// Package svcmod is the Caddy glue shared by the plugin modules: the
// Caddyfile block every plugin's directive has (ParseBlock), and for the
// plugins backed by an HTTP service of llm-router-services (pii_masker,
// nask_guard, sojka_guard) the host, timeout and fail-open options, their
// Caddyfile syntax, and the fallback to the original router's host variable.
package svcmod

import (
	"errors"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Options are the settings every service-backed plugin has. Embed them in
// the module struct: their JSON fields are the module's.
type Options struct {
	// Host is the service base URL; placeholders such as {env.VAR} are
	// resolved at provision time. Empty means the plugin's host variable.
	Host string `json:"host,omitempty"`
	// Timeout bounds one service call.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// AllowFailOpen lets requests pass while the service is unavailable.
	AllowFailOpen bool `json:"fail_open,omitempty"`
}

// FailOpen implements plugins.Service.
func (o *Options) FailOpen() bool { return o.AllowFailOpen }

// ResolveHost returns the service URL: Host with its placeholders
// resolved, or else the value of the environment variable hostEnv.
func (o *Options) ResolveHost(name, hostEnv string) (string, error) {
	host := o.Host
	if host == "" {
		host = "{env." + hostEnv + "}"
	}
	host = caddy.NewReplacer().ReplaceAll(host, "")
	if host == "" {
		return "", errors.New(name + ": no service host: set host or " + hostEnv)
	}
	return host, nil
}

// ParseCaddyfile reads `<name> [<host>] { … }` with d on the module name:
// host, timeout and fail_open are handled here; any other option goes to
// extra (with its arguments), and is an error when extra is nil.
func (o *Options) ParseCaddyfile(d *caddyfile.Dispenser, name string, extra func(opt string, args []string) error) error {
	d.Next() // module name
	if d.NextArg() {
		o.Host = d.Val()
	}
	if d.NextArg() {
		return d.ArgErr()
	}
	return eachOption(d, func(opt string, args []string) error {
		switch opt {
		case "host":
			if len(args) != 1 {
				return d.ArgErr()
			}
			o.Host = args[0]
		case "timeout":
			if len(args) != 1 {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("timeout: invalid duration %q", args[0])
			}
			o.Timeout = caddy.Duration(dur)
		case "fail_open":
			if len(args) != 0 {
				return d.ArgErr()
			}
			o.AllowFailOpen = true
		default:
			if extra == nil {
				return UnknownOption(d, name, opt)
			}
			return extra(opt, args)
		}
		return nil
	})
}

// ParseBlock reads `<name> { <option> <args>... }` with d on the module
// name: no argument after the name, then each option of the block, with
// its arguments, goes to opt (which answers one it does not know with
// UnknownOption).
func ParseBlock(d *caddyfile.Dispenser, opt func(opt string, args []string) error) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	return eachOption(d, opt)
}

// eachOption calls fn with each option of the block at d and its arguments.
func eachOption(d *caddyfile.Dispenser, fn func(opt string, args []string) error) error {
	for d.NextBlock(0) {
		opt := d.Val()
		if err := fn(opt, d.RemainingArgs()); err != nil {
			return err
		}
	}
	return nil
}

// UnknownOption is the error for an option the module name does not know.
func UnknownOption(d *caddyfile.Dispenser, name, opt string) error {
	return d.Errf("unknown %s option %q", name, opt)
}
