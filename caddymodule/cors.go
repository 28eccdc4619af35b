package caddymodule

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"golang.org/x/net/http/httpguts"

	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

// CORS lets web pages of other origins call the router from a browser.
type CORS struct {
	// Origins allowed, as scheme://host[:port], or "*" for any origin.
	// Entries may hold several origins separated by commas
	// (LLM_ROUTER_CORS_ORIGINS). None: CORS is off.
	Origins []string `json:"origins,omitempty"`
	// Credentials sends Access-Control-Allow-Credentials: true, for pages
	// that call with cookies or HTTP authentication; not with "*".
	Credentials bool `json:"credentials,omitempty"`
}

// corsPolicy is a provisioned CORS configuration.
type corsPolicy struct {
	any         bool
	origins     map[string]bool
	credentials bool
}

// corsBaseHeaders are always allowed in a preflight, besides those the
// browser asks for.
const corsBaseHeaders = "Authorization, Content-Type, X-Api-Key, Anthropic-Version, Anthropic-Beta, X-Request-Id"

// corsExposed are the response headers a page may read beyond the
// CORS-safelisted ones: the router's own and the retry and rate-limit
// headers the SDKs act on.
const corsExposed = "X-Request-Id, X-Llm-Router-Provider, X-Llm-Router-Model, X-Llm-Router-Rag, Retry-After, Retry-After-Ms, X-Should-Retry, " +
	"X-Ratelimit-Limit-Requests, X-Ratelimit-Limit-Tokens, X-Ratelimit-Remaining-Requests, X-Ratelimit-Remaining-Tokens, " +
	"X-Ratelimit-Reset-Requests, X-Ratelimit-Reset-Tokens"

// policy validates c; nil means CORS is off.
func (c *CORS) policy() (*corsPolicy, error) {
	if c == nil {
		return nil, nil
	}
	p := &corsPolicy{origins: map[string]bool{}, credentials: c.Credentials}
	for _, entry := range c.Origins {
		for _, o := range strings.FieldsFunc(entry, func(r rune) bool { return r == ',' || r == ' ' || r == '\t' }) {
			if o == "*" {
				p.any = true
				continue
			}
			norm, err := normalizeOrigin(o)
			if err != nil {
				return nil, err
			}
			p.origins[norm] = true
		}
	}
	if !p.any && len(p.origins) == 0 {
		return nil, nil
	}
	if p.any && p.credentials {
		return nil, errors.New("cors: origin \"*\" cannot be combined with credentials; list the origins instead")
	}
	return p, nil
}

// normalizeOrigin checks an origin the way browsers send it: a scheme and
// host (lower case), an optional port, nothing else.
func normalizeOrigin(o string) (string, error) {
	u, err := url.Parse(o)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return "", fmt.Errorf("cors: %q is not an origin; write scheme://host[:port], e.g. https://app.example.com", o)
	}
	return strings.ToLower(u.Scheme + "://" + u.Host), nil
}

// allowed returns the Access-Control-Allow-Origin value for origin, or ""
// when the origin may not call.
func (p *corsPolicy) allowed(origin string) string {
	if origin == "" {
		return ""
	}
	if p.any {
		return "*"
	}
	if p.origins[strings.ToLower(origin)] {
		return origin
	}
	return ""
}

// apply adds the CORS headers of an actual request's answer (errors and
// streams included): they must be set before the first byte.
func (p *corsPolicy) apply(hdr http.Header, r *http.Request) {
	hdr.Add("Vary", "Origin")
	allow := p.allowed(r.Header.Get("Origin"))
	if allow == "" {
		return
	}
	hdr.Set("Access-Control-Allow-Origin", allow)
	hdr.Set("Access-Control-Expose-Headers", corsExposed)
	if p.credentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
}

// preflight answers a browser's OPTIONS preflight on a path the router
// serves: 204 with the path's methods and the headers asked for, or 403
// for an origin not allowed. Preflights carry no credentials.
func (p *corsPolicy) preflight(w http.ResponseWriter, r *http.Request, methods string) {
	hdr := w.Header()
	hdr.Add("Vary", "Origin")
	hdr.Add("Vary", "Access-Control-Request-Method")
	hdr.Add("Vary", "Access-Control-Request-Headers")
	origin := r.Header.Get("Origin")
	allow := p.allowed(origin)
	if allow == "" {
		engine.WriteError(w, protocol.OpenAIChat, &engine.Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("origin %q is not allowed to call this router (cors)", engine.Clip(origin, 200))})
		return
	}
	hdr.Set("Access-Control-Allow-Origin", allow)
	hdr.Set("Access-Control-Allow-Methods", methods+", OPTIONS")
	hdr.Set("Access-Control-Allow-Headers", allowHeaders(r.Header.Values("Access-Control-Request-Headers")))
	hdr.Set("Access-Control-Max-Age", "600")
	if p.credentials {
		hdr.Set("Access-Control-Allow-Credentials", "true")
	}
	w.WriteHeader(http.StatusNoContent)
}

// allowHeaders returns the base headers plus those the browser asked for
// (SDKs send their own, such as OpenAI's x-stainless-* or Anthropic's
// anthropic-dangerous-direct-browser-access); only header names go back.
func allowHeaders(requested []string) string {
	var b strings.Builder
	b.WriteString(corsBaseHeaders)
	n := 0
	for _, line := range requested {
		for _, name := range strings.Split(line, ",") {
			name = strings.TrimSpace(name)
			if name == "" || !validHeaderName(name) {
				continue
			}
			if n++; n > 64 {
				return b.String()
			}
			b.WriteString(", ")
			b.WriteString(name)
		}
	}
	return b.String()
}

// validHeaderName reports whether s is an HTTP token of sane length.
func validHeaderName(s string) bool {
	return len(s) <= 100 && httpguts.ValidHeaderFieldName(s)
}
