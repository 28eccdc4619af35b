package caddymodule

import (
	"encoding/json"
	"net/http"

	fastmasker "github.com/llmrouter/llm-router/plugins/fast_masker"
)

// fastTextMask serves POST {prefix}/fast_text_mask: {"text"} →
// {"text", "mappings"}, masked by fast_masker with placeholders numbered
// for this request only.
func (h *Handler) fastTextMask(w http.ResponseWriter, r *http.Request, _ route) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	var req struct {
		Text *string `json:"text"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		return &apiError{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	if req.Text == nil {
		return &apiError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' is required"}
	}
	var s fastmasker.Session
	out := h.fastMasker.Mask(*req.Text, &s)
	mappings := s.Mappings()
	if mappings == nil {
		mappings = map[string]string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"text": out, "mappings": mappings})
}
