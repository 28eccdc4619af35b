package plugins

import "errors"

// ErrInvalidRequest is wrapped by a plugin error the client caused (for
// example per-request options naming an unknown RAG collection). The
// handler answers it with 400 in the client's protocol; the error's
// message is meant for the client and never quotes secrets.
var ErrInvalidRequest = errors.New("invalid request")
