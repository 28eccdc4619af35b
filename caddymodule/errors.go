package caddymodule

import (
	"encoding/json"
	"net/http"
	"strconv"
	"time"
)

// dialect is the wire protocol a client speaks on an endpoint.
type dialect int

const (
	dialectOpenAI dialect = iota
	dialectAnthropic
	dialectOllama
	dialectBuiltin
)

// apiError is an error the client receives in its own protocol.
type apiError struct {
	Status     int
	Msg        string
	Param      string        // OpenAI "param", optional
	Code       string        // OpenAI "code", optional
	RetryAfter time.Duration // sets Retry-After when > 0
}

func (e *apiError) Error() string { return e.Msg }

func errorf(status int, msg string) *apiError { return &apiError{Status: status, Msg: msg} }

// openAIType maps a status to the OpenAI error type clients switch on.
func openAIType(status int) string {
	switch {
	case status == http.StatusUnauthorized:
		return "authentication_error"
	case status == http.StatusForbidden:
		return "permission_error"
	case status == http.StatusNotFound:
		return "not_found_error"
	case status == http.StatusTooManyRequests:
		return "rate_limit_error"
	case status == http.StatusRequestEntityTooLarge:
		return "invalid_request_error"
	case status >= 500:
		return "api_error"
	}
	return "invalid_request_error"
}

// writeError writes e in the client's protocol.
func writeError(w http.ResponseWriter, d dialect, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	if e.RetryAfter > 0 {
		h.Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	var body any
	switch d {
	case dialectAnthropic:
		body = map[string]any{"type": "error", "error": map[string]any{"type": anthropicType(e.Status), "message": e.Msg}}
	case dialectOllama:
		body = map[string]any{"error": e.Msg}
	default:
		inner := map[string]any{"message": e.Msg, "type": openAIType(e.Status), "param": nil, "code": nil}
		if e.Param != "" {
			inner["param"] = e.Param
		}
		if e.Code != "" {
			inner["code"] = e.Code
		}
		body = map[string]any{"error": inner}
	}
	b, _ := json.Marshal(body)
	w.WriteHeader(e.Status)
	w.Write(append(b, '\n'))
}

func anthropicType(status int) string {
	switch status {
	case http.StatusUnauthorized:
		return "authentication_error"
	case http.StatusForbidden:
		return "permission_error"
	case http.StatusNotFound:
		return "not_found_error"
	case http.StatusRequestEntityTooLarge:
		return "request_too_large"
	case http.StatusTooManyRequests:
		return "rate_limit_error"
	case 529, http.StatusServiceUnavailable:
		return "overloaded_error"
	case http.StatusGatewayTimeout:
		return "timeout_error"
	}
	if status >= 500 {
		return "api_error"
	}
	return "invalid_request_error"
}
