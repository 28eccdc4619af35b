package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// server is one llm-router process under test: either a bare Caddy
// reverse_proxy (one site per upstream) or the router (one site).
type server struct {
	name   string
	bare   bool
	cmd    *exec.Cmd
	dir    string
	admin  string
	ports  map[string]int // upstream name -> site port
	logf   *os.File
	exited chan struct{}
	err    error
}

// serverSpec says what to start.
type serverSpec struct {
	name      string
	bare      bool
	keepalive int // bare: idle upstream connections kept per host; 0 = Caddy's default
	env       []string
	binary    string
	cpu       int // -1: no pinning
	ups       map[string]*upstream
	models    func(ups map[string]*upstream) string
}

// freePort returns a loopback TCP port nothing listens on right now.
func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func sortedKeys[V any](m map[string]V) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

// caddyfile renders the configuration of the process.
func (s *server) caddyfile(spec serverSpec, modelsPath string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin %s\n\tpersist_config off\n\tgrace_period 1s\n", s.admin)
	if !s.bare {
		fmt.Fprintf(&b, "\tllm_router {\n\t\tmodels_config %s\n\t}\n", modelsPath)
	}
	b.WriteString("}\n")
	if s.bare {
		for _, n := range sortedKeys(spec.ups) {
			if spec.keepalive > 0 {
				fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n\treverse_proxy %s {\n\t\ttransport http {\n\t\t\tkeepalive_idle_conns_per_host %d\n\t\t}\n\t}\n}\n",
					s.ports[n], spec.ups[n].Addr(), spec.keepalive)
				continue
			}
			fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n\treverse_proxy %s\n}\n", s.ports[n], spec.ups[n].Addr())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "\nhttp://127.0.0.1:%d {\n\tllm_router\n}\n", s.ports["fast"])
	return b.String()
}

// startServer writes the configuration, starts `llm-router run` (pinned to
// spec.cpu with GOMAXPROCS=1) and waits until it answers.
func startServer(ctx context.Context, spec serverSpec, work string) (*server, error) {
	dir, err := os.MkdirTemp(work, spec.name+"-")
	if err != nil {
		return nil, fmt.Errorf("server dir: %w", err)
	}
	s := &server{name: spec.name, bare: spec.bare, dir: dir, ports: map[string]int{}, exited: make(chan struct{})}
	ap, err := freePort()
	if err != nil {
		return nil, err
	}
	s.admin = fmt.Sprintf("127.0.0.1:%d", ap)
	if spec.bare {
		for n := range spec.ups {
			if s.ports[n], err = freePort(); err != nil {
				return nil, err
			}
		}
	} else {
		p, err := freePort()
		if err != nil {
			return nil, err
		}
		for n := range spec.ups {
			s.ports[n] = p
		}
	}
	modelsPath := filepath.Join(dir, "models-config.json")
	if spec.models != nil {
		if err := os.WriteFile(modelsPath, []byte(spec.models(spec.ups)), 0o600); err != nil {
			return nil, fmt.Errorf("models config: %w", err)
		}
	}
	cf := filepath.Join(dir, "Caddyfile")
	if err := os.WriteFile(cf, []byte(s.caddyfile(spec, modelsPath)), 0o600); err != nil {
		return nil, fmt.Errorf("caddyfile: %w", err)
	}
	args := []string{spec.binary, "run", "--config", cf, "--adapter", "caddyfile"}
	if spec.cpu >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(spec.cpu)}, args...)
	}
	s.cmd = exec.Command(args[0], args[1:]...)
	s.cmd.Env = append(os.Environ(), "GOMAXPROCS=1", "HOME="+dir,
		"XDG_DATA_HOME="+filepath.Join(dir, "data"), "XDG_CONFIG_HOME="+filepath.Join(dir, "config"))
	s.cmd.Env = append(s.cmd.Env, spec.env...)
	if s.logf, err = os.Create(filepath.Join(dir, "log")); err != nil {
		return nil, fmt.Errorf("server log: %w", err)
	}
	s.cmd.Stdout, s.cmd.Stderr = s.logf, s.logf
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", spec.name, err)
	}
	go func() { s.err = s.cmd.Wait(); close(s.exited) }()
	if err := s.waitReady(ctx); err != nil {
		s.stop()
		return nil, err
	}
	return s, nil
}

// logTail returns the last n bytes of the server's log.
func (s *server) logTail(n int) string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "log"))
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

func (s *server) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	probe := s.url("fast") + "/api/ping"
	if s.bare {
		probe = s.url("fast") + "/v1/models"
	}
	c := &http.Client{Timeout: 2 * time.Second}
	for {
		select {
		case <-s.exited:
			return fmt.Errorf("%s exited at start (%v): %s", s.name, s.err, lastError(s.logTail(8000)))
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w\n%s", s.name, ctx.Err(), s.logTail(3000))
		case <-time.After(50 * time.Millisecond):
		}
		if resp, err := c.Get(probe); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
	}
}

// lastError picks the message of the last error entry of a Caddy log, or
// its last line.
func lastError(log string) string {
	lines := strings.Split(strings.TrimSpace(log), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		var e struct{ Level, Msg, Error string }
		if json.Unmarshal([]byte(lines[i]), &e) == nil && e.Level == "error" {
			return strings.TrimSpace(e.Msg + " " + e.Error)
		}
	}
	return lines[len(lines)-1]
}

// url is the base URL through which the server reaches upstream name.
func (s *server) url(name string) string { return fmt.Sprintf("http://127.0.0.1:%d", s.ports[name]) }

// pid is the process id (taskset execs in place).
func (s *server) pid() int { return s.cmd.Process.Pid }

// memory returns the resident set size and its high-water mark in bytes.
func (s *server) memory() (rss, hwm int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.pid()))
	if err != nil {
		return 0, 0, fmt.Errorf("%s status: %w", s.name, err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		v, _ := strconv.ParseInt(f[1], 10, 64)
		switch f[0] {
		case "VmRSS:":
			rss = v << 10
		case "VmHWM:":
			hwm = v << 10
		}
	}
	return rss, hwm, nil
}

// clockTick is USER_HZ, 100 on every Linux ABI Go supports.
const clockTick = 100

// cpuTime returns the process' user+system CPU time.
func (s *server) cpuTime() (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", s.pid()))
	if err != nil {
		return 0, fmt.Errorf("%s stat: %w", s.name, err)
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("%s stat: malformed", s.name)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 { // fields 14 and 15 of stat, counted after the name
		return 0, fmt.Errorf("%s stat: short", s.name)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / clockTick, nil
}

// stop interrupts the process and waits (bounded) for it to exit.
func (s *server) stop() {
	defer func() {
		if s.logf != nil {
			s.logf.Close()
		}
	}()
	select {
	case <-s.exited:
		return
	default:
	}
	_ = s.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.exited
	}
}
