package client

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"
)

// APIError is an error answer of the router: its status and the message of
// its error object (OpenAI, Anthropic, Ollama and built-in shapes are all
// read). Every typed error of this package unwraps to one.
type APIError struct {
	// StatusCode is the HTTP status.
	StatusCode int
	// Message is the server's message (or the start of a non-JSON body).
	Message string
	// Type is the error type the server named, if any.
	Type string
	// Param is the request field the server blamed, if any.
	Param string
	// RetryAfter is the wait the server asked for, if any.
	RetryAfter time.Duration
}

// Error implements error.
func (e *APIError) Error() string {
	msg := e.Message
	if msg == "" {
		msg = http.StatusText(e.StatusCode)
	}
	return fmt.Sprintf("llm-router: HTTP %d: %s", e.StatusCode, msg)
}

// AuthenticationError is a 401 or 403 answer: a missing, wrong or
// insufficient token.
type AuthenticationError struct{ *APIError }

// Unwrap returns the underlying [*APIError].
func (e *AuthenticationError) Unwrap() error { return e.APIError }

// RateLimitError is a 429 answer left after the retries; RetryAfter says
// how long the server asked to wait.
type RateLimitError struct{ *APIError }

// Unwrap returns the underlying [*APIError].
func (e *RateLimitError) Unwrap() error { return e.APIError }

// ValidationError is a 400, 413 or 422 answer: the request was wrong;
// Message says how, Param names the field when the server did.
type ValidationError struct{ *APIError }

// Unwrap returns the underlying [*APIError].
func (e *ValidationError) Unwrap() error { return e.APIError }

// NotFoundError is a 404 answer: an unknown endpoint or model.
type NotFoundError struct{ *APIError }

// Unwrap returns the underlying [*APIError].
func (e *NotFoundError) Unwrap() error { return e.APIError }

// ServerError is a 5xx answer (left after the retries for 502, 503, 504).
type ServerError struct{ *APIError }

// Unwrap returns the underlying [*APIError].
func (e *ServerError) Unwrap() error { return e.APIError }

// typed wraps e in the error type of its status.
func typed(e *APIError) error {
	switch c := e.StatusCode; {
	case c == http.StatusUnauthorized || c == http.StatusForbidden:
		return &AuthenticationError{e}
	case c == http.StatusTooManyRequests:
		return &RateLimitError{e}
	case c == http.StatusNotFound:
		return &NotFoundError{e}
	case c == http.StatusBadRequest || c == http.StatusRequestEntityTooLarge || c == http.StatusUnprocessableEntity:
		return &ValidationError{e}
	case c >= 500:
		return &ServerError{e}
	default:
		return e
	}
}

// newAPIError reads an error answer.
func newAPIError(resp *http.Response, body []byte) *APIError {
	e := &APIError{StatusCode: resp.StatusCode, RetryAfter: parseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	e.Message, e.Type, e.Param = errorMessage(body)
	return e
}

// errorMessage extracts message, type and param from the error bodies the
// router writes: {"error": {"message", "type", "param"}} (OpenAI and
// built-in), {"type":"error","error":{"type","message"}} (Anthropic),
// {"error": "text"} (Ollama); else the start of the body.
func errorMessage(body []byte) (msg, typ, param string) {
	var obj struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &obj) == nil {
		var detail struct {
			Message string          `json:"message"`
			Type    string          `json:"type"`
			Param   json.RawMessage `json:"param"`
		}
		var s string
		switch {
		case json.Unmarshal(obj.Error, &detail) == nil && detail.Message != "":
			_ = json.Unmarshal(detail.Param, &param)
			return detail.Message, detail.Type, param
		case json.Unmarshal(obj.Error, &s) == nil && s != "":
			return s, "", ""
		case obj.Message != "":
			return obj.Message, "", ""
		}
	}
	s := strings.TrimSpace(string(body))
	if len(s) > 200 {
		s = s[:200]
		for !utf8.ValidString(s) {
			s = s[:len(s)-1]
		}
		s += "…"
	}
	return s, "", ""
}
