package protocol

import (
	"encoding/json"
	"time"
)

// Dialect names one client- or provider-facing wire format.
type Dialect string

// The dialects the router speaks. LM Studio and vLLM speak OpenAIChat.
const (
	OpenAIChat        Dialect = "openai-chat"        // POST /v1/chat/completions
	OpenAIResponses   Dialect = "openai-responses"   // POST /v1/responses
	OpenAICompletions Dialect = "openai-completions" // POST /v1/completions (legacy)
	OpenAIEmbeddings  Dialect = "openai-embeddings"  // POST /v1/embeddings
	Anthropic         Dialect = "anthropic"          // POST /v1/messages
	OllamaChat        Dialect = "ollama-chat"        // POST /api/chat
	OllamaGenerate    Dialect = "ollama-generate"    // POST /api/generate
	OllamaEmbed       Dialect = "ollama-embed"       // POST /api/embed
	OllamaEmbeddings  Dialect = "ollama-embeddings"  // POST /api/embeddings (legacy, one vector)
)

// Family groups dialects whose unmapped fields may be replayed to one another.
func (d Dialect) Family() string {
	switch d {
	case OpenAIChat, OpenAIResponses, OpenAICompletions, OpenAIEmbeddings:
		return "openai"
	case Anthropic:
		return "anthropic"
	case OllamaChat, OllamaGenerate, OllamaEmbed, OllamaEmbeddings:
		return "ollama"
	}
	return ""
}

// Role is the author of a canonical message.
type Role string

// Canonical roles. Tool messages hold only PartToolResult parts.
const (
	RoleSystem    Role = "system"
	RoleUser      Role = "user"
	RoleAssistant Role = "assistant"
	RoleTool      Role = "tool"
)

// PartKind says which member of a Part is set.
type PartKind uint8

// Part kinds.
const (
	PartText       PartKind = iota + 1 // Text
	PartImage                          // Image
	PartReasoning                      // Text (+ Signature from Anthropic)
	PartToolCall                       // Call (assistant)
	PartToolResult                     // Result (tool role)
	PartOther                          // Raw, only replayable to a provider of the Origin family
)

// Part is one piece of message content.
type Part struct {
	Kind      PartKind
	Text      string      // PartText, PartReasoning
	Signature string      // PartReasoning: Anthropic thinking signature (meaningful only to Anthropic)
	Image     *Image      // PartImage
	Call      *ToolCall   // PartToolCall
	Result    *ToolResult // PartToolResult
	// Raw is the undecoded part for PartOther (audio, files, documents, redacted
	// thinking, server-tool blocks...), with Origin the dialect it came from.
	Raw    json.RawMessage
	Origin Dialect
}

// Image is an image given by URL or inline base64 data.
type Image struct {
	URL       string // http(s) URL; empty when Data is set
	MediaType string // e.g. image/png (inline data only; may be empty for Ollama)
	Data      string // base64, no data: prefix
	Detail    string // OpenAI detail hint (auto|low|high), dropped by other dialects
}

// ToolCall is a call the assistant made.
type ToolCall struct {
	ID   string
	Name string
	Args json.RawMessage // JSON text of the arguments (normally an object)
}

// ToolResult answers one ToolCall.
type ToolResult struct {
	CallID  string
	Name    string // tool name when known (Ollama tool_name); see Request.ToolName
	Content []Part // PartText and PartImage
	IsError bool
}

// Message is one turn of the conversation.
type Message struct {
	Role  Role
	Name  string // OpenAI participant name, dropped by other dialects
	Parts []Part
}

// Tool is a function the model may call, or a dialect-specific tool kept Raw.
type Tool struct {
	Name        string
	Description string
	Schema      json.RawMessage // JSON Schema of the arguments; nil = no arguments
	Strict      *bool
	Raw         json.RawMessage // non-function (hosted/server) tool, only for its Origin family
	Origin      Dialect
}

// ToolChoiceMode is how the model must use tools.
type ToolChoiceMode string

// Tool choice modes; "" means the dialect default (auto when tools are given).
const (
	ToolAuto     ToolChoiceMode = "auto"
	ToolNone     ToolChoiceMode = "none"
	ToolRequired ToolChoiceMode = "required"
	ToolNamed    ToolChoiceMode = "named"
)

// ToolChoice says whether and which tool the model must call.
type ToolChoice struct {
	Mode ToolChoiceMode
	Name string // ToolNamed
}

// FormatKind is the kind of structured output asked for.
type FormatKind string

// Output formats.
const (
	FormatText       FormatKind = "text"
	FormatJSON       FormatKind = "json_object"
	FormatJSONSchema FormatKind = "json_schema"
)

// Format asks for structured output.
type Format struct {
	Kind        FormatKind
	Name        string
	Description string
	Schema      json.RawMessage
	Strict      *bool
}

// Reasoning configures thinking. Effort is one of none|minimal|low|medium|high|xhigh|max
// (as the client said it); Budget is an Anthropic budget_tokens; Off turns thinking off.
type Reasoning struct {
	Effort string
	Budget int
	Off    bool
}

// Request is a chat request in canonical form.
type Request struct {
	Model    string
	System   []Part // system prompt: text parts, in order
	Messages []Message
	Tools    []Tool

	ToolChoice    ToolChoice
	ParallelTools *bool // nil = dialect default (parallel allowed)

	MaxTokens        *int
	Temperature      *float64
	TopP             *float64
	TopK             *int
	MinP             *float64
	Seed             *int64
	PresencePenalty  *float64
	FrequencyPenalty *float64
	RepeatPenalty    *float64
	Stop             []string
	N                int // choices asked for; 0 or 1 = one
	User             string

	Format    *Format
	Reasoning *Reasoning

	Stream       bool
	IncludeUsage bool // the client asked for usage in the stream (OpenAI stream_options.include_usage)

	KeepAlive json.RawMessage            // Ollama keep_alive, as sent
	Options   map[string]json.RawMessage // Ollama options not mapped to a field above

	// Extra holds top-level fields this package does not model, as sent by a
	// client of dialect Origin. Encoders replay them only to the same family.
	Extra  map[string]json.RawMessage
	Origin Dialect
}

// StopReason is why the model stopped, in canonical form.
type StopReason string

// Canonical stop reasons.
const (
	StopEnd           StopReason = "end"            // natural end (OpenAI stop, Anthropic end_turn)
	StopSequence      StopReason = "stop_sequence"  // a stop sequence matched
	StopLength        StopReason = "length"         // output limit (or context window) reached
	StopToolUse       StopReason = "tool_use"       // the model called tools
	StopContentFilter StopReason = "content_filter" // refusal / filtered
	StopPause         StopReason = "pause"          // Anthropic pause_turn
)

// Usage counts tokens. Input counts every input token, cached or not.
type Usage struct {
	Input      int
	Output     int
	CacheRead  int
	CacheWrite int
	Reasoning  int
}

// Total is Input + Output.
func (u Usage) Total() int { return u.Input + u.Output }

// Durations are the timings an Ollama answer reports (total_duration,
// load_duration, prompt_eval_duration, eval_duration); zero when unknown.
type Durations struct {
	Total, Load, PromptEval, Eval time.Duration
}

// Response is a whole (non-streamed) chat answer in canonical form.
type Response struct {
	ID           string
	Model        string
	Created      time.Time
	Parts        []Part // PartReasoning, PartText and PartToolCall, in order
	Stop         StopReason
	StopSequence string
	Usage        Usage
	Durations    Durations // as an Ollama provider reported them
}

// Text returns the concatenated text parts of the response.
func (r *Response) Text() string {
	n := 0
	for i := range r.Parts {
		if r.Parts[i].Kind == PartText {
			n += len(r.Parts[i].Text)
		}
	}
	b := make([]byte, 0, n)
	for i := range r.Parts {
		if r.Parts[i].Kind == PartText {
			b = append(b, r.Parts[i].Text...)
		}
	}
	return string(b)
}

// EmbedRequest is an embeddings request in canonical form.
type EmbedRequest struct {
	Model      string
	Input      []string
	Tokens     [][]int // OpenAI token-array input (only OpenAI-wire providers take it)
	Dimensions *int
	Base64     bool  // the client wants base64 float32 vectors (OpenAI encoding_format)
	Truncate   *bool // Ollama truncate
	User       string
	KeepAlive  json.RawMessage
	Options    map[string]json.RawMessage
	Extra      map[string]json.RawMessage
	Origin     Dialect
}

// EmbedResponse is an embeddings answer in canonical form.
type EmbedResponse struct {
	Model     string
	Vectors   [][]float32
	Input     int       // prompt tokens
	Durations Durations // as an Ollama provider reported them (Total, Load)
}
