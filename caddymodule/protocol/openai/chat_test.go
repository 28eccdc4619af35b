package openai

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

const fullChat = `{
 "model":"gpt-x","stream":true,"stream_options":{"include_usage":true},
 "messages":[
  {"role":"developer","content":"Be brief."},
  {"role":"user","content":[{"type":"text","text":"What is this?"},{"type":"image_url","image_url":{"url":"data:image/png;base64,iVBORw0KGgo=","detail":"low"}}]},
  {"role":"assistant","content":null,"tool_calls":[{"id":"call_a1","type":"function","function":{"name":"get_weather","arguments":"{\"city\": \"Oslo\"}"}}]},
  {"role":"tool","tool_call_id":"call_a1","content":"{\"temp_c\":4}"},
  {"role":"system","content":"late system"}
 ],
 "tools":[{"type":"function","function":{"name":"get_weather","description":"d","parameters":{"type":"object"},"strict":true}}],
 "tool_choice":{"type":"function","function":{"name":"get_weather"}},
 "parallel_tool_calls":false,
 "max_completion_tokens":100,"temperature":0.5,"top_p":0.9,"stop":"END","seed":7,
 "response_format":{"type":"json_schema","json_schema":{"name":"x","schema":{"type":"object"},"strict":true}},
 "reasoning_effort":"low","top_k":20,"metadata":{"k":"v"}
}`

func TestChatDecodeRequest(t *testing.T) {
	r, err := Chat{}.DecodeRequest([]byte(fullChat))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"model", r.Model == "gpt-x"},
		{"stream+usage", r.Stream && r.IncludeUsage},
		{"leading developer is system", protocol.JoinText(r.System, "") == "Be brief."},
		{"messages", len(r.Messages) == 4},
		{"image split", r.Messages[0].Parts[1].Image != nil && r.Messages[0].Parts[1].Image.MediaType == "image/png" && r.Messages[0].Parts[1].Image.Data == "iVBORw0KGgo="},
		{"tool call args compact", string(r.Messages[1].Parts[0].Call.Args) == `{"city":"Oslo"}`},
		{"tool result with name", r.Messages[2].Role == protocol.RoleTool && r.Messages[2].Parts[0].Result.Name == "get_weather"},
		{"late system stays", r.Messages[3].Role == protocol.RoleSystem},
		{"tools", len(r.Tools) == 1 && r.Tools[0].Strict != nil && *r.Tools[0].Strict},
		{"tool choice", r.ToolChoice == protocol.ToolChoice{Mode: protocol.ToolNamed, Name: "get_weather"}},
		{"parallel", r.ParallelTools != nil && !*r.ParallelTools},
		{"max tokens", r.MaxTokens != nil && *r.MaxTokens == 100},
		{"stop", len(r.Stop) == 1 && r.Stop[0] == "END"},
		{"seed", r.Seed != nil && *r.Seed == 7},
		{"format", r.Format != nil && r.Format.Kind == protocol.FormatJSONSchema && r.Format.Name == "x"},
		{"reasoning", r.Reasoning != nil && r.Reasoning.Effort == "low"},
		{"top_k", r.TopK != nil && *r.TopK == 20},
		{"extra kept", string(r.Extra["metadata"]) == `{"k":"v"}`},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not decoded as expected", c.name)
		}
	}
}

func TestChatDecodeRequestErrors(t *testing.T) {
	cases := []struct{ body, field string }{
		{`[]`, ""},
		{`{"messages":[{"role":"user","content":"x"}]}`, "model"},
		{`{"model":"m"}`, "messages"},
		{`{"model":"m","messages":[{"role":"wizard","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content"},
		{`{"model":"m","messages":[{"role":"tool","content":"x"}]}`, "messages[0].tool_call_id"},
		{`{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}`, "messages[0].tool_calls[0].function.arguments"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"temperature":"hot"}`, "temperature"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"max_tokens":1.5}`, "max_tokens"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"tool_choice":"sometimes"}`, "tool_choice"},
		{`{"model":"m","messages":[{"role":"user","content":"x"}],"response_format":{"type":"yaml"}}`, "response_format.type"},
		{`{"model":"m","messages":[{"role":"user","content":[{"type":"image_url","image_url":{}}]}]}`, "messages[0].content[0].image_url.url"},
	}
	for _, c := range cases {
		_, err := Chat{}.DecodeRequest([]byte(c.body))
		var re *protocol.RequestError
		if !errors.As(err, &re) {
			t.Errorf("%s: err = %v, want *RequestError", c.body, err)
			continue
		}
		if re.Field != c.field {
			t.Errorf("%s: field = %q (%v), want %q", c.body, re.Field, err, c.field)
		}
	}
}

func TestChatEncodeRequest(t *testing.T) {
	r, err := Chat{}.DecodeRequest([]byte(fullChat))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		codec  Chat
		stream bool
		want   []string
		absent []string
	}{
		{"compatible stream", Chat{}, true, []string{`"stream":true`, `"stream_options":{"include_usage":true}`, `"max_tokens":100`, `"top_k":20`, `"metadata":{"k":"v"}`}, []string{"max_completion_tokens"}},
		{"official non-stream", Chat{Official: true}, false, []string{`"stream":false`, `"max_completion_tokens":100`}, []string{"stream_options", `"top_k"`}},
	}
	for _, c := range cases {
		r.Stream = c.stream
		b, err := c.codec.EncodeRequest(r)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		s := string(b)
		for _, w := range c.want {
			if !strings.Contains(s, w) {
				t.Errorf("%s: missing %s in %s", c.name, w, s)
			}
		}
		for _, a := range c.absent {
			if strings.Contains(s, a) {
				t.Errorf("%s: unexpected %s in %s", c.name, a, s)
			}
		}
		// and it must decode back to the same conversation
		back, err := Chat{}.DecodeRequest(b)
		if err != nil {
			t.Fatalf("%s: re-decode: %v", c.name, err)
		}
		if strings.Join(back.Texts(), "|") != strings.Join(r.Texts(), "|") || len(back.Messages) != len(r.Messages) {
			t.Errorf("%s: round trip changed the conversation: %q vs %q", c.name, back.Texts(), r.Texts())
		}
	}
}

func TestChatEncodeRejectsForeignParts(t *testing.T) {
	r := &protocol.Request{Model: "m", Messages: []protocol.Message{{Role: protocol.RoleUser, Parts: []protocol.Part{
		{Kind: protocol.PartOther, Raw: json.RawMessage(`{"type":"document"}`), Origin: protocol.Anthropic}}}}}
	_, err := Chat{}.EncodeRequest(r)
	var re *protocol.RequestError
	if !errors.As(err, &re) || re.Field != "messages[0].content[0]" {
		t.Fatalf("err = %v, want RequestError on messages[0].content[0]", err)
	}
}

func TestChatResponseRoundTrip(t *testing.T) {
	up := `{"id":"chatcmpl-1","object":"chat.completion","created":1760000000,"model":"gpt-x",
	 "choices":[{"index":0,"finish_reason":"tool_calls","message":{"role":"assistant","content":"Checking","reasoning_content":"hmm",
	   "tool_calls":[{"id":"call_a1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}}]}}],
	 "usage":{"prompt_tokens":50,"completion_tokens":12,"total_tokens":62,"prompt_tokens_details":{"cached_tokens":5}}}`
	r, err := Chat{}.DecodeResponse([]byte(up))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop != protocol.StopToolUse || r.Usage.Input != 50 || r.Usage.CacheRead != 5 || r.Text() != "Checking" || len(r.Parts) != 3 {
		t.Fatalf("decoded %+v", r)
	}
	out, err := Chat{}.EncodeResponse(r)
	if err != nil {
		t.Fatal(err)
	}
	r2, err := Chat{}.DecodeResponse(out)
	if err != nil {
		t.Fatal(err)
	}
	if r2.Stop != r.Stop || r2.Usage != r.Usage || r2.Text() != r.Text() || string(r2.Parts[2].Call.Args) != `{"city":"Oslo"}` {
		t.Errorf("round trip: %+v\nvs %+v", r2, r)
	}
}

func TestChatDecodeResponseErrors(t *testing.T) {
	for _, body := range []string{`not json`, `{"choices":[]}`} {
		if _, err := (Chat{}).DecodeResponse([]byte(body)); !errors.Is(err, protocol.ErrUpstream) {
			t.Errorf("%s: err = %v, want ErrUpstream", body, err)
		}
	}
}

func TestWriteError(t *testing.T) {
	cases := []struct {
		status int
		typ    string
		code   any
	}{
		{400, "invalid_request_error", nil},
		{401, "invalid_request_error", "invalid_api_key"},
		{404, "invalid_request_error", "model_not_found"},
		{429, "rate_limit_exceeded", nil},
		{502, "server_error", nil},
	}
	for _, c := range cases {
		w := httptest.NewRecorder()
		WriteError(w, c.status, `bad "thing"`)
		var body struct {
			Error struct {
				Message string `json:"message"`
				Type    string `json:"type"`
				Param   any    `json:"param"`
				Code    any    `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		if w.Code != c.status || body.Error.Type != c.typ || body.Error.Message != `bad "thing"` || body.Error.Code != c.code {
			t.Errorf("%d: got %d %+v", c.status, w.Code, body.Error)
		}
		if ct := w.Header().Get("Content-Type"); ct != "application/json" {
			t.Errorf("content type %q", ct)
		}
	}
}
