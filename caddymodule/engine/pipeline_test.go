package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
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
		{"the client's mistake", fmt.Errorf("rag: %w", plugins.ErrInvalidRequest), http.StatusBadRequest},
		{"anything else", errors.New("boom"), http.StatusInternalServerError},
	}
	for _, tt := range tests {
		var ae *Error
		if err := pluginError(tt.err); !errors.As(err, &ae) || ae.Status != tt.status {
			t.Errorf("%s: pluginError = %v, want an API error with status %d", tt.name, err, tt.status)
		}
	}
}

// setBody keeps an unchanged body (and its decoded request), rescans a
// changed one, and drops the anonymize switch before the body goes on.
func TestSetBody(t *testing.T) {
	orig := []byte(`{"model":"m","messages":[{"role":"user","content":"a@b.pl"}]}`)
	withAnon := []byte(`{"model":"m","anonymize":true,"messages":[]}`)
	for _, tc := range []struct {
		name      string
		body      []byte
		next      func(b []byte) []byte
		want      string
		keepsCreq bool
	}{
		{"unchanged", orig, func(b []byte) []byte { return b }, string(orig), true},
		{"masked", orig, func([]byte) []byte { return []byte(`{"model":"m","messages":[{"role":"user","content":"{EMAIL_1}"}]}`) },
			`{"model":"m","messages":[{"role":"user","content":"{EMAIL_1}"}]}`, false},
		{"anonymize dropped", withAnon, func(b []byte) []byte { return b }, `{"model":"m","messages":[]}`, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			obj, err := jsonscan.Scan(tc.body)
			if err != nil {
				t.Fatal(err)
			}
			c := &chatCall{kind: kindOpenAIChat, body: tc.body, obj: obj, creq: &protocol.Request{}}
			if err := c.setBody(tc.next(tc.body), "anonymize"); err != nil {
				t.Fatal(err)
			}
			if string(c.body) != tc.want || string(c.obj.Doc) != tc.want || (c.creq != nil) != tc.keepsCreq {
				t.Fatalf("body %s, obj %s, decoded kept %v", c.body, c.obj.Doc, c.creq != nil)
			}
		})
	}
}
