package engine

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"go.uber.org/zap"
)

func TestUsage(t *testing.T) {
	tests := []struct {
		doc     string
		in, out int
	}{
		{`{"usage":{"prompt_tokens":7,"completion_tokens":3}}`, 7, 3},
		{`{"type":"message","usage":{"input_tokens":5,"output_tokens":9}}`, 5, 9},
		{`{"type":"message_start","message":{"usage":{"input_tokens":11,"output_tokens":1}}}`, 11, 1},
		{`{"type":"response.completed","response":{"usage":{"input_tokens":4,"output_tokens":2}}}`, 4, 2},
		{`{"done":true,"prompt_eval_count":12,"eval_count":30}`, 12, 30},
	}
	for _, tt := range tests {
		u, ok := usageFromJSON([]byte(tt.doc))
		if !ok || u.Input != tt.in || u.Output != tt.out {
			t.Errorf("usageFromJSON(%s) = %+v %v", tt.doc, u, ok)
		}
	}
	if _, ok := usageFromJSON([]byte(`{"choices":[]}`)); ok {
		t.Error("no usage must report none")
	}
	tail := tailBuffer{max: 256}
	tail.Write([]byte("data: {\"choices\":[{\"delta\":{\"content\":\"hi\"}}]}\n\n"))
	tail.Write([]byte("data: {\"choices\":[],\"usage\":{\"prompt_tokens\":3,\"completion_tokens\":8}}\n\ndata: [DONE]\n\n"))
	if u := usageFromStreamTail(tail.buf); u.Input != 3 || u.Output != 8 {
		t.Errorf("stream tail usage = %+v", u)
	}
	small := tailBuffer{max: 4}
	small.Write([]byte("abcdef"))
	small.Write([]byte("gh"))
	if string(small.buf) != "efgh" {
		t.Errorf("tail = %q", small.buf)
	}
	for _, p := range []string{"i", "jk", "lmn", "o", "pqrstu", "v"} {
		small.Write([]byte(p))
	}
	if string(small.buf) != "stuv" || cap(small.buf) != 4 {
		t.Errorf("tail = %q (capacity %d), want \"stuv\" in exactly 4 bytes", small.buf, cap(small.buf))
	}
}

func TestUpstreamMessage(t *testing.T) {
	for body, want := range map[string]string{
		`{"error":{"message":"bad temp","type":"invalid_request_error"}}`:             "bad temp",
		`{"error":"model 'x' not found"}`:                                             "model 'x' not found",
		`{"type":"error","error":{"type":"overloaded_error","message":"Overloaded"}}`: "Overloaded",
		`<html>nginx</html>`: "Bad Gateway",
	} {
		if got := upstreamMessage([]byte(body), 502); got != want {
			t.Errorf("upstreamMessage(%s) = %q, want %q", body, got, want)
		}
	}
}

func TestRequestID(t *testing.T) {
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("X-Request-ID", "abc-1")
	if RequestID(r) != "abc-1" {
		t.Fatal("a sane client id must be kept")
	}
	r.Header.Set("X-Request-ID", "bad\nid")
	if id := RequestID(r); id == "bad\nid" || len(id) != 24 {
		t.Fatalf("an id with a newline must be replaced, got %q", id)
	}
}

func TestRecoverPanic(t *testing.T) {
	h := &Server{logger: zap.NewNop()}
	rec := httptest.NewRecorder()
	sw := &statusWriter{ResponseWriter: rec}
	func() {
		defer h.recoverPanic(sw, Route{Name: "x", Dialect: protocol.Anthropic})
		panic("boom")
	}()
	if rec.Code != 500 || !strings.Contains(rec.Body.String(), `"type":"error"`) || strings.Contains(rec.Body.String(), "boom") {
		t.Fatalf("panic answer: %d %s", rec.Code, rec.Body)
	}
	defer func() {
		if r := recover(); r != http.ErrAbortHandler {
			t.Fatalf("a panic after the first byte must abort the response, got %v", r)
		}
	}()
	sw2 := &statusWriter{ResponseWriter: httptest.NewRecorder(), status: 200}
	func() {
		defer h.recoverPanic(sw2, Route{Name: "x"})
		panic("late")
	}()
}

// The provider header goes out with the status line, naming the provider
// the request was routed to last, and only when there is one.
func TestStatusWriterProviderHeader(t *testing.T) {
	for _, tt := range []struct {
		name, provider string
		write          func(w http.ResponseWriter)
	}{
		{"explicit status", "p1", func(w http.ResponseWriter) { w.WriteHeader(200) }},
		{"implicit status", "p2", func(w http.ResponseWriter) { _, _ = w.Write([]byte("x")) }},
		{"not routed", "", func(w http.ResponseWriter) { w.WriteHeader(401) }},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			info := &reqInfo{}
			if tt.provider != "" {
				info.routed("m", "first")
				info.routed("m", tt.provider) // failover: the last one answers
			}
			tt.write(&statusWriter{ResponseWriter: rec, info: info})
			if got := rec.Result().Header.Get("X-LLM-Router-Provider"); got != tt.provider {
				t.Fatalf("header %q, want %q", got, tt.provider)
			}
		})
	}
}

// nopWriter is a ResponseWriter that only keeps headers.
type nopWriter struct{ h http.Header }

func (w nopWriter) Header() http.Header         { return w.h }
func (w nopWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w nopWriter) WriteHeader(int)             {}

// The cost the provider header adds to every proxied answer.
func BenchmarkStatusWriter(b *testing.B) {
	for _, tc := range []struct {
		name string
		info *reqInfo
	}{{"header_off", nil}, {"header_on", &reqInfo{provider: "p1"}}} {
		b.Run(tc.name, func(b *testing.B) {
			w := nopWriter{h: http.Header{"Content-Type": {"application/json"}}}
			b.ReportAllocs()
			for b.Loop() {
				delete(w.h, providerHeader)
				sw := statusWriter{ResponseWriter: w, info: tc.info}
				_, _ = sw.Write([]byte("{}"))
			}
		})
	}
}
