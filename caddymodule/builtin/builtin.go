// Package builtin implements the router's built-in task endpoints
// (conversation_with_model, translate, generate_questions, …) as plain Go,
// independent of HTTP framing and of the provider type.
//
// A request body is decoded and validated by [Service.Prepare] into a [Task]:
// the model, the generation options and the chat messages of every upstream
// call, system prompt included. [Service.Run] sends those calls through a
// [Completer] and shapes the answer; [Encode] and [EncodeError] produce the
// JSON the client gets. [Service.Handle] does all three.
//
// A caller that streams (Task.Stream, single-call endpoints only) sends
// Task.Calls[0] through its normal streaming path instead of calling Run.
package builtin

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/prompts"
)

// Endpoint names (the URL fragment after the prefix).
const (
	Conversation         = "conversation_with_model"
	ExtendedConversation = "extended_conversation_with_model"
	GenerativeAnswer     = "generative_answer"
	GenerateQuestions    = "generate_questions"
	Translate            = "translate"
	SimplifyText         = "simplify_text"
	ArticleFromText      = "generate_article_from_text"
	FullArticle          = "create_full_article_from_texts"
)

// Endpoints returns the names of every built-in task endpoint.
func Endpoints() []string {
	return []string{Conversation, ExtendedConversation, GenerativeAnswer, GenerateQuestions,
		Translate, SimplifyText, ArticleFromText, FullArticle}
}

// Prompt ids (language-free) used by the endpoints; see package prompts.
const (
	PromptChat        = "builtin/system/chat-conversation-simple"
	PromptAnswer      = "builtin/system/answer-from-context-simple"
	PromptArticle     = "builtin/system/news-on-sm"
	PromptFullArticle = "builtin/system/full-article"
	PromptQuestions   = "builtin/system/generate-questions"
	PromptTranslate   = "builtin/system/translate-to-pl"
	PromptSimplify    = "builtin/system/simplify-text"
)

// Roles of chat messages.
const (
	RoleSystem    = "system"
	RoleUser      = "user"
	RoleAssistant = "assistant"
)

// Message is one chat message sent upstream.
type Message struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

// Options are the generation options of a request, with the original
// system's defaults filled in. The provider layer sends those its provider
// type understands.
type Options struct {
	Temperature       float64 `json:"temperature"`        // default 0.75
	MaxTokens         int     `json:"max_new_tokens"`     // default 256
	TopK              int     `json:"top_k"`              // default 50
	TopP              float64 `json:"top_p"`              // default 0.99
	TypicalP          float64 `json:"typical_p"`          // default 1.0
	RepetitionPenalty float64 `json:"repetition_penalty"` // default 1.2
}

// DefaultOptions returns the options used for fields a request leaves out.
func DefaultOptions() Options {
	return Options{Temperature: 0.75, MaxTokens: 256, TopK: 50, TopP: 0.99, TypicalP: 1.0, RepetitionPenalty: 1.2}
}

// Completer sends one non-streamed chat to a model and returns the text of
// the assistant's answer. Implementations should return errors whose text is
// safe to show to the client (no hosts, no tokens); an error with an
// HTTPStatus() int method sets the status the client gets.
type Completer interface {
	Complete(ctx context.Context, model string, msgs []Message, opts Options) (string, error)
}

// CompleterFunc adapts a function to [Completer].
type CompleterFunc func(ctx context.Context, model string, msgs []Message, opts Options) (string, error)

// Complete calls f.
func (f CompleterFunc) Complete(ctx context.Context, model string, msgs []Message, opts Options) (string, error) {
	return f(ctx, model, msgs, opts)
}

// Config tunes a [Service]. Zero fields take the defaults noted.
type Config struct {
	// DefaultLanguage is the prompt language when a request has no
	// `language` (LLM_ROUTER_DEFAULT_EP_LANGUAGE); default "pl".
	DefaultLanguage string
	// Concurrency bounds the upstream calls one per-text request runs at
	// once; default 4.
	Concurrency int
	// MaxTexts bounds the number of texts of one request; default 256.
	MaxTexts int
}

// Service runs the built-in endpoints. It is immutable and safe for
// concurrent use.
type Service struct {
	lib *prompts.Library
	cfg Config
}

// New returns a Service that takes its system prompts from lib.
func New(lib *prompts.Library, cfg Config) *Service {
	if cfg.DefaultLanguage == "" {
		cfg.DefaultLanguage = "pl"
	}
	if cfg.Concurrency <= 0 {
		cfg.Concurrency = 4
	}
	if cfg.MaxTexts <= 0 {
		cfg.MaxTexts = 256
	}
	return &Service{lib: lib, cfg: cfg}
}

// FieldError is a client error about one request field: status 400.
// Field is empty when the body as a whole is wrong.
type FieldError struct {
	Field string
	Msg   string
}

// Error implements error; the message names the field.
func (e *FieldError) Error() string {
	if e.Field == "" {
		return e.Msg
	}
	return fmt.Sprintf("field %q: %s", e.Field, e.Msg)
}

// HTTPStatus returns 400.
func (e *FieldError) HTTPStatus() int { return http.StatusBadRequest }

// ErrUnknownEndpoint is returned (wrapped) for a name that is not a built-in
// endpoint; its status is 404.
var ErrUnknownEndpoint = errors.New("unknown built-in endpoint")

// Status returns the HTTP status an error from this package (or from a
// Completer) should produce: 400 for a [FieldError], 404 for an unknown
// endpoint, the error's own HTTPStatus() if it has one, 499 when the client
// went away, 504 on a deadline, and 502 for any other upstream failure.
func Status(err error) int {
	var hs interface{ HTTPStatus() int }
	switch {
	case err == nil:
		return http.StatusOK
	case errors.As(err, &hs):
		return hs.HTTPStatus()
	case errors.Is(err, ErrUnknownEndpoint):
		return http.StatusNotFound
	case errors.Is(err, context.Canceled):
		return 499
	case errors.Is(err, context.DeadlineExceeded):
		return http.StatusGatewayTimeout
	default:
		return http.StatusBadGateway
	}
}

// internalError marks a server-side fault (e.g. a prompt missing from the
// library): status 500.
type internalError struct{ err error }

func (e *internalError) Error() string   { return e.err.Error() }
func (e *internalError) Unwrap() error   { return e.err }
func (e *internalError) HTTPStatus() int { return http.StatusInternalServerError }
