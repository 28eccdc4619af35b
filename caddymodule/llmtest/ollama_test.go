package llmtest

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
)

func ollamaClient(t *testing.T, s *Ollama) *ollama.Client {
	t.Helper()
	u, err := url.Parse(s.URL)
	if err != nil {
		t.Fatal(err)
	}
	return ollama.NewClient(u, http.DefaultClient)
}

// The official Ollama client reads the fake's chat, streamed and not, with
// the final metrics and done_reason.
func TestOllamaChat(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	s.SetReply("one two three four", 4)
	c := ollamaClient(t, s)
	for _, tc := range []struct {
		name      string
		stream    *bool
		parts     int
		predict   int
		want      string
		reason    string
		evalCount int
	}{
		{"default streams", nil, 5, 0, "one two three four", "stop", 4},
		{"stream false", new(false), 1, 0, "one two three four", "stop", 4},
		{"num_predict cuts", new(true), 3, 2, "one two ", "length", 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := &ollama.ChatRequest{Model: "llama3.2", Stream: tc.stream, Messages: []ollama.Message{{Role: "user", Content: "count"}}}
			if tc.predict > 0 {
				req.Options = map[string]any{"num_predict": tc.predict}
			}
			var got strings.Builder
			var last ollama.ChatResponse
			n := 0
			err := c.Chat(context.Background(), req, func(r ollama.ChatResponse) error {
				got.WriteString(r.Message.Content)
				last = r
				n++
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if got.String() != tc.want || n != tc.parts || !last.Done || last.DoneReason != tc.reason {
				t.Fatalf("got %q in %d parts, final %+v", got.String(), n, last)
			}
			if last.EvalCount != tc.evalCount || last.PromptEvalCount == 0 || last.TotalDuration == 0 {
				t.Fatalf("metrics %+v", last.Metrics)
			}
		})
	}
	if got := s.Requests()[0].JSON()["stream"]; got != nil {
		t.Fatalf("a nil Stream must be omitted by the client, got %v", got)
	}
}

func TestOllamaToolCall(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	s.SetToolCalls(ToolCall{Name: "get_weather", Args: map[string]any{"city": "Oslo"}})
	c := ollamaClient(t, s)
	tools := ollama.Tools{{Type: "function", Function: ollama.ToolFunction{Name: "get_weather", Description: "Weather"}}}
	for _, stream := range []bool{false, true} {
		var calls []ollama.ToolCall
		var last ollama.ChatResponse
		err := c.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Stream: &stream, Tools: tools,
			Messages: []ollama.Message{{Role: "user", Content: "weather?"}}}, func(r ollama.ChatResponse) error {
			calls = append(calls, r.Message.ToolCalls...)
			last = r
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(calls) != 1 || calls[0].Function.Name != "get_weather" || calls[0].ID == "" || !last.Done || last.DoneReason != "stop" {
			t.Fatalf("stream=%v: calls %+v final %+v", stream, calls, last)
		}
		if city, _ := calls[0].Function.Arguments.Get("city"); city != "Oslo" {
			t.Fatalf("arguments %v", calls[0].Function.Arguments.String())
		}
	}
	// Without tools in the request the fake answers text.
	var got string
	err := c.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Messages: []ollama.Message{{Role: "user", Content: "hi"}}},
		func(r ollama.ChatResponse) error { got += r.Message.Content; return nil })
	if err != nil || got != "Hello from ol." {
		t.Fatalf("%q %v", got, err)
	}
}

func TestOllamaGenerateEmbedAndListing(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	s.SetModels("llama3.2", "nomic-embed-text")
	c := ollamaClient(t, s)
	ctx := context.Background()
	var text string
	var last ollama.GenerateResponse
	if err := c.Generate(ctx, &ollama.GenerateRequest{Model: "llama3.2", Prompt: "hi"}, func(r ollama.GenerateResponse) error {
		text += r.Response
		last = r
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if text != "Hello from ol." || last.DoneReason != "stop" || len(last.Context) == 0 || last.EvalCount == 0 {
		t.Fatalf("generate %q %+v", text, last)
	}
	emb, err := c.Embed(ctx, &ollama.EmbedRequest{Model: "nomic-embed-text", Input: []string{"a", "b"}})
	if err != nil || len(emb.Embeddings) != 2 || len(emb.Embeddings[0]) != 4 || emb.Embeddings[0][0] != float32(Vector("a")[0]) {
		t.Fatalf("embed %+v %v", emb, err)
	}
	old, err := c.Embeddings(ctx, &ollama.EmbeddingRequest{Model: "nomic-embed-text", Prompt: "a"})
	if err != nil || len(old.Embedding) != 4 || old.Embedding[1] != Vector("a")[1] {
		t.Fatalf("embeddings %+v %v", old, err)
	}
	list, err := c.List(ctx)
	if err != nil || len(list.Models) != 2 || list.Models[0].Name != "llama3.2:latest" {
		t.Fatalf("tags %+v %v", list, err)
	}
	v, err := c.Version(ctx)
	if err != nil || v != OllamaVersion {
		t.Fatalf("version %q %v", v, err)
	}
}

func TestOllamaErrors(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	s.SetModels("llama3.2")
	c := ollamaClient(t, s)
	chat := func() error {
		return c.Chat(context.Background(), &ollama.ChatRequest{Model: "llama3.2", Messages: []ollama.Message{{Role: "user", Content: "x"}}},
			func(ollama.ChatResponse) error { return nil })
	}
	for _, tc := range []struct {
		name   string
		model  string
		fault  Fault
		status int
	}{
		{"unknown model", "nope", NoFault, 404},
		{"500", "llama3.2", Fail500, 500},
		{"429", "llama3.2", Fail429, 429},
		{"400", "llama3.2", Fail400, 400},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s.SetFault(tc.fault)
			resp, err := http.Post(s.URL+"/api/chat", "application/json", strings.NewReader(`{"model":"`+tc.model+`","messages":[]}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body map[string]any
			json.NewDecoder(resp.Body).Decode(&body)
			if msg, ok := body["error"].(string); resp.StatusCode != tc.status || !ok || msg == "" {
				t.Fatalf("%d %v", resp.StatusCode, body)
			}
			var se ollama.StatusError
			if tc.model == "llama3.2" {
				if err := chat(); !errors.As(err, &se) || se.StatusCode != tc.status {
					t.Fatalf("client error %v", err)
				}
			}
		})
	}
	t.Run("cut mid-stream", func(t *testing.T) {
		s.SetFault(CutMidStream)
		// The Ollama client ignores a read error after the last full line
		// (api/client.go never checks scanner.Err), so only the missing
		// done line tells a cut stream from a finished one.
		done := false
		err := c.Chat(context.Background(), &ollama.ChatRequest{Model: "llama3.2", Messages: []ollama.Message{{Role: "user", Content: "x"}}},
			func(r ollama.ChatResponse) error { done = done || r.Done; return nil })
		if err != nil || done {
			t.Fatalf("cut stream: err %v, done %v", err, done)
		}
		resp, err := http.Post(s.URL+"/api/chat", "application/json", strings.NewReader(`{"model":"llama3.2","messages":[{"role":"user","content":"x"}]}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			if strings.Contains(sc.Text(), `"done":true`) {
				t.Fatal("a cut stream sent its final line")
			}
		}
	})
	t.Run("hang until the client leaves", func(t *testing.T) {
		s.SetFault(Hang)
		ctx, cancel := context.WithCancel(context.Background())
		before := s.Canceled()
		done := make(chan error, 1)
		n := s.Count("/api/chat")
		go func() {
			done <- c.Chat(ctx, &ollama.ChatRequest{Model: "llama3.2", Messages: []ollama.Message{{Role: "user", Content: "x"}}},
				func(ollama.ChatResponse) error { return nil })
		}()
		waitFor(t, func() bool { return s.Count("/api/chat") > n })
		cancel()
		if err := <-done; err == nil {
			t.Fatal("canceled call returned no error")
		}
		waitFor(t, func() bool { return s.Canceled() > before })
	})
}

func TestOllamaHold(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	s.SetReply("a b c", 3)
	release := s.Hold()
	got := make(chan string, 8)
	done := make(chan error, 1)
	go func() {
		done <- ollamaClient(t, s).Chat(context.Background(), &ollama.ChatRequest{Model: "m", Messages: []ollama.Message{{Role: "user", Content: "x"}}},
			func(r ollama.ChatResponse) error { got <- r.Message.Content; return nil })
	}()
	if first := <-got; first != "a " {
		t.Fatalf("first delta %q", first)
	}
	select {
	case more := <-got:
		t.Fatalf("delta %q arrived while held", more)
	default:
	}
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond until it holds; the test binary's own timeout bounds it.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	for !cond() {
		select {
		case <-t.Context().Done():
			t.Fatal("test ended while waiting")
		default:
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestOllamaStreamErrorAndOldToolCalls(t *testing.T) {
	s := NewOllama("ol")
	defer s.Close()
	c := ollamaClient(t, s)
	s.SetFault(ErrorMidStream)
	s.SetReply("a b c d", 4)
	var got string
	err := c.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Messages: []ollama.Message{{Role: "user", Content: "x"}}},
		func(r ollama.ChatResponse) error { got += r.Message.Content; return nil })
	if err == nil || !strings.Contains(err.Error(), "error was encountered") || got != "a b " {
		t.Fatalf("in-stream error: %v after %q", err, got)
	}
	s.SetFault(NoFault)
	s.SetToolCalls(ToolCall{Name: "a", NoID: true}, ToolCall{Name: "b", NoID: true})
	var calls []ollama.ToolCall
	err = c.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Tools: ollama.Tools{{Type: "function", Function: ollama.ToolFunction{Name: "a"}}},
		Messages: []ollama.Message{{Role: "user", Content: "x"}}},
		func(r ollama.ChatResponse) error { calls = append(calls, r.Message.ToolCalls...); return nil })
	if err != nil || len(calls) != 2 || calls[0].ID != "" || calls[1].Function.Index != 1 || calls[1].Function.Name != "b" {
		t.Fatalf("calls %+v %v", calls, err)
	}
}
