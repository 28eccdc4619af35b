package ollama

import (
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// AppendError appends {"error":"msg"}.
func AppendError(dst []byte, msg string) []byte {
	dst = append(dst, `{"error":`...)
	dst = wire.AppendString(dst, msg)
	return append(dst, '}')
}

// ErrorBody returns Ollama's error object for msg.
func ErrorBody(msg string) []byte { return AppendError(nil, msg) }

// WriteError writes an Ollama error response ({"error":"..."}).
func WriteError(w http.ResponseWriter, status int, msg string) {
	protocol.WriteErrorBody(w, status, ErrorBody(msg))
}
