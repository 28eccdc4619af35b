package fastmasker

import (
	"context"
	"net/http"

	"github.com/llmrouter/llm-router/caddymodule/jsonscan"
	"github.com/llmrouter/llm-router/plugins"
)

// Endpoints implements plugins.EndpointProvider: POST {prefix}/fast_text_mask.
func (mo *Module) Endpoints() []plugins.Endpoint {
	return []plugins.Endpoint{{Method: http.MethodPost, Path: "/" + TextMaskEndpoint, Name: TextMaskEndpoint, Serve: mo.fastTextMask}}
}

// TextMaskEndpoint names the endpoint that masks one text, the original's.
const TextMaskEndpoint = "fast_text_mask"

// fastTextMask serves POST {prefix}/fast_text_mask: {"text"} →
// {"text", "mappings"}, masked by fast_masker with placeholders numbered
// for this request only.
func (mo *Module) fastTextMask(_ context.Context, body []byte) (any, error) {
	obj, err := jsonscan.Scan(body) // refuses strings that are not UTF-8, too
	if err != nil {
		return nil, &plugins.EndpointError{Status: http.StatusBadRequest, Msg: "invalid JSON body: " + err.Error()}
	}
	text, ok, err := obj.String("text")
	if err != nil {
		return nil, &plugins.EndpointError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' must be a string"}
	}
	if !ok {
		return nil, &plugins.EndpointError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' is required"}
	}
	var s Session
	out := mo.m.Mask(text, &s)
	mappings := s.Mappings()
	if mappings == nil {
		mappings = map[string]string{}
	}
	return map[string]any{"text": out, "mappings": mappings}, nil
}
