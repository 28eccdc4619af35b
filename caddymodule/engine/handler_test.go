package engine

import (
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// The request log line reads the same as when each field was its own zap
// field: same keys, same order, same encodings.
func TestRequestLogLine(t *testing.T) {
	cfg := zap.NewProductionEncoderConfig()
	cfg.EncodeDuration = zapcore.SecondsDurationEncoder
	enc := zapcore.NewJSONEncoder(cfg)
	ent := zapcore.Entry{Level: zapcore.InfoLevel, Message: "request", Time: time.Unix(1700000000, 0)}
	info := &reqInfo{requestID: "r-1", model: "m", provider: "p1", apiType: "vllm", translated: true, stream: true,
		usage: protocol.Usage{Input: 5, Output: 9}}
	ttft, d := 1500*time.Microsecond, 2*time.Second
	want, err := enc.EncodeEntry(ent, []zap.Field{zap.String("request_id", "r-1"), zap.String("endpoint", "chat_completions"),
		zap.String("model", "m"), zap.String("provider", "p1"), zap.String("provider_type", "vllm"),
		zap.Bool("translated", true), zap.Bool("stream", true), zap.Int("status", 200),
		zap.Int("input_tokens", 5), zap.Int("output_tokens", 9),
		zap.Duration("ttft", ttft), zap.Duration("duration", d)})
	if err != nil {
		t.Fatal(err)
	}
	got, err := enc.EncodeEntry(ent, []zap.Field{zap.Inline(&requestLog{info: info, endpoint: "chat_completions", code: 200, ttft: ttft, d: d})})
	if err != nil {
		t.Fatal(err)
	}
	if got.String() != want.String() {
		t.Errorf("log line\n got %s\nwant %s", got, want)
	}
}
