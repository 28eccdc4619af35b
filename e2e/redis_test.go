package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"
	"github.com/redis/go-redis/v9"

	"github.com/llmrouter/llm-router/caddymodule/llmtest"
)

// redisServer is a redis-server process for one test.
type redisServer struct {
	port int
	dir  string
	cmd  *exec.Cmd
}

// startRedis starts redis-server on a free port, or skips the test when the
// binary is absent (CI sets LLM_ROUTER_REQUIRE_REDIS=1 to fail instead).
func startRedis(t *testing.T) *redisServer {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("LLM_ROUTER_REQUIRE_REDIS") == "1" {
			t.Fatal("redis-server not found and LLM_ROUTER_REQUIRE_REDIS=1")
		}
		t.Skip("redis-server not installed")
	}
	s := &redisServer{port: freePort(t), dir: t.TempDir()}
	s.start(t)
	t.Cleanup(s.stop)
	return s
}

func (s *redisServer) start(t *testing.T) {
	t.Helper()
	s.cmd = exec.Command("redis-server", "--port", strconv.Itoa(s.port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.dir, "--logfile", filepath.Join(s.dir, "redis.log"))
	if err := s.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", s.port)})
	defer c.Close()
	eventually(t, 20*time.Second, "redis-server to answer PING", func() bool { return c.Ping(context.Background()).Err() == nil })
}

func (s *redisServer) stop() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

func (s *redisServer) env(strategy string) map[string]string {
	return map[string]string{"LLM_ROUTER_REDIS_HOST": "127.0.0.1", "LLM_ROUTER_REDIS_PORT": strconv.Itoa(s.port),
		"LLM_ROUTER_BALANCE_STRATEGY": strategy}
}

// Two router processes on one Redis behave as one balancer.
func TestTwoRoutersShareRedis(t *testing.T) {
	rs := startRedis(t)
	a := llmtest.NewOpenAI("a")
	defer a.Close()
	b := llmtest.NewOpenAI("b")
	defer b.Close()
	models := modelsJSON(map[string][]string{"m": {prov("pa", a.URL, "vllm", ""), prov("pb", b.URL, "vllm", "")}})

	t.Run("balanced splits evenly", func(t *testing.T) {
		r1 := startRouter(t, routerOpts{models: models, env: rs.env("balanced")})
		r2 := startRouter(t, routerOpts{models: models, env: rs.env("balanced")})
		c1, c2 := client(r1), client(r2)
		before := a.Count("/v1/chat/completions")
		for i := 0; i < 10; i++ {
			c := c1
			if i%2 == 1 {
				c = c2
			}
			if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
				t.Fatal(err)
			}
		}
		// Alternating routers: a per-process counter would send all ten to one
		// provider (each router's first pick); a shared one splits 5/5.
		if got := a.Count("/v1/chat/completions") - before; got != 5 {
			t.Fatalf("provider a served %d of 10, want 5", got)
		}
	})

	t.Run("first_available never doubles up", func(t *testing.T) {
		a := llmtest.NewOpenAI("a")
		defer a.Close()
		b := llmtest.NewOpenAI("b")
		defer b.Close()
		a.SetDelay(20 * time.Millisecond)
		b.SetDelay(20 * time.Millisecond)
		models := modelsJSON(map[string][]string{"m": {prov("pa", a.URL, "vllm", ""), prov("pb", b.URL, "vllm", "")}})
		r1 := startRouter(t, routerOpts{models: models, env: rs.env("first_available")})
		r2 := startRouter(t, routerOpts{models: models, env: rs.env("first_available")})
		var wg sync.WaitGroup
		var failed atomic.Int64
		for i := 0; i < 12; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				r := r1
				if i%2 == 1 {
					r = r2
				}
				c := client(r)
				s := c.Chat.Completions.NewStreaming(context.Background(), chatParams("m", "x"))
				for s.Next() {
				}
				if s.Err() != nil {
					failed.Add(1)
				}
			}(i)
		}
		wg.Wait()
		if failed.Load() != 0 {
			t.Fatalf("%d queued requests failed", failed.Load())
		}
		if a.MaxInFlight() > 1 || b.MaxInFlight() > 1 {
			t.Fatalf("a provider served two requests at once (a=%d b=%d)\n%s\n%s", a.MaxInFlight(), b.MaxInFlight(), r1.logs, r2.logs)
		}
	})

	t.Run("redis restart loses no request", func(t *testing.T) {
		r1 := startRouter(t, routerOpts{models: models, env: rs.env("balanced")})
		c := client(r1)
		var ok, failed atomic.Int64
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			for {
				select {
				case <-stop:
					return
				default:
				}
				if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
			}
		}()
		eventually(t, 20*time.Second, "traffic", func() bool { return ok.Load() > 10 })
		rs.stop()
		n := ok.Load()
		eventually(t, 20*time.Second, "traffic without redis", func() bool { return ok.Load() > n+20 })
		rs.start(t)
		n = ok.Load()
		eventually(t, 20*time.Second, "traffic after redis came back", func() bool { return ok.Load() > n+20 })
		close(stop)
		<-done
		if failed.Load() != 0 {
			t.Fatalf("%d requests failed while redis went away and came back", failed.Load())
		}
	})
}

// API-key rate limits hold across two router processes sharing Redis.
func TestRateLimitSharedThroughRedis(t *testing.T) {
	rs := startRedis(t)
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	key := createKey(t, keys, "--name", "carol", "--models", "*", "--rpm", "3")
	opts := routerOpts{
		models:    modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
		env:       rs.env("balanced"),
		directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
	}
	r1 := startRouter(t, opts)
	r2 := startRouter(t, opts)
	c1 := client(r1, option.WithAPIKey(key))
	c2 := client(r2, option.WithAPIKey(key))
	for i := 0; i < 3; i++ {
		c := c1
		if i%2 == 1 {
			c = c2
		}
		if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
			t.Fatalf("request %d within the limit: %v", i, err)
		}
	}
	// Each router alone has seen at most two requests; together they have
	// seen three, the key's limit per minute.
	for _, c := range []openai.Client{c1, c2} {
		_, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x"))
		if statusOf(err) != 429 {
			t.Fatalf("over the shared limit: %v", err)
		}
	}
}

// A reload that moves the router to another Redis database keeps API-key
// rate limits working, on the new database: the limiter must not keep the
// Redis client the old config closed.
func TestRateLimitFollowsRedisReload(t *testing.T) {
	rs := startRedis(t)
	fake := llmtest.NewOpenAI("vllm")
	defer fake.Close()
	keys := filepath.Join(t.TempDir(), "keys.json")
	key := createKey(t, keys, "--name", "dave", "--models", "*", "--rpm", "3")
	opts := func(db int) routerOpts {
		return routerOpts{
			models:    modelsJSON(map[string][]string{"m": {prov("p", fake.URL, "vllm", "")}}),
			global:    fmt.Sprintf("\t\tstrategy first_available\n\t\tredis 127.0.0.1 {\n\t\t\tport %d\n\t\t\tdb %d\n\t\t}", rs.port, db),
			directive: "\t\tauth on {\n\t\t\tkeys_file " + keys + "\n\t\t}",
		}
	}
	r := startRouter(t, opts(1))
	c := client(r, option.WithAPIKey(key))
	if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
		t.Fatalf("before the reload: %v", err)
	}
	r.write(opts(2))
	if out, err := r.reload(); err != nil {
		t.Fatalf("reload: %v\n%s", err, out)
	}
	// The new config is in force once a request lands in db 2: the first
	// after the reload is admitted by a fresh bucket there.
	db := func(n int) *redis.Client {
		c := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", rs.port), DB: n})
		t.Cleanup(func() { c.Close() })
		return c
	}
	db1, db2 := db(1), db(2)
	n1, err := db1.DBSize(context.Background()).Result()
	if err != nil || n1 == 0 {
		t.Fatalf("db 1 holds no rate-limit state before the reload (%d keys, %v)", n1, err)
	}
	for i := 0; i < 3; i++ {
		if _, err := c.Chat.Completions.New(context.Background(), chatParams("m", "x")); err != nil {
			t.Fatalf("request %d after the reload, within the limit on the new db: %v\n%s", i, err, r.logs)
		}
	}
	_, err = c.Chat.Completions.New(context.Background(), chatParams("m", "x"))
	if statusOf(err) != 429 {
		t.Fatalf("the fourth request after the reload: %v, want 429 from the limit kept in db 2", err)
	}
	rl, err := db2.Keys(context.Background(), "llm-router:auth:rl:*").Result()
	if err != nil || len(rl) == 0 {
		t.Fatalf("db 2 holds no rate-limit key after the reload (%v, %v)", rl, err)
	}
}
