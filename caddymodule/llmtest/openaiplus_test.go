package llmtest

import (
	"context"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/openai/openai-go/v3/shared"
)

// The official OpenAI SDK reads OpenAIPlus's tool calls (streamed and not)
// and embeddings.
func TestOpenAIPlus(t *testing.T) {
	s := NewOpenAIPlus("vllm")
	defer s.Close()
	c := openai.NewClient(option.WithBaseURL(s.URL+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	ctx := context.Background()
	s.SetToolCalls(ToolCall{Name: "get_weather", Args: map[string]any{"city": "Oslo"}}, ToolCall{Name: "get_time"})
	p := openai.ChatCompletionNewParams{Model: "m", Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("x")},
		Tools: []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{Name: "get_weather"})}}
	res, err := c.Chat.Completions.New(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	calls := res.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Arguments != `{"city":"Oslo"}` || calls[1].Function.Name != "get_time" || res.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("%s", res.RawJSON())
	}
	st := c.Chat.Completions.NewStreaming(ctx, p)
	var acc openai.ChatCompletionAccumulator
	for st.Next() {
		acc.AddChunk(st.Current())
	}
	if err := st.Err(); err != nil {
		t.Fatal(err)
	}
	calls = acc.Choices[0].Message.ToolCalls
	if len(calls) != 2 || calls[0].Function.Arguments != `{"city":"Oslo"}` || calls[0].ID == calls[1].ID || acc.Choices[0].FinishReason != "tool_calls" {
		t.Fatalf("streamed %+v", acc.Choices[0])
	}
	// Without tools it is the plain OpenAI fake.
	plain, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: p.Messages})
	if err != nil || plain.Choices[0].Message.Content != "Hello from vllm." {
		t.Fatalf("%v %v", plain, err)
	}
	emb, err := c.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: "e", Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"a", "b"}}})
	if err != nil || len(emb.Data) != 2 || emb.Data[1].Index != 1 || emb.Data[1].Embedding[2] != Vector("b")[2] || emb.Usage.PromptTokens != 2 {
		t.Fatalf("embeddings %v %v", emb, err)
	}
	if s.Count("/v1/embeddings") != 1 || s.Count("/v1/chat/completions") != 3 {
		t.Fatalf("requests %d %d", s.Count("/v1/embeddings"), s.Count("/v1/chat/completions"))
	}
}
