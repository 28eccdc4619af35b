package e2e

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/plugins/plugintest"
	"github.com/llmrouter/llm-router/plugins/rag/chunk"
	"github.com/llmrouter/llm-router/plugins/rag/collection"
)

const (
	bowDim     = 64
	ragPreface = "If the context below will help answer the above question, use it. Context separated with double enter:"
	vacation   = "Employees get twenty six vacation days per year."
	parking    = "Parking spaces are assigned by the facilities team."
	pierogi    = "Pierogi dough needs flour water and salt."
)

// buildCollections writes the collections "handbook" and "recipes" under a
// new persist dir, embedded like the fakes embed (hashed bag of words), as
// `llm-router rag index` would.
func buildCollections(t *testing.T) string {
	t.Helper()
	persist := t.TempDir()
	for name, files := range map[string]map[string]string{
		"handbook": {"vacation.md": "# Vacation\n\n" + vacation, "parking.txt": parking},

		"recipes": {"pierogi.md": pierogi},
	} {
		src := t.TempDir()
		for f, text := range files {
			if err := os.WriteFile(filepath.Join(src, f), []byte(text), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := collection.Index(context.Background(), collection.Options{PersistDir: persist, Name: name, Model: "bow-embed",
			Chunk: chunk.Options{Size: 50, Overlap: 10}}, &plugintest.Embedder{Dim: bowDim}, []string{src}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return persist
}

// chatPosts returns the bodies of the chat requests a fake received.
func chatPosts(reqs []llmtest.Request) []string {
	var out []string
	for _, r := range posts(reqs) {
		if strings.HasSuffix(r.Path, "/chat/completions") {
			out = append(out, string(r.Body))
		}
	}
	return out
}

func lastChat(t *testing.T, fake *llmtest.OpenAIPlus) string {
	t.Helper()
	c := chatPosts(fake.Requests())
	if len(c) == 0 {
		t.Fatal("the provider received no chat request")
	}
	return c[len(c)-1]
}

// The provider receives the chunks retrieved for the newest user turn, in
// every client dialect; a question with no match goes through unchanged;
// per-request options choose the collection, and a wrong one is the
// client's 400. Sources are in X-LLM-Router-RAG and the request log.
func TestRAG(t *testing.T) {
	fake := llmtest.NewOpenAIPlus("kb")
	defer fake.Close()
	fake.SetBagOfWords(bowDim)
	persist := buildCollections(t)
	models := modelsJSON(map[string][]string{
		"chat-m":    {prov("pc", fake.URL, "openai", "")},
		"bow-embed": {prov("pe", fake.URL, "openai", `"is_embedding": true`)},
	})
	r := startRouter(t, routerOpts{models: models, env: map[string]string{
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":    "langchain_rag",
		"LLM_ROUTER_LANGCHAIN_RAG_COLLECTION":  "handbook",
		"LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER":    "bow-embed",
		"LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR": persist,
		"LLM_ROUTER_LANGCHAIN_RAG_TOP_K":       "2",
		"LLM_ROUTER_LANGCHAIN_RAG_MIN_SCORE":   "0.3",
	}})
	ctx := context.Background()
	oc := openai.NewClient(option.WithBaseURL(r.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	question := "How many vacation days do employees get per year?"
	chunk0 := "# Vacation\n\n" + vacation // the document's first chunk
	withChunk := question + "\n\n" + ragPreface + "\n\n" + chunk0

	t.Run("openai", func(t *testing.T) {
		var resp *http.Response
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief."), openai.UserMessage("hello"), openai.AssistantMessage("hi"), openai.UserMessage(question)}},
			option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("X-LLM-Router-RAG"); !strings.HasSuffix(got, "vacation.md#0") || strings.Contains(got, "parking") {
			t.Fatalf("X-LLM-Router-RAG %q", got)
		}
		body := lastChat(t, fake)
		if !strings.Contains(body, q(withChunk)) || !strings.Contains(body, `"hello"`) || strings.Contains(body, parking) {
			t.Fatalf("provider got %s", body)
		}
	})
	t.Run("anthropic", func(t *testing.T) {
		ac := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0))
		if _, err := ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "chat-m", MaxTokens: 32,
			Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(question))}}); err != nil {
			t.Fatal(err)
		}
		if body := lastChat(t, fake); !strings.Contains(body, q(withChunk)) {
			t.Fatalf("provider got %s", body)
		}
	})
	t.Run("ollama", func(t *testing.T) {
		base, _ := url.Parse(r.Base())
		stream := false
		if err := ollama.NewClient(base, http.DefaultClient).Chat(ctx, &ollama.ChatRequest{Model: "chat-m", Stream: &stream,
			Messages: []ollama.Message{{Role: "user", Content: question}}}, func(ollama.ChatResponse) error { return nil }); err != nil {
			t.Fatal(err)
		}
		if body := lastChat(t, fake); !strings.Contains(body, q(withChunk)) {
			t.Fatalf("provider got %s", body)
		}
	})
	t.Run("built-in conversation, Polish", func(t *testing.T) {
		resp, err := http.Post(r.Base()+"/api/conversation_with_model", "application/json",
			strings.NewReader(`{"model_name":"chat-m","language":"pl","user_last_statement":`+q(question)+`}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		body := lastChat(t, fake)
		pl := "Jeżeli poniższy kontekst pomoże odpowiedzieć na powyższe pytanie, wykorzystaj go. Fragmenty kontekstu są oddzielone podwójnym enterem:"
		if resp.StatusCode != 200 || !strings.HasSuffix(resp.Header.Get("X-LLM-Router-RAG"), "vacation.md#0") ||
			!strings.Contains(body, q(question+"\n\n"+pl+"\n\n"+chunk0)) {
			t.Fatalf("%d %q: provider got %s", resp.StatusCode, resp.Header.Get("X-LLM-Router-RAG"), body)
		}
	})
	t.Run("no match: unchanged", func(t *testing.T) {
		var resp *http.Response
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("quantum chromodynamics lattice")}}, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		body := lastChat(t, fake)
		if resp.Header.Get("X-LLM-Router-RAG") != "" || strings.Contains(body, ragPreface) || !strings.Contains(body, `"quantum chromodynamics lattice"`) {
			t.Fatalf("header %q, provider got %s", resp.Header.Get("X-LLM-Router-RAG"), body)
		}
	})
	t.Run("per request: collection and system mode", func(t *testing.T) {
		var resp *http.Response
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What goes into pierogi dough?")}},
			option.WithJSONSet("rag", map[string]any{"collection": "recipes", "mode": "system"}), option.WithResponseInto(&resp))
		if err != nil {
			t.Fatal(err)
		}
		body := lastChat(t, fake)
		if !strings.HasSuffix(resp.Header.Get("X-LLM-Router-RAG"), "pierogi.md#0") || !strings.Contains(body, `"role":"system"`) ||
			!strings.Contains(body, pierogi) || strings.Contains(body, `"rag"`) || !strings.Contains(body, `"What goes into pierogi dough?"`) {
			t.Fatalf("header %q, provider got %s", resp.Header.Get("X-LLM-Router-RAG"), body)
		}
	})
	t.Run("per request: unknown collection", func(t *testing.T) {
		before := len(chatPosts(fake.Requests()))
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)}},
			option.WithJSONSet("rag", map[string]any{"collection": "secret-plans"}))
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 400 || !strings.Contains(oe.Message, `unknown collection "secret-plans"`) {
			t.Fatalf("err = %v", err)
		}
		if len(chatPosts(fake.Requests())) != before {
			t.Fatal("the provider was called")
		}
	})
	t.Run("per request: a path, with no question", func(t *testing.T) {
		before := len(chatPosts(fake.Requests()))
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.SystemMessage("Be brief.")}},
			option.WithJSONSet("rag", map[string]any{"collection": "../handbook"}))
		var oe *openai.Error
		if !errors.As(err, &oe) || oe.StatusCode != 400 || !strings.Contains(oe.Message, `unknown collection "../handbook"`) {
			t.Fatalf("err = %v", err)
		}
		if len(chatPosts(fake.Requests())) != before {
			t.Fatal("the provider was called")
		}
	})
	t.Run("per route: rag_collection", func(t *testing.T) {
		r2 := startRouter(t, routerOpts{models: models, directive: "\t\trag_collection recipes\n", env: map[string]string{
			"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":    "rag",
			"LLM_ROUTER_LANGCHAIN_RAG_COLLECTION":  "handbook",
			"LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR": persist,
			"LLM_ROUTER_LANGCHAIN_RAG_MIN_SCORE":   "0.3",
		}})
		oc2 := openai.NewClient(option.WithBaseURL(r2.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
		var resp *http.Response
		if _, err := oc2.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("What goes into pierogi dough?")}}, option.WithResponseInto(&resp)); err != nil {
			t.Fatal(err)
		}
		if body := lastChat(t, fake); !strings.HasSuffix(resp.Header.Get("X-LLM-Router-RAG"), "pierogi.md#0") || !strings.Contains(body, q("What goes into pierogi dough?\n\n"+ragPreface+"\n\n"+pierogi)) {
			t.Fatalf("header %q, provider got %s", resp.Header.Get("X-LLM-Router-RAG"), body)
		}
	})
	eventually(t, 10*time.Second, "the request log names the sources", func() bool {
		return strings.Contains(r.logs.String(), `"rag_sources":"`) && strings.Contains(r.logs.String(), `vacation.md#0`)
	})
	if strings.Contains(r.logs.String(), vacation) {
		t.Fatal("the log quotes a retrieved chunk")
	}
}

// The embedding provider down: a 503 in the client's protocol and the chat
// provider is never called (fail closed); with fail_open the request goes
// on unchanged.
func TestRAGEmbedderDown(t *testing.T) {
	chat := llmtest.NewOpenAIPlus("chat")
	defer chat.Close()
	emb := llmtest.NewOpenAIPlus("emb")
	emb.SetBagOfWords(bowDim)
	persist := buildCollections(t)
	models := modelsJSON(map[string][]string{
		"chat-m":    {prov("pc", chat.URL, "openai", "")},
		"bow-embed": {prov("pe", emb.URL, "openai", `"is_embedding": true`)},
	})
	block := func(extra string) string {
		return "\t\tutil rag {\n\t\t\tcollection handbook\n\t\t\tpersist_dir " + persist + "\n\t\t\tmin_score 0.3\n" + extra + "\t\t}\n"
	}
	closed := startRouter(t, routerOpts{models: models, global: block("")})
	open := startRouter(t, routerOpts{models: models, global: block("\t\t\tfail_open\n")})
	emb.Close() // down from now on
	ctx := context.Background()
	question := "How many vacation days do employees get per year?"

	oc := openai.NewClient(option.WithBaseURL(closed.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)}})
	var oe *openai.Error
	if !errors.As(err, &oe) || oe.StatusCode != 503 || !strings.Contains(oe.Message, "bow-embed") {
		t.Fatalf("openai client: %v", err)
	}
	ac := anthropic.NewClient(aoption.WithBaseURL(closed.Base()), aoption.WithAPIKey("k"), aoption.WithMaxRetries(0))
	_, err = ac.Messages.New(ctx, anthropic.MessageNewParams{Model: "chat-m", MaxTokens: 32,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(question))}})
	var ae *anthropic.Error
	if !errors.As(err, &ae) || ae.StatusCode != 503 || !strings.Contains(ae.RawJSON(), `"type":"error"`) {
		t.Fatalf("anthropic client: %v", err)
	}
	if n := len(chatPosts(chat.Requests())); n != 0 {
		t.Fatalf("the chat provider was called %d times", n)
	}

	oc = openai.NewClient(option.WithBaseURL(open.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	if _, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "chat-m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)}}); err != nil {
		t.Fatalf("fail_open: %v", err)
	}
	body := lastPost(t, chat.Requests()).Body
	if strings.Contains(string(body), ragPreface) || !strings.Contains(string(body), q(question)) {
		t.Fatalf("fail_open: provider got %s", body)
	}
}

// "auto" goes to the target whose examples the question is like, named in
// X-LLM-Router-Model and the request log; what matches no target falls to
// the next routing util (simple_semantic_routing).
func TestSemanticRouting(t *testing.T) {
	coder := llmtest.NewOpenAIPlus("coder")
	defer coder.Close()
	chef := llmtest.NewOpenAIPlus("chef")
	defer chef.Close()
	general := llmtest.NewOpenAIPlus("general")
	defer general.Close()
	general.SetBagOfWords(bowDim) // also the embedding provider
	cfg := filepath.Join(t.TempDir(), "targets.json")
	if err := os.WriteFile(cfg, []byte(`{
	  "embedding_model": "bow-embed",
	  "settings": {"similarity_threshold": 0.3, "top_k": 1},
	  "routing_targets": [
	    {"name": "code", "model_name": "coder-m", "description": "Programming questions",
	     "examples": ["Write a python function that parses JSON", "Fix the compile error in my golang program"]},
	    {"name": "cooking", "model_name": "chef-m", "description": "Recipes and cooking",
	     "examples": ["How do I bake sourdough bread", "A recipe for pierogi with potatoes and cheese"]}]}`), 0o644); err != nil {
		t.Fatal(err)
	}
	models := modelsJSON(map[string][]string{
		"coder-m":   {prov("p1", coder.URL, "openai", "")},
		"chef-m":    {prov("p2", chef.URL, "openai", "")},
		"general-m": {prov("p3", general.URL, "openai", "")},
		"bow-embed": {prov("pe", general.URL, "openai", `"is_embedding": true`)},
	})
	r := startRouter(t, routerOpts{models: models, env: map[string]string{
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":            "semantic_biencoder_routing,simple_semantic_routing",
		"LLM_ROUTER_ROUTING_SEMANTIC_BIENCODER_CONFIG": cfg,
		"LLM_ROUTER_ROUTING_MODELS":                    "general-m",
	}})
	// The examples are embedded at start, before any routed request.
	eventually(t, 10*time.Second, "the examples embedded at start", func() bool {
		for _, req := range posts(general.Requests()) {
			if strings.HasSuffix(req.Path, "/embeddings") && strings.Contains(string(req.Body), "sourdough") {
				return true
			}
		}
		return false
	})
	ctx := context.Background()
	oc := openai.NewClient(option.WithBaseURL(r.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	for _, tc := range []struct {
		text, model string
		fake        *llmtest.OpenAIPlus
	}{
		{"My golang program fails with a compile error, please fix it", "coder-m", coder},
		{"What potatoes are best for pierogi?", "chef-m", chef},
		{"Tell me about the history of Rome", "general-m", general},
	} {
		before := len(chatPosts(tc.fake.Requests()))
		var resp *http.Response
		_, err := oc.Chat.Completions.New(ctx, openai.ChatCompletionNewParams{Model: "auto",
			Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(tc.text)}}, option.WithResponseInto(&resp))
		if err != nil {
			t.Fatalf("%q: %v", tc.text, err)
		}
		if got := resp.Header.Get("X-LLM-Router-Model"); got != tc.model || len(chatPosts(tc.fake.Requests())) != before+1 {
			t.Fatalf("%q: routed to %q, want %q", tc.text, got, tc.model)
		}
	}
	eventually(t, 10*time.Second, "the request log names the target", func() bool {
		return strings.Contains(r.logs.String(), `"route_reason":"target=code similarity=`)
	})
}

// Retrieved text is masked like the user's own: a document's e-mail
// address never reaches the provider when masking is forced.
func TestRAGRetrievedTextMasked(t *testing.T) {
	const mail = "leave.desk@example.com"
	fake := llmtest.NewOpenAIPlus("kb")
	defer fake.Close()
	fake.SetBagOfWords(bowDim)
	persist, src := t.TempDir(), t.TempDir()
	if err := os.WriteFile(filepath.Join(src, "leave.md"), []byte("Vacation days are requested by writing to "+mail+" in advance."), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := collection.Index(context.Background(), collection.Options{PersistDir: persist, Name: "handbook", Model: "bow-embed",
		Chunk: chunk.Options{Size: 50, Overlap: 10}}, &plugintest.Embedder{Dim: bowDim}, []string{src}, nil); err != nil {
		t.Fatal(err)
	}
	models := modelsJSON(map[string][]string{
		"chat-m":    {prov("pc", fake.URL, "openai", "")},
		"bow-embed": {prov("pe", fake.URL, "openai", `"is_embedding": true`)},
	})
	r := startRouter(t, routerOpts{models: models, env: map[string]string{
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":    "langchain_rag",
		"LLM_ROUTER_LANGCHAIN_RAG_COLLECTION":  "handbook",
		"LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR": persist,
		"LLM_ROUTER_LANGCHAIN_RAG_MIN_SCORE":   "0.3",
		"LLM_ROUTER_FORCE_MASKING":             "1",
		"LLM_ROUTER_MASKING_STRATEGY_PIPELINE": "fast_masker",
	}})
	oc := openai.NewClient(option.WithBaseURL(r.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	var resp *http.Response
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "chat-m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage("How are vacation days requested?")}},
		option.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	body := lastChat(t, fake)
	if !strings.HasSuffix(resp.Header.Get("X-LLM-Router-RAG"), "leave.md#0") || !strings.Contains(body, "Vacation days are requested by writing to") {
		t.Fatalf("nothing retrieved: header %q, provider got %s", resp.Header.Get("X-LLM-Router-RAG"), body)
	}
	if strings.Contains(body, mail) {
		t.Fatalf("the retrieved e-mail address reached the provider unmasked: %s", body)
	}
}

// The README's workflow: `llm-router rag index` builds the collection with
// the embedding model of models-config, then `llm-router run` with the
// original's variables retrieves from it.
func TestRAGIndexThenServe(t *testing.T) {
	fake := llmtest.NewOpenAIPlus("kb")
	defer fake.Close()
	fake.SetBagOfWords(bowDim)
	models := modelsJSON(map[string][]string{
		"chat-m":    {prov("pc", fake.URL, "openai", "")},
		"bow-embed": {prov("pe", fake.URL, "openai", `"is_embedding": true`)},
	})
	dir := t.TempDir()
	modelsFile, src, persist := filepath.Join(dir, "models-config.json"), filepath.Join(dir, "docs"), filepath.Join(dir, "rag")
	for p, text := range map[string]string{modelsFile: models, filepath.Join(src, "vacation.md"): vacation, filepath.Join(src, "parking.md"): parking} {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if out, err := runCLI(t, nil, "rag", "index", "--collection", "handbook", "--model", "bow-embed", "--persist-dir", persist,
		"--models-config", modelsFile, src); err != nil {
		t.Fatalf("rag index: %v\n%s", err, out)
	}
	r := startRouter(t, routerOpts{models: models, env: map[string]string{
		"LLM_ROUTER_UTILS_PLUGINS_PIPELINE":    "langchain_rag",
		"LLM_ROUTER_LANGCHAIN_RAG_COLLECTION":  "handbook",
		"LLM_ROUTER_LANGCHAIN_RAG_EMBEDDER":    "bow-embed",
		"LLM_ROUTER_LANGCHAIN_RAG_PERSIST_DIR": persist,
		"LLM_ROUTER_LANGCHAIN_RAG_MIN_SCORE":   "0.3",
	}})
	oc := openai.NewClient(option.WithBaseURL(r.Base()+"/v1/"), option.WithAPIKey("k"), option.WithMaxRetries(0))
	question := "How many vacation days do employees get per year?"
	var resp *http.Response
	if _, err := oc.Chat.Completions.New(context.Background(), openai.ChatCompletionNewParams{Model: "chat-m",
		Messages: []openai.ChatCompletionMessageParamUnion{openai.UserMessage(question)}}, option.WithResponseInto(&resp)); err != nil {
		t.Fatal(err)
	}
	if body := lastChat(t, fake); !strings.HasSuffix(resp.Header.Get("X-LLM-Router-RAG"), "vacation.md#0") ||
		!strings.Contains(body, q(question+"\n\n"+ragPreface+"\n\n"+vacation)) || strings.Contains(body, parking) {
		t.Fatalf("header %q, provider got %s", resp.Header.Get("X-LLM-Router-RAG"), body)
	}
}
