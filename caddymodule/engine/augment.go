package engine

import (
	"context"
	"net/http"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/plugins"
)

// RAGHeader names the chunks retrieval added to a request ("path#chunk",
// comma-separated; never their text).
const RAGHeader = "X-LLM-Router-RAG"

// ragMember is the request member with per-request retrieval options; it
// never reaches a provider.
const ragMember = "rag"

// augmenters returns the utils that add retrieved text to requests.
func augmenters(p *plugins.Pipeline) []plugins.Augmenter {
	if p == nil {
		return nil
	}
	var out []plugins.Augmenter
	for _, u := range p.Utils {
		if a, ok := u.(plugins.Augmenter); ok {
			out = append(out, a)
		}
	}
	return out
}

// augment runs the augmenters on query q and returns what they add, in
// pipeline order. The sources go to the response header and the request log.
func (h *Server) augment(ctx context.Context, w http.ResponseWriter, q *plugins.Query, anonymize bool) ([]*plugins.Augmentation, error) {
	if err := h.maskQuery(ctx, anonymize, &q.Text); err != nil {
		return nil, err
	}
	var out []*plugins.Augmentation
	var sources []string
	for _, a := range h.app.augmenters {
		aug, err := a.Augment(ctx, q)
		if err != nil {
			return nil, pluginError(err)
		}
		if aug == nil || strings.TrimSpace(aug.Text) == "" {
			continue
		}
		out = append(out, aug)
		sources = append(sources, aug.Sources...)
	}
	if len(sources) > 0 {
		w.Header().Set(RAGHeader, strings.Join(sources, ","))
		requestInfo(ctx).note().ragSources = sources
	}
	return out, nil
}

// augmentChat adds retrieved text to a chat request in the client's
// dialect: the "rag" member is taken out of the body, the newest user
// turn's text is the query, and what the augmenters return is appended to
// that turn or added to the system prompt of the decoded request, which is
// then re-encoded for the provider (as after prompt control).
func (h *Server) augmentChat(ctx context.Context, w http.ResponseWriter, c *chatCall) error {
	var opts []byte
	if raw := c.obj.Raw(ragMember); raw != nil {
		opts = append([]byte(nil), raw...)
		body := c.obj.Delete(ragMember)
		obj, err := jsonscan.Scan(body)
		if err != nil {
			return &Error{Status: http.StatusInternalServerError, Msg: "the request could not be read back"}
		}
		c.body, c.obj = body, obj
	}
	creq, err := c.decode()
	if err != nil {
		return err
	}
	delete(creq.Extra, ragMember) // when it was decoded before the member went
	turn := newestUserTurn(creq)
	var text string
	if turn != nil {
		text = partsText(turn.Parts)
	}
	if strings.TrimSpace(text) == "" {
		return h.checkRAGOptions(ctx, c.model, opts)
	}
	anonymize, _, _ := c.obj.Bool("anonymize")
	augs, err := h.augment(ctx, w, &plugins.Query{Model: c.model, Text: text, Options: h.ragOptions(opts)}, anonymize)
	if err != nil || len(augs) == 0 {
		return err
	}
	for _, a := range augs {
		if a.System {
			creq.System = appendText(creq.System, a.Text)
		} else {
			turn.Parts = appendText(turn.Parts, a.Text)
		}
	}
	c.modified = true
	return nil
}

// newestUserTurn returns the last user message of creq, or nil.
func newestUserTurn(creq *protocol.Request) *protocol.Message {
	for i := len(creq.Messages) - 1; i >= 0; i-- {
		if creq.Messages[i].Role == protocol.RoleUser {
			return &creq.Messages[i]
		}
	}
	return nil
}

// partsText joins the text parts of a message (tool results, images and
// the like are not a query).
func partsText(parts []protocol.Part) string {
	var b strings.Builder
	for _, p := range parts {
		if p.Kind == protocol.PartText {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			b.WriteString(p.Text)
		}
	}
	return b.String()
}

// appendText adds text after a blank line to the last text part of parts,
// or as a new text part when there is none.
func appendText(parts []protocol.Part, text string) []protocol.Part {
	for i := len(parts) - 1; i >= 0; i-- {
		if parts[i].Kind == protocol.PartText {
			if parts[i].Text == "" {
				parts[i].Text = text
			} else {
				parts[i].Text += "\n\n" + text
			}
			return parts
		}
	}
	return append(parts, protocol.Part{Kind: protocol.PartText, Text: text})
}

// augmentTask adds retrieved text to a built-in conversation task: the
// query is the body's user_last_statement, whose turn (the last message of
// the single call) gets the text appended, or the call's system prompt.
// Tasks without user_last_statement are left as they are.
func (h *Server) augmentTask(ctx context.Context, w http.ResponseWriter, t *builtin.Task, body []byte) error {
	obj, err := jsonscan.Scan(body)
	if err != nil {
		return nil // Prepare read it; nothing to add to
	}
	var opts []byte
	if raw := obj.Raw(ragMember); raw != nil {
		opts = append([]byte(nil), raw...)
	}
	user, ok, err := obj.String("user_last_statement")
	if err != nil || !ok || strings.TrimSpace(user) == "" || len(t.Calls) != 1 {
		return h.checkRAGOptions(ctx, t.Model, opts)
	}
	call := t.Calls[0]
	last := len(call) - 1
	if last < 0 || call[last].Role != builtin.RoleUser || call[last].Content != user {
		return h.checkRAGOptions(ctx, t.Model, opts)
	}
	anonymize, _, _ := obj.Bool("anonymize")
	augs, err := h.augment(ctx, w, &plugins.Query{Model: t.Model, Text: user, Options: h.ragOptions(opts), Language: t.Language}, anonymize)
	if err != nil {
		return err
	}
	for _, a := range augs {
		switch {
		case !a.System:
			call[last].Content += "\n\n" + a.Text
		case call[0].Role == builtin.RoleSystem:
			call[0].Content += "\n\n" + a.Text
		default:
			call = append([]builtin.Message{{Role: builtin.RoleSystem, Content: a.Text}}, call...)
			last++
		}
	}
	t.Calls[0] = call
	return nil
}

// checkRAGOptions lets the augmenters refuse a request's "rag" member
// (raw, nil when it had none) when the request has no text to retrieve
// for: a query with no Text, whose answer adds nothing, so that a bad
// member is the client's error whether or not there was a question.
func (h *Server) checkRAGOptions(ctx context.Context, model string, raw []byte) error {
	if raw == nil {
		return nil
	}
	q := &plugins.Query{Model: model, Options: h.ragOptions(raw)}
	for _, a := range h.app.augmenters {
		if _, err := a.Augment(ctx, q); err != nil {
			return pluginError(err)
		}
	}
	return nil
}

// ragOptions adds the handler's collection (rag_collection) to a request's
// "rag" options that name none; options that are not an object are left
// for the plugin to refuse.
func (h *Server) ragOptions(raw []byte) []byte {
	if h.RAGCollection == "" {
		return raw
	}
	if raw == nil || string(raw) == "null" {
		raw = []byte("{}")
	}
	obj, err := jsonscan.Scan(raw)
	if err != nil || obj.Raw("collection") != nil {
		return raw
	}
	return obj.Set("collection", jsonscan.Quote(h.RAGCollection))
}

// maskQuery masks, in place, texts a util sends to a model of its own (the
// embedding model that retrieval and embedding routing ask) when the
// request is to be masked: every text a model reads is masked, and the
// request's own texts are masked only later in the pipeline. Nothing is
// counted or audited here; the request's masking does that.
func (h *Server) maskQuery(ctx context.Context, anonymize bool, texts ...*string) error {
	p := h.app.pipeline
	if p == nil || !p.MaskingEnabled(anonymize) || len(texts) == 0 {
		return nil
	}
	in := make([]string, len(texts))
	for i, t := range texts {
		in[i] = *t
	}
	masked, _, err := p.Mask(ctx, in)
	if err != nil {
		return pluginError(err)
	}
	for i, t := range texts {
		*t = masked[i]
	}
	return nil
}
