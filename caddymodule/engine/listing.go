package engine

import (
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
)

func (h *Server) ollamaHome(w http.ResponseWriter, _ *http.Request, _ Route) error {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := w.Write([]byte("Ollama is running"))
	return err
}

// ollamaTags lists the active models in Ollama's /api/tags shape, plus the
// fields the original router added; no provider address is shown.
func (h *Server) ollamaTags(w http.ResponseWriter, r *http.Request, _ Route) error {
	now := time.Now().UTC().Format(time.RFC3339)
	models := []map[string]any{}
	for _, m := range h.app.Config().Models() {
		if !allowsModel(r.Context(), m.Name) {
			continue
		}
		p := m.Providers[0]
		models = append(models, map[string]any{
			"name": m.Name, "model": m.Name, "modified_at": now, "size": 0, "digest": "",
			"details": map[string]any{"format": "", "family": "", "families": nil, "parameter_size": "", "quantization_level": ""},
			"id":      m.Name, "object": "model", "owned_by": p.APIType, "publisher": p.APIType,
			"input_size": p.InputSize, "max_context_length": p.InputSize, "is_embedding": p.IsEmbedding,
		})
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"models": models})
}

// ollamaShow answers /api/show for an active model.
func (h *Server) ollamaShow(w http.ResponseWriter, r *http.Request, rt Route) error {
	body, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	obj, err := jsonscan.Scan(body)
	if err != nil {
		return &Error{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	name, _, _ := obj.String("model")
	if name == "" {
		name, _, _ = obj.String("name")
	}
	if name == "" {
		return &Error{Status: http.StatusBadRequest, Msg: "model is required"}
	}
	m, err := h.resolveModel(name)
	if err != nil {
		return err
	}
	if !allowsModel(r.Context(), m.Name) {
		return &Error{Status: http.StatusForbidden, Msg: fmt.Sprintf("this key may not use model '%s'", m.Name)}
	}
	p := m.Providers[0]
	caps := []string{"completion"}
	if p.IsEmbedding {
		caps = []string{"embedding"}
	} else if p.AcceptsTools() {
		caps = append(caps, "tools")
	}
	return WriteJSON(w, http.StatusOK, map[string]any{
		"modelfile": "", "parameters": "", "template": "",
		"details":      map[string]any{"format": "", "family": "", "parameter_size": "", "quantization_level": ""},
		"model_info":   map[string]any{"general.architecture": strings.SplitN(m.Name, ":", 2)[0], "context_length": p.InputSize},
		"capabilities": caps,
		"modified_at":  time.Now().UTC().Format(time.RFC3339),
	})
}

// lmStudioModels lists the active models in LM Studio's /api/v0/models shape.
func (h *Server) lmStudioModels(w http.ResponseWriter, r *http.Request, _ Route) error {
	data := []map[string]any{}
	for _, m := range h.app.Config().Models() {
		if !allowsModel(r.Context(), m.Name) {
			continue
		}
		p := m.Providers[0]
		typ := "llm"
		if p.IsEmbedding {
			typ = "embeddings"
		}
		data = append(data, map[string]any{"id": m.Name, "object": "model", "type": typ, "publisher": p.APIType,
			"arch": m.Name, "compatibility_type": "gguf", "quantization": "", "state": "loaded", "max_context_length": p.InputSize})
	}
	return WriteJSON(w, http.StatusOK, map[string]any{"object": "list", "data": data})
}
