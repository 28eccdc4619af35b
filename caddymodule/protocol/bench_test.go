package protocol_test

import (
	"context"
	"io"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// repeatReader yields head, n copies of chunk, then tail, without holding
// the whole stream in memory.
type repeatReader struct {
	head, chunk, tail string
	n                 int
	cur               string
}

func (r *repeatReader) Read(p []byte) (int, error) {
	for r.cur == "" {
		switch {
		case r.head != "":
			r.cur, r.head = r.head, ""
		case r.n > 0:
			r.cur = r.chunk
			r.n--
		case r.tail != "":
			r.cur, r.tail = r.tail, ""
		default:
			return 0, io.EOF
		}
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

var upstreams = map[string]struct{ head, chunk, tail string }{
	"openai": {
		head:  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}` + "\n\n",
		chunk: `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":" token"},"finish_reason":null}]}` + "\n\n",
		tail: `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"stop"}]}` + "\n\n" +
			`data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":1,"completion_tokens":2,"total_tokens":3}}` + "\n\ndata: [DONE]\n\n",
	},
	"anthropic": {
		head: "event: message_start\ndata: {\"type\":\"message_start\",\"message\":{\"id\":\"msg_1\",\"type\":\"message\",\"role\":\"assistant\",\"model\":\"m\",\"content\":[],\"usage\":{\"input_tokens\":1,\"output_tokens\":1}}}\n\n" +
			"event: content_block_start\ndata: {\"type\":\"content_block_start\",\"index\":0,\"content_block\":{\"type\":\"text\",\"text\":\"\"}}\n\n",
		chunk: "event: content_block_delta\ndata: {\"type\":\"content_block_delta\",\"index\":0,\"delta\":{\"type\":\"text_delta\",\"text\":\" token\"}}\n\n",
		tail: "event: content_block_stop\ndata: {\"type\":\"content_block_stop\",\"index\":0}\n\n" +
			"event: message_delta\ndata: {\"type\":\"message_delta\",\"delta\":{\"stop_reason\":\"end_turn\"},\"usage\":{\"output_tokens\":2}}\n\nevent: message_stop\ndata: {\"type\":\"message_stop\"}\n\n",
	},
	"ollama": {
		chunk: `{"model":"m","created_at":"2025-07-07T20:22:19.18Z","message":{"role":"assistant","content":" token"},"done":false}` + "\n",
		tail:  `{"model":"m","created_at":"2025-07-07T20:22:19.20Z","message":{"role":"assistant","content":""},"done":true,"done_reason":"stop","prompt_eval_count":1,"eval_count":2}` + "\n",
	},
}

// BenchmarkTranslate measures one upstream text delta decoded and
// re-encoded for the client (op = one event; allocs/op are per event).
func BenchmarkTranslate(b *testing.B) {
	for _, from := range []string{"openai", "anthropic", "ollama"} {
		for _, to := range []string{"openai", "anthropic", "ollama", "responses"} {
			u := upstreams[from]
			b.Run(from+"_to_"+to, func(b *testing.B) {
				r := &repeatReader{head: u.head, chunk: u.chunk, tail: u.tail, n: b.N}
				dec := providers[from].NewStreamDecoder(r)
				enc := clients[to].NewStreamEncoder(io.Discard, func() error { return nil }, protocol.StreamOptions{Model: "client", IncludeUsage: true})
				b.ReportAllocs()
				b.ResetTimer()
				res, err := protocol.Pump(context.Background(), dec, enc)
				if err != nil || !res.Ended {
					b.Fatalf("pump: %v %+v", err, res)
				}
			})
		}
	}
}

// BenchmarkEncodeText measures writing one text delta per client dialect.
func BenchmarkEncodeText(b *testing.B) {
	for _, to := range []string{"openai", "anthropic", "ollama", "responses"} {
		b.Run(to, func(b *testing.B) {
			enc := clients[to].NewStreamEncoder(io.Discard, nil, protocol.StreamOptions{Model: "client"})
			start := protocol.Event{Kind: protocol.EvStart}
			_ = enc.Write(&start)
			ev := protocol.Event{Kind: protocol.EvText, Text: " token"}
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if err := enc.Write(&ev); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkDecode measures decoding one upstream text delta per provider dialect.
func BenchmarkDecode(b *testing.B) {
	for _, from := range []string{"openai", "anthropic", "ollama"} {
		u := upstreams[from]
		b.Run(from, func(b *testing.B) {
			dec := providers[from].NewStreamDecoder(&repeatReader{head: u.head, chunk: u.chunk, tail: u.tail, n: b.N})
			b.ReportAllocs()
			b.ResetTimer()
			for {
				ev, err := dec.Next()
				if err != nil {
					b.Fatal(err)
				}
				if ev.Kind == protocol.EvEnd {
					return
				}
			}
		})
	}
}

// BenchmarkRequest measures decoding a client request (what masking needs
// even on the passthrough path) and encoding it for each provider.
func BenchmarkRequest(b *testing.B) {
	for _, from := range []string{"openai", "anthropic", "ollama"} {
		body := []byte(conversations[from])
		b.Run("decode_"+from, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for range b.N {
				if _, err := chatCodecs[from].DecodeRequest(body); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
	src, _ := chatCodecs["openai"].DecodeRequest([]byte(conversations["openai"]))
	for _, to := range []string{"openai", "anthropic", "ollama"} {
		b.Run("encode_openai_to_"+to, func(b *testing.B) {
			b.ReportAllocs()
			for range b.N {
				if _, err := chatCodecs[to].EncodeRequest(src); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkStream measures one whole short stream (16 deltas) decoded and
// re-encoded for a client: per op, what a translated request costs in the
// stream loop, the first and last lines included.
func BenchmarkStream(b *testing.B) {
	for _, pair := range [][2]string{{"openai", "openai"}, {"anthropic", "openai"}, {"ollama", "openai"}, {"openai", "anthropic"}, {"openai", "ollama"}} {
		from, to := pair[0], pair[1]
		u := upstreams[from]
		b.Run(from+"_to_"+to, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				dec := providers[from].NewStreamDecoder(&repeatReader{head: u.head, chunk: u.chunk, tail: u.tail, n: 16})
				enc := clients[to].NewStreamEncoder(io.Discard, func() error { return nil }, protocol.StreamOptions{Model: "client", IncludeUsage: true})
				if res, err := protocol.Pump(context.Background(), dec, enc); err != nil || !res.Ended {
					b.Fatalf("pump: %v %+v", err, res)
				}
				protocol.Release(dec)
			}
		})
	}
}
