package builtin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"testing/fstest"

	"github.com/llmrouter/llm-router/caddymodule/prompts"
)

// testLib is a small prompt library whose texts make every substitution
// visible in the messages the provider receives.
func testLib(t testing.TB) *prompts.Library {
	t.Helper()
	fs := fstest.MapFS{}
	for _, lang := range []string{"pl", "en"} {
		L := strings.ToUpper(lang)
		add := func(name, text string) {
			fs[lang+"/builtin/system/"+name+".prompt"] = &fstest.MapFile{Data: []byte(text + "\n")}
		}
		add("chat-conversation-simple", L+" chat")
		add("answer-from-context-simple", L+" answer: ##QUESTION_STR##")
		add("news-on-sm", L+" news")
		add("full-article", L+" article about ##USER_Q_STR##")
		add("generate-questions", L+" write ##QUESTION_NUM_STR## (##QUESTION_NUM##)")
		add("translate-to-pl", L+" translate to Polish")
		add("simplify-text", L+" simplify")
	}
	lib, err := prompts.New(fs, "")
	if err != nil {
		t.Fatal(err)
	}
	return lib
}

// fake is a Completer that records every call and answers through reply.
type fake struct {
	reply func(msgs []Message) (string, error)

	mu    sync.Mutex
	calls []call
}

type call struct {
	model string
	msgs  []Message
	opts  Options
}

func (f *fake) Complete(ctx context.Context, model string, msgs []Message, opts Options) (string, error) {
	f.mu.Lock()
	f.calls = append(f.calls, call{model, msgs, opts})
	f.mu.Unlock()
	if f.reply == nil {
		return "answer to: " + msgs[len(msgs)-1].Content, nil
	}
	return f.reply(msgs)
}

// msgs returns the chats the provider received, in arrival order.
func (f *fake) msgs() [][]Message {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]Message, len(f.calls))
	for i, c := range f.calls {
		out[i] = c.msgs
	}
	return out
}

func sys(s string) Message  { return Message{RoleSystem, s} }
func user(s string) Message { return Message{RoleUser, s} }
func asst(s string) Message { return Message{RoleAssistant, s} }

func TestEndpoints(t *testing.T) {
	svc := New(testLib(t), Config{DefaultLanguage: "pl"})
	tests := []struct {
		name     string
		endpoint string
		body     string
		reply    func([]Message) (string, error)
		want     [][]Message // calls the provider received, sorted by user text
		response string      // JSON of the "response" field
	}{{
		name:     "conversation default language with history before the current turn",
		endpoint: Conversation,
		body: `{"model_name":"m","user_last_statement":"and now?",
			"historical_messages":[{"user":"hi","assistant":"hello"},{"user":"q2"},{"assistant":"a2"},
			{"role":"user","content":"q3"}]}`,
		want:     [][]Message{{sys("PL chat"), user("hi"), asst("hello"), user("q2"), asst("a2"), user("q3"), user("and now?")}},
		response: `"answer to: and now?"`,
	}, {
		name:     "conversation in English via model field",
		endpoint: Conversation,
		body:     `{"model":"m","language":"en-GB","user_last_statement":"hey"}`,
		want:     [][]Message{{sys("EN chat"), user("hey")}},
		response: `"answer to: hey"`,
	}, {
		name:     "extended conversation: own system prompt, history converted and before the user turn",
		endpoint: ExtendedConversation,
		body: `{"model_name":"m","system_prompt":"Be brief.","user_last_statement":"now",
			"historical_messages":[{"user":"before","assistant":"ok"}]}`,
		want:     [][]Message{{sys("Be brief."), user("before"), asst("ok"), user("now")}},
		response: `"answer to: now"`,
	}, {
		name:     "prompt controls: force, map_prompt, postfix",
		endpoint: Conversation,
		body: `{"model_name":"m","user_last_statement":"x","prompt_str_force":"Act as ##ROLE## for {who}.",
			"map_prompt":{"{who}":"Ala","##ROLE##":"a pirate"},"prompt_str_postfix":"Keep it short."}`,
		want:     [][]Message{{sys("Act as a pirate for Ala.\n\nKeep it short."), user("x")}},
		response: `"answer to: x"`,
	}, {
		name:     "generative answer: question placeholder, passages joined",
		endpoint: GenerativeAnswer,
		body:     `{"model_name":"m","language":"en","question_str":"Why?","texts":["  one ","","two"],"question_prompt":"Cite sources."}`,
		want:     [][]Message{{sys("EN answer: Why?\n\nCite sources."), user("one\n\ntwo")}},
		response: `"answer to: one\n\ntwo"`,
	}, {
		name:     "generative answer: documents in order with names",
		endpoint: GenerativeAnswer,
		body:     `{"model_name":"m","question_str":"Co?","texts":{"z.pdf":["p1","p2"],"a.pdf":"p3"},"doc_name_in_answer":true}`,
		want: [][]Message{{sys("PL answer: Co?"), user("Nazwa dokumentu: z.pdf\nTreść dokumentu: p1\n\n" +
			"Nazwa dokumentu: z.pdf\nTreść dokumentu: p2\n\nNazwa dokumentu: a.pdf\nTreść dokumentu: p3")}},
		response: `"answer to: Nazwa dokumentu: z.pdf\nTreść dokumentu: p1\n\nNazwa dokumentu: z.pdf\nTreść dokumentu: p2\n\nNazwa dokumentu: a.pdf\nTreść dokumentu: p3"`,
	}, {
		name:     "generative answer: custom system prompt without placeholder keeps the question",
		endpoint: GenerativeAnswer,
		body:     `{"model_name":"m","language":"en","question_str":"Why?","texts":["ctx"],"system_prompt":"Use the context."}`,
		want:     [][]Message{{sys("Use the context."), user("ctx\n\nQuestion: Why?")}},
		response: `"answer to: ctx\n\nQuestion: Why?"`,
	}, {
		name:     "article from text",
		endpoint: ArticleFromText,
		body:     `{"model_name":"m","language":"en","text":"News body."}`,
		want:     [][]Message{{sys("EN news"), user("News body.")}},
		response: `{"article_text":"answer to: News body."}`,
	}, {
		name:     "full article: query placeholder, article type, trimmed texts",
		endpoint: FullArticle,
		body:     `{"model_name":"m","user_query":"solar power","texts":[" a ","  ","b"],"article_type":"blog"}`,
		want:     [][]Message{{sys("PL article about solar power\n\nRodzaj artykułu: blog"), user("a\n\nb")}},
		response: `{"article_text":"answer to: a\n\nb"}`,
	}, {
		name:     "translate: one call per text, answers in order",
		endpoint: Translate,
		body:     `{"model_name":"m","language":"en","texts":["charlie","alpha","bravo"]}`,
		want: [][]Message{
			{sys("EN translate to Polish"), user("alpha")},
			{sys("EN translate to Polish"), user("bravo")},
			{sys("EN translate to Polish"), user("charlie")},
		},
		response: `[{"original":"charlie","translated":"answer to: charlie"},{"original":"alpha","translated":"answer to: alpha"},` +
			`{"original":"bravo","translated":"answer to: bravo"}]`,
	}, {
		name:     "simplify",
		endpoint: SimplifyText,
		body:     `{"model_name":"m","texts":["a","b"]}`,
		want:     [][]Message{{sys("PL simplify"), user("a")}, {sys("PL simplify"), user("b")}},
		response: `["answer to: a","answer to: b"]`,
	}, {
		name:     "generate questions with Polish plural",
		endpoint: GenerateQuestions,
		body:     `{"model_name":"m","texts":["t1"],"number_of_questions":5}`,
		reply: func([]Message) (string, error) {
			return "Oto pytania:\n\n1. Pierwsze?\n2) Drugie?\n\n3. Trzecie?\nDziękuję.", nil
		},
		want:     [][]Message{{sys("PL write 5 pytań (5)"), user("t1")}},
		response: `[{"text":"t1","questions":["Pierwsze?","Drugie?","Trzecie?"]}]`,
	}, {
		name:     "generate questions in English, plain lines",
		endpoint: GenerateQuestions,
		body:     `{"model_name":"m","language":"en","texts":["t1"],"number_of_questions":2}`,
		reply:    func([]Message) (string, error) { return "- Who?\n- When?", nil },
		want:     [][]Message{{sys("EN write 2 questions (2)"), user("t1")}},
		response: `[{"text":"t1","questions":["Who?","When?"]}]`,
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fake{reply: tt.reply}
			status, body := svc.Handle(t.Context(), tt.endpoint, []byte(tt.body), f)
			if status != http.StatusOK {
				t.Fatalf("status %d: %s", status, body)
			}
			got := f.msgs()
			sortCalls(got)
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("provider received\n%q\nwant\n%q", got, tt.want)
			}
			for _, c := range f.calls {
				if c.model != "m" {
					t.Errorf("model = %q, want m", c.model)
				}
			}
			var env struct {
				Response       json.RawMessage `json:"response"`
				GenerationTime *float64        `json:"generation_time"`
				Errors         json.RawMessage `json:"errors"`
			}
			if err := json.Unmarshal(body, &env); err != nil {
				t.Fatalf("body %s: %v", body, err)
			}
			if string(env.Response) != tt.response {
				t.Errorf("response = %s\nwant       %s", env.Response, tt.response)
			}
			if env.GenerationTime == nil || *env.GenerationTime < 0 {
				t.Errorf("generation_time missing or negative in %s", body)
			}
			if env.Errors != nil {
				t.Errorf("unexpected errors field: %s", env.Errors)
			}
		})
	}
}

// sortCalls orders per-text calls by their last (user) message.
func sortCalls(c [][]Message) {
	for i := 1; i < len(c); i++ {
		for j := i; j > 0 && c[j][len(c[j])-1].Content < c[j-1][len(c[j-1])-1].Content; j-- {
			c[j], c[j-1] = c[j-1], c[j]
		}
	}
}

func TestOptions(t *testing.T) {
	svc := New(testLib(t), Config{})
	f := &fake{}
	body := `{"model_name":"m","user_last_statement":"x","temperature":0,"max_new_tokens":42,"top_k":5,"top_p":0.5,
		"typical_p":0.9,"repetition_penalty":1.1}`
	if status, b := svc.Handle(t.Context(), Conversation, []byte(body), f); status != 200 {
		t.Fatalf("status %d: %s", status, b)
	}
	want := Options{Temperature: 0, MaxTokens: 42, TopK: 5, TopP: 0.5, TypicalP: 0.9, RepetitionPenalty: 1.1}
	if got := f.calls[0].opts; got != want {
		t.Errorf("options = %+v, want %+v", got, want)
	}
	f = &fake{}
	svc.Handle(t.Context(), Conversation, []byte(`{"model_name":"m","user_last_statement":"x"}`), f)
	if got := f.calls[0].opts; got != DefaultOptions() {
		t.Errorf("default options = %+v, want %+v", got, DefaultOptions())
	}
}

func TestBadRequests(t *testing.T) {
	svc := New(testLib(t), Config{MaxTexts: 3})
	tests := []struct {
		endpoint, body string
		status         int
		param          string // "" = null
	}{
		{Conversation, ``, 400, ""},
		{Conversation, `[1]`, 400, ""},
		{Conversation, `{"user_last_statement":"x"}`, 400, "model_name"},
		{Conversation, `{"model_name":" ","user_last_statement":"x"}`, 400, "model_name"},
		{Conversation, `{"model_name":"m"}`, 400, "user_last_statement"},
		{Conversation, `{"model_name":"m","user_last_statement":7}`, 400, "user_last_statement"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","language":"de"}`, 400, "language"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","temperature":"hot"}`, 400, "temperature"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","temperature":-1}`, 400, "temperature"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","max_new_tokens":1.5}`, 400, "max_new_tokens"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","max_tokens":0}`, 400, "max_tokens"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","top_p":0}`, 400, "top_p"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","stream":"yes"}`, 400, "stream"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","map_prompt":["a"]}`, 400, "map_prompt"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","historical_messages":{"user":"a"}}`, 400, "historical_messages"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","historical_messages":[{"foo":"a"}]}`, 400, "historical_messages[0]"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","historical_messages":[{"user":1}]}`, 400, "historical_messages[0].user"},
		{Conversation, `{"model_name":"m","user_last_statement":"x","historical_messages":[{"role":"system","content":"a"}]}`, 400, "historical_messages[0].role"},
		{ExtendedConversation, `{"model_name":"m","user_last_statement":"x"}`, 400, "system_prompt"},
		{GenerativeAnswer, `{"model_name":"m","texts":["a"]}`, 400, "question_str"},
		{GenerativeAnswer, `{"model_name":"m","question_str":"q"}`, 400, "texts"},
		{GenerativeAnswer, `{"model_name":"m","question_str":"q","texts":"abc"}`, 400, "texts"},
		{GenerativeAnswer, `{"model_name":"m","question_str":"q","texts":[" "]}`, 400, "texts"},
		{GenerativeAnswer, `{"model_name":"m","question_str":"q","texts":{"d":[1]}}`, 400, "texts.d"},
		{GenerativeAnswer, `{"model_name":"m","question_str":"q","texts":["a"],"doc_name_in_answer":1}`, 400, "doc_name_in_answer"},
		{ArticleFromText, `{"model_name":"m"}`, 400, "text"},
		{FullArticle, `{"model_name":"m","texts":["a"]}`, 400, "user_query"},
		{FullArticle, `{"model_name":"m","user_query":"q","texts":[]}`, 400, "texts"},
		{Translate, `{"model_name":"m"}`, 400, "texts"},
		{Translate, `{"model_name":"m","texts":["a",""]}`, 400, "texts[1]"},
		{Translate, `{"model_name":"m","texts":["a","b","c","d"]}`, 400, "texts"},
		{Translate, `{"model_name":"m","texts":["a"],"stream":true}`, 400, "stream"},
		{SimplifyText, `{"model_name":"m","texts":[1]}`, 400, "texts"},
		{GenerateQuestions, `{"model_name":"m","texts":["a"],"number_of_questions":0}`, 400, "number_of_questions"},
		{"nope", `{}`, 404, ""},
	}
	for _, tt := range tests {
		t.Run(tt.endpoint+" "+tt.body, func(t *testing.T) {
			f := &fake{}
			status, body := svc.Handle(t.Context(), tt.endpoint, []byte(tt.body), f)
			if status != tt.status {
				t.Errorf("status = %d, want %d (%s)", status, tt.status, body)
			}
			var e struct {
				Error struct {
					Message string  `json:"message"`
					Type    string  `json:"type"`
					Param   *string `json:"param"`
					Code    int     `json:"code"`
				} `json:"error"`
				Status *bool `json:"status"`
			}
			if err := json.Unmarshal(body, &e); err != nil {
				t.Fatalf("error body %s: %v", body, err)
			}
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if param != tt.param {
				t.Errorf("param = %q, want %q (%s)", param, tt.param, body)
			}
			if tt.param != "" && !strings.Contains(e.Error.Message, `"`+tt.param+`"`) {
				t.Errorf("message %q does not name the field %q", e.Error.Message, tt.param)
			}
			if e.Error.Code != tt.status || e.Error.Type != "builtin_error" || e.Status == nil || *e.Status {
				t.Errorf("bad error envelope: %s", body)
			}
			if len(f.calls) != 0 {
				t.Errorf("provider was called %d times on a bad request", len(f.calls))
			}
		})
	}
}

type statusErr struct{ code int }

func (e statusErr) Error() string   { return fmt.Sprintf("upstream said %d", e.code) }
func (e statusErr) HTTPStatus() int { return e.code }

func TestPerTextPartialFailure(t *testing.T) {
	svc := New(testLib(t), Config{Concurrency: 2})
	f := &fake{reply: func(msgs []Message) (string, error) {
		if text := msgs[len(msgs)-1].Content; strings.HasPrefix(text, "bad") {
			return "", fmt.Errorf("provider failed on %s", text)
		}
		return "ok " + msgs[len(msgs)-1].Content, nil
	}}
	tests := []struct{ endpoint, response, errors string }{
		{Translate,
			`[{"original":"a","translated":"ok a"},{"original":"bad1","translated":"","error":"provider failed on bad1"},{"original":"c","translated":"ok c"}]`,
			`[{"index":1,"error":"provider failed on bad1"}]`},
		{SimplifyText, `["ok a",null,"ok c"]`, `[{"index":1,"error":"provider failed on bad1"}]`},
		{GenerateQuestions,
			`[{"text":"a","questions":["ok a"]},{"text":"bad1","questions":[],"error":"provider failed on bad1"},{"text":"c","questions":["ok c"]}]`,
			`[{"index":1,"error":"provider failed on bad1"}]`},
	}
	for _, tt := range tests {
		status, body := svc.Handle(t.Context(), tt.endpoint, []byte(`{"model_name":"m","texts":["a","bad1","c"]}`), f)
		if status != 200 {
			t.Fatalf("%s: status %d: %s", tt.endpoint, status, body)
		}
		var env struct{ Response, Errors json.RawMessage }
		if err := json.Unmarshal(body, &env); err != nil {
			t.Fatal(err)
		}
		if string(env.Response) != tt.response || string(env.Errors) != tt.errors {
			t.Errorf("%s:\nresponse %s\nwant     %s\nerrors %s\nwant   %s", tt.endpoint, env.Response, tt.response, env.Errors, tt.errors)
		}
	}

	// Every text failing yields the error itself, with the upstream's status.
	f = &fake{reply: func([]Message) (string, error) { return "", statusErr{429} }}
	status, body := svc.Handle(t.Context(), Translate, []byte(`{"model_name":"m","texts":["a","b"]}`), f)
	if status != 429 || !strings.Contains(string(body), "upstream said 429") {
		t.Errorf("all failed: status %d body %s", status, body)
	}
}

func TestSingleCallErrors(t *testing.T) {
	svc := New(testLib(t), Config{})
	tests := []struct {
		err    error
		status int
	}{
		{errors.New("connection refused"), 502},
		{statusErr{404}, 404},
		{fmt.Errorf("wrapped: %w", context.DeadlineExceeded), 504},
		{context.Canceled, 499},
	}
	for _, tt := range tests {
		f := &fake{reply: func([]Message) (string, error) { return "", tt.err }}
		status, body := svc.Handle(t.Context(), ArticleFromText, []byte(`{"model_name":"m","text":"x"}`), f)
		if status != tt.status || !strings.Contains(string(body), tt.err.Error()) {
			t.Errorf("%v: status %d body %s", tt.err, status, body)
		}
	}
	f := &fake{reply: func([]Message) (string, error) { panic("boom") }}
	if status, body := svc.Handle(t.Context(), Translate, []byte(`{"model_name":"m","texts":["a"]}`), f); status != 500 {
		t.Errorf("panicking completer: status %d body %s", status, body)
	}
}

// TestBoundedConcurrency checks that no more than Config.Concurrency calls
// are in flight at once, and that all of them run.
func TestBoundedConcurrency(t *testing.T) {
	const limit, n = 3, 12
	svc := New(testLib(t), Config{Concurrency: limit})
	var mu sync.Mutex
	inFlight, peak := 0, 0
	release := make(chan struct{})
	arrived := make(chan struct{}, n)
	f := &fake{reply: func(msgs []Message) (string, error) {
		mu.Lock()
		inFlight++
		peak = max(peak, inFlight)
		mu.Unlock()
		arrived <- struct{}{}
		<-release
		mu.Lock()
		inFlight--
		mu.Unlock()
		return "ok", nil
	}}
	texts := make([]string, n)
	for i := range texts {
		texts[i] = fmt.Sprintf("t%d", i)
	}
	body, _ := json.Marshal(map[string]any{"model_name": "m", "texts": texts})
	done := make(chan int)
	go func() {
		status, _ := svc.Handle(t.Context(), SimplifyText, body, f)
		done <- status
	}()
	// Let calls through one at a time once the pool is full.
	for range limit {
		<-arrived
	}
	for i := range n {
		release <- struct{}{}
		if i+limit < n {
			<-arrived
		}
	}
	if status := <-done; status != 200 {
		t.Fatalf("status %d", status)
	}
	if peak != limit {
		t.Errorf("peak concurrency = %d, want %d", peak, limit)
	}
	if len(f.calls) != n {
		t.Errorf("calls = %d, want %d", len(f.calls), n)
	}
}

func TestCanceledContextStopsPerText(t *testing.T) {
	svc := New(testLib(t), Config{Concurrency: 1})
	ctx, cancel := context.WithCancel(t.Context())
	f := &fake{reply: func([]Message) (string, error) {
		cancel() // the client goes away during the first call
		return "first", nil
	}}
	status, body := svc.Handle(ctx, Translate, []byte(`{"model_name":"m","texts":["a","b","c"]}`), f)
	if status != 200 {
		t.Fatalf("status %d: %s", status, body)
	}
	if len(f.calls) != 1 {
		t.Errorf("provider called %d times after cancel, want 1", len(f.calls))
	}
	if !strings.Contains(string(body), `"index":2,"error":"context canceled"`) {
		t.Errorf("remaining texts should report the cancellation: %s", body)
	}
}

// TestPrepareForStreaming checks what a streaming caller gets: the full chat
// with the system prompt, in the requested language.
func TestPrepareForStreaming(t *testing.T) {
	svc := New(testLib(t), Config{DefaultLanguage: "en"})
	task, err := svc.Prepare(Conversation, []byte(`{"model_name":"auto","stream":true,"language":"pl",
		"user_last_statement":"hej","historical_messages":[{"user":"a","assistant":"b"}]}`))
	if err != nil {
		t.Fatal(err)
	}
	if !task.Stream || task.Model != "auto" || task.Language != "pl" || task.PerText() {
		t.Errorf("task = %+v", task)
	}
	want := [][]Message{{sys("PL chat"), user("a"), asst("b"), user("hej")}}
	if !reflect.DeepEqual(task.Calls, want) {
		t.Errorf("calls = %q, want %q", task.Calls, want)
	}
	if got := task.UserTexts(); !reflect.DeepEqual(got, []string{"a", "hej"}) {
		t.Errorf("UserTexts = %q", got)
	}
}

// TestShippedPrompts runs every endpoint in both languages against the real
// prompt library and checks no placeholder reaches the provider.
func TestShippedPrompts(t *testing.T) {
	lib, err := prompts.New(os.DirFS("../../resources/prompts"), "")
	if err != nil {
		t.Fatal(err)
	}
	svc := New(lib, Config{})
	bodies := map[string]string{
		Conversation:         `"user_last_statement":"Cześć"`,
		ExtendedConversation: `"user_last_statement":"Cześć","system_prompt":"Mów krótko."`,
		GenerativeAnswer:     `"question_str":"Ile?","texts":["Dwa."]`,
		ArticleFromText:      `"text":"Tekst."`,
		FullArticle:          `"user_query":"Energia","texts":["Źródło."]`,
		GenerateQuestions:    `"texts":["Tekst."],"number_of_questions":3`,
		Translate:            `"texts":["Hello"]`,
		SimplifyText:         `"texts":["Tekst."]`,
	}
	for _, lang := range []string{"pl", "en"} {
		for _, ep := range Endpoints() {
			f := &fake{}
			body := fmt.Sprintf(`{"model_name":"m","language":%q,%s}`, lang, bodies[ep])
			if status, b := svc.Handle(t.Context(), ep, []byte(body), f); status != 200 {
				t.Errorf("%s/%s: status %d: %s", lang, ep, status, b)
				continue
			}
			first := f.calls[0].msgs[0]
			if first.Role != RoleSystem || strings.Contains(first.Content, "##") {
				t.Errorf("%s/%s: system prompt %q", lang, ep, first.Content)
			}
		}
	}
	f := &fake{}
	svc.Handle(t.Context(), GenerateQuestions, []byte(`{"model_name":"m","texts":["T"],"number_of_questions":3}`), f)
	if got := f.calls[0].msgs[0].Content; !strings.Contains(got, "3 pytania") {
		t.Errorf("Polish question count not filled: %q", got)
	}
}

func TestQuestionsPhrase(t *testing.T) {
	tests := []struct {
		lang string
		n    int
		want string
	}{
		{"pl", 1, "1 pytanie"}, {"pl", 2, "2 pytania"}, {"pl", 4, "4 pytania"}, {"pl", 5, "5 pytań"},
		{"pl", 12, "12 pytań"}, {"pl", 22, "22 pytania"}, {"pl", 25, "25 pytań"},
		{"en", 1, "1 question"}, {"en", 3, "3 questions"}, {"de", 2, "2 questions"},
	}
	for _, tt := range tests {
		if got := questionsPhrase(tt.lang, tt.n); got != tt.want {
			t.Errorf("questionsPhrase(%q, %d) = %q, want %q", tt.lang, tt.n, got, tt.want)
		}
	}
}

func BenchmarkPrepareGenerativeAnswer(b *testing.B) {
	lib, err := prompts.New(os.DirFS("../../resources/prompts"), "")
	if err != nil {
		b.Fatal(err)
	}
	svc := New(lib, Config{})
	body := []byte(`{"model_name":"m","question_str":"Jakie są warunki gwarancji?","doc_name_in_answer":true,
		"texts":{"umowa.pdf":["Gwarancja obejmuje 24 miesiące.","Nie obejmuje uszkodzeń mechanicznych."],
		"regulamin.pdf":["Reklamacje rozpatrujemy w 14 dni."]}}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := svc.Prepare(GenerativeAnswer, body); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkHandleTranslate(b *testing.B) {
	svc := New(testLib(b), Config{})
	body := []byte(`{"model_name":"m","language":"en","texts":["one","two","three","four","five","six","seven","eight"]}`)
	c := CompleterFunc(func(_ context.Context, _ string, msgs []Message, _ Options) (string, error) {
		return msgs[len(msgs)-1].Content, nil
	})
	b.ReportAllocs()
	for b.Loop() {
		if status, _ := svc.Handle(context.Background(), Translate, body, c); status != 200 {
			b.Fatal(status)
		}
	}
}

func TestControlApply(t *testing.T) {
	tests := []struct {
		c    Control
		in   string
		want string
	}{
		{Control{}, "  Be nice.  ", "Be nice."},
		{Control{Force: "Forced."}, "Be nice.", "Forced."},
		{Control{Postfix: "Short answers."}, "Be nice.", "Be nice.\n\nShort answers."},
		{Control{Postfix: "Only this."}, "", "Only this."},
		{Control{MapPrompt: map[string]string{"{x}": "A", "{x}{x}": "B"}}, "{x}{x} {x}", "B A"},
		{Control{Force: "Hi {n}", MapPrompt: map[string]string{"{n}": "Ola"}, Postfix: "Bye"}, "ignored", "Hi Ola\n\nBye"},
	}
	for _, tt := range tests {
		if got := tt.c.Apply(tt.in); got != tt.want {
			t.Errorf("%+v.Apply(%q) = %q, want %q", tt.c, tt.in, got, tt.want)
		}
	}
}
