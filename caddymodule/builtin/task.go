package builtin

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/prompts"
)

// Task is a decoded, validated request to one built-in endpoint.
type Task struct {
	// Endpoint is the endpoint name, e.g. "translate".
	Endpoint string
	// Model is the requested model (`model_name`, else `model`); may be
	// "auto", which the caller resolves (e.g. by semantic routing) and then
	// overwrites here before Run.
	Model string
	// Language is the prompt language used.
	Language string
	// Stream is the request's `stream` flag. It is only ever true for the
	// single-call endpoints: per-text endpoints reject it.
	Stream bool
	// Options are the generation options, defaults filled in.
	Options Options
	// Calls holds the chat of every upstream call, system prompt first:
	// exactly one call, or one per text for the per-text endpoints.
	Calls [][]Message
	// Texts are the inputs of a per-text endpoint, in request order.
	Texts []string
}

// PerText reports whether the task makes one upstream call per input text
// (generate_questions, translate, simplify_text).
func (t *Task) PerText() bool { return perText(t.Endpoint) }

func perText(name string) bool {
	return name == GenerateQuestions || name == Translate || name == SimplifyText
}

// UserTexts returns the content of every user message of every call, in
// order: the texts a model router should look at.
func (t *Task) UserTexts() []string {
	var out []string
	for _, call := range t.Calls {
		for _, m := range call {
			if m.Role == RoleUser {
				out = append(out, m.Content)
			}
		}
	}
	return out
}

// Prepare decodes and validates a request body for endpoint name and builds
// the upstream chats, system prompt included. Errors are a *[FieldError]
// (status 400) naming the field, or wrap [ErrUnknownEndpoint]; see [Status].
func (s *Service) Prepare(name string, body []byte) (*Task, error) {
	if !known(name) {
		return nil, fmt.Errorf("%q: %w", name, ErrUnknownEndpoint)
	}
	f, err := parseBody(body)
	if err != nil {
		return nil, err
	}
	t := &Task{Endpoint: name}
	if t.Model, err = f.str("model_name", false); err != nil {
		return nil, err
	}
	if strings.TrimSpace(t.Model) == "" {
		if t.Model, err = f.str("model", false); err != nil {
			return nil, err
		}
	}
	if t.Model = strings.TrimSpace(t.Model); t.Model == "" {
		return nil, &FieldError{"model_name", "is required"}
	}
	lang, err := f.str("language", false)
	if err != nil {
		return nil, err
	}
	t.Language = normLang(lang, s.cfg.DefaultLanguage)
	if t.Stream, err = f.boolean("stream"); err != nil {
		return nil, err
	}
	if t.Stream && perText(name) {
		return nil, &FieldError{"stream", "is not supported by " + name + ", which answers one entry per text"}
	}
	if t.Options, err = f.options(); err != nil {
		return nil, err
	}
	c, err := f.control()
	if err != nil {
		return nil, err
	}
	b := builder{s: s, f: f, t: t, c: c}
	switch name {
	case Conversation:
		err = b.conversation(false)
	case ExtendedConversation:
		err = b.conversation(true)
	case GenerativeAnswer:
		err = b.answer()
	case ArticleFromText:
		err = b.article()
	case FullArticle:
		err = b.fullArticle()
	case GenerateQuestions:
		n := 1
		if err = f.integer("number_of_questions", &n, 1, 100); err == nil {
			err = b.perText(PromptQuestions, map[string]string{
				"QUESTION_NUM_STR": questionsPhrase(t.Language, n),
				"QUESTION_NUM":     strconv.Itoa(n),
			})
		}
	case Translate:
		err = b.perText(PromptTranslate, nil)
	case SimplifyText:
		err = b.perText(PromptSimplify, nil)
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

func known(name string) bool {
	for _, n := range Endpoints() {
		if n == name {
			return true
		}
	}
	return false
}

// normLang lower-cases a language tag and keeps its primary subtag
// ("pl-PL" → "pl"); empty → def.
func normLang(lang, def string) string {
	lang = strings.ToLower(strings.TrimSpace(lang))
	if lang == "" {
		lang = strings.ToLower(def)
	}
	if i := strings.IndexAny(lang, "-_"); i > 0 {
		lang = lang[:i]
	}
	return lang
}

// builder builds the calls of one task.
type builder struct {
	s *Service
	f fields
	t *Task
	c Control
}

// prompt returns the library text of id in the task's language.
func (b *builder) prompt(id string) (string, error) {
	text, err := b.s.lib.Get(id, b.t.Language)
	switch {
	case err == nil:
		return text, nil
	case errors.Is(err, prompts.ErrLanguage):
		return "", &FieldError{"language", fmt.Sprintf("%q is not available for %s (available: %s)",
			b.t.Language, b.t.Endpoint, strings.Join(b.s.lib.Languages(id), ", "))}
	default:
		return "", &internalError{fmt.Errorf("system prompt for %s: %w", b.t.Endpoint, err)}
	}
}

// system composes the final system prompt: prompt_str_force replaces base,
// map_prompt keys are replaced literally, then the endpoint's ##NAME##
// placeholders are filled, extras and prompt_str_postfix are appended after a
// blank line each, and the result is trimmed. placed reports, for each var,
// whether its placeholder occurred in the text (so the caller can put the
// value elsewhere when a custom prompt lacks it).
func (b *builder) system(base string, vars map[string]string, extras ...string) (text string, placed map[string]bool) {
	text = base
	if b.c.Force != "" {
		text = b.c.Force
	}
	text = replaceLiteral(text, b.c.MapPrompt)
	placed = make(map[string]bool, len(vars))
	for k := range vars {
		placed[k] = strings.Contains(text, "##"+k+"##")
	}
	text = strings.TrimSpace(prompts.Fill(text, vars))
	for _, e := range append(extras[:len(extras):len(extras)], b.c.Postfix) {
		if e = strings.TrimSpace(e); e != "" {
			if text != "" {
				text += "\n\n"
			}
			text += e
		}
	}
	return text, placed
}

// chat returns [system?, history..., user].
func chat(system string, history []Message, user string) []Message {
	msgs := make([]Message, 0, len(history)+2)
	if system != "" {
		msgs = append(msgs, Message{RoleSystem, system})
	}
	msgs = append(msgs, history...)
	return append(msgs, Message{RoleUser, user})
}

func (b *builder) conversation(extended bool) error {
	var base string
	var err error
	if extended {
		base, err = b.f.str("system_prompt", true)
	} else {
		base, err = b.prompt(PromptChat)
	}
	if err != nil {
		return err
	}
	user, err := b.f.str("user_last_statement", true)
	if err != nil {
		return err
	}
	hist, err := b.f.history("historical_messages")
	if err != nil {
		return err
	}
	sys, _ := b.system(base, nil)
	b.t.Calls = [][]Message{chat(sys, hist, user)}
	return nil
}

func (b *builder) answer() error {
	q, err := b.f.str("question_str", true)
	if err != nil {
		return err
	}
	ps, err := b.f.passages("texts", b.s.cfg.MaxTexts)
	if err != nil {
		return err
	}
	withDoc, err := b.f.boolean("doc_name_in_answer")
	if err != nil {
		return err
	}
	qp, err := b.f.str("question_prompt", false)
	if err != nil {
		return err
	}
	base, err := b.f.str("system_prompt", false)
	if err != nil {
		return err
	}
	if strings.TrimSpace(base) == "" {
		if base, err = b.prompt(PromptAnswer); err != nil {
			return err
		}
	}
	var parts []string
	for _, p := range ps {
		text := strings.TrimSpace(p.text)
		if text == "" {
			continue
		}
		if withDoc && p.doc != "" {
			text = label(b.t.Language, "doc") + p.doc + "\n" + label(b.t.Language, "context") + text
		}
		parts = append(parts, text)
	}
	if len(parts) == 0 {
		return &FieldError{"texts", "must contain at least one non-empty text"}
	}
	sys, placed := b.system(base, map[string]string{"QUESTION_STR": q}, qp)
	if !placed["QUESTION_STR"] {
		parts = append(parts, label(b.t.Language, "question")+q)
	}
	b.t.Calls = [][]Message{chat(sys, nil, strings.Join(parts, "\n\n"))}
	return nil
}

func (b *builder) article() error {
	text, err := b.f.str("text", true)
	if err != nil {
		return err
	}
	base, err := b.prompt(PromptArticle)
	if err != nil {
		return err
	}
	sys, _ := b.system(base, nil)
	b.t.Calls = [][]Message{chat(sys, nil, text)}
	return nil
}

func (b *builder) fullArticle() error {
	q, err := b.f.str("user_query", true)
	if err != nil {
		return err
	}
	texts, err := b.f.texts("texts", true, b.s.cfg.MaxTexts)
	if err != nil {
		return err
	}
	kind, err := b.f.str("article_type", false)
	if err != nil {
		return err
	}
	base, err := b.prompt(PromptFullArticle)
	if err != nil {
		return err
	}
	var parts []string
	for _, s := range texts {
		if s = strings.TrimSpace(s); s != "" {
			parts = append(parts, s)
		}
	}
	if len(parts) == 0 {
		return &FieldError{"texts", "must contain at least one non-empty text"}
	}
	var extra string
	if strings.TrimSpace(kind) != "" {
		extra = label(b.t.Language, "type") + strings.TrimSpace(kind)
	}
	sys, placed := b.system(base, map[string]string{"USER_Q_STR": q}, extra)
	if !placed["USER_Q_STR"] {
		parts = append(parts, label(b.t.Language, "query")+q)
	}
	b.t.Calls = [][]Message{chat(sys, nil, strings.Join(parts, "\n\n"))}
	return nil
}

func (b *builder) perText(id string, vars map[string]string) error {
	texts, err := b.f.texts("texts", true, b.s.cfg.MaxTexts)
	if err != nil {
		return err
	}
	for i, s := range texts {
		if strings.TrimSpace(s) == "" {
			return &FieldError{fmt.Sprintf("texts[%d]", i), "must not be empty"}
		}
	}
	base, err := b.prompt(id)
	if err != nil {
		return err
	}
	sys, _ := b.system(base, vars)
	b.t.Texts = texts
	b.t.Calls = make([][]Message, len(texts))
	for i, s := range texts {
		b.t.Calls[i] = chat(sys, nil, s)
	}
	return nil
}

// label returns a short fixed label in the prompt language (English for
// languages other than Polish).
func label(lang, key string) string {
	if lang == "pl" {
		switch key {
		case "doc":
			return "Nazwa dokumentu: "
		case "context":
			return "Treść dokumentu: "
		case "question":
			return "Pytanie: "
		case "query":
			return "Zapytanie: "
		case "type":
			return "Rodzaj artykułu: "
		}
	}
	switch key {
	case "doc":
		return "Document name: "
	case "context":
		return "Document context: "
	case "question":
		return "Question: "
	case "query":
		return "Request: "
	case "type":
		return "Article type: "
	}
	return ""
}

// questionsPhrase renders "<n> question(s)" in the prompt language, with
// Polish plural forms (1 pytanie, 2 pytania, 5 pytań, 22 pytania).
func questionsPhrase(lang string, n int) string {
	if lang == "pl" {
		word := "pytań"
		switch {
		case n == 1:
			word = "pytanie"
		case n%10 >= 2 && n%10 <= 4 && (n%100 < 12 || n%100 > 14):
			word = "pytania"
		}
		return strconv.Itoa(n) + " " + word
	}
	if n == 1 {
		return "1 question"
	}
	return strconv.Itoa(n) + " questions"
}
