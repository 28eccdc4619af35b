// Package pgtest starts a real PostgreSQL server for tests: initdb and pg_ctl
// in a temporary directory, on a free port of 127.0.0.1, stopped when the test
// ends. As root (as CI runs) the server runs as the postgres user, since
// initdb refuses root. Without the PostgreSQL binaries the test is skipped,
// or fails when LLM_ROUTER_REQUIRE_POSTGRES=1.
package pgtest

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a PostgreSQL server of one test.
type Server struct {
	Port int
	Dir  string // holds data/ and log; the Unix socket too
	bin  string
	t    testing.TB
	run  bool
	n    atomic.Int64
}

// BinDir returns the directory of initdb and pg_ctl: the one on $PATH, else
// the newest /usr/lib/postgresql/*/bin (Debian's layout). Empty when neither
// exists.
func BinDir() string {
	if p, err := exec.LookPath("pg_ctl"); err == nil {
		if r, err := filepath.EvalSymlinks(p); err == nil {
			p = r
		}
		if _, err := os.Stat(filepath.Join(filepath.Dir(p), "initdb")); err == nil {
			return filepath.Dir(p)
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return version(dirs[i]) > version(dirs[j]) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "pg_ctl")); err == nil {
			return d
		}
	}
	return ""
}

func version(binDir string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return v
}

// Need returns the PostgreSQL binaries' directory, or skips t (fails it when
// LLM_ROUTER_REQUIRE_POSTGRES=1) when they are not installed.
func Need(t testing.TB) string {
	t.Helper()
	d := BinDir()
	if d == "" {
		if os.Getenv("LLM_ROUTER_REQUIRE_POSTGRES") == "1" {
			t.Fatal("PostgreSQL (initdb, pg_ctl) not found and LLM_ROUTER_REQUIRE_POSTGRES=1")
		}
		t.Skip("PostgreSQL (initdb, pg_ctl) not installed (apt-get install postgresql); set LLM_ROUTER_REQUIRE_POSTGRES=1 to make this a failure")
	}
	return d
}

// Start initialises a cluster (user "test", trust authentication, fsync off)
// and starts it. It is stopped when t ends.
func Start(t testing.TB) *Server {
	t.Helper()
	s := &Server{bin: Need(t), t: t}
	// Not t.TempDir: its parents are private to root, and the server may
	// run as postgres.
	base := os.TempDir()
	if os.Geteuid() == 0 && !traversable(base) {
		base = "/tmp"
	}
	dir, err := os.MkdirTemp(base, "pgtest-")
	if err != nil {
		t.Fatal(err)
	}
	s.Dir = dir
	t.Cleanup(func() { os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		pg, err := user.Lookup("postgres")
		if err != nil {
			t.Fatalf("running as root needs the postgres user (installed with the postgresql package): %v", err)
		}
		uid, _ := strconv.Atoi(pg.Uid)
		gid, _ := strconv.Atoi(pg.Gid)
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatal(err)
		}
		s.run = true
	}
	if out, err := s.cmd("initdb", "-D", s.data(), "-A", "trust", "-U", "test", "-E", "UTF8", "--no-sync").CombinedOutput(); err != nil {
		t.Fatalf("initdb: %v\n%s", err, out)
	}
	s.Port = freePort(t)
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

// traversable reports whether every directory from dir up to / lets others
// in (the server runs as postgres, the test as root).
func traversable(dir string) bool {
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		fi, err := os.Stat(d)
		if err != nil || fi.Mode().Perm()&0o001 == 0 {
			return false
		}
		if d == filepath.Dir(d) {
			return true
		}
	}
}

func (s *Server) data() string { return filepath.Join(s.Dir, "data") }

// cmd runs one of the server's binaries, as postgres when we are root.
func (s *Server) cmd(name string, args ...string) *exec.Cmd {
	path := filepath.Join(s.bin, name)
	if s.run {
		return exec.Command("runuser", append([]string{"-u", "postgres", "--", path}, args...)...)
	}
	return exec.Command(path, args...)
}

// Start starts the server (again, after Stop) and waits until it accepts
// connections.
func (s *Server) Start() {
	s.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off", s.Port, s.Dir)
	out, err := s.cmd("pg_ctl", "-D", s.data(), "-l", filepath.Join(s.Dir, "log"), "-w", "-t", "60", "-o", opts, "start").CombinedOutput()
	if err != nil {
		s.t.Fatalf("pg_ctl start: %v\n%s\n%s", err, out, s.Log())
	}
}

// Stop stops the server (fast shutdown: sessions are disconnected). Stopping
// a stopped server does nothing.
func (s *Server) Stop() {
	if _, err := os.Stat(filepath.Join(s.data(), "postmaster.pid")); err != nil {
		return
	}
	if out, err := s.cmd("pg_ctl", "-D", s.data(), "-m", "fast", "-w", "-t", "60", "stop").CombinedOutput(); err != nil {
		s.t.Errorf("pg_ctl stop: %v\n%s", err, out)
	}
}

// Log returns the server's log.
func (s *Server) Log() string {
	b, _ := os.ReadFile(filepath.Join(s.Dir, "log"))
	return string(b)
}

// URL returns the URL of database db on this server.
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://test@127.0.0.1:%d/%s?sslmode=disable", s.Port, db)
}

// NewDatabase creates an empty database with a new name and returns its URL,
// so tests sharing one server do not see each other's data.
func (s *Server) NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.URL("postgres"))
	if err != nil {
		t.Fatalf("connect to PostgreSQL: %v\n%s", err, s.Log())
	}
	defer conn.Close(ctx)
	name := fmt.Sprintf("t%d", s.n.Add(1))
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	return s.URL(name)
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
