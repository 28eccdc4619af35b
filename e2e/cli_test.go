package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"
)

// listModels returns the ids /v1/models lists.
func listModels(t *testing.T, r *router) []string {
	t.Helper()
	resp, err := http.Get(r.Base() + "/v1/models")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var page struct {
		Data []struct {
			ID string `json:"id"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range page.Data {
		ids = append(ids, m.ID)
	}
	slices.Sort(ids)
	return ids
}

// runCLI runs the binary with args and returns its combined output.
func runCLI(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// TestReloadAppliesModelsConfig is the README's `llm-router reload --config …`
// (no --force) and the admin API's POST /load of the same Caddyfile after
// only models-config changed: both must apply it; an invalid one is refused
// with the router's one-line message and the old config keeps serving.
func TestReloadAppliesModelsConfig(t *testing.T) {
	p := prov("p1", "http://127.0.0.1:9", "openai", "")
	opts := routerOpts{models: modelsJSON(map[string][]string{"m1": {p}})}
	r := startRouter(t, opts)
	if got := listModels(t, r); !slices.Equal(got, []string{"m1"}) {
		t.Fatalf("models = %v", got)
	}

	// The command, as the README documents it.
	opts.models = modelsJSON(map[string][]string{"m2": {p}})
	r.write(opts)
	out, err := runCLI(t, nil, "reload", "--config", r.caddy, "--adapter", "caddyfile", "--address", r.admin)
	if err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	if got := listModels(t, r); !slices.Equal(got, []string{"m2"}) {
		t.Fatalf("after `llm-router reload` models = %v, want [m2]", got)
	}

	// The admin API with the unchanged Caddyfile.
	opts.models = modelsJSON(map[string][]string{"m3": {p}})
	r.write(opts)
	caddyfile, err := os.ReadFile(r.caddy)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Post("http://"+r.admin+"/load", "text/caddyfile", strings.NewReader(string(caddyfile)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST /load: %s", resp.Status)
	}
	if got := listModels(t, r); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after POST /load models = %v, want [m3]", got)
	}

	// An invalid models-config: refused on one line, unescaped; m3 keeps serving.
	bad := opts
	bad.models = "{\n\"g\": {\"m4\": {\"providers\": [\n {\"id\": \"p4\", \"api_host\": \"10.0.0.1:80\", \"api_type\": \"openai\"}\n]}},\n\"active_models\": {\"g\": [\"m4\"]}\n}"
	r.write(bad)
	out, err = runCLI(t, nil, "reload", "--config", r.caddy, "--adapter", "caddyfile", "--address", r.admin)
	if err == nil {
		t.Fatalf("reload of an invalid models-config succeeded:\n%s", out)
	}
	first := strings.SplitN(out, "\n", 2)[0]
	want := fmt.Sprintf(`llm-router: %s:3: model "m4": provider "p4": field "api_host": must be an http:// or https:// URL`, r.models)
	if !strings.HasPrefix(first, want) || !strings.Contains(first, "keeps serving") || strings.Contains(out, `\"`) {
		t.Fatalf("reload output must lead with the router's message, unescaped:\n got %s\nwant %s…", out, want)
	}
	if got := listModels(t, r); !slices.Equal(got, []string{"m3"}) {
		t.Fatalf("after a refused reload models = %v, want [m3]", got)
	}
}

// TestStartRefusesBadModelsConfig: the start error leads with one line.
func TestStartRefusesBadModelsConfig(t *testing.T) {
	r := launch(t, routerOpts{models: `{"g": {"m": {"providers": [{"id": "p", "api_type": "openai"}]}}, "active_models": {"g": ["m"]}}`})
	if _, ok := r.wait(60 * time.Second); !ok {
		t.Fatal("llm-router kept running on an invalid models-config")
	}
	first := strings.SplitN(r.logs.String(), "\n", 2)[0]
	want := fmt.Sprintf(`llm-router: %s:1: model "m": provider "p": field "api_host": is required`, r.models)
	if !strings.HasPrefix(first, want) {
		t.Fatalf("start output must lead with the router's message:\n got %s\nwant %s…", r.logs, want)
	}
}

// TestUnknownModelsConfigField: a misspelled field is a warning at load and
// in validate, and strict_models_config refuses it.
func TestUnknownModelsConfigField(t *testing.T) {
	models := modelsJSON(map[string][]string{"m1": {prov("p1", "http://127.0.0.1:9", "openai", `"api_tokn": "sk-secret"`)}})
	r := startRouter(t, routerOpts{models: models})
	want := `model \"m1\": provider \"p1\": field \"api_tokn\": unknown field (did you mean \"api_token\"?); it is ignored`
	eventually(t, 10*time.Second, "the unknown-field warning in the log", func() bool { return strings.Contains(r.logs.String(), want) })
	if strings.Contains(r.logs.String(), "sk-secret") {
		t.Fatal("the warning logged the token")
	}

	out, err := runCLI(t, nil, "validate", "--config", r.caddy, "--adapter", "caddyfile")
	if err != nil || !strings.Contains(out, `llm-router: warning: `+r.models+`:1: model "m1": provider "p1": field "api_tokn": unknown field (did you mean "api_token"?)`) {
		t.Fatalf("validate must warn about the field: %v\n%s", err, out)
	}

	strict := launch(t, routerOpts{models: models, global: "strict_models_config"})
	if _, ok := strict.wait(60 * time.Second); !ok {
		t.Fatal("strict_models_config accepted an unknown field")
	}
	if first := strings.SplitN(strict.logs.String(), "\n", 2)[0]; !strings.Contains(first, `field "api_tokn": unknown field (did you mean "api_token"?); strict_models_config refuses unknown fields`) {
		t.Fatalf("strict refusal must lead the output:\n%s", strict.logs)
	}
}

// TestUnknownStrategyNamesLine: the Caddyfile error names the file and line.
func TestUnknownStrategyNamesLine(t *testing.T) {
	r := launch(t, routerOpts{models: modelsJSON(map[string][]string{"m1": {prov("p1", "http://127.0.0.1:9", "openai", "")}}), global: "strategy fastest"})
	if _, ok := r.wait(60 * time.Second); !ok {
		t.Fatal("an unknown strategy was accepted")
	}
	// The test Caddyfile has `strategy fastest` on line 7.
	if logs := r.logs.String(); !strings.Contains(logs, `unknown balance strategy \"fastest\"`) || !strings.Contains(logs, r.caddy+":7") {
		t.Fatalf("the error must name the strategy, the file and the line:\n%s", logs)
	}
}

// TestAdminPortTaken: the refusal says how to move the admin endpoint.
func TestAdminPortTaken(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	dir := t.TempDir()
	r := &router{t: t, dir: dir, port: freePort(t), admin: l.Addr().String(), caddy: dir + "/Caddyfile", models: dir + "/models-config.json"}
	r.write(routerOpts{models: modelsJSON(map[string][]string{"m1": {prov("p1", "http://127.0.0.1:9", "openai", "")}})})
	out, err := runCLI(t, []string{"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir}, "run", "--config", r.caddy, "--adapter", "caddyfile")
	if err == nil {
		t.Fatalf("run with a taken admin port succeeded:\n%s", out)
	}
	if first := strings.SplitN(out, "\n", 2)[0]; !strings.Contains(first, l.Addr().String()+" is already in use") || !strings.Contains(first, "CADDY_ADMIN") || !strings.Contains(first, "admin") {
		t.Fatalf("the refusal must say how to move the admin endpoint:\n%s", out)
	}
}

func TestVersionAndHelp(t *testing.T) {
	// Stamped the way packaging/build.sh stamps a release.
	stamped := t.TempDir() + "/llm-router"
	build := exec.Command("go", "build", "-tags", "nobadger,nomysql,nopgx", "-o", stamped, "-ldflags",
		"-X main.commit=0123456789abcdef -X github.com/llmrouter/llm-router/caddymodule.Version=1.2.3", "../appliance")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build: %v\n%s", err, out)
	}
	outb, err := exec.Command(stamped, "version").Output()
	if err != nil {
		t.Fatal(err)
	}
	out := string(outb)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) < 3 || lines[0] != "llm-router 1.2.3" || lines[1] != "commit 0123456789ab" || !strings.HasPrefix(lines[2], "Caddy v2.") {
		t.Fatalf("version output:\n%s", out)
	}

	out, err = runCLI(t, nil, "--help")
	if err != nil {
		t.Fatal(err)
	}
	own, keys, run := strings.Index(out, "llm-router commands:"), strings.Index(out, "  keys"), strings.Index(out, "  run ")
	if !strings.HasPrefix(out, "llm-router is ") || own < 0 || keys < own || run < keys ||
		strings.Contains(out, "Caddy is an extensible server platform") || strings.Contains(out, "caddyserver.com/download") {
		t.Fatalf("--help must present llm-router and its commands first:\n%s", out)
	}
	out, err = runCLI(t, nil, "keys", "--help")
	if err != nil || !strings.Contains(out, "llm-router keys") || strings.Contains(out, "caddy keys") || strings.Contains(out, "caddyserver.com") {
		t.Fatalf("keys --help must say llm-router keys: %v\n%s", err, out)
	}
}

// TestDefaultConfigForReloadAndValidate: without --config, reload and
// validate use the embedded default Caddyfile, as run does.
func TestDefaultConfigForReloadAndValidate(t *testing.T) {
	dir := t.TempDir()
	models := dir + "/models-config.json"
	p := prov("p1", "http://127.0.0.1:9", "openai", "")
	if err := os.WriteFile(models, []byte(modelsJSON(map[string][]string{"before": {p}})), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	env := []string{fmt.Sprintf("LLM_ROUTER_SERVER_PORT=%d", port), "LLM_ROUTER_SERVER_HOST=127.0.0.1",
		fmt.Sprintf("CADDY_ADMIN=127.0.0.1:%d", freePort(t)), "LLM_ROUTER_MODELS_CONFIG=" + models,
		"XDG_DATA_HOME=" + dir, "XDG_CONFIG_HOME=" + dir, "XDG_CACHE_HOME=" + dir, "HOME=" + dir}
	r := &router{t: t, port: port, logs: &syncBuffer{}, exited: make(chan struct{})}
	r.cmd = exec.Command(binary, "run")
	r.cmd.Dir = dir // no ./Caddyfile here for Caddy to fall back to
	r.cmd.Env = append(os.Environ(), env...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	r.waitReady()

	cli := func(args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), env...)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := cli("validate"); err != nil || !strings.Contains(out, "Valid configuration") {
		t.Fatalf("validate without --config: %v\n%s", err, out)
	}
	if err := os.WriteFile(models, []byte(modelsJSON(map[string][]string{"after": {p}})), 0o600); err != nil {
		t.Fatal(err)
	}
	if out, err := cli("reload"); err != nil {
		t.Fatalf("reload without --config: %v\n%s", err, out)
	}
	if got := listModels(t, r); !slices.Equal(got, []string{"after"}) {
		t.Fatalf("after reload models = %v, want [after]", got)
	}
}
