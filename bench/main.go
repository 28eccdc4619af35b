// Command bench measures llm-router against a bare Caddy reverse_proxy built
// from the same binary, both in front of a fast fake LLM upstream.
//
// It pins the server under test to one core (taskset, GOMAXPROCS=1) and
// itself (load generator and fake upstreams) to another, warms up, drives
// bare proxy and router in alternation with vegeta at saturation and at half
// the bare proxy's saturation rate, and prints a Markdown report (see
// README.md). Everything listens on loopback and every loop is bounded.
//
//	go run ./bench [--quick] [--pprof] [--results bench/RESULTS.md]
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// pinnedEnv marks the re-executed, pinned harness process; gitEnv carries
// the repository state seen at start to it.
const (
	pinnedEnv = "LLM_ROUTER_BENCH_PINNED"
	gitEnv    = "LLM_ROUTER_BENCH_GIT"
)

// options are the command-line flags.
type options struct {
	binary      string
	quick       bool
	dur         time.Duration // saturation run, per round and target
	latDur      time.Duration // fixed-rate run, per round and target
	warm        time.Duration
	lightDur    time.Duration // light-load run, per round and target
	lightRate   int
	rounds      int
	latRounds   int
	conns       int
	deltas      int
	streams     int
	scenarios   string
	serverCPU   int
	clientCPU   int
	noPin       bool
	pprof       bool
	pprofDir    string
	results     string
	redisServer string
}

func parseFlags(args []string) (options, error) {
	var o options
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	fs.StringVar(&o.binary, "binary", "", "llm-router binary to test (default: build ./appliance with -tags nobadger,nomysql,nopgx)")
	fs.BoolVar(&o.quick, "quick", false, "smoke run of about a minute (short runs, one round)")
	fs.DurationVar(&o.dur, "duration", 2*time.Second, "saturation run per round and target")
	fs.DurationVar(&o.latDur, "lat-duration", 1500*time.Millisecond, "fixed-rate (half load) run per round and target")
	fs.DurationVar(&o.lightDur, "light-duration", time.Second, "light-load run per round and target (passthrough and streamed scenarios)")
	fs.IntVar(&o.lightRate, "light-rate", 500, "light load, requests/s: latency without queueing; streamed scenarios run the TTFT probe then")
	fs.DurationVar(&o.warm, "warmup", time.Second, "warm-up per target and scenario")
	fs.IntVar(&o.rounds, "rounds", 4, "alternations (bare, router) per scenario")
	fs.IntVar(&o.latRounds, "lat-rounds", 3, "rounds of half-load runs (direct, bare, router; order rotates)")
	fs.IntVar(&o.conns, "conns", 50, "connections (and workers) at saturation")
	fs.IntVar(&o.deltas, "deltas", 16, "content deltas per streamed response")
	fs.IntVar(&o.streams, "streams", 1000, "concurrent slow streams for the memory test (0 skips it)")
	fs.StringVar(&o.scenarios, "scenarios", "", "comma-separated scenarios to run (default all: "+strings.Join(scenarioNames(), ",")+"; none: only the memory test)")
	fs.IntVar(&o.serverCPU, "server-cpu", 0, "core for the server under test")
	fs.IntVar(&o.clientCPU, "client-cpu", 1, "core for the load generator and fake upstreams")
	fs.BoolVar(&o.noPin, "no-pin", false, "do not pin processes to cores")
	fs.BoolVar(&o.pprof, "pprof", false, "grab a 10s CPU profile of the router under passthrough load through Caddy's admin /debug/pprof")
	fs.StringVar(&o.pprofDir, "pprof-dir", filepath.Join(os.TempDir(), "llm-router-bench-pprof"), "where --pprof writes profiles and their top listings")
	fs.StringVar(&o.results, "results", "", "also write the Markdown report to this file (e.g. bench/RESULTS.md)")
	fs.StringVar(&o.redisServer, "redis-server", "redis-server", "redis-server binary for the Redis scenario")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if o.quick {
		set := map[string]bool{}
		fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
		if !set["duration"] {
			o.dur = time.Second
		}
		if !set["lat-duration"] {
			o.latDur = time.Second
		}
		if !set["warmup"] {
			o.warm = 500 * time.Millisecond
		}
		if !set["rounds"] {
			o.rounds = 2
		}
		if !set["lat-rounds"] {
			o.latRounds = 1
		}
	}
	if o.rounds < 1 || o.latRounds < 1 || o.lightRate < 1 || o.lightDur <= 0 || o.conns < 1 || o.deltas < 1 || o.dur <= 0 || o.latDur <= 0 {
		return o, fmt.Errorf("rounds, conns, deltas and durations must be positive")
	}
	for _, n := range splitList(o.scenarios) {
		if n != "none" && !slices.Contains(scenarioNames(), n) {
			return o, fmt.Errorf("unknown scenario %q (want %s)", n, strings.Join(scenarioNames(), ", "))
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

func main() {
	o, err := parseFlags(os.Args[1:])
	if err != nil {
		if err == flag.ErrHelp {
			os.Exit(0)
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// logf reports progress on stderr.
func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "%s  %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

// build compiles the llm-router binary from the module holding the bench.
func build(ctx context.Context) (string, error) {
	out, err := exec.CommandContext(ctx, "go", "env", "GOMOD").Output()
	if err != nil || strings.TrimSpace(string(out)) == "" || strings.TrimSpace(string(out)) == os.DevNull {
		return "", fmt.Errorf("locating the module (run from the repository): %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(out)))
	dir := filepath.Join(os.TempDir(), "llm-router-bench")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", fmt.Errorf("build dir: %w", err)
	}
	bin := filepath.Join(dir, "llm-router")
	logf("building %s", bin)
	cmd := exec.CommandContext(ctx, "go", "build", "-tags", "nobadger,nomysql,nopgx", "-o", bin, "./appliance")
	cmd.Dir = root
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build: %w", err)
	}
	return bin, nil
}

// pinSelf re-executes the harness under taskset on the client core. It
// returns only when no re-execution is needed.
func pinSelf(o options) error {
	if o.noPin || os.Getenv(pinnedEnv) != "" {
		return nil
	}
	ts, err := exec.LookPath("taskset")
	if err != nil {
		return fmt.Errorf("taskset not found (install util-linux or pass --no-pin): %w", err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("locating the harness: %w", err)
	}
	args := append([]string{"taskset", "-c", strconv.Itoa(o.clientCPU), exe}, os.Args[1:]...)
	args = append(args, "--binary="+o.binary)
	return syscall.Exec(ts, args, append(os.Environ(), pinnedEnv+"=1"))
}

func onlineCPUs() int {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return runtime.NumCPU()
	}
	return strings.Count(string(b), "\nprocessor") + map[bool]int{true: 1, false: 0}[strings.HasPrefix(string(b), "processor")]
}

func run(ctx context.Context, o options) error {
	if !o.noPin && os.Getenv(pinnedEnv) == "" && onlineCPUs() < 2 {
		logf("only one CPU: running without pinning")
		o.noPin = true
	}
	if os.Getenv(gitEnv) == "" { // the tree as built, not as it is when the run ends
		os.Setenv(gitEnv, gitState())
	}
	if o.binary == "" {
		bin, err := build(ctx)
		if err != nil {
			return err
		}
		o.binary = bin
	}
	if abs, err := filepath.Abs(o.binary); err == nil {
		o.binary = abs
	}
	if err := pinSelf(o); err != nil {
		return err
	}
	b := &bench{o: o, startLoad: loadAvg(), start: time.Now().UTC()}
	if !o.noPin {
		b.cpu = o.serverCPU
	} else {
		b.cpu = -1
	}
	work, err := os.MkdirTemp("", "llm-router-bench-run-")
	if err != nil {
		return fmt.Errorf("work dir: %w", err)
	}
	defer os.RemoveAll(work)
	b.work = work
	defer b.close()
	if err := b.runAll(ctx); err != nil {
		return err
	}
	b.endLoad = loadAvg()
	md := b.report()
	fmt.Print(md)
	if o.results != "" {
		if err := os.WriteFile(o.results, []byte(md), 0o644); err != nil {
			return fmt.Errorf("writing results: %w", err)
		}
		logf("wrote %s", o.results)
	}
	return nil
}

func loadAvg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}
