// Package codecs maps dialects and provider api_types to the codecs of the
// dialect packages, so a handler needs one import to pick both sides.
package codecs

import (
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

// Client returns the client-facing chat codec of dialect d.
func Client(d protocol.Dialect) (protocol.ClientCodec, bool) {
	switch d {
	case protocol.OpenAIChat:
		return openai.Chat{}, true
	case protocol.OpenAIResponses:
		return openai.Responses{}, true
	case protocol.OpenAICompletions:
		return openai.Completions{}, true
	case protocol.Anthropic:
		return anthropic.Messages{}, true
	case protocol.OllamaChat:
		return ollama.Chat{}, true
	case protocol.OllamaGenerate:
		return ollama.Generate{}, true
	}
	return nil, false
}

// Embed returns the embeddings codec of dialect d.
func Embed(d protocol.Dialect) (protocol.EmbedCodec, bool) {
	switch d {
	case protocol.OpenAIEmbeddings:
		return openai.Embeddings{}, true
	case protocol.OllamaEmbed:
		return ollama.Embed{}, true
	case protocol.OllamaEmbeddings:
		return ollama.Embeddings{}, true
	}
	return nil, false
}

// Provider returns the chat codec for a provider api_type (openai, vllm,
// lmstudio, ollama, anthropic). maxTokens is the max_tokens sent to
// Anthropic when the request has none (0 = anthropic.DefaultMaxTokens).
func Provider(apiType string, maxTokens int) (protocol.ProviderCodec, bool) {
	switch apiType {
	case "openai":
		return openai.Chat{Official: true}, true
	case "vllm", "lmstudio":
		return openai.Chat{}, true
	case "ollama":
		return ollama.Chat{}, true
	case "anthropic":
		return anthropic.Messages{MaxTokens: maxTokens}, true
	}
	return nil, false
}

// ProviderEmbed returns the embeddings codec for a provider api_type;
// false for anthropic, which has no embeddings API.
func ProviderEmbed(apiType string) (protocol.EmbedCodec, bool) {
	switch apiType {
	case "openai", "vllm", "lmstudio":
		return openai.Embeddings{}, true
	case "ollama":
		return ollama.Embed{}, true
	}
	return nil, false
}

// Same reports whether a client of dialect d talking to a provider of
// apiType may be served by passthrough (no translation).
func Same(d protocol.Dialect, apiType string) bool {
	switch apiType {
	case "openai", "vllm", "lmstudio":
		return d == protocol.OpenAIChat || d == protocol.OpenAICompletions || d == protocol.OpenAIEmbeddings ||
			d == protocol.OpenAIResponses
	case "ollama":
		return d == protocol.OllamaChat || d == protocol.OllamaGenerate || d == protocol.OllamaEmbed || d == protocol.OllamaEmbeddings
	case "anthropic":
		return d == protocol.Anthropic
	}
	return false
}

// AppendError appends the error object a client of dialect d expects for
// status and msg: Anthropic's {"type":"error","error":{type,message}},
// Ollama's {"error":msg}, else OpenAI's {"error":{message,type,param,code}}
// with param and code as openai.AppendErrorDetail takes them. A dialect of
// no family (the router's built-in endpoints) gets OpenAI's.
func AppendError(dst []byte, d protocol.Dialect, status int, msg, param, code string) []byte {
	switch d.Family() {
	case "anthropic":
		return anthropic.AppendError(dst, status, msg)
	case "ollama":
		return ollama.AppendError(dst, msg)
	}
	return openai.AppendErrorDetail(dst, status, msg, param, code)
}
