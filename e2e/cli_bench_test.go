package e2e

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// benchDelay is the fake provider's answer time: with 32 callers it allows
// 32/benchDelay answers per second.
const benchDelay = 20 * time.Millisecond

// fakeRate measures the answers per second the fake gives 32 concurrent
// callers that talk to it directly.
func fakeRate(b *testing.B, fake *llmtest.OpenAI, n int) float64 {
	b.Helper()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	var next sync.WaitGroup
	jobs := make(chan int)
	start := time.Now()
	for range 32 {
		next.Go(func() {
			for range jobs {
				resp, err := hc.Post(fake.URL+"/v1/chat/completions", "application/json",
					strings.NewReader(`{"model":"bielik","messages":[{"role":"system","content":"Translate."},{"role":"user","content":"x"}]}`))
				if err != nil {
					b.Error(err)
					continue
				}
				resp.Body.Close()
			}
		})
	}
	for i := range n {
		jobs <- i
	}
	close(jobs)
	next.Wait()
	return float64(n) / time.Since(start).Seconds()
}

// runTranslate runs util translate over n records with 32 requests in
// flight and returns its rate and peak RSS.
func runTranslate(b *testing.B, base string, n int) (rate float64, maxRSSKiB int64) {
	b.Helper()
	dir := b.TempDir()
	data := filepath.Join(dir, "data.jsonl")
	var buf bytes.Buffer
	for i := range n {
		fmt.Fprintf(&buf, `{"id":"r%d","text":"Record %d, a sentence of moderate length to translate."}`+"\n", i, i)
	}
	if err := os.WriteFile(data, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, "util", "translate", "--llm-router-url", base, "--model", "bielik",
		"--dataset-path", data, "--num-workers", "32", "--batch-size", "1", "-o", filepath.Join(dir, "out.jsonl"))
	var errb bytes.Buffer
	cmd.Stderr = &errb
	start := time.Now()
	if err := cmd.Run(); err != nil {
		b.Fatalf("%v\n%s", err, errb.String())
	}
	el := time.Since(start)
	if !strings.Contains(errb.String(), fmt.Sprintf("done: %d,", n)) {
		b.Fatalf("summary:\n%s", errb.String())
	}
	return float64(n) / el.Seconds(), cmd.ProcessState.SysUsage().(*syscall.Rusage).Maxrss
}

// BenchmarkUtilTranslate10k: 10,000 records through the router with 32
// requests in flight, against the rate the fake allows 32 direct callers;
// and the tool's peak memory for 1,000 and 10,000 records.
//
//	go test -run x -bench UtilTranslate -benchtime 1x ./e2e
func BenchmarkUtilTranslate10k(b *testing.B) {
	fake := llmtest.NewOpenAI("bench")
	defer fake.Close()
	fake.SetEcho("PL: ")
	fake.SetDelay(benchDelay)
	r := startRouter(b, routerOpts{models: modelsJSON(map[string][]string{"bielik": {prov("bench", fake.URL, "vllm", "")}})})
	for range b.N {
		fakeRate(b, fake, 500) // warm the connections up
		direct := fakeRate(b, fake, 4000)
		_, rss1k := runTranslate(b, r.Base(), 1000)
		rate, rss10k := runTranslate(b, r.Base(), 10000)
		b.ReportMetric(32/benchDelay.Seconds(), "ideal-rec/s")
		b.ReportMetric(direct, "fake-rec/s")
		b.ReportMetric(rate, "tool-rec/s")
		b.ReportMetric(rate/direct*100, "%-of-fake")
		b.ReportMetric(float64(rss1k), "KiB-rss-1k")
		b.ReportMetric(float64(rss10k), "KiB-rss-10k")
		if peak := fake.MaxInFlight(); peak > 32 {
			b.Errorf("the fake saw %d requests in flight, more than 32", peak)
		}
	}
}
