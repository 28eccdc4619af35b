package plugins

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultServiceTimeout bounds one call to a plugin service when the
// plugin's config sets no timeout.
const DefaultServiceTimeout = 10 * time.Second

// maxAnswer caps the size of a plugin service answer.
const maxAnswer = 32 << 20

// ServiceConfig configures the HTTP client of one plugin service.
type ServiceConfig struct {
	// Name is the plugin name used in errors and metrics ("nask_guard").
	Name string
	// Host is the service base URL, e.g. http://127.0.0.1:5000.
	Host string
	// Path is the endpoint below Host, e.g. "api/guardrails/nask_guard".
	Path string
	// Timeout bounds each call (connect, answer and body); 0 means
	// DefaultServiceTimeout.
	Timeout time.Duration
	// FailOpen lets requests pass without this plugin while its service is
	// unavailable.
	FailOpen bool
	// Client overrides the HTTP client (tests); nil builds a pooled one.
	Client *http.Client
}

// HTTPService is the client of one plugin service: it POSTs JSON and
// decodes JSON answers, turning every failure into a *ServiceError (or the
// caller's context error when the caller gave up). Close it when the plugin
// is unloaded.
type HTTPService struct {
	name     string
	url      string
	ping     string
	timeout  time.Duration
	failOpen bool
	client   *http.Client
	ownsTr   *http.Transport
	base     context.Context
	stop     context.CancelFunc
}

// NewHTTPService validates cfg and builds the client.
func NewHTTPService(cfg ServiceConfig) (*HTTPService, error) {
	if cfg.Name == "" {
		return nil, errors.New("plugin service: empty name")
	}
	if cfg.Host == "" {
		return nil, fmt.Errorf("%s: no service host configured", cfg.Name)
	}
	if err := CheckServiceURL(cfg.Host); err != nil {
		return nil, fmt.Errorf("%s: host: %w", cfg.Name, err)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("%s: negative timeout", cfg.Name)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultServiceTimeout
	}
	base := strings.TrimRight(cfg.Host, "/")
	s := &HTTPService{
		name:     cfg.Name,
		url:      base + "/" + strings.TrimLeft(cfg.Path, "/"),
		ping:     base + "/api/ping",
		timeout:  cfg.Timeout,
		failOpen: cfg.FailOpen,
		client:   cfg.Client,
	}
	if s.client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConnsPerHost = 64
		s.ownsTr = tr
		s.client = &http.Client{Transport: tr}
	}
	s.base, s.stop = context.WithCancel(context.Background())
	return s, nil
}

// ServiceName implements Service.
func (s *HTTPService) ServiceName() string { return s.name }

// PingURL implements Service.
func (s *HTTPService) PingURL() string { return s.ping }

// FailOpen implements Service.
func (s *HTTPService) FailOpen() bool { return s.failOpen }

// Timeout is the per-call limit.
func (s *HTTPService) Timeout() time.Duration { return s.timeout }

// Close aborts calls in flight and releases idle connections.
func (s *HTTPService) Close() {
	s.stop()
	if s.ownsTr != nil {
		s.ownsTr.CloseIdleConnections()
	}
}

// Post sends body as JSON and decodes a 2xx JSON answer into out. The call
// ends at the service timeout, when ctx ends or when the service is closed.
// Errors: the caller's ctx error when ctx ended first, else a *ServiceError.
func (s *HTTPService) Post(ctx context.Context, body, out any) error {
	buf, err := json.Marshal(body)
	if err != nil {
		return fmt.Errorf("%s: encoding request: %w", s.name, err)
	}
	cctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	defer context.AfterFunc(s.base, cancel)()

	fail := func(kind string, cause error) error {
		switch {
		case ctx.Err() != nil:
			return fmt.Errorf("%s: %w", s.name, ctx.Err())
		case s.base.Err() != nil:
			kind = "plugin stopped"
		case errors.Is(cctx.Err(), context.DeadlineExceeded):
			kind = "timeout after " + s.timeout.String()
		}
		return &ServiceError{Service: s.name, Kind: kind, Err: cause}
	}
	req, err := http.NewRequestWithContext(cctx, http.MethodPost, s.url, bytes.NewReader(buf))
	if err != nil {
		return fail("bad request", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	resp, err := s.client.Do(req)
	if err != nil {
		return fail("unreachable", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return fail("status "+strconv.Itoa(resp.StatusCode), fmt.Errorf("status %s", resp.Status))
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer+1))
	if err != nil {
		return fail("answer cut short", err)
	}
	if len(data) > maxAnswer {
		return fail("invalid answer", errors.New("answer too large"))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fail("invalid answer", err)
	}
	return nil
}

// InvalidAnswer builds the error for a well-formed JSON answer that lacks
// what the contract requires.
func (s *HTTPService) InvalidAnswer(what string) error {
	return &ServiceError{Service: s.name, Kind: "invalid answer", Err: errors.New(what)}
}

// GuardrailPath is the endpoint of the guardrail named name on its service.
func GuardrailPath(name string) string { return "api/guardrails/" + name }

// BlockReason is the Reason of an unsafe guardrail decision; it is the
// original router's wording.
const BlockReason = "Not safe content!"

// HTTPGuardrail is a Guardrail backed by an llm-router-services style
// classifier: POST <host>/api/guardrails/<name> with {"texts": [...]},
// answer {"results": {"safe": bool, "detailed": [...]}}. The service reads
// every string of the body, so the texts are all it sees.
type HTTPGuardrail struct {
	*HTTPService
}

// NewHTTPGuardrail builds a guardrail client; cfg.Path defaults to
// GuardrailPath(cfg.Name).
func NewHTTPGuardrail(cfg ServiceConfig) (*HTTPGuardrail, error) {
	if cfg.Path == "" {
		cfg.Path = GuardrailPath(cfg.Name)
	}
	s, err := NewHTTPService(cfg)
	if err != nil {
		return nil, err
	}
	return &HTTPGuardrail{HTTPService: s}, nil
}

type guardRequest struct {
	Texts []string `json:"texts"`
}

type guardAnswer struct {
	Results *struct {
		Safe     *bool           `json:"safe"`
		Detailed json.RawMessage `json:"detailed"`
	} `json:"results"`
}

// Check implements Guardrail. No texts (or only empty ones) → safe without
// a call. An answer without a boolean results.safe is invalid (fail closed).
func (g *HTTPGuardrail) Check(ctx context.Context, texts []string) (Decision, error) {
	if !hasText(texts) {
		return Decision{Safe: true}, nil
	}
	var a guardAnswer
	if err := g.Post(ctx, guardRequest{Texts: texts}, &a); err != nil {
		return Decision{}, err
	}
	if a.Results == nil || a.Results.Safe == nil {
		return Decision{}, g.InvalidAnswer("answer has no boolean results.safe")
	}
	if *a.Results.Safe {
		return Decision{Safe: true}, nil
	}
	return Decision{Guardrail: g.name, Reason: BlockReason, Details: a.Results.Detailed}, nil
}

func hasText(texts []string) bool {
	for _, t := range texts {
		if t != "" {
			return true
		}
	}
	return false
}
