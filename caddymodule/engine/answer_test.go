package engine

import (
	"errors"
	"strings"
	"testing"
)

// A non-streamed answer is relayed only when it is one well-formed JSON
// object; its usage is read in the same pass.
func TestAnswerUsage(t *testing.T) {
	tests := []struct {
		name    string
		doc     string
		in, out int
		bad     bool
	}{
		{"openai", `{"id":"c","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3}}`, 7, 3, false},
		{"anthropic", `{"type":"message","usage":{"input_tokens":5,"output_tokens":9}}`, 5, 9, false},
		{"ollama", `{"message":{"role":"assistant","content":"hi"},"done":true,"prompt_eval_count":12,"eval_count":30}`, 12, 30, false},
		{"no usage", `{"object":"list","data":[]}`, 0, 0, false},
		{"html", `<html><body>502 Bad Gateway</body></html>`, 0, 0, true},
		{"broken", `{not json`, 0, 0, true},
		{"cut", `{"id":"c","choices":[{"message":{"content":"hel`, 0, 0, true},
		{"gzip", "\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\xff", 0, 0, true},
		{"trailing data", `{"id":"c"} {"id":"d"}`, 0, 0, true},
		{"array", `[{"id":"c"}]`, 0, 0, true},
		{"empty", ``, 0, 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := answerUsage([]byte(tt.doc))
			if (err != nil) != tt.bad {
				t.Fatalf("err %v, want error %v", err, tt.bad)
			}
			if u.Input != tt.in || u.Output != tt.out {
				t.Fatalf("usage %+v, want %d/%d", u, tt.in, tt.out)
			}
		})
	}
}

func BenchmarkAnswerUsage(b *testing.B) {
	doc := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today? I am a fast fake model."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := answerUsage(doc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkUsageFromJSON(b *testing.B) {
	doc := []byte(`{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"m","choices":[{"index":0,"message":{"role":"assistant","content":"Hello there, how can I help you today? I am a fast fake model."},"logprobs":null,"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":16,"total_tokens":28}}`)
	b.ReportAllocs()
	for b.Loop() {
		usageFromJSON(doc)
	}
}

// The budget answers share: what one answer draws beyond its allowance is
// not available to another until it is released.
func TestAnswerBudget(t *testing.T) {
	const mib, a = 1 << 20, answerAllowance
	b := &answerBudget{max: 10 * mib}
	g1, g2 := grant{b: b}, grant{b: b}
	steps := []struct {
		name  string
		g     *grant
		total int64
		ok    bool
		used  int64
	}{
		{"within the allowance", &g1, a, true, 0},
		{"beyond it", &g1, a + 7*mib, true, 7 * mib},
		{"again, already covered", &g1, a + 7*mib, true, 7 * mib},
		{"another answer, what is left", &g2, a + 3*mib, true, 10 * mib},
		{"another answer, more than is left", &g2, a + 4*mib, false, 10 * mib},
	}
	for _, s := range steps {
		if ok := s.g.need(s.total); ok != s.ok || b.used.Load() != s.used {
			t.Fatalf("%s: need(%d) = %v with %d used, want %v with %d", s.name, s.total, ok, b.used.Load(), s.ok, s.used)
		}
	}
	g1.release()
	if !g2.need(a+4*mib) || b.used.Load() != 4*mib {
		t.Fatalf("after release: used %d", b.used.Load())
	}
	g2.release()
	g2.release()
	if b.used.Load() != 0 {
		t.Fatalf("all released, %d still used", b.used.Load())
	}
	var none *grant
	if !none.need(1 << 40) {
		t.Fatal("a nil grant has no shared bound")
	}
}

// Reading stops with errBusy when the shared budget cannot cover the next
// chunk, before it is allocated.
func TestReadGrantedBusy(t *testing.T) {
	b := &answerBudget{max: 2 << 20}
	other := grant{b: b}
	other.need(2<<20 + answerAllowance) // another answer holds it all
	for _, n := range []int64{-1, 3 << 20} {
		g := grant{b: b}
		cr := &countingReader{r: endless{}}
		if _, err := readGranted(cr, n, 64<<20, &g); !errors.Is(err, errBusy) {
			t.Fatalf("n=%d: err %v, want errBusy", n, err)
		}
		if cr.n > answerAllowance {
			t.Fatalf("n=%d: read %d bytes beyond the allowance", n, cr.n)
		}
		g.release()
	}
	other.release()
	g := grant{b: b}
	body := strings.Repeat("z", 1<<20)
	got, err := readGranted(strings.NewReader(body), -1, 64<<20, &g)
	if err != nil || string(got) != body {
		t.Fatalf("with the budget free: %d bytes, %v", len(got), err)
	}
	g.release()
	if b.used.Load() != 0 {
		t.Fatalf("%d still used", b.used.Load())
	}
}
