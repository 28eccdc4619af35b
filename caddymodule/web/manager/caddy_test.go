package manager

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

func TestUnmarshalCaddyfile(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		want     Handler
		err      bool
	}{
		{"bare", `llm_router_configs`, Handler{Enabled: true}, false},
		{"off", `llm_router_configs off`, Handler{}, false},
		{"empty switch", "llm_router_configs {\n enabled \"\"\n}", Handler{}, false},
		{"all", "llm_router_configs {\n enabled yes\n database postgres://u@db/m\n key_file /k\n models_config /m.json\n admin unix//a.sock\n session_ttl 1h\n}",
			Handler{Enabled: true, Database: "postgres://u@db/m", KeyFile: "/k", ModelsConfig: "/m.json", Admin: "unix//a.sock", SessionTTL: caddy.Duration(time.Hour)}, false},
		{"empty database", "llm_router_configs {\n database\n}", Handler{Enabled: true}, false},
		{"bad switch", `llm_router_configs maybe`, Handler{}, true},
		{"bad ttl", "llm_router_configs {\n session_ttl soon\n}", Handler{}, true},
		{"unknown", "llm_router_configs {\n colour blue\n}", Handler{}, true},
		{"two values", "llm_router_configs {\n database a b\n}", Handler{}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var h Handler
			err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
			if (err != nil) != tc.err {
				t.Fatalf("error %v, want error %v", err, tc.err)
			}
			type opts struct {
				Enabled                                bool
				Database, KeyFile, ModelsConfig, Admin string
				SessionTTL                             caddy.Duration
			}
			o := func(h Handler) opts {
				return opts{h.Enabled, h.Database, h.KeyFile, h.ModelsConfig, h.Admin, h.SessionTTL}
			}
			if !tc.err && o(h) != o(tc.want) {
				t.Errorf("got %+v, want %+v", h, tc.want)
			}
		})
	}
}

// TestDatabaseSharedAcrossReloads: an activation reloads the config; the
// new config's handler shares the open database with the old one, which
// closes only with the last.
func TestDatabaseSharedAcrossReloads(t *testing.T) {
	dir := t.TempDir()
	cfg := sharedConfig{Database: filepath.Join(dir, "m.db"), KeyFile: filepath.Join(dir, "m.key")}
	load := func() *shared {
		v, _, err := pool.LoadOrNew(cfg.key(), func() (caddy.Destructor, error) { return openShared(cfg) })
		if err != nil {
			t.Fatal(err)
		}
		return v.(*shared)
	}
	a, b := load(), load()
	if a != b {
		t.Fatal("a reload opened the database a second time")
	}
	if _, err := pool.Delete(cfg.key()); err != nil {
		t.Fatal(err)
	}
	if _, err := b.st.NeedsSetup(t.Context()); err != nil {
		t.Fatalf("the database closed under the new config: %v", err)
	}
	if _, err := pool.Delete(cfg.key()); err != nil {
		t.Fatal(err)
	}
	if _, ok := pool.References(cfg.key()); ok {
		t.Fatal("the database outlived its last config")
	}
}
