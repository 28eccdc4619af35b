package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"

	"github.com/llmrouter/llm-router/plugins"
)

// echoEndpoint answers {"got": <body>} and refuses an empty body.
var echoEndpoint = plugins.Endpoint{Method: "POST", Path: "/echo", Name: "echo",
	Serve: func(_ context.Context, body []byte) (any, error) {
		switch string(body) {
		case "":
			return nil, &plugins.EndpointError{Status: http.StatusBadRequest, Param: "text", Msg: "'text' is required"}
		case "boom":
			return nil, errors.New("boom")
		}
		return map[string]string{"got": string(body)}, nil
	}}

func TestPluginEndpoints(t *testing.T) {
	h := edgeHandler(t, true, nil)
	h.srv.MaxRequestBody = 16
	h.endpoints = []plugins.Endpoint{echoEndpoint}
	if err := h.mountPluginEndpoints(); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, method, path, body string
		wantStatus               int
		wantBody                 string // substring
		wantErr                  bool   // a Caddy error (500)
	}{
		{"served under the prefix", "POST", "/api/echo", "hi", 200, `{"got":"hi"}`, false},
		{"trailing slash", "POST", "/api/echo/", "hi", 200, `{"got":"hi"}`, false},
		{"client error in the built-in shape", "POST", "/api/echo", "", 400, `{"error":{"message":"'text' is required","type":"invalid_request_error","param":"text"`, false},
		{"body over the router's limit", "POST", "/api/echo", strings.Repeat("x", 17), 413, `the limit is 16 bytes`, false},
		{"other method", "GET", "/api/echo", "", 405, "method GET is not allowed", false},
		{"not without the prefix", "POST", "/echo", "hi", 404, "Invalid URL", false},
		{"internal error", "POST", "/api/echo", "boom", 0, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			r := httptest.NewRequest(tt.method, "http://x"+tt.path, strings.NewReader(tt.body))
			err := h.ServeHTTP(w, r, caddyhttp.HandlerFunc(func(http.ResponseWriter, *http.Request) error { return nil }))
			if tt.wantErr {
				if err == nil || !strings.Contains(err.Error(), "echo: boom") {
					t.Fatalf("err = %v, want the endpoint's error", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if w.Code != tt.wantStatus || !strings.Contains(w.Body.String(), tt.wantBody) || !json.Valid(w.Body.Bytes()) {
				t.Fatalf("%d %s, want %d with %s", w.Code, w.Body, tt.wantStatus, tt.wantBody)
			}
		})
	}
}

func TestPluginEndpointTakesNoRouterRoute(t *testing.T) {
	h := edgeHandler(t, true, nil)
	ping := echoEndpoint
	ping.Method, ping.Path = "GET", "/ping"
	h.endpoints = []plugins.Endpoint{ping}
	if err := h.mountPluginEndpoints(); err == nil || !strings.Contains(err.Error(), "router's ping") {
		t.Fatalf("err = %v, want the route refused", err)
	}
}
