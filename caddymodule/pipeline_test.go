package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/llmrouter/llm-router/plugins"
)

// A pipeline step that failed never reads as one that passed: every
// failure is an answer, and a plugin service that is down refuses.
func TestPluginError(t *testing.T) {
	tests := []struct {
		name   string
		err    error
		status int
	}{
		{"service down", fmt.Errorf("mask: %w", plugins.ErrServiceUnavailable), http.StatusServiceUnavailable},
		{"client left mid-check", fmt.Errorf("guard: %w", context.Canceled), statusClientClosed},
		{"timed out", fmt.Errorf("guard: %w", context.DeadlineExceeded), http.StatusGatewayTimeout},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		var ae *apiError
		if err := pluginError(tt.err); !errors.As(err, &ae) || ae.Status != tt.status {
			t.Errorf("%s: pluginError = %v, want an API error with status %d", tt.name, err, tt.status)
		}
	}
}
