package plugins_test

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/plugins"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestTruthy(t *testing.T) {
	for _, v := range []string{"true", "1", "t", "y", "yes", "tak", "TAK", " Yes ", "True"} {
		if !plugins.Truthy(v) {
			t.Errorf("Truthy(%q) = false, want true", v)
		}
	}
	for _, v := range []string{"", "0", "false", "no", "nie", "on", "2", "enabled"} {
		if plugins.Truthy(v) {
			t.Errorf("Truthy(%q) = true, want false", v)
		}
	}
}

func TestList(t *testing.T) {
	tests := map[string][]string{
		"":                          nil,
		" , ,":                      nil,
		"pii_masker":                {"pii_masker"},
		" fast_masker , pii_masker": {"fast_masker", "pii_masker"},
		"a,,b,":                     {"a", "b"},
	}
	for in, want := range tests {
		if got := plugins.List(in); !reflect.DeepEqual(got, want) {
			t.Errorf("List(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestFromEnvParses(t *testing.T) {
	e, err := plugins.FromEnv(getenv(map[string]string{
		"LLM_ROUTER_FORCE_MASKING":                        "tak",
		"LLM_ROUTER_MASKING_STRATEGY_PIPELINE":            "fast_masker, pii_masker",
		"LLM_ROUTER_MASKING_WITH_AUDIT":                   "1",
		"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST":              "yes",
		"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST":         "t",
		"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST":  "nask_guard,sojka_guard",
		"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE":             "Y",
		"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE": "sojka_guard",
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":               "simple_semantic_routing",
		"LLM_ROUTER_MASKER_PII_HOST":                      "http://pii:8000/",
		"LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST":            "http://guard:5000",
		"LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST":           " https://guard:5001 ",
		"LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS":    "7",
	}))
	if err != nil {
		t.Fatal(err)
	}
	want := plugins.Env{
		ForceMasking:              true,
		MaskingPipeline:           []string{"fast_masker", "pii_masker"},
		MaskingWithAudit:          true,
		ForceGuardrailRequest:     true,
		GuardrailAuditRequest:     true,
		GuardrailPipelineRequest:  []string{"nask_guard", "sojka_guard"},
		ForceGuardrailResponse:    true,
		GuardrailPipelineResponse: []string{"sojka_guard"},
		UtilsPipeline:             []string{"simple_semantic_routing"},
		PIIMaskerHost:             "http://pii:8000/",
		NaskGuardHost:             "http://guard:5000",
		SojkaGuardHost:            "https://guard:5001",
		MonitorInterval:           7 * time.Second,
	}
	if !reflect.DeepEqual(e, want) {
		t.Errorf("FromEnv =\n%+v\nwant\n%+v", e, want)
	}
}

func TestFromEnvDefaults(t *testing.T) {
	e, err := plugins.FromEnv(getenv(nil))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(e, plugins.Env{MonitorInterval: plugins.DefaultMonitorInterval}) {
		t.Errorf("FromEnv(empty) = %+v", e)
	}
	e, err = plugins.FromEnv(getenv(map[string]string{"LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS": "0"}))
	if err != nil || e.MonitorInterval != 0 {
		t.Errorf("interval 0: got %v, %v; want 0 (disabled)", e.MonitorInterval, err)
	}
}

func TestFromEnvRejects(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string // substrings of the error
	}{
		{"force masking without pipeline",
			map[string]string{"LLM_ROUTER_FORCE_MASKING": "true"},
			[]string{"LLM_ROUTER_FORCE_MASKING requires a non-empty LLM_ROUTER_MASKING_STRATEGY_PIPELINE"}},
		{"request audit without force",
			map[string]string{"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST": "1"},
			[]string{"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_REQUEST requires LLM_ROUTER_FORCE_GUARDRAIL_REQUEST"}},
		{"force request guard without pipeline",
			map[string]string{"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "1"},
			[]string{"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST requires a non-empty LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST"}},
		{"response audit without force",
			map[string]string{"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE": "1"},
			[]string{"LLM_ROUTER_GUARDRAIL_WITH_AUDIT_RESPONSE requires LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE"}},
		{"force response guard without pipeline",
			map[string]string{"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE": "1"},
			[]string{"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE requires a non-empty LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE"}},
		{"pii masker without host",
			map[string]string{"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "pii_masker"},
			[]string{"pii_masker in LLM_ROUTER_MASKING_STRATEGY_PIPELINE requires LLM_ROUTER_MASKER_PII_HOST"}},
		{"nask guard without host (response pipeline)",
			map[string]string{"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE": "nask_guard"},
			[]string{"nask_guard in LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE requires LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST"}},
		{"sojka guard without host",
			map[string]string{"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "sojka_guard"},
			[]string{"requires LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST"}},
		{"host not a URL",
			map[string]string{"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "sojka_guard",
				"LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST": "guard:5000"},
			[]string{"LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST: not an http(s) URL"}},
		{"guardrail in masker pipeline",
			map[string]string{"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "nask_guard",
				"LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST": "http://g"},
			[]string{"LLM_ROUTER_MASKING_STRATEGY_PIPELINE: nask_guard is a guardrail, not a masker"}},
		{"retrieval util in masker pipeline",
			map[string]string{"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "rag,semantic_routing"},
			[]string{"rag is a util, not a masker", "semantic_routing is a util, not a masker"}},
		{"interval not a number",
			map[string]string{"LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS": "5s"},
			[]string{`LLM_ROUTER_SERVICES_MONITOR_INTERVAL_SECONDS: "5s" is not a whole number`}},
		{"all errors at once",
			map[string]string{"LLM_ROUTER_FORCE_MASKING": "1", "LLM_ROUTER_FORCE_GUARDRAIL_REQUEST": "1"},
			[]string{"LLM_ROUTER_FORCE_MASKING requires", "LLM_ROUTER_FORCE_GUARDRAIL_REQUEST requires"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := plugins.FromEnv(getenv(tt.env))
			if err == nil {
				t.Fatal("FromEnv accepted the configuration")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestFromEnvAcceptsPipelinesWithoutForce(t *testing.T) {
	// A masker pipeline without FORCE_MASKING serves "anonymize": true requests.
	e, err := plugins.FromEnv(getenv(map[string]string{
		"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "fast_masker",
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":    "my_company_router",
	}))
	if err != nil {
		t.Fatal(err)
	}
	if e.ForceMasking || len(e.MaskingPipeline) != 1 {
		t.Errorf("got %+v", e)
	}
}
