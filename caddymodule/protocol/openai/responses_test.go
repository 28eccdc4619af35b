package openai

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestResponsesDecodeRequest(t *testing.T) {
	body := `{"model":"gpt-x","instructions":"Be brief.","stream":true,"max_output_tokens":64,
	 "reasoning":{"effort":"high"},"text":{"format":{"type":"json_schema","name":"w","schema":{"type":"object"}}},
	 "tools":[{"type":"function","name":"get_weather","parameters":{"type":"object"}},{"type":"web_search"}],
	 "tool_choice":{"type":"function","name":"get_weather"},
	 "input":[
	  {"role":"user","content":"hi"},
	  {"type":"message","role":"assistant","content":[{"type":"output_text","text":"Let me check."}]},
	  {"type":"function_call","call_id":"call_1","name":"get_weather","arguments":"{\"city\":\"Oslo\"}"},
	  {"type":"function_call","call_id":"call_2","name":"get_weather","arguments":"{\"city\":\"Rome\"}"},
	  {"type":"function_call_output","call_id":"call_1","output":"4C"},
	  {"type":"function_call_output","call_id":"call_2","output":"20C"},
	  {"type":"reasoning","id":"rs_1","summary":[]},
	  {"type":"message","role":"user","content":[{"type":"input_text","text":"thanks"},{"type":"input_image","image_url":"https://x/y.png"}]}
	 ],"store":false,"previous_response_id":"resp_0"}`
	r, err := Responses{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	roles := []protocol.Role{}
	for _, m := range r.Messages {
		roles = append(roles, m.Role)
	}
	want := []protocol.Role{protocol.RoleUser, protocol.RoleAssistant, protocol.RoleTool, protocol.RoleTool, protocol.RoleUser}
	if len(roles) != len(want) {
		t.Fatalf("roles %v, want %v", roles, want)
	}
	for i := range want {
		if roles[i] != want[i] {
			t.Fatalf("roles %v, want %v", roles, want)
		}
	}
	asst := r.Messages[1]
	if len(asst.Parts) != 3 || asst.Parts[1].Call.ID != "call_1" || asst.Parts[2].Call.ID != "call_2" {
		t.Errorf("consecutive function_call items must merge into one assistant turn: %+v", asst.Parts)
	}
	if r.Messages[3].Parts[0].Result.Name != "get_weather" {
		t.Errorf("tool result name not resolved")
	}
	if protocol.JoinText(r.System, "") != "Be brief." || *r.MaxTokens != 64 || r.Reasoning.Effort != "high" || r.Format.Name != "w" {
		t.Errorf("top-level fields not decoded: %+v", r)
	}
	if len(r.Tools) != 2 || r.Tools[1].Raw == nil || r.ToolChoice.Name != "get_weather" {
		t.Errorf("tools: %+v", r.Tools)
	}
	if string(r.Extra["previous_response_id"]) != `"resp_0"` {
		t.Errorf("previous_response_id must stay in Extra for the handler to see")
	}
	// A hosted tool cannot go to a chat provider.
	if _, err := (Chat{}).EncodeRequest(r); err == nil {
		t.Errorf("hosted tool accepted by chat encoder")
	}
	r.Tools = r.Tools[:1]
	var re *protocol.RequestError
	if _, err := (Chat{}).EncodeRequest(r); !errors.As(err, &re) || re.Field != "previous_response_id" {
		t.Errorf("previous_response_id cannot be honoured by a chat provider: err = %v", err)
	}
	delete(r.Extra, "previous_response_id")
	b, err := Chat{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{`"role":"system","content":"Be brief."`, `"tool_call_id":"call_2"`, `"max_tokens":64`, `"reasoning_effort":"high"`, `"json_schema":{"name":"w"`} {
		if !strings.Contains(s, w) {
			t.Errorf("chat body misses %s: %s", w, s)
		}
	}
	if strings.Contains(s, "previous_response_id") || strings.Contains(s, "store") {
		t.Errorf("Responses-only fields leaked into a chat request: %s", s)
	}
}

func TestResponsesDecodeErrors(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{"model":"m"}`, "input"},
		{`{"model":"m","input":5}`, "input"},
		{`{"model":"m","input":[{"type":"function_call","call_id":"c","name":"f","arguments":"{x"}]}`, "input[0].arguments"},
		{`{"model":"m","input":[{"type":"message","role":"wizard","content":"x"}]}`, "input[0].role"},
	}
	for _, c := range cases {
		_, err := Responses{}.DecodeRequest([]byte(c.body))
		var re *protocol.RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: err = %v, want field %q", c.body, err, c.field)
		}
	}
}

func TestResponsesEncodeResponse(t *testing.T) {
	r := &protocol.Response{Model: "m", Stop: protocol.StopLength, Usage: protocol.Usage{Input: 3, Output: 4, Reasoning: 1},
		Parts: []protocol.Part{{Kind: protocol.PartReasoning, Text: "r"}, {Kind: protocol.PartText, Text: "hi"},
			{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_1", Name: "f", Args: json.RawMessage(`{}`)}}}}
	b, err := Responses{}.EncodeResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	var out struct {
		ID                string `json:"id"`
		Status            string `json:"status"`
		IncompleteDetails struct {
			Reason string `json:"reason"`
		} `json:"incomplete_details"`
		Output []struct {
			Type   string `json:"type"`
			CallID string `json:"call_id"`
		} `json:"output"`
		Usage struct {
			TotalTokens int `json:"total_tokens"`
		} `json:"usage"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out.ID, "resp_") || out.Status != "incomplete" || out.IncompleteDetails.Reason != "max_output_tokens" || out.Usage.TotalTokens != 7 {
		t.Errorf("response %s", b)
	}
	if len(out.Output) != 3 || out.Output[0].Type != "reasoning" || out.Output[1].Type != "message" || out.Output[2].CallID != "call_1" {
		t.Errorf("output items %s", b)
	}
}

func TestCompletions(t *testing.T) {
	r, err := Completions{}.DecodeRequest([]byte(`{"model":"m","prompt":["Once"],"max_tokens":5,"echo":true,"stream":true}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Texts()[0] != "Once" || *r.MaxTokens != 5 || !r.Stream || r.Extra["echo"] == nil {
		t.Errorf("decoded %+v", r)
	}
	if _, err := (Completions{}).DecodeRequest([]byte(`{"model":"m","prompt":["a","b"]}`)); err == nil {
		t.Errorf("several prompts must be rejected")
	}
	b, _ := Completions{}.EncodeResponse(&protocol.Response{Model: "m", Parts: []protocol.Part{{Kind: protocol.PartText, Text: "upon"}}})
	if !strings.Contains(string(b), `"object":"text_completion"`) || !strings.Contains(string(b), `"text":"upon","finish_reason":"stop"`) {
		t.Errorf("completion %s", b)
	}
}

func TestEmbeddings(t *testing.T) {
	req, err := Embeddings{}.DecodeEmbedRequest([]byte(`{"model":"e","input":["a","b"],"encoding_format":"base64","dimensions":2}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(req.Input) != 2 || !req.Base64 || *req.Dimensions != 2 {
		t.Fatalf("decoded %+v", req)
	}
	up, _ := Embeddings{}.EncodeEmbedRequest(req)
	if !strings.Contains(string(up), `"encoding_format":"float"`) {
		t.Errorf("upstream must be asked for floats: %s", up)
	}
	res := &protocol.EmbedResponse{Model: "e", Vectors: [][]float32{{0.5, -1}, {2, 0.25}}, Input: 3}
	b, err := Embeddings{}.EncodeEmbedResponse(req, res)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Embeddings{}.DecodeEmbedResponse(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Vectors) != 2 || back.Vectors[1][1] != 0.25 || back.Vectors[0][1] != -1 || back.Input != 3 {
		t.Errorf("base64 round trip: %+v from %s", back, b)
	}
	for _, body := range []string{`{"model":"e"}`, `{"model":"e","input":[]}`, `{"model":"e","input":"x","encoding_format":"hex"}`} {
		if _, err := (Embeddings{}).DecodeEmbedRequest([]byte(body)); err == nil {
			t.Errorf("%s accepted", body)
		}
	}
	tok, err := Embeddings{}.DecodeEmbedRequest([]byte(`{"model":"e","input":[[1,2],[3]]}`))
	if err != nil || len(tok.Tokens) != 2 {
		t.Errorf("token arrays: %v %+v", err, tok)
	}
}
