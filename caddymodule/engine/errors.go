package engine

import (
	"net/http"
	"strconv"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
)

// NoDialect is the dialect of the built-in endpoints, which have no client
// protocol of their own: the router's errors reach them in OpenAI's shape.
const NoDialect protocol.Dialect = ""

// Error is an error the client receives in its own protocol.
type Error struct {
	Status     int
	Msg        string
	Param      string        // OpenAI "param", optional
	Code       string        // OpenAI "code", optional
	RetryAfter time.Duration // sets Retry-After when > 0
}

func (e *Error) Error() string { return e.Msg }

// HTTPStatus reports the status (the built-in endpoints read it).
func (e *Error) HTTPStatus() int { return e.Status }

func errorf(status int, msg string) *Error { return &Error{Status: status, Msg: msg} }

// providerHeader names the provider that served an answer (its id).
const providerHeader = "X-Llm-Router-Provider"

// MaxErrorBody bounds a provider's error answer (status 3xx and up),
// streamed requests included: error objects are a few hundred bytes.
const MaxErrorBody = 64 << 10

// statusClientClosed is the status logged for a request whose client went
// away before it was answered (nginx's 499; nobody receives it).
const statusClientClosed = 499

// writeError writes e in the shape of the client's dialect d, with the
// error bodies of the protocol packages (the same ones their stream
// encoders use).
func WriteError(w http.ResponseWriter, d protocol.Dialect, e *Error) {
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((e.RetryAfter+time.Second-1)/time.Second)))
	}
	protocol.WriteErrorBody(w, e.Status, codecs.AppendError(nil, d, e.Status, e.Msg, e.Param, e.Code))
}

// Clip shortens s to at most n bytes for a message.
func Clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}
