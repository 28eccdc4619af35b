package engine

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/bodytext"
	"github.com/llmrouter/llm-router/plugins"
)

// autoModel is the model name that asks the utils pipeline to choose.
const autoModel = "auto"

// RoutedModelHeader reports the model chosen for "model": "auto".
const RoutedModelHeader = "X-LLM-Router-Model"

// runPipeline runs utils (model "auto"), request guardrails and maskers on
// a chat request, in the original's order. A blocked streamed request gets
// its answer here (c.blocked is set).
func (h *Server) runPipeline(ctx context.Context, w http.ResponseWriter, rt Route, c *chatCall) error {
	p := h.app.pipeline
	if c.model == autoModel {
		if p == nil || len(p.Utils) == 0 {
			return &Error{Status: http.StatusNotFound, Param: "model", Code: "model_not_found",
				Msg: "model 'auto' needs a routing plugin (LLM_ROUTER_UTILS_PLUGINS_PIPELINE=simple_semantic_routing); none is configured"}
		}
		creq, err := c.decode()
		if err != nil {
			return err
		}
		req := &plugins.Request{Model: c.model, Texts: userTexts(creq)}
		anonymize, _, _ := c.obj.Bool("anonymize")
		ptrs := make([]*string, len(req.Texts))
		for i := range req.Texts {
			ptrs[i] = &req.Texts[i]
		}
		if err := h.maskQuery(ctx, anonymize, ptrs...); err != nil { // a routing util may embed them
			return err
		}
		if err := p.Route(ctx, req); err != nil {
			return pluginError(err)
		}
		if req.Model == autoModel || req.Model == "" {
			return &Error{Status: http.StatusNotFound, Param: "model", Msg: "the routing plugin could not choose a model for 'auto'"}
		}
		c.model = req.Model
		if req.Reason != "" {
			requestInfo(ctx).note().routeReason = req.Reason
		}
		w.Header().Set(RoutedModelHeader, c.model)
	}
	if p == nil {
		return nil
	}
	if len(h.app.augmenters) > 0 {
		if err := h.augmentChat(ctx, w, c); err != nil {
			return err
		}
	}
	anonymize, _, _ := c.obj.Bool("anonymize")
	masking := p.MaskingEnabled(anonymize)
	if len(p.RequestGuardrails) == 0 && !masking {
		return nil
	}
	ct, err := c.requestTexts()
	if err != nil {
		return err
	}
	if len(p.RequestGuardrails) > 0 {
		if err := h.guard(ctx, rt, c.model, "request", ct.texts); err != nil {
			var ae *Error
			if !c.stream || !errors.As(err, &ae) || ae.Status != http.StatusForbidden {
				return err
			}
			// A blocked stream is a complete, cleanly finished answer that says so.
			setStreamHeaders(w.Header(), c.kind.codec.StreamContentType())
			w.WriteHeader(http.StatusOK)
			rc := http.NewResponseController(w)
			enc := c.kind.codec.NewStreamEncoder(w, rc.Flush, protocol.StreamOptions{Model: c.model})
			_ = protocol.WriteText(enc, c.model, ae.Msg)
			c.blocked = ae.Msg
			return nil
		}
	}
	if !masking {
		return nil
	}
	masked, err := h.mask(ctx, rt, c.model, ct.texts)
	if err != nil {
		return err
	}
	return ct.replace(masked)
}

// callTexts are the texts a model reads in a chat call, and the way to
// write them back.
type callTexts struct {
	texts   []string
	replace func(masked []string) error
}

// requestTexts finds the texts of c for the guardrails and the maskers:
// in the client's body, which masking then edits in place (the
// passthrough sends it, the translated path decodes it), or — when the
// router already changed the decoded request (prompt control) — in that
// decoded request. Both see the same texts: messages, system prompts,
// tool-call arguments and tool results.
func (c *chatCall) requestTexts() (*callTexts, error) {
	if c.modified {
		creq, err := c.decode()
		if err != nil {
			return nil, err
		}
		return &callTexts{texts: texts(creq), replace: func(masked []string) error {
			i := 0
			creq.VisitTexts(func(t *string) {
				if i < len(masked) {
					*t = masked[i]
				}
				i++
			})
			delete(creq.Extra, "anonymize")
			return nil
		}}, nil
	}
	bt, err := bodytext.Find(c.kind.codec.Dialect(), c.body)
	if err != nil {
		return nil, requestError(err)
	}
	return &callTexts{texts: bt.Texts(), replace: func(masked []string) error {
		body, err := bt.Replace(masked)
		if err != nil {
			return &Error{Status: http.StatusInternalServerError, Msg: "the masked request could not be written"}
		}
		return c.setBody(body, "anonymize")
	}}, nil
}

// setBody replaces the client's body (after masking), without the member
// drop; the request is decoded again from it when needed. A body that did
// not change is kept as it is.
func (c *chatCall) setBody(body []byte, drop string) error {
	obj := c.obj
	if len(body) != len(c.body) || (len(body) > 0 && &body[0] != &c.body[0]) {
		var err error
		if obj, err = jsonscan.Scan(body); err != nil {
			return &Error{Status: http.StatusInternalServerError, Msg: "the masked request could not be read back"}
		}
	} else if !obj.Find(drop).Valid() {
		return nil // nothing changed
	}
	if obj.Find(drop).Valid() {
		body = obj.Delete(drop)
		var err error
		if obj, err = jsonscan.Scan(body); err != nil {
			return &Error{Status: http.StatusInternalServerError, Msg: "the masked request could not be read back"}
		}
	}
	c.body, c.obj, c.creq = body, obj, nil
	return nil
}

// guard runs the request or response guardrails on texts. A block is a 403
// naming the guardrail (never quoting the text), counted, and audited when
// the stage's audit switch is on; a failing guardrail service refuses the
// request (fail closed).
func (h *Server) guard(ctx context.Context, rt Route, model, stage string, texts []string) error {
	p := h.app.pipeline
	check, audited, subject := p.CheckRequest, h.app.env.GuardrailAuditRequest, "request"
	if stage == "response" {
		check, audited, subject = p.CheckResponse, h.app.env.GuardrailAuditResponse, "answer"
	}
	d, err := check(ctx, texts)
	if err != nil {
		return pluginError(err)
	}
	if d.Safe {
		return nil
	}
	h.app.metrics.GuardrailIncidents.Inc()
	if audited {
		h.audit(ctx, AuditGuardrail, map[string]any{"stage": stage, "endpoint": rt.Name, "model": model,
			"guardrail": d.Guardrail, "safe": false, "reason": d.Reason, "details": d.Details})
	}
	return &Error{Status: http.StatusForbidden, Code: "guardrail_blocked",
		Msg: fmt.Sprintf("The %s was blocked by the %s guardrail: %s", subject, orDefault(d.Guardrail, stage), orDefault(d.Reason, "unsafe content"))}
}

// mask runs the masker pipeline on texts and returns them masked; a change
// is counted and, with LLM_ROUTER_MASKING_WITH_AUDIT, audited with the
// originals and the mappings.
func (h *Server) mask(ctx context.Context, rt Route, model string, texts []string) ([]string, error) {
	masked, mappings, err := h.app.pipeline.Mask(ctx, texts)
	if err != nil {
		return nil, pluginError(err)
	}
	changed := false
	for i := range masked {
		changed = changed || i >= len(texts) || masked[i] != texts[i]
	}
	if changed {
		h.app.metrics.MaskerIncidents.Inc()
		if h.app.env.MaskingWithAudit {
			h.audit(ctx, AuditMasking, map[string]any{"endpoint": rt.Name, "model": model,
				"original": texts, "masked": masked, "mappings": mappings})
		}
	}
	return masked, nil
}

// userTexts returns the text of each user message of creq, oldest first
// (what plugins.Request.Texts holds): a router routes on what the user
// asked, not on the system prompt, an assistant turn or a tool result.
func userTexts(creq *protocol.Request) []string {
	var out []string
	for i := range creq.Messages {
		if m := &creq.Messages[i]; m.Role == protocol.RoleUser {
			if t := partsText(m.Parts); t != "" {
				out = append(out, t)
			}
		}
	}
	return out
}

func texts(creq *protocol.Request) []string {
	var out []string
	creq.VisitTexts(func(t *string) { out = append(out, *t) })
	return out
}

// pluginError maps a pipeline failure to the client's error: a plugin
// service that is down or broken refuses the request (fail closed). It is
// never nil: a step that did not finish (the client left mid-check) must
// not read as a step that passed, or unmasked text could go on.
func pluginError(err error) error {
	if errors.Is(err, plugins.ErrServiceUnavailable) {
		return &Error{Status: http.StatusServiceUnavailable, Msg: "request refused: " + err.Error(), RetryAfter: 5 * time.Second}
	}
	if errors.Is(err, plugins.ErrInvalidRequest) {
		return &Error{Status: http.StatusBadRequest, Msg: strings.TrimSpace(err.Error())}
	}
	if errors.Is(err, context.Canceled) {
		return &Error{Status: statusClientClosed, Msg: "the client closed the request"}
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Status: http.StatusGatewayTimeout, Msg: "request pipeline timed out"}
	}
	return &Error{Status: http.StatusInternalServerError, Msg: "request pipeline failed: " + strings.TrimSpace(err.Error())}
}

// audit records an audit event when auditing is configured. A request
// never waits on disk; a full queue is logged (and counted).
func (h *Server) audit(ctx context.Context, kind string, fields map[string]any) {
	if h.app.auditLog == nil {
		return
	}
	if err := h.app.auditLog.Record(ctx, kind, fields); err != nil {
		h.logger.Error("audit record not written", zap.String("kind", kind), zap.Error(err))
	}
}

// checkResponse runs the response guardrails on a whole (non-streamed)
// answer, decoded once by the caller, before any byte of it reaches the
// client. Streamed answers are not checked: their text is delivered as it
// is generated (see README).
func (h *Server) checkResponse(ctx context.Context, rt Route, c *chatCall, res *protocol.Response) error {
	if !h.app.hasResponseGuardrails() {
		return nil
	}
	var texts []string
	res.VisitTexts(func(t *string) { texts = append(texts, *t) })
	return h.guard(ctx, rt, c.model, "response", texts)
}
