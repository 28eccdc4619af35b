package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// createKey runs `llm-router keys create` and returns the printed key.
func createKey(t *testing.T, file string, args ...string) string {
	t.Helper()
	out, err := exec.Command(binary, append([]string{"keys", "create", "--keys-file", file}, args...)...).Output()
	if err != nil {
		t.Fatalf("keys create: %v", err)
	}
	key := strings.TrimSpace(strings.SplitN(string(out), "\n", 2)[0])
	if !strings.HasPrefix(key, "sk-llmr-") {
		t.Fatalf("keys create printed %q", out)
	}
	return key
}

// bearerTransport adds a bearer token to Ollama client requests.
type bearerTransport struct{ token string }

func (b bearerTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

func TestAPIKeys(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	alice := createKey(t, keys, "--name", "alice", "--models", "m1")
	bob := createKey(t, keys, "--name", "bob", "--models", "m*", "--rpm", "2")
	r := startRouter(t, routerOpts{
		models:    modelsJSON(map[string][]string{"m1": {prov("p1", fake.URL, "vllm", "")}, "m2": {prov("p2", fake.URL, "vllm", "")}}),
		directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
	})
	ctx := context.Background()
	oc := func(key string) openai.Client { return client(r, option.WithAPIKey(key)) }

	// Public paths need no key.
	resp, err := http.Get(r.Base() + "/api/ping")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("ping: %v %v", resp, err)
	}
	resp.Body.Close()

	for _, tc := range []struct {
		name string
		key  string
		want int
	}{{"no key", "", 401}, {"unknown key", "sk-llmr-nope", 401}, {"forbidden model", alice, 403}} {
		t.Run(tc.name, func(t *testing.T) {
			model := "m1"
			if tc.want == 403 {
				model = "m2"
			}
			c := oc(tc.key)
			_, err := c.Chat.Completions.New(ctx, chatParams(model, "x"))
			if statusOf(err) != tc.want {
				t.Fatalf("err = %v, want %d", err, tc.want)
			}
			var ae *openai.Error
			if tc.want == 403 && (!errors.As(err, &ae) || !strings.Contains(ae.Message, "m2")) {
				t.Fatalf("403 must name the forbidden model: %v", err)
			}
		})
	}
	t.Run("allowed and listing filtered", func(t *testing.T) {
		c := oc(alice)
		if _, err := c.Chat.Completions.New(ctx, chatParams("m1", "x")); err != nil {
			t.Fatal(err)
		}
		page, err := c.Models.List(ctx)
		if err != nil || len(page.Data) != 1 || page.Data[0].ID != "m1" {
			t.Fatalf("alice sees %+v %v", page, err)
		}
		for _, req := range fake.Requests() {
			if strings.Contains(req.Header.Get("Authorization"), "sk-llmr-") {
				t.Fatal("the client's key went upstream")
			}
		}
	})
	t.Run("anthropic x-api-key", func(t *testing.T) {
		ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey(alice), aoption.WithMaxRetries(0))
		p := anthropic.MessageNewParams{Model: "m1", MaxTokens: 16, Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock("hi"))}}
		if _, err := ac.Messages.New(ctx, p); err != nil {
			t.Fatal(err)
		}
		bad := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("sk-llmr-wrong"), aoption.WithMaxRetries(0))
		_, err := bad.Messages.New(ctx, p)
		var ae *anthropic.Error
		if !errors.As(err, &ae) || ae.StatusCode != 401 || !strings.Contains(ae.RawJSON(), "authentication_error") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("ollama bearer", func(t *testing.T) {
		base, _ := url.Parse(r.Base())
		no := false
		okc := ollama.NewClient(base, &http.Client{Transport: bearerTransport{alice}})
		err := okc.Chat(ctx, &ollama.ChatRequest{Model: "m1", Stream: &no, Messages: []ollama.Message{{Role: "user", Content: "hi"}}}, func(ollama.ChatResponse) error { return nil })
		if err != nil {
			t.Fatal(err)
		}
		anon := ollama.NewClient(base, http.DefaultClient)
		err = anon.Chat(ctx, &ollama.ChatRequest{Model: "m1", Stream: &no, Messages: []ollama.Message{{Role: "user", Content: "hi"}}}, func(ollama.ChatResponse) error { return nil })
		var se ollama.AuthorizationError
		if !errors.As(err, &se) || se.StatusCode != 401 {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("rate limit", func(t *testing.T) {
		c := oc(bob)
		var last error
		for i := 0; i < 3; i++ {
			_, last = c.Chat.Completions.New(ctx, chatParams("m2", "x"))
		}
		var ae *openai.Error
		if !errors.As(last, &ae) || ae.StatusCode != 429 || ae.Response.Header.Get("Retry-After") == "" {
			t.Fatalf("third request in a minute with rpm 2: %v", last)
		}
	})
	if logs := r.logs.String(); strings.Contains(logs, alice[8:20]) || strings.Contains(logs, bob[8:20]) {
		t.Fatal("a key appears in the log")
	}
}
