package caddymodule

import (
	"context"
	"io"
	"net/http"
	"os"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/balance"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/engine"
	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/monitor"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/plugins"
)

// OpenEmbedder builds the router's provider path from a models-config
// file, without an HTTP server, for command-line tools (`llm-router rag
// index`): the app's provider transports and timeouts, balancing in
// memory under the default strategy, failover with the default retries,
// bounded answers. An empty modelsConfigPath means the file the app would
// read (LLM_ROUTER_MODELS_CONFIG, else /etc/llm-router/models-config.json,
// else the example embedded in the binary). Close the Closer when done: it
// stops the balancer and closes the provider connections.
func OpenEmbedder(ctx context.Context, modelsConfigPath string) (plugins.Embedder, io.Closer, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	a := &App{ModelsConfig: modelsConfigPath, logger: zap.NewNop(), vars: env.Read(os.Getenv)}
	var c embedderCloser
	transport := func(p *config.Provider) (http.RoundTripper, string, error) {
		rt := a.newTransport(a.transportKind(p))
		c.transports = append(c.transports, rt)
		return rt, "", nil
	}
	if err := a.loadProviders(transport); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	kind, err := a.defaultStrategy()
	if err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	if c.balancer, err = balance.New(balance.Options{Default: balance.Policy{Kind: kind}, Logger: a.logger}); err != nil {
		_ = c.Close()
		return nil, nil, err
	}
	a.balancer = c.balancer
	a.strategies = map[string]balance.Strategy{}
	a.collectCandidates()
	a.keepAlive = &monitor.KeepAliveMonitor{Balancer: a.balancer} // never run: nothing to keep alive
	a.metrics = engine.NewMetrics()                               // unregistered: nobody scrapes a command
	a.eng = engine.New(a.engineOptions())
	return a.eng, &c, nil
}

// embedderCloser releases what OpenEmbedder holds.
type embedderCloser struct {
	balancer   *balance.Balancer
	transports []provider.Transport
}

// Close stops the balancer and closes idle provider connections.
func (c *embedderCloser) Close() error {
	for _, t := range c.transports {
		t.CloseIdleConnections()
	}
	if c.balancer == nil {
		return nil
	}
	return c.balancer.Close()
}
