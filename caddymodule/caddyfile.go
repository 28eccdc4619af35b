package caddymodule

import (
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"

	"github.com/llmrouter/llm-router/caddymodule/auth"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("llm_router", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("llm_router", parseDirective)
	httpcaddyfile.RegisterDirectiveOrder("llm_router", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobal parses the global option block:
//
//	llm_router {
//	    models_config <path>
//	    connect_timeout <duration>
//	    external_timeout <duration|seconds>
//	    max_response_body <bytes|size>
//	}
func parseGlobal(d *caddyfile.Dispenser, existing any) (any, error) {
	app := new(App)
	if err := app.UnmarshalCaddyfile(d); err != nil {
		return nil, err
	}
	return httpcaddyfile.App{Name: "llm_router", Value: caddyconfig.JSON(app, nil)}, nil
}

// UnmarshalCaddyfile sets up the app from Caddyfile tokens.
func (a *App) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // option name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "models_config":
			a.ModelsConfig = optionalArg(d)
		case "connect_timeout":
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			a.ConnectTimeout = v
		case "strategy":
			if !d.NextArg() {
				return d.ArgErr()
			}
			a.Strategy = d.Val()
		case "model_strategy":
			var model, name string
			if !d.Args(&model, &name) {
				return d.ArgErr()
			}
			unm, err := caddyfile.UnmarshalModule(d, "llm_router.strategies."+name)
			if err != nil {
				return err
			}
			if a.ModelStrategies == nil {
				a.ModelStrategies = map[string]json.RawMessage{}
			}
			a.ModelStrategies[model] = caddyconfig.JSONModuleObject(unm, "policy", name, nil)
		case "util", "masker":
			kind := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			name := d.Val()
			ns := map[string]string{"util": "llm_router.utils.", "masker": "llm_router.maskers."}[kind]
			unm, err := caddyfile.UnmarshalModule(d, ns+name)
			if err != nil {
				return err
			}
			raw := caddyconfig.JSONModuleObject(unm, kind, name, nil)
			if kind == "util" {
				a.UtilsRaw = append(a.UtilsRaw, raw)
			} else {
				a.MaskersRaw = append(a.MaskersRaw, raw)
			}
		case "guardrail":
			var stage, name string
			if !d.Args(&stage, &name) {
				return d.ArgErr()
			}
			unm, err := caddyfile.UnmarshalModule(d, "llm_router.guardrails."+name)
			if err != nil {
				return err
			}
			raw := caddyconfig.JSONModuleObject(unm, "guardrail", name, nil)
			switch stage {
			case "request":
				a.RequestGuardrailsRaw = append(a.RequestGuardrailsRaw, raw)
			case "response":
				a.ResponseGuardrailsRaw = append(a.ResponseGuardrailsRaw, raw)
			default:
				return d.Errf("guardrail stage %q: want request or response", stage)
			}
		case "force_masking":
			a.ForceMasking = true
		case "queue_timeout", "cooldown", "monitor_interval":
			opt := d.Val()
			if opt == "cooldown" && d.NextArg() {
				if d.Val() == "off" {
					a.Cooldown = -1
					continue
				}
				d.Prev()
			}
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			switch opt {
			case "queue_timeout":
				a.QueueTimeout = v
			case "cooldown":
				a.Cooldown = v
			default:
				a.MonitorInterval = v
			}
		case "redis":
			r := &RedisOptions{Port: 6379}
			if d.NextArg() {
				r.Host = d.Val()
			}
			for d.NextBlock(1) {
				var err error
				switch d.Val() {
				case "host":
					r.Host = optionalArg(d)
				case "port":
					r.Port, err = intArg(d)
				case "password":
					r.Password = optionalArg(d)
				case "db":
					r.DB, err = intArg(d)
				case "tls":
					r.TLS = true
				default:
					return d.Errf("unrecognized redis option %q", d.Val())
				}
				if err != nil {
					return err
				}
			}
			if r.Host != "" {
				a.Redis = r
			}
		case "audit_dir":
			a.AuditDir = optionalArg(d)
		case "audit_public_key":
			a.AuditPublicKey = optionalArg(d)
		case "external_timeout":
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			a.ExternalTimeout = v
		case "max_response_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > math.MaxInt64/2 {
				return d.Errf("max_response_body: invalid size %q", d.Val())
			}
			a.MaxResponseBody = int64(n)
		default:
			return d.Errf("unrecognized llm_router option %q", d.Val())
		}
	}
	return nil
}

func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	llm_router {
//	    prefix <path|none>
//	    max_request_body <bytes|size>
//	    request_timeout <duration|seconds>
//	    default_language <pl|en>
//	    prompts_dir <dir>
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "prefix":
			p := optionalArg(d)
			h.Prefix = &p
		case "max_request_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 {
				return d.Errf("max_request_body: invalid size %q", d.Val())
			}
			h.MaxRequestBody = int64(n)
		case "request_timeout":
			v, err := durationArg(d)
			if err != nil {
				return err
			}
			h.RequestTimeout = v
		case "default_language":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.DefaultLanguage = d.Val()
		case "prompts_dir":
			h.PromptsDir = optionalArg(d)
		case "metrics":
			h.Metrics = true
		case "allow_prompt_control":
			h.AllowPromptControl = true
		case "auth":
			cfg := new(auth.Config)
			if err := cfg.UnmarshalCaddyfile(d); err != nil {
				return err
			}
			h.Auth = cfg
		default:
			return d.Errf("unrecognized llm_router subdirective %q", d.Val())
		}
	}
	return nil
}

func intArg(d *caddyfile.Dispenser) (int, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	n, err := strconv.Atoi(d.Val())
	if err != nil {
		return 0, d.Errf("%q is not a whole number", d.Val())
	}
	return n, nil
}

// optionalArg reads one optional argument: an environment placeholder that
// expands to nothing leaves the option at its default.
func optionalArg(d *caddyfile.Dispenser) string {
	if d.NextArg() {
		return d.Val()
	}
	return ""
}

// durationArg reads a duration; a bare number is seconds, as in the original
// system's environment variables.
func durationArg(d *caddyfile.Dispenser) (caddy.Duration, error) {
	if !d.NextArg() {
		return 0, d.ArgErr()
	}
	v := strings.TrimSpace(d.Val())
	if n, err := strconv.ParseFloat(v, 64); err == nil {
		if n < 0 {
			return 0, d.Errf("%s must not be negative", v)
		}
		return caddy.Duration(n * float64(time.Second)), nil
	}
	dur, err := caddy.ParseDuration(v)
	if err != nil {
		return 0, d.Errf("invalid duration %q: %v", v, err)
	}
	return caddy.Duration(dur), nil
}

var (
	_ caddyfile.Unmarshaler = (*App)(nil)
	_ caddyfile.Unmarshaler = (*Handler)(nil)
)
