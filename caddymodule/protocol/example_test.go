package protocol_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
)

// An Ollama client's request served by an OpenAI-compatible provider (vLLM):
// decode, encode for the provider, then re-encode the provider's SSE stream
// as the Ollama NDJSON the client expects.
func Example() {
	client, _ := codecs.Client(protocol.OllamaChat)
	provider, _ := codecs.Provider("vllm", 0)

	creq, err := client.DecodeRequest([]byte(`{"model":"llama3.2","messages":[{"role":"user","content":"Hi"}],"options":{"num_predict":20}}`))
	if err != nil {
		fmt.Println("400:", err)
		return
	}
	creq.Model = "meta-llama/Llama-3.2-3B-Instruct" // the provider's name for it
	up, _ := provider.EncodeRequest(creq)
	fmt.Println(string(up))

	upstream := strings.NewReader(`data: {"id":"c1","model":"x","choices":[{"index":0,"delta":{"content":"Hello"}}]}

data: {"id":"c1","model":"x","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}

data: {"id":"c1","model":"x","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":1,"total_tokens":6}}

data: [DONE]

`)
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	enc := client.NewStreamEncoder(os.Stdout, nil, protocol.StreamOptions{Model: "llama3.2", Now: func() time.Time { return t0 }})
	res, err := protocol.Pump(context.Background(), provider.NewStreamDecoder(upstream), enc)
	fmt.Println(res.Ended, res.Usage.Total(), err)
	// Output:
	// {"model":"meta-llama/Llama-3.2-3B-Instruct","messages":[{"role":"user","content":"Hi"}],"stream":true,"stream_options":{"include_usage":true},"max_tokens":20}
	// {"model":"llama3.2","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"Hello"},"done":false}
	// {"model":"llama3.2","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","total_duration":0,"load_duration":0,"prompt_eval_count":5,"prompt_eval_duration":0,"eval_count":1,"eval_duration":0}
	// true 6 <nil>
}
