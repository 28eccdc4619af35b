package plugins

import "context"

// Endpoint is an HTTP endpoint a plugin serves beside the router's own,
// under the router's endpoint prefix (POST {prefix}/fast_text_mask). The
// router routes it, authenticates it as a built-in endpoint, reads the body
// (bounded by its max_request_body), calls Serve and writes the answer as
// JSON with status 200, or the error in the built-in endpoints' error shape.
type Endpoint struct {
	// Method is the HTTP method ("POST").
	Method string
	// Path follows the router's prefix and starts with "/" ("/fast_text_mask").
	Path string
	// Name names the endpoint in metrics and logs ("fast_text_mask").
	Name string
	// Serve answers one request from its body. An *EndpointError is the
	// client's fault and answered as such; any other error is the router's
	// internal error.
	Serve func(ctx context.Context, body []byte) (any, error)
}

// EndpointError is an error an Endpoint answers the client with: a status
// and a message that says what to fix.
type EndpointError struct {
	// Status is the HTTP status (400 for a bad body).
	Status int
	// Param names the body field at fault, if one is.
	Param string
	// Msg says what is wrong; it must not quote secrets.
	Msg string
}

// Error implements error.
func (e *EndpointError) Error() string { return e.Msg }

// EndpointProvider is implemented by plugins that serve endpoints.
type EndpointProvider interface {
	Endpoints() []Endpoint
}
