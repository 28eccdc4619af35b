package ollama

import (
	"encoding/json"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

func TestDecodeRequest(t *testing.T) {
	body := `{"model":"llama3.2","messages":[
	   {"role":"system","content":"Be brief."},
	   {"role":"user","content":"What is this?","images":["iVBORw0KGgo"]},
	   {"role":"assistant","content":"","tool_calls":[{"function":{"index":0,"name":"get_weather","arguments":{"city":"Tokyo"}}}]},
	   {"role":"tool","content":"11C","tool_name":"get_weather"}],
	 "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object"}}}],
	 "format":"json","options":{"temperature":0.2,"num_ctx":8192,"num_predict":100,"stop":["x"],"seed":-1},
	 "keep_alive":"5m","think":"high"}`
	r, err := Chat{}.DecodeRequest([]byte(body))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name string
		ok   bool
	}{
		{"streams by default", r.Stream},
		{"system", protocol.JoinText(r.System, "") == "Be brief."},
		{"image", r.Messages[0].Parts[1].Image != nil && r.Messages[0].Parts[1].Image.Data == "iVBORw0KGgo"},
		{"tool call id minted", r.Messages[1].Parts[0].Call.ID != ""},
		{"tool result paired", r.Messages[2].Parts[0].Result.CallID == r.Messages[1].Parts[0].Call.ID},
		{"format", r.Format != nil && r.Format.Kind == protocol.FormatJSON},
		{"options mapped", *r.Temperature == 0.2 && *r.MaxTokens == 100 && r.Stop[0] == "x"},
		{"seed -1 means random", r.Seed == nil},
		{"unmapped options kept", string(r.Options["num_ctx"]) == "8192"},
		{"keep_alive", string(r.KeepAlive) == `"5m"`},
		{"think", r.Reasoning != nil && r.Reasoning.Effort == "high"},
	}
	for _, c := range checks {
		if !c.ok {
			t.Errorf("%s: not decoded as expected (%+v)", c.name, r)
		}
	}
	b, err := Chat{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range []string{`"keep_alive":"5m"`, `"num_ctx":8192`, `"num_predict":100`, `"format":"json"`, `"think":"high"`, `"stream":true`, `"images":["iVBORw0KGgo"]`, `"tool_name":"get_weather"`, `"arguments":{"city":"Tokyo"}`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("missing %s in %s", w, b)
		}
	}
}

func TestDecodeRequestErrors(t *testing.T) {
	cases := []struct{ body, field string }{
		{`{"messages":[]}`, "model"},
		{`{"model":"m","think":"extreme"}`, "think"},
		{`{"model":"m","format":"yaml"}`, "format"},
		{`{"model":"m","messages":[{"role":"robot","content":"x"}]}`, "messages[0].role"},
		{`{"model":"m","messages":[{"role":"user","images":[1]}]}`, "messages[0].images[0]"},
		{`{"model":"m","options":{"temperature":"warm"}}`, "options.temperature"},
	}
	for _, c := range cases {
		_, err := Chat{}.DecodeRequest([]byte(c.body))
		var re *protocol.RequestError
		if !errors.As(err, &re) || re.Field != c.field {
			t.Errorf("%s: err = %v, want field %q", c.body, err, c.field)
		}
	}
}

func TestEncodeRequestFromOpenAI(t *testing.T) {
	r := &protocol.Request{Model: "llama3.2", Origin: protocol.OpenAIChat, MaxTokens: new(int), Stream: false,
		Messages: []protocol.Message{
			{Role: protocol.RoleUser, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "a"}, {Kind: protocol.PartText, Text: "b"}, {Kind: protocol.PartImage, Image: &protocol.Image{MediaType: "image/png", Data: "AAA"}}}},
			{Role: protocol.RoleAssistant, Parts: []protocol.Part{{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_1", Name: "f", Args: json.RawMessage(`{"x":1}`)}}}},
			{Role: protocol.RoleTool, Parts: []protocol.Part{{Kind: protocol.PartToolResult, Result: &protocol.ToolResult{CallID: "call_1", IsError: true, Content: []protocol.Part{{Kind: protocol.PartText, Text: "boom"}}}}}},
		},
		Tools:      []protocol.Tool{{Name: "f"}, {Name: "g"}},
		ToolChoice: protocol.ToolChoice{Mode: protocol.ToolNamed, Name: "f"},
		Reasoning:  &protocol.Reasoning{Off: true},
		Format:     &protocol.Format{Kind: protocol.FormatJSONSchema, Schema: json.RawMessage(`{"type":"object"}`)},
		Options:    map[string]json.RawMessage{"num_ctx": json.RawMessage("1")}, // not Ollama origin: ignored
		Extra:      map[string]json.RawMessage{"user": json.RawMessage(`"u"`)},
	}
	*r.MaxTokens = 50
	b, err := Chat{}.EncodeRequest(r)
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	for _, w := range []string{`"stream":false`, `"content":"a\nb"`, `"images":["AAA"]`, `"role":"tool","content":"Error: boom","tool_name":"f","tool_call_id":"call_1"`,
		`"think":false`, `"format":{"type":"object"}`, `"options":{"num_predict":50}`} {
		if !strings.Contains(s, w) {
			t.Errorf("missing %s in %s", w, s)
		}
	}
	if strings.Contains(s, `"name":"g"`) || strings.Contains(s, "num_ctx") || strings.Contains(s, `"user":`) {
		t.Errorf("named tool choice must offer only that tool, foreign options/extra must be dropped: %s", s)
	}
	r.Messages[0].Parts[2].Image = &protocol.Image{URL: "https://x/y.png"}
	if _, err := (Chat{}).EncodeRequest(r); err == nil || !strings.Contains(err.Error(), "messages[0].content[2]") {
		t.Errorf("http image URL: err = %v", err)
	}
}

func TestResponseRoundTrip(t *testing.T) {
	up := `{"model":"llama3.2","created_at":"2025-07-07T20:22:19.20Z","message":{"role":"assistant","content":"","thinking":"t",
	  "tool_calls":[{"function":{"index":0,"name":"f","arguments":{"a":1}}}]},"done":true,"done_reason":"stop","prompt_eval_count":26,"eval_count":3}`
	r, err := Chat{}.DecodeResponse([]byte(up))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stop != protocol.StopToolUse || r.Usage.Input != 26 || len(r.Parts) != 2 || r.Parts[1].Call.ID == "" {
		t.Fatalf("decoded %+v", r)
	}
	b, _ := Chat{}.EncodeResponse(r)
	for _, w := range []string{`"done":true`, `"done_reason":"stop"`, `"thinking":"t"`, `"arguments":{"a":1}`, `"created_at":"2025-07-07T20:22:19.2Z"`, `"eval_count":3`} {
		if !strings.Contains(string(b), w) {
			t.Errorf("missing %s in %s", w, b)
		}
	}
	g, _ := Generate{}.EncodeResponse(&protocol.Response{Model: "m", Stop: protocol.StopLength, Parts: []protocol.Part{{Kind: protocol.PartText, Text: "hi"}}})
	if !strings.Contains(string(g), `"response":"hi"`) || !strings.Contains(string(g), `"done_reason":"length"`) || strings.Contains(string(g), `"message"`) {
		t.Errorf("generate reply %s", g)
	}
	if _, err := (Chat{}).DecodeResponse([]byte(`{"error":"model 'x' not found"}`)); !errors.Is(err, protocol.ErrUpstream) {
		t.Errorf("error body: %v", err)
	}
}

func TestGenerateDecode(t *testing.T) {
	r, err := Generate{}.DecodeRequest([]byte(`{"model":"m","prompt":"Why?","system":"S","images":["AA"],"stream":false,"raw":true,"options":{"top_k":3}}`))
	if err != nil {
		t.Fatal(err)
	}
	if r.Stream || strings.Join(r.Texts(), "|") != "S|Why?" || len(r.Messages[0].Parts) != 2 || *r.TopK != 3 || r.Extra["raw"] == nil {
		t.Errorf("decoded %+v", r)
	}
}

func TestEmbed(t *testing.T) {
	req, err := Embed{}.DecodeEmbedRequest([]byte(`{"model":"e","input":"x","truncate":false,"keep_alive":0,"options":{"num_ctx":2}}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Embed{}.EncodeEmbedRequest(req)
	if string(b) != `{"model":"e","input":["x"],"truncate":false,"keep_alive":0,"options":{"num_ctx":2}}` {
		t.Errorf("embed request %s", b)
	}
	res, err := Embed{}.DecodeEmbedResponse([]byte(`{"model":"e","embeddings":[[0.1,0.2]],"prompt_eval_count":2}`))
	if err != nil || res.Input != 2 || res.Vectors[0][1] != float32(0.2) {
		t.Fatalf("%v %+v", err, res)
	}
	legacy, err := Embeddings{}.DecodeEmbedRequest([]byte(`{"model":"e","prompt":"one"}`))
	if err != nil || legacy.Input[0] != "one" {
		t.Fatal(err)
	}
	two := &protocol.EmbedRequest{Model: "e", Input: []string{"a", "b"}}
	if _, err := (Embeddings{}).EncodeEmbedRequest(two); err == nil {
		t.Errorf("legacy endpoint accepted two inputs")
	}
	out, _ := Embeddings{}.EncodeEmbedResponse(legacy, res)
	if string(out) != `{"embedding":[0.1,0.2]}` {
		t.Errorf("legacy reply %s", out)
	}
	if _, err := (Embed{}).EncodeEmbedRequest(&protocol.EmbedRequest{Model: "e", Tokens: [][]int{{1}}}); err == nil {
		t.Errorf("token input accepted")
	}
}

func TestWriteError(t *testing.T) {
	w := httptest.NewRecorder()
	WriteError(w, 404, "model 'x' not found")
	if w.Code != 404 || strings.TrimSpace(w.Body.String()) != `{"error":"model 'x' not found"}` {
		t.Errorf("%d %s", w.Code, w.Body)
	}
}

// A final object always carries every count and duration real Ollama
// sends: the provider's own when an Ollama provider gave them, zero
// otherwise.
func TestFinalObjectMetrics(t *testing.T) {
	up := `{"model":"m","created_at":"2026-01-01T00:00:00Z","message":{"role":"assistant","content":"hi"},"done":true,"done_reason":"stop",
		"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}`
	res, err := Chat{}.DecodeResponse([]byte(up))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		res  *protocol.Response
		want string
	}{
		{"from an Ollama provider", res, `"total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000`},
		{"without metrics", &protocol.Response{Model: "m", Stop: protocol.StopEnd}, `"total_duration":0,"load_duration":0,"prompt_eval_count":0,"prompt_eval_duration":0,"eval_count":0,"eval_duration":0`},
	} {
		for _, gen := range []bool{false, true} {
			b, err := encodeResponse(tc.res, gen)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.want) {
				t.Errorf("%s (generate %v): %s", tc.name, gen, b)
			}
		}
	}
	eres, err := Embed{}.DecodeEmbedResponse([]byte(`{"model":"e","embeddings":[[1]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := Embed{}.EncodeEmbedResponse(nil, eres)
	if string(b) != `{"model":"e","embeddings":[[1]],"total_duration":14143917,"load_duration":1019500,"prompt_eval_count":8}` {
		t.Errorf("embed: %s", b)
	}
	b, _ = Embed{}.EncodeEmbedResponse(nil, &protocol.EmbedResponse{Model: "e"})
	if string(b) != `{"model":"e","embeddings":[],"total_duration":0,"load_duration":0,"prompt_eval_count":0}` {
		t.Errorf("embed without metrics: %s", b)
	}
}
