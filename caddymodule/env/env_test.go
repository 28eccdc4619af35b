package env

import (
	"reflect"
	"testing"
	"time"
)

func getenv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestRead(t *testing.T) {
	tests := []struct {
		name string
		vars map[string]string
		want func(Vars) any
		exp  any
	}{
		{"redis port defaults to 6379", nil, func(v Vars) any { return v.Redis.Port }, 6379},
		{"redis host, port, db, password", map[string]string{RedisHost: "r", RedisPort: " 6380 ", RedisDB: "2", RedisPassword: "pw"},
			func(v Vars) any { return [4]any{v.Redis.Host, v.Redis.Port, v.Redis.DB, v.Redis.Password} }, [4]any{"r", 6380, 2, "pw"}},
		{"redis sentinels and master", map[string]string{RedisSentinels: "a:1, b:2", RedisMasterName: " m "},
			func(v Vars) any { return [2]any{v.Redis.Sentinels, v.Redis.MasterName} }, [2]any{[]string{"a:1", "b:2"}, "m"}},
		{"redis tls true", map[string]string{RedisTLS: "TRUE"}, func(v Vars) any { return v.Redis.TLS }, true},
		{"redis tls 1", map[string]string{RedisTLS: "1"}, func(v Vars) any { return v.Redis.TLS }, true},
		{"redis tls yes is not tls", map[string]string{RedisTLS: "yes"}, func(v Vars) any { return v.Redis.TLS }, false},
		{"bad redis port", map[string]string{RedisPort: "x"}, func(v Vars) any { return errText(v.Redis.Err) },
			`LLM_ROUTER_REDIS_PORT: "x" is not a number`},
		{"bad redis db", map[string]string{RedisDB: " y "}, func(v Vars) any { return errText(v.Redis.Err) },
			`LLM_ROUTER_REDIS_DB: "y" is not a number`},
		{"monitor interval unset", nil, func(v Vars) any { return v.ProviderMonitorInterval }, Seconds{}},
		{"monitor interval fractional", map[string]string{ProviderMonitorInterval: "1.5"},
			func(v Vars) any { return v.ProviderMonitorInterval }, Seconds{Set: true, Value: 1500 * time.Millisecond}},
		{"bad monitor interval", map[string]string{ProviderMonitorInterval: "soon"},
			func(v Vars) any { return errText(v.ProviderMonitorInterval.Err) },
			`LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS: "soon" is not a number`},
		{"auth truthy tak", map[string]string{AuthEnabled: "Tak"}, func(v Vars) any { return v.Auth.Enabled }, true},
		{"auth not truthy", map[string]string{AuthEnabled: "no"}, func(v Vars) any { return v.Auth.Enabled }, false},
		{"auth store lower-cased", map[string]string{AuthKeyStore: "Redis", AuthKeysFile: "/k.json"},
			func(v Vars) any { return [2]string{v.Auth.KeyStore, v.Auth.KeysFile} }, [2]string{"redis", "/k.json"}},
		{"prometheus y", map[string]string{UsePrometheus: "y"}, func(v Vars) any { return v.UsePrometheus }, true},
		{"strings as given", map[string]string{ModelsConfig: "/m.json", BalanceStrategy: "weighted", AuditDir: "/a", AuditPublicKey: "/k.asc"},
			func(v Vars) any { return [4]string{v.ModelsConfig, v.BalanceStrategy, v.AuditDir, v.AuditPublicKey} },
			[4]string{"/m.json", "weighted", "/a", "/k.asc"}},
		{"plugin variables", map[string]string{"LLM_ROUTER_FORCE_MASKING": "1", "LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "fast_masker"},
			func(v Vars) any { return [3]any{v.Plugins.ForceMasking, v.Plugins.MaskingPipeline, v.PluginsErr} },
			[3]any{true, []string{"fast_masker"}, nil}},
		{"plugin error kept", map[string]string{"LLM_ROUTER_FORCE_MASKING": "1"}, func(v Vars) any { return errText(v.PluginsErr) },
			"LLM_ROUTER_FORCE_MASKING requires a non-empty LLM_ROUTER_MASKING_STRATEGY_PIPELINE"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := tc.want(Read(getenv(tc.vars))); !reflect.DeepEqual(got, tc.exp) {
				t.Errorf("got %#v, want %#v", got, tc.exp)
			}
		})
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func TestSwitch(t *testing.T) {
	for _, tc := range []struct {
		in     string
		on, ok bool
	}{
		{"on", true, true}, {" YES ", true, true}, {"1", true, true}, {"t", true, true},
		{"off", false, true}, {"No", false, true}, {"", false, true}, {"0", false, true},
		{"maybe", false, false}, {"tak", false, false},
	} {
		if on, ok := Switch(tc.in); on != tc.on || ok != tc.ok {
			t.Errorf("Switch(%q) = %v, %v; want %v, %v", tc.in, on, ok, tc.on, tc.ok)
		}
	}
}
