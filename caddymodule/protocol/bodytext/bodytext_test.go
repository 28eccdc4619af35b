package bodytext

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// secret is planted in every place a model reads; replacing every text
// that contains it must leave none behind.
const secret = "jan@example.com"

func TestFindAndReplace(t *testing.T) {
	for _, tc := range []struct {
		name    string
		dialect protocol.Dialect
		body    string
		texts   int      // texts holding the secret
		args    []string // JSON paths, in the rewritten body, of arguments that must stay JSON strings holding JSON
	}{
		{"openai chat", protocol.OpenAIChat, `{"model":"m","messages":[
			{"role":"system","content":"sys jan@example.com"},
			{"role":"developer","content":[{"type":"text","text":"dev jan@example.com"}]},
			{"role":"user","content":[{"type":"text","text":"u jan@example.com"},{"type":"image_url","image_url":{"url":"https://x/jan@example.com.png"}}]},
			{"role":"assistant","content":null,"refusal":"r jan@example.com","tool_calls":[{"id":"c1","type":"function","function":{"name":"send","arguments":"{\"to\":\"jan@example.com\",\"n\":1,\"cc\":[\"jan@example.com\"]}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"sent to jan@example.com"},
			{"role":"tool","tool_call_id":"c1","content":[{"type":"text","text":"jan@example.com"}]},
			{"role":"assistant","function_call":{"name":"f","arguments":"not json jan@example.com"}},
			{"role":"user","cont\u0065nt":"escaped key jan@example.com"}]}`, 10, nil},
		{"legacy completions", protocol.OpenAICompletions, `{"model":"m","prompt":["a jan@example.com",[1,2]],"suffix":"jan@example.com"}`, 2, nil},
		{"responses", protocol.OpenAIResponses, `{"model":"m","instructions":"i jan@example.com","input":[
			{"role":"user","content":"u jan@example.com"},
			{"type":"message","role":"user","content":[{"type":"input_text","text":"t jan@example.com"},{"type":"input_image","image_url":"data:x"}]},
			{"type":"message","role":"assistant","content":[{"type":"output_text","text":"o jan@example.com"}]},
			{"type":"function_call","call_id":"c","name":"send","arguments":"{\"to\":\"jan@example.com\"}"},
			{"type":"function_call_output","call_id":"c","output":"out jan@example.com"},
			{"type":"function_call_output","call_id":"c","output":[{"type":"input_text","text":"out2 jan@example.com"}]},
			{"type":"reasoning","summary":[{"type":"summary_text","text":"kept"}]}]}`, 7, nil},
		{"responses string input", protocol.OpenAIResponses, `{"model":"m","input":"jan@example.com"}`, 1, nil},
		{"anthropic", protocol.Anthropic, `{"model":"m","max_tokens":5,"system":[{"type":"text","text":"s jan@example.com"}],"messages":[
			{"role":"user","content":"u jan@example.com"},
			{"role":"assistant","content":[{"type":"thinking","thinking":"kept","signature":"sig"},{"type":"text","text":"a jan@example.com"},{"type":"tool_use","id":"t","name":"send","input":{"to":"jan@example.com","n":2,"deep":{"x":["jan@example.com"]}}}]},
			{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r jan@example.com"},{"type":"tool_result","tool_use_id":"t","content":[{"type":"text","text":"rb jan@example.com"}]},
			{"type":"document","source":{"type":"text","media_type":"text/plain","data":"doc jan@example.com"}}]}]}`, 8, nil},
		{"anthropic document and search result titles", protocol.Anthropic, `{"model":"m","max_tokens":5,"messages":[
			{"role":"user","content":[{"type":"document","title":"t jan@example.com","context":"c jan@example.com","source":{"type":"text","media_type":"text/plain","data":"d"}},
			{"type":"search_result","source":"https://x/jan@example.com.png","title":"s jan@example.com","content":[{"type":"text","text":"r"}]}]}]}`, 3, nil},
		{"anthropic string system", protocol.Anthropic, `{"model":"m","system":"jan@example.com","messages":[]}`, 1, nil},
		{"ollama chat", protocol.OllamaChat, `{"model":"m","messages":[
			{"role":"system","content":"s jan@example.com"},
			{"role":"assistant","content":"","thinking":"kept","tool_calls":[{"function":{"name":"send","arguments":{"to":"jan@example.com"}}}]},
			{"role":"tool","content":"r jan@example.com","tool_name":"send"}]}`, 3, nil},
		{"ollama generate", protocol.OllamaGenerate, `{"model":"m","prompt":"p jan@example.com","system":"s jan@example.com","images":["aGk="]}`, 2, nil},
		{"openai embeddings", protocol.OpenAIEmbeddings, `{"model":"m","input":["jan@example.com","b"]}`, 1, nil},
		{"ollama embed", protocol.OllamaEmbed, `{"model":"m","input":"jan@example.com"}`, 1, nil},
		{"ollama embeddings", protocol.OllamaEmbeddings, `{"model":"m","prompt":"jan@example.com"}`, 1, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := Find(tc.dialect, []byte(tc.body))
			if err != nil {
				t.Fatal(err)
			}
			masked := make([]string, len(b.Texts()))
			n := 0
			for i, s := range b.Texts() {
				if strings.Contains(s, secret) {
					n++
				}
				masked[i] = strings.ReplaceAll(s, secret, "{{EMAIL}}")
			}
			if n != tc.texts {
				t.Errorf("%d texts hold the secret, want %d: %q", n, tc.texts, b.Texts())
			}
			out, err := b.Replace(masked)
			if err != nil {
				t.Fatal(err)
			}
			// Only the image URL may keep it: a URL is not text.
			rest := strings.ReplaceAll(string(out), "https://x/jan@example.com.png", "")
			if strings.Contains(rest, secret) {
				t.Fatalf("the secret survived: %s", out)
			}
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("rewritten body is not JSON: %v\n%s", err, out)
			}
			for _, kept := range []string{`"kept"`, `"model":"m"`} {
				if strings.Contains(tc.body, kept) && !strings.Contains(string(out), kept) {
					t.Errorf("%s changed: %s", kept, out)
				}
			}
			// Arguments that were JSON in a string are JSON in a string still.
			var args []string
			collectArgs(v, &args)
			for _, a := range args {
				if strings.HasPrefix(a, "{") && !json.Valid([]byte(a)) {
					t.Errorf("arguments no longer JSON: %s", a)
				}
			}
			same, err := b.Replace(b.Texts())
			if err != nil || string(same) != tc.body {
				t.Errorf("replacing with the same texts changed the body: %v", err)
			}
		})
	}
}

func collectArgs(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "arguments" {
				*out = append(*out, s)
			}
			collectArgs(e, out)
		}
	case []any:
		for _, e := range x {
			collectArgs(e, out)
		}
	}
}

func TestReplaceCount(t *testing.T) {
	b, err := Find(protocol.OllamaGenerate, []byte(`{"prompt":"a"}`))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Replace(nil); err == nil {
		t.Fatal("a wrong number of texts was accepted")
	}
	if _, err := Find("nope", []byte(`{}`)); err == nil {
		t.Fatal("an unknown dialect was accepted")
	}
}

// Content blocks nested past any real shape are refused rather than
// scanned again at every level.
func TestNestedBlocksBounded(t *testing.T) {
	deep := `"x"`
	for range 20 {
		deep = `[{"type":"tool_result","content":` + deep + `}]`
	}
	if _, err := Find(protocol.Anthropic, []byte(`{"messages":[{"role":"user","content":`+deep+`}]}`)); err == nil {
		t.Fatal("20 levels of blocks were accepted")
	}
	ok := `[{"type":"tool_result","tool_use_id":"t","content":[{"type":"search_result","content":[{"type":"text","text":"x"}]}]}]`
	b, err := Find(protocol.Anthropic, []byte(`{"messages":[{"role":"user","content":`+ok+`}]}`))
	if err != nil || len(b.Texts()) != 1 {
		t.Fatalf("real nesting: %v %q", err, b.Texts())
	}
}

// Any JSON object: Find does not panic, and replacing every text keeps the
// body valid JSON.
func FuzzFind(f *testing.F) {
	f.Add(`{"messages":[{"role":"user","content":"a"},{"role":"assistant","tool_calls":[{"function":{"arguments":"{\"x\":\"y\"}"}}]}]}`)
	f.Add(`{"system":[{"type":"text","text":"s"}],"messages":[{"content":[{"type":"tool_use","input":{"a":["b"]}}]}]}`)
	f.Add(`{"input":[{"type":"function_call","arguments":"not json"},{"output":[{"text":"t"}]}],"prompt":["p"]}`)
	dialects := []protocol.Dialect{protocol.OpenAIChat, protocol.OpenAICompletions, protocol.OpenAIResponses, protocol.Anthropic,
		protocol.OllamaChat, protocol.OllamaGenerate, protocol.OpenAIEmbeddings, protocol.OllamaEmbeddings}
	f.Fuzz(func(t *testing.T, body string) {
		if !json.Valid([]byte(body)) || !strings.HasPrefix(strings.TrimSpace(body), "{") {
			return
		}
		for _, d := range dialects {
			b, err := Find(d, []byte(body))
			if err != nil {
				continue
			}
			texts := make([]string, len(b.Texts()))
			for i, s := range b.Texts() {
				texts[i] = s + "\"\\<{x}>\u2028"
			}
			out, err := b.Replace(texts)
			if err != nil {
				t.Fatalf("%s: %v", d, err)
			}
			if !json.Valid(out) {
				t.Fatalf("%s: invalid JSON after replace: %s", d, out)
			}
		}
	})
}
