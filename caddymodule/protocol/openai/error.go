package openai

import (
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/internal/wire"
)

// ErrorType returns the OpenAI error `type` for an HTTP status.
func ErrorType(status int) string {
	switch {
	case status == http.StatusTooManyRequests:
		return "rate_limit_exceeded"
	case status == http.StatusUnauthorized:
		return "invalid_request_error"
	case status == http.StatusNotFound:
		return "invalid_request_error"
	case status >= 500:
		return "server_error"
	case status >= 400:
		return "invalid_request_error"
	}
	return "server_error"
}

func errorCode(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "invalid_api_key"
	case http.StatusNotFound:
		return "model_not_found"
	}
	return ""
}

// AppendError appends {"error":{"message","type","param":null,"code"}}.
func AppendError(dst []byte, status int, msg string) []byte {
	return AppendErrorDetail(dst, status, msg, "", "")
}

// AppendErrorDetail is AppendError with the request parameter at fault and
// an error code; empty values are null, except that an empty code falls
// back to the status's usual code (invalid_api_key, model_not_found).
func AppendErrorDetail(dst []byte, status int, msg, param, code string) []byte {
	dst = append(dst, `{"error":{"message":`...)
	dst = wire.AppendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = wire.AppendString(dst, ErrorType(status))
	dst = append(dst, `,"param":`...)
	if param != "" {
		dst = wire.AppendString(dst, param)
	} else {
		dst = append(dst, "null"...)
	}
	dst = append(dst, `,"code":`...)
	if code == "" {
		code = errorCode(status)
	}
	if code != "" {
		dst = wire.AppendString(dst, code)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}}"...)
}

// ErrorBody returns the OpenAI error object for status and msg.
func ErrorBody(status int, msg string) []byte { return AppendError(nil, status, msg) }

// WriteError writes an OpenAI error response.
func WriteError(w http.ResponseWriter, status int, msg string) {
	protocol.WriteErrorBody(w, status, ErrorBody(status, msg))
}
