package client

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"iter"
	"net/http"
	"time"
)

// ChatMessage is one message of a chat.
type ChatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// ChatRequest is an OpenAI chat completion request sent through the router
// (POST /v1/chat/completions).
type ChatRequest struct {
	Model       string        `json:"model"`
	Messages    []ChatMessage `json:"messages"`
	Temperature *float64      `json:"temperature,omitempty"`
	TopP        *float64      `json:"top_p,omitempty"`
	MaxTokens   *int          `json:"max_tokens,omitempty"`
	Stop        []string      `json:"stop,omitempty"`
	// Stream is set by the client: false for ChatCompletion, true for
	// ChatCompletionStream.
	Stream        bool           `json:"stream"`
	StreamOptions *StreamOptions `json:"stream_options,omitempty"`
}

// StreamOptions are OpenAI's stream options.
type StreamOptions struct {
	IncludeUsage bool `json:"include_usage"`
}

// Usage counts the tokens of a completion.
type Usage struct {
	PromptTokens     int `json:"prompt_tokens"`
	CompletionTokens int `json:"completion_tokens"`
	TotalTokens      int `json:"total_tokens"`
}

// ChatChoice is one choice of a [ChatResponse].
type ChatChoice struct {
	Index        int         `json:"index"`
	Message      ChatMessage `json:"message"`
	FinishReason string      `json:"finish_reason"`
}

// ChatResponse is a non-streamed chat completion.
type ChatResponse struct {
	ID      string       `json:"id"`
	Object  string       `json:"object"`
	Created int64        `json:"created"`
	Model   string       `json:"model"`
	Choices []ChatChoice `json:"choices"`
	Usage   *Usage       `json:"usage,omitempty"`
}

// Text returns the content of the first choice ("" when there is none).
func (r *ChatResponse) Text() string {
	if len(r.Choices) == 0 {
		return ""
	}
	return r.Choices[0].Message.Content
}

// ChunkDelta is the new part of a message in a [ChatChunk].
type ChunkDelta struct {
	Role    string `json:"role,omitempty"`
	Content string `json:"content,omitempty"`
}

// ChunkChoice is one choice of a [ChatChunk].
type ChunkChoice struct {
	Index        int        `json:"index"`
	Delta        ChunkDelta `json:"delta"`
	FinishReason *string    `json:"finish_reason"`
}

// ChatChunk is one event of a streamed chat completion.
type ChatChunk struct {
	ID      string        `json:"id"`
	Model   string        `json:"model"`
	Choices []ChunkChoice `json:"choices"`
	Usage   *Usage        `json:"usage,omitempty"`
}

// Text returns the content delta of the first choice.
func (c *ChatChunk) Text() string {
	if len(c.Choices) == 0 {
		return ""
	}
	return c.Choices[0].Delta.Content
}

// ChatCompletion sends a non-streamed chat completion.
func (c *Client) ChatCompletion(ctx context.Context, req ChatRequest) (*ChatResponse, error) {
	req.Stream = false
	req.StreamOptions = nil
	var out ChatResponse
	if err := c.postJSON(ctx, "/v1/chat/completions", req, &out); err != nil {
		return nil, err
	}
	return &out, nil
}

// ChatCompletionStream sends a streamed chat completion and yields its
// events as they arrive. A failure before the first event is retried like
// any call; the iterator then yields one error and stops. Stopping the loop
// early (break) closes the connection.
//
//	for chunk, err := range c.ChatCompletionStream(ctx, req) {
//		if err != nil { … }
//		fmt.Print(chunk.Text())
//	}
func (c *Client) ChatCompletionStream(ctx context.Context, req ChatRequest) iter.Seq2[*ChatChunk, error] {
	return func(yield func(*ChatChunk, error) bool) {
		req.Stream = true
		body, err := json.Marshal(req)
		if err != nil {
			yield(nil, fmt.Errorf("llm-router client: encoding request: %w", err))
			return
		}
		const path = "/v1/chat/completions"
		ctx, cancel := context.WithCancel(ctx)
		defer cancel()
		var resp *http.Response
		err = c.retry(ctx, http.MethodPost, path, func(ctx context.Context) (time.Duration, bool, error) {
			hctx, stop := c.attemptContext(ctx)
			// The timeout bounds the wait for the headers only.
			r, err := c.sendHeaders(ctx, hctx, body, path)
			stop()
			if err != nil {
				return 0, retryableNetErr(ctx, err), err
			}
			if r.StatusCode/100 != 2 {
				data, rerr := readBounded(r.Body, c.maxBody)
				r.Body.Close()
				if rerr != nil {
					data = nil
				}
				apiErr := newAPIError(r, data)
				return apiErr.RetryAfter, retryableStatus(r.StatusCode), typed(apiErr)
			}
			resp = r
			return 0, false, nil
		})
		if err != nil {
			yield(nil, err)
			return
		}
		defer resp.Body.Close()
		sc := bufio.NewScanner(resp.Body)
		sc.Buffer(make([]byte, 0, 64<<10), int(min(c.maxBody, 1<<30)))
		for sc.Scan() {
			line := sc.Bytes()
			data, ok := bytes.CutPrefix(line, []byte("data:"))
			if !ok {
				continue // comments, event names, blank separators
			}
			data = bytes.TrimSpace(data)
			if string(data) == "[DONE]" {
				return
			}
			var ev struct {
				ChatChunk
				Error json.RawMessage `json:"error"`
			}
			if err := json.Unmarshal(data, &ev); err != nil {
				yield(nil, fmt.Errorf("POST %s: %w: event %q: %v", path, ErrInvalidResponse, truncate(data), err))
				return
			}
			if len(ev.Error) > 0 && string(ev.Error) != "null" {
				msg, typ, param := errorMessage(data)
				yield(nil, &ServerError{&APIError{StatusCode: http.StatusBadGateway, Message: msg, Type: typ, Param: param}})
				return
			}
			chunk := ev.ChatChunk
			if !yield(&chunk, nil) {
				return
			}
		}
		if err := sc.Err(); err != nil {
			if errors.Is(err, bufio.ErrTooLong) {
				err = ErrResponseTooLarge
			}
			yield(nil, fmt.Errorf("POST %s: reading stream: %w", path, err))
			return
		}
		yield(nil, fmt.Errorf("POST %s: %w: the stream ended without [DONE]", path, ErrInvalidResponse))
	}
}

// sendHeaders sends a stream request whose body lives under ctx, failing
// when the headers do not arrive before hctx ends.
func (c *Client) sendHeaders(ctx, hctx context.Context, body []byte, path string) (*http.Response, error) {
	type result struct {
		r   *http.Response
		err error
	}
	rctx, cancel := context.WithCancel(ctx)
	ch := make(chan result, 1)
	go func() {
		r, err := c.send(rctx, http.MethodPost, path, body, "text/event-stream")
		ch <- result{r, err}
	}()
	select {
	case res := <-ch:
		if res.err != nil {
			cancel()
			return nil, res.err
		}
		// The caller closes the body; closing it ends the request, and
		// rctx ends with the caller's context.
		res.r.Body = &cancelBody{ReadCloser: res.r.Body, cancel: cancel}
		return res.r, nil
	case <-hctx.Done():
		cancel()
		<-ch
		if ctx.Err() != nil {
			return nil, fmt.Errorf("POST %s: %w", path, ctx.Err())
		}
		return nil, fmt.Errorf("POST %s: no answer headers within the timeout: %w", path, context.DeadlineExceeded)
	}
}

// cancelBody ends a stream request's context when its body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

func truncate(b []byte) string {
	if len(b) > 120 {
		return string(b[:120]) + "…"
	}
	return string(b)
}
