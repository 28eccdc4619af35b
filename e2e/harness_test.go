// Package e2e drives the built llm-router binary end to end with the official
// client SDKs against llmtest fake providers.
package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
)

// binary is the llm-router binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "llm-router-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "llm-router")
	build := exec.Command("go", "build", "-tags", "nobadger,nomysql,nopgx", "-o", binary, "../appliance")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building llm-router:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// handedOut remembers the ports freePort returned, so that two routers
// started back to back never get the same one before either binds it.
var handedOut = struct {
	sync.Mutex
	m map[int]bool
}{m: map[int]bool{}}

// freePort returns a TCP port nothing listens on right now and that this
// test binary has not handed out before.
func freePort(t testing.TB) int {
	t.Helper()
	for {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := l.Addr().(*net.TCPAddr).Port
		l.Close()
		handedOut.Lock()
		seen := handedOut.m[port]
		handedOut.m[port] = true
		handedOut.Unlock()
		if !seen {
			return port
		}
	}
}

// syncBuffer is a goroutine-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// router is a running llm-router process.
type router struct {
	t       testing.TB
	dir     string
	port    int
	admin   string
	caddy   string // Caddyfile path
	models  string // models-config path
	cmd     *exec.Cmd
	logs    *syncBuffer
	exited  chan struct{}
	exitErr error
}

// Base returns the router's base URL.
func (r *router) Base() string { return fmt.Sprintf("http://127.0.0.1:%d", r.port) }

// routerOpts configure startRouter.
type routerOpts struct {
	models    string            // models-config.json content
	global    string            // extra lines inside the global llm_router block
	directive string            // extra lines inside the llm_router directive block
	site      string            // extra lines inside the site block
	env       map[string]string // extra environment
	noWait    bool              // do not wait for readiness
}

// caddyfile renders the test Caddyfile.
func (r *router) caddyfile(o routerOpts) string {
	return fmt.Sprintf(`{
	admin %s
	persist_config off
	grace_period 2s
	llm_router {
		models_config %s
%s
	}
}

http://127.0.0.1:%d {
%s
	llm_router {
%s
	}
}
`, r.admin, r.models, o.global, r.port, o.site, o.directive)
}

// startRouter writes the configuration files and starts llm-router run.
// A port taken between choosing and binding it (by another process or an
// outgoing connection's ephemeral port) makes it retry on fresh ports.
func startRouter(t testing.TB, o routerOpts) *router {
	t.Helper()
	for try := 0; ; try++ {
		r := launch(t, o)
		if o.noWait {
			return r
		}
		err := r.ready()
		if err == nil {
			return r
		}
		if try < 3 && strings.Contains(r.logs.String(), "address already in use") {
			continue
		}
		t.Fatal(err)
	}
}

func launch(t testing.TB, o routerOpts) *router {
	t.Helper()
	dir := t.TempDir()
	r := &router{t: t, dir: dir, port: freePort(t), admin: fmt.Sprintf("127.0.0.1:%d", freePort(t)),
		caddy: filepath.Join(dir, "Caddyfile"), models: filepath.Join(dir, "models-config.json"),
		logs: &syncBuffer{}, exited: make(chan struct{})}
	r.write(o)
	r.cmd = exec.Command(binary, "run", "--config", r.caddy, "--adapter", "caddyfile")
	r.cmd.Env = append(os.Environ(), "XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"), "HOME="+dir)
	for k, v := range o.env {
		r.cmd.Env = append(r.cmd.Env, k+"="+v)
	}
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if err := r.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { r.exitErr = r.cmd.Wait(); close(r.exited) }()
	t.Cleanup(r.stop)
	return r
}

func (r *router) write(o routerOpts) {
	r.t.Helper()
	if err := os.WriteFile(r.models, []byte(o.models), 0o600); err != nil {
		r.t.Fatal(err)
	}
	if err := os.WriteFile(r.caddy, []byte(r.caddyfile(o)), 0o600); err != nil {
		r.t.Fatal(err)
	}
}

// waitReady waits until /api/ping answers, or fails with the router's log.
func (r *router) waitReady() {
	r.t.Helper()
	if err := r.ready(); err != nil {
		r.t.Fatal(err)
	}
}

// ready waits until /api/ping answers (deadline-bounded).
func (r *router) ready() error {
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-r.exited:
			return fmt.Errorf("llm-router exited early: %v\n%s", r.exitErr, r.logs)
		default:
		}
		resp, err := http.Get(r.Base() + "/api/ping")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return fmt.Errorf("llm-router not ready after 60s\n%s", r.logs)
}

// reload runs `llm-router reload` with the current files.
func (r *router) reload() (string, error) {
	cmd := exec.Command(binary, "reload", "--config", r.caddy, "--adapter", "caddyfile", "--address", r.admin, "--force")
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// wait waits for the process to exit (deadline-bounded) and returns its error.
func (r *router) wait(d time.Duration) (error, bool) {
	select {
	case <-r.exited:
		return r.exitErr, true
	case <-time.After(d):
		return nil, false
	}
}

func (r *router) stop() {
	select {
	case <-r.exited:
		return
	default:
	}
	_ = r.cmd.Process.Signal(os.Interrupt)
	if _, ok := r.wait(15 * time.Second); !ok {
		_ = r.cmd.Process.Kill()
		<-r.exited
	}
}

// modelsJSON renders a models-config with one group of OpenAI-wire models.
// Each entry maps a model name to its providers' JSON objects.
func modelsJSON(models map[string][]string) string {
	var b strings.Builder
	b.WriteString(`{"test_models": {`)
	names := make([]string, 0, len(models))
	first := true
	for name, provs := range models {
		if !first {
			b.WriteString(",")
		}
		first = false
		names = append(names, fmt.Sprintf("%q", name))
		fmt.Fprintf(&b, "%q: {\"providers\": [%s]}", name, strings.Join(provs, ","))
	}
	fmt.Fprintf(&b, `}, "active_models": {"test_models": [%s]}}`, strings.Join(names, ","))
	return b.String()
}

// prov renders one provider object.
func prov(id, host, apiType string, extra string) string {
	s := fmt.Sprintf(`{"id": %q, "api_host": %q, "api_type": %q`, id, host, apiType)
	if extra != "" {
		s += ", " + extra
	}
	return s + "}"
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	rdbtest.Eventually(t, d, what, cond)
}

// posts returns the POST requests a fake received (health probes are GETs).
func posts(reqs []llmtest.Request) []llmtest.Request {
	var out []llmtest.Request
	for _, r := range reqs {
		if r.Method == http.MethodPost {
			out = append(out, r)
		}
	}
	return out
}

// lastPost returns the last POST request a fake received.
func lastPost(t testing.TB, reqs []llmtest.Request) llmtest.Request {
	t.Helper()
	p := posts(reqs)
	if len(p) == 0 {
		t.Fatal("the provider received no request")
	}
	return p[len(p)-1]
}
