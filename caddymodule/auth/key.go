// Package auth authenticates API keys and enforces per-key policies and rate
// limits for the llm-router gateway.
//
// Keys live in a HuJSON keys file (or the same document stored in Redis) that
// holds only the SHA-256 hash of each key, so a lookup is one map access. An
// Authenticator keeps an immutable key table and swaps it atomically when the
// file changes. A Limiter enforces requests and tokens per minute, in memory
// or shared through Redis.
package auth

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Family is a group of endpoints that a policy may allow.
type Family string

// The endpoint families a policy can name.
const (
	FamilyChat       Family = "chat"       // chat and text completions, Anthropic messages, Ollama chat/generate
	FamilyEmbeddings Family = "embeddings" // OpenAI and Ollama embeddings
	FamilyBuiltin    Family = "builtin"    // the router's built-in task endpoints
	FamilyListing    Family = "listing"    // model listings (/v1/models, /api/tags, ...)
)

// families lists every endpoint family, in a stable order; never written.
var families = [...]Family{FamilyChat, FamilyEmbeddings, FamilyBuiltin, FamilyListing}

// bit returns the family's bit in a policy mask, or 0 for an unknown family.
func (f Family) bit() uint8 {
	for i, g := range families {
		if f == g {
			return 1 << i
		}
	}
	return 0
}

// Errors returned by Authenticate, Key.Allow and the limiters; test them with
// errors.Is. StatusCode maps them to HTTP statuses. Their messages never carry
// a key, nor more than 8 characters of a key hash.
var (
	ErrNoKey             = errors.New("no API key: send it as \"Authorization: Bearer <key>\" or in the x-api-key header")
	ErrUnknownKey        = errors.New("invalid API key")
	ErrDisabled          = errors.New("API key disabled")
	ErrExpired           = errors.New("API key expired")
	ErrRotated           = errors.New("API key rotated")
	ErrModelForbidden    = errors.New("model not allowed for this API key")
	ErrEndpointForbidden = errors.New("endpoint not allowed for this API key")
	ErrRateLimited       = errors.New("rate limit exceeded")
)

// denial is an error with a user-facing message that wraps one of the
// sentinel errors above.
type denial struct {
	kind error
	msg  string
}

func (d *denial) Error() string { return d.msg }
func (d *denial) Unwrap() error { return d.kind }

func deny(kind error, format string, args ...any) error {
	return &denial{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// StatusCode returns the HTTP status for an error from this package: 401 for
// a missing, unknown, disabled, expired or rotated key, 403 for a forbidden
// model or endpoint, 429 when rate limited, 503 for anything else (for
// example Redis unreachable) and 200 for nil.
func StatusCode(err error) int {
	switch {
	case err == nil:
		return http.StatusOK
	case errors.Is(err, ErrNoKey), errors.Is(err, ErrUnknownKey), errors.Is(err, ErrDisabled),
		errors.Is(err, ErrExpired), errors.Is(err, ErrRotated):
		return http.StatusUnauthorized
	case errors.Is(err, ErrModelForbidden), errors.Is(err, ErrEndpointForbidden):
		return http.StatusForbidden
	case errors.Is(err, ErrRateLimited):
		return http.StatusTooManyRequests
	default:
		return http.StatusServiceUnavailable
	}
}

// Reason returns a short, fixed label for an auth decision, suitable for a
// metrics label or an audit record: "ok", "missing_key", "invalid_key",
// "disabled", "expired", "rotated", "model_forbidden", "endpoint_forbidden",
// "rate_limited" or "error".
func Reason(err error) string {
	switch {
	case err == nil:
		return "ok"
	case errors.Is(err, ErrNoKey):
		return "missing_key"
	case errors.Is(err, ErrUnknownKey):
		return "invalid_key"
	case errors.Is(err, ErrDisabled):
		return "disabled"
	case errors.Is(err, ErrExpired):
		return "expired"
	case errors.Is(err, ErrRotated):
		return "rotated"
	case errors.Is(err, ErrModelForbidden):
		return "model_forbidden"
	case errors.Is(err, ErrEndpointForbidden):
		return "endpoint_forbidden"
	case errors.Is(err, ErrRateLimited):
		return "rate_limited"
	default:
		return "error"
	}
}

// Policy says what a key may do. An empty Models or Endpoints list allows
// nothing (default deny); "*" allows every model. RPM and TPM of 0 mean no
// limit.
type Policy struct {
	// Models are exact model names or globs ("*" any run of characters,
	// "?" one character), matched case-sensitively.
	Models []string `json:"models"`
	// Endpoints are the endpoint families the key may call.
	Endpoints []Family `json:"endpoints"`
	// RPM is the number of requests per minute (0: unlimited).
	RPM int `json:"rpm,omitempty"`
	// TPM is the number of tokens per minute (0: unlimited).
	TPM int `json:"tpm,omitempty"`
}

// compiled is a Policy prepared for fast checks.
type compiled struct {
	anyModel bool
	exact    map[string]struct{}
	globs    []string
	families uint8
}

func compile(p Policy) (*compiled, error) {
	c := &compiled{exact: make(map[string]struct{}, len(p.Models))}
	for _, m := range p.Models {
		switch {
		case m == "":
			return nil, errors.New("policy.models: empty model name")
		case m == "*":
			c.anyModel = true
		case strings.ContainsAny(m, "*?"):
			c.globs = append(c.globs, m)
		default:
			c.exact[m] = struct{}{}
		}
	}
	for _, f := range p.Endpoints {
		b := f.bit()
		if b == 0 {
			return nil, fmt.Errorf("policy.endpoints: unknown family %q (want one of chat, embeddings, builtin, listing)", f)
		}
		c.families |= b
	}
	if p.RPM < 0 || p.TPM < 0 {
		return nil, errors.New("policy: rpm and tpm must not be negative")
	}
	return c, nil
}

// Key is an authenticated API key: its name, policy and validity. A Key is
// shared and immutable; do not modify it.
type Key struct {
	// Name is the unique name given to the key when it was created.
	Name string
	// Policy is what the key may do.
	Policy Policy
	// Expires is when the key stops working (zero: never).
	Expires time.Time

	id  string
	pol *compiled
}

// ID returns a short identifier that is safe for logs, metrics and audit
// records: the key's name, "#" and the first 8 hex digits of the SHA-256 of
// the secret that was presented (which tells a rotated key from its
// successor).
func (k *Key) ID() string { return k.id }

// AllowsModel reports whether the key's policy allows the model. Listing
// endpoints use it to show a key only the models it may use.
func (k *Key) AllowsModel(model string) bool {
	p := k.pol
	if p.anyModel {
		return true
	}
	if _, ok := p.exact[model]; ok {
		return true
	}
	for _, g := range p.globs {
		if glob(g, model) {
			return true
		}
	}
	return false
}

// AllowsFamily reports whether the key's policy allows the endpoint family.
func (k *Key) AllowsFamily(f Family) bool {
	b := f.bit()
	return b != 0 && k.pol.families&b != 0
}

// Allow checks the policy for a request to an endpoint of family f for model
// (empty for endpoints without a model, such as listings). The error wraps
// ErrEndpointForbidden or ErrModelForbidden and names what is forbidden.
func (k *Key) Allow(model string, f Family) error {
	if !k.AllowsFamily(f) {
		return deny(ErrEndpointForbidden, "API key %q may not use %s endpoints", k.Name, f)
	}
	if model != "" && !k.AllowsModel(model) {
		return deny(ErrModelForbidden, "API key %q may not use model %q", k.Name, clip(model, 128))
	}
	return nil
}

// clip shortens s to at most n bytes for an error message.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// glob matches name against a pattern where '*' matches any run of bytes
// (including '/') and '?' exactly one byte.
func glob(pattern, name string) bool {
	p, n := 0, 0
	star, mark := -1, 0
	for n < len(name) {
		switch {
		case p < len(pattern) && (pattern[p] == '?' || pattern[p] == name[n]):
			p++
			n++
		case p < len(pattern) && pattern[p] == '*':
			star, mark = p, n
			p++
		case star >= 0:
			p = star + 1
			mark++
			n = mark
		default:
			return false
		}
	}
	for p < len(pattern) && pattern[p] == '*' {
		p++
	}
	return p == len(pattern)
}

// KeyPrefix starts every key made by NewSecret.
const KeyPrefix = "sk-llmr-"

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// secretChars is the number of base62 characters after the prefix:
// 43 × log2(62) ≈ 256 bits of entropy, the same as 32 random bytes.
const secretChars = 43

// NewSecret returns a new random API key: KeyPrefix followed by 43 base62
// characters (256 bits from crypto/rand).
func NewSecret() (string, error) {
	out := make([]byte, 0, len(KeyPrefix)+secretChars)
	out = append(out, KeyPrefix...)
	var buf [64]byte
	for len(out) < cap(out) {
		if _, err := rand.Read(buf[:]); err != nil {
			return "", fmt.Errorf("auth: reading random bytes: %w", err)
		}
		for _, b := range buf {
			// 248 = 4×62: rejecting larger bytes keeps every character uniform.
			if b < 248 && len(out) < cap(out) {
				out = append(out, base62[b%62])
			}
		}
	}
	return string(out), nil
}

// HashSecret returns the lowercase hex SHA-256 of a key, the form stored in
// the keys file.
func HashSecret(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}
