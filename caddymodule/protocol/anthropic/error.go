package anthropic

import (
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// ErrorType returns the Anthropic error `type` for an HTTP status.
func ErrorType(status int) string {
	switch status {
	case 400:
		return "invalid_request_error"
	case 401:
		return "authentication_error"
	case 402:
		return "billing_error"
	case 403:
		return "permission_error"
	case 404:
		return "not_found_error"
	case 413:
		return "request_too_large"
	case 429:
		return "rate_limit_error"
	case 503, 529:
		return "overloaded_error"
	case 504:
		return "timeout_error"
	}
	if status >= 500 || status == 0 {
		return "api_error"
	}
	return "invalid_request_error"
}

// statusOf is the inverse of ErrorType for upstream error events.
func statusOf(typ string) int {
	switch typ {
	case "invalid_request_error":
		return 400
	case "authentication_error":
		return 401
	case "billing_error":
		return 402
	case "permission_error":
		return 403
	case "not_found_error":
		return 404
	case "request_too_large":
		return 413
	case "rate_limit_error":
		return 429
	case "overloaded_error":
		return 529
	case "timeout_error":
		return 504
	}
	return http.StatusBadGateway
}

// AppendError appends {"type":"error","error":{"type","message"}}.
func AppendError(dst []byte, status int, msg string) []byte {
	dst = append(dst, `{"type":"error","error":{"type":`...)
	dst = wire.AppendString(dst, ErrorType(status))
	dst = append(dst, `,"message":`...)
	dst = wire.AppendString(dst, msg)
	return append(dst, "}}"...)
}

// ErrorBody returns the Anthropic error object for status and msg.
func ErrorBody(status int, msg string) []byte { return AppendError(nil, status, msg) }

// WriteError writes an Anthropic error response.
func WriteError(w http.ResponseWriter, status int, msg string) {
	protocol.WriteErrorBody(w, status, ErrorBody(status, msg))
}
