package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// TestFailoverRetriesOption drives the retries and transport options of
// the llm_router app through the built binary with the OpenAI SDK: `on
// connect` fails over a refused connection but answers a 500 as is, and
// `attempts 1` turns failover off. The providers go through net/http
// (transport net_http), one through h1 (provider_transport).
func TestFailoverRetriesOption(t *testing.T) {
	sick := llmtest.NewOpenAI("sick")
	defer sick.Close()
	well := llmtest.NewOpenAI("well")
	defer well.Close()
	sick.SetFault(llmtest.Fail500)
	models := modelsJSON(map[string][]string{
		"m": {prov("sick", sick.URL, "vllm", ""), prov("well", well.URL, "vllm", "")},
		"n": {prov("dead", llmtest.RefusedURL(), "vllm", ""), prov("well2", well.URL, "vllm", "")},
	})
	ctx := context.Background()
	chats := func() int { return well.Count("/v1/chat/completions") }

	r := startRouter(t, routerOpts{models: models, global: `
		strategy first_available
		retries {
			attempts 3
			backoff 1ms 10ms
			on connect
		}
		transport net_http
		provider_transport well2 h1`})
	c := client(r)
	if _, err := c.Chat.Completions.New(ctx, chatParams("m", "x")); statusOf(err) != 500 {
		t.Errorf("a 500 with retries { on connect }: %v, want the provider's 500 answered as is", err)
	}
	if n := chats(); n != 0 {
		t.Errorf("the healthy provider got %d requests after a 500 that on connect does not retry", n)
	}
	res, err := c.Chat.Completions.New(ctx, chatParams("n", "x"))
	if err != nil || res.Choices[0].Message.Content != "Hello from well." {
		t.Fatalf("a refused connection with retries { on connect }: %v, want the healthy provider's answer", err)
	}
	r.stop()

	r = startRouter(t, routerOpts{models: models, global: `
		strategy first_available
		retries {
			attempts 1
		}`})
	before := chats()
	c = client(r)
	if _, err := c.Chat.Completions.New(ctx, chatParams("n", "x")); statusOf(err) != 502 {
		t.Errorf("a refused connection with retries { attempts 1 }: %v, want 502 (no failover)", err)
	}
	if n := chats() - before; n != 0 {
		t.Errorf("the second provider got %d requests with attempts 1", n)
	}

	// A provider_transport naming no provider refuses to start, naming
	// the option.
	r = startRouter(t, routerOpts{models: models, noWait: true, global: "provider_transport wel h1"})
	if _, exited := r.wait(30 * time.Second); !exited || !strings.Contains(r.logs.String(), `provider_transport: no provider \"wel\"`) {
		t.Errorf("provider_transport of an unknown provider: exited %v, logs:\n%s", exited, r.logs.String())
	}
}
