package auth

import (
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/llmrouter/llm-router/caddymodule/env"
)

// UnmarshalCaddyfile reads an auth block, with d on the "auth" token:
//
//	auth [on|off] {
//		store     file|redis
//		keys_file <path>
//		redis_key <key>
//		prefix    <path prefix>
//		public    <path...>      # space- or comma-separated; none: no public path
//		poll      <duration>
//	}
//
// "auth" alone turns authentication on. On and off accept the spellings of
// LLM_ROUTER_AUTH_ENABLED (true/1/yes/t/on, false/0/no/f/off), so the
// embedded Caddyfile can say `auth {$LLM_ROUTER_AUTH_ENABLED:false}`.
func (c *Config) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	c.Enabled = true
	if d.NextArg() {
		on, ok := env.Switch(d.Val())
		if !ok {
			return d.Errf("auth: %q is not on or off", d.Val())
		}
		c.Enabled = on
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		opt := d.Val()
		args := d.RemainingArgs()
		one := func(dst *string) error {
			if len(args) != 1 {
				return d.Errf("auth: %s takes one value", opt)
			}
			*dst = args[0]
			return nil
		}
		var err error
		switch opt {
		case "store":
			if err = one(&c.Store); err == nil && c.Store != StoreFile && c.Store != StoreRedis {
				err = d.Errf("auth: store %q: want file or redis", c.Store)
			}
		case "keys_file":
			err = one(&c.KeysFile)
		case "redis_key":
			err = one(&c.RedisKey)
		case "prefix":
			err = one(&c.Prefix)
		case "public":
			c.PublicPaths = []string{}
			for _, a := range args {
				c.PublicPaths = append(c.PublicPaths, splitList(a)...)
			}
		case "poll":
			var s string
			if err = one(&s); err == nil {
				var p time.Duration
				if p, err = caddy.ParseDuration(s); err != nil || p <= 0 {
					err = d.Errf("auth: poll %q: want a positive duration", s)
				}
				c.Poll = p
			}
		default:
			err = d.Errf("auth: unknown option %q", opt)
		}
		if err != nil {
			return err
		}
	}
	return nil
}
