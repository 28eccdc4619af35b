package bodytext

import (
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

// benchBody is a typical chat request: a system prompt, a few turns, a
// tool call and its result.
var benchBody = []byte(`{"model":"m","stream":false,"temperature":0.2,"tools":[{"type":"function","function":{"name":"send_mail","parameters":{"type":"object","properties":{"to":{"type":"string"}}}}}],"messages":[
{"role":"system","content":"You are a helpful assistant. Answer briefly and in Polish."},
{"role":"user","content":"Napisz do jan.kowalski@example.com, że spotkanie jest jutro o 10, mój telefon 601 234 567."},
{"role":"assistant","content":null,"tool_calls":[{"id":"call_1","type":"function","function":{"name":"send_mail","arguments":"{\"to\":\"jan.kowalski@example.com\",\"body\":\"Spotkanie jutro o 10\"}"}}]},
{"role":"tool","tool_call_id":"call_1","content":"sent"},
{"role":"user","content":"Dzięki, a teraz podsumuj rozmowę."}]}`)

func mask(texts []string) []string {
	out := make([]string, len(texts))
	for i, s := range texts {
		out[i] = strings.ReplaceAll(s, "jan.kowalski@example.com", "{EMAIL_1}")
	}
	return out
}

// BenchmarkMaskEdit compares writing masked texts back into the body in
// place with the decode → VisitTexts → encode round the passthrough used
// before.
func BenchmarkMaskEdit(b *testing.B) {
	b.Run("in-place", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			bt, err := Find("openai-chat", benchBody)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := bt.Replace(mask(bt.Texts())); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode-encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			r, err := openai.Chat{}.DecodeRequest(benchBody)
			if err != nil {
				b.Fatal(err)
			}
			masked := mask(r.Texts())
			i := 0
			r.VisitTexts(func(s *string) { *s = masked[i]; i++ })
			if _, err := (openai.Chat{}).EncodeRequest(r); err != nil {
				b.Fatal(err)
			}
		}
	})
}
