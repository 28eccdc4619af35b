package activate_test

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"

	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/activate"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store/pgtest"
)

// instance is one router of a fleet as Follow sees it: its own
// models-config file, and a reload hook that records what it served.
type instance struct {
	a      *activate.Applier
	mu     sync.Mutex
	served []string // hashes, in order
	logs   *observer.ObservedLogs
}

func (in *instance) last() string {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.served) == 0 {
		return ""
	}
	return in.served[len(in.served)-1]
}

func (in *instance) reloads() int {
	in.mu.Lock()
	defer in.mu.Unlock()
	return len(in.served)
}

// serves tells whether the instance's file lists model and it reloaded on it.
func (in *instance) serves(t *testing.T, model string) bool {
	data, err := os.ReadFile(in.a.Path)
	if err != nil || !bytes.Contains(data, []byte(`"`+model+`"`)) {
		return false
	}
	d, err := doc.Parse(data)
	if err != nil {
		t.Fatal(err)
	}
	return in.last() != "" && d.Validate() == nil
}

func startFollowers(t *testing.T, st *store.Store, key *doc.Key, n int) []*instance {
	t.Helper()
	return startFailingFollowers(t, st, key, n, nil)
}

// startFailingFollowers starts followers whose reload fails with fail's
// error when fail (if set) returns one for the file to load.
func startFailingFollowers(t *testing.T, st *store.Store, key *doc.Key, n int, fail func(path string) error) []*instance {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() {
		cancel()
		wg.Wait() // Follow ends with its context
	})
	var out []*instance
	for i := range n {
		core, logs := observer.New(zap.InfoLevel)
		in := &instance{logs: logs}
		in.a = &activate.Applier{
			Path: filepath.Join(t.TempDir(), "models-config.json"),
			Key:  key,
			Reload: func(_ context.Context, path, hash string) error {
				if fail != nil {
					if err := fail(path); err != nil {
						return err
					}
				}
				in.mu.Lock()
				defer in.mu.Unlock()
				in.served = append(in.served, hash)
				return nil
			},
		}
		out = append(out, in)
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := activate.Follow(ctx, st, in.a, zap.New(core).Named("instance"+string(rune('a'+i)))); err != context.Canceled {
				t.Errorf("Follow returned %v, want context.Canceled", err)
			}
		}()
	}
	return out
}

func backends(t *testing.T) map[string]func(t *testing.T) (url string, pg *pgtest.Server) {
	return map[string]func(t *testing.T) (string, *pgtest.Server){
		"sqlite": func(t *testing.T) (string, *pgtest.Server) {
			return filepath.Join(t.TempDir(), "manager.db"), nil
		},
		"postgres": func(t *testing.T) (string, *pgtest.Server) {
			pg := pgtest.Start(t)
			return pg.NewDatabase(t), pg
		},
	}
}

// TestFollowFleet: several instances on one database serve each activation
// within seconds; an invalid one is refused by each (it keeps serving the
// previous one); on PostgreSQL they survive a database restart.
func TestFollowFleet(t *testing.T) {
	for name, open := range backends(t) {
		t.Run(name, func(t *testing.T) {
			url, pg := open(t)
			ctx := context.Background()
			st, err := store.Open(ctx, url)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { _ = st.Close() })
			admin, err := st.Setup(ctx, "admin", "correct horse battery staple")
			if err != nil {
				t.Fatal(err)
			}
			proj, err := st.DefaultProject(ctx, admin)
			if err != nil {
				t.Fatal(err)
			}
			key, err := doc.NewKey()
			if err != nil {
				t.Fatal(err)
			}
			sealed := func(data []byte) []byte {
				d, err := doc.Parse(data)
				if err != nil {
					t.Fatal(err)
				}
				if err := d.Seal(key); err != nil {
					t.Fatal(err)
				}
				return d.JSON()
			}
			cfg, err := st.CreateConfig(ctx, admin, proj.ID, "fleet", sealed(modelsDoc("http://10.0.0.1:8000", "sk-fleet", "first")), "v1")
			if err != nil {
				t.Fatal(err)
			}
			// Followers started before any activation wait for the first.
			fleet := startFollowers(t, st, key, 2)
			activateRev := func(rev int64) {
				t.Helper()
				if _, err := st.Activate(ctx, admin, cfg.ID, rev); err != nil {
					t.Fatal(err)
				}
			}
			activateRev(cfg.Revision)
			for i, in := range fleet {
				rdbtest.Eventually(t, 15*time.Second, "instance serves the first activation", func() bool { return in.serves(t, "first") })
				data, _ := os.ReadFile(in.a.Path)
				if !strings.Contains(string(data), `"sk-fleet"`) {
					t.Fatalf("instance %d: the router's file lacks the opened token:\n%s", i, data)
				}
			}

			// An invalid revision: every instance refuses it and keeps serving.
			bad := []byte(`{"team_models": {"broken": {"providers": [{"id": "x", "api_host": "http://h", "api_type": "soap"}]}}, "active_models": {"team_models": ["broken"]}}`)
			cfg, err = st.SaveConfig(ctx, admin, cfg.ID, cfg.Revision, "fleet", bad, "broken")
			if err != nil {
				t.Fatal(err)
			}
			before := []int{fleet[0].reloads(), fleet[1].reloads()}
			activateRev(cfg.Revision)
			for _, in := range fleet {
				rdbtest.Eventually(t, 15*time.Second, "instance refuses the invalid activation", func() bool {
					return in.logs.FilterMessageSnippet("activation refused").Len() > 0
				})
				msg := in.logs.FilterMessageSnippet("activation refused").All()[0].ContextMap()["error"]
				if s, _ := msg.(string); !strings.Contains(s, `unknown api_type "soap"`) {
					t.Fatalf("refusal logged as %v", msg)
				}
			}
			for i, in := range fleet {
				if in.reloads() != before[i] || !in.serves(t, "first") {
					t.Fatalf("instance %d swapped to an invalid config", i)
				}
			}

			if pg != nil {
				// The database restarts; the followers reconnect.
				pg.Stop()
				pg.Start()
			}
			next := sealed(modelsDoc("http://10.0.0.2:8000", "", "second"))
			// The store's pooled connections died with the server: the
			// store reconnects without failing the write.
			cfg, err = st.SaveConfig(ctx, admin, cfg.ID, cfg.Revision, "fleet", next, "v3")
			if err != nil {
				t.Fatalf("the first write after the restart: %v", err)
			}
			activateRev(cfg.Revision)
			for _, in := range fleet {
				rdbtest.Eventually(t, 20*time.Second, "instance serves the activation after the restart", func() bool { return in.serves(t, "second") })
			}
			// A new follower (a restarted instance) applies the active config
			// once, not again and again.
			late := startFollowers(t, st, key, 1)[0]
			rdbtest.Eventually(t, 15*time.Second, "a new instance serves the active config", func() bool { return late.serves(t, "second") })
			if n := late.reloads(); n != 1 {
				t.Fatalf("a new instance reloaded %d times", n)
			}
		})
	}
}

// TestFollowSuperseded: an activation this instance keeps failing to apply
// (its reload fails for a reason the validator does not see) does not hold
// back the next one: a fixed config activated after it is served.
func TestFollowSuperseded(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "manager.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	admin, err := st.Setup(ctx, "admin", "correct horse battery staple")
	if err != nil {
		t.Fatal(err)
	}
	proj, err := st.DefaultProject(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	in := startFailingFollowers(t, st, nil, 1, func(path string) error {
		if data, _ := os.ReadFile(path); bytes.Contains(data, []byte(`"unloadable"`)) {
			return errors.New("the new config fails to start")
		}
		return nil
	})[0]
	activateDoc := func(name string) {
		t.Helper()
		cfg, err := st.CreateConfig(ctx, admin, proj.ID, name, modelsDoc("http://10.0.0.1:8000", "", name), "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Activate(ctx, admin, cfg.ID, cfg.Revision); err != nil {
			t.Fatal(err)
		}
	}
	activateDoc("unloadable")
	rdbtest.Eventually(t, 15*time.Second, "the instance retries the activation it cannot apply", func() bool {
		return in.logs.FilterMessageSnippet("activation failed; retrying").Len() > 0
	})
	activateDoc("fixed")
	rdbtest.Eventually(t, 15*time.Second, "the instance serves the newer activation", func() bool { return in.serves(t, "fixed") })
}
