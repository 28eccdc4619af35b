package protocol

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
)

// VisitTexts calls fn with a pointer to every text the model reads in r: the
// system prompt, text parts of every message, the string values of tool-call
// arguments, and text parts of tool results. fn may replace the text in place
// (masking); arguments stay valid JSON. Reasoning parts and Raw parts are not
// visited.
func (r *Request) VisitTexts(fn func(text *string)) {
	visitParts(r.System, fn)
	for i := range r.Messages {
		visitParts(r.Messages[i].Parts, fn)
	}
}

func visitParts(ps []Part, fn func(*string)) {
	for i := range ps {
		p := &ps[i]
		switch p.Kind {
		case PartText:
			fn(&p.Text)
		case PartToolCall:
			if p.Call != nil {
				visitArgs(&p.Call.Args, fn)
			}
		case PartToolResult:
			if p.Result != nil {
				visitParts(p.Result.Content, fn)
			}
		}
	}
}

// visitArgs calls fn with each string value of the JSON arguments *args and
// writes changed values back, keeping the rest of the JSON as it was.
func visitArgs(args *json.RawMessage, fn func(*string)) {
	vals, err := jsonscan.Strings(*args)
	if err != nil || len(vals) == 0 {
		return
	}
	orig := slices.Clone(vals)
	for i := range vals {
		fn(&vals[i])
	}
	if slices.Equal(orig, vals) {
		return
	}
	if b, err := jsonscan.ReplaceStrings(*args, vals); err == nil {
		*args = b
	}
}

// VisitTexts calls fn with a pointer to every answer text in r (text parts
// only), so it can be inspected or replaced (de-masking, guardrails).
func (r *Response) VisitTexts(fn func(text *string)) {
	visitParts(r.Parts, fn)
}

// Texts returns the texts VisitTexts visits, in order.
func (r *Request) Texts() []string {
	var out []string
	r.VisitTexts(func(s *string) { out = append(out, *s) })
	return out
}

// ToolName returns the name of the tool call with id, searching the
// assistant turns of r (for dialects whose tool results carry a name).
func (r *Request) ToolName(id string) string {
	for i := len(r.Messages) - 1; i >= 0; i-- {
		m := &r.Messages[i]
		if m.Role != RoleAssistant {
			continue
		}
		for j := range m.Parts {
			if c := m.Parts[j].Call; c != nil && c.ID == id {
				return c.Name
			}
		}
	}
	return ""
}

// JoinText concatenates the text parts of ps with sep.
func JoinText(ps []Part, sep string) string {
	s := ""
	first := true
	for i := range ps {
		if ps[i].Kind != PartText {
			continue
		}
		if !first {
			s += sep
		}
		s += ps[i].Text
		first = false
	}
	return s
}

// statefulFields lists, per origin dialect, members kept in Extra whose loss
// changes the answer when the request is translated to another dialect.
func statefulFields(d Dialect) []string {
	switch d {
	case OpenAIResponses:
		return []string{"previous_response_id", "conversation", "background", "prompt"}
	case OpenAICompletions:
		return []string{"suffix", "echo", "best_of", "logprobs"}
	case OllamaGenerate:
		return []string{"suffix", "raw", "template", "context"}
	case OpenAIChat:
		return []string{"functions", "function_call", "audio"}
	}
	return nil
}

// Untranslatable returns a *RequestError naming the first member of
// r.Extra that cannot be honoured by a provider of another dialect (for
// example Responses previous_response_id, /api/generate raw or template,
// legacy completions suffix or echo). Encoders call it whenever they
// translate; a false, empty, zero or null value is harmless.
func (r *Request) Untranslatable() error {
	for _, k := range statefulFields(r.Origin) {
		v, ok := r.Extra[k]
		if !ok {
			continue
		}
		switch strings.TrimSpace(string(v)) {
		case "", "null", "false", `""`, "0", "1", "[]", "{}":
			continue // absent in effect (best_of 1 is the default)
		}
		return Errorf(k, "is not supported for this model: its provider speaks another API")
	}
	return nil
}
