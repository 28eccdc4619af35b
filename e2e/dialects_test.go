package e2e

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins/plugintest"
)

// An Anthropic client and an Ollama client reach an OpenAI-wire provider,
// streamed and not, exactly as if they talked to their own kind of server.
func TestForeignClientsOverOpenAIProvider(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	fake.SetReply("alpha beta gamma delta", 4)
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}})})
	ctx := context.Background()

	ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("sk-ant-client"), aoption.WithMaxRetries(0))
	params := anthropic.MessageNewParams{Model: "m", MaxTokens: 64, System: []anthropic.TextBlockParam{{Text: "Be brief."}},
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}
	t.Run("anthropic non-streamed", func(t *testing.T) {
		msg, err := ac.Messages.New(ctx, params)
		if err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) == 0 || msg.Content[0].Text != "alpha beta gamma delta" || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("message = %+v", msg)
		}
		if msg.Usage.OutputTokens == 0 {
			t.Fatal("usage lost in translation")
		}
		last := lastPost(t, fake.Requests()).JSON()
		msgs := last["messages"].([]any)
		if first := msgs[0].(map[string]any); first["role"] != "system" || first["content"] != "Be brief." {
			t.Fatalf("system prompt not translated: %v", msgs)
		}
	})
	t.Run("anthropic streamed", func(t *testing.T) {
		s := ac.Messages.NewStreaming(ctx, params)
		var msg anthropic.Message
		for s.Next() {
			if err := msg.Accumulate(s.Current()); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if len(msg.Content) == 0 || msg.Content[0].Text != "alpha beta gamma delta" || msg.StopReason != anthropic.StopReasonEndTurn {
			t.Fatalf("streamed message = %+v", msg)
		}
	})
	t.Run("anthropic error shape", func(t *testing.T) {
		p := params
		p.Model = "missing"
		_, err := ac.Messages.New(ctx, p)
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.RawJSON(), `"type":"error"`) {
			t.Fatalf("err = %v", err)
		}
	})

	base, _ := url.Parse(r.Base())
	oc := ollama.NewClient(base, http.DefaultClient)
	for _, stream := range []bool{false, true} {
		t.Run("ollama chat stream="+map[bool]string{false: "false", true: "true"}[stream], func(t *testing.T) {
			var got strings.Builder
			var final ollama.ChatResponse
			n := 0
			err := oc.Chat(ctx, &ollama.ChatRequest{Model: "m", Stream: &stream,
				Messages: []ollama.Message{{Role: "user", Content: "hi"}}, Options: map[string]any{"num_predict": 12, "temperature": 0.2}},
				func(cr ollama.ChatResponse) error {
					got.WriteString(cr.Message.Content)
					final = cr
					n++
					return nil
				})
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != "alpha beta gamma delta" || !final.Done || final.DoneReason != "stop" {
				t.Fatalf("content %q final %+v", got.String(), final)
			}
			if stream && n < 3 {
				t.Fatalf("stream arrived in %d parts", n)
			}
			last := lastPost(t, fake.Requests()).JSON()
			if last["max_tokens"] != float64(12) || last["temperature"] != 0.2 {
				t.Fatalf("options not mapped: %v", last)
			}
		})
	}
	t.Run("ollama error shape", func(t *testing.T) {
		resp, err := http.Post(r.Base()+"/api/chat", "application/json", strings.NewReader(`{"model":"missing","messages":[]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		json.NewDecoder(resp.Body).Decode(&body)
		if resp.StatusCode != 404 || body["error"] == nil {
			t.Fatalf("%d %v", resp.StatusCode, body)
		}
		if _, ok := body["error"].(string); !ok {
			t.Fatalf("ollama errors are a string: %v", body)
		}
	})
	t.Run("ollama tags and home", func(t *testing.T) {
		list, err := oc.List(ctx)
		if err != nil || len(list.Models) != 1 || list.Models[0].Name != "m" {
			t.Fatalf("tags = %+v %v", list, err)
		}
		resp, err := http.Get(r.Base() + "/")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "Ollama is running" {
			t.Fatalf("home = %q", b)
		}
	})
}

func TestBuiltinEndpoints(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	fake.SetReply("Hallo Welt", 2)
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}})})
	post := func(path, body string) (int, map[string]any) {
		resp, err := http.Post(r.Base()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	code, body := post("/api/translate", `{"model":"m","texts":["Hello world","Good morning"],"language":"en"}`)
	if code != 200 {
		t.Fatalf("%d %v", code, body)
	}
	entries, _ := body["response"].([]any)
	if len(entries) != 2 || entries[0].(map[string]any)["original"] != "Hello world" || entries[1].(map[string]any)["translated"] != "Hallo Welt" {
		t.Fatalf("translate = %v", body)
	}
	if _, ok := body["generation_time"].(float64); !ok {
		t.Fatalf("no generation_time: %v", body)
	}
	sys := posts(fake.Requests())[0].JSON()["messages"].([]any)[0].(map[string]any)
	if sys["role"] != "system" || sys["content"] == "" {
		t.Fatalf("no system prompt went to the provider: %v", sys)
	}
	code, body = post("/api/generative_answer", `{"model":"m"}`)
	if code != 400 || !strings.Contains(strings.ToLower(jsonString(body)), "question") {
		t.Fatalf("missing field must be a 400 naming it: %d %v", code, body)
	}
}

func jsonString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestGuardrailAndMasking(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	svc := plugintest.NewServer(t)
	svc.SetUnsafe("build a bomb")
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		env: map[string]string{
			"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST":             "1",
			"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "nask_guard",
			"LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST":           svc.URL,
			"LLM_ROUTER_MASKING_STRATEGY_PIPELINE":           "pii_masker",
			"LLM_ROUTER_MASKER_PII_HOST":                     svc.URL,
		},
	})
	c := client(r)
	ctx := context.Background()
	before := fake.Count("/v1/chat/completions")
	_, err := c.Chat.Completions.New(ctx, chatParams("m", "please build a bomb"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || !strings.Contains(ae.Message, "guardrail") {
		t.Fatalf("blocked request: %v", err)
	}
	s := c.Chat.Completions.NewStreaming(ctx, chatParams("m", "please build a bomb"))
	var acc openai.ChatCompletionAccumulator
	for s.Next() {
		acc.AddChunk(s.Current())
	}
	if s.Err() != nil || !strings.Contains(acc.Choices[0].Message.Content, "blocked") {
		t.Fatalf("blocked stream: %v %+v", s.Err(), acc.Choices)
	}
	if fake.Count("/v1/chat/completions") != before {
		t.Fatal("a blocked request reached the provider")
	}
	// "anonymize": true masks the text before it leaves.
	resp, err := http.Post(r.Base()+"/v1/chat/completions", "application/json",
		strings.NewReader(`{"model":"m","anonymize":true,"messages":[{"role":"user","content":"mail jan.kowalski@example.com now"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("masked request: %d", resp.StatusCode)
	}
	last := lastPost(t, fake.Requests())
	if strings.Contains(string(last.Body), "jan.kowalski@example.com") || strings.Contains(string(last.Body), "anonymize") {
		t.Fatalf("provider saw unmasked text: %s", last.Body)
	}
	// The built-in endpoints mask their texts too.
	resp, err = http.Post(r.Base()+"/api/translate", "application/json",
		strings.NewReader(`{"model":"m","anonymize":true,"texts":["mail jan.kowalski@example.com now"]}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.Contains(string(lastPost(t, fake.Requests()).Body), "jan.kowalski@example.com") {
		t.Fatalf("built-in endpoint: %d, provider saw %s", resp.StatusCode, lastPost(t, fake.Requests()).Body)
	}
	// An unknown model is refused before any plugin sees the text, on the
	// proxy and the built-in endpoints alike.
	seen := svc.Calls("/api/guardrails/nask_guard") + svc.Calls(plugintest.PathPII)
	for _, ep := range []struct{ path, body string }{
		{"/v1/chat/completions", `{"model":"nope","anonymize":true,"messages":[{"role":"user","content":"mail jan.kowalski@example.com"}]}`},
		{"/api/translate", `{"model":"nope","anonymize":true,"texts":["mail jan.kowalski@example.com"]}`},
	} {
		resp, err := http.Post(r.Base()+ep.path, "application/json", strings.NewReader(ep.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 404 {
			t.Fatalf("%s with an unknown model: %d, want 404", ep.path, resp.StatusCode)
		}
	}
	if n := svc.Calls("/api/guardrails/nask_guard") + svc.Calls(plugintest.PathPII); n != seen {
		t.Fatalf("plugins were called %d times for requests naming an unknown model", n-seen)
	}
	// A tools request for a provider without tool calling is refused, not silently stripped.
	resp, err = http.Post(r.Base()+"/v1/chat/completions", "application/json", strings.NewReader(
		`{"model":"m","tools":[{"type":"function","function":{"name":"f","parameters":{}}}],"messages":[{"role":"user","content":"x"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || !strings.Contains(string(b), "tool_calling") {
		t.Fatalf("tools without tool_calling: %d %s", resp.StatusCode, b)
	}
	// Fail closed: the guardrail service down → 503, nothing reaches the provider.
	svc.SetFault(plugintest.Status500)
	before = fake.Count("/v1/chat/completions")
	_, err = c.Chat.Completions.New(ctx, chatParams("m", "hello"))
	if !errors.As(err, &ae) || ae.StatusCode != 503 || strings.Contains(ae.Message, "127.0.0.1") {
		t.Fatalf("guardrail down: %v", err)
	}
	if fake.Count("/v1/chat/completions") != before {
		t.Fatal("a request reached the provider while its guardrail was down")
	}
}

func TestResponseGuardrail(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	fake.SetReply("Here is how to build a bomb.", 3)
	svc := plugintest.NewServer(t)
	svc.SetUnsafe("bomb")
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		env: map[string]string{
			"LLM_ROUTER_FORCE_GUARDRAIL_RESPONSE":             "1",
			"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_RESPONSE": "sojka_guard",
			"LLM_ROUTER_GUARDRAIL_SOJKA_GUARD_HOST":           svc.URL,
		},
	})
	c := client(r)
	_, err := c.Chat.Completions.New(context.Background(), chatParams("m", "tell me"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 403 || strings.Contains(ae.Message, "bomb") {
		t.Fatalf("unsafe answer: %v", err)
	}
	fake.SetReply("A harmless answer.", 2)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "tell me")); err != nil {
		t.Fatalf("safe answer: %v", err)
	}
}

// Plugins and per-model strategies configured in the Caddyfile.
func TestCaddyfilePlugins(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	svc := plugintest.NewServer(t)
	svc.SetUnsafe("forbidden words")
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		global: "\t\tmasker fast_masker\n\t\tforce_masking\n\t\tguardrail request nask_guard " + svc.URL +
			"\n\t\tmodel_strategy m first_available 5s",
	})
	c := client(r)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "mój PESEL to 44051401359, mail jan@example.com")); err != nil {
		t.Fatal(err)
	}
	body := string(lastPost(t, fake.Requests()).Body)
	if strings.Contains(body, "44051401359") || strings.Contains(body, "jan@example.com") {
		t.Fatalf("fast_masker from the Caddyfile did not mask: %s", body)
	}
	_, err := c.Chat.Completions.New(context.Background(), chatParams("m", "some forbidden words"))
	if statusOf(err) != 403 {
		t.Fatalf("guardrail from the Caddyfile: %v", err)
	}
}

// Masking on dialects the router speaks only on the client side (legacy
// completions, Responses) edits the client's body in place and keeps it on
// the passthrough path (same operation, every other member as sent);
// /api/generate to an OpenAI-wire provider is translated to its chat.
func TestMaskingClientOnlyDialects(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		global: "\t\tmasker fast_masker\n\t\tforce_masking",
	})
	for _, tc := range []struct{ path, body, upPath, kept string }{
		{"/v1/completions", `{"model":"m","prompt":"mail jan@example.com","echo":false,"logit_bias":{"50256":-100}}`, "/v1/completions", `"logit_bias":{"50256":-100}`},
		{"/v1/responses", `{"model":"m","input":"mail jan@example.com","store":false,"truncation":"auto"}`, "/v1/responses", `"truncation":"auto"`},
		{"/api/generate", `{"model":"m","prompt":"mail jan@example.com","stream":false}`, "/v1/chat/completions", `"model":"m"`},
	} {
		resp, err := http.Post(r.Base()+tc.path, "application/json", strings.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		// The OpenAI fake serves only chat completions: a passthrough
		// request gets its 404, which the router relays as is.
		if want := map[bool]int{true: 200, false: 404}[tc.upPath == "/v1/chat/completions"]; resp.StatusCode != want {
			t.Fatalf("%s: %d %s", tc.path, resp.StatusCode, b)
		}
		last := lastPost(t, fake.Requests())
		up := string(last.Body)
		if last.Path != tc.upPath || strings.Contains(up, "jan@example.com") || !strings.Contains(up, "{EMAIL_") || !strings.Contains(up, tc.kept) {
			t.Fatalf("%s: provider got %s %s", tc.path, last.Path, up)
		}
	}
}

// "model": "auto" is routed by simple_semantic_routing, in every dialect,
// and the choice is reported; without the plugin it is a 404 that says so.
func TestAutoModel(t *testing.T) {
	small := llmtest.NewOpenAI("small")
	defer small.Close()
	big := llmtest.NewOpenAI("big")
	defer big.Close()
	models := modelsJSON(map[string][]string{"small-m": {prov("ps", small.URL, "vllm", "")}, "big-m": {prov("pb", big.URL, "vllm", "")}})
	r := startRouter(t, routerOpts{models: models, env: map[string]string{
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE": "simple_semantic_routing",
		"LLM_ROUTER_ROUTING_MODELS":         "small-m|big-m",
	}})
	post := func(path, body string) (*http.Response, string) {
		resp, err := http.Post(r.Base()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp, string(b)
	}
	resp, body := post("/v1/chat/completions", `{"model":"auto","messages":[{"role":"user","content":"Hi!"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-LLM-Router-Model") != "small-m" || small.Count("/v1/chat/completions") != 1 {
		t.Fatalf("short greeting: %d %q %s", resp.StatusCode, resp.Header.Get("X-LLM-Router-Model"), body)
	}
	long := strings.Repeat("Please write a function in Go that parses JSON, handles errors and has unit tests. ", 12)
	resp, body = post("/api/chat", `{"model":"auto","stream":false,"messages":[{"role":"user","content":"`+long+`"}]}`)
	if resp.StatusCode != 200 || resp.Header.Get("X-LLM-Router-Model") != "big-m" || big.Count("/v1/chat/completions") != 1 {
		t.Fatalf("long coding request (Ollama client): %d %q %s", resp.StatusCode, resp.Header.Get("X-LLM-Router-Model"), body)
	}

	plain := startRouter(t, routerOpts{models: models})
	resp2, err := http.Post(plain.Base()+"/v1/chat/completions", "application/json", strings.NewReader(`{"model":"auto","messages":[{"role":"user","content":"Hi"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp2.Body)
	resp2.Body.Close()
	if resp2.StatusCode != 404 || !strings.Contains(string(b), "simple_semantic_routing") {
		t.Fatalf("auto without the plugin: %d %s", resp2.StatusCode, b)
	}
}
