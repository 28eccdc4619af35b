package caddymodule

import (
	"bytes"
	"encoding/json"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// wireUsage reads token counts in any dialect's shape: OpenAI chat
// (prompt/completion_tokens), Responses and Anthropic (input/output_tokens,
// also nested in "message"), Ollama (prompt_eval_count/eval_count).
type wireUsage struct {
	Usage *struct {
		PromptTokens     int `json:"prompt_tokens"`
		CompletionTokens int `json:"completion_tokens"`
		InputTokens      int `json:"input_tokens"`
		OutputTokens     int `json:"output_tokens"`
	} `json:"usage"`
	Message *struct {
		Usage *struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	} `json:"message"`
	Response *struct {
		Usage *struct {
			InputTokens  int `json:"input_tokens"`
			OutputTokens int `json:"output_tokens"`
		} `json:"usage"`
	} `json:"response"`
	PromptEvalCount int `json:"prompt_eval_count"`
	EvalCount       int `json:"eval_count"`
}

// usageFromJSON extracts usage from one JSON document; ok is false when it
// carries none. Only the members that hold counts are decoded.
func usageFromJSON(b []byte) (u protocol.Usage, ok bool) {
	if !bytes.Contains(b, []byte("usage")) && !bytes.Contains(b, []byte("eval_count")) {
		return u, false
	}
	obj, err := jsonscan.Scan(b)
	if err != nil {
		return u, false
	}
	small := make([]byte, 0, 256)
	small = append(small, '{')
	for _, k := range [...]string{"usage", "message", "response", "prompt_eval_count", "eval_count"} {
		raw := obj.Raw(k)
		if raw == nil || (k != "usage" && k != "prompt_eval_count" && k != "eval_count" && !bytes.Contains(raw, []byte("usage"))) {
			continue
		}
		if len(small) > 1 {
			small = append(small, ',')
		}
		small = append(small, '"')
		small = append(small, k...)
		small = append(small, '"', ':')
		small = append(small, raw...)
	}
	small = append(small, '}')
	var w wireUsage
	if json.Unmarshal(small, &w) != nil {
		return u, false
	}
	switch {
	case w.Usage != nil:
		u.Input = w.Usage.PromptTokens + w.Usage.InputTokens
		u.Output = w.Usage.CompletionTokens + w.Usage.OutputTokens
	case w.Response != nil && w.Response.Usage != nil:
		u.Input, u.Output = w.Response.Usage.InputTokens, w.Response.Usage.OutputTokens
	case w.Message != nil && w.Message.Usage != nil:
		u.Input, u.Output = w.Message.Usage.InputTokens, w.Message.Usage.OutputTokens
	case w.PromptEvalCount > 0 || w.EvalCount > 0:
		u.Input, u.Output = w.PromptEvalCount, w.EvalCount
	default:
		return u, false
	}
	return u, true
}

// usageFromStreamTail finds the usage report in the tail of a relayed
// stream (SSE data lines or NDJSON), where every dialect puts it. It walks
// back from the end and parses only lines that carry numbers (chunks with
// "usage": null are skipped), stopping once both counts are known.
func usageFromStreamTail(tail []byte) protocol.Usage {
	var best protocol.Usage
	for len(tail) > 0 && (best.Input == 0 || best.Output == 0) {
		i := bytes.LastIndexByte(tail, '\n')
		line := tail[i+1:]
		tail = tail[:max(i, 0)]
		if !bytes.Contains(line, []byte(`"usage":{`)) && !bytes.Contains(line, []byte(`"usage": {`)) &&
			!bytes.Contains(line, []byte(`eval_count"`)) {
			continue
		}
		line = bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(line), []byte("data:")))
		if len(line) == 0 || line[0] != '{' {
			continue
		}
		if u, ok := usageFromJSON(line); ok {
			if best.Input == 0 {
				best.Input = u.Input
			}
			if best.Output == 0 {
				best.Output = u.Output
			}
		}
	}
	return best
}

// tailBuffer keeps the last bytes of a stream.
type tailBuffer struct {
	buf []byte
	max int
}

func (t *tailBuffer) Write(p []byte) {
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
}
