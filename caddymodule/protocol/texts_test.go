package protocol

import (
	"encoding/json"
	"strings"
	"testing"
)

// Tool-call arguments are texts: their string values are visited and can
// be replaced, and the arguments stay valid JSON with numbers and member
// names untouched.
func TestVisitTextsToolArgs(t *testing.T) {
	r := &Request{Messages: []Message{
		{Role: RoleAssistant, Parts: []Part{{Kind: PartToolCall, Call: &ToolCall{ID: "c", Name: "send",
			Args: json.RawMessage(`{"to": "jan@example.com", "n": 3, "list": ["jan@example.com", true]}`)}}}},
		{Role: RoleTool, Parts: []Part{{Kind: PartToolResult, Result: &ToolResult{CallID: "c", Content: []Part{{Kind: PartText, Text: "sent to jan@example.com"}}}}}},
	}}
	if got := strings.Join(r.Texts(), "|"); got != "jan@example.com|jan@example.com|sent to jan@example.com" {
		t.Fatalf("texts %q", got)
	}
	r.VisitTexts(func(s *string) { *s = strings.ReplaceAll(*s, "jan@example.com", "{EMAIL_1}") })
	args := string(r.Messages[0].Parts[0].Call.Args)
	if args != `{"to": "{EMAIL_1}", "n": 3, "list": ["{EMAIL_1}", true]}` || !json.Valid([]byte(args)) {
		t.Fatalf("arguments after masking: %s", args)
	}
	if got := r.Messages[1].Parts[0].Result.Content[0].Text; got != "sent to {EMAIL_1}" {
		t.Fatalf("tool result after masking: %s", got)
	}
}
