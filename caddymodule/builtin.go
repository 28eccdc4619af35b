package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"time"

	caudit "github.com/llmrouter/llm-router/caddymodule/audit"
	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/prompts"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/resources"
)

// provisionBuiltin loads the prompt library and the task endpoints.
func (h *Handler) provisionBuiltin() error {
	sub, err := fs.Sub(resources.FS, "prompts")
	if err != nil {
		return fmt.Errorf("embedded prompts: %w", err)
	}
	lib, err := prompts.New(sub, h.PromptsDir)
	if err != nil {
		return fmt.Errorf("prompt library: %w", err)
	}
	h.tasks = builtin.New(lib, builtin.Config{DefaultLanguage: h.DefaultLanguage})
	return nil
}

func builtinEndpoint(name string) endpointFunc {
	return func(h *Handler, w http.ResponseWriter, r *http.Request, rt route) error {
		start := time.Now()
		body, err := h.readBody(w, r)
		if err != nil {
			return err
		}
		t, err := h.tasks.Prepare(name, body)
		if err != nil {
			st, b := builtin.EncodeError(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			_, _ = w.Write(b)
			return nil
		}
		if err := h.authorize(r.Context(), rt, t.Model, len(body)); err != nil {
			return err
		}
		if err := h.builtinPipeline(r.Context(), rt, t, body); err != nil {
			return err
		}
		if t.Stream && len(t.Calls) == 1 {
			// Streamed like an OpenAI chat, with the system prompt included.
			creq := taskRequest(t.Model, t.Calls[0], t.Options)
			creq.Stream = true
			c := &chatCall{kind: kindOpenAIChat, model: t.Model, stream: true, creq: creq, modified: true}
			m, err := h.resolveModel(t.Model)
			if err != nil {
				return err
			}
			return h.callProviders(w, r, rt, c, m)
		}
		res, err := h.tasks.Run(r.Context(), t, builtin.CompleterFunc(h.complete))
		if err != nil {
			st, b := builtin.EncodeError(err)
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(st)
			_, _ = w.Write(b)
			return nil
		}
		b, err := builtin.Encode(res, time.Since(start))
		if err != nil {
			return err
		}
		w.Header().Set("Content-Type", "application/json")
		_, err = w.Write(b)
		return err
	}
}

func taskRequest(model string, msgs []builtin.Message, o builtin.Options) *protocol.Request {
	creq := &protocol.Request{Model: model}
	for _, m := range msgs {
		part := protocol.Part{Kind: protocol.PartText, Text: m.Content}
		if m.Role == "system" && len(creq.Messages) == 0 {
			creq.System = append(creq.System, part)
			continue
		}
		creq.Messages = append(creq.Messages, protocol.Message{Role: protocol.Role(m.Role), Parts: []protocol.Part{part}})
	}
	temp, topP, maxT, topK := o.Temperature, o.TopP, o.MaxTokens, o.TopK
	creq.Temperature, creq.TopP, creq.MaxTokens, creq.TopK = &temp, &topP, &maxT, &topK
	if o.RepetitionPenalty > 0 {
		rp := o.RepetitionPenalty
		creq.RepeatPenalty = &rp
	}
	return creq
}

// httpStatusError carries a provider's status to the built-in endpoints.
type httpStatusError struct {
	status int
	msg    string
}

func (e *httpStatusError) Error() string   { return e.msg }
func (e *httpStatusError) HTTPStatus() int { return e.status }

// complete runs one non-streamed chat for the built-in endpoints, over any
// provider type, failing over like the proxy endpoints.
func (h *Handler) complete(ctx context.Context, model string, msgs []builtin.Message, o builtin.Options) (string, error) {
	m, ok := h.app.Config().Model(model)
	if !ok {
		return "", &httpStatusError{http.StatusNotFound, fmt.Sprintf("The model '%s' does not exist or is not active on this router", model)}
	}
	creq := taskRequest(model, msgs, o)
	tried := map[string]bool{}
	var last error = &httpStatusError{http.StatusBadGateway, fmt.Sprintf("no provider of model '%s' is available", model)}
	for attempt := 0; attempt < len(m.Providers) && attempt < maxAttempts; attempt++ {
		l, err := h.app.acquire(ctx, m, func(id string) bool { return tried[id] })
		if err != nil {
			break
		}
		p := l.provider()
		tried[p.ID] = true
		start := time.Now()
		text, retry, err := h.completeOnce(ctx, m, p, creq)
		l.release(outcome(ctx, attemptResult{err: err, retry: retry}), time.Since(start))
		if err == nil {
			return text, nil
		}
		last = err
		if !retry || ctx.Err() != nil {
			break
		}
	}
	return "", last
}

func (h *Handler) completeOnce(ctx context.Context, m *config.Model, p *config.Provider, creq *protocol.Request) (string, bool, error) {
	cp := *creq
	cp.Model = p.UpstreamModel(m.Name)
	pc := providerCodec(p.APIType)
	body, err := pc.EncodeRequest(&cp)
	if err != nil {
		return "", false, &httpStatusError{http.StatusBadRequest, err.Error()}
	}
	ctx, cancel := context.WithTimeout(ctx, time.Duration(h.app.ExternalTimeout))
	defer cancel()
	up := h.app.Upstream(p.ID)
	req, err := up.NewRequest(ctx, http.MethodPost, provider.OpChat, body)
	if err != nil {
		return "", false, err
	}
	resp, err := up.Client.Do(req)
	if err != nil {
		return "", true, asStatusError(h.upstreamErrorCtx(ctx, up, m.Name, err))
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return "", true, asStatusError(h.upstreamErrorCtx(ctx, up, m.Name, err))
	}
	if resp.StatusCode >= 300 {
		return "", retryableStatus(resp.StatusCode), &httpStatusError{resp.StatusCode, "provider error: " + upstreamMessage(data, resp.StatusCode)}
	}
	res, err := pc.DecodeResponse(data)
	if err != nil {
		return "", true, &httpStatusError{http.StatusBadGateway, fmt.Sprintf("the provider of model '%s' sent an answer that could not be read", m.Name)}
	}
	return res.Text(), false, nil
}

func asStatusError(err error) error {
	var ae *apiError
	if errors.As(err, &ae) {
		return &httpStatusError{ae.Status, ae.Msg}
	}
	if err == nil {
		return context.Canceled
	}
	return err
}

// builtinPipeline runs request guardrails and masking on the texts of a
// built-in task (everything but the router's own system prompts).
func (h *Handler) builtinPipeline(ctx context.Context, rt route, t *builtin.Task, body []byte) error {
	p := h.app.pipeline
	if p == nil {
		return nil
	}
	var ptrs []*string
	for i := range t.Calls {
		for j := range t.Calls[i] {
			if t.Calls[i][j].Role != "system" {
				ptrs = append(ptrs, &t.Calls[i][j].Content)
			}
		}
	}
	texts := make([]string, len(ptrs))
	for i, s := range ptrs {
		texts[i] = *s
	}
	if len(p.RequestGuardrails) > 0 {
		d, err := p.CheckRequest(ctx, texts)
		if err != nil {
			return pluginError(err)
		}
		if !d.Safe {
			h.app.metrics.guardrailIncidents.Inc()
			if h.app.env.GuardrailAuditRequest {
				h.audit(ctx, caudit.KindGuardrail, map[string]any{"endpoint": rt.name, "model": t.Model, "guardrail": d.Guardrail,
					"safe": false, "reason": d.Reason, "details": d.Details})
			}
			return &apiError{Status: http.StatusForbidden, Code: "guardrail_blocked",
				Msg: fmt.Sprintf("The request was blocked by the %s guardrail: %s", orDefault(d.Guardrail, "request"), orDefault(d.Reason, "unsafe content"))}
		}
	}
	anonymize := false
	if obj, err := jsonscan.Scan(body); err == nil {
		anonymize, _, _ = obj.Bool("anonymize")
	}
	if !p.MaskingEnabled(anonymize) {
		return nil
	}
	masked, mappings, err := p.Mask(ctx, texts)
	if err != nil {
		return pluginError(err)
	}
	changed := false
	for i, s := range ptrs {
		if i < len(masked) && *s != masked[i] {
			*s, changed = masked[i], true
		}
	}
	if changed {
		h.app.metrics.maskerIncidents.Inc()
		if h.app.env.MaskingWithAudit {
			h.audit(ctx, caudit.KindMasking, map[string]any{"endpoint": rt.name, "model": t.Model,
				"original": texts, "masked": masked, "mappings": mappings})
		}
	}
	return nil
}
