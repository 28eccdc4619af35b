package caddymodule

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	caudit "github.com/llmrouter/llm-router/caddymodule/audit"
	"github.com/llmrouter/llm-router/caddymodule/auth"
	"github.com/llmrouter/llm-router/caddymodule/engine"
)

// sharedLimiter keeps rate-limit state across reloads.
type sharedLimiter struct{ auth.Limiter }

func (sharedLimiter) Destruct() error { return nil }

// provisionAuth sets up API-key authentication when it is enabled in the
// Caddyfile or by LLM_ROUTER_AUTH_ENABLED.
func (h *Handler) provisionAuth(ctx caddy.Context) error {
	cfg := h.Auth
	if cfg == nil {
		cfg = &auth.Config{
			Enabled:  h.app.vars.Auth.Enabled,
			KeysFile: h.app.vars.Auth.KeysFile,
		}
		switch h.app.vars.Auth.KeyStore {
		case "redis":
			cfg.Store = auth.StoreRedis
		default: // the original's "memory" store is our keys file
			cfg.Store = auth.StoreFile
		}
	}
	if !cfg.Enabled {
		return nil
	}
	c := *cfg
	if c.Prefix == "" {
		c.Prefix = h.prefix
	}
	c.Logger = h.logger.Named("auth")
	if c.Store == auth.StoreRedis {
		if h.app.redis == nil {
			return errors.New("auth: the redis key store needs LLM_ROUTER_REDIS_HOST (or the redis option)")
		}
		c.Redis = h.app.redis
	}
	a, err := auth.New(ctx, c)
	if err != nil {
		return err
	}
	h.authn = a
	// Keyed by the Redis identity: after a reload to another Redis the
	// limiter must not keep the client the old config closed.
	key := "limiter|memory"
	if h.app.redis != nil {
		key = "limiter|redis|" + h.app.redisID
	}
	v, _, err := pool.LoadOrNew(key, func() (caddy.Destructor, error) {
		if h.app.redis != nil {
			return sharedLimiter{auth.NewRedisLimiter(h.app.redis, "", nil)}, nil
		}
		return sharedLimiter{auth.NewMemoryLimiter(nil)}, nil
	})
	if err != nil {
		return err
	}
	h.limiterKey = key
	h.limiter = v.(sharedLimiter).Limiter
	return nil
}

// peekLimit bounds what is read of a refused request's body to find its model.
const peekLimit = 1 << 20

// keyGate is the engine's Gate over the handler's API keys and limiter.
type keyGate struct{ h *Handler }

// Authenticate checks the caller's key before the endpoint runs.
func (g keyGate) Authenticate(r *http.Request, rt engine.Route) (engine.Caller, string, error) {
	h := g.h
	if h.authn == nil || h.authn.IsPublic(r.URL.Path) {
		return nil, "", nil
	}
	key, err := h.authn.Authenticate(r)
	if err == nil {
		err = key.Allow("", auth.Family(rt.Family)) // the model is checked once it is known
	}
	if err != nil {
		asked := ""
		if r.Method == http.MethodPost {
			// Refused before the body was read: log the model asked for.
			asked = peekModel(r.Body, min(h.MaxRequestBody, peekLimit))
		}
		err = h.authDenied(r.Context(), rt, key, err, 0)
		if key == nil {
			return nil, asked, err
		}
		return key, asked, err // the key's name, when the key was known, goes in the log
	}
	return key, "", nil
}

// Authorize checks the model against the caller's policy and charges the
// rate limits with the engine's estimate of the request's tokens.
func (g keyGate) Authorize(ctx context.Context, rt engine.Route, c engine.Caller, model string, estimate int) (int, error) {
	h := g.h
	key := c.(*auth.Key)
	if err := key.Allow(model, auth.Family(rt.Family)); err != nil {
		return 0, h.authDenied(ctx, rt, key, err, 0)
	}
	if h.limiter == nil {
		return 0, nil
	}
	wait, err := h.limiter.Allow(ctx, key, estimate)
	if err != nil {
		return 0, h.authDenied(ctx, rt, key, err, wait)
	}
	h.app.metrics.AuthDecisions.WithLabelValues("allowed").Inc()
	return estimate, nil
}

func (h *Handler) authDenied(ctx context.Context, rt engine.Route, key *auth.Key, err error, wait time.Duration) error {
	reason := auth.Reason(err)
	h.app.metrics.AuthDecisions.WithLabelValues(reason).Inc()
	id := ""
	if key != nil {
		id = key.ID()
	}
	h.logger.Info("request refused by auth", zap.String("endpoint", rt.Name), zap.String("key", id), zap.String("reason", reason))
	if h.app.auditLog != nil {
		if err := h.app.auditLog.Record(ctx, caudit.KindAuth, map[string]any{"endpoint": rt.Name, "key": id, "decision": reason}); err != nil {
			h.logger.Error("audit record not written", zap.String("kind", caudit.KindAuth), zap.Error(err))
		}
	}
	return &engine.Error{Status: auth.StatusCode(err), Msg: err.Error(), RetryAfter: wait}
}

// Settle charges the tokens the provider reported against the key's
// tokens-per-minute budget (Authorize charged an estimate).
func (g keyGate) Settle(ctx context.Context, c engine.Caller, charged, actual int) {
	h := g.h
	if h.limiter == nil {
		return
	}
	key := c.(*auth.Key)
	if err := h.limiter.Settle(ctx, key, charged, actual); err != nil {
		h.logger.Warn("rate limit settlement failed", zap.String("key", key.ID()), zap.Error(err))
	}
}
