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

// A non-streamed answer is relayed only when it is one well-formed JSON
// object; its usage is read in the same pass.
func TestAnswerUsage(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		in, out int
		bad     bool
	}{
		{"openai", `{"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}`, 7, 3, false},
		{"anthropic", `{"type":"message","usage":{"input_tokens":5,"output_tokens":9}}`, 5, 9, false},
		{"ollama", `{"message":{"role":"assistant","content":"hi"},"done":true,"prompt_eval_count":12,"eval_count":30}`, 12, 30, false},
		{"no usage", `{"object":"list","data":[]}`, 0, 0, false},
		{"html", `<html><body>502 Bad Gateway</body></html>`, 0, 0, true},
		{"broken", `{not json`, 0, 0, true},
		{"cut", `{"id":"c","choices":[{"message":{"content":"hel`, 0, 0, true},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 0, 0, true},
		{"trailing data", `{"id":"c"} {"id":"d"}`, 0, 0, true},
		{"array", `[{"id":"c"}]`, 0, 0, true},
		{"empty", ``, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := answerUsage([]byte(tt.doc))
			if (err != nil) != tt.bad {
				t.Fatalf("err %v, want error %v", err, tt.bad)
			}
			if u.Input != tt.in || u.Output != tt.out {
				t.Fatalf("usage %+v, want %d/%d", u, tt.in, tt.out)
			}
		})
	}
}

func BenchmarkAnswerUsage(b *testing.B) {
	doc := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today? I am a fast fake model."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := answerUsage(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUsageFromJSON(b *testing.B) {
	doc := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today? I am a fast fake model."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`)
	b.ReportAllocs()
	for b.Loop() {
		usageFromJSON(doc)
	}
}
