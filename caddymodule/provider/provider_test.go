package provider

import (
	"context"
	"errors"
	"net"
	"net/http"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

func TestURL(t *testing.T) {
	tests := []struct {
		host, apiType string
		op            Op
		want          string
	}{
		{"http://10.0.0.1:8000", config.APIVLLM, OpChat, "http://10.0.0.1:8000/v1/chat/completions"},
		{"http://10.0.0.1:8000/", config.APIVLLM, OpHealth, "http://10.0.0.1:8000/health"},
		{"http://10.0.0.1:8000/v1", config.APIVLLM, OpChat, "http://10.0.0.1:8000/v1/chat/completions"},
		{"http://10.0.0.1:8000/v1", config.APIVLLM, OpHealth, "http://10.0.0.1:8000/health"},
		{"https://generativelanguage.googleapis.com/v1beta/openai/", config.APIOpenAI, OpChat, "https://generativelanguage.googleapis.com/v1beta/openai/chat/completions"},
		{"https://api.openai.com", config.APIOpenAI, OpEmbeddings, "https://api.openai.com/v1/embeddings"},
		{"https://api.openai.com", config.APIOpenAI, OpResponses, "https://api.openai.com/v1/responses"},
		{"http://h:1234", config.APILMStudio, OpCompletions, "http://h:1234/v1/completions"},
		{"http://h:11434", config.APIOllama, OpChat, "http://h:11434/api/chat"},
		{"http://h:11434", config.APIOllama, OpCompletions, "http://h:11434/api/generate"},
		{"http://h:11434", config.APIOllama, OpEmbeddings, "http://h:11434/api/embed"},
		{"http://h:11434", config.APIOllama, OpHealth, "http://h:11434/api/version"},
		{"http://gw/ollama/", config.APIOllama, OpChat, "http://gw/ollama/api/chat"},
		{"https://api.anthropic.com", config.APIAnthropic, OpChat, "https://api.anthropic.com/v1/messages"},
	}
	for _, tt := range tests {
		u, err := New(&config.Provider{ID: "p", APIHost: tt.host, APIType: tt.apiType}, "", http.DefaultTransport)
		if err != nil {
			t.Fatal(err)
		}
		if got := u.URL(tt.op); got != tt.want {
			t.Errorf("%s %s op %d: %s, want %s", tt.apiType, tt.host, tt.op, got, tt.want)
		}
	}
}

func TestAuthorize(t *testing.T) {
	for _, tt := range []struct {
		apiType, token string
		want           map[string]string
	}{
		{config.APIOpenAI, "sk-1", map[string]string{"Authorization": "Bearer sk-1", "X-Api-Key": ""}},
		{config.APIOllama, "", map[string]string{"Authorization": ""}},
		{config.APIAnthropic, "ak-1", map[string]string{"X-Api-Key": "ak-1", "Anthropic-Version": AnthropicVersion, "Authorization": ""}},
	} {
		u, _ := New(&config.Provider{ID: "p", APIHost: "http://h", APIType: tt.apiType}, tt.token, http.DefaultTransport)
		req, err := u.NewRequest(context.Background(), http.MethodPost, OpChat, []byte("{}"))
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range tt.want {
			if got := req.Header.Get(k); got != v {
				t.Errorf("%s: %s = %q, want %q", tt.apiType, k, got, v)
			}
		}
	}
}

func TestClassify(t *testing.T) {
	live := context.Background()
	gone, cancel := context.WithCancel(context.Background())
	cancel()
	dial := &net.OpError{Op: "dial", Err: errors.New("connection refused")}
	for _, tt := range []struct {
		ctx  context.Context
		err  error
		want Failure
	}{
		{live, dial, Unreachable},
		{live, &net.DNSError{Err: "no such host"}, Unreachable},
		{live, context.DeadlineExceeded, Timeout},
		{live, ErrIdle, Timeout},
		{live, errors.New("unexpected EOF"), Broken},
		{gone, dial, Canceled},
	} {
		if got := Classify(tt.ctx, tt.err); got != tt.want {
			t.Errorf("Classify(%v) = %d, want %d", tt.err, got, tt.want)
		}
	}
}

func TestClientGone(t *testing.T) {
	live := context.Background()
	left, cancel := context.WithCancel(live)
	cancel()
	expired, cancel2 := context.WithTimeout(live, 0)
	defer cancel2()
	expiredChild, cancel3 := context.WithCancelCause(expired) // a call context under the request deadline
	defer cancel3(nil)
	tests := []struct {
		name string
		ctx  context.Context
		want bool
	}{
		{"live", live, false},
		{"client left", left, true},
		{"router deadline", expired, false},
		{"call under the router deadline", expiredChild, false},
	}
	for _, tt := range tests {
		if got := ClientGone(tt.ctx); got != tt.want {
			t.Errorf("%s: ClientGone = %v, want %v", tt.name, got, tt.want)
		}
	}
}
