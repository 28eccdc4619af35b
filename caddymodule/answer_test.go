package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestMaxResponseBodyCaddyfile(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		bad  bool
	}{
		{"llm_router {\nmax_response_body 16MiB\n}", 16 << 20, false},
		{"llm_router {\nmax_response_body 1048576\n}", 1 << 20, false},
		{"llm_router {\n}", 0, false}, // default applied at provisioning
		{"llm_router {\nmax_response_body\n}", 0, true},
		{"llm_router {\nmax_response_body lots\n}", 0, true},
		{"llm_router {\nmax_response_body 0\n}", 0, true},
	}
	for _, tt := range tests {
		var a App
		err := a.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tt.in))
		if (err != nil) != tt.bad {
			t.Errorf("%q: err %v, want error %v", tt.in, err, tt.bad)
			continue
		}
		if !tt.bad && a.MaxResponseBody != tt.want {
			t.Errorf("%q: MaxResponseBody = %d, want %d", tt.in, a.MaxResponseBody, tt.want)
		}
	}
}
