package engine

import (
	"encoding/json"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/builtin"
	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/caddymodule/protocol"
)

var promptFields = []string{builtin.FieldMapPrompt, builtin.FieldForce, builtin.FieldPostfix}

// promptControl handles map_prompt, prompt_str_force and prompt_str_postfix
// on a proxy endpoint. The original let any client replace system prompts
// this way; here they are removed unless the operator enabled
// allow_prompt_control, in which case they edit the system prompt.
func (h *Server) promptControl(c *chatCall) error {
	found := false
	for _, f := range promptFields {
		if c.obj.Raw(f) != nil {
			found = true
			break
		}
	}
	if !found {
		return nil
	}
	var ctl builtin.Control
	if h.AllowPromptControl {
		if raw := c.obj.Raw(builtin.FieldMapPrompt); raw != nil && string(raw) != "null" {
			if err := json.Unmarshal(raw, &ctl.MapPrompt); err != nil {
				return &Error{Status: http.StatusBadRequest, Param: builtin.FieldMapPrompt, Msg: "'map_prompt' must map strings to strings"}
			}
		}
		for f, dst := range map[string]*string{builtin.FieldForce: &ctl.Force, builtin.FieldPostfix: &ctl.Postfix} {
			v, _, err := c.obj.String(f)
			if err != nil {
				return &Error{Status: http.StatusBadRequest, Param: f, Msg: "'" + f + "' must be a string"}
			}
			*dst = v
		}
	}
	body := c.obj.Delete(promptFields...)
	obj, err := jsonscan.Scan(body)
	if err != nil {
		return err
	}
	c.body, c.obj = body, obj
	if !h.AllowPromptControl {
		return nil
	}
	creq, err := c.decode()
	if err != nil {
		return err
	}
	sys := ""
	for _, p := range creq.System {
		if p.Kind == protocol.PartText {
			sys += p.Text
		}
	}
	creq.System = []protocol.Part{{Kind: protocol.PartText, Text: ctl.Apply(sys)}}
	c.modified = true
	return nil
}
