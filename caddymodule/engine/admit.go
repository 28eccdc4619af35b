package engine

import (
	"context"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/config"
)

// authenticate checks the caller's key before the endpoint runs.
func (h *Server) authenticate(r *http.Request, rt Route, info *reqInfo) error {
	if h.Gate == nil {
		return nil
	}
	key, asked, err := h.Gate.Authenticate(r, rt)
	if err != nil && asked != "" {
		info.asked = asked // refused before the body was read: log the model asked for
	}
	info.key = key // the key's name, when the key was known, goes in the log
	return err
}

// admit is what every endpoint does before any plugin or provider sees a
// request: check the caller may use model (policy and rate limits), then
// find it among the active models.
func (h *Server) admit(ctx context.Context, rt Route, model string, bodyLen int) (*config.Model, error) {
	requestInfo(ctx).asked = model // for the log and metrics of a refusal
	if err := h.authorize(ctx, rt, model, bodyLen); err != nil {
		return nil, err
	}
	return h.resolveModel(model)
}

// authorize checks the model against the caller's policy and charges the
// rate limits with an estimate of the request's tokens from its body
// length, bodyLen (4 bytes a token).
func (h *Server) authorize(ctx context.Context, rt Route, model string, bodyLen int) error {
	info := requestInfo(ctx)
	if info.key == nil || h.Gate == nil {
		return nil
	}
	charged, err := h.Gate.Authorize(ctx, rt, info.key, model, bodyLen/4+1)
	info.charged = charged
	return err
}

// settle charges the tokens the provider reported against the key's
// tokens-per-minute budget (Authorize charged an estimate from the body size).
func (h *Server) settle(ctx context.Context, info *reqInfo) {
	if h.Gate == nil || info.key == nil || info.charged == 0 {
		return
	}
	actual := info.usage.Total()
	if actual == 0 {
		return
	}
	h.Gate.Settle(context.WithoutCancel(ctx), info.key, info.charged, actual)
}

// allowsModel filters listings to the models the caller may use.
func allowsModel(ctx context.Context, model string) bool {
	info := requestInfo(ctx)
	return info.key == nil || info.key.AllowsModel(model)
}
