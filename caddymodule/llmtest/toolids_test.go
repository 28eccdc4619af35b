package llmtest

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// Like the real APIs, the OpenAI and Anthropic fakes refuse (400, in their
// own error shape) a tool result whose id answers no earlier tool call, and
// accept a paired history.
func TestFakesRefuseDanglingToolResults(t *testing.T) {
	oa := NewOpenAI("o")
	defer oa.Close()
	plus := NewOpenAIPlus("p")
	defer plus.Close()
	plus.SetToolCalls(ToolCall{Name: "f"})
	an := NewAnthropic("a")
	defer an.Close()
	const (
		oaPaired   = `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"c1","content":"r"}]}`
		oaOrphan   = `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"tool","content":"r"}]}`
		oaUnknown  = `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","tool_call_id":"zz","content":"r"}]}`
		oaNoID     = `{"model":"m","messages":[{"role":"user","content":"q"},{"role":"assistant","tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},{"role":"tool","content":"r"}]}`
		plusOrphan = `{"model":"m","tools":[{"type":"function","function":{"name":"f"}}],"messages":[{"role":"user","content":"q"},{"role":"tool","tool_call_id":"c9","content":"r"}]}`
		anPaired   = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`
		anOrphan   = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"type":"tool_result","tool_use_id":"t1","content":"r"}]}]}`
		anNoID     = `{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"q"},{"role":"assistant","content":[{"type":"tool_use","id":"t1","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","content":"r"}]}]}`
	)
	for _, tc := range []struct {
		name, url, body string
		anthropic       bool
		want            int
		msg             string
	}{
		{"openai paired", oa.URL + "/v1/chat/completions", oaPaired, false, 200, ""},
		{"openai orphan", oa.URL + "/v1/chat/completions", oaOrphan, false, 400, "must be a response to a preceeding message with 'tool_calls'"},
		{"openai unknown id", oa.URL + "/v1/chat/completions", oaUnknown, false, 400, "'tool_call_id' of 'zz' not found"},
		{"openai no id", oa.URL + "/v1/chat/completions", oaNoID, false, 400, "tool_call_id"},
		{"openai-plus orphan", plus.URL + "/v1/chat/completions", plusOrphan, false, 400, "must be a response to a preceeding message"},
		{"anthropic paired", an.URL + "/v1/messages", anPaired, true, 200, ""},
		{"anthropic orphan", an.URL + "/v1/messages", anOrphan, true, 400, "unexpected `tool_use_id` found in `tool_result` blocks: t1"},
		{"anthropic no id", an.URL + "/v1/messages", anNoID, true, 400, "tool_use_id: Field required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(http.MethodPost, tc.url, strings.NewReader(tc.body))
			req.Header.Set("Content-Type", "application/json")
			if tc.anthropic {
				req.Header.Set("x-api-key", "k")
				req.Header.Set("anthropic-version", "2023-06-01")
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e struct {
				Type  string `json:"type"`
				Error struct {
					Type    string `json:"type"`
					Message string `json:"message"`
				} `json:"error"`
			}
			_ = json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d (%+v)", resp.StatusCode, tc.want, e)
			}
			if tc.want == 400 && (e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, tc.msg) || (tc.anthropic && e.Type != "error")) {
				t.Fatalf("error %+v, want one saying %q", e, tc.msg)
			}
		})
	}
}
