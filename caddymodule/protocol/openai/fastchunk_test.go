package openai

import (
	"reflect"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// The fast path must produce exactly the events of the full decoder, before
// and after the stream started, for every chunk it accepts.
func FuzzFastChunk(f *testing.F) {
	for _, s := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","choices":[{"index":0,"delta":{"content":"Hi \u00e9\n"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"c","model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null,"stop_reason":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"stop","stop_reason":"END"}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{},"finish_reason":"length","stop_reason":42}]}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":24,"completion_tokens":16,"total_tokens":40}}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":1},"usage":{"completion_tokens":2}}`,
		`{"id":"c","choices":[],"usage":{"prompt_tokens":1,"prompt_tokens_details":{"cached_tokens":1}}}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":null}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"delta":{"content":null}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop","finish_reason":null}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"reasoning_content":"x"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"tool_calls":[{"index":0,"function":{"arguments":"{"}}]}}]}`,
		`{"id":"c","choices":[{"index":1,"delta":{"content":"b"}}]}`,
		`{"id":"c","choices":[{"index":0,"delta":{"content":"a"}},{"index":1,"delta":{"content":"b"}}]}`,
		`{"id":"c","choices":{"index":0}}`,
		`{"Choices":[{"delta":{"content":"a"}}],"choices":[{"delta":{"content":"b"}}]}`,
		`{"error":{"message":"boom"}}`,
	} {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, data []byte, started bool) {
		if _, ok := readFastChunk(data); !ok {
			return
		}
		fast, full := newStreamDecoder(nil), newStreamDecoder(nil)
		fast.started, full.started = started, started
		errFast, errFull := fast.Frame(data), full.handleFull(data)
		evFast, evFull := drain(&fast.EventQueue), drain(&full.EventQueue)
		if (errFast == nil) != (errFull == nil) || !reflect.DeepEqual(evFast, evFull) ||
			fast.started != full.started || fast.stopped != full.stopped || fast.Done != full.Done {
			t.Fatalf("on %q (started %v):\nfast %v %+v\nfull %v %+v", data, started, errFast, evFast, errFull, evFull)
		}
	})
}

// drain returns the queued events.
func drain(q *protocol.EventQueue) []protocol.Event {
	var evs []protocol.Event
	for ev, ok := q.Pop(); ok; ev, ok = q.Pop() {
		evs = append(evs, ev)
	}
	return evs
}

// Chunks as vLLM and OpenAI send them take the fast path.
func TestFastChunkTaken(t *testing.T) {
	for _, line := range []string{
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"logprobs":null,"finish_reason":null}]}`,
		`{"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","system_fingerprint":"fp","service_tier":"default","choices":[{"index":0,"delta":{"content":"x"},"logprobs":null,"finish_reason":null}],"usage":null}`,
		`{"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":""},"logprobs":null,"finish_reason":"stop","stop_reason":null}]}`,
		`{"id":"cmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":24,"total_tokens":40,"completion_tokens":16}}`,
	} {
		if _, ok := readFastChunk([]byte(line)); !ok {
			t.Errorf("full decoder taken for %s", line)
		}
	}
}
