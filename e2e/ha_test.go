package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
)

// span is one chat request as a provider saw it, from arrival to the end of
// its answer.
type span struct {
	provider   string
	start, end time.Time
}

// spans records the chat requests of several fake providers, and how many
// each is answering right now.
type spans struct {
	mu   sync.Mutex
	list []span
	cur  map[string]int
}

// wrap fronts a fake provider's handler, recording its POSTs (health probes
// are GETs).
func (s *spans) wrap(name string, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			h.ServeHTTP(w, r)
			return
		}
		start := time.Now()
		s.mu.Lock()
		s.cur[name]++
		s.mu.Unlock()
		lw := &lastWrite{ResponseWriter: w, at: start}
		defer func() {
			s.mu.Lock()
			s.cur[name]--
			// The answer is complete when its last bytes start to leave:
			// the router may act on them (and lease the provider again)
			// before this handler returns.
			s.list = append(s.list, span{name, start, lw.at})
			s.mu.Unlock()
		}()
		h.ServeHTTP(lw, r)
	})
}

// lastWrite remembers when the last Write began.
type lastWrite struct {
	http.ResponseWriter
	at time.Time
}

func (l *lastWrite) Write(p []byte) (int, error) {
	l.at = time.Now()
	return l.ResponseWriter.Write(p)
}

func (l *lastWrite) Unwrap() http.ResponseWriter { return l.ResponseWriter }

func (s *spans) inFlight(name string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.cur[name]
}

// overlaps returns the pairs of requests one provider answered at the same
// time.
func (s *spans) overlaps() [][2]span {
	s.mu.Lock()
	l := append([]span(nil), s.list...)
	s.mu.Unlock()
	sort.Slice(l, func(i, j int) bool { return l[i].start.Before(l[j].start) })
	var out [][2]span
	for i := range l {
		for j := i + 1; j < len(l) && l[j].start.Before(l[i].end); j++ {
			if l[j].provider == l[i].provider {
				out = append(out, [2]span{l[i], l[j]})
			}
		}
	}
	return out
}

// sentinelSet is a Redis primary, its replica and three Sentinels with a
// one-second down-after, on free ports.
type sentinelSet struct {
	primary, replica *rdbtest.Server
	sentinels        []*rdbtest.Server
}

const masterName = "llmr-primary"

func startSentinelSet(t *testing.T) *sentinelSet {
	t.Helper()
	rdbtest.Need(t, "redis-server", "redis-sentinel")
	s := &sentinelSet{primary: rdbtest.StartServer(t)}
	s.replica = rdbtest.StartServer(t, "--replicaof", "127.0.0.1", fmt.Sprint(s.primary.Port))
	rc := s.replica.Client()
	eventually(t, 20*time.Second, "the replica to sync", func() bool {
		info, err := rc.Info(context.Background(), "replication").Result()
		return err == nil && strings.Contains(info, "master_link_status:up")
	})
	for range 3 {
		s.sentinels = append(s.sentinels, rdbtest.StartSentinel(t, masterName, s.primary.Addr(), 2, time.Second, 3*time.Second))
	}
	for _, sn := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr()})
		t.Cleanup(func() { sc.Close() })
		eventually(t, 30*time.Second, "sentinel "+sn.Addr()+" to know the replica and the other sentinels", func() bool {
			m, err := sc.Master(context.Background(), masterName).Result()
			return err == nil && m["num-slaves"] == "1" && m["num-other-sentinels"] == "2"
		})
	}
	return s
}

func (s *sentinelSet) addrs() string {
	var a []string
	for _, sn := range s.sentinels {
		a = append(a, sn.Addr())
	}
	return strings.Join(a, ",")
}

// primaryAddr asks the first sentinel that answers for the current primary.
func (s *sentinelSet) primaryAddr() string {
	for _, sn := range s.sentinels {
		sc := redis.NewSentinelClient(&redis.Options{Addr: sn.Addr(), DialTimeout: 200 * time.Millisecond})
		a, err := sc.GetMasterAddrByName(context.Background(), masterName).Result()
		sc.Close()
		if err == nil && len(a) == 2 {
			return a[0] + ":" + a[1]
		}
	}
	return ""
}

// since returns what a router logged after the first n bytes.
func since(r *router, n int) string {
	s := r.logs.String()
	if n > len(s) {
		return ""
	}
	return s[n:]
}

// The fleet survives losing its Redis primary and then one of its routers:
// a primary, a replica and three Sentinels; two router processes under
// mixed load with first_available. kill -9 of the primary: the Sentinels
// promote the replica, both routers follow, no request fails, the
// one-request-per-provider rule holds but for requests started in the
// failover window, and no lease stays held. kill -9 of a router in the
// middle of its streams: its leases expire within their TTL and the other
// router takes the load.
func TestSentinelFailover(t *testing.T) {
	ss := startSentinelSet(t)
	rec := &spans{cur: map[string]int{}}
	var provs []string
	var fakes []*llmtest.OpenAI
	for i := range 4 {
		f := llmtest.NewOpenAI(fmt.Sprint("f", i))
		t.Cleanup(f.Close)
		f.SetReply("one two three four five", 5)
		f.SetDelay(10 * time.Millisecond)
		fakes = append(fakes, f)
		front := httptest.NewServer(rec.wrap(fmt.Sprint("p", i), f.Config.Handler))
		t.Cleanup(front.Close)
		provs = append(provs, prov(fmt.Sprint("p", i), front.URL, "vllm", ""))
	}
	opts := routerOpts{models: modelsJSON(map[string][]string{"m": provs}), env: map[string]string{
		"LLM_ROUTER_REDIS_SENTINELS": ss.addrs(), "LLM_ROUTER_REDIS_MASTER_NAME": masterName,
		"LLM_ROUTER_BALANCE_STRATEGY": "first_available"}}
	routers := []*router{startRouter(t, opts), startRouter(t, opts)}
	for _, r := range routers {
		if !strings.Contains(r.logs.String(), "primary") || strings.Contains(r.logs.String(), "redis unreachable") {
			t.Fatalf("router did not start on the Sentinel-managed primary:\n%s", r.logs)
		}
	}

	// Mixed load: eight clients over two routers and four providers, half
	// streamed, so that requests queue for a free provider.
	type result struct {
		start, end time.Time
		err        error
		router     int // index in routers
	}
	var mu sync.Mutex
	var results []result
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var ok atomic.Int64
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(routers[w%2])
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				start := time.Now()
				var err error
				if (w+i)%2 == 0 {
					s := c.Chat.Completions.NewStreaming(ctx, chatParams("m", "x"))
					for s.Next() {
					}
					err = s.Err()
				} else {
					_, err = c.Chat.Completions.New(ctx, chatParams("m", "x"))
				}
				cancel()
				if err == nil {
					ok.Add(1)
				}
				mu.Lock()
				results = append(results, result{start, time.Now(), err, w % 2})
				mu.Unlock()
			}
		}()
	}
	eventually(t, 20*time.Second, "load before the failover", func() bool { return ok.Load() > 100 })

	marks := []int{len(routers[0].logs.String()), len(routers[1].logs.String())}
	old := ss.primaryAddr()
	killed := time.Now()
	ss.primary.Kill()
	var promoted time.Time
	eventually(t, 20*time.Second, "the sentinels to promote the replica", func() bool {
		if a := ss.primaryAddr(); a != "" && a != old {
			promoted = time.Now()
			return true
		}
		return false
	})
	if got := ss.primaryAddr(); got != ss.replica.Addr() {
		t.Fatalf("new primary %s, want the replica %s", got, ss.replica.Addr())
	}
	// A router follows the new primary when it balances on shared state
	// again and a request through it succeeds after the promotion (with the
	// old primary dead, shared state is the new primary's). A router whose
	// Redis calls all landed after the promotion (go-redis retries a failed
	// command, and the failover client asks the sentinels for the primary
	// when it redials) never noticed an outage and logs nothing.
	var followed time.Time
	for i, r := range routers {
		eventually(t, 20*time.Second, fmt.Sprintf("router %d to follow the new primary", i), func() bool {
			logs := since(r, marks[i])
			if down := strings.LastIndex(logs, "redis unreachable"); down >= 0 && !strings.Contains(logs[down:], "redis reachable again") {
				return false
			}
			mu.Lock()
			defer mu.Unlock()
			for _, res := range results {
				if res.router == i && res.err == nil && res.start.After(promoted) {
					return true
				}
			}
			return false
		})
		followed = time.Now()
	}
	window := followed.Sub(killed)
	t.Logf("failover: promotion %v after kill -9, both routers on the new primary %v after it (window %v)",
		promoted.Sub(killed).Round(time.Millisecond), followed.Sub(promoted).Round(time.Millisecond), window.Round(time.Millisecond))
	if followed.Sub(promoted) > 5*time.Second {
		t.Errorf("routers followed the promotion only after %v", followed.Sub(promoted))
	}
	n := ok.Load()
	eventually(t, 20*time.Second, "load after the failover", func() bool { return ok.Load() > n+100 })
	close(stop)
	wg.Wait()

	// No request failed, during the failover or outside it.
	var failed []string
	for _, r := range results {
		if r.err != nil {
			failed = append(failed, fmt.Sprintf("%v after kill: %v", r.start.Sub(killed).Round(time.Millisecond), r.err))
		}
	}
	if len(failed) > 0 {
		t.Errorf("%d of %d requests failed:\n%s", len(failed), len(results), strings.Join(failed, "\n"))
	}
	// One request per provider, except for requests that started in the
	// failover window (leases then are each router's own) and those they
	// overlap with.
	inWindow := func(s span) bool {
		return !s.start.Before(killed) && !s.start.After(followed.Add(100*time.Millisecond))
	}
	var during int
	for _, o := range rec.overlaps() {
		if inWindow(o[0]) || inWindow(o[1]) {
			during++
			continue
		}
		t.Errorf("provider %s served two requests at once outside the failover window: %v and %v after kill (overlap %v)",
			o[0].provider, o[0].start.Sub(killed).Round(time.Millisecond), o[1].start.Sub(killed).Round(time.Millisecond), o[0].end.Sub(o[1].start))
	}
	t.Logf("%d requests, %d overlapping pairs on one provider, all within the failover window", len(results), during)

	// No lease stays held on the new primary once the load is over.
	nc := ss.replica.Client()
	leased := func() int64 {
		var total int64
		now := fmt.Sprint(time.Now().UnixMilli())
		for i := range 4 {
			total += nc.ZCount(context.Background(), fmt.Sprintf("llmr:flight:p%d", i), "("+now, "+inf").Val()
		}
		return total
	}
	idle := time.Now()
	eventually(t, 20*time.Second, "every lease on the new primary to be released or to expire", func() bool { return leased() == 0 })
	t.Logf("leases on the new primary all free %v after the load stopped", time.Since(idle).Round(time.Millisecond))

	// kill -9 one router while it streams from every provider: its leases
	// expire within their TTL (15 s), then the other router serves.
	before := len(rec.overlaps())
	release := func() {}
	for _, f := range fakes {
		rel := f.Hold()
		prev := release
		release = func() { prev(); rel() }
	}
	c0 := client(routers[0])
	for range 4 {
		go func() {
			s := c0.Chat.Completions.NewStreaming(context.Background(), chatParams("m", "x"))
			for s.Next() {
			}
		}()
	}
	eventually(t, 10*time.Second, "router 0 to stream from every provider", func() bool {
		for i := range 4 {
			if rec.inFlight(fmt.Sprint("p", i)) != 1 {
				return false
			}
		}
		return true
	})
	dead := time.Now()
	_ = routers[0].cmd.Process.Kill()
	<-routers[0].exited
	release()
	c1 := client(routers[1])
	var wg2 sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg2.Add(1)
		go func() {
			defer wg2.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
			defer cancel()
			_, err := c1.Chat.Completions.New(ctx, chatParams("m", "x"))
			errs <- err
		}()
	}
	wg2.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("the surviving router failed a request: %v", err)
		}
	}
	took := time.Since(dead)
	t.Logf("after kill -9 of a router holding every provider, the other served all four %v later", took.Round(time.Millisecond))
	if took > 15*time.Second+3*time.Second {
		t.Errorf("the dead router's leases held the providers %v, beyond their 15 s TTL", took)
	}
	if o := rec.overlaps(); len(o) > before {
		t.Errorf("the surviving router put a request on a provider the dead one still streamed from (%d new overlaps)", len(o)-before)
	}
}

// Sentinels that do not answer at start: the router starts on local state,
// says so, and serves.
func TestSentinelsUnreachableAtStart(t *testing.T) {
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	r := startRouter(t, routerOpts{models: modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		env: map[string]string{"LLM_ROUTER_REDIS_SENTINELS": fmt.Sprintf("127.0.0.1:%d,127.0.0.1:%d", freePort(t), freePort(t)),
			"LLM_ROUTER_REDIS_MASTER_NAME": masterName, "LLM_ROUTER_BALANCE_STRATEGY": "first_available"}})
	c := client(r)
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
		t.Fatalf("no service on local state: %v", err)
	}
	if !strings.Contains(r.logs.String(), "redis unreachable: balancing on local state") {
		t.Fatalf("the router did not say it runs on local state:\n%s", r.logs)
	}
}

// Two routers on a real Redis Cluster (LLM_ROUTER_REDIS_CLUSTER) share
// balancing and rate limits; a cluster with no slot assigned gets a
// warning that names the missing slot, and the router serves on local state.
func TestRedisClusterFleet(t *testing.T) {
	cl := rdbtest.StartCluster(t, 3)
	a := llmtest.NewOpenAI("a")
	defer a.Close()
	b := llmtest.NewOpenAI("b")
	defer b.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	key := createKey(t, keys, "--name", "erin", "--models", "*", "--rpm", "7")
	opts := routerOpts{
		models: modelsJSON(map[string][]string{"m": {prov("pa", a.URL, "vllm", ""), prov("pb", b.URL, "vllm", "")}}),
		env: map[string]string{"LLM_ROUTER_REDIS_CLUSTER": strings.Join(cl.Addrs(), ","),
			"LLM_ROUTER_BALANCE_STRATEGY": "balanced"},
		directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
	}
	r1, r2 := startRouter(t, opts), startRouter(t, opts)
	for _, r := range []*router{r1, r2} {
		if !strings.Contains(r.logs.String(), "redis cluster") || strings.Contains(r.logs.String(), "redis unreachable") {
			t.Fatalf("router not on the cluster:\n%s", r.logs)
		}
	}
	cs := []openai.Client{client(r1, option.WithAPIKey(key)), client(r2, option.WithAPIKey(key))}
	for i := range 6 {
		if _, err := cs[i%2].Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	// Alternating routers, each alone would send all to its first pick.
	if got := a.Count("/v1/chat/completions"); got != 3 {
		t.Errorf("provider a served %d of 6, want 3 (shared balancing on the cluster)", got)
	}
	if _, err := cs[0].Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
		t.Fatalf("the 7th request, within the shared limit: %v", err)
	}
	if _, err := cs[1].Chat.Completions.New(context.Background(), chatParams("m", "x")); statusOf(err) != 429 {
		t.Fatalf("the 8th request over the shared rpm of 7: %v, want 429", err)
	}

	bare := rdbtest.StartClusterNodes(t, 3)
	opts.env["LLM_ROUTER_REDIS_CLUSTER"] = strings.Join(bare.Addrs(), ",")
	opts.directive = ""
	r3 := startRouter(t, opts)
	c3 := client(r3)
	if _, err := c3.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
		t.Fatalf("no service on local state: %v", err)
	}
	if l := r3.logs.String(); !strings.Contains(l, "no node serves hash slot") || !strings.Contains(l, "redis-cli --cluster") {
		t.Fatalf("no clear error about the cluster's missing slots:\n%s", l)
	}
}
