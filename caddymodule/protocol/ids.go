package protocol

import (
	"math/rand/v2"
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
