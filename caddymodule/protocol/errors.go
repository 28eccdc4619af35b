package protocol

import "net/http"

// WriteErrorBody answers status with body, a dialect's JSON error object,
// and a newline. It is the one writer of error answers: the codecs'
// WriteError methods and the router's errors go through it. A
// Content-Length set before is dropped, since it cannot be the body's.
func WriteErrorBody(w http.ResponseWriter, status int, body []byte) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Del("Content-Length")
	w.WriteHeader(status)
	_, _ = w.Write(append(body, '\n'))
}
