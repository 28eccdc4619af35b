package protocol_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

func text(s string) protocol.Part { return protocol.Part{Kind: protocol.PartText, Text: s} }

func call(id, name string) protocol.Part {
	return protocol.Part{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: id, Name: name, Args: json.RawMessage(`{}`)}}
}

func result(id, name, out string) protocol.Part {
	return protocol.Part{Kind: protocol.PartToolResult, Result: &protocol.ToolResult{CallID: id, Name: name, Content: []protocol.Part{text(out)}}}
}

// shape renders a conversation as role[parts] with call ids, for comparison.
func shape(r *protocol.Request) string {
	var b strings.Builder
	for _, m := range r.Messages {
		b.WriteString(string(m.Role) + "[")
		for _, p := range m.Parts {
			switch p.Kind {
			case protocol.PartText:
				b.WriteString("text:" + p.Text + ";")
			case protocol.PartToolCall:
				b.WriteString("call:" + p.Call.ID + ";")
			case protocol.PartToolResult:
				b.WriteString("result:" + p.Result.CallID + ";")
			}
		}
		b.WriteString("] ")
	}
	return strings.TrimSpace(b.String())
}

func TestPairTools(t *testing.T) {
	user := protocol.Message{Role: protocol.RoleUser, Parts: []protocol.Part{text("hi")}}
	for _, tc := range []struct {
		name string
		msgs []protocol.Message
		want string
	}{
		{"paired history is kept", []protocol.Message{user,
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{call("a", "f")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("a", "f", "1")}}},
			"user[text:hi;] assistant[call:a;] tool[result:a;]"},
		{"ids synthesized consistently", []protocol.Message{user,
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{call("", "f"), call("", "g")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("", "g", "2")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("", "f", "1")}}},
			"user[text:hi;] assistant[call:call_1_0;call:call_1_1;] tool[result:call_1_1;] tool[result:call_1_0;]"},
		{"orphan result without any call", []protocol.Message{user,
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("", "get_weather", "12 degrees")}}},
			"user[text:hi;] user[text:Result of tool call get_weather:\n12 degrees;]"},
		{"orphan with an unknown id after the run of results", []protocol.Message{user,
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{call("a", "f"), call("b", "f")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("a", "", "1")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("zz", "", "9")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("b", "", "2")}},
			{Role: protocol.RoleUser, Parts: []protocol.Part{text("and?")}}},
			"user[text:hi;] assistant[call:a;call:b;] tool[result:a;] tool[result:b;] user[text:Result of a tool call:\n9;] user[text:and?;]"},
		{"a second result for one call", []protocol.Message{user,
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{call("a", "f")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("a", "", "1"), result("a", "", "again")}}},
			"user[text:hi;] assistant[call:a;] tool[result:a;] user[text:Result of a tool call:\nagain;]"},
		{"a result for an earlier turn's call", []protocol.Message{user,
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{call("a", "f")}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("a", "", "1")}},
			user,
			{Role: protocol.RoleTool, Parts: []protocol.Part{result("a", "", "late")}}},
			"user[text:hi;] assistant[call:a;] tool[result:a;] user[text:hi;] user[text:Result of a tool call:\nlate;]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &protocol.Request{Messages: tc.msgs}
			before := shape(r)
			got := r.PairTools()
			if s := shape(got); s != tc.want {
				t.Errorf("got  %q\nwant %q", s, tc.want)
			}
			if shape(r) != before {
				t.Errorf("the request itself was changed: %q", shape(r))
			}
			if tc.name == "paired history is kept" && got != r {
				t.Error("a paired history was copied")
			}
		})
	}
}

// An Ollama history whose tool result has no assistant call (LlamaIndex
// drops it) reaches OpenAI and Anthropic providers without a dangling or
// missing tool-call id: the output is stated in a user turn.
func TestOrphanToolResultTranslated(t *testing.T) {
	body := `{"model":"m","messages":[{"role":"user","content":"Weather in Oslo?"},
		{"role":"tool","tool_name":"get_weather","content":"12 degrees and sunny"},
		{"role":"user","content":"So?"}]}`
	creq, err := ollama.Chat{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	for name, enc := range map[string]protocol.ProviderCodec{"openai": openai.Chat{}, "anthropic": anthropic.Messages{}} {
		out, err := enc.EncodeRequest(creq)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		s := string(out)
		if strings.Contains(s, `"tool"`) || strings.Contains(s, "tool_result") || strings.Contains(s, "tool_call_id") ||
			!strings.Contains(s, `Result of tool call get_weather:\n12 degrees and sunny`) {
			t.Errorf("%s: %s", name, s)
		}
	}
}
