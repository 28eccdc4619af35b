package activate

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
)

// ProbeTimeout bounds a provider test, connection and answer included.
const ProbeTimeout = 5 * time.Second

// maxProbeBody bounds how much of the answer is read (and discarded).
const maxProbeBody = 64 << 10

// ProbeResult is what a provider test shows: the status and the time to the
// answer's headers, nothing of the answer itself.
type ProbeResult struct {
	// Status is the HTTP status the provider answered.
	Status int
	// Latency is the time until the answer's headers.
	Latency time.Duration
	// URL is the address called (the provider's model list), without
	// credentials.
	URL string
}

// TestProvider asks a provider for its model list (Ollama: /api/tags; the
// others: /v1/models, with the router's URL rules and credential headers)
// at its own api_host: no redirect is followed, the whole test takes at
// most ProbeTimeout, the body is read up to 64 KiB and discarded. p comes
// from an opened document (tokens in clear or placeholders); the caller
// checks that the user is an admin. Errors never carry the token.
func TestProvider(ctx context.Context, p doc.Provider) (ProbeResult, error) {
	if tok := p.Get("api_token"); strings.HasPrefix(tok, doc.SealPrefix) || tok == doc.TokenMarker {
		return ProbeResult{}, fmt.Errorf("provider %q: the token is not available in clear (open the document first)", p.Get("id"))
	}
	cp, err := routerProvider(p)
	if err != nil {
		return ProbeResult{}, err
	}
	token := cp.APIToken
	if strings.Contains(token, "{") {
		token = caddy.NewReplacer().ReplaceAll(token, "")
	}
	dialer := &net.Dialer{Timeout: ProbeTimeout}
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSHandshakeTimeout:   ProbeTimeout,
		ResponseHeaderTimeout: ProbeTimeout,
		DisableKeepAlives:     true,
	}
	defer tr.CloseIdleConnections()
	up, err := provider.New(cp, token, tr)
	if err != nil {
		return ProbeResult{}, err
	}
	up.Client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	up.Client.Timeout = ProbeTimeout
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	req, err := up.NewRequest(ctx, http.MethodGet, provider.OpModels, nil)
	if err != nil {
		return ProbeResult{}, err
	}
	res := ProbeResult{URL: req.URL.Redacted()}
	start := time.Now()
	resp, err := up.Client.Do(req)
	if err != nil {
		return res, fmt.Errorf("provider %q: %s: %w", cp.ID, res.URL, unwrapURLError(err))
	}
	res.Latency = time.Since(start)
	res.Status = resp.StatusCode
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxProbeBody))
	_ = resp.Body.Close()
	return res, nil
}

// unwrapURLError drops the *url.Error wrapper, whose text repeats the URL.
func unwrapURLError(err error) error {
	type unwrapper interface{ Unwrap() error }
	if u, ok := err.(unwrapper); ok && strings.HasPrefix(err.Error(), "Get ") {
		if inner := u.Unwrap(); inner != nil {
			return inner
		}
	}
	return err
}

// routerProvider reads p with the router's validator: the same api_host and
// api_type rules the router applies.
func routerProvider(p doc.Provider) (*config.Provider, error) {
	d := doc.New()
	if err := d.SetModel("probe", "probe"); err != nil {
		return nil, err
	}
	fields := doc.Fields{}
	for _, f := range p.Fields {
		if f.Known {
			fields[f.Name] = f.Text
		}
	}
	if _, err := d.AddProvider("probe", "probe", fields); err != nil {
		return nil, err
	}
	if err := d.SetActive("probe", []string{"probe"}); err != nil {
		return nil, err
	}
	d.Name = "provider"
	cfg, err := config.Parse(d.Name, d.JSON())
	if err != nil {
		return nil, fmt.Errorf("cannot test this provider: %w", err)
	}
	m, ok := cfg.Model("probe")
	if !ok || len(m.Providers) != 1 {
		return nil, fmt.Errorf("cannot test this provider")
	}
	return m.Providers[0], nil
}
