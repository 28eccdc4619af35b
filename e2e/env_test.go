package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// The LLM_ROUTER_* variables the modules read: a bad number refuses to
// start with a message naming the variable, and a Caddyfile option still
// hides a bad variable (so does a Redis port without a Redis host).
func TestEnvVariablesAtStartup(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	models := modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}})
	tests := []struct {
		name    string
		env     map[string]string
		global  string
		wantErr string // "" = starts and answers /api/ping
	}{
		{name: "bad redis port", env: map[string]string{"LLM_ROUTER_REDIS_HOST": "127.0.0.1", "LLM_ROUTER_REDIS_PORT": "x"},
			wantErr: `LLM_ROUTER_REDIS_PORT: \"x\" is not a number`},
		{name: "bad redis db", env: map[string]string{"LLM_ROUTER_REDIS_HOST": "127.0.0.1", "LLM_ROUTER_REDIS_DB": "one"},
			wantErr: `LLM_ROUTER_REDIS_DB: \"one\" is not a number`},
		{name: "master name without sentinels", env: map[string]string{"LLM_ROUTER_REDIS_MASTER_NAME": "mymaster"},
			wantErr: "LLM_ROUTER_REDIS_MASTER_NAME is set but LLM_ROUTER_REDIS_SENTINELS is empty"},
		{name: "redis port without a host is unused", env: map[string]string{"LLM_ROUTER_REDIS_PORT": "x"}},
		{name: "bad monitor interval", env: map[string]string{"LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "soon"},
			wantErr: `LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS: \"soon\" is not a number`},
		{name: "monitor_interval option hides the variable", env: map[string]string{"LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS": "soon"},
			global: "\t\tmonitor_interval 2s"},
		{name: "unknown balance strategy", env: map[string]string{"LLM_ROUTER_BALANCE_STRATEGY": "fastest"}, wantErr: "strategy: "},
		{name: "strategy option hides the variable", env: map[string]string{"LLM_ROUTER_BALANCE_STRATEGY": "fastest"},
			global: "\t\tstrategy weighted"},
		{name: "forced masking without a pipeline", env: map[string]string{"LLM_ROUTER_FORCE_MASKING": "tak"},
			wantErr: "LLM_ROUTER_FORCE_MASKING requires a non-empty LLM_ROUTER_MASKING_STRATEGY_PIPELINE"},
		{name: "audit dir without a key", env: map[string]string{"LLM_ROUTER_AUDIT_DIR": t.TempDir()},
			wantErr: "LLM_ROUTER_AUDIT_PUBLIC_KEY (an armored OpenPGP public key file) is required"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := startRouter(t, routerOpts{models: models, global: tc.global, env: tc.env, noWait: tc.wantErr != ""})
			if tc.wantErr == "" {
				if code, _, body := do(t, "GET", r.Base()+"/api/ping", "", nil); code != 200 {
					t.Fatalf("ping: %d %s", code, body)
				}
				return
			}
			err, exited := r.wait(30 * time.Second)
			if !exited {
				t.Fatalf("llm-router kept running; want it to refuse with %q\n%s", tc.wantErr, r.logs)
			}
			if err == nil || !strings.Contains(r.logs.String(), tc.wantErr) {
				t.Fatalf("exit %v; want the log to say %q:\n%s", err, tc.wantErr, r.logs)
			}
		})
	}
}
