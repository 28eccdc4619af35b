package engine

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/llmrouter/llm-router/plugins"
)

// nopUtil is a util that is no augmenter.
type nopUtil struct{}

func (nopUtil) Apply(context.Context, *plugins.Request) error { return nil }

// BenchmarkRunPipeline is the pipeline step of a chat request for a
// concrete model: without plugins, and with a util that does not retrieve
// (the common configurations, which must not pay for retrieval).
func BenchmarkRunPipeline(b *testing.B) {
	body := []byte(benchChatBodies[0].body)
	for _, bc := range []struct {
		name string
		p    *plugins.Pipeline
	}{{"none", nil}, {"util", &plugins.Pipeline{Utils: []plugins.Util{nopUtil{}}}}} {
		b.Run(bc.name, func(b *testing.B) {
			h := &Server{app: New(Options{Pipeline: bc.p}), logger: zap.NewNop()}
			w := httptest.NewRecorder()
			pr, err := parseChat(body, false)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				c := &chatCall{kind: kindOpenAIChat, body: body, obj: pr.obj, model: pr.model}
				if err := h.runPipeline(context.Background(), w, Route{}, c); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRequestLog writes the request log line of a routed request.
func BenchmarkRequestLog(b *testing.B) {
	enc := zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig())
	info := &reqInfo{requestID: "0123456789abcdef01234567", model: "m", provider: "p", apiType: "openai"}
	l := &requestLog{info: info, endpoint: "openai_chat", code: 200, d: time.Millisecond}
	b.ReportAllocs()
	for b.Loop() {
		buf, err := enc.EncodeEntry(zapcore.Entry{Message: "request"}, []zapcore.Field{zap.Inline(l)})
		if err != nil {
			b.Fatal(err)
		}
		buf.Free()
	}
}
