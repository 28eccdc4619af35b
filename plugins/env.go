package plugins

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Names of the variables read by FromEnv (those of the original router).
const (
	EnvForceMasking               = "LLM_ROUTER_FORCE_MASKING"
	EnvMaskingPipeline            = "LLM_ROUTER_MASKING_STRATEGY_PIPELINE"
	EnvMaskingWithAudit           = "LLM_ROUTER_MASKING_WITH_AUDIT"
	EnvForceGuardrailRequest      = "LLM_ROUTER_FORCE_GUARDRAIL_REQUEST"
	EnvGuardrailAuditRequest      = "LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST"
	EnvGuardrailPipelineRequest   = "LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST"
	EnvForceGuardrailResponse     = "LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE"
	EnvGuardrailAuditResponse     = "LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE"
	EnvGuardrailPipelineResponse  = "LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE"
	EnvUtilsPipeline              = "LLM_ROUTER_UTILS_PLUGINS_PIPELINE"
	EnvPIIMaskerHost              = "LLM_ROUTER_MASKER_PII_HOST"
	EnvNaskGuardHost              = "LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST"
	EnvSojkaGuardHost             = "LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST"
	EnvServicesMonitorIntervalSec = "LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS"
)

// DefaultMonitorInterval is the services monitor period when
// LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS is unset.
const DefaultMonitorInterval = 5 * time.Second

// Env is the plugin configuration of the original router, read from its
// LLM_ROUTER_* variables.
type Env struct {
	ForceMasking              bool
	MaskingPipeline           []string // masker names, in order
	MaskingWithAudit          bool
	ForceGuardrailRequest     bool
	GuardrailAuditRequest     bool
	GuardrailPipelineRequest  []string
	ForceGuardrailResponse    bool
	GuardrailAuditResponse    bool
	GuardrailPipelineResponse []string
	UtilsPipeline             []string
	PIIMaskerHost             string
	NaskGuardHost             string
	SojkaGuardHost            string
	// MonitorInterval is the services monitor period; ≤ 0 disables it.
	MonitorInterval time.Duration
}

// FromEnv reads the plugin variables through getenv (os.Getenv in
// production) and validates them like the original router's startup.
func FromEnv(getenv func(string) string) (Env, error) {
	e := Env{
		ForceMasking:              Truthy(getenv(EnvForceMasking)),
		MaskingPipeline:           List(getenv(EnvMaskingPipeline)),
		MaskingWithAudit:          Truthy(getenv(EnvMaskingWithAudit)),
		ForceGuardrailRequest:     Truthy(getenv(EnvForceGuardrailRequest)),
		GuardrailAuditRequest:     Truthy(getenv(EnvGuardrailAuditRequest)),
		GuardrailPipelineRequest:  List(getenv(EnvGuardrailPipelineRequest)),
		ForceGuardrailResponse:    Truthy(getenv(EnvForceGuardrailResponse)),
		GuardrailAuditResponse:    Truthy(getenv(EnvGuardrailAuditResponse)),
		GuardrailPipelineResponse: List(getenv(EnvGuardrailPipelineResponse)),
		UtilsPipeline:             List(getenv(EnvUtilsPipeline)),
		PIIMaskerHost:             strings.TrimSpace(getenv(EnvPIIMaskerHost)),
		NaskGuardHost:             strings.TrimSpace(getenv(EnvNaskGuardHost)),
		SojkaGuardHost:            strings.TrimSpace(getenv(EnvSojkaGuardHost)),
		MonitorInterval:           DefaultMonitorInterval,
	}
	var errs []error
	if v := strings.TrimSpace(getenv(EnvServicesMonitorIntervalSec)); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a whole number of seconds", EnvServicesMonitorIntervalSec, v))
		}
		e.MonitorInterval = time.Duration(n) * time.Second
	}
	if err := e.Validate(); err != nil {
		errs = append(errs, err)
	}
	return e, errors.Join(errs...)
}

// pluginKind maps the names of the built-in plugins to their pipeline.
var pluginKind = map[string]string{
	"fast_masker":                "masker",
	"pii_masker":                 "masker",
	"nask_guard":                 "guardrail",
	"sojka_guard":                "guardrail",
	"langchain_rag":              "util",
	"rag":                        "util",
	"semantic_routing":           "util",
	"simple_semantic_routing":    "util",
	"semantic_biencoder_routing": "util",
}

// Validate applies the original router's startup rules: a forced stage
// needs a non-empty pipeline, an audit flag needs its forced stage, every
// HTTP plugin named in a pipeline needs its host (an http(s) URL), and a
// built-in plugin must sit in a pipeline of its kind. Names of third-party
// plugins are not checked here (the Caddy module registry knows them).
func (e Env) Validate() error {
	var errs []error
	need := func(cond bool, format string, args ...any) {
		if !cond {
			errs = append(errs, fmt.Errorf(format, args...))
		}
	}
	need(!e.ForceMasking || len(e.MaskingPipeline) > 0,
		"%s requires a non-empty %s", EnvForceMasking, EnvMaskingPipeline)
	need(!e.GuardrailAuditRequest || e.ForceGuardrailRequest,
		"%s requires %s", EnvGuardrailAuditRequest, EnvForceGuardrailRequest)
	need(!e.ForceGuardrailRequest || len(e.GuardrailPipelineRequest) > 0,
		"%s requires a non-empty %s", EnvForceGuardrailRequest, EnvGuardrailPipelineRequest)
	need(!e.GuardrailAuditResponse || e.ForceGuardrailResponse,
		"%s requires %s", EnvGuardrailAuditResponse, EnvForceGuardrailResponse)
	need(!e.ForceGuardrailResponse || len(e.GuardrailPipelineResponse) > 0,
		"%s requires a non-empty %s", EnvForceGuardrailResponse, EnvGuardrailPipelineResponse)

	pipes := []struct {
		env, kind string
		names     []string
	}{
		{EnvMaskingPipeline, "masker", e.MaskingPipeline},
		{EnvGuardrailPipelineRequest, "guardrail", e.GuardrailPipelineRequest},
		{EnvGuardrailPipelineResponse, "guardrail", e.GuardrailPipelineResponse},
		{EnvUtilsPipeline, "util", e.UtilsPipeline},
	}
	hosts := map[string]struct{ env, val string }{
		"pii_masker":  {EnvPIIMaskerHost, e.PIIMaskerHost},
		"nask_guard":  {EnvNaskGuardHost, e.NaskGuardHost},
		"sojka_guard": {EnvSojkaGuardHost, e.SojkaGuardHost},
	}
	checked := map[string]bool{}
	for _, p := range pipes {
		for _, n := range p.names {
			if k, ok := pluginKind[n]; ok && k != p.kind {
				errs = append(errs, fmt.Errorf("%s: %s is a %s, not a %s", p.env, n, k, p.kind))
			}
			h, ok := hosts[n]
			if !ok || checked[n] {
				continue
			}
			checked[n] = true
			if h.val == "" {
				errs = append(errs, fmt.Errorf("%s in %s requires %s", n, p.env, h.env))
			} else if err := CheckServiceURL(h.val); err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", h.env, err))
			}
		}
	}
	return errors.Join(errs...)
}

// CheckServiceURL reports whether host is a usable service base URL
// (http or https, with a host). The message never repeats the value.
func CheckServiceURL(host string) error {
	u, err := url.Parse(host)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return errors.New("not an http(s) URL such as http://127.0.0.1:5000")
	}
	return nil
}

// Truthy reports whether an environment value is true the way the
// original router reads booleans: true, 1, t, y, yes or tak, any case.
func Truthy(v string) bool {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true", "1", "t", "y", "yes", "tak":
		return true
	}
	return false
}

// List splits a comma-separated value, trimming items and dropping empty ones.
func List(v string) []string {
	var out []string
	for item := range strings.SplitSeq(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}
