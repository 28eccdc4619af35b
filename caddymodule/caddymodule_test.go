package caddymodule

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	_ "github.com/llmrouter/llm-router/caddymodule/balance"
	_ "github.com/llmrouter/llm-router/plugins/fast_masker"
	_ "github.com/llmrouter/llm-router/plugins/nask_guard"
	_ "github.com/llmrouter/llm-router/plugins/simple_semantic_routing"
	_ "github.com/llmrouter/llm-router/plugins/sojka_guard"
)

func TestAppCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`llm_router {
		models_config /etc/llm-router/models-config.json
		connect_timeout 5s
		external_timeout 300
		strategy first_available
		model_strategy llama first_available 30s
		masker fast_masker {
			disable DATE
		}
		guardrail request nask_guard http://guard:5000
		guardrail response sojka_guard
		util simple_semantic_routing
		force_masking
		queue_timeout 30s
		cooldown off
		cooldown_failures 5
		cooldown_window 2m
		monitor_interval 7
		redis 10.0.0.9 {
			port 6380
			db 2
			password {env.REDIS_PW}
		}
	}`)
	var a App
	if err := a.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if a.ModelsConfig != "/etc/llm-router/models-config.json" || a.ConnectTimeout != caddy.Duration(5*time.Second) ||
		a.ExternalTimeout != caddy.Duration(300*time.Second) || a.Strategy != "first_available" ||
		!strings.Contains(string(a.ModelStrategies["llama"]), `"policy":"first_available"`) || a.QueueTimeout != caddy.Duration(30*time.Second) || a.Cooldown >= 0 {
		t.Fatalf("parsed %+v", a)
	}
	if a.CooldownFailures != 5 || a.CooldownWindow != caddy.Duration(2*time.Minute) {
		t.Fatalf("passive health: %d failures, window %v", a.CooldownFailures, time.Duration(a.CooldownWindow))
	}
	if a.MonitorInterval != caddy.Duration(7*time.Second) {
		t.Fatalf("monitor_interval = %v, want 7s", time.Duration(a.MonitorInterval))
	}
	if len(a.MaskersRaw) != 1 || !strings.Contains(string(a.MaskersRaw[0]), `"masker":"fast_masker"`) || !strings.Contains(string(a.MaskersRaw[0]), "DATE") ||
		len(a.RequestGuardrailsRaw) != 1 || !strings.Contains(string(a.RequestGuardrailsRaw[0]), "http://guard:5000") ||
		len(a.ResponseGuardrailsRaw) != 1 || len(a.UtilsRaw) != 1 || !a.ForceMasking {
		t.Fatalf("plugins %s %s %s %s", a.MaskersRaw, a.RequestGuardrailsRaw, a.ResponseGuardrailsRaw, a.UtilsRaw)
	}
	if a.Redis == nil || a.Redis.Host != "10.0.0.9" || a.Redis.Port != 6380 || a.Redis.DB != 2 || a.Redis.Password != "{env.REDIS_PW}" {
		t.Fatalf("redis %+v", a.Redis)
	}
	for _, tc := range []struct {
		in   string
		want RedisOptions
	}{
		{"llm_router {\n redis {\n sentinels 10.0.0.1:26379,10.0.0.2:26379 10.0.0.3:26379\n master_name mymaster\n db 1\n }\n }",
			RedisOptions{Port: 6379, DB: 1, Sentinels: []string{"10.0.0.1:26379", "10.0.0.2:26379", "10.0.0.3:26379"}, MasterName: "mymaster"}},
		{"llm_router {\n redis {\n cluster 10.0.0.1:7000 10.0.0.2:7000\n password pw\n tls\n }\n }",
			RedisOptions{Port: 6379, Password: "pw", TLS: true, Cluster: []string{"10.0.0.1:7000", "10.0.0.2:7000"}}},
	} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in)); err != nil {
			t.Fatal(err)
		}
		if a.Redis == nil || fmt.Sprint(*a.Redis) != fmt.Sprint(tc.want) {
			t.Errorf("%s: redis %+v, want %+v", tc.in, a.Redis, tc.want)
		}
	}
	for _, bad := range []string{"llm_router { nope 1 }", "llm_router { guardrail middle nask_guard }", "llm_router { masker no_such_masker }", "llm_router { external_timeout soon }", "llm_router extra",
		"llm_router { cooldown_failures 0 }", "llm_router { cooldown_failures many }", "llm_router { cooldown_window -1 }"} {
		var a App
		if err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(bad)); err == nil {
			t.Errorf("%q: want an error", bad)
		}
	}
}

func TestHandlerCaddyfile(t *testing.T) {
	d := caddyfile.NewTestDispenser(`llm_router {
		prefix none
		max_request_body 4KiB
		request_timeout 90
		default_language en
		metrics
		allow_prompt_control
		rag_collection handbook
		auth on {
			keys_file /etc/llm-router/keys.json
		}
	}`)
	var h Handler
	if err := h.UnmarshalCaddyfile(d); err != nil {
		t.Fatal(err)
	}
	if h.Prefix == nil || normalizePrefix(*h.Prefix) != "" || h.MaxRequestBody != 4096 || h.RequestTimeout != caddy.Duration(90*time.Second) ||
		h.DefaultLanguage != "en" || !h.Metrics || !h.AllowPromptControl || h.RAGCollection != "handbook" || h.Auth == nil || !h.Auth.Enabled || h.Auth.KeysFile != "/etc/llm-router/keys.json" {
		t.Fatalf("parsed %+v", h)
	}
	// An environment placeholder that expanded to nothing keeps the default.
	var e Handler
	if err := e.UnmarshalCaddyfile(caddyfile.NewTestDispenser("llm_router {\nprompts_dir\n}")); err != nil || e.PromptsDir != "" {
		t.Fatalf("empty prompts_dir: %v", err)
	}
}

func TestNormalizePrefix(t *testing.T) {
	for in, want := range map[string]string{"/api": "/api", "api/": "/api", "/": "", "none": "", "": "", "/v2/api/": "/v2/api"} {
		if got := normalizePrefix(in); got != want {
			t.Errorf("normalizePrefix(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestAppCaddyfileUnknownStrategy(t *testing.T) {
	d := caddyfile.NewTestDispenser("llm_router {\n\tstrategy fastest\n}")
	var a App
	err := a.UnmarshalCaddyfile(d)
	if err == nil || !strings.Contains(err.Error(), `unknown balance strategy "fastest"`) || !strings.Contains(err.Error(), "Testfile:2") {
		t.Fatalf("err = %v, want the strategy named with file and line", err)
	}
}

func TestAppCaddyfileModelsConfigHash(t *testing.T) {
	path := filepath.Join(t.TempDir(), "models-config.json")
	parse := func() App {
		t.Helper()
		var a App
		d := caddyfile.NewTestDispenser("llm_router {\n\tmodels_config " + path + "\n\tstrict_models_config\n}")
		if err := a.UnmarshalCaddyfile(d); err != nil {
			t.Fatal(err)
		}
		return a
	}
	if err := os.WriteFile(path, []byte(`{"active_models": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	first := parse()
	if first.ModelsConfigHash == "" || !first.StrictModelsConfig {
		t.Fatalf("parsed %+v: want a hash and strict", first)
	}
	if again := parse(); again.ModelsConfigHash != first.ModelsConfigHash {
		t.Fatal("the same file must give the same hash")
	}
	if err := os.WriteFile(path, []byte(`{"active_models": {}, "g": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if changed := parse(); changed.ModelsConfigHash == first.ModelsConfigHash {
		t.Fatal("a changed models-config must change the adapted config, or Caddy skips the reload")
	}
}
