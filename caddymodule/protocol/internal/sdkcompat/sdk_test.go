package sdkcompat

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	anthropicsdk "github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollamaapi "github.com/ollama/ollama/api"
	openaisdk "github.com/openai/openai-go/v3"
	ooption "github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/responses"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

var providers = map[string]protocol.ProviderCodec{
	"openai_tools.sse":    openai.Chat{},
	"openai_text.sse":     openai.Chat{},
	"openai_error.sse":    openai.Chat{},
	"anthropic_tools.sse": anthropic.Messages{},
	"anthropic_error.sse": anthropic.Messages{},
	"ollama_tools.ndjson": ollama.Chat{},
	"ollama_text.ndjson":  ollama.Chat{},
	"ollama_error.ndjson": ollama.Chat{},
}

// serve answers every request by translating testdata/file for client.
func serve(t *testing.T, file string, client protocol.ClientCodec) *httptest.Server {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("..", "..", "testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", client.StreamContentType())
		rc := http.NewResponseController(w)
		dec := providers[file].NewStreamDecoder(bytes.NewReader(in))
		enc := client.NewStreamEncoder(w, rc.Flush, protocol.StreamOptions{Model: "client-model", IncludeUsage: true})
		_, _ = protocol.Pump(r.Context(), dec, enc)
	}))
	t.Cleanup(srv.Close)
	return srv
}

type want struct {
	text  string
	tools string // name(args);...
	err   bool
}

var wants = map[string]want{
	"openai_tools.sse":    {text: `Let me "check".`, tools: `get_weather({"city":"Oslo"});get_time({})`},
	"openai_text.sse":     {text: "Hello é\n"},
	"openai_error.sse":    {err: true},
	"anthropic_tools.sse": {text: "Let me check.", tools: `get_weather({"city":"Oslo"})`},
	"anthropic_error.sse": {err: true},
	"ollama_tools.ndjson": {text: "Checking", tools: `get_weather({"city":"Tokyo"});get_time({})`},
	"ollama_text.ndjson":  {text: "The sky\u2028is"},
	"ollama_error.ndjson": {err: true},
}

func compact(s string) string { return strings.ReplaceAll(s, " ", "") }

func TestOpenAIChatSDK(t *testing.T) {
	for file, w := range wants {
		t.Run(file, func(t *testing.T) {
			srv := serve(t, file, openai.Chat{})
			c := openaisdk.NewClient(ooption.WithBaseURL(srv.URL+"/v1/"), ooption.WithAPIKey("k"), ooption.WithMaxRetries(0))
			st := c.Chat.Completions.NewStreaming(context.Background(), openaisdk.ChatCompletionNewParams{
				Model: "client-model", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")},
				StreamOptions: openaisdk.ChatCompletionStreamOptionsParam{IncludeUsage: openaisdk.Bool(true)}})
			acc := openaisdk.ChatCompletionAccumulator{}
			for st.Next() {
				ch := st.Current()
				if ch.ID == "" || ch.Model != "client-model" {
					t.Errorf("chunk without id/model: %s", ch.RawJSON())
				}
				acc.AddChunk(ch)
			}
			if (st.Err() != nil) != w.err {
				t.Fatalf("stream err = %v, want error %v", st.Err(), w.err)
			}
			if w.err {
				return
			}
			m := acc.Choices[0].Message
			var tools []string
			for _, tc := range m.ToolCalls {
				tools = append(tools, tc.Function.Name+"("+compact(tc.Function.Arguments)+")")
			}
			if m.Content != w.text || strings.Join(tools, ";") != w.tools {
				t.Errorf("got %q %q, want %q %q", m.Content, tools, w.text, w.tools)
			}
			if acc.Usage.TotalTokens == 0 {
				t.Errorf("usage chunk not seen")
			}
		})
	}
}

func TestOpenAIResponsesSDK(t *testing.T) {
	for file, w := range wants {
		t.Run(file, func(t *testing.T) {
			srv := serve(t, file, openai.Responses{})
			c := openaisdk.NewClient(ooption.WithBaseURL(srv.URL+"/v1/"), ooption.WithAPIKey("k"), ooption.WithMaxRetries(0))
			st := c.Responses.NewStreaming(context.Background(), responses.ResponseNewParams{Model: "client-model",
				Input: responses.ResponseNewParamsInputUnion{OfString: openaisdk.String("hi")}})
			var final responses.Response
			var deltas strings.Builder
			failed := false
			for st.Next() {
				ev := st.Current()
				switch ev.Type {
				case "response.output_text.delta":
					deltas.WriteString(ev.Delta)
				case "response.completed", "response.incomplete":
					final = ev.Response
				case "response.failed", "error":
					failed = true
				}
			}
			if (st.Err() != nil || failed) != w.err {
				t.Fatalf("stream err = %v failed=%v, want error %v", st.Err(), failed, w.err)
			}
			if w.err {
				return
			}
			var tools []string
			for _, it := range final.Output {
				if it.Type == "function_call" {
					tools = append(tools, it.Name+"("+compact(it.Arguments.OfString)+")")
				}
			}
			if final.OutputText() != w.text || deltas.String() != w.text || strings.Join(tools, ";") != w.tools {
				t.Errorf("got %q/%q %q, want %q %q", final.OutputText(), deltas.String(), tools, w.text, w.tools)
			}
			if final.Usage.TotalTokens == 0 {
				t.Errorf("usage missing from the final response")
			}
		})
	}
}

func TestAnthropicSDK(t *testing.T) {
	for file, w := range wants {
		t.Run(file, func(t *testing.T) {
			srv := serve(t, file, anthropic.Messages{})
			c := anthropicsdk.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0))
			st := c.Messages.NewStreaming(context.Background(), anthropicsdk.MessageNewParams{Model: "client-model", MaxTokens: 100,
				Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
			msg := anthropicsdk.Message{}
			var accErr error
			for st.Next() {
				if err := msg.Accumulate(st.Current()); err != nil && accErr == nil {
					accErr = err
				}
			}
			if accErr != nil {
				t.Fatalf("accumulate: %v", accErr)
			}
			if (st.Err() != nil) != w.err {
				t.Fatalf("stream err = %v, want error %v", st.Err(), w.err)
			}
			if w.err {
				return
			}
			var text strings.Builder
			var tools []string
			for _, b := range msg.Content {
				switch b.Type {
				case "text":
					text.WriteString(b.Text)
				case "tool_use":
					tools = append(tools, b.Name+"("+compact(string(b.Input))+")")
				}
			}
			if text.String() != w.text || strings.Join(tools, ";") != w.tools || msg.Model != "client-model" {
				t.Errorf("got %q %q model %q, want %q %q", text.String(), tools, msg.Model, w.text, w.tools)
			}
			if msg.StopReason == "" || msg.Usage.OutputTokens == 0 {
				t.Errorf("stop reason / usage missing: %q %+v", msg.StopReason, msg.Usage)
			}
		})
	}
}

func TestOllamaSDK(t *testing.T) {
	for file, w := range wants {
		t.Run(file, func(t *testing.T) {
			srv := serve(t, file, ollama.Chat{})
			u, _ := url.Parse(srv.URL)
			c := ollamaapi.NewClient(u, srv.Client())
			var text strings.Builder
			var tools []string
			var last ollamaapi.ChatResponse
			err := c.Chat(context.Background(), &ollamaapi.ChatRequest{Model: "client-model", Messages: []ollamaapi.Message{{Role: "user", Content: "hi"}}},
				func(r ollamaapi.ChatResponse) error {
					text.WriteString(r.Message.Content)
					for _, tc := range r.Message.ToolCalls {
						tools = append(tools, tc.Function.Name+"("+compact(tc.Function.Arguments.String())+")")
					}
					last = r
					return nil
				})
			if (err != nil) != w.err {
				t.Fatalf("err = %v, want error %v", err, w.err)
			}
			if w.err {
				return
			}
			if text.String() != w.text || strings.Join(tools, ";") != w.tools {
				t.Errorf("got %q %q, want %q %q", text.String(), tools, w.text, w.tools)
			}
			if !last.Done || last.DoneReason == "" || last.EvalCount == 0 || last.Model != "client-model" {
				t.Errorf("final line %+v", last)
			}
		})
	}
}
