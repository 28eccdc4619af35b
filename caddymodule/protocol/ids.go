package protocol

import (
	"math/rand/v2"
	"slices"
	"strconv"
)

// EnsureToolIDs gives every tool call without an id a deterministic one
// (prefix + message index + "_" + call index) and pairs tool results without
// a call id to the earliest unanswered call of the same name (or, without a
// name, the earliest unanswered call). Dialects whose tool calls may lack ids
// (older Ollama) call it after decoding.
func (r *Request) EnsureToolIDs(prefix string) {
	type pending struct{ id, name string }
	var open []pending
	for i := range r.Messages {
		m := &r.Messages[i]
		for j := range m.Parts {
			p := &m.Parts[j]
			switch {
			case p.Kind == PartToolCall && p.Call != nil:
				if p.Call.ID == "" {
					p.Call.ID = prefix + strconv.Itoa(i) + "_" + strconv.Itoa(j)
				}
				open = append(open, pending{p.Call.ID, p.Call.Name})
			case p.Kind == PartToolResult && p.Result != nil:
				res := p.Result
				k := -1
				for x := range open {
					if (res.CallID != "" && open[x].id == res.CallID) ||
						(res.CallID == "" && (res.Name == "" || res.Name == open[x].name)) {
						k = x
						break
					}
				}
				if k < 0 {
					continue
				}
				if res.CallID == "" {
					res.CallID = open[k].id
				}
				if res.Name == "" {
					res.Name = open[k].name
				}
				open = append(open[:k], open[k+1:]...)
			}
		}
	}
}

const base62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// NewID returns prefix + 24 random base62 characters (ids of responses,
// messages and tool calls).
func NewID(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+24)
	copy(b, prefix)
	for range 24 {
		b = append(b, base62[rand.IntN(len(base62))])
	}
	return string(b)
}

// PairTools returns r when its tool history is one every provider API
// accepts, else a copy of r made so (r itself is not changed):
//
//   - a tool call without an id gets a deterministic one (call_<message>_<part>);
//   - a tool result without a call id answers the earliest unanswered call
//     of the latest assistant turn with the same tool name (or, without a
//     name, the earliest unanswered call);
//   - an orphan tool result — its id answers no call of the latest
//     assistant turn, or no call is left to answer (a client that dropped
//     the assistant's call from its history) — becomes a user message
//     stating the tool's output ("Result of tool call NAME:\n…"), placed
//     after the run of tool messages it was in.
//
// OpenAI and Anthropic refuse a tool result whose id matches no call of the
// previous assistant message; their encoders call PairTools.
func (r *Request) PairTools() *Request {
	if r.toolsPaired() {
		return r
	}
	cp := *r
	cp.Messages = make([]Message, 0, len(r.Messages)+1)
	type pending struct{ id, name string }
	var open []pending
	var orphans []Part
	for i := range r.Messages {
		m := r.Messages[i]
		if m.Role != RoleTool && len(orphans) > 0 {
			cp.Messages = append(cp.Messages, Message{Role: RoleUser, Parts: orphans})
			orphans = nil
		}
		switch m.Role {
		case RoleAssistant:
			if i == 0 || r.Messages[i-1].Role != RoleAssistant {
				open = open[:0] // a new turn (consecutive assistant messages are one)
			}
			m.Parts = append([]Part(nil), m.Parts...)
			for j := range m.Parts {
				p := &m.Parts[j]
				if p.Kind != PartToolCall || p.Call == nil {
					continue
				}
				c := *p.Call
				if c.ID == "" {
					c.ID = "call_" + strconv.Itoa(i) + "_" + strconv.Itoa(j)
				}
				p.Call = &c
				open = append(open, pending{c.ID, c.Name})
			}
			cp.Messages = append(cp.Messages, m)
		case RoleTool:
			var keep []Part
			for _, p := range m.Parts {
				if p.Kind != PartToolResult || p.Result == nil {
					keep = append(keep, p)
					continue
				}
				res := *p.Result
				k := -1
				for x := range open {
					if (res.CallID != "" && open[x].id == res.CallID) ||
						(res.CallID == "" && (res.Name == "" || res.Name == open[x].name)) {
						k = x
						break
					}
				}
				if k < 0 {
					orphans = append(orphans, orphanParts(&res)...)
					continue
				}
				if res.CallID == "" {
					res.CallID = open[k].id
				}
				if res.Name == "" {
					res.Name = open[k].name
				}
				open = append(open[:k], open[k+1:]...)
				p.Result = &res
				keep = append(keep, p)
			}
			if len(keep) > 0 {
				m.Parts = keep
				cp.Messages = append(cp.Messages, m)
			}
		default:
			open = open[:0]
			cp.Messages = append(cp.Messages, m)
		}
	}
	if len(orphans) > 0 {
		cp.Messages = append(cp.Messages, Message{Role: RoleUser, Parts: orphans})
	}
	return &cp
}

// toolsPaired reports whether every tool call of r has an id and every
// tool result answers an unanswered call of the latest assistant turn.
func (r *Request) toolsPaired() bool {
	var open []string
	for i := range r.Messages {
		m := &r.Messages[i]
		switch m.Role {
		case RoleAssistant:
			if i == 0 || r.Messages[i-1].Role != RoleAssistant {
				open = open[:0]
			}
			for j := range m.Parts {
				if c := m.Parts[j].Call; m.Parts[j].Kind == PartToolCall && c != nil {
					if c.ID == "" {
						return false
					}
					open = append(open, c.ID)
				}
			}
		case RoleTool:
			for j := range m.Parts {
				res := m.Parts[j].Result
				if m.Parts[j].Kind != PartToolResult || res == nil {
					continue
				}
				k := slices.Index(open, res.CallID)
				if res.CallID == "" || k < 0 {
					return false
				}
				open = slices.Delete(open, k, k+1)
			}
		default:
			open = open[:0]
		}
	}
	return true
}

// orphanParts states a tool result that answers no call as user content.
func orphanParts(res *ToolResult) []Part {
	head, call := "Result of ", "a tool call"
	if res.IsError {
		head = "Error from "
	}
	if res.Name != "" {
		call = "tool call " + res.Name
	}
	text := head + call + ":\n" + JoinText(res.Content, "\n")
	out := []Part{{Kind: PartText, Text: text}}
	for _, p := range res.Content {
		if p.Kind == PartImage {
			out = append(out, p)
		}
	}
	return out
}
