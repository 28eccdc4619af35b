package protocol

import (
	"encoding/json"
	"strings"
)

// UpstreamErrorMessage extracts the human-readable message from an
// upstream error body in any dialect: OpenAI/vLLM {"error":{"message"}},
// Anthropic {"type":"error","error":{"type","message"}}, Ollama
// {"error":"..."}, older vLLM {"object":"error","message"}. It returns ""
// when body is none of these (the caller then uses a generic message).
func UpstreamErrorMessage(body []byte) string {
	var e struct {
		Error   json.RawMessage `json:"error"`
		Message string          `json:"message"`
	}
	if json.Unmarshal(body, &e) != nil {
		return ""
	}
	var s string
	if json.Unmarshal(e.Error, &s) == nil {
		return strings.TrimSpace(s)
	}
	var inner struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(e.Error, &inner) == nil && inner.Message != "" {
		return strings.TrimSpace(inner.Message)
	}
	return strings.TrimSpace(e.Message)
}
