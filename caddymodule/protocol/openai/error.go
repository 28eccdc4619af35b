package openai

import (
	"net/http"

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
	dst = append(dst, `{"error":{"message":`...)
	dst = wire.AppendString(dst, msg)
	dst = append(dst, `,"type":`...)
	dst = wire.AppendString(dst, ErrorType(status))
	dst = append(dst, `,"param":null,"code":`...)
	if c := errorCode(status); c != "" {
		dst = wire.AppendString(dst, c)
	} else {
		dst = append(dst, "null"...)
	}
	return append(dst, "}}"...)
}

// ErrorBody returns the OpenAI error object for status and msg.
func ErrorBody(status int, msg string) []byte { return AppendError(nil, status, msg) }

// WriteError writes an OpenAI error response.
func WriteError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(append(ErrorBody(status, msg), '\n'))
}
