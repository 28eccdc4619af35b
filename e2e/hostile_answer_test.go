package e2e

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// rssBound is the most the router may hold while a provider sends it
// gigabytes: its own base (about 60 MiB), one answer up to
// max_response_body (64 MiB by default), and as much again of the previous
// answer's garbage that the collector has not yet reclaimed.
const rssBound = 256 << 20

// rssBoundSmall is the bound with max_response_body 8MiB, whatever the
// concurrency: the base, the shared budget (8 MiB), 256 KiB per request
// and the collector's slack.
const rssBoundSmall = 200 << 20

// procMem returns a process's resident set size and its peak (VmRSS and
// VmHWM of /proc/PID/status), in bytes.
func procMem(t *testing.T, pid int) (rss, hwm int64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatalf("reading the router's memory: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 || f[2] != "kB" {
			continue
		}
		n, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = n << 10
		case "VmHWM:":
			hwm = n << 10
		}
	}
	return rss, hwm
}

// underMemoryBound runs call while watching the router's resident memory.
// Should it pass bound (the router reading an answer with no limit), the
// test fails and the provider's connections are cut, so that a router
// without the limit is stopped well before it exhausts the machine.
func underMemoryBound(t *testing.T, r *router, fake *llmtest.OpenAI, bound int64, call func()) {
	t.Helper()
	done := make(chan struct{})
	var wg sync.WaitGroup
	var over int64
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if rss, _ := procMem(t, r.cmd.Process.Pid); rss > bound {
				over = rss
				fake.CloseClientConnections()
				return
			}
		}
	}()
	defer func() {
		close(done)
		wg.Wait()
		if over > 0 {
			t.Errorf("the router's memory grew to %d MiB while the provider sent %d MiB (bound %d MiB)", over>>20, fake.HugeSent()>>20, bound>>20)
		}
	}()
	call()
}

// A provider that answers gigabytes, as a body or as an error body, gets a
// 502 in the client's dialect once the router's limit is passed; its
// connection is closed, not drained; the router's memory stays bounded.
func TestHugeProviderAnswer(t *testing.T) {
	huge := llmtest.NewOpenAI("huge")
	defer huge.Close()
	huge.SetFault(llmtest.HugeAnswer)
	hugeErr := llmtest.NewOpenAI("hugeerr")
	defer hugeErr.Close()
	hugeErr.SetFault(llmtest.HugeError)
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{
			"m": {prov("p-huge", huge.URL, "vllm", "")},
			"e": {prov("p-hugeerr", hugeErr.URL, "vllm", "")},
		}),
		env: map[string]string{"LLM_ROUTER_USE_PROMETHEUS": "1"},
	})
	ctx := context.Background()
	oc := client(r)
	ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("sk-ant-client"), aoption.WithMaxRetries(0))
	anthropicParams := anthropic.MessageNewParams{Model: "m", MaxTokens: 64,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}}

	tooLarge := func(t *testing.T, status int, msg string) {
		t.Helper()
		if status != http.StatusBadGateway || !strings.Contains(msg, "too large") {
			t.Fatalf("want a 502 saying the answer is too large, got %d %q", status, msg)
		}
		if strings.Contains(msg, "127.0.0.1") {
			t.Fatalf("the error names the provider's address: %q", msg)
		}
	}
	cases := []struct {
		name string
		fake *llmtest.OpenAI
		call func(t *testing.T)
	}{
		{"passthrough", huge, func(t *testing.T) {
			_, err := oc.Chat.Completions.New(ctx, chatParams("m", "hello"))
			var ae *openai.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want an OpenAI error, got %v", err)
			}
			tooLarge(t, ae.StatusCode, ae.Message)
		}},
		{"translated", huge, func(t *testing.T) {
			_, err := ac.Messages.New(ctx, anthropicParams)
			var ae *anthropic.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want an Anthropic error, got %v", err)
			}
			if !strings.Contains(ae.RawJSON(), `"type":"error"`) {
				t.Fatalf("not an Anthropic error object: %s", ae.RawJSON())
			}
			tooLarge(t, ae.StatusCode, ae.RawJSON())
		}},
		{"built-in endpoint", huge, func(t *testing.T) {
			resp, err := http.Post(r.Base()+"/api/translate", "application/json",
				strings.NewReader(`{"model":"m","texts":["Hello world"],"language":"en"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var body struct {
				Error struct {
					Message string `json:"message"`
				} `json:"error"`
				Status *bool `json:"status"`
			}
			if err := json.NewDecoder(resp.Body).Decode(&body); err != nil || body.Status == nil || *body.Status {
				t.Fatalf("not a built-in error object (%v): %+v", err, body)
			}
			tooLarge(t, resp.StatusCode, body.Error.Message)
		}},
		{"error body", hugeErr, func(t *testing.T) {
			_, err := oc.Chat.Completions.New(ctx, chatParams("e", "hello"))
			var ae *openai.Error
			if !errors.As(err, &ae) {
				t.Fatalf("want an OpenAI error, got %v", err)
			}
			tooLarge(t, ae.StatusCode, ae.Message)
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			underMemoryBound(t, r, tc.fake, rssBound, func() { tc.call(t) })
			// The provider's connection was closed, not drained: its
			// sending stops long before the 10 GB.
			eventually(t, 30*time.Second, "the provider to stop sending", func() bool { return tc.fake.HugeActive() == 0 })
			if sent := tc.fake.HugeSent(); sent > 1<<30 {
				t.Fatalf("the router read %d MiB from the provider", sent>>20)
			}
		})
	}
	_, hwm := procMem(t, r.cmd.Process.Pid)
	t.Logf("router peak RSS (VmHWM): %d MiB; provider bytes sent: %d MiB", hwm>>20, (huge.HugeSent()+hugeErr.HugeSent())>>20)
	if hwm > rssBound {
		t.Fatalf("router peak RSS %d MiB, bound %d MiB", hwm>>20, rssBound>>20)
	}
	if n := scrape(t, r, `llm_router_provider_errors_total{kind="too_large",provider="p-huge"}`); n < 3 {
		t.Fatalf("too_large provider errors of p-huge = %v, want 3", n)
	}
	if n := scrape(t, r, `llm_router_provider_errors_total{kind="too_large",provider="p-hugeerr"}`); n < 1 {
		t.Fatalf("too_large provider errors of p-hugeerr = %v, want 1", n)
	}
}

// A 2xx answer that is not JSON is a provider fault: never relayed as a
// 200, answered 502 in the client's dialect when no other provider is left,
// failed over to a healthy provider when there is one.
func TestNonJSONAnswer(t *testing.T) {
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write([]byte(`{"id":"chatcmpl-1","object":"chat.completion","choices":[]}`))
	zw.Close()
	bodies := []struct {
		name, contentType string
		body              []byte
	}{
		{"html", "text/html; charset=utf-8", []byte("<html><body><h1>502 Bad Gateway</h1></body></html>")},
		{"broken json", "application/json", []byte(`{not json`)},
		{"gzip without content-encoding", "application/json", gz.Bytes()},
	}
	for _, b := range bodies {
		t.Run(b.name, func(t *testing.T) {
			bad := llmtest.NewOpenAI("bad")
			defer bad.Close()
			bad.SetFault(llmtest.NotJSON)
			bad.SetRawAnswer(b.contentType, b.body)
			good := llmtest.NewOpenAI("good")
			defer good.Close()
			r := startRouter(t, routerOpts{
				models: modelsJSON(map[string][]string{
					"alone": {prov("p-alone", bad.URL, "vllm", "")},
					"m":     {prov("p-bad", bad.URL, "vllm", ""), prov("p-good", good.URL, "vllm", "")},
				}),
				global: "strategy first_available",
				env:    map[string]string{"LLM_ROUTER_USE_PROMETHEUS": "1"},
			})
			c := client(r)
			ctx := context.Background()

			_, err := c.Chat.Completions.New(ctx, chatParams("alone", "hello"))
			var ae *openai.Error
			if !errors.As(err, &ae) || ae.StatusCode != http.StatusBadGateway || !strings.Contains(ae.Message, "could not be read") {
				t.Fatalf("want a 502 OpenAI error saying the answer could not be read, got %v", err)
			}
			if n := scrape(t, r, `llm_router_provider_errors_total{kind="malformed",provider="p-alone"}`); n != 1 {
				t.Fatalf("malformed provider errors of p-alone = %v, want 1", n)
			}

			res, err := c.Chat.Completions.New(ctx, chatParams("m", "hello"))
			if err != nil {
				t.Fatalf("no failover to the healthy provider: %v", err)
			}
			if got := res.Choices[0].Message.Content; got != "Hello from good." {
				t.Fatalf("content = %q", got)
			}
			if n := len(posts(good.Requests())); n != 1 {
				t.Fatalf("the healthy provider got %d requests, want 1", n)
			}
			if n := scrape(t, r, `llm_router_provider_errors_total{kind="malformed",provider="p-bad"}`); n != 1 {
				t.Fatalf("malformed provider errors of p-bad = %v, want 1", n)
			}
		})
	}
}

// A stream whose line never ends stays bounded too: translated, the router
// stops at its line limit with the dialect's error event; relayed as it is,
// the router holds nothing and stops once the client gives up.
func TestHugeStreamLine(t *testing.T) {
	huge := llmtest.NewOpenAI("huge")
	defer huge.Close()
	huge.SetFault(llmtest.HugeLine)
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p-huge", huge.URL, "vllm", "")}}),
		env:    map[string]string{"LLM_ROUTER_USE_PROMETHEUS": "1"},
	})
	ctx := context.Background()
	t.Run("translated", func(t *testing.T) {
		ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("sk-ant-client"), aoption.WithMaxRetries(0))
		underMemoryBound(t, r, huge, rssBound, func() {
			s := ac.Messages.NewStreaming(ctx, anthropic.MessageNewParams{Model: "m", MaxTokens: 64,
				Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hello"))}})
			for s.Next() {
			}
			if err := s.Err(); err == nil || !strings.Contains(err.Error(), "too large") {
				t.Fatalf("want the stream to end with an error saying it is too large, got %v", err)
			}
		})
		eventually(t, 30*time.Second, "the provider to stop sending", func() bool { return huge.HugeActive() == 0 })
		if sent := huge.HugeSent(); sent > 1<<30 {
			t.Fatalf("the router read %d MiB from the provider", sent>>20)
		}
		if n := scrape(t, r, `llm_router_provider_errors_total{kind="too_large",provider="p-huge"}`); n != 1 {
			t.Fatalf("too_large provider errors = %v, want 1", n)
		}
	})
	t.Run("passthrough", func(t *testing.T) {
		before := huge.HugeSent()
		oc := client(r)
		underMemoryBound(t, r, huge, rssBound, func() {
			s := oc.Chat.Completions.NewStreaming(ctx, chatParams("m", "hello"))
			for s.Next() {
			}
			if s.Err() == nil {
				t.Fatal("an endless line ended cleanly")
			}
			s.Close()
		})
		eventually(t, 30*time.Second, "the provider to stop sending", func() bool { return huge.HugeActive() == 0 })
		if sent := huge.HugeSent() - before; sent > 1<<30 {
			t.Fatalf("the router read %d MiB from the provider after the client left", sent>>20)
		}
	})
	if _, hwm := procMem(t, r.cmd.Process.Pid); hwm > rssBound {
		t.Fatalf("router peak RSS %d MiB, bound %d MiB", hwm>>20, rssBound>>20)
	}
}

// Many huge answers at once cost the router its shared budget of buffered
// answers (max_response_body), not max_response_body per request: each
// request gets a 502 (too large) or a 503 with Retry-After (the budget is
// spent), and memory stays bounded whatever the concurrency.
func TestHugeAnswersAtOnce(t *testing.T) {
	huge := llmtest.NewOpenAI("huge")
	defer huge.Close()
	huge.SetFault(llmtest.HugeAnswer)
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("p-huge", huge.URL, "vllm", "")}}),
		global: "max_response_body 8MiB",
	})
	const clients = 32
	underMemoryBound(t, r, huge, rssBoundSmall, func() {
		var wg sync.WaitGroup
		errs := make(chan error, clients)
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var resp *http.Response
				oc := client(r)
				_, err := oc.Chat.Completions.New(context.Background(), chatParams("m", "hello"), option.WithResponseInto(&resp))
				var ae *openai.Error
				switch {
				case !errors.As(err, &ae):
					errs <- fmt.Errorf("want an OpenAI error, got %v", err)
				case ae.StatusCode == http.StatusBadGateway && strings.Contains(ae.Message, "too large"):
				case ae.StatusCode == http.StatusServiceUnavailable && resp != nil && resp.Header.Get("Retry-After") != "":
				default:
					errs <- fmt.Errorf("want 502 too large or 503 with Retry-After, got %d %q", ae.StatusCode, ae.Message)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})
	eventually(t, 30*time.Second, "the provider to stop sending", func() bool { return huge.HugeActive() == 0 })
	_, hwm := procMem(t, r.cmd.Process.Pid)
	t.Logf("%d huge answers at once: router peak RSS %d MiB, provider sent %d MiB", clients, hwm>>20, huge.HugeSent()>>20)
	if hwm > rssBoundSmall {
		t.Fatalf("router peak RSS %d MiB, bound %d MiB", hwm>>20, rssBoundSmall>>20)
	}
}
