package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/openai/openai-go/v3"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// hostileFakes are one fake provider per wire, and the router in front of
// them: model "m" on an OpenAI-wire (vLLM) provider, "o" on Ollama, "a" on
// Anthropic, so that each client dialect is a passthrough.
type hostileFakes struct {
	oai *llmtest.OpenAI
	oll *llmtest.Ollama
	ant *llmtest.Anthropic
	r   *router
}

func startHostile(t *testing.T, global string) *hostileFakes {
	t.Helper()
	f := &hostileFakes{oai: llmtest.NewOpenAI("vllm"), oll: llmtest.NewOllama("ollama"), ant: llmtest.NewAnthropic("anthropic")}
	t.Cleanup(f.oai.Close)
	t.Cleanup(f.oll.Close)
	t.Cleanup(f.ant.Close)
	f.r = startRouter(t, routerOpts{models: modelsJSON(map[string][]string{
		"m": {prov("pm", f.oai.URL, "vllm", "")},
		"o": {prov("po", f.oll.URL, "ollama", "")},
		"a": {prov("pa", f.ant.URL, "anthropic", "")},
	}), global: global})
	return f
}

// posted is the number of POSTs the providers received (health probes are GETs).
func (f *hostileFakes) posted() int {
	return len(posts(f.oai.Requests())) + len(posts(f.oll.Requests())) + len(posts(f.ant.Requests()))
}

// rawPost posts body as is and returns the status and the decoded answer.
func rawPost(t *testing.T, url string, body []byte) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("%s: the answer is not JSON (%v): %q", url, err, b)
	}
	return resp.StatusCode, m
}

// errorText returns the message of an error answer in the given dialect,
// failing the test when the answer does not have that dialect's shape.
func errorText(t *testing.T, dialect string, m map[string]any) string {
	t.Helper()
	switch dialect {
	case "openai", "builtin":
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if msg == "" || e["type"] == nil {
			t.Fatalf("not an OpenAI error object: %v", m)
		}
		return msg
	case "anthropic":
		e, _ := m["error"].(map[string]any)
		msg, _ := e["message"].(string)
		if m["type"] != "error" || e["type"] != "invalid_request_error" || msg == "" {
			t.Fatalf("not an Anthropic error object: %v", m)
		}
		return msg
	case "ollama":
		msg, _ := m["error"].(string)
		if msg == "" {
			t.Fatalf("not an Ollama error object: %v", m)
		}
		return msg
	}
	t.Fatalf("unknown dialect %s", dialect)
	return ""
}

// A passthrough request with a malformed conversation is refused with a 400
// in the client's dialect naming the field, and no provider ever sees it
// (it used to be forwarded, and the provider's 5xx cooled the provider down
// for every other client).
func TestPassthroughShapeRefused(t *testing.T) {
	f := startHostile(t, "")
	tests := []struct {
		name, path, dialect, body, field string
	}{
		{"openai null message", "/v1/chat/completions", "openai", `{"model":"m","messages":[null]}`, "messages[0]: must be a JSON object"},
		{"openai unknown role", "/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"wizard","content":"hi"}]}`, `messages[0].role: unsupported role "wizard"`},
		{"openai content a number", "/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":42}]}`, "messages[0].content"},
		{"openai max_tokens a string", "/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"hi"}],"max_tokens":"64"}`, "max_tokens: must be an integer"},
		{"openai tools an object", "/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"hi"}],"tools":{}}`, "tools: must be an array"},
		{"lmstudio null message", "/api/v0/chat/completions", "openai", `{"model":"m","messages":[null]}`, "messages[0]: must be a JSON object"},
		{"completions prompt an object", "/v1/completions", "openai", `{"model":"m","prompt":{}}`, "prompt: must be a string or an array"},
		{"responses null item", "/v1/responses", "openai", `{"model":"m","input":[null]}`, "input[0]: must be a JSON object"},
		{"anthropic null message", "/v1/messages", "anthropic", `{"model":"a","max_tokens":16,"messages":[null]}`, "messages[0]: must be a JSON object"},
		{"anthropic system role", "/v1/messages", "anthropic", `{"model":"a","max_tokens":16,"messages":[{"role":"system","content":"x"}]}`, "messages[0].role: must be user or assistant"},
		{"anthropic temperature a string", "/v1/messages", "anthropic", `{"model":"a","max_tokens":16,"temperature":"hot","messages":[{"role":"user","content":"x"}]}`, "temperature: must be a number"},
		{"ollama null message", "/api/chat", "ollama", `{"model":"o","messages":[null],"stream":false}`, "messages[0]: must be a JSON object"},
		{"ollama options a list", "/api/chat", "ollama", `{"model":"o","messages":[{"role":"user","content":"x"}],"options":[1]}`, "options: must be a JSON object"},
		{"ollama generate prompt a number", "/api/generate", "ollama", `{"model":"o","prompt":7,"stream":false}`, "prompt: must be a string"},
		{"openai embeddings null input", "/v1/embeddings", "openai", `{"model":"m","input":[null]}`, "input"},
		{"ollama embed input a number", "/api/embed", "ollama", `{"model":"o","input":7}`, "input"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := f.posted()
			code, m := rawPost(t, f.r.Base()+tt.path, []byte(tt.body))
			msg := errorText(t, tt.dialect, m)
			if code != http.StatusBadRequest || !strings.Contains(msg, tt.field) {
				t.Fatalf("%d %q, want 400 naming %q", code, msg, tt.field)
			}
			if n := f.posted() - before; n != 0 {
				t.Fatalf("the provider received %d request(s)", n)
			}
		})
	}
	// The providers still serve well-formed requests, passthrough untouched.
	c := client(f.r)
	res, err := c.Chat.Completions.New(context.Background(), chatParams("m", "hello"))
	if err != nil || res.Choices[0].Message.Content == "" {
		t.Fatalf("a good request after the bad ones: %v", err)
	}
}

// Strings that are not UTF-8 (RFC 8259) are refused on every endpoint that
// reads a body, with a 400 in the endpoint's dialect, before any provider.
func TestInvalidUTF8Refused(t *testing.T) {
	f := startHostile(t, "")
	bad := "caf\xe9 \xff" // Latin-1 é and a byte no UTF-8 text holds
	endpoints := []struct {
		path, dialect, body string
	}{
		{"/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"%s"}]}`},
		{"/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"%s"}]}`},
		{"/api/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"%s"}]}`},
		{"/api/v0/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"%s"}]}`},
		{"/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"ok","name":"%s"}],"stream":true}`},
		{"/v1/completions", "openai", `{"model":"m","prompt":"%s"}`},
		{"/v1/responses", "openai", `{"model":"m","input":"%s"}`},
		{"/v1/embeddings", "openai", `{"model":"m","input":"%s"}`},
		{"/api/embeddings", "openai", `{"model":"o","prompt":"%s"}`},
		{"/v1/messages", "anthropic", `{"model":"a","max_tokens":16,"messages":[{"role":"user","content":"%s"}]}`},
		{"/api/chat", "ollama", `{"model":"o","messages":[{"role":"user","content":"%s"}]}`},
		{"/api/generate", "ollama", `{"model":"o","prompt":"%s"}`},
		{"/api/embed", "ollama", `{"model":"o","input":"%s"}`},
		{"/api/show", "ollama", `{"model":"o","verbose":"%s"}`},
		{"/api/fast_text_mask", "openai", `{"text":"%s"}`},
		{"/api/translate", "builtin", `{"model_name":"m","text":"%s"}`},
		{"/api/conversation_with_model", "builtin", `{"model_name":"m","user_last_statement":"%s"}`},
		{"/v1/chat/completions", "openai", `{"model":"m","messages":[{"role":"user","content":"ok"}],"%s":1}`}, // in a key
	}
	for _, e := range endpoints {
		t.Run(e.path, func(t *testing.T) {
			body := fmt.Appendf(nil, e.body, bad)
			if !json.Valid(body) {
				t.Fatal("encoding/json accepts the body; the router must not")
			}
			before := f.posted()
			code, m := rawPost(t, f.r.Base()+e.path, body)
			msg := errorText(t, e.dialect, m)
			if code != http.StatusBadRequest || !strings.Contains(msg, "UTF-8") {
				t.Fatalf("%d %q, want 400 saying the text is not UTF-8", code, msg)
			}
			if n := f.posted() - before; n != 0 {
				t.Fatalf("the provider received %d request(s)", n)
			}
		})
	}
	// Valid non-ASCII text still passes through byte for byte.
	c := client(f.r)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "zażółć gęślą jaźń 😀")); err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(lastPost(t, f.oai.Requests()).Body, []byte("zażółć gęślą jaźń 😀")) {
		t.Fatal("UTF-8 text did not reach the provider as sent")
	}
}

// Passive health: one 5xx does not cool a provider down — the next request
// goes to it again — while cooldown_failures 5xx in a row do, and then the
// model answers 503 at once.
func TestOneFailureDoesNotCoolDown(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		global: "\t\tcooldown 1h"}) // cooldown_failures: its default, 3
	c := client(r)
	ctx := context.Background()

	fake.SetFault(llmtest.Fail500)
	if _, err := c.Chat.Completions.New(ctx, chatParams("m", "x")); statusOf(err) != 500 {
		t.Fatalf("the provider's 500 passes through: %v", err)
	}
	fake.SetFault(llmtest.NoFault)
	res, err := c.Chat.Completions.New(ctx, chatParams("m", "x"))
	if err != nil {
		t.Fatalf("one failure took the provider offline: %v", err)
	}
	if res.Choices[0].Message.Content != "Hello from vllm." {
		t.Fatalf("answer %q", res.Choices[0].Message.Content)
	}

	// A run of three failures in a row (the success above ended the
	// first run) cools it down.
	fake.SetFault(llmtest.Fail500)
	for i := range 3 {
		if _, err := c.Chat.Completions.New(ctx, chatParams("m", "x")); statusOf(err) != 500 {
			t.Fatalf("failure %d: %v, want the provider's 500", i+1, err)
		}
	}
	n := len(posts(fake.Requests()))
	_, err = c.Chat.Completions.New(ctx, chatParams("m", "x"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("after three failures in a row: %v, want 503 with Retry-After", err)
	}
	if len(posts(fake.Requests())) != n {
		t.Fatal("a cooling provider was called")
	}
}

// cooldown_failures sets the run: with 1, the old rule (one failure cools
// the provider down) comes back.
func TestCooldownFailuresOption(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		global: "\t\tcooldown 1h\n\t\tcooldown_failures 1\n\t\tcooldown_window 1m"})
	c := client(r)
	fake.SetFault(llmtest.Fail500)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); statusOf(err) != 500 {
		t.Fatalf("the provider's 500 passes through: %v", err)
	}
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); statusOf(err) != 503 {
		t.Fatalf("after one failure with cooldown_failures 1: %v, want 503", err)
	}
}
