package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
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
	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/rdb"
)

func init() {
	httpcaddyfile.RegisterGlobalOption("llm_router", parseGlobal)
	httpcaddyfile.RegisterHandlerDirective("llm_router", parseDirective)
	httpcaddyfile.RegisterDirectiveOrder("llm_router", httpcaddyfile.Before, "reverse_proxy")
}

// parseGlobal parses the global option block (every option is optional):
//
//	llm_router {
//	    models_config <path>
//	    strict_models_config
//	    strategy <balance strategy>
//	    model_strategy <model> <strategy module> { … }
//	    util <name> { … }
//	    masker <name> { … }
//	    guardrail request|response <name> { … }
//	    force_masking
//	    connect_timeout <duration>
//	    external_timeout <duration|seconds>
//	    queue_timeout <duration>
//	    max_response_body <bytes|size>
//	    cooldown <duration>|off
//	    cooldown_failures <n>
//	    cooldown_window <duration>
//	    monitor_interval <duration>
//	    redis [<host>] {
//	        host <host>
//	        port <port>
//	        password <password>
//	        db <n>
//	        tls
//	        sentinels <addr…>
//	        master_name <name>
//	        cluster <addr…>
//	    }
//	    audit_dir <dir>
//	    audit_public_key <key>
//	    retries { … }                        (see parseRetries)
//	    transport h1|net_http
//	    provider_transport <provider> h1|net_http
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
		case "strategy":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if _, err := balance.ParseKind(d.Val()); err != nil {
				return d.Errf("%v", err)
			}
			a.Strategy = d.Val()
		case "strict_models_config":
			a.StrictModelsConfig = true
		case "model_strategy", "util", "masker", "guardrail":
			if err := a.parseModuleOption(d); err != nil {
				return err
			}
		case "force_masking":
			a.ForceMasking = true
		case "cooldown_failures":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n < 1 {
				return d.Errf("cooldown_failures: %q is not a positive integer", d.Val())
			}
			a.CooldownFailures = n
		case "connect_timeout", "external_timeout", "queue_timeout", "cooldown", "cooldown_window", "monitor_interval":
			if err := a.parseDurationOption(d); err != nil {
				return err
			}
		case "redis":
			r, err := parseRedis(d)
			if err != nil {
				return err
			}
			// Placeholders of unset variables leave every field empty:
			// no Redis (then LLM_ROUTER_REDIS_* may still name one).
			if r.Host != "" || len(r.Sentinels) > 0 || len(r.Cluster) > 0 {
				a.Redis = r
			}
		case "audit_dir":
			a.AuditDir = optionalArg(d)
		case "audit_public_key":
			a.AuditPublicKey = optionalArg(d)
		case "max_response_body":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := humanize.ParseBytes(d.Val())
			if err != nil || n == 0 || n > math.MaxInt64/2 {
				return d.Errf("max_response_body: invalid size %q", d.Val())
			}
			a.MaxResponseBody = int64(n)
		case "retries":
			r, err := parseRetries(d)
			if err != nil {
				return err
			}
			a.Retries = r
		case "transport", "provider_transport":
			if err := a.parseTransportOption(d); err != nil {
				return err
			}
		default:
			return d.Errf("unrecognized llm_router option %q", d.Val())
		}
	}
	a.ModelsConfigHash = modelsConfigHash(a.ModelsConfig)
	return nil
}

// parseDurationOption reads a duration option (connect_timeout,
// external_timeout, queue_timeout, cooldown, cooldown_window,
// monitor_interval); "cooldown off" turns the passive cool-down off.
func (a *App) parseDurationOption(d *caddyfile.Dispenser) error {
	opt := d.Val()
	if opt == "cooldown" && d.NextArg() {
		if d.Val() == "off" {
			a.Cooldown = -1
			return nil
		}
		d.Prev()
	}
	v, err := durationArg(d)
	if err != nil {
		return err
	}
	switch opt {
	case "connect_timeout":
		a.ConnectTimeout = v
	case "external_timeout":
		a.ExternalTimeout = v
	case "queue_timeout":
		a.QueueTimeout = v
	case "cooldown":
		a.Cooldown = v
	case "cooldown_window":
		a.CooldownWindow = v
	default:
		a.MonitorInterval = v
	}
	return nil
}

// parseTransportOption reads the transport option (every provider's) or a
// provider_transport option (one provider's).
func (a *App) parseTransportOption(d *caddyfile.Dispenser) error {
	if d.Val() == "transport" {
		if !d.NextArg() {
			return d.ArgErr()
		}
		if err := checkTransport("transport", d.Val()); err != nil {
			return d.Err(err.Error())
		}
		a.Transport = d.Val()
		return nil
	}
	var id, kind string
	if !d.Args(&id, &kind) {
		return d.ArgErr()
	}
	if err := checkTransport("provider_transport "+id, kind); err != nil {
		return d.Err(err.Error())
	}
	if a.ProviderTransports == nil {
		a.ProviderTransports = map[string]string{}
	}
	a.ProviderTransports[id] = kind
	return nil
}

// parseModuleOption reads an option that loads a plugin module
// (model_strategy, util, masker, guardrail) into the app's raw module lists.
func (a *App) parseModuleOption(d *caddyfile.Dispenser) error {
	switch d.Val() {
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
	}
	return nil
}

// parseRedis reads a redis option: an optional host argument and a block of
// connection settings; the port defaults to 6379.
func parseRedis(d *caddyfile.Dispenser) (*RedisOptions, error) {
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
		case "sentinels":
			for d.NextArg() {
				r.Sentinels = append(r.Sentinels, rdb.ParseAddrs(d.Val())...)
			}
		case "master_name":
			r.MasterName = optionalArg(d)
		case "cluster":
			for d.NextArg() {
				r.Cluster = append(r.Cluster, rdb.ParseAddrs(d.Val())...)
			}
		default:
			return nil, d.Errf("unrecognized redis option %q", d.Val())
		}
		if err != nil {
			return nil, err
		}
	}
	return r, nil
}

// modelsConfigHash returns the SHA-256 of the models-config file the app will
// read, or "" when it is the embedded one or cannot be read here (the app
// reports that when it loads).
func modelsConfigHash(option string) string {
	path := ResolveModelsConfig(option)
	if path == "" || strings.Contains(path, "{") {
		return ""
	}
	data, err := config.ReadFile(path)
	if err != nil {
		return ""
	}
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:])
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
//	    metrics
//	    allow_prompt_control
//	    rag_collection <name>
//	    not_found [on|off]
//	    provider_header [on|off]
//	    cors <origin…> {
//	        credentials
//	    }
//	    auth { … }                           (see auth.Config)
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
		case "rag_collection":
			if !d.NextArg() {
				return d.ArgErr()
			}
			h.RAGCollection = d.Val()
		case "not_found":
			on, err := onOffArg(d)
			if err != nil {
				return err
			}
			h.NotFound = on
		case "provider_header":
			on, err := onOffArg(d)
			if err != nil {
				return err
			}
			h.ProviderHeader = &on
		case "cors":
			c := &CORS{Origins: d.RemainingArgs()}
			for d.NextBlock(1) {
				switch d.Val() {
				case "credentials":
					c.Credentials = true
				default:
					return d.Errf("unrecognized cors option %q", d.Val())
				}
			}
			if _, err := c.policy(); err != nil {
				return d.Err(err.Error())
			}
			h.CORS = c
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

// parseRetries reads a retries block:
//
//	retries {
//		attempts <n>
//		backoff <initial> [<max>]
//		on connect|timeout|429|5xx|malformed ...
//	}
func parseRetries(d *caddyfile.Dispenser) (*RetryOptions, error) {
	r := &RetryOptions{}
	if d.NextArg() {
		return nil, d.ArgErr()
	}
	for d.NextBlock(1) {
		switch d.Val() {
		case "attempts":
			n, err := intArg(d)
			if err != nil {
				return nil, err
			}
			if n < 1 {
				return nil, d.Errf("retries: attempts must be at least 1, got %d", n)
			}
			r.Attempts = n
		case "backoff":
			v, err := durationArg(d)
			if err != nil {
				return nil, err
			}
			r.Backoff = v
			if d.NextArg() {
				d.Prev()
				if r.BackoffMax, err = durationArg(d); err != nil {
					return nil, err
				}
			}
		case "on":
			r.On = d.RemainingArgs()
			if len(r.On) == 0 {
				return nil, d.ArgErr()
			}
		default:
			return nil, d.Errf("unrecognized retries option %q", d.Val())
		}
		if d.NextArg() {
			return nil, d.ArgErr()
		}
	}
	if _, err := r.resolve(); err != nil {
		return nil, d.Err(err.Error())
	}
	return r, nil
}

// onOffArg reads a flag's optional on/off argument; a bare flag is on.
func onOffArg(d *caddyfile.Dispenser) (bool, error) {
	name := d.Val()
	if !d.NextArg() {
		return true, nil
	}
	switch strings.ToLower(d.Val()) {
	case "on", "true", "1", "yes":
		return true, nil
	case "off", "false", "0", "no":
		return false, nil
	}
	return false, d.Errf("%s: want on or off, got %q", name, d.Val())
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
