package anonymizer

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/dustin/go-humanize"
	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/plugins"
	fastmasker "github.com/llmrouter/llm-router/plugins/fast_masker"
	piimasker "github.com/llmrouter/llm-router/plugins/pii_masker"
)

// DefaultMaxText is the largest text (in bytes) the page masks or sends.
const DefaultMaxText = 1 << 20

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("llm_router_anonymizer", parseDirective)
	// After `route`, which puts it ahead of every handler that answers
	// requests — llm_router (ordered before reverse_proxy) included — so
	// /anonymize/ is served here before the router's fallback sees it.
	httpcaddyfile.RegisterDirectiveOrder("llm_router_anonymizer", httpcaddyfile.After, "route")
}

// Handler is the `http.handlers.llm_router_anonymizer` module: the
// Anonymizer web app under /anonymize/ (masking playground and chat). Every
// other path goes to the next handler, which must be the router's
// `llm_router` handler: the page's chat and model list are internal
// requests to it, so its API keys, policies and limits apply.
type Handler struct {
	// Enabled turns the app on; off, every request passes through
	// (LLM_ROUTER_WEB_ANONYMIZER in the embedded Caddyfile).
	Enabled bool `json:"enabled,omitempty"`
	// PIIHost is the PII masking service (default
	// LLM_ROUTER_MASKER_PII_HOST); without one the pii algorithms say so.
	PIIHost string `json:"pii_host,omitempty"`
	// PIITimeout bounds one call to the PII service (default 10s).
	PIITimeout caddy.Duration `json:"pii_timeout,omitempty"`
	// MaxText is the largest text accepted, in bytes (default 1 MiB).
	MaxText int64 `json:"max_text,omitempty"`
	// DefaultLanguage is pl (default) or en.
	DefaultLanguage string `json:"default_language,omitempty"`

	maskers Maskers
	piiKey  string
	pages   *pages
	cop     *http.CrossOriginProtection
	mux     *http.ServeMux
	logger  *zap.Logger
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.handlers.llm_router_anonymizer", New: func() caddy.Module { return new(Handler) }}
}

// Provision prepares the maskers, the templates and the routes.
func (h *Handler) Provision(ctx caddy.Context) error {
	return h.setup(ctx.Logger())
}

// setup is Provision without the Caddy context.
func (h *Handler) setup(logger *zap.Logger) error {
	h.logger = logger
	if !h.Enabled {
		return nil
	}
	if h.MaxText <= 0 {
		h.MaxText = DefaultMaxText
	}
	if h.DefaultLanguage == "" {
		h.DefaultLanguage = "pl"
	}
	h.maskers.Fast = fastmasker.New()
	host := h.PIIHost
	if host == "" {
		host = "{env." + plugins.EnvPIIMaskerHost + "}"
	}
	host = strings.TrimSpace(caddy.NewReplacer().ReplaceAll(host, ""))
	if host != "" {
		// The masker and its cache outlive a config reload: shared through
		// the pool, keyed by what configures it.
		key := fmt.Sprintf("anonymizer|pii|%s|%d", host, h.PIITimeout)
		v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
			m, err := piimasker.New(piimasker.Config{Host: host, Timeout: time.Duration(h.PIITimeout)})
			return sharedPII{m}, err
		})
		if err != nil {
			return fmt.Errorf("anonymizer: pii masker: %w", err)
		}
		h.piiKey = key
		h.maskers.PII = v.(sharedPII).Masker
	}
	var err error
	if h.pages, err = loadPages(); err != nil {
		return err
	}
	h.cop = http.NewCrossOriginProtection()
	h.mux = h.routes()
	return nil
}

// Validate checks the configuration.
func (h *Handler) Validate() error {
	if _, ok := languages[h.DefaultLanguage]; h.Enabled && !ok {
		return fmt.Errorf("anonymizer: default_language %q: want pl or en", h.DefaultLanguage)
	}
	return nil
}

// Cleanup releases this config's hold on the shared PII masker.
func (h *Handler) Cleanup() error {
	if h.piiKey == "" {
		return nil
	}
	_, err := pool.Delete(h.piiKey)
	return err
}

// pool holds the PII maskers (with their caches) across config reloads,
// reference-counted by the configs that use them.
var pool = caddy.NewUsagePool()

type sharedPII struct{ *piimasker.Masker }

// Destruct closes the masker once no config uses it.
func (s sharedPII) Destruct() error {
	s.Close()
	return nil
}

// ServeHTTP serves /anonymize and below and passes other requests on.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	if !h.Enabled || (r.URL.Path != Root && !strings.HasPrefix(r.URL.Path, Root+"/")) {
		return next.ServeHTTP(w, r)
	}
	h.mux.ServeHTTP(w, withNext(r, next))
	return nil
}

func parseDirective(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	m := new(Handler)
	err := m.UnmarshalCaddyfile(h.Dispenser)
	return m, err
}

// UnmarshalCaddyfile reads the directive:
//
//	llm_router_anonymizer [on|off] {
//		enabled          on|off     # the same as the argument
//		pii_host         <url>      # default {env.LLM_ROUTER_MASKER_PII_HOST}
//		pii_timeout      <duration> # default 10s
//		max_text         <size>     # default 1MiB
//		default_language pl|en      # default pl
//	}
//
// The directive alone turns the app on; on and off accept the spellings of
// the LLM_ROUTER_* switches (true/1/yes/on, false/0/no/off, empty).
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	h.Enabled = true
	if d.NextArg() {
		on, err := parseSwitch(d, d.Val())
		if err != nil {
			return err
		}
		h.Enabled = on
		if d.NextArg() {
			return d.ArgErr()
		}
	}
	for d.NextBlock(0) {
		opt := d.Val()
		args := d.RemainingArgs()
		if opt != "enabled" && opt != "pii_host" && len(args) != 1 {
			return d.Errf("%s takes one value", opt)
		}
		switch opt {
		case "enabled":
			v := ""
			if len(args) > 1 {
				return d.ArgErr()
			}
			if len(args) == 1 {
				v = args[0]
			}
			on, err := parseSwitch(d, v)
			if err != nil {
				return err
			}
			h.Enabled = on
		case "pii_host":
			if len(args) > 1 {
				return d.ArgErr()
			}
			if len(args) == 1 {
				h.PIIHost = args[0]
			}
		case "pii_timeout":
			dur, err := caddy.ParseDuration(args[0])
			if err != nil || dur <= 0 {
				return d.Errf("pii_timeout: invalid duration %q", args[0])
			}
			h.PIITimeout = caddy.Duration(dur)
		case "max_text":
			n, err := humanize.ParseBytes(args[0])
			if err != nil || n == 0 || n > 1<<30 {
				return d.Errf("max_text: invalid size %q", args[0])
			}
			h.MaxText = int64(n)
		case "default_language":
			if _, ok := languages[args[0]]; !ok {
				return d.Errf("default_language %q: want pl or en", args[0])
			}
			h.DefaultLanguage = args[0]
		default:
			return d.Errf("unknown llm_router_anonymizer option %q", opt)
		}
	}
	return nil
}

func parseSwitch(d *caddyfile.Dispenser, s string) (bool, error) {
	if on, ok := env.Switch(s); ok {
		return on, nil
	}
	return false, d.Errf("llm_router_anonymizer: %q is not on or off", s)
}

var errNoRouter = errors.New("anonymizer: the router's llm_router handler must follow the anonymizer in the route")

var (
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.Validator             = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
)
