package plugins

import (
	"context"
	"encoding/json"
)

// Embedder turns texts into vectors with one of the router's own embedding
// models (a models-config model with is_embedding), through the router's
// balancing, failover and retries. It returns one vector per text, in order.
// A model that is unknown, not an embedding model, or whose providers all
// fail is an error that names the model; an answer with the wrong number of
// vectors is an error too.
type Embedder interface {
	Embed(ctx context.Context, model string, texts []string) ([][]float32, error)
}

// EmbedderUser is implemented by plugins that need an Embedder (retrieval,
// embedding-based routing). The router calls UseEmbedder once per config
// load, after provisioning the plugin and before its first request.
type EmbedderUser interface {
	UseEmbedder(Embedder)
}

// Augmenter is implemented by utils that add retrieved text to a request
// (retrieval-augmented generation). The router calls Augment on every chat
// and built-in endpoint request, after the model is chosen and before the
// guardrails and maskers, so the added text is checked and masked like the
// user's own. A nil Augmentation leaves the request unchanged.
type Augmenter interface {
	Augment(ctx context.Context, q *Query) (*Augmentation, error)
}

// Query is what an Augmenter reads.
type Query struct {
	// Model is the model that will answer.
	Model string
	// Text is the newest user text (user_last_statement for the built-in
	// endpoints). It is empty when the request had Options but no text: the
	// Augmenter then only checks the Options (its answer is not used).
	Text string
	// Options is the request's "rag" member, if it had one; the router has
	// already removed it from the body the provider sees.
	Options json.RawMessage
	// Language is the prompt language of the request ("en" or "pl"; empty
	// means the router's default).
	Language string
}

// Augmentation is text an Augmenter adds to a request.
type Augmentation struct {
	// Text is appended to the newest user turn (after a blank line) or, when
	// System is true, sent as a system message before the conversation.
	Text string
	// System asks for a system message instead of an addition to the user turn.
	System bool
	// Sources name what was used ("path#chunk"), for the X-LLM-Router-RAG
	// response header and the request log. Never text.
	Sources []string
}
