package caddymodule

import (
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
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
	obj, err := jsonscan.Scan(body) // refuses strings that are not UTF-8, too
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	text, ok, err := obj.String("text")
	if err != nil {
		return &apiError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' must be a string"}
	}
	if !ok {
		return &apiError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' is required"}
	}
	var s fastmasker.Session
	out := h.fastMasker.Mask(text, &s)
	mappings := s.Mappings()
	if mappings == nil {
		mappings = map[string]string{}
	}
	return writeJSON(w, http.StatusOK, map[string]any{"text": out, "mappings": mappings})
}
