// Package env reads the original router's LLM_ROUTER_* variables that the
// router's Caddy modules honour, in one place: each Provision calls Read
// once and takes its defaults from the typed Vars. A Caddyfile option
// always wins over its variable; that choice stays with the module.
//
// Not read here: the variables of the embedded Caddyfile (server address,
// prefix, timeouts, log level, CORS, …), which it reads as {$VAR}
// placeholders, and the plugin service hosts, which the plugin modules
// default to {env.VAR} placeholders.
package env

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/rdb"
	"github.com/llmrouter/llm-router/plugins"
)

// Names of the variables read by Read, besides the plugin variables
// (plugins.Env*).
const (
	ModelsConfig            = "LLM_ROUTER_MODELS_CONFIG"
	BalanceStrategy         = "LLM_ROUTER_BALANCE_STRATEGY"
	ProviderMonitorInterval = "LLM_ROUTER_PROVIDER_MONITOR_INTERVAL_SECONDS"
	RedisHost               = "LLM_ROUTER_REDIS_HOST"
	RedisPort               = "LLM_ROUTER_REDIS_PORT"
	RedisPassword           = "LLM_ROUTER_REDIS_PASSWORD"
	RedisDB                 = "LLM_ROUTER_REDIS_DB"
	RedisTLS                = "LLM_ROUTER_REDIS_TLS"
	RedisSentinels          = "LLM_ROUTER_REDIS_SENTINELS"
	RedisMasterName         = "LLM_ROUTER_REDIS_MASTER_NAME"
	RedisCluster            = "LLM_ROUTER_REDIS_CLUSTER"
	AuditDir                = "LLM_ROUTER_AUDIT_DIR"
	AuditPublicKey          = "LLM_ROUTER_AUDIT_PUBLIC_KEY"
	AuthEnabled             = "LLM_ROUTER_AUTH_ENABLED"
	AuthKeysFile            = "LLM_ROUTER_AUTH_KEYS_FILE"
	AuthKeyStore            = "LLM_ROUTER_AUTH_KEY_STORE"
	UsePrometheus           = "LLM_ROUTER_USE_PROMETHEUS"
)

// DefaultRedisPort is the Redis port when LLM_ROUTER_REDIS_PORT is unset.
const DefaultRedisPort = 6379

// Vars holds the variables, read once. A value that does not parse is
// kept as an error beside its field, reported only by the module that
// falls back on that variable (so a Caddyfile option still hides a bad
// variable, as it always has).
type Vars struct {
	// ModelsConfig is the models-config file; "" when unset.
	ModelsConfig string
	// BalanceStrategy is the default balancing strategy; "" when unset.
	BalanceStrategy string
	// ProviderMonitorInterval is the provider probe period.
	ProviderMonitorInterval Seconds
	// Redis locates the shared Redis.
	Redis Redis
	// AuditDir and AuditPublicKey configure the audit log; "" when unset.
	AuditDir, AuditPublicKey string
	// Auth configures API keys.
	Auth Auth
	// UsePrometheus serves GET /metrics on the site.
	UsePrometheus bool
	// Plugins are the plugin pipeline variables; PluginsErr says what
	// is wrong with them (plugins.FromEnv).
	Plugins    plugins.Env
	PluginsErr error
}

// Seconds is a variable holding a (fractional) number of seconds.
type Seconds struct {
	Set   bool          // the variable is not empty
	Value time.Duration // its value, when it parses
	Err   error         // it is not a number
}

// Redis holds the LLM_ROUTER_REDIS_* variables.
type Redis struct {
	Host       string
	Port       int // DefaultRedisPort when unset
	Password   string
	DB         int
	TLS        bool // "true" (any case) or "1"
	Sentinels  []string
	MasterName string
	Cluster    []string
	// Err reports a port or db that is not a number.
	Err error
}

// Auth holds the LLM_ROUTER_AUTH_* variables.
type Auth struct {
	Enabled  bool
	KeysFile string
	// KeyStore is the store's name in lower case ("" when unset).
	KeyStore string
}

// Read reads every variable through getenv (os.Getenv in production).
// It never fails: parse errors stay beside their fields.
func Read(getenv func(string) string) Vars {
	v := Vars{
		ModelsConfig:            getenv(ModelsConfig),
		BalanceStrategy:         getenv(BalanceStrategy),
		ProviderMonitorInterval: readSeconds(getenv, ProviderMonitorInterval),
		Redis:                   readRedis(getenv),
		AuditDir:                getenv(AuditDir),
		AuditPublicKey:          getenv(AuditPublicKey),
		Auth: Auth{
			Enabled:  plugins.Truthy(getenv(AuthEnabled)),
			KeysFile: getenv(AuthKeysFile),
			KeyStore: strings.ToLower(getenv(AuthKeyStore)),
		},
		UsePrometheus: plugins.Truthy(getenv(UsePrometheus)),
	}
	v.Plugins, v.PluginsErr = plugins.FromEnv(getenv)
	return v
}

func readSeconds(getenv func(string) string, name string) Seconds {
	raw := getenv(name)
	if raw == "" {
		return Seconds{}
	}
	n, err := strconv.ParseFloat(raw, 64)
	if err != nil {
		return Seconds{Set: true, Err: fmt.Errorf("%s: %q is not a number", name, raw)}
	}
	return Seconds{Set: true, Value: time.Duration(n * float64(time.Second))}
}

func readRedis(getenv func(string) string) Redis {
	r := Redis{
		Host:       getenv(RedisHost),
		Port:       DefaultRedisPort,
		Password:   getenv(RedisPassword),
		TLS:        strings.EqualFold(getenv(RedisTLS), "true") || getenv(RedisTLS) == "1",
		Sentinels:  rdb.ParseAddrs(getenv(RedisSentinels)),
		MasterName: strings.TrimSpace(getenv(RedisMasterName)),
		Cluster:    rdb.ParseAddrs(getenv(RedisCluster)),
	}
	for _, f := range []struct {
		name string
		dst  *int
	}{{RedisPort, &r.Port}, {RedisDB, &r.DB}} {
		if s := strings.TrimSpace(getenv(f.name)); s != "" {
			n, err := strconv.Atoi(s)
			if err != nil {
				r.Err = fmt.Errorf("%s: %q is not a number", f.name, s)
				break
			}
			*f.dst = n
		}
	}
	return r
}

// Switch reads an on/off word the way the original LLM_ROUTER_* switches
// are read (true/1/yes/t/on/y, false/0/no/f/off/n or empty, any case); ok
// is false for any other word.
func Switch(s string) (on, ok bool) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "true", "1", "yes", "t", "on", "y":
		return true, true
	case "false", "0", "no", "f", "off", "n", "":
		return false, true
	}
	return false, false
}
