package anthropic

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestDecodeRequest(t *testing.T) {
	body := `{"model":"claude-x","max_tokens":1024,"system":[{"type":"text","text":"Be brief."}],
	 "messages":[
	  {"role":"user","content":[{"type":"text","text":"Weather?"},{"type":"image","source":{"type":"base64","media_type":"image/png","data":"iVBOR"}}]},
	  {"role":"assistant","content":[{"type":"thinking","thinking":"hm","signature":"sig"},{"type":"tool_use","id":"toolu_1","name":"get_weather","input":{"city":"Oslo"}}]},
	  {"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"4C","is_error":false},{"type":"text","text":"and Rome?"}]}
	 ],
	 "tools":[{"name":"get_weather","input_schema":{"type":"object"}},{"type":"web_search_20250305","name":"web_search"}],
	 "tool_choice":{"type":"any","disable_parallel_tool_use":true},
	 "thinking":{"type":"enabled","budget_tokens":2048},"stop_sequences":["END"],"top_k":5,"metadata":{"user_id":"u1"},"service_tier":"auto"}`
	r, err := Messages{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.Texts(), "|"); got != "Be brief.|Weather?|Oslo|4C|and Rome?" {
		t.Errorf("texts %q", got)
	}
	if len(r.Messages) != 4 || r.Messages[2].Role != protocol.RoleTool || r.Messages[3].Role != protocol.RoleUser {
		t.Errorf("tool_result must split into a tool turn then a user turn: %+v", r.Messages)
	}
	if c := r.Messages[1].Parts[1].Call; c == nil || string(c.Args) != `{"city":"Oslo"}` {
		t.Errorf("tool_use: %+v", r.Messages[1].Parts)
	}
	if r.Messages[1].Parts[0].Signature != "sig" {
		t.Errorf("thinking signature lost")
	}
	if r.ToolChoice.Mode != protocol.ToolRequired || r.ParallelTools == nil || *r.ParallelTools {
		t.Errorf("tool choice %+v", r.ToolChoice)
	}
	if r.Reasoning == nil || r.Reasoning.Budget != 2048 || r.User != "u1" || *r.TopK != 5 || r.Stop[0] != "END" {
		t.Errorf("fields %+v", r)
	}
	if len(r.Tools) != 2 || r.Tools[1].Raw == nil || string(r.Extra["service_tier"]) != `"auto"` {
		t.Errorf("tools/extra %+v %v", r.Tools, r.Extra)
	}
	// Back to Anthropic: same shape.
	b, err := Messages{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"max_tokens":1024`, `"system":"Be brief."`, `"signature":"sig"`, `"service_tier":"auto"`, `"type":"web_search_20250305"`,
		`{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":"4C"},{"type":"text","text":"and Rome?"}]}`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("missing %s in %s", w, b)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{"model":"m","messages":[{"role":"user","content":"x"}]}`, "max_tokens"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"system","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","max_tokens":5,"messages":[]}`, "messages"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":[{"text":"x"}]}]}`, "messages[0].content[0].type"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"thinking":{"type":"enabled"}}`, "thinking.budget_tokens"},
		{`{"model":"m","max_tokens":5,"messages":[{"role":"user","content":"x"}],"tool_choice":{"type":"maybe"}}`, "tool_choice.type"},
		{`{"model":"m","max_tokens":5,"system":[{"type":"image"}],"messages":[{"role":"user","content":"x"}]}`, "system[0].type"},
	}
	for _, c := range cases {
		_, err := Messages{}.DecodeRequest([]byte(c.body))
		var re *protocol.RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: err = %v, want field %q", c.body, err, c.field)
		}
	}
}

func ptr[T any](v T) *T { return &v }

func TestEncodeRequestFromOtherDialects(t *testing.T) {
	base := func() *protocol.Request {
		return &protocol.Request{Model: "claude-x", Origin: protocol.OpenAIChat,
			System: []protocol.Part{{Kind: protocol.PartText, Text: "sys"}},
			Messages: []protocol.Message{
				{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "q"}, {Kind: protocol.PartImage, Image: &protocol.Image{URL: "data:image/jpeg;base64,/9j/4A"}}}},
				{Role: protocol.RoleAssistant, Parts: []protocol.Part{{Kind: protocol.PartReasoning, Text: "gateway-made"}, {Kind: protocol.PartText, Text: ""},
					{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_1", Name: "a", Args: json.RawMessage(`{}`)}},
					{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_2", Name: "b", Args: json.RawMessage(`{"x":1}`)}}}},
				{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: &protocol.ToolResult{CallID: "call_1", Content: []protocol.Part{{Kind: protocol.PartText, Text: "r1"}}}}}},
				{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: &protocol.ToolResult{CallID: "call_2", IsError: true, Content: []protocol.Part{{Kind: protocol.PartText, Text: "r2"}}}}}},
				{Role: protocol.RoleSystem, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "late"}}},
				{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "more"}}},
			},
			Tools:       []protocol.Tool{{Name: "a"}, {Name: "b", Schema: json.RawMessage(`{"type":"object","properties":{"x":{"type":"integer"}}}`)}},
			Temperature: ptr(1.7), Seed: ptr[int64](3), Extra: map[string]json.RawMessage{"logit_bias": json.RawMessage(`{}`)},
		}
	}
	cases := []struct {
		name   string
		edit   func(r *protocol.Request)
		codec  Messages
		want   []string
		absent []string
		errFld string
	}{
		{name: "defaults", edit: func(*protocol.Request) {}, want: []string{
			`"max_tokens":4096`, `"system":"sys\n\nlate"`, `"temperature":1`,
			`"source":{"type":"base64","media_type":"image/jpeg","data":"/9j/4A"}`,
			`{"role":"assistant","content":[{"type":"tool_use","id":"call_1","name":"a","input":{}},{"type":"tool_use","id":"call_2","name":"b","input":{"x":1}}]}`,
			`{"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"r1"},{"type":"tool_result","tool_use_id":"call_2","content":"r2","is_error":true},{"type":"text","text":"more"}]}`,
			`"input_schema":{"type":"object","properties":{}}`,
		}, absent: []string{"gateway-made", "seed", "logit_bias", `"text":""`}},
		{name: "configured max tokens", edit: func(*protocol.Request) {}, codec: Messages{MaxTokens: 999}, want: []string{`"max_tokens":999`}},
		{name: "thinking fits max_tokens", edit: func(r *protocol.Request) {
			r.MaxTokens = ptr(3000)
			r.Reasoning = &protocol.Reasoning{Effort: "high"}
		}, want: []string{`"thinking":{"type":"enabled","budget_tokens":2999}`}},
		{name: "tool choice", edit: func(r *protocol.Request) {
			r.ToolChoice = protocol.ToolChoice{Mode: protocol.ToolNamed, Name: "b"}
			r.ParallelTools = ptr(false)
		}, want: []string{`"tool_choice":{"type":"tool","name":"b","disable_parallel_tool_use":true}`}},
		{name: "json mode", edit: func(r *protocol.Request) { r.Format = &protocol.Format{Kind: protocol.FormatJSON} }, want: []string{"valid JSON object"}},
		{name: "n>1 rejected", edit: func(r *protocol.Request) { r.N = 2 }, errFld: "n"},
		{name: "bad image type", edit: func(r *protocol.Request) {
			r.Messages[0].Parts[1].Image = &protocol.Image{MediaType: "image/tiff", Data: "AAAA"}
		}, errFld: "messages[0].content[1]"},
		{name: "foreign part", edit: func(r *protocol.Request) {
			r.Messages[0].Parts[1] = protocol.Part{Kind: protocol.PartOther, Raw: json.RawMessage(`{"type":"input_audio"}`), Origin: protocol.OpenAIChat}
		}, errFld: "messages[0].content[1]"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := base()
			c.edit(r)
			b, err := c.codec.EncodeRequest(r)
			if c.errFld != "" {
				var re *protocol.RequestError
				if !errors.As(err, &re) || re.Field != c.errFld {
					t.Fatalf("err = %v, want field %q", err, c.errFld)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, w := range c.want {
				if !strings.Contains(string(b), w) {
					t.Errorf("missing %s in\n%s", w, b)
				}
			}
			for _, a := range c.absent {
				if strings.Contains(string(b), a) {
					t.Errorf("unexpected %s in\n%s", a, b)
				}
			}
			if _, err := (Messages{}).DecodeRequest(b); err != nil {
				t.Errorf("our own output does not decode: %v", err)
			}
		})
	}
}

func TestResponseRoundTrip(t *testing.T) {
	up := `{"id":"msg_01","type":"message","role":"assistant","model":"claude-x",
	 "content":[{"type":"thinking","thinking":"t","signature":"s"},{"type":"text","text":"Let me check."},{"type":"tool_use","id":"toolu_01","name":"get_weather","input":{"city":"Oslo"}}],
	 "stop_reason":"tool_use","stop_sequence":null,
	 "usage":{"input_tokens":40,"output_tokens":25,"cache_creation_input_tokens":3,"cache_read_input_tokens":7}}`
	r, err := Messages{}.DecodeResponse([]byte(up))
	if err != nil {
		t.Fatal(err)
	}
	if r.Usage.Input != 50 || r.Usage.CacheRead != 7 || r.Stop != protocol.StopToolUse || len(r.Parts) != 3 {
		t.Fatalf("decoded %+v", r)
	}
	b, _ := Messages{}.EncodeResponse(r)
	for _, w := range []string{`"id":"msg_01"`, `"stop_reason":"tool_use"`, `"input_tokens":40`, `"cache_read_input_tokens":7`, `"input":{"city":"Oslo"}`, `"signature":"s"`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("missing %s in %s", w, b)
		}
	}
	seq := &protocol.Response{Stop: protocol.StopSequence, StopSequence: "END"}
	b, _ = Messages{}.EncodeResponse(seq)
	if !strings.Contains(string(b), `"stop_reason":"stop_sequence","stop_sequence":"END"`) || !strings.Contains(string(b), `"content":[]`) {
		t.Errorf("stop sequence / empty content: %s", b)
	}
	if _, err := (Messages{}).DecodeResponse([]byte(`{"type":"error"}`)); !errors.Is(err, protocol.ErrUpstream) {
		t.Errorf("error object accepted as a message: %v", err)
	}
}

func TestWriteError(t *testing.T) {
	cases := map[int]string{400: "invalid_request_error", 401: "authentication_error", 403: "permission_error", 404: "not_found_error",
		413: "request_too_large", 429: "rate_limit_error", 500: "api_error", 502: "api_error", 529: "overloaded_error", 503: "overloaded_error", 504: "timeout_error"}
	for status, typ := range cases {
		w := httptest.NewRecorder()
		WriteError(w, status, "m")
		var body struct {
			Type  string `json:"type"`
			Error struct{ Type, Message string }
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != status || body.Type != "error" || body.Error.Type != typ || body.Error.Message != "m" {
			t.Errorf("%d: %d %s", status, w.Code, w.Body)
		}
	}
}

func TestToolIDsMadeValid(t *testing.T) {
	r := &protocol.Request{Model: "m", Messages: []protocol.Message{
		{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "q"}}},
		{Role: protocol.RoleAssistant, Parts: []protocol.Part{{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "functions.get_weather:0", Name: "get_weather", Args: json.RawMessage(`{}`)}}}},
		{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: &protocol.ToolResult{CallID: "functions.get_weather:0", Content: []protocol.Part{{Kind: protocol.PartText, Text: "4C"}}}}}},
	}}
	b, err := Messages{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	back, err := Messages{}.DecodeRequest(b)
	if err != nil {
		t.Fatal(err)
	}
	use, res := back.Messages[1].Parts[0].Call.ID, back.Messages[2].Parts[0].Result.CallID
	if use != res || strings.ContainsAny(use, ".:") || !strings.HasPrefix(use, "toolu_") {
		t.Errorf("tool_use id %q, tool_result id %q", use, res)
	}
	if toolID("call_ok-1") != "call_ok-1" {
		t.Errorf("valid ids must pass unchanged")
	}
}
