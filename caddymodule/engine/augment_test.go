package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/plugins"
)

// fakeAugmenter records its queries and answers aug (or err).
type fakeAugmenter struct {
	aug     *plugins.Augmentation
	err     error
	queries []plugins.Query
}

func (f *fakeAugmenter) Apply(context.Context, *plugins.Request) error { return nil }
func (f *fakeAugmenter) Augment(_ context.Context, q *plugins.Query) (*plugins.Augmentation, error) {
	f.queries = append(f.queries, *q)
	return f.aug, f.err
}

// augmentServer is a server whose pipeline has one augmenter, with model m
// served by one provider of each api type.
func augmentServer(t *testing.T, f *fakeAugmenter) (*Server, *config.Model) {
	t.Helper()
	cfg, err := config.Parse("test.json", []byte(`{
		"models": {"m": {"providers": [
			{"id": "oa", "api_host": "http://127.0.0.1:1", "api_type": "openai"},
			{"id": "an", "api_host": "http://127.0.0.1:1", "api_type": "anthropic"},
			{"id": "ol", "api_host": "http://127.0.0.1:1", "api_type": "ollama"}]}},
		"active_models": {"models": ["m"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	m, _ := cfg.Model("m")
	e := New(Options{Config: cfg, Pipeline: &plugins.Pipeline{Utils: []plugins.Util{f}}, Logger: zap.NewNop()})
	return &Server{app: e, logger: zap.NewNop()}, m
}

func providerOf(m *config.Model, id string) *config.Provider {
	for _, p := range m.Providers {
		if p.ID == id {
			return p
		}
	}
	panic(id)
}

// The retrieved text reaches the provider in every dialect, appended to
// the newest user turn (or in the system prompt), and the "rag" member
// never does.
func TestAugmentChat(t *testing.T) {
	const ctx = "CONTEXT: twenty six days"
	tests := []struct {
		name     string
		kind     *chatKind
		body     string
		provider string
		system   bool
		want     []string // in the upstream body
	}{
		{"openai chat passthrough", kindOpenAIChat,
			`{"model":"m","rag":{"top_k":2},"messages":[{"role":"system","content":"S"},{"role":"user","content":"old question"},{"role":"assistant","content":"a"},{"role":"user","content":"vacation days?"}]}`,
			"oa", false, []string{`"content":"old question"`, `"content":"vacation days?\n\n` + ctx + `"`}},
		{"openai chat, parts", kindOpenAIChat,
			`{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":"vacation days?"}]}],"rag":{"top_k":2}}`,
			"oa", false, []string{`"vacation days?\n\n` + ctx + `"`}},
		{"openai chat to anthropic", kindOpenAIChat,
			`{"model":"m","messages":[{"role":"user","content":"vacation days?"}],"rag":{"top_k":2}}`,
			"an", false, []string{`"text":"vacation days?\n\n` + ctx + `"`}},
		{"openai chat, system mode", kindOpenAIChat,
			`{"model":"m","messages":[{"role":"system","content":"S"},{"role":"user","content":"vacation days?"}],"rag":{"top_k":2}}`,
			"oa", true, []string{`"content":"S\n\n` + ctx + `"`, `"content":"vacation days?"`}},
		{"anthropic messages", kindAnthropic,
			`{"model":"m","max_tokens":10,"rag":{"top_k":2},"messages":[{"role":"user","content":[{"type":"text","text":"vacation days?"}]}]}`,
			"an", false, []string{`"text":"vacation days?\n\n` + ctx + `"`}},
		{"anthropic messages, system mode", kindAnthropic,
			`{"model":"m","max_tokens":10,"rag":{"top_k":2},"messages":[{"role":"user","content":"vacation days?"}]}`,
			"an", true, []string{`"system":"` + ctx + `"`}},
		{"ollama chat", kindOllamaChat,
			`{"model":"m","stream":false,"rag":{"top_k":2},"messages":[{"role":"user","content":"vacation days?"}]}`,
			"ol", false, []string{`"content":"vacation days?\n\n` + ctx + `"`}},
		{"ollama generate", kindOllamaGen,
			`{"model":"m","stream":false,"rag":{"top_k":2},"prompt":"vacation days?"}`,
			"ol", false, []string{`vacation days?\n\n` + ctx}},
		{"openai responses", kindResponses,
			`{"model":"m","rag":{"top_k":2},"input":"vacation days?"}`,
			"oa", false, []string{`vacation days?\n\n` + ctx}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAugmenter{aug: &plugins.Augmentation{Text: ctx, System: tt.system, Sources: []string{"a.md#0", "b.md#3"}}}
			h, m := augmentServer(t, f)
			c := newCall(t, tt.kind, tt.body)
			w := httptest.NewRecorder()
			if err := h.augmentChat(context.Background(), w, c); err != nil {
				t.Fatal(err)
			}
			if len(f.queries) != 1 || f.queries[0].Text != "vacation days?" || string(f.queries[0].Options) != `{"top_k":2}` || f.queries[0].Model != "m" {
				t.Fatalf("queries %+v", f.queries)
			}
			if got := w.Header().Get(RAGHeader); got != "a.md#0,b.md#3" {
				t.Fatalf("header %q", got)
			}
			up, _, _, err := h.upstreamRequest(c, m, providerOf(m, tt.provider))
			if err != nil {
				t.Fatal(err)
			}
			var v any
			if err := json.Unmarshal(up, &v); err != nil {
				t.Fatalf("upstream body %s: %v", up, err)
			}
			for _, want := range tt.want {
				if !strings.Contains(string(up), strings.ReplaceAll(want, "\n", `\n`)) {
					t.Errorf("upstream body lacks %s:\n%s", want, up)
				}
			}
			if strings.Contains(string(up), `"rag"`) || strings.Contains(string(up), "top_k\":2") {
				t.Errorf("the rag member reached the provider: %s", up)
			}
		})
	}
}

func newCall(t *testing.T, k *chatKind, body string) *chatCall {
	t.Helper()
	pr, err := parseChat([]byte(body), k.streamDefault)
	if err != nil {
		t.Fatal(err)
	}
	return &chatCall{kind: k, body: []byte(body), obj: pr.obj, model: pr.model, stream: pr.stream}
}

// Nothing retrieved: the request goes on as it came, passthrough bytes
// and all, without the "rag" member; a refused option is the client's 400,
// an embedding model that is down a 503.
func TestAugmentChatUnchanged(t *testing.T) {
	f := &fakeAugmenter{}
	h, m := augmentServer(t, f)
	body := `{"model":"m","messages":[{"role":"user","content":"quantum"}],"temperature":0.5,"rag":{"collection":"x"}}`
	c := newCall(t, kindOpenAIChat, body)
	w := httptest.NewRecorder()
	if err := h.augmentChat(context.Background(), w, c); err != nil {
		t.Fatal(err)
	}
	if c.modified || w.Header().Get(RAGHeader) != "" {
		t.Fatalf("modified %v header %q", c.modified, w.Header().Get(RAGHeader))
	}
	up, _, pcodec, err := h.upstreamRequest(c, m, providerOf(m, "oa"))
	if err != nil || pcodec != nil || string(up) != `{"model":"m","messages":[{"role":"user","content":"quantum"}],"temperature":0.5}` {
		t.Fatalf("upstream %s %v (passthrough %v)", up, err, pcodec == nil)
	}

	// No user turn with text: no query, no call.
	f.queries = nil
	c = newCall(t, kindOpenAIChat, `{"model":"m","messages":[{"role":"system","content":"S"}]}`)
	if err := h.augmentChat(context.Background(), httptest.NewRecorder(), c); err != nil || len(f.queries) != 0 {
		t.Fatalf("no user turn: %v %d", err, len(f.queries))
	}

	for _, tc := range []struct {
		err    error
		status int
	}{
		{fmt.Errorf("%w: rag: unknown collection \"x\"", plugins.ErrInvalidRequest), http.StatusBadRequest},
		{&plugins.ServiceError{Service: "rag", Kind: "embedding model e unavailable"}, http.StatusServiceUnavailable},
	} {
		f.err = tc.err
		c := newCall(t, kindOpenAIChat, body)
		err := h.augmentChat(context.Background(), httptest.NewRecorder(), c)
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != tc.status {
			t.Errorf("%v: got %v, want status %d", tc.err, err, tc.status)
		}
	}
}

// A bad "rag" member is the client's 400 even when the request has no
// text to retrieve for (no user turn, an empty one, a built-in task
// without user_last_statement); a good one there changes nothing.
func TestAugmentOptionsWithoutText(t *testing.T) {
	refused := fmt.Errorf("%w: rag: unknown collection \"../x\"", plugins.ErrInvalidRequest)
	chats := []string{
		`{"model":"m","messages":[{"role":"system","content":"S"}],"rag":{"collection":"../x"}}`,
		`{"model":"m","messages":[{"role":"user","content":"  "}],"rag":{"collection":"../x"}}`,
	}
	for _, body := range chats {
		f := &fakeAugmenter{err: refused}
		h, _ := augmentServer(t, f)
		err := h.augmentChat(context.Background(), httptest.NewRecorder(), newCall(t, kindOpenAIChat, body))
		var ae *Error
		if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
			t.Errorf("%s: got %v, want a 400", body, err)
		}
		if len(f.queries) != 1 || f.queries[0].Text != "" || string(f.queries[0].Options) != `{"collection":"../x"}` {
			t.Errorf("%s: queries %+v, want one with the options and no text", body, f.queries)
		}
		// A good member: nothing added, no error.
		f.err, f.aug = nil, &plugins.Augmentation{Text: "CTX", Sources: []string{"a.md#0"}}
		c := newCall(t, kindOpenAIChat, body)
		w := httptest.NewRecorder()
		if err := h.augmentChat(context.Background(), w, c); err != nil || c.modified || w.Header().Get(RAGHeader) != "" {
			t.Errorf("%s: good options: err %v modified %v header %q", body, err, c.modified, w.Header().Get(RAGHeader))
		}
	}
	f := &fakeAugmenter{err: refused}
	h, _ := augmentServer(t, f)
	task := &builtin.Task{Model: "m", Calls: [][]builtin.Message{{{Role: builtin.RoleUser, Content: "a"}}}}
	err := h.augmentTask(context.Background(), httptest.NewRecorder(), task, []byte(`{"texts":["a"],"rag":{"collection":"../x"}}`))
	var ae *Error
	if !errors.As(err, &ae) || ae.Status != http.StatusBadRequest {
		t.Errorf("task: got %v, want a 400", err)
	}
}

// A built-in conversation gets the retrieved text after its
// user_last_statement, or in its system prompt; other tasks are untouched.
func TestAugmentTask(t *testing.T) {
	call := func() [][]builtin.Message {
		return [][]builtin.Message{{{Role: builtin.RoleSystem, Content: "S"}, {Role: builtin.RoleUser, Content: "hi"}, {Role: builtin.RoleUser, Content: "vacation days?"}}}
	}
	tests := []struct {
		name   string
		body   string
		aug    *plugins.Augmentation
		calls  [][]builtin.Message
		want   [][]builtin.Message
		called bool
	}{
		{"preface", `{"user_last_statement":"vacation days?","rag":{"top_k":1}}`, &plugins.Augmentation{Text: "CTX"}, call(),
			[][]builtin.Message{{{Role: builtin.RoleSystem, Content: "S"}, {Role: builtin.RoleUser, Content: "hi"}, {Role: builtin.RoleUser, Content: "vacation days?\n\nCTX"}}}, true},
		{"system", `{"user_last_statement":"vacation days?"}`, &plugins.Augmentation{Text: "CTX", System: true}, call(),
			[][]builtin.Message{{{Role: builtin.RoleSystem, Content: "S\n\nCTX"}, {Role: builtin.RoleUser, Content: "hi"}, {Role: builtin.RoleUser, Content: "vacation days?"}}}, true},
		{"system, none before", `{"user_last_statement":"q"}`, &plugins.Augmentation{Text: "CTX", System: true}, [][]builtin.Message{{{Role: builtin.RoleUser, Content: "q"}}},
			[][]builtin.Message{{{Role: builtin.RoleSystem, Content: "CTX"}, {Role: builtin.RoleUser, Content: "q"}}}, true},
		{"no user_last_statement", `{"texts":["a"]}`, &plugins.Augmentation{Text: "CTX"}, [][]builtin.Message{{{Role: builtin.RoleUser, Content: "a"}}},
			[][]builtin.Message{{{Role: builtin.RoleUser, Content: "a"}}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAugmenter{aug: tt.aug}
			h, _ := augmentServer(t, f)
			task := &builtin.Task{Model: "m", Language: "pl", Calls: tt.calls}
			if err := h.augmentTask(context.Background(), httptest.NewRecorder(), task, []byte(tt.body)); err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(task.Calls) != fmt.Sprint(tt.want) {
				t.Fatalf("calls %v, want %v", task.Calls, tt.want)
			}
			if tt.called && (len(f.queries) != 1 || f.queries[0].Language != "pl" || f.queries[0].Text != "vacation days?" && f.queries[0].Text != "q") {
				t.Fatalf("queries %+v", f.queries)
			}
			if !tt.called && len(f.queries) != 0 {
				t.Fatalf("called for a task without user_last_statement")
			}
		})
	}
}

// emailMasker replaces one address, like a masker would.
type emailMasker struct{}

func (emailMasker) MaskTexts(_ context.Context, texts []string) ([]string, map[string]string, error) {
	out := make([]string, len(texts))
	for i, t := range texts {
		out[i] = strings.ReplaceAll(t, "hr@example.com", "{EMAIL_1}")
	}
	return out, map[string]string{"{EMAIL_1}": "hr@example.com"}, nil
}

// Retrieved text is masked like the user's own: retrieval runs before the
// maskers, in the same pipeline step.
func TestRetrievedTextIsMasked(t *testing.T) {
	f := &fakeAugmenter{aug: &plugins.Augmentation{Text: "Write to hr@example.com for leave.", Sources: []string{"hr.md#0"}}}
	h, m := augmentServer(t, f)
	h.app.pipeline.Maskers = []plugins.Masker{emailMasker{}}
	h.app.pipeline.ForceMasking = true
	c := newCall(t, kindOpenAIChat, `{"model":"m","messages":[{"role":"user","content":"vacation days?"}]}`)
	if err := h.runPipeline(context.Background(), httptest.NewRecorder(), Route{}, c); err != nil {
		t.Fatal(err)
	}
	up, _, _, err := h.upstreamRequest(c, m, providerOf(m, "oa"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(up), "hr@example.com") || !strings.Contains(string(up), `vacation days?\n\nWrite to {EMAIL_1} for leave.`) {
		t.Fatalf("upstream body %s", up)
	}
}

// A handler's rag_collection is the collection of its requests that name
// none; a request's own choice wins.
func TestRAGOptions(t *testing.T) {
	h := &Server{ServerOptions: ServerOptions{RAGCollection: "handbook"}}
	for raw, want := range map[string]string{
		"":                            `{"collection":"handbook"}`,
		"null":                        `{"collection":"handbook"}`,
		`{"top_k":2}`:                 `{"top_k":2,"collection":"handbook"}`,
		`{"collection":"recipes"}`:    `{"collection":"recipes"}`,
		`"recipes"`:                   `"recipes"`,
		`{"collection":"x","mode":1}`: `{"collection":"x","mode":1}`,
	} {
		var in []byte
		if raw != "" {
			in = []byte(raw)
		}
		var got any
		if err := json.Unmarshal(h.ragOptions(in), &got); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		var w any
		_ = json.Unmarshal([]byte(want), &w)
		if fmt.Sprint(got) != fmt.Sprint(w) {
			t.Errorf("%q: got %s, want %s", raw, h.ragOptions(in), want)
		}
	}
	if got := (&Server{}).ragOptions([]byte(`{"top_k":2}`)); string(got) != `{"top_k":2}` {
		t.Errorf("no rag_collection: %s", got)
	}
}

// recordingRouter is a routing util that records the texts it was given.
type recordingRouter struct{ texts []string }

func (r *recordingRouter) Apply(_ context.Context, req *plugins.Request) error {
	r.texts = append(r.texts, req.Texts...)
	req.Model = "m"
	return nil
}

// A routing util sees the user's texts only, oldest first, so "auto" is
// routed on what the user asked last, not on the system prompt or the
// assistant's last answer.
func TestUtilTextsAreUserTexts(t *testing.T) {
	r := &recordingRouter{}
	h, _ := augmentServer(t, &fakeAugmenter{})
	h.app.pipeline.Utils = []plugins.Util{r}
	c := newCall(t, kindOpenAIChat, `{"model":"auto","messages":[
		{"role":"system","content":"You are a helpful cook."},
		{"role":"user","content":"golang compile error"},
		{"role":"assistant","content":"Here is a recipe for pierogi."},
		{"role":"user","content":[{"type":"text","text":"fix it"},{"type":"text","text":"please"}]},
		{"role":"assistant","content":"Bake the bread."}]}`)
	if err := h.runPipeline(context.Background(), httptest.NewRecorder(), Route{}, c); err != nil {
		t.Fatal(err)
	}
	if want := []string{"golang compile error", "fix it\nplease"}; !slices.Equal(r.texts, want) {
		t.Errorf("routing util saw %q, want the user texts %q", r.texts, want)
	}
}

// The texts a util sends to a model of its own (the retrieval query, the
// routing texts an embedding router embeds) are masked when the request
// is: every text a model reads is masked.
func TestUtilTextsMasked(t *testing.T) {
	const body = `{"model":%q,"messages":[{"role":"user","content":"mail hr@example.com"}]%s}`
	for _, tc := range []struct {
		name      string
		force     bool
		anonymize string
		want      string
	}{
		{"forced", true, "", "mail {EMAIL_1}"},
		{"asked", false, `,"anonymize":true`, "mail {EMAIL_1}"},
		{"off", false, "", "mail hr@example.com"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeAugmenter{}
			r := &recordingRouter{}
			h, _ := augmentServer(t, f)
			h.app.pipeline.Utils = []plugins.Util{r, f}
			h.app.pipeline.Maskers = []plugins.Masker{emailMasker{}}
			h.app.pipeline.ForceMasking = tc.force
			c := newCall(t, kindOpenAIChat, fmt.Sprintf(body, "auto", tc.anonymize))
			if err := h.runPipeline(context.Background(), httptest.NewRecorder(), Route{}, c); err != nil {
				t.Fatal(err)
			}
			if len(r.texts) != 1 || r.texts[0] != tc.want {
				t.Errorf("routing util saw %q, want %q", r.texts, tc.want)
			}
			if len(f.queries) != 1 || f.queries[0].Text != tc.want {
				t.Errorf("augmenter saw %+v, want query %q", f.queries, tc.want)
			}
		})
	}
}
