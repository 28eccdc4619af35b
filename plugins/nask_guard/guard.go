// Package naskguard is the nask_guard plugin: a guardrail backed by the
// NASK-PIB/HerBERT-PL-Guard classifier of llm-router-services
// (POST <host>/api/guardrails/nask_guard, decision in results.safe).
package naskguard

import (
	"net/http"
	"time"

	"github.com/llmrouter/llm-router/plugins"
	"github.com/llmrouter/llm-router/plugins/httpguard"
)

// Name is the plugin name in pipelines.
const Name = "nask_guard"

// HostEnv is the variable of the original router holding the service host.
const HostEnv = plugins.EnvNaskGuardHost

// Config configures the guardrail client.
type Config struct {
	// Host is the service base URL.
	Host string
	// Timeout bounds one call; 0 means plugins.DefaultServiceTimeout.
	Timeout time.Duration
	// FailOpen lets requests pass unchecked while the service is unavailable.
	FailOpen bool
	// Client overrides the HTTP client (tests).
	Client *http.Client
}

// New builds the guardrail client.
func New(cfg Config) (*plugins.HTTPGuardrail, error) {
	return httpguard.New(httpguard.Config{Name: Name, Host: cfg.Host, Timeout: cfg.Timeout, FailOpen: cfg.FailOpen, Client: cfg.Client})
}
