package client

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
)

// Options are the generation and prompt options every built-in endpoint
// takes. Nil or empty fields are not sent, so the router's defaults apply
// (temperature 0.75, max_new_tokens 256, top_k 50, top_p 0.99, typical_p 1,
// repetition_penalty 1.2, language from LLM_ROUTER_DEFAULT_EP_LANGUAGE).
type Options struct {
	Temperature       *float64 `json:"temperature,omitempty"`
	MaxNewTokens      *int     `json:"max_new_tokens,omitempty"`
	TopK              *int     `json:"top_k,omitempty"`
	TopP              *float64 `json:"top_p,omitempty"`
	TypicalP          *float64 `json:"typical_p,omitempty"`
	RepetitionPenalty *float64 `json:"repetition_penalty,omitempty"`
	// Language picks the system prompt's language ("pl", "en").
	Language string `json:"language,omitempty"`
	// PromptForce replaces the endpoint's system prompt (prompt_str_force).
	PromptForce string `json:"prompt_str_force,omitempty"`
	// PromptPostfix is appended to the system prompt (prompt_str_postfix).
	PromptPostfix string `json:"prompt_str_postfix,omitempty"`
	// MapPrompt replaces literal strings in the system prompt (map_prompt).
	MapPrompt map[string]string `json:"map_prompt,omitempty"`
}

// Float returns a pointer to v, for the optional fields of [Options].
func Float(v float64) *float64 { return &v }

// Int returns a pointer to v, for the optional fields of [Options].
func Int(v int) *int { return &v }

// Turn is one exchange of a conversation's history: the user's statement
// and the assistant's answer (either may be empty).
type Turn struct {
	User      string `json:"user,omitempty"`
	Assistant string `json:"assistant,omitempty"`
}

// ConversationRequest is the body of conversation_with_model.
type ConversationRequest struct {
	Model string `json:"model_name"`
	// Message is the user's current statement (user_last_statement).
	Message string `json:"user_last_statement"`
	// History are the earlier turns, oldest first (historical_messages).
	History []Turn `json:"historical_messages,omitempty"`
	Options
}

// ExtendedConversationRequest is the body of
// extended_conversation_with_model: a conversation with the caller's own
// system prompt.
type ExtendedConversationRequest struct {
	Model        string `json:"model_name"`
	SystemPrompt string `json:"system_prompt"`
	Message      string `json:"user_last_statement"`
	History      []Turn `json:"historical_messages,omitempty"`
	Options
}

// Document is a named document of generative_answer's context.
type Document struct {
	Name     string
	Passages []string
}

// Passages is generative_answer's context: plain texts, or passages grouped
// by document (sent in order as {"name": [passages]}).
type Passages struct {
	Texts     []string
	Documents []Document
}

// MarshalJSON encodes texts as an array, or documents as an object whose
// keys keep their order.
func (p Passages) MarshalJSON() ([]byte, error) {
	if len(p.Documents) == 0 {
		if p.Texts == nil {
			return []byte("[]"), nil
		}
		return json.Marshal(p.Texts)
	}
	var b bytes.Buffer
	b.WriteByte('{')
	for i, d := range p.Documents {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := json.Marshal(d.Name)
		if err != nil {
			return nil, err
		}
		v, err := json.Marshal(d.Passages)
		if err != nil {
			return nil, err
		}
		b.Write(k)
		b.WriteByte(':')
		b.Write(v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// GenerativeAnswerRequest is the body of generative_answer: answer a
// question from the given context only.
type GenerativeAnswerRequest struct {
	Model    string   `json:"model_name"`
	Question string   `json:"question_str"`
	Texts    Passages `json:"texts"`
	// DocNameInAnswer prefixes each passage with its document's name.
	DocNameInAnswer bool   `json:"doc_name_in_answer,omitempty"`
	QuestionPrompt  string `json:"question_prompt,omitempty"`
	SystemPrompt    string `json:"system_prompt,omitempty"`
	Options
}

// ArticleRequest is the body of generate_article_from_text.
type ArticleRequest struct {
	Model string `json:"model_name"`
	Text  string `json:"text"`
	Options
}

// FullArticleRequest is the body of create_full_article_from_texts.
type FullArticleRequest struct {
	Model       string   `json:"model_name"`
	UserQuery   string   `json:"user_query"`
	Texts       []string `json:"texts"`
	ArticleType string   `json:"article_type,omitempty"`
	Options
}

// TextsRequest is the body of the per-text endpoints translate and
// simplify_text: one upstream call per text.
type TextsRequest struct {
	Model string   `json:"model_name"`
	Texts []string `json:"texts"`
	Options
}

// QuestionsRequest is the body of generate_questions.
type QuestionsRequest struct {
	Model string   `json:"model_name"`
	Texts []string `json:"texts"`
	// Number is the number of questions per text (number_of_questions,
	// default 1).
	Number int `json:"number_of_questions,omitempty"`
	Options
}

// TextResponse is the answer of the conversation endpoints and
// generative_answer.
type TextResponse struct {
	Response       string  `json:"response"`
	GenerationTime float64 `json:"generation_time"`
}

// Article is the article of an [ArticleResponse].
type Article struct {
	ArticleText string `json:"article_text"`
}

// ArticleResponse is the answer of the article endpoints.
type ArticleResponse struct {
	Response       Article `json:"response"`
	GenerationTime float64 `json:"generation_time"`
}

// ItemError is the failure of one text of a per-text request; Index is the
// text's position in the request.
type ItemError struct {
	Index int    `json:"index"`
	Error string `json:"error"`
}

// Translation is one text of a [TranslateResponse]; Error is set when that
// text failed.
type Translation struct {
	Original   string `json:"original"`
	Translated string `json:"translated"`
	Error      string `json:"error,omitempty"`
}

// TranslateResponse is the answer of translate: one entry per text, in
// request order. A request succeeds when at least one text does; Errors
// lists the others.
type TranslateResponse struct {
	Response       []Translation `json:"response"`
	GenerationTime float64       `json:"generation_time"`
	Errors         []ItemError   `json:"errors,omitempty"`
}

// Questions is one text of a [QuestionsResponse].
type Questions struct {
	Text      string   `json:"text"`
	Questions []string `json:"questions"`
	Error     string   `json:"error,omitempty"`
}

// QuestionsResponse is the answer of generate_questions, one entry per text.
type QuestionsResponse struct {
	Response       []Questions `json:"response"`
	GenerationTime float64     `json:"generation_time"`
	Errors         []ItemError `json:"errors,omitempty"`
}

// SimplifyResponse is the answer of simplify_text: one entry per text, nil
// for a text that failed (see Errors).
type SimplifyResponse struct {
	Response       []*string   `json:"response"`
	GenerationTime float64     `json:"generation_time"`
	Errors         []ItemError `json:"errors,omitempty"`
}

// Pong is the answer of ping.
type Pong struct {
	Body   string `json:"body"`
	Status bool   `json:"status"`
}

// Model is one entry of the model list.
type Model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

// Masked is the answer of fast_text_mask: the masked text and the
// placeholder → original mapping (secret: do not log it).
type Masked struct {
	Text     string            `json:"text"`
	Mappings map[string]string `json:"mappings"`
}

func (c *Client) ep(name string) string { return c.prefix + "/" + name }

// Ping calls GET {prefix}/ping.
func (c *Client) Ping(ctx context.Context) (Pong, error) {
	var out Pong
	return out, c.getJSON(ctx, c.ep("ping"), &out)
}

// Version returns the router's version (GET {prefix}/version).
func (c *Client) Version(ctx context.Context) (string, error) {
	var out struct {
		Version string `json:"version"`
	}
	err := c.getJSON(ctx, c.ep("version"), &out)
	return out.Version, err
}

// Models lists the models the caller may use (GET /v1/models).
func (c *Client) Models(ctx context.Context) ([]Model, error) {
	var out struct {
		Data []Model `json:"data"`
	}
	if err := c.getJSON(ctx, "/v1/models", &out); err != nil {
		return nil, err
	}
	return out.Data, nil
}

// FastTextMask masks personal data in text with the router's fast_masker
// (POST {prefix}/fast_text_mask).
func (c *Client) FastTextMask(ctx context.Context, text string) (Masked, error) {
	var out Masked
	err := c.postJSON(ctx, c.ep("fast_text_mask"), map[string]string{"text": text}, &out)
	return out, err
}

// Conversation calls conversation_with_model.
func (c *Client) Conversation(ctx context.Context, req ConversationRequest) (TextResponse, error) {
	var out TextResponse
	return out, c.postJSON(ctx, c.ep("conversation_with_model"), req, &out)
}

// ExtendedConversation calls extended_conversation_with_model.
func (c *Client) ExtendedConversation(ctx context.Context, req ExtendedConversationRequest) (TextResponse, error) {
	var out TextResponse
	return out, c.postJSON(ctx, c.ep("extended_conversation_with_model"), req, &out)
}

// GenerativeAnswer calls generative_answer.
func (c *Client) GenerativeAnswer(ctx context.Context, req GenerativeAnswerRequest) (TextResponse, error) {
	var out TextResponse
	return out, c.postJSON(ctx, c.ep("generative_answer"), req, &out)
}

// GenerateArticle calls generate_article_from_text.
func (c *Client) GenerateArticle(ctx context.Context, req ArticleRequest) (ArticleResponse, error) {
	var out ArticleResponse
	return out, c.postJSON(ctx, c.ep("generate_article_from_text"), req, &out)
}

// CreateFullArticle calls create_full_article_from_texts.
func (c *Client) CreateFullArticle(ctx context.Context, req FullArticleRequest) (ArticleResponse, error) {
	var out ArticleResponse
	return out, c.postJSON(ctx, c.ep("create_full_article_from_texts"), req, &out)
}

// GenerateQuestions calls generate_questions.
func (c *Client) GenerateQuestions(ctx context.Context, req QuestionsRequest) (QuestionsResponse, error) {
	var out QuestionsResponse
	if err := c.postJSON(ctx, c.ep("generate_questions"), req, &out); err != nil {
		return out, err
	}
	return out, checkCount(len(out.Response), len(req.Texts))
}

// Translate calls translate.
func (c *Client) Translate(ctx context.Context, req TextsRequest) (TranslateResponse, error) {
	var out TranslateResponse
	if err := c.postJSON(ctx, c.ep("translate"), req, &out); err != nil {
		return out, err
	}
	return out, checkCount(len(out.Response), len(req.Texts))
}

// SimplifyText calls simplify_text.
func (c *Client) SimplifyText(ctx context.Context, req TextsRequest) (SimplifyResponse, error) {
	var out SimplifyResponse
	if err := c.postJSON(ctx, c.ep("simplify_text"), req, &out); err != nil {
		return out, err
	}
	return out, checkCount(len(out.Response), len(req.Texts))
}

// checkCount makes sure a per-text answer has one entry per text, so that
// callers can match entries to texts by position.
func checkCount(got, want int) error {
	if got != want {
		return fmt.Errorf("%w: %d entries for %d texts", ErrInvalidResponse, got, want)
	}
	return nil
}
