package fastmasker

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/plugins"
)

func TestFastTextMaskEndpoint(t *testing.T) {
	mo := new(Module)
	if err := mo.Provision(caddy.Context{}); err != nil {
		t.Fatal(err)
	}
	eps := mo.Endpoints()
	if len(eps) != 1 || eps[0].Method != "POST" || eps[0].Path != "/fast_text_mask" || eps[0].Name != "fast_text_mask" {
		t.Fatalf("endpoints %+v", eps)
	}
	serve := eps[0].Serve
	tests := []struct {
		body      string
		want      map[string]any
		wantParam string
		wantMsg   string
	}{
		{body: `{"text":"Napisz do jan.kowalski@example.com"}`,
			want: map[string]any{"text": "Napisz do {EMAIL_1}", "mappings": map[string]string{"EMAIL_1": "jan.kowalski@example.com"}}},
		{body: `{"text":"nic"}`, want: map[string]any{"text": "nic", "mappings": map[string]string{}}},
		{body: `{"text":1}`, wantParam: "text", wantMsg: "'text' must be a string"},
		{body: `{}`, wantParam: "text", wantMsg: "'text' is required"},
		{body: "{\"text\":\"caf\xe9\"}", wantMsg: "invalid JSON body: malformed JSON at byte 12: invalid UTF-8 in a string (JSON text must be UTF-8)"},
	}
	for _, tt := range tests {
		got, err := serve(context.Background(), []byte(tt.body))
		if tt.wantMsg != "" {
			var ee *plugins.EndpointError
			if !errors.As(err, &ee) || ee.Status != 400 || ee.Param != tt.wantParam || ee.Msg != tt.wantMsg {
				t.Errorf("%s: err = %#v, want 400 %q %q", tt.body, err, tt.wantParam, tt.wantMsg)
			}
			continue
		}
		if err != nil || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: %v, %v; want %v", tt.body, got, err, tt.want)
		}
	}
}
