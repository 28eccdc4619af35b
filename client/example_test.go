package client_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"

	// The router: the llm_router app and handler.
	_ "github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/client"

	// fast_masker, which serves fast_text_mask.
	_ "github.com/llmrouter/llm-router/plugins/fast_masker"
)

// routerURL is the base URL of the router the examples call: the real
// llm-router handler, run in this process by TestMain in front of an llmtest
// fake that answers every chat with "Dzień dobry." for model "bielik".
var routerURL string

func TestMain(m *testing.M) {
	os.Exit(runWithRouter(m))
}

func runWithRouter(m *testing.M) int {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	fake.SetReply("Dzień dobry.", 2)
	dir, err := os.MkdirTemp("", "client-example")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	models := fmt.Sprintf(`{"bielik_models": {"bielik": {"providers": [
		{"id": "vllm-1", "api_host": %q, "api_type": "vllm", "model_path": "speakleash/bielik"}]}},
		"active_models": {"bielik_models": ["bielik"]}}`, fake.URL)
	mpath := filepath.Join(dir, "models-config.json")
	if err := os.WriteFile(mpath, []byte(models), 0o600); err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	addr := l.Addr().String()
	l.Close()
	cfg, _ := json.Marshal(map[string]any{
		"admin":   map[string]any{"disabled": true, "config": map[string]any{"persist": false}},
		"logging": map[string]any{"logs": map[string]any{"default": map[string]any{"level": "ERROR"}}},
		"apps": map[string]any{
			"llm_router": map[string]any{"models_config": mpath},
			"http": map[string]any{"servers": map[string]any{"router": map[string]any{
				"listen":          []string{addr},
				"automatic_https": map[string]any{"disable": true},
				"routes":          []any{map[string]any{"handle": []any{map[string]any{"handler": "llm_router"}}}},
			}}},
		},
	})
	if err := caddy.Load(cfg, true); err != nil {
		fmt.Fprintln(os.Stderr, "starting the router:", err)
		return 1
	}
	defer caddy.Stop()
	routerURL = "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(routerURL + "/api/ping")
		if err == nil {
			resp.Body.Close()
			break
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(os.Stderr, "router not ready:", err)
			return 1
		}
		time.Sleep(20 * time.Millisecond)
	}
	return m.Run()
}

func Example() {
	ctx := context.Background()
	c, err := client.New(routerURL, client.WithToken(os.Getenv("LLM_ROUTER_TOKEN")))
	if err != nil {
		panic(err)
	}
	pong, err := c.Ping(ctx)
	if err != nil {
		panic(err)
	}
	fmt.Println(pong.Body)
	models, err := c.Models(ctx)
	if err != nil {
		panic(err)
	}
	for _, m := range models {
		fmt.Println(m.ID, m.OwnedBy)
	}
	// Output:
	// pong
	// bielik vllm
}

func ExampleClient_Translate() {
	c, _ := client.New(routerURL)
	res, err := c.Translate(context.Background(), client.TextsRequest{
		Model: "bielik",
		Texts: []string{"Good morning.", "Hello."},
	})
	if err != nil {
		panic(err)
	}
	for _, t := range res.Response {
		fmt.Printf("%s → %s\n", t.Original, t.Translated)
	}
	// Output:
	// Good morning. → Dzień dobry.
	// Hello. → Dzień dobry.
}

func ExampleClient_Conversation() {
	c, _ := client.New(routerURL)
	res, err := c.Conversation(context.Background(), client.ConversationRequest{
		Model:   "bielik",
		Message: "Jak się masz?",
		History: []client.Turn{{User: "Cześć", Assistant: "Witaj!"}},
		Options: client.Options{Temperature: client.Float(0.2), Language: "pl"},
	})
	if err != nil {
		panic(err)
	}
	fmt.Println(res.Response)
	// Output: Dzień dobry.
}

func ExampleClient_ChatCompletionStream() {
	c, _ := client.New(routerURL)
	req := client.ChatRequest{Model: "bielik", Messages: []client.ChatMessage{{Role: "user", Content: "Hi"}}}
	var parts []string
	for chunk, err := range c.ChatCompletionStream(context.Background(), req) {
		if err != nil {
			panic(err)
		}
		if t := chunk.Text(); t != "" {
			parts = append(parts, t)
		}
	}
	fmt.Println(len(parts) > 1, strings.Join(parts, ""))
	// Output: true Dzień dobry.
}

func ExampleClient_FastTextMask() {
	c, _ := client.New(routerURL)
	m, err := c.FastTextMask(context.Background(), "Write to jan.kowalski@example.com")
	if err != nil {
		panic(err)
	}
	fmt.Println(m.Text)
	fmt.Println(len(m.Mappings))
	// Output:
	// Write to {EMAIL_1}
	// 1
}

func ExampleNotFoundError() {
	c, _ := client.New(routerURL)
	_, err := c.Translate(context.Background(), client.TextsRequest{Model: "no-such-model", Texts: []string{"x"}})
	var nf *client.NotFoundError
	fmt.Println(errors.As(err, &nf))
	// Output: true
}

func ExampleValidationError() {
	c, _ := client.New(routerURL)
	_, err := c.Translate(context.Background(), client.TextsRequest{Model: "bielik"})
	var ve *client.ValidationError
	if errors.As(err, &ve) {
		fmt.Println(ve.StatusCode, ve.Param+":", ve.Message)
	}
	// Output: 400 texts: field "texts": is required
}
