package llmtest

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	"github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
)

func anthropicClient(s *Anthropic, key string) anthropic.Client {
	return anthropic.NewClient(option.WithBaseURL(s.URL), option.WithAPIKey(key), option.WithMaxRetries(0))
}

func messageParams(tools bool, maxTokens int64) anthropic.MessageNewParams {
	p := anthropic.MessageNewParams{Model: "claude-x", MaxTokens: maxTokens,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello there"))}}
	if tools {
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			InputSchema: anthropic.ToolInputSchemaParam{Properties: map[string]any{"city": map[string]any{"type": "string"}}}}}}
	}
	return p
}

// send runs one request through the SDK, streamed or not, accumulating a
// stream into the message the non-streamed call would have returned.
func send(t *testing.T, c anthropic.Client, p anthropic.MessageNewParams, stream bool) (anthropic.Message, int, error) {
	t.Helper()
	if !stream {
		m, err := c.Messages.New(context.Background(), p)
		if err != nil {
			return anthropic.Message{}, 0, err
		}
		return *m, 1, nil
	}
	s := c.Messages.NewStreaming(context.Background(), p)
	var m anthropic.Message
	n := 0
	for s.Next() {
		if err := m.Accumulate(s.Current()); err != nil {
			return m, n, err
		}
		n++
	}
	return m, n, s.Err()
}

// The official SDK reads the fake's answers, streamed and not: text, tool
// use, stop reasons and usage.
func TestAnthropicMessages(t *testing.T) {
	s := NewAnthropic("an")
	defer s.Close()
	s.SetReply("one two three four", 4)
	c := anthropicClient(s, "sk-ant-test")
	for _, stream := range []bool{false, true} {
		for _, tc := range []struct {
			name   string
			tools  bool
			max    int64
			text   string
			reason anthropic.StopReason
			out    int64
		}{
			{"text", false, 64, "one two three four", anthropic.StopReasonEndTurn, 4},
			{"max tokens", false, 2, "one two ", anthropic.StopReasonMaxTokens, 2},
			{"tool use", true, 64, "", anthropic.StopReasonToolUse, 1},
		} {
			t.Run(tc.name+map[bool]string{true: " streamed"}[stream], func(t *testing.T) {
				if tc.tools {
					s.SetToolCalls(ToolCall{Name: "get_weather", Args: map[string]any{"city": "Oslo"}})
					defer s.SetToolCalls()
				}
				m, n, err := send(t, c, messageParams(tc.tools, tc.max), stream)
				if err != nil {
					t.Fatal(err)
				}
				if len(m.Content) != 1 || m.StopReason != tc.reason || m.Usage.OutputTokens != tc.out || m.Usage.InputTokens == 0 {
					t.Fatalf("message %+v", m)
				}
				if stream && n < 5 {
					t.Fatalf("only %d events", n)
				}
				if tc.tools {
					b := m.Content[0]
					var in map[string]any
					json.Unmarshal(b.Input, &in)
					if b.Type != "tool_use" || b.Name != "get_weather" || b.ID == "" || in["city"] != "Oslo" {
						t.Fatalf("tool block %+v", b)
					}
				} else if m.Content[0].Text != tc.text {
					t.Fatalf("text %q", m.Content[0].Text)
				}
			})
		}
	}
	last := s.Requests()[len(s.Requests())-1]
	if last.Header.Get("X-Api-Key") != "sk-ant-test" || last.Header.Get("Anthropic-Version") == "" {
		t.Fatalf("headers %v", last.Header)
	}
}

func TestAnthropicStreamEvents(t *testing.T) {
	s := NewAnthropic("an")
	defer s.Close()
	s.SetReply("a b", 2)
	req, _ := http.NewRequest("POST", s.URL+"/v1/messages", strings.NewReader(`{"model":"m","max_tokens":9,"stream":true,"messages":[{"role":"user","content":"x"}]}`))
	req.Header.Set("x-api-key", "k")
	req.Header.Set("anthropic-version", "2023-06-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, err := ReadSSE(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	var types []string
	for _, d := range data {
		var e struct {
			Type string `json:"type"`
		}
		json.Unmarshal([]byte(d), &e)
		types = append(types, e.Type)
	}
	want := "message_start content_block_start ping content_block_delta content_block_delta content_block_stop message_delta message_stop"
	if got := strings.Join(types, " "); got != want {
		t.Fatalf("events\n got %s\nwant %s", got, want)
	}
}

func TestAnthropicErrors(t *testing.T) {
	s := NewAnthropic("an")
	defer s.Close()
	s.SetModels("claude-x")
	post := func(headers map[string]string, body string) (int, map[string]any) {
		req, _ := http.NewRequest("POST", s.URL+"/v1/messages", strings.NewReader(body))
		for k, v := range headers {
			req.Header.Set(k, v)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		json.NewDecoder(resp.Body).Decode(&m)
		return resp.StatusCode, m
	}
	ok := map[string]string{"x-api-key": "k", "anthropic-version": "2023-06-01"}
	body := `{"model":"claude-x","max_tokens":5,"messages":[{"role":"user","content":"x"}]}`
	for _, tc := range []struct {
		name    string
		headers map[string]string
		body    string
		fault   Fault
		status  int
		typ     string
	}{
		{"no key", map[string]string{"anthropic-version": "2023-06-01"}, body, NoFault, 401, "authentication_error"},
		{"no version", map[string]string{"x-api-key": "k"}, body, NoFault, 400, "invalid_request_error"},
		{"no max_tokens", ok, `{"model":"claude-x","messages":[{"role":"user","content":"x"}]}`, NoFault, 400, "invalid_request_error"},
		{"unknown model", ok, strings.Replace(body, "claude-x", "gpt", 1), NoFault, 404, "not_found_error"},
		{"500", ok, body, Fail500, 500, "api_error"},
		{"429", ok, body, Fail429, 429, "rate_limit_error"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetFault(tc.fault)
			code, m := post(tc.headers, tc.body)
			e, _ := m["error"].(map[string]any)
			if code != tc.status || m["type"] != "error" || e["type"] != tc.typ || e["message"] == "" {
				t.Fatalf("%d %v", code, m)
			}
		})
	}
	s.SetFault(NoFault)
	s.SetAPIKey("right")
	_, _, err := send(t, anthropicClient(s, "wrong"), messageParams(false, 5), false)
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 401 {
		t.Fatalf("wrong key: %v", err)
	}
	s.SetAPIKey("")
	s.SetFault(CutMidStream)
	s.SetReply("a b c d", 4)
	m, _, err := send(t, anthropicClient(s, "k"), messageParams(false, 5), true)
	if err == nil || m.StopReason != "" {
		t.Fatalf("a cut stream must fail the SDK: %v %+v", err, m)
	}
}

func TestAnthropicParallelToolsAndStreamError(t *testing.T) {
	s := NewAnthropic("an")
	defer s.Close()
	c := anthropicClient(s, "k")
	s.SetToolCalls(ToolCall{Name: "get_weather", Args: map[string]any{"city": "Oslo"}},
		ToolCall{Name: "get_weather", Args: map[string]any{"city": "Bergen"}})
	for _, stream := range []bool{false, true} {
		m, _, err := send(t, c, messageParams(true, 64), stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(m.Content) != 2 || m.Content[0].ID == m.Content[1].ID || !strings.Contains(string(m.Content[1].Input), "Bergen") {
			t.Fatalf("stream=%v content %+v", stream, m.Content)
		}
	}
	s.SetToolCalls()
	s.SetFault(ErrorMidStream)
	_, _, err := send(t, c, messageParams(false, 64), true)
	var ae *anthropic.Error
	if !errors.As(err, &ae) || !strings.Contains(err.Error(), "overloaded_error") {
		t.Fatalf("in-stream error: %v", err)
	}
}

func TestFakesThinking(t *testing.T) {
	an := NewAnthropic("an")
	defer an.Close()
	an.SetThinking("Oslo is in Norway.")
	an.SetToolCalls(ToolCall{Name: "get_weather", Args: map[string]any{"city": "Oslo"}})
	c := anthropicClient(an, "k")
	for _, stream := range []bool{false, true} {
		for _, tools := range []bool{false, true} {
			p := messageParams(tools, 4096)
			p.Thinking = anthropic.ThinkingConfigParamOfEnabled(2048)
			m, _, err := send(t, c, p, stream)
			if err != nil {
				t.Fatal(err)
			}
			if len(m.Content) != 2 || m.Content[0].Type != "thinking" || m.Content[0].Thinking != "Oslo is in Norway." || m.Content[0].Signature == "" {
				t.Fatalf("stream=%v tools=%v content %+v", stream, tools, m.Content)
			}
		}
	}
	// Without thinking asked, none comes.
	m, _, err := send(t, c, messageParams(false, 64), true)
	if err != nil || len(m.Content) != 1 || m.Content[0].Type != "text" {
		t.Fatalf("%+v %v", m.Content, err)
	}

	ol := NewOllama("ol")
	defer ol.Close()
	ol.SetThinking("Oslo is in Norway.")
	oc := ollamaClient(t, ol)
	for _, stream := range []bool{false, true} {
		var thinking, content string
		err := oc.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Stream: &stream, Think: &ollama.ThinkValue{Value: true},
			Messages: []ollama.Message{{Role: "user", Content: "x"}}}, func(r ollama.ChatResponse) error {
			thinking += r.Message.Thinking
			content += r.Message.Content
			return nil
		})
		if err != nil || thinking != "Oslo is in Norway." || content != "Hello from ol." {
			t.Fatalf("stream=%v thinking %q content %q %v", stream, thinking, content, err)
		}
	}
}
