package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/plugins/plugintest"
)

// Personal data planted in every place a model reads.
const (
	leakPESEL = "44051401359"
	leakPhone = "601 234 567"
	leakTel   = "601234567"
)

// leakText is the text planted in place n: an e-mail naming the place, a
// PESEL and a phone number.
func leakText(n int) string {
	return fmt.Sprintf("write to p%d.leak@example.com, PESEL %s, tel %s now", n, leakPESEL, leakPhone)
}

// leakArgs is tool-call arguments planted in place n (a JSON object).
func leakArgs(n int) string {
	return fmt.Sprintf(`{"to":"p%d.leak@example.com","pesel":%q,"phone":%q,"cc":["p%d.leak@example.com"],"n":3}`, n, leakPESEL, leakTel, n)
}

func q(s string) string { b, _ := json.Marshal(s); return string(b) }

var leakRe = regexp.MustCompile(`p\d+\.leak@example\.com|` + leakPESEL + `|` + leakPhone + `|` + leakTel)

const (
	oaTool = `[{"type":"function","function":{"name":"send_mail","description":"Send a mail","parameters":{"type":"object","properties":{"to":{"type":"string"}}}}}]`
	anTool = `[{"name":"send_mail","description":"Send a mail","input_schema":{"type":"object","properties":{"to":{"type":"string"}}}}]`
	rsTool = `[{"type":"function","name":"send_mail","description":"Send a mail","parameters":{"type":"object","properties":{"to":{"type":"string"}}}}]`
)

// maskCase is one client request with personal data in every place its
// dialect has for text a model reads.
type maskCase struct {
	name   string
	path   string
	body   func(model string) string
	places int      // how many places were planted (each must arrive masked)
	types  []string // provider types to send it to
	// notServed names provider types whose fake has no such endpoint (it
	// still records what it received, which is what this test checks).
	notServed map[string]bool
}

func maskCases() []maskCase {
	all := []string{"vllm", "ollama", "anthropic"}
	return []maskCase{
		{name: "openai-chat", path: "/v1/chat/completions", types: all, places: 7, body: func(m string) string {
			return `{"model":` + q(m) + `,"stream":false,"tools":` + oaTool + `,"messages":[
				{"role":"system","content":` + q(leakText(1)) + `},
				{"role":"user","content":` + q(leakText(2)) + `},
				{"role":"user","content":[{"type":"text","text":` + q(leakText(3)) + `}]},
				{"role":"assistant","content":` + q(leakText(4)) + `,"tool_calls":[
					{"id":"call_1","type":"function","function":{"name":"send_mail","arguments":` + q(leakArgs(5)) + `}},
					{"id":"call_2","type":"function","function":{"name":"send_mail","arguments":"{}"}}]},
				{"role":"tool","tool_call_id":"call_1","content":` + q(leakText(6)) + `},
				{"role":"tool","tool_call_id":"call_2","content":[{"type":"text","text":` + q(leakText(7)) + `}]},
				{"role":"user","content":"Thanks."}]}`
		}},
		{name: "anthropic", path: "/v1/messages", types: all, places: 8, body: func(m string) string {
			return `{"model":` + q(m) + `,"max_tokens":64,"tools":` + anTool + `,
				"system":[{"type":"text","text":` + q(leakText(1)) + `}],"messages":[
				{"role":"user","content":` + q(leakText(2)) + `},
				{"role":"assistant","content":[{"type":"text","text":` + q(leakText(3)) + `},
					{"type":"tool_use","id":"toolu_1","name":"send_mail","input":` + leakArgs(4) + `},
					{"type":"tool_use","id":"toolu_2","name":"send_mail","input":` + leakArgs(5) + `}]},
				{"role":"user","content":[{"type":"tool_result","tool_use_id":"toolu_1","content":` + q(leakText(6)) + `},
					{"type":"tool_result","tool_use_id":"toolu_2","content":[{"type":"text","text":` + q(leakText(7)) + `}]},
					{"type":"text","text":` + q(leakText(8)) + `}]}]}`
		}},
		{name: "anthropic-string-system", path: "/v1/messages", types: all, places: 2, body: func(m string) string {
			return `{"model":` + q(m) + `,"max_tokens":64,"system":` + q(leakText(1)) + `,"messages":[{"role":"user","content":[{"type":"text","text":` + q(leakText(2)) + `}]}]}`
		}},
		{name: "ollama-chat", path: "/api/chat", types: all, places: 5, body: func(m string) string {
			return `{"model":` + q(m) + `,"stream":false,"tools":` + oaTool + `,"messages":[
				{"role":"system","content":` + q(leakText(1)) + `},
				{"role":"user","content":` + q(leakText(2)) + `},
				{"role":"assistant","content":` + q(leakText(3)) + `,"tool_calls":[{"function":{"name":"send_mail","arguments":` + leakArgs(4) + `}}]},
				{"role":"tool","tool_name":"send_mail","content":` + q(leakText(5)) + `},
				{"role":"user","content":"Thanks."}]}`
		}},
		{name: "ollama-generate", path: "/api/generate", types: all, places: 2, body: func(m string) string {
			return `{"model":` + q(m) + `,"stream":false,"system":` + q(leakText(1)) + `,"prompt":` + q(leakText(2)) + `}`
		}},
		{name: "completions", path: "/v1/completions", types: all, places: 1, notServed: map[string]bool{"vllm": true}, body: func(m string) string {
			return `{"model":` + q(m) + `,"prompt":` + q(leakText(1)) + `}`
		}},
		{name: "responses", path: "/v1/responses", types: all, places: 6, notServed: map[string]bool{"vllm": true}, body: func(m string) string {
			return `{"model":` + q(m) + `,"instructions":` + q(leakText(1)) + `,"tools":` + rsTool + `,"input":[
				{"role":"user","content":` + q(leakText(2)) + `},
				{"type":"message","role":"user","content":[{"type":"input_text","text":` + q(leakText(3)) + `}]},
				{"type":"function_call","call_id":"call_1","name":"send_mail","arguments":` + q(leakArgs(4)) + `},
				{"type":"function_call_output","call_id":"call_1","output":` + q(leakText(5)) + `},
				{"type":"message","role":"assistant","content":[{"type":"output_text","text":` + q(leakText(6)) + `}]}]}`
		}},
		{name: "openai-embeddings", path: "/v1/embeddings", types: []string{"vllm", "ollama"}, places: 2, body: func(m string) string {
			return `{"model":` + q(m) + `,"input":[` + q(leakText(1)) + `,` + q(leakText(2)) + `]}`
		}},
		{name: "ollama-embed", path: "/api/embed", types: []string{"vllm", "ollama"}, places: 1, body: func(m string) string {
			return `{"model":` + q(m) + `,"input":` + q(leakText(1)) + `}`
		}},
		{name: "ollama-embeddings", path: "/api/embeddings", types: []string{"vllm", "ollama"}, places: 1, body: func(m string) string {
			return `{"model":` + q(m) + `,"prompt":` + q(leakText(1)) + `}`
		}},
		{name: "builtin-answer", path: "/api/generative_answer", types: all, places: 4, body: func(m string) string {
			return `{"model":` + q(m) + `,"question_str":` + q(leakText(1)) + `,"texts":[` + q(leakText(2)) + `],
				"system_prompt":` + q("Answer from the texts. "+leakText(3)) + `,"question_prompt":` + q(leakText(4)) + `}`
		}},
		{name: "builtin-conversation", path: "/api/extended_conversation_with_model", types: all, places: 3, body: func(m string) string {
			return `{"model":` + q(m) + `,"system_prompt":` + q(leakText(1)) + `,"user_last_statement":` + q(leakText(2)) + `,
				"historical_messages":[{"role":"user","content":` + q(leakText(3)) + `},{"role":"assistant","content":"ok"}]}`
		}},
	}
}

// With forced masking (fast_masker), no personal data planted anywhere a
// model reads reaches a provider, whatever the client's dialect and the
// provider's: passthrough (the body edited in place) and translated alike;
// tool-call arguments arrive as valid JSON with their values masked.
func TestMaskingEveryText(t *testing.T) {
	var provs []*matrixProvider
	byType := map[string]*matrixProvider{}
	for _, typ := range matrixTypes {
		p := newMatrixProvider(t, typ, "mask-"+typ)
		provs = append(provs, p)
		byType[typ] = p
	}
	r := matrixRouter(t, provs, "\t\tmasker fast_masker\n\t\tforce_masking")
	for _, mc := range maskCases() {
		for _, typ := range mc.types {
			t.Run(mc.name+"/"+typ, func(t *testing.T) {
				p := byType[typ]
				before := len(posts(p.fake.Requests()))
				resp, err := http.Post(r.Base()+mc.path, "application/json", strings.NewReader(mc.body(p.model)))
				if err != nil {
					t.Fatal(err)
				}
				answer, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				got := posts(p.fake.Requests())
				if len(got) <= before {
					t.Fatalf("the provider received nothing; the client got %d %s", resp.StatusCode, answer)
				}
				if resp.StatusCode != http.StatusOK && !mc.notServed[typ] {
					t.Errorf("client got %d %s", resp.StatusCode, answer)
				}
				for _, up := range got[before:] {
					body := string(up.Body)
					if leaks := leakRe.FindAllString(body, -1); len(leaks) > 0 {
						t.Errorf("%s %s received personal data %q:\n%s", typ, up.Path, leaks, body)
					}
					var v any
					if err := json.Unmarshal(up.Body, &v); err != nil {
						t.Fatalf("provider got invalid JSON: %v", err)
					}
					checkArgsJSON(t, v)
					// Masked, not dropped: every planted e-mail arrived as a placeholder.
					if n := strings.Count(body, "{EMAIL_"); n < mc.places {
						t.Errorf("%d e-mail placeholders arrived for %d planted places:\n%s", n, mc.places, body)
					}
				}
			})
		}
	}
}

// checkArgsJSON fails when a string member "arguments" (OpenAI tool calls,
// Responses function_call items) is not valid JSON.
func checkArgsJSON(t *testing.T, v any) {
	t.Helper()
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if s, ok := e.(string); ok && k == "arguments" && !json.Valid([]byte(s)) {
				t.Errorf("tool-call arguments are no longer JSON: %s", s)
			}
			checkArgsJSON(t, e)
		}
	case []any:
		for _, e := range x {
			checkArgsJSON(t, e)
		}
	}
}

// The request guardrails see the same texts as the maskers: a guardrail
// that blocks what was planted in any one place refuses the request, in
// every dialect, before the provider is called.
func TestGuardrailSeesEveryText(t *testing.T) {
	p := newMatrixProvider(t, "vllm", "g")
	svc := plugintest.NewServer(t)
	r := startRouter(t, routerOpts{
		models: modelsJSON(map[string][]string{"g": {prov("pg", p.url, "vllm", `"tool_calling": true`)}}),
		env: map[string]string{
			"LLM_ROUTER_FORCE_GUARDRAIL_REQUEST":             "1",
			"LLM_ROUTER_GUARDRAIL_STRATEGY_PIPELINE_REQUEST": "nask_guard",
			"LLM_ROUTER_GUARDRAIL_NASK_GUARD_HOST":           svc.URL,
		},
	})
	for _, mc := range maskCases() {
		for n := 1; n <= mc.places; n++ {
			t.Run(fmt.Sprintf("%s/place%d", mc.name, n), func(t *testing.T) {
				svc.SetUnsafe(fmt.Sprintf("p%d.leak@", n))
				before := len(posts(p.fake.Requests()))
				resp, err := http.Post(r.Base()+mc.path, "application/json", strings.NewReader(mc.body("g")))
				if err != nil {
					t.Fatal(err)
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusForbidden || !strings.Contains(string(b), "guardrail") {
					t.Errorf("place %d not checked: %d %s", n, resp.StatusCode, b)
				}
				if len(posts(p.fake.Requests())) != before {
					t.Error("a blocked request reached the provider")
				}
			})
		}
	}
}
