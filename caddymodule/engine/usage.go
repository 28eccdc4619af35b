package engine

import (
	"bytes"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// usageFromJSON extracts usage from one JSON document in any dialect's
// shape: OpenAI chat (usage.prompt/completion_tokens), Responses and
// Anthropic (usage.input/output_tokens, also inside "response" or
// "message"), Ollama (prompt_eval_count/eval_count). ok is false when it
// carries none. It reads the counts where they stand, without decoding.
func usageFromJSON(b []byte) (u protocol.Usage, ok bool) {
	if !bytes.Contains(b, []byte("usage")) && !bytes.Contains(b, []byte("eval_count")) {
		return u, false
	}
	_ = jsonscan.Each(b, func(k, v []byte) bool {
		ok = usageMember(k, v, &u) || ok
		return true
	})
	return u, ok
}

// answerUsage checks that a non-streamed answer is one well-formed JSON
// object and reads its usage (see usageFromJSON) in the same pass.
func answerUsage(b []byte) (u protocol.Usage, err error) {
	err = jsonscan.Each(b, func(k, v []byte) bool {
		usageMember(k, v, &u)
		return true
	})
	return u, err
}

// usageMember reads the usage counts a top-level member k: v carries into
// u, and reports whether it carried any.
func usageMember(k, v []byte, u *protocol.Usage) (ok bool) {
	switch string(k) {
	case "usage":
		return counts(v, u)
	case "message", "response":
		_ = jsonscan.Each(v, func(k, v []byte) bool {
			if string(k) == "usage" {
				ok = counts(v, u) || ok
			}
			return true
		})
		return ok
	case "prompt_eval_count":
		u.Input, _ = jsonscan.Int(v)
		return true
	case "eval_count":
		u.Output, _ = jsonscan.Int(v)
		return true
	}
	return false
}

// counts reads a usage object's input and output counts.
func counts(obj []byte, u *protocol.Usage) bool {
	found := false
	_ = jsonscan.Each(obj, func(k, v []byte) bool {
		switch string(k) {
		case "prompt_tokens", "input_tokens":
			u.Input, _ = jsonscan.Int(v)
			found = true
		case "completion_tokens", "output_tokens":
			u.Output, _ = jsonscan.Int(v)
			found = true
		}
		return true
	})
	return found
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
	if t.buf == nil {
		t.buf = make([]byte, 0, t.max) // never grows: len stays ≤ max
	}
	if len(p) >= t.max {
		t.buf = append(t.buf[:0], p[len(p)-t.max:]...)
		return
	}
	if over := len(t.buf) + len(p) - t.max; over > 0 {
		t.buf = append(t.buf[:0], t.buf[over:]...)
	}
	t.buf = append(t.buf, p...)
}
