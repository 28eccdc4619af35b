package protocol_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/anthropic"
	"github.com/llmrouter/llm-router/caddymodule/protocol/ollama"
	"github.com/llmrouter/llm-router/caddymodule/protocol/openai"
)

// The same conversation (system, user, assistant tool calls, tool results,
// follow-up) in each chat dialect.
var conversations = map[string]string{
	"openai": `{"model":"m","max_tokens":300,"temperature":0.3,"stop":["END"],"messages":[
	 {"role":"system","content":"Be brief."},
	 {"role":"user","content":"Weather in Oslo and Rome?"},
	 {"role":"assistant","content":"Checking.","tool_calls":[
	   {"id":"call_1","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Oslo\"}"}},
	   {"id":"call_2","type":"function","function":{"name":"get_weather","arguments":"{\"city\":\"Rome\"}"}}]},
	 {"role":"tool","tool_call_id":"call_1","content":"4C"},
	 {"role":"tool","tool_call_id":"call_2","content":"20C"},
	 {"role":"user","content":"Thanks"}],
	 "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`,
	"anthropic": `{"model":"m","max_tokens":300,"temperature":0.3,"stop_sequences":["END"],"system":"Be brief.","messages":[
	 {"role":"user","content":"Weather in Oslo and Rome?"},
	 {"role":"assistant","content":[{"type":"text","text":"Checking."},
	   {"type":"tool_use","id":"call_1","name":"get_weather","input":{"city":"Oslo"}},
	   {"type":"tool_use","id":"call_2","name":"get_weather","input":{"city":"Rome"}}]},
	 {"role":"user","content":[{"type":"tool_result","tool_use_id":"call_1","content":"4C"},{"type":"tool_result","tool_use_id":"call_2","content":"20C"}]},
	 {"role":"user","content":"Thanks"}],
	 "tools":[{"name":"get_weather","input_schema":{"type":"object","properties":{"city":{"type":"string"}}}}]}`,
	"ollama": `{"model":"m","stream":false,"options":{"num_predict":300,"temperature":0.3,"stop":["END"]},"messages":[
	 {"role":"system","content":"Be brief."},
	 {"role":"user","content":"Weather in Oslo and Rome?"},
	 {"role":"assistant","content":"Checking.","tool_calls":[
	   {"id":"call_1","function":{"index":0,"name":"get_weather","arguments":{"city":"Oslo"}}},
	   {"id":"call_2","function":{"index":1,"name":"get_weather","arguments":{"city":"Rome"}}}]},
	 {"role":"tool","tool_call_id":"call_1","tool_name":"get_weather","content":"4C"},
	 {"role":"tool","tool_call_id":"call_2","tool_name":"get_weather","content":"20C"},
	 {"role":"user","content":"Thanks"}],
	 "tools":[{"type":"function","function":{"name":"get_weather","parameters":{"type":"object","properties":{"city":{"type":"string"}}}}}]}`,
}

var chatCodecs = map[string]protocol.Codec{"openai": openai.Chat{}, "anthropic": anthropic.Messages{}, "ollama": ollama.Chat{}}

// summary is what a user checks survives translation.
func summary(r *protocol.Request) string {
	var b strings.Builder
	fmt.Fprintf(&b, "texts=%q ", r.Texts())
	for _, m := range r.Messages {
		for _, p := range m.Parts {
			if p.Call != nil {
				fmt.Fprintf(&b, "call(%s,%s,%s) ", p.Call.ID, p.Call.Name, p.Call.Args)
			}
			if p.Result != nil {
				fmt.Fprintf(&b, "result(%s) ", p.Result.CallID)
			}
		}
	}
	fmt.Fprintf(&b, "tools=%d max=%d temp=%v stop=%v", len(r.Tools), *r.MaxTokens, *r.Temperature, r.Stop)
	return b.String()
}

func TestRequestRoundTripAcrossDialects(t *testing.T) {
	for from, body := range conversations {
		src, err := chatCodecs[from].DecodeRequest([]byte(body))
		if err != nil {
			t.Fatalf("%s decode: %v", from, err)
		}
		want := summary(src)
		for to, codec := range chatCodecs {
			t.Run(from+"_to_"+to, func(t *testing.T) {
				up, err := codec.EncodeRequest(src)
				if err != nil {
					t.Fatalf("encode: %v", err)
				}
				got, err := codec.DecodeRequest(up)
				if err != nil {
					t.Fatalf("provider body does not decode: %v\n%s", err, up)
				}
				if s := summary(got); s != want {
					t.Errorf("conversation changed:\n got %s\nwant %s\nbody %s", s, want, up)
				}
			})
		}
	}
}

func TestResponseRoundTripAcrossDialects(t *testing.T) {
	clientCodecs := map[string]protocol.ClientCodec{"openai": openai.Chat{}, "anthropic": anthropic.Messages{}, "ollama": ollama.Chat{}, "responses": openai.Responses{}}
	orig := &protocol.Response{Model: "m", Stop: protocol.StopToolUse, Usage: protocol.Usage{Input: 10, Output: 5},
		Parts: []protocol.Part{{Kind: protocol.PartText, Text: "Checking."},
			{Kind: protocol.PartToolCall, Call: &protocol.ToolCall{ID: "call_1", Name: "get_weather", Args: json.RawMessage(`{"city":"Oslo"}`)}}}}
	for up, pc := range chatCodecs {
		// The provider answers in its own dialect...
		body, err := pc.EncodeResponse(orig)
		if err != nil {
			t.Fatal(err)
		}
		cres, err := pc.DecodeResponse(body)
		if err != nil {
			t.Fatalf("%s: %v", up, err)
		}
		for client, cc := range clientCodecs {
			t.Run(up+"_to_"+client, func(t *testing.T) {
				out, err := cc.EncodeResponse(cres)
				if err != nil {
					t.Fatal(err)
				}
				s := string(out)
				for _, w := range []string{"Checking.", "get_weather", `city`, "Oslo"} {
					if !strings.Contains(s, w) {
						t.Errorf("missing %s in %s", w, s)
					}
				}
				if back, ok := cc.(protocol.ProviderCodec); ok {
					r2, err := back.DecodeResponse(out)
					if err != nil {
						t.Fatal(err)
					}
					if r2.Stop != protocol.StopToolUse || r2.Text() != "Checking." || r2.Usage.Input != 10 || r2.Usage.Output != 5 {
						t.Errorf("semantic loss: %+v from %s", r2, s)
					}
				}
			})
		}
	}
}

func TestEmbeddingsAcrossDialects(t *testing.T) {
	oa, oe := openai.Embeddings{}, ollama.Embed{}
	req, err := oa.DecodeEmbedRequest([]byte(`{"model":"e","input":["a","b"],"encoding_format":"base64"}`))
	if err != nil {
		t.Fatal(err)
	}
	up, err := oe.EncodeEmbedRequest(req)
	if err != nil || string(up) != `{"model":"e","input":["a","b"]}` {
		t.Fatalf("%v %s", err, up)
	}
	res, err := oe.DecodeEmbedResponse([]byte(`{"model":"e","embeddings":[[1,0],[0,1]],"prompt_eval_count":4}`))
	if err != nil {
		t.Fatal(err)
	}
	out, _ := oa.EncodeEmbedResponse(req, res)
	if !strings.Contains(string(out), `"embedding":"AACAPwAAAAA="`) || !strings.Contains(string(out), `"prompt_tokens":4`) {
		t.Errorf("openai reply %s", out)
	}
	// and the other way: Ollama client, OpenAI provider
	oreq, _ := oe.DecodeEmbedRequest([]byte(`{"model":"e","input":"x"}`))
	up, _ = oa.EncodeEmbedRequest(oreq)
	if string(up) != `{"model":"e","input":["x"],"encoding_format":"float"}` {
		t.Errorf("openai request %s", up)
	}
	ores, _ := oa.DecodeEmbedResponse([]byte(`{"object":"list","data":[{"object":"embedding","index":0,"embedding":[0.5]}],"model":"e","usage":{"prompt_tokens":1,"total_tokens":1}}`))
	out, _ = oe.EncodeEmbedResponse(oreq, ores)
	if string(out) != `{"model":"e","embeddings":[[0.5]],"total_duration":0,"load_duration":0,"prompt_eval_count":1}` {
		t.Errorf("ollama reply %s", out)
	}
}
