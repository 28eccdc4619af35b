package caddymodule

import (
	"context"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"go.uber.org/zap"

	caudit "github.com/llmrouter/llm-router/caddymodule/audit"
	"github.com/llmrouter/llm-router/caddymodule/auth"
	"github.com/llmrouter/llm-router/caddymodule/config"
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
			return errorString("auth: the redis key store needs LLM_ROUTER_REDIS_HOST (or the redis option)")
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

type errorString string

func (e errorString) Error() string { return string(e) }

// authenticate checks the caller's key before the endpoint runs.
func (h *Handler) authenticate(r *http.Request, rt route, info *reqInfo) error {
	if h.authn == nil || h.authn.IsPublic(r.URL.Path) {
		return nil
	}
	key, err := h.authn.Authenticate(r)
	if err == nil {
		err = key.Allow("", rt.family) // the model is checked once it is known
	}
	if err != nil {
		if r.Method == http.MethodPost {
			// Refused before the body was read: log the model asked for.
			info.asked = peekModel(r.Body, min(h.MaxRequestBody, peekLimit))
		}
		info.key = key // the key's name, when the key was known, goes in the log
		return h.authDenied(r.Context(), rt, key, err, 0)
	}
	info.key = key
	info.family = rt.family
	return nil
}

// admit is what every endpoint does before any plugin or provider sees a
// request: check the caller may use model (policy and rate limits), then
// find it among the active models.
func (h *Handler) admit(ctx context.Context, rt route, model string, bodyLen int) (*config.Model, error) {
	requestInfo(ctx).asked = model // for the log and metrics of a refusal
	if err := h.authorize(ctx, rt, model, bodyLen); err != nil {
		return nil, err
	}
	return h.resolveModel(model)
}

// authorize checks the model against the caller's policy and charges the
// rate limits; body is used to estimate tokens (4 bytes a token).
func (h *Handler) authorize(ctx context.Context, rt route, model string, bodyLen int) error {
	info := requestInfo(ctx)
	if info.key == nil {
		return nil
	}
	if err := info.key.Allow(model, info.family); err != nil {
		return h.authDenied(ctx, rt, info.key, err, 0)
	}
	if h.limiter == nil {
		return nil
	}
	info.estTokens = bodyLen/4 + 1
	wait, err := h.limiter.Allow(ctx, info.key, info.estTokens)
	if err != nil {
		info.estTokens = 0
		return h.authDenied(ctx, rt, info.key, err, wait)
	}
	h.app.metrics.authDecisions.WithLabelValues("allowed").Inc()
	return nil
}

func (h *Handler) authDenied(ctx context.Context, rt route, key *auth.Key, err error, wait time.Duration) error {
	reason := auth.Reason(err)
	h.app.metrics.authDecisions.WithLabelValues(reason).Inc()
	id := ""
	if key != nil {
		id = key.ID()
	}
	h.logger.Info("request refused by auth", zap.String("endpoint", rt.name), zap.String("key", id), zap.String("reason", reason))
	h.audit(ctx, caudit.KindAuth, map[string]any{"endpoint": rt.name, "key": id, "decision": reason})
	return &apiError{Status: auth.StatusCode(err), Msg: err.Error(), RetryAfter: wait}
}

// settle charges the tokens the provider reported against the key's
// tokens-per-minute budget (Allow charged an estimate from the body size).
func (h *Handler) settle(ctx context.Context, info *reqInfo) {
	if h.limiter == nil || info.key == nil || info.estTokens == 0 {
		return
	}
	actual := info.usage.Total()
	if actual == 0 {
		return
	}
	if err := h.limiter.Settle(context.WithoutCancel(ctx), info.key, info.estTokens, actual); err != nil {
		h.logger.Warn("rate limit settlement failed", zap.String("key", info.key.ID()), zap.Error(err))
	}
}

// allowsModel filters listings to the models the caller may use.
func allowsModel(ctx context.Context, model string) bool {
	info := requestInfo(ctx)
	return info.key == nil || info.key.AllowsModel(model)
}
