package plugintest_test

import (
	"encoding/json"
	"io"
	"net/http"
	"reflect"
	"strings"
	"testing"

	"github.com/llmrouter/llm-router/plugins/plugintest"
)

func post(t *testing.T, url, body string) (int, map[string]any) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	var v map[string]any
	_ = json.Unmarshal(data, &v)
	return resp.StatusCode, v
}

func TestWire(t *testing.T) {
	srv := plugintest.NewServer(t, "sojka_guard")
	srv.SetUnsafe("long_secret_key")

	resp, err := http.Get(srv.URL + plugintest.PathPing)
	if err != nil {
		t.Fatal(err)
	}
	data, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || strings.TrimSpace(string(data)) != `{"response":"pong"}` {
		t.Errorf("ping: %d %s", resp.StatusCode, data)
	}

	// Keys longer than 8 characters are classified too, like the real service.
	code, v := post(t, srv.URL+plugintest.PathSojka, `{"payload": {"long_secret_key": 1, "short": "hi"}}`)
	if code != 200 || v["results"].(map[string]any)["safe"] != false {
		t.Errorf("guard: %d %v; want unsafe because of the long key", code, v)
	}
	code, v = post(t, srv.URL+plugintest.PathSojka, `not json`)
	if code != 400 || v["error"] != "Request body must be JSON" {
		t.Errorf("non-JSON: %d %v", code, v)
	}
	if code, _ := post(t, srv.URL+plugintest.PathNask, `{}`); code != 404 {
		t.Errorf("unserved guardrail: %d, want 404", code)
	}

	code, v = post(t, srv.URL+plugintest.PathPII, `{"text": "to a@b.pl and a@b.pl", "n": 3}`)
	want := map[string]any{
		"anonymized": map[string]any{"text": "to {PII_1} and {PII_1}", "n": 3.0},
		"mappings":   map[string]any{"PII_1": "a@b.pl"},
	}
	if code != 200 || !reflect.DeepEqual(v, want) {
		t.Errorf("masker: %d %v, want %v", code, v, want)
	}
	if srv.Calls(plugintest.PathPII) != 1 || srv.Calls(plugintest.PathSojka) != 2 {
		t.Errorf("counters: pii %d sojka %d", srv.Calls(plugintest.PathPII), srv.Calls(plugintest.PathSojka))
	}

	srv.SetFault(plugintest.Status500)
	if code, v := post(t, srv.URL+plugintest.PathPII, `{}`); code != 500 || v["error"] == nil {
		t.Errorf("500 fault: %d %v", code, v)
	}
	srv.SetFault(plugintest.Down)
	if _, err := http.Get(srv.URL + plugintest.PathPing); err == nil {
		t.Error("down server answered the ping")
	}
}
