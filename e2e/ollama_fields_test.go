package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	ollama "github.com/ollama/ollama/api"
)

// finalKeys are the members real Ollama always sends on the final object of
// /api/chat and /api/generate (streamed or not); embedKeys those of an
// /api/embed answer. Third-party clients (the AI SDK's Ollama provider,
// LlamaIndex) refuse answers without them.
var (
	finalKeys = []string{"model", "created_at", "done", "done_reason", "total_duration", "load_duration",
		"prompt_eval_count", "prompt_eval_duration", "eval_count", "eval_duration"}
	embedKeys = []string{"model", "embeddings", "total_duration", "load_duration", "prompt_eval_count"}
)

// missingKeys returns the keys of want that obj lacks or holds as a
// non-number where a number is due.
func missingKeys(obj map[string]any, want []string) []string {
	var out []string
	for _, k := range want {
		v, ok := obj[k]
		if !ok {
			out = append(out, k)
			continue
		}
		if strings.HasSuffix(k, "_duration") || strings.HasSuffix(k, "_count") {
			if _, num := v.(float64); !num {
				out = append(out, k+" (not a number)")
			}
		}
	}
	return out
}

// Every Ollama answer the router writes carries the members real Ollama
// always sends, whatever the provider: the provider's values when it gave
// them, zero (or the router's measure, for total_duration) otherwise.
func TestOllamaAnswerFields(t *testing.T) {
	r, provs := startMatrix(t)
	post := func(t *testing.T, path, body string) []byte {
		t.Helper()
		resp, err := http.Post(r.Base()+path, "application/json", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
		}
		return b
	}
	// lastObject returns the final object of an answer (the last NDJSON
	// line of a stream).
	lastObject := func(t *testing.T, b []byte) map[string]any {
		t.Helper()
		var last []byte
		sc := bufio.NewScanner(bytes.NewReader(b))
		sc.Buffer(nil, 1<<20)
		for sc.Scan() {
			if len(bytes.TrimSpace(sc.Bytes())) > 0 {
				last = bytes.Clone(sc.Bytes())
			}
		}
		var m map[string]any
		if err := json.Unmarshal(last, &m); err != nil {
			t.Fatalf("final object %q: %v", last, err)
		}
		return m
	}
	for _, p := range provs {
		p.reset("Hello there, friend.")
		for _, stream := range []bool{false, true} {
			for _, ep := range []struct{ path, body string }{
				{"/api/chat", `{"model":"` + p.model + `","messages":[{"role":"user","content":"Hi"}],"stream":` + map[bool]string{false: "false", true: "true"}[stream] + `}`},
				{"/api/generate", `{"model":"` + p.model + `","prompt":"Hi","stream":` + map[bool]string{false: "false", true: "true"}[stream] + `}`},
			} {
				t.Run(p.apiType+ep.path+"/"+matrixStreamName(stream), func(t *testing.T) {
					final := lastObject(t, post(t, ep.path, ep.body))
					if miss := missingKeys(final, finalKeys); len(miss) > 0 {
						t.Fatalf("final object lacks %v: %v", miss, final)
					}
					if final["done"] != true || final["eval_count"].(float64) <= 0 || final["total_duration"].(float64) <= 0 {
						t.Fatalf("final object: %v", final)
					}
				})
			}
		}
		if p.apiType == "anthropic" {
			continue // no embeddings API
		}
		t.Run(p.apiType+"/api/embed", func(t *testing.T) {
			b := post(t, "/api/embed", `{"model":"`+p.model+`","input":["one two","three"]}`)
			var m map[string]any
			if err := json.Unmarshal(b, &m); err != nil {
				t.Fatal(err)
			}
			if miss := missingKeys(m, embedKeys); len(miss) > 0 {
				t.Fatalf("embed answer lacks %v: %s", miss, b)
			}
			// The official client's types read the same values.
			var er ollama.EmbedResponse
			if err := json.Unmarshal(b, &er); err != nil {
				t.Fatal(err)
			}
			if len(er.Embeddings) != 2 || er.TotalDuration <= 0 {
				t.Fatalf("embed answer: %+v", er)
			}
			if p.apiType == "ollama" && (er.TotalDuration != 14143917*time.Nanosecond || er.LoadDuration != 1019500*time.Nanosecond || er.PromptEvalCount != 3) {
				t.Fatalf("the Ollama provider's own durations and count must pass: %+v", er)
			}
		})
	}
}
