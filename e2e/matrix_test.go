package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/anthropics/anthropic-sdk-go"
	aoption "github.com/anthropics/anthropic-sdk-go/option"
	ollama "github.com/ollama/ollama/api"
	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/responses"
	"github.com/openai/openai-go/v3/shared"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// The matrix: every client dialect (official SDKs: OpenAI chat and
// Responses, Anthropic Messages, Ollama chat and generate) against every
// provider type (wire-faithful llmtest fakes: vLLM/OpenAI wire, Ollama,
// Anthropic), streamed and not — text, stop reasons, usage, tool
// definitions, calls and results both ways, sampling, images, JSON output,
// reasoning, errors, failover, cut/stalled/erroring streams, cancellation,
// big payloads, and embeddings across the OpenAI and Ollama shapes.
//
// Each Test starts one router; tests whose failures rest a provider
// (cooldown, Retry-After) give every case its own fake behind one router.

// matrixFake is what the matrix needs from a fake provider.
type matrixFake interface {
	SetReply(text string, deltas int)
	SetFault(f llmtest.Fault)
	SetDelay(d time.Duration)
	SetToolCalls(calls ...llmtest.ToolCall)
	Hold() (release func())
	Canceled() int
	Requests() []llmtest.Request
	Close()
}

// matrixProvider is one provider type of the matrix.
type matrixProvider struct {
	apiType string
	model   string // the router model served by this provider alone
	path    string // where its chat requests must land
	fake    matrixFake
	url     string
	limits  bool // the fake honours the request's token limit
	extra   string
}

// reset puts the provider's fake back to a plain answer of reply (4
// tokens): no fault, no tool calls.
func (p *matrixProvider) reset(reply string) {
	p.fake.SetFault(llmtest.NoFault)
	p.fake.SetToolCalls()
	p.fake.SetReply(reply, 4)
}

// last returns the provider's latest POST (health probes are GETs).
func (p *matrixProvider) last(t *testing.T) llmtest.Request {
	t.Helper()
	reqs := p.fake.Requests()
	for i := len(reqs) - 1; i >= 0; i-- {
		if reqs[i].Method == http.MethodPost {
			return reqs[i]
		}
	}
	t.Fatalf("%s provider received no POST", p.apiType)
	return llmtest.Request{}
}

// outcome is what a client saw, in neutral terms.
type outcome struct {
	text    string
	stop    string
	in, out int64 // usage: input (prompt) and output tokens
	cached  int64 // input tokens read from a prompt cache; -1 when the dialect does not carry it
	calls   []matrixCall
	parts   int // stream events (or 1 when not streamed)
	err     error
	status  int // HTTP status of an API error, 0 otherwise
	// thinking is the reasoning text the client got.
	thinking string
	// silent: the stream just stopped, without a finish and without an
	// error; err is set by the wrapper, but the client library itself would
	// have reported a clean end.
	silent bool
}

type matrixCall struct {
	id, name string
	args     map[string]any
}

// ask is one chat request in neutral terms.
type ask struct {
	stream bool
	tools  bool
	max    int64 // 0: no limit
	// history sends a system prompt and a finished tool round (the call and
	// its result) before asking for the answer.
	history bool
	// onText, if set, sees every streamed text delta as it arrives.
	onText func(string)
	// sampling sets temperature 0.3, top_p 0.9, stop ["END"] and a token
	// limit of 50 in the client's own terms.
	sampling bool
	// image attaches pngB64 to the question.
	image bool
	// choice forces tool use: "required" (any tool) or "named" (get_weather).
	choice string
	// format asks for JSON: "json" (any JSON) or "schema" (weatherSchema).
	format string
	// think turns reasoning on, in the client's own terms.
	think bool
}

// errMatrixUnsupported is what a client returns for an ask its dialect cannot
// express.
var errMatrixUnsupported = errors.New("the client dialect cannot express this")

// pngB64 is a 1×1 PNG.
const pngB64 = "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="

const (
	matrixQuestion   = "What is the weather in Oslo today?"
	matrixSystem     = "Answer briefly."
	matrixToolResult = "12 degrees and sunny"
)

// matrixClient is one client dialect of the matrix.
type matrixClient struct {
	name string
	// stop, toolStop and lengthStop are the stop reasons this dialect uses.
	stop, toolStop, lengthStop string
	run                        func(ctx context.Context, r *router, model string, a ask) outcome
	// noTools: the dialect has no tools (Ollama /api/generate).
	noTools bool
	// skip names provider types this client cannot meet, with the reason.
	skip map[string]string
}

const weatherSchema = `{"type":"object","properties":{"city":{"type":"string","description":"City name"}},"required":["city"]}`

func matrixClients() []matrixClient {
	return []matrixClient{
		{name: "openai", stop: "stop", toolStop: "tool_calls", lengthStop: "length", run: runOpenAI},
		{name: "anthropic", stop: "end_turn", toolStop: "tool_use", lengthStop: "max_tokens", run: runAnthropic},
		{name: "ollama", stop: "stop", toolStop: "stop", lengthStop: "length", run: runOllama},
		{name: "ollama-generate", stop: "stop", lengthStop: "length", run: runGenerate, noTools: true},
		{name: "responses", stop: "completed", toolStop: "completed", lengthStop: "incomplete:max_output_tokens", run: runResponses,
			skip: map[string]string{"vllm": "the router passes /v1/responses through to vLLM and the OpenAI fake has no /v1/responses"}},
	}
}

// reasoningOf returns the non-standard reasoning text of an OpenAI message
// or delta ("reasoning", or the older "reasoning_content").
func reasoningOf(raw string) string {
	var m struct {
		Reasoning        string `json:"reasoning"`
		ReasoningContent string `json:"reasoning_content"`
	}
	_ = json.Unmarshal([]byte(raw), &m)
	return m.Reasoning + m.ReasoningContent
}

// skipFor skips a pair this client cannot meet.
func (c matrixClient) skipFor(t *testing.T, apiType string, tools bool) {
	t.Helper()
	if why := c.skip[apiType]; why != "" {
		t.Skip(why)
	}
	if tools && c.noTools {
		t.Skip(c.name + " has no tools")
	}
}

func runOpenAI(ctx context.Context, r *router, model string, a ask) outcome {
	c := client(r)
	p := chatParams(model, matrixQuestion)
	if a.history {
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.SystemMessage(matrixSystem), openai.UserMessage(matrixQuestion),
			{OfAssistant: &openai.ChatCompletionAssistantMessageParam{ToolCalls: []openai.ChatCompletionMessageToolCallUnionParam{
				{OfFunction: &openai.ChatCompletionMessageFunctionToolCallParam{ID: "call_k3x9q2ab",
					Function: openai.ChatCompletionMessageFunctionToolCallFunctionParam{Name: "get_weather", Arguments: `{"city":"Oslo"}`}}}}}},
			openai.ToolMessage(matrixToolResult, "call_k3x9q2ab")}
	}
	if a.tools {
		var schema shared.FunctionParameters
		_ = json.Unmarshal([]byte(weatherSchema), &schema)
		p.Tools = []openai.ChatCompletionToolUnionParam{openai.ChatCompletionFunctionTool(shared.FunctionDefinitionParam{
			Name: "get_weather", Description: openai.String("Current weather"), Parameters: schema})}
	}
	if a.max > 0 {
		p.MaxTokens = openai.Int(a.max)
	}
	if a.sampling {
		p.Temperature, p.TopP, p.MaxTokens = openai.Float(0.3), openai.Float(0.9), openai.Int(50)
		p.Stop = openai.ChatCompletionNewParamsStopUnion{OfStringArray: []string{"END"}}
	}
	if a.image {
		p.Messages = []openai.ChatCompletionMessageParamUnion{openai.UserMessage([]openai.ChatCompletionContentPartUnionParam{
			openai.TextContentPart(matrixQuestion),
			openai.ImageContentPart(openai.ChatCompletionContentPartImageImageURLParam{URL: "data:image/png;base64," + pngB64})})}
	}
	switch a.choice {
	case "required":
		p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfAuto: openai.String("required")}
	case "named":
		p.ToolChoice = openai.ChatCompletionToolChoiceOptionUnionParam{OfFunctionToolChoice: &openai.ChatCompletionNamedToolChoiceParam{
			Function: openai.ChatCompletionNamedToolChoiceFunctionParam{Name: "get_weather"}}}
	}
	switch a.format {
	case "json":
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONObject: &shared.ResponseFormatJSONObjectParam{}}
	case "schema":
		var schema map[string]any
		_ = json.Unmarshal([]byte(weatherSchema), &schema)
		p.ResponseFormat = openai.ChatCompletionNewParamsResponseFormatUnion{OfJSONSchema: &shared.ResponseFormatJSONSchemaParam{
			JSONSchema: shared.ResponseFormatJSONSchemaJSONSchemaParam{Name: "weather", Schema: schema}}}
	}
	if a.think {
		p.ReasoningEffort = shared.ReasoningEffortMedium
	}
	var msg openai.ChatCompletionMessage
	var o outcome
	var usage openai.CompletionUsage
	if !a.stream {
		res, err := c.Chat.Completions.New(ctx, p)
		if err != nil {
			return outcome{err: err, status: statusOf(err)}
		}
		if len(res.Choices) == 0 {
			return outcome{err: fmt.Errorf("no choices in %s", res.RawJSON())}
		}
		msg, o.stop, usage, o.parts = res.Choices[0].Message, res.Choices[0].FinishReason, res.Usage, 1
		o.thinking = reasoningOf(msg.RawJSON())
	} else {
		p.StreamOptions = openai.ChatCompletionStreamOptionsParam{IncludeUsage: openai.Bool(true)}
		s := c.Chat.Completions.NewStreaming(ctx, p)
		var acc openai.ChatCompletionAccumulator
		for s.Next() {
			acc.AddChunk(s.Current())
			o.parts++
			for _, ch := range s.Current().Choices {
				o.thinking += reasoningOf(ch.Delta.RawJSON())
				if ch.Delta.Content != "" && a.onText != nil {
					a.onText(ch.Delta.Content)
				}
				if ch.FinishReason != "" {
					o.stop = ch.FinishReason
				}
			}
		}
		o.err, o.status = s.Err(), statusOf(s.Err())
		if len(acc.Choices) > 0 {
			msg = acc.Choices[0].Message
		}
		usage = acc.Usage
	}
	o.text, o.in, o.out, o.cached = msg.Content, usage.PromptTokens, usage.CompletionTokens, usage.PromptTokensDetails.CachedTokens
	for _, tc := range msg.ToolCalls {
		var args map[string]any
		if err := json.Unmarshal([]byte(tc.Function.Arguments), &args); err != nil && o.err == nil {
			o.err = fmt.Errorf("tool call arguments %q: %w", tc.Function.Arguments, err)
		}
		o.calls = append(o.calls, matrixCall{id: tc.ID, name: tc.Function.Name, args: args})
	}
	return o
}

func runAnthropic(ctx context.Context, r *router, model string, a ask) outcome {
	c := anthropic.NewClient(aoption.WithBaseURL(r.Base()), aoption.WithAPIKey("sk-ant-client"), aoption.WithMaxRetries(0))
	p := anthropic.MessageNewParams{Model: anthropic.Model(model), MaxTokens: 256,
		Messages: []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(matrixQuestion))}}
	if a.history {
		p.System = []anthropic.TextBlockParam{{Text: matrixSystem}}
		p.Messages = append(p.Messages,
			anthropic.NewAssistantMessage(anthropic.NewToolUseBlock("toolu_01A09q90qw90lq917835lq9", map[string]any{"city": "Oslo"}, "get_weather")),
			anthropic.NewUserMessage(anthropic.NewToolResultBlock("toolu_01A09q90qw90lq917835lq9", matrixToolResult, false)))
	}
	if a.max > 0 {
		p.MaxTokens = a.max
	}
	if a.sampling {
		p.Temperature, p.TopP, p.MaxTokens, p.StopSequences = anthropic.Float(0.3), anthropic.Float(0.9), 50, []string{"END"}
	}
	if a.image {
		p.Messages = []anthropic.MessageParam{anthropic.NewUserMessage(anthropic.NewTextBlock(matrixQuestion),
			anthropic.NewImageBlockBase64("image/png", pngB64))}
	}
	if a.tools {
		schema := anthropic.ToolInputSchemaParam{Required: []string{"city"},
			Properties: map[string]any{"city": map[string]any{"type": "string", "description": "City name"}}}
		p.Tools = []anthropic.ToolUnionParam{{OfTool: &anthropic.ToolParam{Name: "get_weather",
			Description: anthropic.String("Current weather"), InputSchema: schema}}}
	}
	switch a.choice {
	case "required":
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfAny: &anthropic.ToolChoiceAnyParam{}}
	case "named":
		p.ToolChoice = anthropic.ToolChoiceUnionParam{OfTool: &anthropic.ToolChoiceToolParam{Name: "get_weather"}}
	}
	if a.format != "" {
		return outcome{err: errMatrixUnsupported}
	}
	if a.think {
		p.MaxTokens, p.Thinking = 4096, anthropic.ThinkingConfigParamOfEnabled(2048)
	}
	var m anthropic.Message
	var o outcome
	if !a.stream {
		res, err := c.Messages.New(ctx, p)
		if err != nil {
			return outcome{err: err, status: anthropicStatus(err)}
		}
		m, o.parts = *res, 1
	} else {
		s := c.Messages.NewStreaming(ctx, p)
		for s.Next() {
			ev := s.Current()
			if err := m.Accumulate(ev); err != nil {
				o.err = fmt.Errorf("accumulate: %w", err)
				break
			}
			o.parts++
			if d, ok := ev.AsAny().(anthropic.ContentBlockDeltaEvent); ok && d.Delta.Text != "" && a.onText != nil {
				a.onText(d.Delta.Text)
			}
		}
		if o.err == nil {
			o.err, o.status = s.Err(), anthropicStatus(s.Err())
		}
	}
	o.stop, o.in, o.out, o.cached = string(m.StopReason), m.Usage.InputTokens, m.Usage.OutputTokens, m.Usage.CacheReadInputTokens
	for _, b := range m.Content {
		switch b.Type {
		case "thinking":
			o.thinking += b.Thinking
		case "text":
			o.text += b.Text
		case "tool_use":
			var args map[string]any
			if err := json.Unmarshal(b.Input, &args); err != nil && o.err == nil {
				o.err = fmt.Errorf("tool_use input %s: %w", b.Input, err)
			}
			o.calls = append(o.calls, matrixCall{id: b.ID, name: b.Name, args: args})
		}
	}
	return o
}

func anthropicStatus(err error) int {
	var ae *anthropic.Error
	if errors.As(err, &ae) {
		return ae.StatusCode
	}
	return 0
}

func matrixOllama(r *router) *ollama.Client {
	u, _ := url.Parse(r.Base())
	return ollama.NewClient(u, http.DefaultClient)
}

func runOllama(ctx context.Context, r *router, model string, a ask) outcome {
	stream := a.stream
	req := &ollama.ChatRequest{Model: model, Stream: &stream,
		Messages: []ollama.Message{{Role: "user", Content: matrixQuestion}}}
	if a.history {
		var call ollama.ToolCall
		_ = json.Unmarshal([]byte(`{"id":"call_k3x9q2ab","function":{"index":0,"name":"get_weather","arguments":{"city":"Oslo"}}}`), &call)
		req.Messages = []ollama.Message{{Role: "system", Content: matrixSystem}, {Role: "user", Content: matrixQuestion},
			{Role: "assistant", ToolCalls: []ollama.ToolCall{call}}, {Role: "tool", Content: matrixToolResult, ToolName: "get_weather"}}
	}
	if a.tools {
		var tool ollama.Tool
		_ = json.Unmarshal([]byte(`{"type":"function","function":{"name":"get_weather","description":"Current weather","parameters":`+weatherSchema+`}}`), &tool)
		req.Tools = ollama.Tools{tool}
	}
	if a.max > 0 {
		req.Options = map[string]any{"num_predict": a.max}
	}
	if a.sampling {
		req.Options = map[string]any{"temperature": 0.3, "top_p": 0.9, "stop": []string{"END"}, "num_predict": 50}
	}
	if a.image {
		png, _ := base64.StdEncoding.DecodeString(pngB64)
		req.Messages[0].Images = []ollama.ImageData{png}
	}
	if a.choice != "" {
		return outcome{err: errMatrixUnsupported}
	}
	switch a.format {
	case "json":
		req.Format = json.RawMessage(`"json"`)
	case "schema":
		req.Format = json.RawMessage(weatherSchema)
	}
	if a.think {
		req.Think = &ollama.ThinkValue{Value: true}
	}
	var o outcome
	var b strings.Builder
	done := false
	o.err = matrixOllama(r).Chat(ctx, req, func(cr ollama.ChatResponse) error {
		o.parts++
		o.thinking += cr.Message.Thinking
		b.WriteString(cr.Message.Content)
		if stream && cr.Message.Content != "" && a.onText != nil {
			a.onText(cr.Message.Content)
		}
		for _, tc := range cr.Message.ToolCalls {
			o.calls = append(o.calls, matrixCall{id: tc.ID, name: tc.Function.Name, args: tc.Function.Arguments.ToMap()})
		}
		if cr.Done {
			done = true
			o.stop, o.in, o.out, o.cached = cr.DoneReason, int64(cr.PromptEvalCount), int64(cr.EvalCount), -1
		}
		return nil
	})
	o.text = b.String()
	return finishOllama(o, done)
}

// finishOllama reads the status of an Ollama client error and fails a
// stream that never sent done:true: the Ollama client ignores a broken
// connection after the last full line.
func finishOllama(o outcome, done bool) outcome {
	var se ollama.StatusError
	if errors.As(o.err, &se) {
		o.status = se.StatusCode
	}
	if o.err == nil && !done {
		o.err, o.silent = fmt.Errorf("stream ended without a done line after %d parts", o.parts), true
	}
	return o
}

func runGenerate(ctx context.Context, r *router, model string, a ask) outcome {
	stream := a.stream
	req := &ollama.GenerateRequest{Model: model, Prompt: matrixQuestion, Stream: &stream}
	if a.max > 0 {
		req.Options = map[string]any{"num_predict": a.max}
	}
	if a.sampling {
		req.Options = map[string]any{"temperature": 0.3, "top_p": 0.9, "stop": []string{"END"}, "num_predict": 50}
	}
	if a.image {
		png, _ := base64.StdEncoding.DecodeString(pngB64)
		req.Images = []ollama.ImageData{png}
	}
	if a.choice != "" || a.think { // the Ollama fake does not think on /api/generate
		return outcome{err: errMatrixUnsupported}
	}
	switch a.format {
	case "json":
		req.Format = json.RawMessage(`"json"`)
	case "schema":
		req.Format = json.RawMessage(weatherSchema)
	}
	var o outcome
	var b strings.Builder
	done := false
	o.err = matrixOllama(r).Generate(ctx, req, func(gr ollama.GenerateResponse) error {
		o.parts++
		b.WriteString(gr.Response)
		if stream && gr.Response != "" && a.onText != nil {
			a.onText(gr.Response)
		}
		if gr.Done {
			done = true
			o.stop, o.in, o.out, o.cached = gr.DoneReason, int64(gr.PromptEvalCount), int64(gr.EvalCount), -1
		}
		return nil
	})
	o.text = b.String()
	return finishOllama(o, done)
}

func runResponses(ctx context.Context, r *router, model string, a ask) outcome {
	c := client(r)
	p := responses.ResponseNewParams{Model: model, Input: responses.ResponseNewParamsInputUnion{OfString: openai.String(matrixQuestion)}}
	if a.history {
		out := responses.ResponseInputItemParamOfFunctionCallOutput(matrixToolResult)
		out.OfFunctionCallOutput.CallID = openai.String("call_k3x9q2ab")
		p.Instructions = openai.String(matrixSystem)
		p.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(matrixQuestion, responses.EasyInputMessageRoleUser),
			responses.ResponseInputItemParamOfFunctionCall(`{"city":"Oslo"}`, "call_k3x9q2ab", "get_weather"),
			out}}
	}
	if a.tools {
		var schema map[string]any
		_ = json.Unmarshal([]byte(weatherSchema), &schema)
		p.Tools = []responses.ToolUnionParam{responses.ToolParamOfFunction("get_weather", schema, false)}
	}
	if a.max > 0 {
		p.MaxOutputTokens = openai.Int(a.max)
	}
	if a.sampling { // the Responses API has no stop sequences
		p.Temperature, p.TopP, p.MaxOutputTokens = openai.Float(0.3), openai.Float(0.9), openai.Int(50)
	}
	if a.image {
		p.Input = responses.ResponseNewParamsInputUnion{OfInputItemList: responses.ResponseInputParam{
			responses.ResponseInputItemParamOfMessage(responses.ResponseInputMessageContentListParam{
				{OfInputText: &responses.ResponseInputTextParam{Text: matrixQuestion}},
				{OfInputImage: &responses.ResponseInputImageParam{ImageURL: openai.String("data:image/png;base64," + pngB64), Detail: responses.ResponseInputImageDetailAuto}},
			}, responses.EasyInputMessageRoleUser)}}
	}
	switch a.choice {
	case "required":
		p.ToolChoice = responses.ResponseNewParamsToolChoiceUnion{OfToolChoiceMode: openai.Opt(responses.ToolChoiceOptionsRequired)}
	case "named":
		p.ToolChoice = responses.ResponseNewParamsToolChoiceUnion{OfFunctionTool: &responses.ToolChoiceFunctionParam{Name: "get_weather"}}
	}
	if a.format != "" {
		return outcome{err: errMatrixUnsupported}
	}
	if a.think {
		p.Reasoning = shared.ReasoningParam{Effort: shared.ReasoningEffortMedium}
	}
	var res responses.Response
	var o outcome
	if !a.stream {
		got, err := c.Responses.New(ctx, p)
		if err != nil {
			return outcome{err: err, status: statusOf(err)}
		}
		res, o.parts = *got, 1
		o.text = res.OutputText()
	} else {
		s := c.Responses.NewStreaming(ctx, p)
		final := false
		for s.Next() {
			ev := s.Current()
			o.parts++
			switch ev.Type {
			case "response.output_text.delta":
				o.text += ev.Delta
				if a.onText != nil {
					a.onText(ev.Delta)
				}
			case "response.reasoning_text.delta", "response.reasoning_summary_text.delta":
				o.thinking += ev.Delta
			case "response.completed", "response.incomplete", "response.failed":
				res, final = ev.Response, true
			}
		}
		o.err, o.status = s.Err(), statusOf(s.Err())
		if o.err == nil && !final {
			o.err, o.silent = fmt.Errorf("stream ended without response.completed after %d events", o.parts), true
		}
		if final && res.OutputText() != o.text && o.err == nil {
			o.err = fmt.Errorf("final response text %q differs from the deltas %q", res.OutputText(), o.text)
		}
	}
	o.stop = string(res.Status)
	if res.IncompleteDetails.Reason != "" {
		o.stop += ":" + res.IncompleteDetails.Reason
	}
	o.in, o.out, o.cached = res.Usage.InputTokens, res.Usage.OutputTokens, res.Usage.InputTokensDetails.CachedTokens
	streamedThinking := o.thinking
	o.thinking = ""
	for _, item := range res.Output {
		if item.Type == "reasoning" {
			r := item.AsReasoning()
			for _, c := range r.Content {
				o.thinking += c.Text
			}
			if len(r.Content) == 0 {
				for _, c := range r.Summary {
					o.thinking += c.Text
				}
			}
		}
		if item.Type == "function_call" {
			fc := item.AsFunctionCall()
			var args map[string]any
			if err := json.Unmarshal([]byte(fc.Arguments), &args); err != nil && o.err == nil {
				o.err = fmt.Errorf("function_call arguments %q: %w", fc.Arguments, err)
			}
			o.calls = append(o.calls, matrixCall{id: fc.CallID, name: fc.Name, args: args})
		}
	}
	if a.stream && streamedThinking != o.thinking && o.err == nil {
		o.err = fmt.Errorf("streamed reasoning %q differs from the final response's %q", streamedThinking, o.thinking)
	}
	return o
}

// matrixTypes are the provider api_types of the matrix.
var matrixTypes = []string{"vllm", "ollama", "anthropic"}

// newMatrixProvider starts a fake of apiType serving the router model model.
func newMatrixProvider(t *testing.T, apiType, model string) *matrixProvider {
	t.Helper()
	var p *matrixProvider
	switch apiType {
	case "vllm":
		f := llmtest.NewOpenAIPlus("vllm")
		p = &matrixProvider{path: "/v1/chat/completions", fake: f, url: f.URL}
	case "ollama":
		f := llmtest.NewOllama("ollama")
		p = &matrixProvider{path: "/api/chat", fake: f, url: f.URL, limits: true}
	case "anthropic":
		f := llmtest.NewAnthropic("anthropic")
		f.SetAPIKey("sk-ant-provider")
		p = &matrixProvider{path: "/v1/messages", fake: f, url: f.URL, limits: true, extra: `"api_token": "sk-ant-provider", `}
	default:
		t.Fatalf("unknown provider type %s", apiType)
	}
	p.apiType, p.model = apiType, model
	t.Cleanup(p.fake.Close)
	return p
}

// matrixRouter starts a router serving each provider's model from it alone.
func matrixRouter(t *testing.T, provs []*matrixProvider, global ...string) *router {
	t.Helper()
	models := map[string][]string{}
	for i, p := range provs {
		models[p.model] = []string{prov(fmt.Sprintf("p%d-%s", i, p.apiType), p.url, p.apiType, p.extra+`"tool_calling": true`)}
	}
	return startRouter(t, routerOpts{models: modelsJSON(models), global: strings.Join(global, "\n")})
}

// startMatrix starts one fake per provider type and a router serving a
// model ("m-<type>") on each.
func startMatrix(t *testing.T) (*router, []*matrixProvider) {
	t.Helper()
	var provs []*matrixProvider
	for _, typ := range matrixTypes {
		provs = append(provs, newMatrixProvider(t, typ, "m-"+typ))
	}
	return matrixRouter(t, provs), provs
}

// matrixIsolated gives every case its own fake and model behind one router, for
// cases whose failure rests their provider (cooldown, Retry-After) and
// would otherwise leak into the next case.
type matrixIsolated struct {
	r     *router
	provs map[string]*matrixProvider
}

func startMatrixIsolated(t *testing.T, names []string, typeOf func(name string) string, global ...string) *matrixIsolated {
	t.Helper()
	iso := &matrixIsolated{provs: map[string]*matrixProvider{}}
	var list []*matrixProvider
	for i, n := range names {
		p := newMatrixProvider(t, typeOf(n), fmt.Sprintf("iso-%d", i))
		iso.provs[n] = p
		list = append(list, p)
	}
	iso.r = matrixRouter(t, list, global...)
	return iso
}

func matrixStreamName(s bool) string {
	if s {
		return "streamed"
	}
	return "plain"
}

// matrixReply is the fakes' answer in the chat matrix: quotes, a newline,
// non-ASCII letters and an emoji, in four deltas.
const matrixReply = "Zażółć \"gęślą\"\njaźń 🚀 done"

func TestMatrixChat(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, false)
					p.reset(matrixReply)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream})
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					if o.text != matrixReply {
						t.Errorf("text = %q, want %q", o.text, matrixReply)
					}
					if o.stop != c.stop {
						t.Errorf("stop reason = %q, want %q", o.stop, c.stop)
					}
					if o.out != 4 || o.in <= 0 {
						t.Errorf("usage in=%d out=%d, want in>0 out=4", o.in, o.out)
					}
					if stream && o.parts < 4 {
						t.Errorf("stream arrived in %d parts; it was merged", o.parts)
					}
					up := p.last(t)
					if c.name == "ollama-generate" && p.apiType == "ollama" {
						if up.Path != "/api/generate" || up.JSON()["prompt"] != matrixQuestion {
							t.Fatalf("provider got %s %s, want the prompt on /api/generate", up.Path, up.Body)
						}
						return
					}
					if up.Path != p.path {
						t.Fatalf("provider got %s, want %s", up.Path, p.path)
					}
					checkUpstreamChat(t, p, up, stream)
				})
			}
		}
	}
}

// checkUpstreamChat checks that a chat request reached the provider in the
// provider's own dialect.
func checkUpstreamChat(t *testing.T, p *matrixProvider, up llmtest.Request, stream bool) {
	t.Helper()
	body := up.JSON()
	for _, secret := range []string{"sk-client-secret", "sk-ant-client"} {
		if strings.Contains(fmt.Sprint(up.Header), secret) {
			t.Errorf("the client's key reached the provider: %v", up.Header)
		}
	}
	if body["model"] != p.model {
		t.Errorf("upstream model = %v", body["model"])
	}
	msgs, _ := body["messages"].([]any)
	if len(msgs) == 0 {
		t.Fatalf("upstream messages missing: %v", body)
	}
	user, _ := msgs[len(msgs)-1].(map[string]any)
	switch p.apiType {
	case "anthropic":
		if mt, ok := body["max_tokens"].(float64); !ok || mt <= 0 {
			t.Errorf("Anthropic needs max_tokens: %v", body["max_tokens"])
		}
		if s, _ := body["stream"].(bool); s != stream {
			t.Errorf("upstream stream = %v, want %v", body["stream"], stream)
		}
	case "ollama":
		// Ollama streams when "stream" is absent.
		s, ok := body["stream"].(bool)
		if (!ok && !stream) || (ok && s != stream) {
			t.Errorf("upstream stream = %v, want %v", body["stream"], stream)
		}
		if _, ok := user["content"].(string); !ok {
			t.Errorf("Ollama content must be a string: %v", user)
		}
	default:
		if s, _ := body["stream"].(bool); s != stream {
			t.Errorf("upstream stream = %v, want %v", body["stream"], stream)
		}
	}
	if !strings.Contains(jsonString(user), "weather in Oslo") {
		t.Errorf("user message lost: %v", user)
	}
}

// A token limit set by the client reaches the provider and the truncation
// comes back as the client's "length" stop reason.
func TestMatrixLength(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			if !p.limits {
				continue // the OpenAI fake does not honour max_tokens
			}
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, false)
					p.reset("alpha beta gamma delta")
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream, max: 2})
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					if o.text != "alpha beta " || o.stop != c.lengthStop || o.out != 2 {
						t.Errorf("got text %q stop %q out %d, want %q %q 2", o.text, o.stop, o.out, "alpha beta ", c.lengthStop)
					}
				})
			}
		}
	}
}

// matrixToolArgs are the arguments of the fakes' tool call: nested, with arrays
// and non-ASCII text (which streamed fragments must not break).
func matrixToolArgs() map[string]any {
	return map[string]any{"city": "Zürich", "days": []any{1.0, 2.0}, "units": map[string]any{"temp": "°C"}}
}

func TestMatrixTools(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, true)
					p.fake.SetFault(llmtest.NoFault)
					p.fake.SetToolCalls(llmtest.ToolCall{ID: "call_k3x9q2ab", Name: "get_weather", Args: matrixToolArgs()})
					defer p.fake.SetToolCalls()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream, tools: true})
					checkUpstreamTool(t, p, p.last(t).JSON())
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					if len(o.calls) != 1 || o.calls[0].name != "get_weather" || jsonString(o.calls[0].args) != jsonString(matrixToolArgs()) || o.calls[0].id == "" {
						t.Fatalf("tool calls = %+v (text %q), want one get_weather%s with an id", o.calls, o.text, jsonString(matrixToolArgs()))
					}
					if o.stop != c.toolStop {
						t.Errorf("stop reason = %q, want %q", o.stop, c.toolStop)
					}
				})
			}
		}
	}
}

// checkUpstreamTool checks the tool definition reached the provider in the
// provider's shape.
func checkUpstreamTool(t *testing.T, p *matrixProvider, body map[string]any) {
	t.Helper()
	tools, _ := body["tools"].([]any)
	if len(tools) != 1 {
		t.Fatalf("provider got tools %v", body["tools"])
	}
	tool, _ := tools[0].(map[string]any)
	var name, schema any
	if p.apiType == "anthropic" {
		name, schema = tool["name"], tool["input_schema"]
	} else {
		fn, _ := tool["function"].(map[string]any)
		if tool["type"] != "function" {
			t.Errorf("tool type = %v", tool["type"])
		}
		name, schema = fn["name"], fn["parameters"]
	}
	s, _ := schema.(map[string]any)
	props, _ := s["properties"].(map[string]any)
	if name != "get_weather" || props["city"] == nil || fmt.Sprint(s["required"]) != "[city]" {
		t.Errorf("provider got tool %s", jsonString(tool))
	}
}

// A provider that drops the connection mid-stream must end the client's
// stream with an error, never with a clean finish.
func TestMatrixProviderDiesMidStream(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			t.Run(fmt.Sprintf("%s→%s", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				p.fake.SetToolCalls()
				p.fake.SetReply("one two three four five six seven eight", 8)
				p.fake.SetFault(llmtest.CutMidStream)
				defer p.fake.SetFault(llmtest.NoFault)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				o := c.run(ctx, r, p.model, ask{stream: true})
				if o.err == nil || o.silent {
					t.Fatalf("clean finish after a cut: text %q stop %q (%v)", o.text, o.stop, o.err)
				}
				if o.stop == c.stop {
					t.Errorf("a cut stream reported the normal stop reason %q (err %v)", o.stop, o.err)
				}
				if strings.Contains(o.text, "eight") {
					t.Errorf("the client got the whole text %q", o.text)
				}
			})
		}
	}
}

func TestMatrixEmbeddings(t *testing.T) {
	r, provs := startMatrix(t)
	byType := map[string]*matrixProvider{}
	for _, p := range provs {
		byType[p.apiType] = p
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	t.Run("openai client→ollama provider", func(t *testing.T) {
		p := byType["ollama"]
		oc := client(r)
		res, err := oc.Embeddings.New(ctx, openai.EmbeddingNewParams{Model: openai.EmbeddingModel(p.model),
			Input: openai.EmbeddingNewParamsInputUnion{OfArrayOfStrings: []string{"first text", "second text"}}})
		if err != nil {
			t.Fatal(err)
		}
		up := p.last(t)
		if up.Path != "/api/embed" || fmt.Sprint(up.JSON()["input"]) != "[first text second text]" {
			t.Errorf("provider got %s %s", up.Path, up.Body)
		}
		if len(res.Data) != 2 || !nearVector(res.Data[0].Embedding, "first text") || !nearVector(res.Data[1].Embedding, "second text") || res.Data[1].Index != 1 {
			t.Fatalf("embeddings = %s", res.RawJSON())
		}
	})
	t.Run("ollama client Embed→openai-wire provider", func(t *testing.T) {
		p := byType["vllm"]
		res, err := matrixOllama(r).Embed(ctx, &ollama.EmbedRequest{Model: p.model, Input: []string{"first text", "second text"}})
		if err != nil {
			t.Fatal(err)
		}
		up := p.last(t)
		if up.Path != "/v1/embeddings" || fmt.Sprint(up.JSON()["input"]) != "[first text second text]" {
			t.Errorf("provider got %s %s", up.Path, up.Body)
		}
		if len(res.Embeddings) != 2 {
			t.Fatalf("embeddings = %+v", res)
		}
		for i, text := range []string{"first text", "second text"} {
			got := make([]float64, len(res.Embeddings[i]))
			for j, v := range res.Embeddings[i] {
				got[j] = float64(v)
			}
			if !nearVector(got, text) {
				t.Errorf("embedding %d = %v, want %v", i, got, llmtest.Vector(text))
			}
		}
	})
	t.Run("ollama client legacy Embeddings→openai-wire provider", func(t *testing.T) {
		p := byType["vllm"]
		res, err := matrixOllama(r).Embeddings(ctx, &ollama.EmbeddingRequest{Model: p.model, Prompt: "first text"})
		if err != nil {
			t.Fatal(err)
		}
		if !nearVector(res.Embedding, "first text") {
			t.Fatalf("embedding = %v, want %v", res.Embedding, llmtest.Vector("first text"))
		}
	})
}

// nearVector tells whether got is the fakes' embedding of text, at float32
// precision.
func nearVector(got []float64, text string) bool {
	want := llmtest.Vector(text)
	if len(got) != len(want) {
		return false
	}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-6 {
			return false
		}
	}
	return true
}

// A finished tool round (the assistant's call and the tool's result) sent
// back by the client reaches the provider in the provider's shape, with the
// result tied to its call.
func TestMatrixToolResult(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			t.Run(fmt.Sprintf("%s→%s", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, true)
				p.reset("alpha beta gamma delta")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				o := c.run(ctx, r, p.model, ask{tools: true, history: true})
				if o.err != nil {
					t.Fatalf("client error: %v", o.err)
				}
				if o.text != "alpha beta gamma delta" {
					t.Errorf("text = %q", o.text)
				}
				checkUpstreamHistory(t, p, p.last(t).JSON())
			})
		}
	}
}

// checkUpstreamHistory checks the system prompt, the tool call and the tool
// result of a history request in the provider's dialect.
func checkUpstreamHistory(t *testing.T, p *matrixProvider, body map[string]any) {
	t.Helper()
	msgs, _ := body["messages"].([]any)
	get := func(i int) map[string]any {
		if i < 0 || i >= len(msgs) {
			return nil
		}
		m, _ := msgs[i].(map[string]any)
		return m
	}
	all := jsonString(body)
	switch p.apiType {
	case "anthropic":
		if !strings.Contains(jsonString(body["system"]), matrixSystem) {
			t.Errorf("system = %v", body["system"])
		}
		if len(msgs) != 3 {
			t.Fatalf("want user, assistant, user; got %s", all)
		}
		use := anthropicBlock(get(1), "tool_use")
		res := anthropicBlock(get(2), "tool_result")
		in, _ := use["input"].(map[string]any)
		if use == nil || use["name"] != "get_weather" || in["city"] != "Oslo" || use["id"] == nil {
			t.Errorf("assistant tool_use = %s", jsonString(get(1)))
		}
		if res == nil || res["tool_use_id"] != use["id"] || !strings.Contains(jsonString(res["content"]), matrixToolResult) {
			t.Errorf("tool_result = %s (tool_use id %v)", jsonString(get(2)), use["id"])
		}
	default:
		if sys := get(0); sys["role"] != "system" || sys["content"] != matrixSystem {
			t.Errorf("first message = %s", jsonString(sys))
		}
		if len(msgs) != 4 {
			t.Fatalf("want system, user, assistant, tool; got %s", all)
		}
		calls, _ := get(2)["tool_calls"].([]any)
		if len(calls) != 1 {
			t.Fatalf("assistant = %s", jsonString(get(2)))
		}
		call, _ := calls[0].(map[string]any)
		fn, _ := call["function"].(map[string]any)
		args := fn["arguments"]
		if p.apiType == "vllm" {
			var m map[string]any
			s, _ := args.(string) // OpenAI: a JSON string
			_ = json.Unmarshal([]byte(s), &m)
			args = m
		}
		if am, _ := args.(map[string]any); fn["name"] != "get_weather" || am["city"] != "Oslo" {
			t.Errorf("assistant tool call = %s", jsonString(call))
		}
		tool := get(3)
		if tool["role"] != "tool" || tool["content"] != matrixToolResult {
			t.Errorf("tool message = %s", jsonString(tool))
		}
		if p.apiType == "vllm" && (tool["tool_call_id"] == nil || tool["tool_call_id"] != call["id"]) {
			t.Errorf("tool_call_id %v does not match the call id %v", tool["tool_call_id"], call["id"])
		}
		if p.apiType == "ollama" && tool["tool_name"] != "get_weather" {
			t.Errorf("Ollama tool message needs tool_name: %s", jsonString(tool))
		}
	}
}

// anthropicBlock returns the first content block of type typ in an Anthropic
// message.
func anthropicBlock(msg map[string]any, typ string) map[string]any {
	blocks, _ := msg["content"].([]any)
	for _, b := range blocks {
		if m, _ := b.(map[string]any); m["type"] == typ {
			return m
		}
	}
	return nil
}

// A provider's error reaches the client in the client's dialect with the
// provider's status, streamed or not.
func TestMatrixErrors(t *testing.T) {
	faults := []struct {
		name   string
		fault  llmtest.Fault
		status int
	}{{"400", llmtest.Fail400, 400}, {"429", llmtest.Fail429, 429}, {"500", llmtest.Fail500, 500}}
	type tc struct {
		c      matrixClient
		typ    string
		fi     int
		stream bool
	}
	cases := map[string]tc{}
	var names []string
	for _, c := range matrixClients() {
		for _, typ := range matrixTypes {
			for fi, f := range faults {
				for _, stream := range []bool{false, true} {
					n := fmt.Sprintf("%s→%s/%s/%s", c.name, typ, f.name, matrixStreamName(stream))
					cases[n] = tc{c, typ, fi, stream}
					names = append(names, n)
				}
			}
		}
	}
	iso := startMatrixIsolated(t, names, func(n string) string { return cases[n].typ })
	for _, n := range names {
		k := cases[n]
		t.Run(n, func(t *testing.T) {
			k.c.skipFor(t, k.typ, false)
			p, f := iso.provs[n], faults[k.fi]
			p.fake.SetFault(f.fault)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o := k.c.run(ctx, iso.r, p.model, ask{stream: k.stream})
			if o.err == nil || o.status != f.status {
				t.Fatalf("client got err %v (status %d), want a %d API error", o.err, o.status, f.status)
			}
		})
	}
}

// Streams stay live across translation: the first delta reaches the client
// while the provider still holds the rest, and a client that leaves cancels
// the provider's request.
func TestMatrixLiveStream(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			t.Run(fmt.Sprintf("%s→%s", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				p.reset("alpha beta gamma delta")
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				release := p.fake.Hold()
				defer release()
				o := c.run(ctx, r, p.model, ask{stream: true, onText: func(string) { release() }})
				if o.err != nil || o.text != "alpha beta gamma delta" {
					t.Fatalf("held stream: err %v text %q (no delta reached the client while the provider held the stream?)", o.err, o.text)
				}

				before := p.fake.Canceled()
				leave, stop := context.WithCancel(ctx)
				defer stop()
				hold := p.fake.Hold()
				defer hold()
				c.run(leave, r, p.model, ask{stream: true, onText: func(string) { stop() }})
				if leave.Err() == nil {
					t.Fatal("no delta arrived while the provider held the stream")
				}
				eventually(t, 10*time.Second, "the provider to see the client leave", func() bool { return p.fake.Canceled() > before })
			})
		}
	}
}

// Two tool calls in one turn reach the client as two calls, in order, with
// distinct ids — also from an Ollama server too old to send ids.
func TestMatrixParallelTools(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, true)
					p.fake.SetFault(llmtest.NoFault)
					noID := p.apiType == "ollama"
					p.fake.SetToolCalls(llmtest.ToolCall{Name: "get_weather", NoID: noID, Args: map[string]any{"city": "Oslo"}},
						llmtest.ToolCall{Name: "get_weather", NoID: noID, Args: map[string]any{"city": "Bergen"}})
					defer p.fake.SetToolCalls()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream, tools: true})
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					if len(o.calls) != 2 || o.calls[0].args["city"] != "Oslo" || o.calls[1].args["city"] != "Bergen" ||
						o.calls[0].name != "get_weather" || o.calls[1].name != "get_weather" {
						t.Fatalf("tool calls = %+v, want get_weather Oslo then Bergen", o.calls)
					}
					if c.name != "ollama" && (o.calls[0].id == "" || o.calls[0].id == o.calls[1].id) {
						t.Errorf("tool call ids %q and %q must be set and distinct", o.calls[0].id, o.calls[1].id)
					}
					if o.stop != c.toolStop {
						t.Errorf("stop reason = %q, want %q", o.stop, c.toolStop)
					}
				})
			}
		}
	}
}

// A provider's own in-stream error (an Ollama {"error"} line, an Anthropic
// "event: error") ends the client's stream with an error.
func TestMatrixProviderStreamError(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			if p.apiType == "vllm" {
				continue // the OpenAI fake has no in-stream error
			}
			t.Run(fmt.Sprintf("%s→%s", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				p.fake.SetToolCalls()
				p.fake.SetReply("one two three four five six seven eight", 8)
				p.fake.SetFault(llmtest.ErrorMidStream)
				defer p.fake.SetFault(llmtest.NoFault)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				o := c.run(ctx, r, p.model, ask{stream: true})
				if o.err == nil || o.silent {
					t.Fatalf("clean finish after a provider error: text %q stop %q (%v)", o.text, o.stop, o.err)
				}
				if o.stop == c.stop {
					t.Errorf("an interrupted stream reported the normal stop reason %q (err %v)", o.stop, o.err)
				}
			})
		}
	}
}

// A non-streamed answer cut short is an error for the client, never a
// half answer.
func TestMatrixCutAnswer(t *testing.T) {
	types := map[string]string{}
	var names []string
	for _, c := range matrixClients() {
		for _, typ := range matrixTypes {
			n := c.name + "→" + typ
			types[n] = typ
			names = append(names, n)
		}
	}
	iso := startMatrixIsolated(t, names, func(n string) string { return types[n] })
	for i, n := range names {
		c := matrixClients()[i/len(matrixTypes)]
		t.Run(n, func(t *testing.T) {
			c.skipFor(t, types[n], false)
			p := iso.provs[n]
			p.fake.SetFault(llmtest.CutMidStream)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o := c.run(ctx, iso.r, p.model, ask{})
			if o.err == nil || o.status < 500 {
				t.Fatalf("client got err %v status %d text %q, want a 5xx error", o.err, o.status, o.text)
			}
		})
	}
}

// Sampling parameters and an inline image reach the provider in its own
// terms.
func TestMatrixRequestMapping(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			t.Run(fmt.Sprintf("%s→%s/sampling", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				p.reset("alpha beta gamma delta")
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if o := c.run(ctx, r, p.model, ask{sampling: true}); o.err != nil {
					t.Fatalf("client error: %v", o.err)
				}
				body := p.last(t).JSON()
				params := body
				names := map[string]string{"temperature": "temperature", "top_p": "top_p", "stop": "stop", "max": "max_tokens"}
				switch p.apiType {
				case "ollama":
					params, _ = body["options"].(map[string]any)
					names["max"] = "num_predict"
				case "anthropic":
					names["stop"] = "stop_sequences"
				}
				max := params[names["max"]]
				if p.apiType == "vllm" && max == nil {
					max = params["max_completion_tokens"]
				}
				if params[names["temperature"]] != 0.3 || params[names["top_p"]] != 0.9 || max != float64(50) {
					t.Errorf("provider got %s", jsonString(body))
				}
				if c.name != "responses" && fmt.Sprint(params[names["stop"]]) != "[END]" {
					t.Errorf("stop sequences lost: provider got %s", jsonString(body))
				}
			})
			t.Run(fmt.Sprintf("%s→%s/image", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				p.fake.SetFault(llmtest.NoFault)
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				if o := c.run(ctx, r, p.model, ask{image: true}); o.err != nil {
					t.Fatalf("client error: %v", o.err)
				}
				body := p.last(t).JSON()
				if c.name == "ollama-generate" && p.apiType == "ollama" {
					if fmt.Sprint(body["images"]) != "["+pngB64+"]" {
						t.Errorf("provider got %s", jsonString(body))
					}
					return
				}
				msgs, _ := body["messages"].([]any)
				if len(msgs) == 0 {
					t.Fatalf("provider got %s", jsonString(body))
				}
				user, _ := msgs[len(msgs)-1].(map[string]any)
				ok := false
				switch p.apiType {
				case "ollama":
					ok = fmt.Sprint(user["images"]) == "["+pngB64+"]" && strings.Contains(fmt.Sprint(user["content"]), "weather in Oslo")
				case "anthropic":
					img := anthropicBlock(user, "image")
					src, _ := img["source"].(map[string]any)
					ok = src["type"] == "base64" && src["media_type"] == "image/png" && src["data"] == pngB64 && anthropicBlock(user, "text") != nil
				default:
					parts, _ := user["content"].([]any)
					for _, part := range parts {
						pm, _ := part.(map[string]any)
						iu, _ := pm["image_url"].(map[string]any)
						if pm["type"] == "image_url" && iu["url"] == "data:image/png;base64,"+pngB64 {
							ok = true
						}
					}
					ok = ok && strings.Contains(jsonString(parts), "weather in Oslo")
				}
				if !ok {
					t.Errorf("image not mapped: provider got %s", jsonString(user))
				}
			})
		}
	}
}

// Anthropic's prompt-cache usage (input_tokens excludes cached tokens)
// reaches other dialects as a total input count, with the cached share
// where the dialect carries it.
func TestMatrixCacheUsage(t *testing.T) {
	an := newMatrixProvider(t, "anthropic", "m-anthropic")
	r := matrixRouter(t, []*matrixProvider{an})
	fake := an.fake.(*llmtest.Anthropic)
	for _, c := range matrixClients() {
		for _, stream := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/%s", c.name, matrixStreamName(stream)), func(t *testing.T) {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				fake.SetCacheUsage(0, 0)
				base := c.run(ctx, r, an.model, ask{stream: stream})
				fake.SetCacheUsage(30, 20)
				defer fake.SetCacheUsage(0, 0)
				o := c.run(ctx, r, an.model, ask{stream: stream})
				if base.err != nil || o.err != nil {
					t.Fatalf("client errors: %v, %v", base.err, o.err)
				}
				wantIn, wantCached := base.in+50, int64(30)
				if c.name == "anthropic" {
					wantIn = base.in // Anthropic's own input_tokens excludes the cache
				}
				if o.cached < 0 {
					wantCached = -1
				}
				if o.in != wantIn || o.cached != wantCached {
					t.Errorf("input tokens %d (cached %d), want %d (cached %d); without cache the input was %d",
						o.in, o.cached, wantIn, wantCached, base.in)
				}
			})
		}
	}
}

// A client that leaves a non-streamed request while the provider is still
// working cancels the provider's request.
func TestMatrixClientLeavesPlain(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			t.Run(fmt.Sprintf("%s→%s", c.name, p.apiType), func(t *testing.T) {
				c.skipFor(t, p.apiType, false)
				if p.apiType == "vllm" {
					t.Skip("the OpenAI fake does not count abandoned non-streamed requests")
				}
				p.fake.SetFault(llmtest.NoFault)
				p.fake.SetDelay(time.Minute)
				defer p.fake.SetDelay(0)
				before, seen := p.fake.Canceled(), len(p.fake.Requests())
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				defer cancel()
				done := make(chan outcome, 1)
				go func() { done <- c.run(ctx, r, p.model, ask{}) }()
				eventually(t, 10*time.Second, "the request to reach the provider", func() bool { return len(p.fake.Requests()) > seen })
				cancel()
				if o := <-done; o.err == nil {
					t.Fatal("a canceled call returned no error")
				}
				eventually(t, 10*time.Second, "the provider to see the client leave", func() bool { return p.fake.Canceled() > before })
			})
		}
	}
}

// Forced tool use and JSON output reach the provider in its own terms.
func TestMatrixToolChoiceAndFormat(t *testing.T) {
	r, provs := startMatrix(t)
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, a := range []ask{{tools: true, choice: "required"}, {tools: true, choice: "named"}, {format: "json"}, {format: "schema"}} {
				name := "choice=" + a.choice
				if a.format != "" {
					name = "format=" + a.format
				}
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, name), func(t *testing.T) {
					c.skipFor(t, p.apiType, a.tools)
					p.fake.SetFault(llmtest.NoFault)
					p.fake.SetToolCalls()
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, a)
					if errors.Is(o.err, errMatrixUnsupported) {
						t.Skip(o.err)
					}
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					body := p.last(t).JSON()
					if c.name == "ollama-generate" && p.apiType == "ollama" {
						body = map[string]any{"format": body["format"]} // passthrough: /api/generate carries format as is
					}
					var got any
					var want string
					switch {
					case p.apiType == "vllm" && a.choice != "":
						got, want = body["tool_choice"], map[string]string{"required": `"required"`, "named": `{"function":{"name":"get_weather"},"type":"function"}`}[a.choice]
					case p.apiType == "anthropic" && a.choice != "":
						got, want = body["tool_choice"], map[string]string{"required": `{"type":"any"}`, "named": `{"name":"get_weather","type":"tool"}`}[a.choice]
					case p.apiType == "ollama" && a.choice != "":
						// Ollama cannot force a tool: the tool must still be offered.
						got, want = len(body["tools"].([]any)) > 0, "true"
					case p.apiType == "vllm" && a.format == "json":
						got, want = body["response_format"], `{"type":"json_object"}`
					case p.apiType == "vllm":
						rf, _ := body["response_format"].(map[string]any)
						js, _ := rf["json_schema"].(map[string]any)
						got, want = []any{rf["type"], js["schema"]}, `["json_schema",`+compactJSON(weatherSchema)+`]`
					case p.apiType == "ollama" && a.format == "json":
						got, want = body["format"], `"json"`
					case p.apiType == "ollama":
						got, want = body["format"], compactJSON(weatherSchema)
					case a.format == "json":
						t.Logf("Anthropic has no JSON mode; the provider got %s", jsonString(body))
						return
					default:
						oc, _ := body["output_config"].(map[string]any)
						got, want = oc["format"], `{"schema":`+compactJSON(weatherSchema)+`,"type":"json_schema"}`
					}
					if jsonString(got) != want {
						t.Errorf("provider got %s, want %s\nwhole request: %s", jsonString(got), want, jsonString(body))
					}
				})
			}
		}
	}
}

// compactJSON re-encodes a JSON text with sorted keys, as jsonString does.
func compactJSON(s string) string {
	var v any
	_ = json.Unmarshal([]byte(s), &v)
	return jsonString(v)
}

// Reasoning asked for by the client reaches the provider in its terms, and
// the provider's thinking reaches the client in the client's.
func TestMatrixThinking(t *testing.T) {
	r, provs := startMatrix(t)
	const thought = "Oslo is in Norway."
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, false)
					if p.apiType == "vllm" {
						t.Skip("the OpenAI fake has no reasoning output")
					}
					thinker := p.fake.(interface{ SetThinking(string) })
					thinker.SetThinking(thought)
					defer thinker.SetThinking("")
					p.reset("alpha beta gamma delta")
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream, think: true})
					if errors.Is(o.err, errMatrixUnsupported) {
						t.Skip(o.err)
					}
					body := p.last(t).JSON()
					switch p.apiType {
					case "ollama":
						if th := body["think"]; th == nil || th == false {
							t.Errorf("the provider was not asked to think: %s", jsonString(body))
						}
					case "anthropic":
						th, _ := body["thinking"].(map[string]any)
						budget, _ := th["budget_tokens"].(float64)
						mt, _ := body["max_tokens"].(float64)
						if (th["type"] != "enabled" || budget < 1024 || budget >= mt) && th["type"] != "adaptive" {
							t.Errorf("the provider was not asked to think properly: %s", jsonString(body))
						}
					}
					if o.err != nil {
						t.Fatalf("client error: %v", o.err)
					}
					if o.text != "alpha beta gamma delta" || o.thinking != thought {
						t.Errorf("client got thinking %q and text %q, want %q and %q", o.thinking, o.text, thought, "alpha beta gamma delta")
					}
				})
			}
		}
	}
}

// A failing provider of one type fails over to a provider of another type
// within one request, streamed or not: the request is re-encoded for the
// second provider's dialect and the answer reaches the client in its own.
func TestMatrixFailoverAcrossTypes(t *testing.T) {
	type fcase struct {
		c         matrixClient
		bad, good *matrixProvider
		stream    bool
	}
	var cases []fcase
	var names []string
	models := map[string][]string{}
	for _, c := range matrixClients() {
		for _, bad := range matrixTypes {
			for _, good := range matrixTypes {
				if bad == good {
					continue
				}
				for _, stream := range []bool{false, true} {
					model := fmt.Sprintf("fo-%d", len(cases))
					k := fcase{c, newMatrixProvider(t, bad, model), newMatrixProvider(t, good, model), stream}
					k.bad.fake.SetFault(llmtest.Fail500)
					k.good.fake.SetReply("served by "+good, 3)
					models[model] = []string{
						prov(model+"-a", k.bad.url, bad, k.bad.extra+`"tool_calling": true`),
						prov(model+"-b", k.good.url, good, k.good.extra+`"tool_calling": true`)}
					cases = append(cases, k)
					names = append(names, fmt.Sprintf("%s→%s⇒%s/%s", c.name, bad, good, matrixStreamName(stream)))
				}
			}
		}
	}
	// first_available tries providers in their configured order.
	r := startRouter(t, routerOpts{models: modelsJSON(models), global: "strategy first_available"})
	for i, k := range cases {
		t.Run(names[i], func(t *testing.T) {
			if k.c.skip[k.bad.apiType] != "" || k.c.skip[k.good.apiType] != "" {
				t.Skip(k.c.skip["vllm"])
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			o := k.c.run(ctx, r, k.bad.model, ask{stream: k.stream})
			if o.err != nil {
				t.Fatalf("client error: %v", o.err)
			}
			if want := "served by " + k.good.apiType; o.text != want || o.stop != k.c.stop {
				t.Errorf("client got %q (stop %q), want %q (stop %q)", o.text, o.stop, want, k.c.stop)
			}
			if k.bad.last(t).Method != http.MethodPost {
				t.Errorf("the failing %s provider was never tried", k.bad.apiType)
			}
		})
	}
}

// A provider that never answers, or stalls in the middle of a stream, ends
// the client's request with an error once external_timeout passes, and the
// provider's request is canceled.
//
// Translated pairs exercise the idle timer around protocol.Pump (the stream
// must end with the client dialect's error event); same-dialect pairs the
// byte relay's.
func TestMatrixProviderStalls(t *testing.T) {
	type scase struct {
		c      matrixClient
		typ    string
		stream bool
		stall  bool // answer, then stall mid-stream; else never answer
	}
	cases := map[string]scase{}
	var names []string
	for _, c := range matrixClients() {
		for _, typ := range matrixTypes {
			for _, k := range []scase{{c, typ, false, false}, {c, typ, true, false}, {c, typ, true, true}} {
				n := fmt.Sprintf("%s→%s/%s", c.name, typ, map[bool]string{false: "no answer", true: "stalled"}[k.stall])
				if !k.stall {
					n += "/" + matrixStreamName(k.stream)
				}
				cases[n] = k
				names = append(names, n)
			}
		}
	}
	iso := startMatrixIsolated(t, names, func(n string) string { return cases[n].typ }, "external_timeout 1s")
	for _, n := range names {
		k := cases[n]
		t.Run(n, func(t *testing.T) {
			k.c.skipFor(t, k.typ, false)
			t.Parallel() // every case has its own provider; each waits out the timeout
			p := iso.provs[n]
			if k.stall {
				p.fake.SetReply("alpha beta gamma delta", 4)
				release := p.fake.Hold() // never released before the timeout
				defer release()
			} else {
				p.fake.SetFault(llmtest.Hang)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			start := time.Now()
			o := k.c.run(ctx, iso.r, p.model, ask{stream: k.stream})
			if o.err == nil || o.silent || ctx.Err() != nil {
				t.Fatalf("client got err %v (the stream just stopped: %v), text %q, stop reason %q after %s; want an error soon after external_timeout (1s)",
					o.err, o.silent, o.text, o.stop, time.Since(start).Round(time.Millisecond))
			}
			if !k.stall && o.status != http.StatusGatewayTimeout {
				t.Errorf("status %d (%v), want 504", o.status, o.err)
			}
			eventually(t, 10*time.Second, "the provider's request to be canceled", func() bool { return p.fake.Canceled() > 0 })
		})
	}
}

// Big payloads cross every pair: a 256 KiB tool-call argument (Ollama sends
// it whole on one NDJSON line; the SSE fakes in two 128 KiB events) and a
// 1 MiB answer in four deltas.
func TestMatrixLargePayloads(t *testing.T) {
	r, provs := startMatrix(t)
	big := strings.Repeat("x", 256<<10)
	words := make([]string, 4)
	for i := range words {
		words[i] = strings.Repeat(string(rune('a'+i)), 256<<10)
	}
	longText := strings.Join(words, " ")
	for _, c := range matrixClients() {
		for _, p := range provs {
			for _, stream := range []bool{false, true} {
				t.Run(fmt.Sprintf("%s→%s/%s", c.name, p.apiType, matrixStreamName(stream)), func(t *testing.T) {
					c.skipFor(t, p.apiType, false)
					p.reset(longText)
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					defer cancel()
					o := c.run(ctx, r, p.model, ask{stream: stream})
					if o.err != nil || o.text != longText {
						t.Fatalf("1 MiB answer: err %v, got %d bytes, want %d", o.err, len(o.text), len(longText))
					}
					if c.noTools {
						return
					}
					p.fake.SetToolCalls(llmtest.ToolCall{Name: "get_weather", Args: map[string]any{"city": big}})
					defer p.fake.SetToolCalls()
					o = c.run(ctx, r, p.model, ask{stream: stream, tools: true})
					if o.err != nil || len(o.calls) != 1 || o.calls[0].args["city"] != big {
						n := 0
						if len(o.calls) == 1 {
							s, _ := o.calls[0].args["city"].(string)
							n = len(s)
						}
						t.Fatalf("256 KiB tool argument: err %v, %d calls, argument of %d bytes", o.err, len(o.calls), n)
					}
				})
			}
		}
	}
}

// n > 1 cannot be emulated by one call to an Ollama or Anthropic provider:
// the client gets a 400 naming n rather than one choice where it asked for
// two.
func TestMatrixUnmappableN(t *testing.T) {
	r, provs := startMatrix(t)
	for _, p := range provs {
		t.Run("openai→"+p.apiType, func(t *testing.T) {
			oc := client(r)
			params := chatParams(p.model, matrixQuestion)
			params.N = openai.Int(2)
			res, err := oc.Chat.Completions.New(context.Background(), params)
			if p.apiType == "vllm" {
				if err != nil {
					t.Fatalf("vLLM serves n itself: %v", err)
				}
				return
			}
			var ae *openai.Error
			if errors.As(err, &ae) && ae.StatusCode == 400 && strings.Contains(ae.Message+ae.Param, "n") {
				return
			}
			if err == nil {
				t.Fatalf("asked for 2 choices, got %d and no error", len(res.Choices))
			}
			t.Fatalf("err %v, want a 400 naming n", err)
		})
	}
}
