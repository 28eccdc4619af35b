package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

func client(r *router, extra ...option.RequestOption) openai.Client {
	opts := append([]option.RequestOption{option.WithBaseURL(r.Base() + "/v1/"), option.WithAPIKey("sk-client-secret"),
		option.WithMaxRetries(0)}, extra...)
	return openai.NewClient(opts...)
}

func chatParams(model, text string) openai.ChatCompletionNewParams {
	return openai.ChatCompletionNewParams{Model: model, Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(text)}}
}

func statusOf(err error) int {
	var ae *openai.Error
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

func TestOpenAIChat(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm-a")
	defer fake.Close()
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{
			"llama": {prov("vllm-a", fake.URL+"/", "vllm", `"model_path": "meta/llama-3.1-8b", "api_token": "{env.PROVIDER_TOKEN}"`)},
		}),
		env: map[string]string{"PROVIDER_TOKEN": "tok-provider-123"},
	})
	c := client(r)
	ctx := context.Background()

	t.Run("non-streamed", func(t *testing.T) {
		res, err := c.Chat.Completions.New(ctx, chatParams("llama", "Hi there"))
		if err != nil {
			t.Fatal(err)
		}
		if got := res.Choices[0].Message.Content; got != "Hello from vllm-a." {
			t.Fatalf("content = %q", got)
		}
		if res.Usage.CompletionTokens == 0 {
			t.Fatal("usage lost")
		}
		last := lastPost(t, fake.Requests())
		if last.Path != "/v1/chat/completions" {
			t.Fatalf("upstream path = %s", last.Path)
		}
		if got := last.JSON()["model"]; got != "meta/llama-3.1-8b" {
			t.Fatalf("upstream model = %v, want model_path", got)
		}
		if got := last.Header.Get("Authorization"); got != "Bearer tok-provider-123" {
			t.Fatalf("upstream Authorization = %q, want the provider token", got)
		}
		if strings.Contains(fmt.Sprint(last.Header), "sk-client-secret") {
			t.Fatal("the client's key was forwarded upstream")
		}
	})

	t.Run("streamed", func(t *testing.T) {
		fake.SetReply("one two three four five six", 6)
		defer fake.SetReply("Hello from vllm-a.", 4)
		s := c.Chat.Completions.NewStreaming(ctx, chatParams("llama", "count"))
		var acc openai.ChatCompletionAccumulator
		n := 0
		for s.Next() {
			acc.AddChunk(s.Current())
			n++
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
		if got := acc.Choices[0].Message.Content; got != "one two three four five six" {
			t.Fatalf("streamed content = %q", got)
		}
		if n < 7 {
			t.Fatalf("got %d chunks; the stream was merged", n)
		}
	})

	t.Run("stream headers and DONE", func(t *testing.T) {
		resp, err := http.Post(r.Base()+"/api/chat/completions", "application/json",
			strings.NewReader(`{"model":"llama","stream":true,"messages":[{"role":"user","content":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		for k, want := range map[string]string{"Content-Type": "text/event-stream", "Cache-Control": "no-cache, no-store, must-revalidate",
			"Pragma": "no-cache", "Expires": "0", "X-Accel-Buffering": "no"} {
			if got := resp.Header.Get(k); got != want {
				t.Errorf("%s = %q, want %q", k, got, want)
			}
		}
		events, err := llmtest.ReadSSE(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		if len(events) == 0 || events[len(events)-1] != "[DONE]" {
			t.Fatalf("stream does not end with [DONE]: %v", events)
		}
	})

	t.Run("events arrive before the stream ends", func(t *testing.T) {
		release := fake.Hold()
		defer release()
		ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		s := c.Chat.Completions.NewStreaming(ctx, chatParams("llama", "hold"))
		got := ""
		for got == "" && s.Next() {
			if len(s.Current().Choices) > 0 {
				got = s.Current().Choices[0].Delta.Content
			}
		}
		if got == "" {
			t.Fatalf("no content delta arrived while the provider held the stream: %v", s.Err())
		}
		release()
		for s.Next() {
		}
		if err := s.Err(); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("client disconnect cancels the provider", func(t *testing.T) {
		release := fake.Hold()
		defer release()
		before := fake.Canceled()
		ctx, cancel := context.WithCancel(ctx)
		s := c.Chat.Completions.NewStreaming(ctx, chatParams("llama", "leave"))
		for s.Next() {
			if len(s.Current().Choices) > 0 && s.Current().Choices[0].Delta.Content != "" {
				break
			}
		}
		cancel()
		s.Close()
		eventually(t, 10*time.Second, "the provider request to be canceled", func() bool { return fake.Canceled() > before })
	})

	t.Run("models", func(t *testing.T) {
		page, err := c.Models.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(page.Data) != 1 || page.Data[0].ID != "llama" {
			t.Fatalf("models = %+v", page.Data)
		}
		for _, path := range []string{"/models", "/api/models"} {
			resp, err := http.Get(r.Base() + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), `"id":"llama"`) || strings.Contains(string(b), fake.URL) {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
			}
		}
	})
}

func TestOpenAIErrors(t *testing.T) {
	good := llmtest.NewOpenAI("good")
	defer good.Close()
	bad := llmtest.NewOpenAI("bad")
	defer bad.Close()
	refused := llmtest.RefusedURL()
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{
			"good":    {prov("good", good.URL, "openai", "")},
			"bad":     {prov("bad", bad.URL, "openai", "")},
			"refused": {prov("refused", refused, "openai", "")},
		}),
		global:    "\t\texternal_timeout 2s\n\t\tconnect_timeout 2s\n\t\tcooldown off",
		directive: "\t\tmax_request_body 4KiB",
	})
	c := client(r)
	ctx := context.Background()

	post := func(body string) (int, string) {
		resp, err := http.Post(r.Base()+"/v1/chat/completions", "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	t.Run("malformed JSON", func(t *testing.T) {
		code, body := post(`{"model": "good", "messages": [`)
		if code != 400 || !strings.Contains(body, `"type":"invalid_request_error"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("missing model", func(t *testing.T) {
		code, body := post(`{"messages": []}`)
		if code != 400 || !strings.Contains(body, `"param":"model"`) {
			t.Fatalf("%d %s", code, body)
		}
	})
	t.Run("unknown model", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("nope", "x"))
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 404 || !strings.Contains(ae.Message, "nope") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("body too large", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("good", strings.Repeat("x", 5000)))
		if statusOf(err) != 413 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("provider unreachable", func(t *testing.T) {
		_, err := c.Chat.Completions.New(ctx, chatParams("refused", "x"))
		var ae *openai.Error
		if !errors.As(err, &ae) || ae.StatusCode != 502 || strings.Contains(ae.Message, "127.0.0.1") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("provider timeout", func(t *testing.T) {
		bad.SetFault(llmtest.Hang)
		defer bad.SetFault(llmtest.NoFault)
		_, err := c.Chat.Completions.New(ctx, chatParams("bad", "x"))
		if statusOf(err) != 504 {
			t.Fatalf("err = %v", err)
		}
	})
	for _, tc := range []struct {
		fault llmtest.Fault
		code  int
	}{{llmtest.Fail429, 429}, {llmtest.Fail500, 500}, {llmtest.Fail400, 400}} {
		t.Run(fmt.Sprintf("provider %d passes through", tc.code), func(t *testing.T) {
			bad.SetFault(tc.fault)
			defer bad.SetFault(llmtest.NoFault)
			_, err := c.Chat.Completions.New(ctx, chatParams("bad", "x"))
			if statusOf(err) != tc.code {
				var ae *openai.Error
				errors.As(err, &ae)
				t.Fatalf("err = %v: %s", err, ae.Message)
			}
		})
	}
	t.Run("provider cuts the stream", func(t *testing.T) {
		bad.SetFault(llmtest.CutMidStream)
		defer bad.SetFault(llmtest.NoFault)
		bad.SetReply("a b c d e f", 6)
		s := c.Chat.Completions.NewStreaming(ctx, chatParams("bad", "x"))
		for s.Next() {
		}
		if s.Err() == nil {
			t.Fatal("a cut stream must end with an error, not a clean finish")
		}
	})
	t.Run("provider cuts a non-streamed body", func(t *testing.T) {
		bad.SetFault(llmtest.CutMidStream)
		defer bad.SetFault(llmtest.NoFault)
		_, err := c.Chat.Completions.New(ctx, chatParams("bad", "x"))
		if statusOf(err) != 502 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("wrong method", func(t *testing.T) {
		resp, err := http.Get(r.Base() + "/v1/chat/completions")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 405 {
			t.Fatalf("status %d", resp.StatusCode)
		}
	})
	if strings.Contains(r.logs.String(), "sk-client-secret") {
		t.Fatal("the client's key appears in the log")
	}
}

func TestRoundRobinAndHostPath(t *testing.T) {
	a := llmtest.NewOpenAI("a")
	defer a.Close()
	b := llmtest.NewOpenAI("b")
	defer b.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{
		"m": {prov("a", a.URL+"/v1beta/openai/", "openai", ""), prov("b", b.URL, "lmstudio", "")},
	})})
	c := client(r)
	for i := 0; i < 6; i++ {
		if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
			t.Fatal(err)
		}
	}
	if a.Count("/v1beta/openai/chat/completions") != 3 || b.Count("/v1/chat/completions") != 3 {
		t.Fatalf("a=%v b=%v", a.Requests(), b.Requests())
	}
}

func TestInvalidModelsConfigRefused(t *testing.T) {
	fake := llmtest.NewOpenAI("f")
	defer fake.Close()
	r := startRouter(t, routerOpts{models: `{"g": {"m": {"providers": [{"id": "p1", "api_host": "http://h", "api_type": "grpc"}]}}, "active_models": {"g": ["m"]}}`, noWait: true})
	err, exited := r.wait(60 * time.Second)
	if !exited || err == nil {
		t.Fatalf("router must refuse to start on an invalid models-config (exited=%v err=%v)", exited, err)
	}
	for _, want := range []string{"models-config.json", `model "m"`, `provider "p1"`, `field "api_type"`} {
		if !strings.Contains(r.logs.String(), want) {
			t.Errorf("startup error does not name %s:\n%s", want, r.logs)
		}
	}
}

func TestReloadUnderLoad(t *testing.T) {
	fake := llmtest.NewOpenAI("f")
	defer fake.Close()
	fake.SetDelay(5 * time.Millisecond)
	opts := routerOpts{models: modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}})}
	r := startRouter(t, opts)
	// At a reload Caddy closes idle keep-alive connections; a request sent on
	// one at that instant never reached the router, and HTTP clients (the SDK
	// by default) send it again. One retry models that; a request the router
	// accepted and dropped would still fail here.
	c := client(r, option.WithMaxRetries(1))

	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := 0; w < 8; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				var err error
				if w%2 == 0 {
					_, err = c.Chat.Completions.New(context.Background(), chatParams("m1", "x"))
				} else {
					s := c.Chat.Completions.NewStreaming(context.Background(), chatParams("m1", "x"))
					for s.Next() {
					}
					err = s.Err()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
				} else {
					ok.Add(1)
				}
			}
		}(w)
	}
	eventually(t, 30*time.Second, "traffic before the reload", func() bool { return ok.Load() > 20 })

	// A valid change is taken: m2 appears.
	opts.models = modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}, "m2": {prov("p2", fake.URL, "vllm", "")}})
	r.write(opts)
	if out, err := r.reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	// An invalid change is refused and the previous config keeps serving.
	bad := opts
	bad.models = `{"g": {"m": {"providers": [{"api_host": "http://h", "api_type": "vllm"}]}}, "active_models": {"g": ["m"]}}`
	r.write(bad)
	out, err := r.reload()
	if err == nil || !strings.Contains(out, "provider #0") || !strings.Contains(out, "is required") {
		t.Fatalf("an invalid reload must be refused naming the field: %v\n%s", err, out)
	}
	seen := ok.Load()
	eventually(t, 30*time.Second, "traffic after the reloads", func() bool { return ok.Load() > seen+20 })
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		t.Fatalf("%d requests failed during reloads (first: %v)", failed.Load(), firstErr.Load())
	}
	page, err := c.Models.List(context.Background())
	if err != nil || len(page.Data) != 2 {
		t.Fatalf("after reload models = %+v, %v", page, err)
	}
}

func TestEmbeddedDefault(t *testing.T) {
	port := freePort(t)
	dir := t.TempDir()
	r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = execCommand(binary, "run")
	r.cmd.Env = append(os.Environ(), fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), "LLM_ROUTER_SERVER_HOST=127.0.0.1",
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", freePort(t)), "LLM_ROUTER_MODELS_CONFIG=",
		"XDG_DATA_HOME="+dir, "XDG_CONFIG_HOME="+dir, "XDG_CACHE_HOME="+dir, "HOME="+dir)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	r.waitReady()
	if _, err := os.Stat("/etc/llm-router/models-config.json"); err == nil {
		t.Skip("this machine has /etc/llm-router/models-config.json; the embedded example is not in force")
	}
	c := client(r)
	page, err := c.Models.List(context.Background())
	if err != nil || len(page.Data) != 1 || page.Data[0].ID != "llama3.2" {
		t.Fatalf("embedded default models = %+v, %v", page, err)
	}
}

func TestFailover(t *testing.T) {
	sick := llmtest.NewOpenAI("sick")
	defer sick.Close()
	well := llmtest.NewOpenAI("well")
	defer well.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{
		"m":    {prov("sick", sick.URL, "vllm", ""), prov("dead", llmtest.RefusedURL(), "vllm", ""), prov("well", well.URL, "vllm", "")},
		"solo": {prov("solo", sick.URL+"/solo", "vllm", "")},
	})})
	c := client(r)
	ctx := context.Background()
	sick.SetFault(llmtest.Fail500)
	for i := 0; i < 6; i++ {
		res, err := c.Chat.Completions.New(ctx, chatParams("m", "x"))
		if err != nil {
			t.Fatalf("request %d failed although a provider was healthy: %v", i, err)
		}
		if res.Choices[0].Message.Content != "Hello from well." {
			t.Fatalf("answer from %q", res.Choices[0].Message.Content)
		}
	}
	// Streams fail over too while nothing has reached the client.
	s := c.Chat.Completions.NewStreaming(ctx, chatParams("m", "x"))
	for s.Next() {
	}
	if s.Err() != nil {
		t.Fatal(s.Err())
	}
	// A single provider that failed three times in a row (cooldown_failures)
	// cools down: the next request is answered at once with 503 and
	// Retry-After instead of hammering it.
	for i := range 3 {
		if _, err := c.Chat.Completions.New(ctx, chatParams("solo", "x")); statusOf(err) != 500 {
			t.Fatalf("failure %d passes through: %v", i+1, err)
		}
	}
	_, err := c.Chat.Completions.New(ctx, chatParams("solo", "x"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || ae.Response.Header.Get("Retry-After") == "" {
		t.Fatalf("cooling provider: %v", err)
	}
}

// The router's own request timeout (request_timeout, LLM_ROUTER_TIMEOUT)
// answers 504 in the client's dialect, streamed or not; it used to end the
// request with an empty 200, as if the client had left.
func TestRequestTimeout(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	fake.SetDelay(time.Minute)
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		directive: "request_timeout 300ms",
	})
	c := client(r, option.WithMaxRetries(0))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := c.Chat.Completions.New(ctx, chatParams("m", "slow"))
	var ae *openai.Error
	if !errors.As(err, &ae) || ae.StatusCode != http.StatusGatewayTimeout {
		t.Fatalf("non-streamed: %v, want a 504 API error", err)
	}
	fake.SetDelay(0)
	release := fake.Hold() // the first delta, then nothing until released
	defer release()
	s := c.Chat.Completions.NewStreaming(ctx, chatParams("m", "slow stream"))
	for s.Next() {
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "request timeout") {
		t.Fatalf("streamed: %v, want the stream to end with the timeout error event", err)
	}
}
