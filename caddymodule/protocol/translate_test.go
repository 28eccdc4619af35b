package protocol_test

import (
	"bytes"
	"context"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

var update = flag.Bool("update", false, "rewrite testdata/golden files")

// fixedOpts returns stream options with a fixed clock and counting ids, so
// the output is byte-for-byte reproducible.
func fixedOpts(includeUsage bool) protocol.StreamOptions {
	n := 0
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return protocol.StreamOptions{
		Model:        "client-model",
		IncludeUsage: includeUsage,
		Now: func() time.Time {
			n++
			return t0.Add(time.Duration(n) * time.Millisecond)
		},
		NewID: func(prefix string) string { n++; return prefix + "id" + strconv.Itoa(n) },
	}
}

var providers = map[string]protocol.ProviderCodec{
	"openai":    openai.Chat{},
	"anthropic": anthropic.Messages{},
	"ollama":    ollama.Chat{},
}

var clients = map[string]protocol.ClientCodec{
	"openai":      openai.Chat{},
	"responses":   openai.Responses{},
	"completions": openai.Completions{},
	"anthropic":   anthropic.Messages{},
	"ollama":      ollama.Chat{},
	"generate":    ollama.Generate{},
}

// translate pumps the provider stream in file through the client encoder.
func translate(t testing.TB, provider, file, client string, includeUsage bool) (string, protocol.Result, error) {
	t.Helper()
	in, err := os.ReadFile(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	flushes := 0
	dec := providers[provider].NewStreamDecoder(bytes.NewReader(in))
	enc := clients[client].NewStreamEncoder(&out, func() error { flushes++; return nil }, fixedOpts(includeUsage))
	res, perr := protocol.Pump(context.Background(), dec, enc)
	if flushes == 0 {
		t.Errorf("encoder never flushed")
	}
	return out.String(), res, perr
}

func TestGoldenStreams(t *testing.T) {
	cases := []struct {
		provider, file string
		clients        []string
		wantErr        bool
	}{
		{"openai", "openai_tools.sse", []string{"openai", "responses", "anthropic", "ollama"}, false},
		{"openai", "openai_text.sse", []string{"openai", "completions", "responses", "anthropic", "ollama", "generate"}, false},
		{"openai", "openai_error.sse", []string{"openai", "responses", "anthropic", "ollama"}, true},
		{"openai", "openai_cut.sse", []string{"openai", "anthropic", "ollama"}, true},
		{"anthropic", "anthropic_tools.sse", []string{"openai", "responses", "anthropic", "ollama"}, false},
		{"anthropic", "anthropic_error.sse", []string{"openai", "anthropic", "ollama"}, true},
		{"ollama", "ollama_tools.ndjson", []string{"openai", "responses", "anthropic", "ollama"}, false},
		{"ollama", "ollama_text.ndjson", []string{"openai", "completions", "anthropic", "ollama", "generate"}, false},
		{"ollama", "ollama_error.ndjson", []string{"openai", "anthropic", "ollama"}, true},
	}
	for _, c := range cases {
		for _, client := range c.clients {
			name := strings.TrimSuffix(c.file, filepath.Ext(c.file)) + "_to_" + client
			t.Run(name, func(t *testing.T) {
				got, res, err := translate(t, c.provider, c.file, client, true)
				if (err != nil) != c.wantErr {
					t.Fatalf("Pump error = %v, want error %v", err, c.wantErr)
				}
				if !c.wantErr && !res.Ended {
					t.Errorf("stream did not end cleanly: %+v", res)
				}
				golden := filepath.Join("testdata", "golden", name+".golden")
				if *update {
					if err := os.MkdirAll(filepath.Dir(golden), 0o755); err != nil {
						t.Fatal(err)
					}
					if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
						t.Fatal(err)
					}
					return
				}
				want, err := os.ReadFile(golden)
				if err != nil {
					t.Fatalf("%v (run go test -update to create)", err)
				}
				if got != string(want) {
					t.Errorf("output differs from %s\n--- got ---\n%s\n--- want ---\n%s", golden, got, want)
				}
			})
		}
	}
}
