package sdkcompat

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
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

var answer = &protocol.Response{Model: "client-model", Stop: protocol.StopToolUse, Usage: protocol.Usage{Input: 12, Output: 7},
	Parts: []protocol.Part{{Kind: protocol.PartText, Text: "Checking."},
		{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_1", Name: "get_weather", Args: json.RawMessage(`{"city":"Oslo"}`)}}}}

// serveWhole answers with c's rendering of answer, after checking that the
// request the SDK sent decodes with c.
func serveWhole(t *testing.T, c protocol.ClientCodec) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if _, err := c.DecodeRequest(body); err != nil {
			c.WriteError(w, http.StatusBadRequest, err.Error())
			return
		}
		out, err := c.EncodeResponse(answer)
		if err != nil {
			c.WriteError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestWholeAnswersWithSDKs(t *testing.T) {
	ctx := context.Background()
	t.Run("openai chat", func(t *testing.T) {
		srv := serveWhole(t, openai.Chat{})
		c := openaisdk.NewClient(ooption.WithBaseURL(srv.URL+"/v1/"), ooption.WithAPIKey("k"), ooption.WithMaxRetries(0))
		res, err := c.Chat.Completions.New(ctx, openaisdk.ChatCompletionNewParams{Model: "client-model", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.SystemMessage("s"), openaisdk.UserMessage("hi")}})
		if err != nil {
			t.Fatal(err)
		}
		m := res.Choices[0].Message
		if m.Content != "Checking." || m.ToolCalls[0].Function.Arguments != `{"city":"Oslo"}` || res.Choices[0].FinishReason != "tool_calls" || res.Usage.TotalTokens != 19 {
			t.Errorf("%s", res.RawJSON())
		}
	})
	t.Run("openai responses", func(t *testing.T) {
		srv := serveWhole(t, openai.Responses{})
		c := openaisdk.NewClient(ooption.WithBaseURL(srv.URL+"/v1/"), ooption.WithAPIKey("k"), ooption.WithMaxRetries(0))
		res, err := c.Responses.New(ctx, responses.ResponseNewParams{Model: "client-model", Instructions: openaisdk.String("s"),
			Input: responses.ResponseNewParamsInputUnion{OfString: openaisdk.String("hi")}})
		if err != nil {
			t.Fatal(err)
		}
		if res.OutputText() != "Checking." || res.Status != "completed" || res.Usage.TotalTokens != 19 || res.Output[1].CallID != "call_1" {
			t.Errorf("%s", res.RawJSON())
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		srv := serveWhole(t, anthropic.Messages{})
		c := anthropicsdk.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0))
		res, err := c.Messages.New(ctx, anthropicsdk.MessageNewParams{Model: "client-model", MaxTokens: 100,
			System:   []anthropicsdk.TextBlockParam{{Text: "s"}},
			Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
		if err != nil {
			t.Fatal(err)
		}
		if res.Content[0].Text != "Checking." || string(res.Content[1].Input) != `{"city":"Oslo"}` || res.StopReason != "tool_use" || res.Usage.InputTokens != 12 {
			t.Errorf("%s", res.RawJSON())
		}
	})
	t.Run("ollama", func(t *testing.T) {
		srv := serveWhole(t, ollama.Chat{})
		u, _ := url.Parse(srv.URL)
		c := ollamaapi.NewClient(u, srv.Client())
		stream := false
		var got ollamaapi.ChatResponse
		err := c.Chat(ctx, &ollamaapi.ChatRequest{Model: "client-model", Stream: &stream, Messages: []ollamaapi.Message{{Role: "user", Content: "hi"}}},
			func(r ollamaapi.ChatResponse) error { got = r; return nil })
		if err != nil {
			t.Fatal(err)
		}
		city, _ := got.Message.ToolCalls[0].Function.Arguments.Get("city")
		if got.Message.Content != "Checking." || city != "Oslo" || !got.Done || got.PromptEvalCount != 12 {
			t.Errorf("%+v", got)
		}
	})
}

// The SDKs must read our error bodies: message and type/status come through.
func TestErrorsWithSDKs(t *testing.T) {
	ctx := context.Background()
	fail := func(c protocol.ClientCodec, status int) *httptest.Server {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			c.WriteError(w, status, "model 'nope' not found")
		}))
		t.Cleanup(srv.Close)
		return srv
	}
	t.Run("openai", func(t *testing.T) {
		srv := fail(openai.Chat{}, 404)
		c := openaisdk.NewClient(ooption.WithBaseURL(srv.URL+"/v1/"), ooption.WithAPIKey("k"), ooption.WithMaxRetries(0))
		_, err := c.Chat.Completions.New(ctx, openaisdk.ChatCompletionNewParams{Model: "nope", Messages: []openaisdk.ChatCompletionMessageParamUnion{openaisdk.UserMessage("hi")}})
		var e *openaisdk.Error
		if !errors.As(err, &e) || e.StatusCode != 404 || e.Message != "model 'nope' not found" || e.Code != "model_not_found" {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		srv := fail(anthropic.Messages{}, 429)
		c := anthropicsdk.NewClient(aoption.WithBaseURL(srv.URL), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0))
		_, err := c.Messages.New(ctx, anthropicsdk.MessageNewParams{Model: "nope", MaxTokens: 10, Messages: []anthropicsdk.MessageParam{anthropicsdk.NewUserMessage(anthropicsdk.NewTextBlock("hi"))}})
		var e *anthropicsdk.Error
		if !errors.As(err, &e) || e.StatusCode != 429 || !strings.Contains(e.Error(), "rate_limit_error") || !strings.Contains(e.Error(), "not found") {
			t.Errorf("err = %v", err)
		}
	})
	t.Run("ollama", func(t *testing.T) {
		srv := fail(ollama.Chat{}, 404)
		u, _ := url.Parse(srv.URL)
		err := ollamaapi.NewClient(u, srv.Client()).Chat(ctx, &ollamaapi.ChatRequest{Model: "nope"}, func(ollamaapi.ChatResponse) error { return nil })
		var e ollamaapi.StatusError
		if !errors.As(err, &e) || e.StatusCode != 404 || e.ErrorMessage != "model 'nope' not found" {
			t.Errorf("err = %v", err)
		}
	})
}
