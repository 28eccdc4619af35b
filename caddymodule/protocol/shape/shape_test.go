package shape

import (
	"errors"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
	"github.com/llmrouter/llm-router/caddymodule/protocol/codecs"
)

type shapeCase struct {
	name string
	body string
	err  string // "field: message"; "" when valid
}

// lenient are the bad bodies the dialect's decoder lets through (and then
// forwards something else): there the check is the stricter one.
var lenient = map[string]bool{"openai-embeddings/null element": true, "ollama-embed/null element": true}

// The rules per dialect: each bad body names its field with the decoder's
// message, and the dialect's decoder refuses the same body (a passthrough
// request is refused like a translated one), while good bodies pass both.
var cases = map[protocol.Dialect][]shapeCase{
	protocol.OpenAIChat: {
		{"minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"full", `{"model":"m","messages":[{"role":"system","content":"s"},{"role":"user","content":[{"type":"text","text":"a"},{"type":"image_url","image_url":{"url":"https://x/i.png"}}],"name":"u"},
			{"role":"assistant","content":null,"tool_calls":[{"id":"c1","type":"function","function":{"name":"f","arguments":"{}"}}]},
			{"role":"tool","tool_call_id":"c1","content":"r"}],"stream":true,"stream_options":{"include_usage":true},"temperature":0.5,"top_p":1,
			"max_tokens":64,"max_completion_tokens":1e2,"n":1,"seed":-3,"stop":["x"],"tools":[{"type":"function","function":{"name":"f","parameters":{}}},{"type":"web_search"}],
			"tool_choice":"auto","parallel_tool_calls":false,"response_format":{"type":"json_object"},"user":"u","top_k":5,"min_p":0.1,"unknown":{"x":[1]}}`, ""},
		{"null members count as absent", `{"model":"m","messages":[{"role":"user","content":"hi","name":null}],"temperature":null,"tools":null}`, ""},
		{"repeated key: the last counts", `{"model":"m","messages":[{"role":"user","content":"hi"}],"stream":"yes","stream":false}`, ""},
		{"null message", `{"model":"m","messages":[null]}`, "messages[0]: must be a JSON object"},
		{"string message", `{"model":"m","messages":[{"role":"user","content":"a"},"hi"]}`, "messages[1]: must be a JSON object"},
		{"messages not an array", `{"model":"m","messages":{"role":"user"}}`, "messages: must be an array"},
		{"messages missing", `{"model":"m"}`, "messages: required and must not be empty"},
		{"messages empty", `{"model":"m","messages":[ ]}`, "messages: required and must not be empty"},
		{"unknown role", `{"model":"m","messages":[{"role":"robot","content":"hi"}]}`, `messages[0].role: unsupported role "robot"`},
		{"no role", `{"model":"m","messages":[{"content":"hi"}]}`, "messages[0].role: required"},
		{"role a number", `{"model":"m","messages":[{"role":1,"content":"hi"}]}`, "messages[0].role: must be a string"},
		{"content a number", `{"model":"m","messages":[{"role":"user","content":5}]}`, "messages[0].content: must be a string or an array of content parts"},
		{"content part null", `{"model":"m","messages":[{"role":"user","content":[null]}]}`, "messages[0].content[0]: must be a JSON object"},
		{"content part without type", `{"model":"m","messages":[{"role":"user","content":[{"text":"a"}]}]}`, "messages[0].content[0].type: required"},
		{"text part not a string", `{"model":"m","messages":[{"role":"user","content":[{"type":"text","text":{}}]}]}`, "messages[0].content[0].text: must be a string"},
		{"tool without call id", `{"model":"m","messages":[{"role":"user","content":"a"},{"role":"tool","content":"r"}]}`, "messages[1].tool_call_id: required on tool messages"},
		{"tool call without function", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"id":"c"}]}]}`, "messages[0].tool_calls[0].function: required"},
		{"tool call arguments an object", `{"model":"m","messages":[{"role":"assistant","tool_calls":[{"function":{"name":"f","arguments":{}}}]}]}`, "messages[0].tool_calls[0].function.arguments: must be a string"},
		{"model a number", `{"model":1,"messages":[{"role":"user","content":"a"}]}`, "model: must be a string"},
		{"stream a string", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream":"true"}`, "stream: must be a boolean"},
		{"temperature a string", `{"model":"m","messages":[{"role":"user","content":"a"}],"temperature":"0.2"}`, "temperature: must be a number"},
		{"max_tokens a fraction", `{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":1.5}`, "max_tokens: must be an integer"},
		{"max_tokens a string", `{"model":"m","messages":[{"role":"user","content":"a"}],"max_tokens":"64"}`, "max_tokens: must be an integer"},
		{"tools an object", `{"model":"m","messages":[{"role":"user","content":"a"}],"tools":{}}`, "tools: must be an array"},
		{"tool null", `{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[null]}`, "tools[0]: must be a JSON object"},
		{"function tool without name", `{"model":"m","messages":[{"role":"user","content":"a"}],"tools":[{"type":"function","function":{}}]}`, "tools[0].function.name: required"},
		{"stop a number", `{"model":"m","messages":[{"role":"user","content":"a"}],"stop":[1]}`, "stop: must be a string or an array of strings"},
		{"tool_choice unknown", `{"model":"m","messages":[{"role":"user","content":"a"}],"tool_choice":"always"}`, "tool_choice: must be none, auto, required or an object"},
		{"stream_options not an object", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream_options":true}`, "stream_options: must be a JSON object"},
		{"include_usage a string", `{"model":"m","messages":[{"role":"user","content":"a"}],"stream_options":{"include_usage":"y"}}`, "stream_options.include_usage: must be a boolean"},
	},
	protocol.OpenAICompletions: {
		{"minimal", `{"model":"m","prompt":"Once","max_tokens":5,"stop":"\n"}`, ""},
		{"prompt a number", `{"model":"m","prompt":5}`, "prompt: must be a string or an array"},
		{"n a string", `{"model":"m","prompt":"a","n":"2"}`, "n: must be an integer"},
	},
	protocol.OpenAIResponses: {
		{"string input", `{"model":"m","input":"hi","instructions":"be brief","max_output_tokens":10}`, ""},
		{"items", `{"model":"m","input":[{"role":"user","content":"hi"},{"type":"message","role":"assistant","content":[{"type":"output_text","text":"a"}]},
			{"type":"function_call","call_id":"c","name":"f","arguments":"{}"},{"type":"function_call_output","call_id":"c","output":"r"}],"tools":[{"type":"function","name":"f"}]}`, ""},
		{"input missing", `{"model":"m"}`, "input: required"},
		{"input a number", `{"model":"m","input":1}`, "input: must be a string or an array of input items"},
		{"null item", `{"model":"m","input":[null]}`, "input[0]: must be a JSON object"},
		{"unknown role", `{"model":"m","input":[{"role":"tool","content":"x"}]}`, `input[0].role: unsupported role "tool"`},
		{"max_output_tokens a string", `{"model":"m","input":"a","max_output_tokens":"5"}`, "max_output_tokens: must be an integer"},
		{"flat tool without name", `{"model":"m","input":"a","tools":[{"type":"function"}]}`, "tools[0].name: required"},
	},
	protocol.Anthropic: {
		{"minimal", `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":"hi"}]}`, ""},
		{"blocks", `{"model":"m","max_tokens":64,"system":[{"type":"text","text":"s"}],"messages":[{"role":"user","content":[{"type":"text","text":"a"}]},
			{"role":"assistant","content":[{"type":"tool_use","id":"t","name":"f","input":{}}]},{"role":"user","content":[{"type":"tool_result","tool_use_id":"t","content":"r"}]}],
			"temperature":1,"top_k":3,"stop_sequences":["x"],"stream":false,"metadata":{"user_id":"u"},"tools":[{"name":"f","input_schema":{}}],"tool_choice":{"type":"auto"}}`, ""},
		{"null message", `{"model":"m","max_tokens":64,"messages":[null]}`, "messages[0]: must be a JSON object"},
		{"system role", `{"model":"m","max_tokens":64,"messages":[{"role":"system","content":"x"}]}`, "messages[0].role: must be user or assistant"},
		{"max_tokens missing", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: required"},
		{"max_tokens a string", `{"model":"m","max_tokens":"64","messages":[{"role":"user","content":"hi"}]}`, "max_tokens: must be an integer"},
		{"block without type", `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":[{"text":"a"}]}]}`, "messages[0].content[0].type: required"},
		{"content a number", `{"model":"m","max_tokens":64,"messages":[{"role":"user","content":1}]}`, "messages[0].content: must be a string or an array of content blocks"},
		{"system image", `{"model":"m","max_tokens":64,"system":[{"type":"image"}],"messages":[{"role":"user","content":"a"}]}`, "system[0].type: must be text"},
		{"metadata a string", `{"model":"m","max_tokens":64,"metadata":"x","messages":[{"role":"user","content":"a"}]}`, "metadata: must be a JSON object"},
	},
	protocol.OllamaChat: {
		{"minimal", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`, ""},
		{"no messages (load the model)", `{"model":"m"}`, ""},
		{"full", `{"model":"m","messages":[{"role":"User","content":"hi","images":["aGk="]},{"role":"assistant","content":"","tool_calls":[{"function":{"name":"f","arguments":{"a":1}}}]},
			{"role":"tool","content":"r","tool_name":"f"}],"tools":[{"type":"function","function":{"name":"f"}}],"stream":false,"format":"json","think":"low",
			"options":{"num_predict":5,"temperature":0.1,"stop":["x"],"seed":1},"keep_alive":"5m"}`, ""},
		{"null message", `{"model":"m","messages":[null]}`, "messages[0]: must be a JSON object"},
		{"unknown role", `{"model":"m","messages":[{"role":"bot","content":"x"}]}`, `messages[0].role: unsupported role "bot"`},
		{"content an array", `{"model":"m","messages":[{"role":"user","content":[{"type":"text"}]}]}`, "messages[0].content: must be a string"},
		{"image a number", `{"model":"m","messages":[{"role":"user","content":"a","images":[1]}]}`, "messages[0].images[0]: must be a base64 string"},
		{"options a list", `{"model":"m","options":[1]}`, "options: must be a JSON object"},
		{"num_predict a string", `{"model":"m","options":{"num_predict":"5"}}`, "options.num_predict: must be an integer"},
		{"think a number", `{"model":"m","think":1}`, `think: must be a boolean or "low", "medium", "high"`},
		{"format unknown", `{"model":"m","format":"yaml"}`, `format: must be "json" or a JSON schema object`},
		{"tool of another type", `{"model":"m","tools":[{"type":"retrieval","function":{"name":"f"}}]}`, "tools[0].type: must be function"},
	},
	protocol.OpenAIEmbeddings: {
		{"string", `{"model":"m","input":"hi","encoding_format":"float","dimensions":8}`, ""},
		{"strings", `{"model":"m","input":["a","b"]}`, ""},
		{"tokens", `{"model":"m","input":[1,2,3]}`, ""},
		{"token arrays", `{"model":"m","input":[[1,2],[3]]}`, ""},
		{"input missing", `{"model":"m"}`, "input: required"},
		{"null element", `{"model":"m","input":[null]}`, "input: must be a string, an array of strings or token arrays"},
		{"mixed", `{"model":"m","input":["a",1]}`, "input: must be a string, an array of strings or token arrays"},
		{"object", `{"model":"m","input":{}}`, "input: must be a string, an array of strings or token arrays"},
		{"dimensions a string", `{"model":"m","input":"a","dimensions":"8"}`, "dimensions: must be an integer"},
		{"encoding_format a number", `{"model":"m","input":"a","encoding_format":1}`, "encoding_format: must be a string"},
	},
	protocol.OllamaEmbed: {
		{"strings", `{"model":"m","input":["a"],"truncate":true,"options":{"num_ctx":8}}`, ""},
		{"input a number", `{"model":"m","input":7}`, "input: must be a string or an array of strings"},
		{"null element", `{"model":"m","input":["a",null]}`, "input: must be a string or an array of strings"},
		{"truncate a string", `{"model":"m","input":"a","truncate":"yes"}`, "truncate: must be a boolean"},
	},
	protocol.OllamaEmbeddings: {
		{"prompt", `{"model":"m","prompt":"a"}`, ""},
		{"prompt a list", `{"model":"m","prompt":["a"]}`, "prompt: must be a string"},
	},
	protocol.OllamaGenerate: {
		{"minimal", `{"model":"m","prompt":"hi","system":"s","images":["aGk="],"stream":false,"options":{"temperature":0}}`, ""},
		{"prompt a number", `{"model":"m","prompt":1}`, "prompt: must be a string"},
		{"images a string", `{"model":"m","prompt":"a","images":"aGk="}`, "images: must be an array"},
		{"stream a number", `{"model":"m","prompt":"a","stream":0}`, "stream: must be a boolean"},
	},
}

func TestCheck(t *testing.T) {
	for d, tests := range cases {
		decode := func(b []byte) error { _, err := codecDecode(t, d, b); return err }
		for _, tt := range tests {
			t.Run(string(d)+"/"+tt.name, func(t *testing.T) {
				obj, err := jsonscan.Scan([]byte(tt.body))
				if err != nil {
					t.Fatalf("test body: %v", err)
				}
				err = Check(d, obj)
				got := ""
				if err != nil {
					got = err.Error()
					var re *protocol.RequestError
					if !errors.As(err, &re) {
						t.Fatalf("%T is not a *protocol.RequestError", err)
					}
				}
				if got != tt.err {
					t.Fatalf("Check = %q, want %q", got, tt.err)
				}
				derr := decode([]byte(tt.body))
				if (derr == nil) != (tt.err == "" || lenient[string(d)+"/"+tt.name]) {
					t.Fatalf("the %s decoder says %v: passthrough and translation must agree", d, derr)
				}
			})
		}
	}
}

// A request that passes costs no allocation.
func TestCheckAllocs(t *testing.T) {
	for d, tests := range cases {
		for _, tt := range tests {
			if tt.err != "" {
				continue
			}
			obj, _ := jsonscan.Scan([]byte(tt.body))
			if n := testing.AllocsPerRun(50, func() { _ = Check(d, obj) }); n != 0 {
				t.Errorf("%s/%s: %v allocations", d, tt.name, n)
			}
		}
	}
}

func BenchmarkCheck(b *testing.B) {
	body := []byte(`{"model":"m","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Tell me about load balancing."}],"max_tokens":64,"temperature":0.2}`)
	obj, err := jsonscan.Scan(body)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := Check(protocol.OpenAIChat, obj); err != nil {
			b.Fatal(err)
		}
	}
}

// codecDecode decodes body with the client codec of d.
func codecDecode(t *testing.T, d protocol.Dialect, body []byte) (any, error) {
	t.Helper()
	if c, ok := codecs.Client(d); ok {
		return c.DecodeRequest(body)
	}
	if c, ok := codecs.Embed(d); ok {
		return c.DecodeEmbedRequest(body)
	}
	t.Fatalf("no codec for %s", d)
	return nil, nil
}

// FuzzCheck checks every dialect's rules against its decoder on any body
// jsonscan accepts: Check never panics, and a body Check refuses is one the
// decoder refuses too (so passthrough is never stricter than translation),
// but for null elements in an embeddings input (see lenient).
func FuzzCheck(f *testing.F) {
	for _, tests := range cases {
		for _, tt := range tests {
			f.Add(tt.body)
		}
	}
	dialects := make([]protocol.Dialect, 0, len(cases))
	for d := range cases {
		dialects = append(dialects, d)
	}
	f.Fuzz(func(t *testing.T, body string) {
		obj, err := jsonscan.Scan([]byte(body))
		if err != nil {
			return
		}
		for _, d := range dialects {
			cerr := Check(d, obj)
			if cerr == nil {
				continue
			}
			if (d == protocol.OpenAIEmbeddings || d == protocol.OllamaEmbed) && strings.Contains(body, "null") {
				continue
			}
			if _, derr := codecDecode(t, d, []byte(body)); derr == nil {
				t.Fatalf("%s: Check refuses (%v) what the decoder accepts: %s", d, cerr, body)
			}
		}
	})
}
