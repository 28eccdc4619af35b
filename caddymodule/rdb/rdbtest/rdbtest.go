// Package rdbtest starts real Redis processes for tests: a server, a Redis
// Cluster, Sentinels. Each test gets its own processes on free ports in a
// temporary directory, stopped when the test ends. Without redis-server the
// test is skipped, or fails when LLM_ROUTER_REQUIRE_REDIS=1.
package rdbtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// Server is a redis-server (or redis-sentinel) process.
type Server struct {
	Port int
	Dir  string
	t    testing.TB
	bin  string
	args []string
	cmd  *exec.Cmd
	done chan struct{}
}

// Need skips t (or fails it when LLM_ROUTER_REQUIRE_REDIS=1) unless every
// named binary is installed.
func Need(t testing.TB, bins ...string) {
	t.Helper()
	for _, b := range bins {
		if _, err := exec.LookPath(b); err != nil {
			if os.Getenv("LLM_ROUTER_REQUIRE_REDIS") == "1" {
				t.Fatalf("%s not found and LLM_ROUTER_REQUIRE_REDIS=1", b)
			}
			t.Skipf("%s not installed; set LLM_ROUTER_REQUIRE_REDIS=1 to make this a failure", b)
		}
	}
}

// FreePort returns a TCP port nothing listens on right now.
func FreePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// StartServer starts redis-server on a free port with extra arguments.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	Need(t, "redis-server")
	s := &Server{Port: FreePort(t), Dir: t.TempDir(), t: t, bin: "redis-server", args: args}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Addr returns 127.0.0.1:port.
func (s *Server) Addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(s.Port)) }

// Start (re)starts the process and waits until it answers PING.
func (s *Server) Start() {
	s.t.Helper()
	args := append([]string{"--port", strconv.Itoa(s.Port), "--bind", "127.0.0.1", "--save", "",
		"--appendonly", "no", "--dir", s.Dir, "--logfile", filepath.Join(s.Dir, s.bin+".log")}, s.args...)
	if s.bin == "redis-sentinel" {
		args = append([]string{filepath.Join(s.Dir, "sentinel.conf")}, args...)
		args = slicesDelete(args, "--save", "--appendonly")
	}
	s.cmd = exec.Command(s.bin, args...)
	if err := s.cmd.Start(); err != nil {
		s.t.Fatal(err)
	}
	done := make(chan struct{})
	s.done = done
	go func() { _ = s.cmd.Wait(); close(done) }()
	c := redis.NewClient(&redis.Options{Addr: s.Addr(), DialTimeout: time.Second, MaxRetries: -1})
	defer c.Close()
	Eventually(s.t, 20*time.Second, s.bin+" on "+s.Addr()+" to answer PING", func() bool {
		select {
		case <-done:
			s.t.Fatalf("%s exited: %s", s.bin, s.Log())
		default:
		}
		err := c.Ping(context.Background()).Err()
		return err == nil || strings.HasPrefix(fmt.Sprint(err), "NOAUTH")
	})
}

// slicesDelete drops each named flag and its value.
func slicesDelete(args []string, flags ...string) []string {
	out := args[:0:0]
	for i := 0; i < len(args); i++ {
		drop := false
		for _, f := range flags {
			if args[i] == f {
				drop = true
			}
		}
		if drop {
			i++
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// Kill ends the process with SIGKILL (as a crash would) and waits for it.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.done
	s.cmd = nil
}

// Log returns the process's log file.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, s.bin+".log"))
	return string(b)
}

// Client returns a plain client of this server (closed with the test).
func (s *Server) Client() *redis.Client {
	c := redis.NewClient(&redis.Options{Addr: s.Addr()})
	s.t.Cleanup(func() { c.Close() })
	return c
}

// Cluster is a Redis Cluster of masters without replicas.
type Cluster struct {
	Nodes []*Server
}

// Addrs returns the nodes' addresses.
func (c *Cluster) Addrs() []string {
	out := make([]string, len(c.Nodes))
	for i, n := range c.Nodes {
		out[i] = n.Addr()
	}
	return out
}

// StartClusterNodes starts n cluster-enabled servers without joining them
// (no slot is assigned): a cluster that cannot serve any key.
func StartClusterNodes(t testing.TB, n int) *Cluster {
	t.Helper()
	c := &Cluster{}
	for range n {
		c.Nodes = append(c.Nodes, StartServer(t, "--cluster-enabled", "yes", "--cluster-node-timeout", "2000",
			"--cluster-config-file", "nodes.conf"))
	}
	return c
}

// StartCluster starts masters cluster-enabled servers and joins them with
// redis-cli --cluster create, each master serving a share of the slots,
// then waits until the cluster reports state ok on every node.
func StartCluster(t testing.TB, masters int) *Cluster {
	t.Helper()
	Need(t, "redis-server", "redis-cli")
	c := StartClusterNodes(t, masters)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append([]string{"--cluster", "create"}, c.Addrs()...)
	args = append(args, "--cluster-replicas", "0", "--cluster-yes")
	if out, err := exec.CommandContext(ctx, "redis-cli", args...).CombinedOutput(); err != nil {
		t.Fatalf("redis-cli --cluster create: %v\n%s", err, out)
	}
	for _, n := range c.Nodes {
		cl := n.Client()
		Eventually(t, 20*time.Second, "cluster state ok on "+n.Addr(), func() bool {
			info, err := cl.ClusterInfo(context.Background()).Result()
			return err == nil && strings.Contains(info, "cluster_state:ok")
		})
	}
	return c
}

// StartSentinel starts a redis-sentinel watching the primary at primary
// under name, with the given quorum and a short down-after and failover
// timeout so that a failover takes a second or two.
func StartSentinel(t testing.TB, name, primary string, quorum int, downAfter, failoverTimeout time.Duration) *Server {
	t.Helper()
	Need(t, "redis-sentinel")
	host, port, err := net.SplitHostPort(primary)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Port: FreePort(t), Dir: t.TempDir(), t: t, bin: "redis-sentinel"}
	conf := fmt.Sprintf("sentinel monitor %[1]s %[2]s %[3]s %[4]d\nsentinel down-after-milliseconds %[1]s %[5]d\n"+
		"sentinel failover-timeout %[1]s %[6]d\nsentinel parallel-syncs %[1]s 1\n",
		name, host, port, quorum, downAfter.Milliseconds(), failoverTimeout.Milliseconds())
	if err := os.WriteFile(filepath.Join(s.Dir, "sentinel.conf"), []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	s.Start()
	t.Cleanup(s.Kill)
	return s
}

// Eventually polls cond until it holds or d passes, then fails t.
func Eventually(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	for !cond() {
		select {
		case <-ctx.Done():
			t.Fatalf("timed out waiting for %s", what)
		case <-time.After(20 * time.Millisecond):
		}
	}
}
