package llmtest

import (
	"encoding/json"
	"fmt"
)

// openAIDanglingTool finds the first tool message whose tool_call_id
// answers no tool call of an earlier assistant message, which OpenAI's
// Chat Completions API refuses with a 400; it returns the error's param
// and message.
func openAIDanglingTool(msgs []json.RawMessage) (param, msg string, bad bool) {
	seen := map[string]bool{}
	for i, raw := range msgs {
		var m struct {
			Role       string  `json:"role"`
			ToolCallID *string `json:"tool_call_id"`
			ToolCalls  []struct {
				ID string `json:"id"`
			} `json:"tool_calls"`
		}
		if json.Unmarshal(raw, &m) != nil {
			continue
		}
		for _, tc := range m.ToolCalls {
			seen[tc.ID] = true
		}
		if m.Role != "tool" {
			continue
		}
		switch {
		case len(seen) == 0:
			return fmt.Sprintf("messages.[%d].role", i), "Invalid parameter: messages with role 'tool' must be a response to a preceeding message with 'tool_calls'.", true
		case m.ToolCallID == nil:
			return fmt.Sprintf("messages.[%d].tool_call_id", i), fmt.Sprintf("Missing required parameter: 'messages[%d].tool_call_id'.", i), true
		case !seen[*m.ToolCallID]:
			return fmt.Sprintf("messages.[%d].tool_call_id", i), fmt.Sprintf("Invalid parameter: 'tool_call_id' of '%s' not found in 'tool_calls' of previous message.", *m.ToolCallID), true
		}
	}
	return "", "", false
}

// anthropicDanglingTool finds the first tool_result block whose
// tool_use_id answers no tool_use block of an earlier assistant message,
// which the Messages API refuses with a 400; it returns the error message.
func anthropicDanglingTool(msgs []json.RawMessage) (msg string, bad bool) {
	seen := map[string]bool{}
	for i, raw := range msgs {
		var m struct {
			Content []struct {
				Type      string `json:"type"`
				ID        string `json:"id"`
				ToolUseID string `json:"tool_use_id"`
			} `json:"content"`
		}
		if json.Unmarshal(raw, &m) != nil {
			continue // string content
		}
		for j, b := range m.Content {
			switch b.Type {
			case "tool_use":
				seen[b.ID] = true
			case "tool_result":
				if b.ToolUseID == "" {
					return fmt.Sprintf("messages.%d.content.%d.tool_result.tool_use_id: Field required", i, j), true
				}
				if !seen[b.ToolUseID] {
					return fmt.Sprintf("messages.%d.content.%d: unexpected `tool_use_id` found in `tool_result` blocks: %s. Each `tool_result` block must have a corresponding `tool_use` block in the previous message.", i, j, b.ToolUseID), true
				}
			}
		}
	}
	return "", false
}
