package main

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

func startUpstream(t *testing.T, p pace) *upstream {
	t.Helper()
	u, err := newUpstream(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(u.close)
	return u
}

func userMsg() []openai.ChatCompletionMessageParamUnion {
	return []openai.ChatCompletionMessageParamUnion{openai.UserMessage(prompt)}
}

// The fake upstream must satisfy the official OpenAI SDK, streamed or not.
func TestUpstreamOpenAISDK(t *testing.T) {
	ctx := context.Background()
	for _, p := range []pace{{deltas: 16}, {deltas: 5, gap: time.Millisecond}} {
		u := startUpstream(t, p)
		c := openai.NewClient(option.WithBaseURL(u.URL()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))

		res, err := c.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: userMsg()})
		if err != nil {
			t.Fatal(err)
		}
		if res.Choices[0].Message.Content != replyText || res.Choices[0].FinishReason != "stop" || res.Usage.CompletionTokens != int64(p.deltas) {
			t.Fatalf("completion %+v", res)
		}

		s := c.Chat.Completions.NewStreaming(ctx, openai.ChatCompletionNewParams{Model: "m", Messages: userMsg(),
			StreamOptions: openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}})
		var acc openai.ChatCompletionAccumulator
		chunks := 0
		for s.Next() {
			acc.AddChunk(s.Current())
			chunks++
		}
		if s.Err() != nil {
			t.Fatal(s.Err())
		}
		want := strings.Join(tokens(p.deltas), "")
		if got := acc.Choices[0].Message.Content; got != want {
			t.Fatalf("streamed content %q, want %q", got, want)
		}
		// role, deltas, finish, usage
		if chunks != p.deltas+3 || acc.Usage.TotalTokens != int64(24+p.deltas) {
			t.Fatalf("%d chunks, usage %+v", chunks, acc.Usage)
		}
	}
}

// The fake upstream must satisfy the official Ollama client.
func TestUpstreamOllamaClient(t *testing.T) {
	u := startUpstream(t, pace{deltas: 7})
	base, _ := url.Parse(u.URL())
	oc := ollama.NewClient(base, http.DefaultClient)
	for _, stream := range []bool{false, true} {
		var got strings.Builder
		var final ollama.ChatResponse
		n := 0
		err := oc.Chat(context.Background(), &ollama.ChatRequest{Model: "m", Stream: &stream,
			Messages: []ollama.Message{{Role: "user", Content: prompt}}}, func(cr ollama.ChatResponse) error {
			got.WriteString(cr.Message.Content)
			final = cr
			n++
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want, parts := replyText, 1
		if stream {
			want, parts = strings.Join(tokens(7), ""), 8
		}
		if got.String() != want || n != parts || !final.Done || final.DoneReason != "stop" || final.EvalCount != 7 {
			t.Fatalf("stream=%v: %d parts, content %q, final %+v", stream, n, got.String(), final)
		}
	}
}

// A paced stream writes delta i no earlier than i gaps after the first
// (timers never fire early), so a probe measures the proxy and not the
// upstream's burst. Gaps between receive times are not bounded (a late read
// shortens the next gap), so the bound is taken from the request's start.
func TestUpstreamPaced(t *testing.T) {
	const gap, deltas = 3 * time.Millisecond, 6
	u := startUpstream(t, pace{gap: gap, deltas: deltas})
	start := time.Now()
	resp, err := http.Post(u.URL()+"/v1/chat/completions", "application/json", strings.NewReader(string(openaiBody("m", true))))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var at []time.Duration
	if err := readStream(resp.Body, func() { at = append(at, time.Since(start)) }); err != nil {
		t.Fatal(err)
	}
	if len(at) != deltas {
		t.Fatalf("%d content events, want %d", len(at), deltas)
	}
	for i, d := range at {
		if want := time.Duration(i) * gap; d < want {
			t.Fatalf("delta %d arrived %v after the request, want ≥ %v", i, d, want)
		}
	}
}

func TestUpstreamRouting(t *testing.T) {
	u := startUpstream(t, pace{deltas: 2})
	tests := []struct {
		method, path, body string
		status             int
		has                string
	}{
		{"GET", "/v1/models", "", 200, `"bench-model"`},
		{"GET", "/api/version", "", 200, `"version"`},
		{"GET", "/api/tags", "", 200, `"models"`},
		{"GET", "/health", "", 200, ""},
		{"GET", "/nope", "", 404, `"error"`},
		{"POST", "/v1/chat/completions?x=1", `{"model":"m"}`, 200, `"chat.completion"`},
		{"POST", "/v1/chat/completions", `{"model":"m","stream": true}`, 200, "data: [DONE]"},
		{"POST", "/api/chat", `{"model":"m"}`, 200, `"done":false`}, // Ollama streams by default
		{"POST", "/api/chat", `{"model":"m","stream":false}`, 200, `"done":true`},
		{"PUT", "/api/chat", `{}`, 404, ""},
	}
	for _, tt := range tests {
		req, _ := http.NewRequest(tt.method, u.URL()+tt.path, strings.NewReader(tt.body))
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var b strings.Builder
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			b.WriteString(sc.Text() + "\n")
		}
		resp.Body.Close()
		if resp.StatusCode != tt.status || !strings.Contains(b.String(), tt.has) {
			t.Errorf("%s %s: %d %q", tt.method, tt.path, resp.StatusCode, b.String())
		}
	}
}

func TestReadRequest(t *testing.T) {
	tests := []struct {
		name, raw  string
		method     string
		path, body string
		keep, bad  bool
	}{
		{"content-length", "POST /a?q HTTP/1.1\r\nHost: x\r\ncontent-length: 3\r\n\r\nabc", "POST", "/a", "abc", true, false},
		{"chunked", "POST /a HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;ext\r\nabc\r\n2\r\nde\r\n0\r\nTrailer: t\r\n\r\n", "POST", "/a", "abcde", true, false},
		{"close", "GET /b HTTP/1.1\r\nConnection: close\r\n\r\n", "GET", "/b", "", false, false},
		{"http/1.0", "GET /b HTTP/1.0\r\n\r\n", "GET", "/b", "", false, false},
		{"http/1.0 keep-alive", "GET /b HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "GET", "/b", "", true, false},
		{"bad line", "GARBAGE\r\n\r\n", "", "", "", false, true},
		{"bad header", "GET / HTTP/1.1\r\nnocolon\r\n\r\n", "", "", "", false, true},
		{"bad length", "POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n", "", "", "", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, p, keep, body, err := readRequest(bufio.NewReader(strings.NewReader(tt.raw)), nil)
			if tt.bad {
				if err == nil {
					t.Fatalf("accepted %q", tt.raw)
				}
				return
			}
			if err != nil || m != tt.method || p != tt.path || string(body) != tt.body || keep != tt.keep {
				t.Fatalf("got %q %q keep=%v body=%q err=%v", m, p, keep, body, err)
			}
		})
	}
}

func TestStreamFlag(t *testing.T) {
	tests := []struct {
		body     string
		def, out bool
	}{
		{`{"stream":true}`, false, true},
		{`{"stream" : true}`, false, true},
		{`{"stream":false}`, true, false},
		{`{"model":"m"}`, true, true},
		{`{"model":"m"}`, false, false},
		{`{"stream_options":{}}`, false, false},
	}
	for _, tt := range tests {
		if got := streamFlag([]byte(tt.body), tt.def); got != tt.out {
			t.Errorf("streamFlag(%s, %v) = %v", tt.body, tt.def, got)
		}
	}
}

func TestHasContent(t *testing.T) {
	tests := []struct {
		line string
		want bool
	}{
		{`data: {"choices":[{"delta":{"content":"Hi"}}]}`, true},
		{`data: {"choices":[{"delta":{"role":"assistant","content":""}}]}`, false},
		{`{"message":{"role":"assistant","content":"Hi"},"done":false}`, true},
		{`{"message":{"role":"assistant","content":""},"done":true}`, false},
		{`data: [DONE]`, false},
		{`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}`, true},
		{`data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":""}}`, false},
	}
	for _, tt := range tests {
		if got := hasContent([]byte(tt.line)); got != tt.want {
			t.Errorf("hasContent(%s) = %v", tt.line, got)
		}
	}
}

func TestQuantiles(t *testing.T) {
	var d []time.Duration
	for i := 1000; i >= 1; i-- {
		d = append(d, time.Duration(i))
	}
	if got := quantiles(d); got != [4]time.Duration{500, 900, 990, 999} {
		t.Fatalf("quantiles = %v", got)
	}
	if got := quantiles(nil); got != [4]time.Duration{} {
		t.Fatalf("quantiles(nil) = %v", got)
	}
	if got := median([]time.Duration{5, 1, 3, 2}); got != 2 {
		t.Fatalf("median = %v", got)
	}
}

func TestPairRatio(t *testing.T) {
	s := func(ok int) sample { return sample{ok: ok, elapsed: time.Second} }
	r, rounds := pairRatio([]sample{s(90), s(50), s(120)}, []sample{s(100), s(100), s(100)})
	if r != 0.9 || rounds != "0.90, 0.50, 1.20" {
		t.Fatalf("pairRatio = %v %q", r, rounds)
	}
}

func TestPprofTotal(t *testing.T) {
	tests := []struct {
		top  string
		want float64
	}{
		{"Type: alloc_space\nShowing nodes accounting for 622.14MB, 77.59% of 801.88MB total\n", 801.88 * (1 << 20)},
		{"Showing nodes accounting for 10, 50% of 20 total\n", 20},
		{"Showing nodes accounting for 1kB, 50% of 2kB total\n", 2048},
		{"nothing\n", 0},
	}
	for _, tt := range tests {
		if got := pprofTotal(tt.top); got != tt.want {
			t.Errorf("pprofTotal(%q) = %v, want %v", tt.top, got, tt.want)
		}
	}
}

func TestLastError(t *testing.T) {
	log := `{"level":"info","msg":"starting"}
{"level":"error","msg":"loading initial config: unknown module: llm_router.maskers.fast_masker"}
Error: exit`
	if got := lastError(log); got != "loading initial config: unknown module: llm_router.maskers.fast_masker" {
		t.Fatalf("lastError = %q", got)
	}
	if got := lastError("plain\nlast line\n"); got != "last line" {
		t.Fatalf("lastError = %q", got)
	}
}

// The generated models-config must load with the router's own loader.
func TestModelsConfig(t *testing.T) {
	ups := map[string]*upstream{}
	for _, n := range []string{"fast", "probe", "slow"} {
		ups[n] = startUpstream(t, pace{})
	}
	if _, err := config.Parse("models-config.json", []byte(modelsConfig(ups))); err != nil {
		t.Fatal(err)
	}
}

func TestParseFlags(t *testing.T) {
	o, err := parseFlags([]string{"--quick", "--rounds", "3"})
	if err != nil {
		t.Fatal(err)
	}
	if o.dur != time.Second || o.rounds != 3 || o.latRounds != 1 {
		t.Fatalf("quick: %+v", o)
	}
	if _, err := parseFlags([]string{"--scenarios", "passthrough,nope"}); err == nil {
		t.Fatal("unknown scenario accepted")
	}
	o, err = parseFlags(nil)
	if err != nil || o.dur != 2*time.Second || o.rounds != 4 || o.latRounds != 3 || o.conns != 50 || o.lightRate != 500 {
		t.Fatalf("defaults: %+v %v", o, err)
	}
}

func TestOverBare(t *testing.T) {
	ms := time.Millisecond
	round := func(p99 time.Duration) [4]time.Duration { return [4]time.Duration{0, 0, p99, 0} }
	tests := []struct {
		name         string
		bare, router [][4]time.Duration
		want         time.Duration
	}{
		{"no rounds", nil, nil, 0},
		{"median of three", [][4]time.Duration{round(5 * ms), round(1 * ms), round(9 * ms)},
			[][4]time.Duration{round(4 * ms), round(2 * ms), round(30 * ms)}, 1 * ms},
		{"pairs only", [][4]time.Duration{round(1 * ms)}, [][4]time.Duration{round(3 * ms), round(100 * ms)}, 2 * ms},
	}
	for _, tt := range tests {
		if got := overBare(tt.bare, tt.router); got != tt.want {
			t.Errorf("%s: overBare = %v, want %v", tt.name, got, tt.want)
		}
	}
}
