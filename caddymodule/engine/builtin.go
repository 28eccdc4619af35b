package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/http"
	"strconv"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/prompts"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/provider"
	"github.com/llmrouter/llm-router/resources"
)

// provisionBuiltin loads the prompt library and the task endpoints.
func (h *Server) provisionBuiltin() error {
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
	return func(h *Server, w http.ResponseWriter, r *http.Request, rt Route) error {
		start := time.Now()
		body, err := h.readBody(w, r)
		if err != nil {
			return err
		}
		t, err := h.tasks.Prepare(name, body)
		if err != nil {
			writeTaskError(w, err)
			return nil
		}
		m, err := h.admit(r.Context(), rt, t.Model, len(body))
		if err != nil {
			return err
		}
		if len(h.app.augmenters) > 0 {
			if err := h.augmentTask(r.Context(), w, t, body); err != nil {
				return err
			}
		}
		if err := h.builtinPipeline(r.Context(), rt, t, body); err != nil {
			return err
		}
		if t.Stream && len(t.Calls) == 1 {
			// Streamed like an OpenAI chat, with the system prompt included.
			creq := taskRequest(t.Model, t.Calls[0], t.Options)
			creq.Stream = true
			c := &chatCall{kind: kindOpenAIChat, model: t.Model, stream: true, creq: creq, modified: true}
			return h.callProviders(w, r, rt, c, m)
		}
		res, err := h.tasks.Run(r.Context(), t, builtin.CompleterFunc(h.complete))
		if err != nil {
			writeTaskError(w, err)
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

// writeTaskError answers a failed task in the built-in endpoints' own error
// shape ({"error": {...}, "status": false}).
func writeTaskError(w http.ResponseWriter, err error) {
	st, b := builtin.EncodeError(err)
	var ae *Error
	if errors.As(err, &ae) && ae.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int((ae.RetryAfter+time.Second-1)/time.Second)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(st)
	_, _ = w.Write(b)
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

// complete runs one non-streamed chat for the built-in endpoints, over any
// provider type, failing over like the proxy endpoints. Per-text endpoints
// call it concurrently.
func (h *Server) complete(ctx context.Context, model string, msgs []builtin.Message, o builtin.Options) (string, error) {
	m, err := h.resolveModel(model)
	if err != nil {
		return "", err
	}
	creq := taskRequest(model, msgs, o)
	var text string
	err = h.failover(ctx, m, func(p *config.Provider) attemptResult {
		cp := *creq
		cp.Model = p.UpstreamModel(m.Name)
		pc := providerCodec(p.APIType)
		body, err := pc.EncodeRequest(&cp)
		if err != nil {
			return attemptResult{err: requestError(err)}
		}
		data, res := h.exchange(ctx, p, m.Name, provider.OpChat, body)
		if res.err != nil {
			return res
		}
		out, err := pc.DecodeResponse(data)
		if err != nil {
			return h.unreadable(p.ID, m.Name, err)
		}
		text = out.Text()
		return attemptResult{}
	})
	return text, err
}

// builtinPipeline runs request guardrails and masking on the texts of a
// built-in task: every message of every upstream call, system prompts
// included, since a client's fields (system_prompt, question_prompt, a
// question or query placed into the prompt) may be part of them.
func (h *Server) builtinPipeline(ctx context.Context, rt Route, t *builtin.Task, body []byte) error {
	p := h.app.pipeline
	if p == nil {
		return nil
	}
	var ptrs []*string
	for i := range t.Calls {
		for j := range t.Calls[i] {
			ptrs = append(ptrs, &t.Calls[i][j].Content)
		}
	}
	texts := make([]string, len(ptrs))
	for i, s := range ptrs {
		texts[i] = *s
	}
	if len(p.RequestGuardrails) > 0 {
		if err := h.guard(ctx, rt, t.Model, "request", texts); err != nil {
			return err
		}
	}
	anonymize := false
	if obj, err := jsonscan.Scan(body); err == nil {
		anonymize, _, _ = obj.Bool("anonymize")
	}
	if !p.MaskingEnabled(anonymize) {
		return nil
	}
	masked, err := h.mask(ctx, rt, t.Model, texts)
	if err != nil {
		return err
	}
	for i, s := range ptrs {
		if i < len(masked) {
			*s = masked[i]
		}
	}
	return nil
}
