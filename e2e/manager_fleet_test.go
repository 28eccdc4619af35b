package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store/pgtest"
)

// hasModule tells whether the built binary has the Caddy module id.
func hasModule(t *testing.T, id string) bool {
	t.Helper()
	out, err := exec.Command(binary, "list-modules").CombinedOutput()
	if err != nil {
		t.Fatalf("list-modules: %v\n%s", err, out)
	}
	return slices.Contains(strings.Fields(string(out)), id)
}

// TestConfigManagerFleet: two llm-router processes whose Config Manager
// points at one PostgreSQL database both serve a config activated in the
// database within seconds (each validating it before the swap), an invalid
// activation changes neither, and chats go to the new providers with the
// token sealed in the database.
func TestConfigManagerFleet(t *testing.T) {
	if !hasModule(t, "http.handlers.llm_router_configs") {
		t.Fatal("this build has no Config Manager module (http.handlers.llm_router_configs)")
	}
	pg := pgtest.Start(t)
	dbURL := pg.NewDatabase(t)
	// Every instance of a fleet shares the key that seals provider tokens.
	keyFile := filepath.Join(t.TempDir(), "manager.key")
	key, err := doc.LoadKey(keyFile)
	if err != nil {
		t.Fatal(err)
	}
	old := llmtest.NewOpenAI("old-upstream")
	defer old.Close()
	next := llmtest.NewOpenAI("new-upstream")
	defer next.Close()
	next.SetReply("served by the new config", 2)

	site := fmt.Sprintf("\tllm_router_configs {\n\t\tenabled on\n\t\tdatabase %s\n\t\tkey_file %s\n\t}\n", dbURL, keyFile)
	var fleet []*router
	for range 2 {
		fleet = append(fleet, startRouter(t, routerOpts{
			models: modelsJSON(map[string][]string{"old-model": {prov("old", old.URL, "openai", "")}}),
			site:   site,
		}))
	}
	for i, r := range fleet {
		if got := listModels(t, r); !slices.Equal(got, []string{"old-model"}) {
			t.Fatalf("router %d starts with %v", i, got)
		}
	}

	// An administrator activates a config (what the manager's activate
	// button records), straight in the database.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	admin, err := st.Setup(ctx, "admin", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	proj, err := st.DefaultProject(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	d, err := doc.Parse([]byte(modelsJSON(map[string][]string{
		"new-model":   {prov("new", next.URL, "openai", `"api_token": "sk-fleet-secret"`)},
		"other-model": {prov("other", next.URL, "openai", "")},
	})))
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Seal(key); err != nil {
		t.Fatal(err)
	}
	cfg, err := st.CreateConfig(ctx, admin, proj.ID, "fleet", d.JSON(), "for both routers")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Activate(ctx, admin, cfg.ID, cfg.Revision); err != nil {
		t.Fatal(err)
	}
	want := []string{"new-model", "other-model"}
	for i, r := range fleet {
		eventually(t, 20*time.Second, fmt.Sprintf("router %d serves the activated config", i), func() bool {
			return slices.Equal(listModels(t, r), want)
		})
	}
	// Chats go where the new config says, with the opened token.
	for i, r := range fleet {
		status, _, body := do(t, "POST", r.Base()+"/v1/chat/completions",
			`{"model": "new-model", "messages": [{"role": "user", "content": "hi"}]}`, map[string]string{"Content-Type": "application/json"})
		if status != 200 || !strings.Contains(body, "served by the new config") {
			t.Fatalf("router %d: chat: HTTP %d %s", i, status, body)
		}
	}
	for _, req := range next.Requests() {
		if strings.HasSuffix(req.Path, "/chat/completions") && req.Header.Get("Authorization") != "Bearer sk-fleet-secret" {
			t.Fatalf("the new provider got Authorization %q", req.Header.Get("Authorization"))
		}
	}

	// An invalid revision activated in the database: each router refuses it
	// and keeps serving.
	bad := []byte(`{"test_models": {"broken": {"providers": [{"id": "b", "api_host": "http://127.0.0.1:1", "api_type": "soap"}]}}, "active_models": {"test_models": ["broken"]}}`)
	cfg, err = st.SaveConfig(ctx, admin, cfg.ID, cfg.Revision, "fleet", bad, "broken")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Activate(ctx, admin, cfg.ID, cfg.Revision); err != nil {
		t.Fatal(err)
	}
	for i, r := range fleet {
		eventually(t, 20*time.Second, fmt.Sprintf("router %d logs the refusal", i), func() bool {
			return strings.Contains(r.logs.String(), `unknown api_type \"soap\"`)
		})
		if got := listModels(t, r); !slices.Equal(got, want) {
			t.Fatalf("router %d swapped to an invalid config: %v", i, got)
		}
	}
	for i, r := range fleet {
		if strings.Contains(r.logs.String(), "sk-fleet-secret") {
			t.Fatalf("router %d logged the provider token", i)
		}
	}
}
