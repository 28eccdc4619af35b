package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
)

// scenario is one router configuration and request kind, compared with the
// bare reverse_proxy on the same request kind.
type scenario struct {
	name    string
	variant string // router variant: plain, fast_masker, redis
	stream  bool
	ollama  bool    // the router's provider speaks Ollama (translated)
	claude  bool    // the client speaks Anthropic Messages (translated)
	budget  float64 // minimum throughput ratio; 0 = no budget
	latency bool    // the added-p99 budget applies
	profile bool    // profiled with --pprof
	about   string
}

var scenarios = []scenario{
	{name: "passthrough", variant: "plain", budget: 0.9, latency: true, profile: true,
		about: "OpenAI client, OpenAI provider, non-streamed"},
	{name: "passthrough-stream", variant: "plain", stream: true, budget: 0.9, latency: true, profile: true,
		about: "OpenAI client, OpenAI provider, streamed"},
	{name: "translated-stream", variant: "plain", stream: true, ollama: true, budget: 0.7, profile: true,
		about: "OpenAI client, Ollama provider (NDJSON re-encoded as SSE), streamed"},
	{name: "translated-anthropic-stream", variant: "plain", stream: true, claude: true, budget: 0.7, profile: true,
		about: "Anthropic client (/v1/messages), OpenAI provider (SSE chunks re-encoded as Messages events), streamed"},
	{name: "fast_masker", variant: "fast_masker", budget: 0.7,
		about: "passthrough with LLM_ROUTER_FORCE_MASKING=1 and the fast_masker pipeline, non-streamed"},
	{name: "fast_masker-stream", variant: "fast_masker", stream: true, budget: 0.7,
		about: "as fast_masker, streamed"},
	{name: "redis", variant: "redis",
		about: "passthrough, non-streamed, balancer state in Redis (LLM_ROUTER_BALANCE_STRATEGY=balanced)"},
}

func scenarioNames() []string {
	var n []string
	for _, s := range scenarios {
		n = append(n, s.name)
	}
	return n
}

// variantEnv is the router environment of each variant; redis gets its
// address added at start.
var variantEnv = map[string][]string{
	"plain":       nil,
	"fast_masker": {"LLM_ROUTER_FORCE_MASKING=1", "LLM_ROUTER_MASKING_STRATEGY_PIPELINE=fast_masker"},
	"redis":       {"LLM_ROUTER_BALANCE_STRATEGY=balanced"},
}

// prompt is the user text of every request: a little personal data gives the
// masker work to do; the other configurations pass it through.
const prompt = "Please summarise the note from Jan Kowalski (jan.kowalski@example.com, phone +48 601 234 567, IBAN PL61109010140000071219812874) about the invoice due next Friday, in two short sentences."

func openaiBody(model string, stream bool) []byte {
	s := ""
	if stream {
		s = `,"stream":true,"stream_options":{"include_usage":true}`
	}
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":%q}],"max_tokens":64,"temperature":0.2%s}`, model, prompt, s)
}

func anthropicBody(model string, stream bool) []byte {
	return fmt.Appendf(nil, `{"model":%q,"system":"You are a helpful assistant.","messages":[{"role":"user","content":%q}],"max_tokens":64,"temperature":0.2,"stream":%t}`, model, prompt, stream)
}

func ollamaBody(stream bool) []byte {
	return fmt.Appendf(nil, `{"model":%q,"messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":%q}],"stream":%t,"options":{"num_predict":64,"temperature":0.2}}`, model, prompt, stream)
}

// modelsConfig maps router models to the fake upstreams: m* speak OpenAI,
// o* Ollama; the -probe and -slow models reach the paced upstreams.
func modelsConfig(ups map[string]*upstream) string {
	prov := func(id, up, typ string) string {
		return fmt.Sprintf(`{"id": %q, "api_host": %q, "api_type": %q}`, id, ups[up].URL(), typ)
	}
	models := []struct{ name, provs string }{
		{"m", prov("openai-a", "fast", "openai") + ", " + prov("openai-b", "fast", "openai")},
		{"m-probe", prov("openai-probe", "probe", "openai")},
		{"m-slow", prov("openai-slow", "slow", "openai")},
		{"o", prov("ollama-a", "fast", "ollama") + ", " + prov("ollama-b", "fast", "ollama")},
		{"o-probe", prov("ollama-probe", "probe", "ollama")},
		{"o-slow", prov("ollama-slow", "slow", "ollama")},
	}
	var b strings.Builder
	b.WriteString(`{"bench": {`)
	var names []string
	for i, m := range models {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, "%q: {\"providers\": [%s]}", m.name, m.provs)
		names = append(names, strconv.Quote(m.name))
	}
	fmt.Fprintf(&b, `}, "active_models": {"bench": [%s]}}`, strings.Join(names, ", "))
	return b.String()
}

// result is what one scenario measured.
type result struct {
	sc      scenario
	skipped string // why it did not run

	bare, router []sample // saturation rounds
	direct       sample   // load generator ceiling: saturation straight to the upstream
	rssBare      int64
	rssRouter    int64
	hwmRouter    int64

	caddy []sample // saturation rounds of a bare proxy with Caddy's defaults

	// Half load; index 0 direct, 1 bare, 2 router.
	rate     int // requests/s
	lat      [3][]time.Duration
	latRound [3][][4]time.Duration // quantiles of each round
	latFail  string

	// Light load (--light-rate): latency without queueing, and the stream
	// probe; same indexes.
	light      [3][]time.Duration
	lightRound [3][][4]time.Duration
	probe      [3]streamStats

	redisCmds   int64
	profile     string // path of the CPU profile
	profileTop  string
	allocTop    string  // allocations during the CPU profile
	reqs        int64   // requests served during the CPU profile
	bytesPerReq float64 // allocated per request then
	objsPerReq  float64
}

// bench holds the processes of one run.
type bench struct {
	o         options
	cpu       int
	work      string
	start     time.Time
	startLoad string
	endLoad   string

	ups     map[string]*upstream
	bare    *server
	caddy   *server // bare proxy with Caddy's default upstream keep-alive
	routers map[string]*server
	redis   *exec.Cmd
	redisP  int
	redisE  string // why Redis is unavailable

	memBare, memRouter *memResult
	memErr             string
	results            []*result
}

func (b *bench) close() {
	for _, r := range b.routers {
		r.stop()
	}
	for _, s := range []*server{b.bare, b.caddy} {
		if s != nil {
			s.stop()
		}
	}
	if b.redis != nil {
		_ = b.redis.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = b.redis.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = b.redis.Process.Kill()
			<-done
		}
	}
	for _, u := range b.ups {
		u.close()
	}
}

func (b *bench) spec(name string, bare bool, env []string) serverSpec {
	sp := serverSpec{name: name, bare: bare, env: env, binary: b.o.binary, cpu: b.cpu, ups: b.ups}
	if bare {
		sp.keepalive = max(2*b.o.conns, 64)
	} else {
		sp.models = modelsConfig
	}
	return sp
}

// caddyDefault returns the bare proxy with Caddy's default transport,
// starting it if needed.
func (b *bench) caddyDefault(ctx context.Context) (*server, error) {
	if b.caddy != nil {
		return b.caddy, nil
	}
	sp := b.spec("caddy-default", true, nil)
	sp.keepalive = 0
	c, err := startServer(ctx, sp, b.work)
	if err != nil {
		return nil, err
	}
	b.caddy = c
	return c, nil
}

// router returns the running router of variant v, starting it if needed.
func (b *bench) router(ctx context.Context, v string) (*server, error) {
	if r, ok := b.routers[v]; ok {
		return r, nil
	}
	env := slices.Clone(variantEnv[v])
	if v == "redis" {
		if b.redisE != "" {
			return nil, errors.New(b.redisE)
		}
		env = append(env, "LLM_ROUTER_REDIS_HOST=127.0.0.1", "LLM_ROUTER_REDIS_PORT="+strconv.Itoa(b.redisP))
	}
	logf("starting router (%s)", v)
	r, err := startServer(ctx, b.spec("router-"+v, false, env), b.work)
	if err != nil {
		return nil, err
	}
	b.routers[v] = r
	return r, nil
}

func (b *bench) startRedis(ctx context.Context) {
	bin, err := exec.LookPath(b.o.redisServer)
	if err != nil {
		b.redisE = "redis-server not found: " + err.Error()
		return
	}
	p, err := freePort()
	if err != nil {
		b.redisE = err.Error()
		return
	}
	dir := filepath.Join(b.work, "redis")
	_ = os.MkdirAll(dir, 0o700)
	args := []string{bin, "--port", strconv.Itoa(p), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir}
	if b.cpu >= 0 {
		args = append([]string{"taskset", "-c", strconv.Itoa(b.o.clientCPU)}, args...)
	}
	cmd := exec.Command(args[0], args[1:]...)
	if err := cmd.Start(); err != nil {
		b.redisE = "starting redis-server: " + err.Error()
		return
	}
	b.redis, b.redisP = cmd, p
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		if _, err := b.redisCommands(); err == nil {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	b.redisE = "redis-server did not answer"
}

// redisCommands returns Redis' total_commands_processed.
func (b *bench) redisCommands() (int64, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, "redis-cli", "-p", strconv.Itoa(b.redisP), "info", "stats").Output()
	if err != nil {
		return 0, fmt.Errorf("redis-cli: %w", err)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), "total_commands_processed:"); ok {
			return strconv.ParseInt(v, 10, 64)
		}
	}
	return 0, errors.New("redis-cli: no total_commands_processed")
}

func (b *bench) runAll(ctx context.Context) error {
	var err error
	b.ups = map[string]*upstream{}
	for name, p := range map[string]pace{
		"fast":  {deltas: b.o.deltas},
		"probe": {gap: 2 * time.Millisecond, deltas: b.o.deltas},
		"slow":  {gap: 250 * time.Millisecond, deltas: 80},
	} {
		if b.ups[name], err = newUpstream(p); err != nil {
			return err
		}
	}
	b.routers = map[string]*server{}
	want := splitList(b.o.scenarios)
	var run []scenario
	for _, s := range scenarios {
		if len(want) == 0 || slices.Contains(want, s.name) {
			run = append(run, s)
		}
	}
	if slices.ContainsFunc(run, func(s scenario) bool { return s.variant == "redis" }) {
		b.startRedis(ctx)
	}
	logf("starting bare reverse_proxy")
	if b.bare, err = startServer(ctx, b.spec("bare", true, nil), b.work); err != nil {
		return err
	}
	if b.o.streams > 0 {
		if err := b.memoryTest(ctx); err != nil {
			b.memErr = err.Error()
			logf("memory test: %v", err)
		}
	}
	for _, sc := range run {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		if v := sc.variant; v != "plain" {
			for name, r := range b.routers { // one extra variant at a time
				if name != "plain" && name != v {
					r.stop()
					delete(b.routers, name)
				}
			}
		}
		logf("scenario %s", sc.name)
		res := b.scenario(ctx, sc)
		if res.skipped != "" {
			logf("scenario %s not run: %s", sc.name, firstLine(res.skipped))
		}
		b.results = append(b.results, res)
	}
	return ctx.Err()
}

func firstLine(s string) string {
	l, _, _ := strings.Cut(s, "\n")
	return l
}

// memoryTest holds b.o.streams slow streams open through the bare proxy and
// through the plain router, each freshly warmed, and records RSS growth.
func (b *bench) memoryTest(ctx context.Context) error {
	r, err := b.router(ctx, "plain")
	if err != nil {
		return err
	}
	for _, s := range []struct {
		srv *server
		t   target
		res **memResult
	}{
		{b.bare, target{b.bare.url("slow") + "/v1/chat/completions", openaiBody("m-slow", true)}, &b.memBare},
		{r, target{r.url("slow") + "/v1/chat/completions", openaiBody("m-slow", true)}, &b.memRouter},
	} {
		for _, t := range []target{
			{s.srv.url("fast") + "/v1/chat/completions", openaiBody("m", false)},
			{s.srv.url("fast") + "/v1/chat/completions", openaiBody("m", true)},
		} {
			if st, body, err := fetch(ctx, t); err != nil || st != http.StatusOK {
				return fmt.Errorf("%s warm-up: status %d %v %.200s", s.srv.name, st, err, body)
			}
		}
		logf("memory: %d slow streams through %s", b.o.streams, s.srv.name)
		var gor int
		var heap string
		m, err := slowStreams(ctx, s.srv, s.t, b.o.streams, func() {
			gor, _ = goroutines(ctx, s.srv)
			var err error
			if heap, err = b.heapProfile(ctx, s.srv); err != nil {
				heap = "heap profile failed: " + err.Error()
			}
			if !b.o.pprof || s.srv.bare {
				heap = ""
			}
		})
		if err != nil {
			return err
		}
		m.goroutines, m.heapTop = gor, heap
		*s.res = &m
	}
	return nil
}

// check validates one answer of a target before it is measured.
func check(ctx context.Context, t target, stream bool) error {
	st, body, err := fetch(ctx, t)
	if err != nil {
		return fmt.Errorf("%s: %w", t.url, err)
	}
	if st != http.StatusOK {
		return fmt.Errorf("%s: status %d: %.300s", t.url, st, body)
	}
	if stream {
		n := 0
		for _, l := range bytes.Split(body, []byte("\n")) {
			if hasContent(l) {
				n++
			}
		}
		if n == 0 || !(bytes.Contains(body, []byte("[DONE]")) || bytes.Contains(body, []byte(`"done":true`)) || bytes.Contains(body, []byte(`"message_stop"`))) {
			return fmt.Errorf("%s: not a complete stream: %.300s", t.url, body)
		}
		return nil
	}
	if !bytes.Contains(body, []byte("benchmark reply")) {
		return fmt.Errorf("%s: unexpected body: %.300s", t.url, body)
	}
	return nil
}

func (b *bench) scenario(ctx context.Context, sc scenario) *result {
	res := &result{sc: sc}
	r, err := b.router(ctx, sc.variant)
	if err != nil {
		res.skipped = err.Error()
		return res
	}
	path, rm := "/v1/chat/completions", "m"
	directPath, directBody := "/v1/chat/completions", openaiBody(model, sc.stream)
	if sc.ollama {
		rm = "o"
		directPath, directBody = "/api/chat", ollamaBody(sc.stream)
	}
	routerPath, routerBody := path, openaiBody
	if sc.claude {
		routerPath, routerBody = "/v1/messages", anthropicBody
	}
	direct := target{b.ups["fast"].URL() + directPath, directBody}
	bare := target{b.bare.url("fast") + path, openaiBody("m", sc.stream)}
	router := target{r.url("fast") + routerPath, routerBody(rm, sc.stream)}
	for _, t := range []target{direct, bare, router} {
		if err := check(ctx, t, sc.stream); err != nil {
			res.skipped = "preflight: " + err.Error()
			return res
		}
	}
	var redis0 int64
	if sc.variant == "redis" {
		redis0, _ = b.redisCommands()
	}
	b.saturate(ctx, sc, res, r, bare, router, path)
	res.rssBare, _, _ = b.bare.memory()
	res.rssRouter, res.hwmRouter, _ = r.memory()
	res.direct = attack(ctx, direct, b.o.conns, 0, b.o.dur/2, false, nil)

	var bareRPS float64
	for _, s := range res.bare {
		bareRPS += s.rps()
	}
	res.rate = int(bareRPS / float64(len(res.bare)) / 2)
	if res.rate < 1 {
		res.skipped = "the bare proxy served nothing: " + res.bare[0].firstErr
		return res
	}
	probeModel := map[bool]string{false: "m-probe", true: "o-probe"}[sc.ollama]
	b.latency(ctx, sc, res, [3]probePair{
		{direct, target{b.ups["probe"].URL() + directPath, directBody}},
		{bare, target{b.bare.url("probe") + path, openaiBody("m-probe", true)}},
		{router, target{r.url("probe") + routerPath, routerBody(probeModel, true)}},
	})
	if sc.variant == "redis" {
		b.checkRedis(res, redis0)
	}
	if b.o.pprof && sc.profile {
		if err := b.profile(ctx, res, r, router); err != nil {
			logf("  pprof: %v", err)
			res.profileTop = "profile failed: " + err.Error()
		}
	}
	return res
}

// saturate measures the bare proxy and the router (and Caddy's defaults
// when sc.profile) at full load: a warm-up, then o.rounds rounds each.
func (b *bench) saturate(ctx context.Context, sc scenario, res *result, r *server, bare, router target, path string) {
	o := b.o
	type runner struct {
		t   target
		srv *server
		out *[]sample
	}
	sat := []runner{{bare, b.bare, &res.bare}, {router, r, &res.router}}
	if sc.profile { // Caddy's defaults too, for context
		if c, err := b.caddyDefault(ctx); err != nil {
			logf("  caddy-default: %v", err)
		} else if t := (target{c.url("fast") + path, openaiBody("m", sc.stream)}); check(ctx, t, sc.stream) == nil {
			sat = append([]runner{{t, c, &res.caddy}}, sat...)
		}
	}
	for _, x := range sat {
		attack(ctx, x.t, o.conns, 0, o.warm, false, nil)
	}
	for i := range o.rounds {
		logf("  saturation round %d/%d", i+1, o.rounds)
		for _, x := range sat {
			c0 := b.ups["fast"].accepted.Load()
			s := attack(ctx, x.t, o.conns, 0, o.dur, false, x.srv)
			s.dials = b.ups["fast"].accepted.Load() - c0
			*x.out = append(*x.out, s)
		}
	}
}

// probePair is a load target and the stream probe sent alongside it.
type probePair struct{ load, probe target }

// latency measures the latency of the direct upstream, the bare proxy and
// the router (probes, in that order) at half load, and, for latency and
// stream scenarios, at light load with the stream probe alongside.
func (b *bench) latency(ctx context.Context, sc scenario, res *result, probes [3]probePair) {
	o := b.o
	light := sc.latency || sc.stream
	for i := range o.latRounds {
		logf("  half load (%d req/s) round %d/%d", res.rate, i+1, o.latRounds)
		for j := range probes {
			k := (i + j) % len(probes) // rotate the order between rounds
			p := probes[k]
			var s sample
			withoutGC(func() { s = attack(ctx, p.load, o.conns, res.rate, o.latDur, true, nil) })
			res.lat[k] = append(res.lat[k], s.lat...)
			res.latRound[k] = append(res.latRound[k], quantiles(slices.Clone(s.lat)))
			if s.failed > 0 && res.latFail == "" {
				res.latFail = fmt.Sprintf("%s: %d failed (%s)", p.load.url, s.failed, s.firstErr)
			}
			if light {
				b.lightLoad(ctx, sc, res, k, p)
			}
		}
	}
}

// lightLoad measures probe k at light load, with the stream probe
// alongside when sc.stream.
func (b *bench) lightLoad(ctx context.Context, sc scenario, res *result, k int, p probePair) {
	o := b.o
	var s sample
	var wg sync.WaitGroup
	var st streamStats
	if sc.stream {
		pctx, cancel := context.WithTimeout(ctx, o.lightDur)
		wg.Add(1)
		go func() { defer wg.Done(); defer cancel(); st = probeStreams(pctx, p.probe, 2) }()
	}
	withoutGC(func() { s = attack(ctx, p.load, o.conns, o.lightRate, o.lightDur, true, nil) })
	wg.Wait()
	res.light[k] = append(res.light[k], s.lat...)
	res.lightRound[k] = append(res.lightRound[k], quantiles(slices.Clone(s.lat)))
	if s.failed > 0 && res.latFail == "" {
		res.latFail = fmt.Sprintf("%s: %d failed (%s)", p.load.url, s.failed, s.firstErr)
	}
	ps := &res.probe[k]
	ps.n += st.n
	ps.failed += st.failed
	ps.ttft = append(ps.ttft, st.ttft...)
	ps.gaps = append(ps.gaps, st.gaps...)
	if ps.firstErr == "" {
		ps.firstErr = st.firstErr
	}
}

// checkRedis counts the Redis commands of the run (from redis0) and skips
// the scenario when the router did not keep its state in Redis.
func (b *bench) checkRedis(res *result, redis0 int64) {
	redis1, _ := b.redisCommands()
	res.redisCmds = redis1 - redis0
	var n int
	for _, s := range res.router {
		n += s.ok
	}
	if res.redisCmds < int64(n/2) {
		res.skipped = fmt.Sprintf("the router does not keep balancer state in Redis yet (%d Redis commands for %d requests; LLM_ROUTER_REDIS_HOST/PORT ignored)", res.redisCmds, n)
	}
}

// adminGet fetches a path of the server's admin endpoint.
func adminGet(ctx context.Context, srv *server, path string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, "GET", "http://"+srv.admin+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("admin %s: %w", path, err)
	}
	defer resp.Body.Close()
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(resp.Body); err != nil {
		return nil, fmt.Errorf("admin %s: %w", path, err)
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("admin %s: status %d: %.200s", path, resp.StatusCode, buf.Bytes())
	}
	return buf.Bytes(), nil
}

// goroutines counts the server's goroutines (admin /debug/pprof).
func goroutines(ctx context.Context, srv *server) (int, error) {
	b, err := adminGet(ctx, srv, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // goroutine profile: total N
	if len(f) == 0 {
		return 0, errors.New("goroutine profile: empty")
	}
	return strconv.Atoi(f[len(f)-1])
}

// heapProfile forces a GC in the server and takes its heap profile; with
// --pprof it saves it and returns its top listing.
func (b *bench) heapProfile(ctx context.Context, srv *server) (string, error) {
	data, err := adminGet(ctx, srv, "/debug/pprof/heap?gc=1")
	if err != nil || !b.o.pprof {
		return "", err
	}
	if err := os.MkdirAll(b.o.pprofDir, 0o755); err != nil {
		return "", fmt.Errorf("pprof dir: %w", err)
	}
	path := filepath.Join(b.o.pprofDir, srv.name+"-streams-heap.pprof")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		return "", fmt.Errorf("writing heap profile: %w", err)
	}
	top, err := exec.CommandContext(ctx, "go", "tool", "pprof", "-top", "-sample_index=inuse_space", "-nodecount=20", b.o.binary, path).Output()
	if err != nil {
		return "", fmt.Errorf("go tool pprof: %w", err)
	}
	_ = os.WriteFile(strings.TrimSuffix(path, ".pprof")+".top.txt", top, 0o644)
	return path + "\n" + string(top), nil
}

// pprofTotal reads the total of a pprof -top listing ("… of 12.5MB total"),
// in bytes or objects.
func pprofTotal(top string) float64 {
	for _, l := range strings.Split(top, "\n") {
		_, rest, ok := strings.Cut(l, "% of ")
		if !ok || !strings.HasPrefix(l, "Showing nodes accounting for") {
			continue
		}
		v, _, _ := strings.Cut(rest, " ")
		mult := 1.0
		for _, u := range []struct {
			s string
			m float64
		}{{"kB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"TB", 1 << 40}, {"B", 1}} {
			if strings.HasSuffix(v, u.s) {
				v, mult = strings.TrimSuffix(v, u.s), u.m
				break
			}
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0
		}
		return f * mult
	}
	return 0
}

// profile grabs a 10 s CPU profile of r through Caddy's admin endpoint while
// the load generator saturates it, and lists its top functions.
func (b *bench) profile(ctx context.Context, res *result, r *server, t target) error {
	if err := os.MkdirAll(b.o.pprofDir, 0o755); err != nil {
		return fmt.Errorf("pprof dir: %w", err)
	}
	logf("  pprof: 10s CPU profile of %s", r.name)
	actx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan struct{})
	go func() { defer close(done); attack(actx, t, b.o.conns, 0, 12*time.Second, false, nil) }()
	defer func() { cancel(); <-done }()
	time.Sleep(500 * time.Millisecond)
	base := filepath.Join(b.o.pprofDir, res.sc.name)
	a0, err := adminGet(ctx, r, "/debug/pprof/allocs")
	if err != nil {
		return err
	}
	n0 := b.ups["fast"].served.Load()
	data, err := adminGet(ctx, r, "/debug/pprof/profile?seconds=10")
	if err != nil {
		return err
	}
	n1 := b.ups["fast"].served.Load()
	a1, err := adminGet(ctx, r, "/debug/pprof/allocs")
	if err != nil {
		return err
	}
	cancel()
	<-done
	res.profile = base + ".pprof"
	for f, d := range map[string][]byte{res.profile: data, base + ".allocs0.pprof": a0, base + ".allocs1.pprof": a1} {
		if err := os.WriteFile(f, d, 0o644); err != nil {
			return fmt.Errorf("writing profile: %w", err)
		}
	}
	pprof := func(args ...string) (string, error) { // options, then the profile
		last := len(args) - 1
		cmd := append(append([]string{"tool", "pprof"}, args[:last]...), b.o.binary, args[last])
		out, err := exec.CommandContext(ctx, "go", cmd...).Output()
		if err != nil {
			return "", fmt.Errorf("go tool pprof %s: %w", strings.Join(args, " "), err)
		}
		return string(out), nil
	}
	top, err := pprof("-top", "-nodecount=30", res.profile)
	if err != nil {
		return err
	}
	cum, err := pprof("-top", "-cum", "-nodecount=60", res.profile)
	if err != nil {
		return err
	}
	allocSpace, err := pprof("-top", "-sample_index=alloc_space", "-nodecount=25", "-base", base+".allocs0.pprof", base+".allocs1.pprof")
	if err != nil {
		return err
	}
	allocObjs, err := pprof("-top", "-sample_index=alloc_objects", "-nodecount=5", "-base", base+".allocs0.pprof", base+".allocs1.pprof")
	if err != nil {
		return err
	}
	res.reqs = n1 - n0
	if res.reqs > 0 {
		res.bytesPerReq = pprofTotal(allocSpace) / float64(res.reqs)
		res.objsPerReq = pprofTotal(allocObjs) / float64(res.reqs)
	}
	_ = os.WriteFile(base+".top.txt", []byte(top+"\n--- cumulative ---\n"+cum+"\n--- alloc_space during the CPU profile ---\n"+allocSpace), 0o644)
	res.profileTop = top
	res.allocTop = allocSpace
	logf("  pprof: %s", res.profile)
	return nil
}
