package auth

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zaptest/observer"
)

// writeKeys writes records as a keys file through the CLI's atomic writer.
func writeKeys(t *testing.T, path string, recs ...Record) {
	t.Helper()
	b, err := json.Marshal(document{Keys: recs})
	if err != nil {
		t.Fatal(err)
	}
	s := &fileStore{path: path}
	_, rev, err := s.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(context.Background(), b, rev); err != nil {
		t.Fatal(err)
	}
}

var allowAll = Policy{Models: []string{"*"}, Endpoints: families[:]}

func newAuth(t *testing.T, cfg Config) *Authenticator {
	t.Helper()
	a, err := New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(a.Close)
	return a
}

func TestAuthenticate(t *testing.T) {
	clk := newClock()
	now := clk.Now()
	path := filepath.Join(t.TempDir(), "keys.json")
	writeKeys(t, path,
		Record{Name: "alice", SHA256: HashSecret("sk-alice"), Policy: allowAll,
			Previous: []Previous{
				{SHA256: HashSecret("sk-alice-old"), ValidUntil: now.Add(time.Hour)},
				{SHA256: HashSecret("sk-alice-older"), ValidUntil: now.Add(-time.Second)},
			}},
		Record{Name: "bob", SHA256: HashSecret("sk-bob"), Policy: allowAll, Disabled: true},
		Record{Name: "carol", SHA256: HashSecret("sk-carol"), Policy: allowAll, Expires: now},
		Record{Name: "dave", SHA256: HashSecret("sk-dave"), Policy: allowAll, Expires: now.Add(time.Minute)},
	)
	a := newAuth(t, Config{KeysFile: path, Now: clk.Now})
	if a.Keys() != 4 {
		t.Fatalf("Keys() = %d, want 4", a.Keys())
	}
	tests := []struct {
		name    string
		target  string
		headers map[string]string
		wantKey string
		wantID  string
		wantErr error
	}{
		{"bearer", "/v1/chat/completions", map[string]string{"Authorization": "Bearer sk-alice"}, "alice", "alice#" + HashSecret("sk-alice")[:8], nil},
		{"bearer lower case", "/", map[string]string{"Authorization": "bearer  sk-alice "}, "alice", "", nil},
		{"x-api-key", "/v1/messages", map[string]string{"x-api-key": "sk-alice"}, "alice", "", nil},
		{"basic auth falls back to x-api-key", "/", map[string]string{"Authorization": "Basic Zm9vOmJhcg==", "x-api-key": "sk-alice"}, "alice", "", nil},
		{"no key", "/", nil, "", "", ErrNoKey},
		{"empty bearer", "/", map[string]string{"Authorization": "Bearer "}, "", "", ErrNoKey},
		{"query string ignored", "/v1/models?api_key=sk-alice&api-key=sk-alice", nil, "", "", ErrNoKey},
		{"unknown", "/", map[string]string{"Authorization": "Bearer sk-nobody"}, "", "", ErrUnknownKey},
		{"huge", "/", map[string]string{"Authorization": "Bearer " + strings.Repeat("x", 4096)}, "", "", ErrUnknownKey},
		{"disabled", "/", map[string]string{"Authorization": "Bearer sk-bob"}, "", "", ErrDisabled},
		{"expired now", "/", map[string]string{"x-api-key": "sk-carol"}, "", "", ErrExpired},
		{"not yet expired", "/", map[string]string{"x-api-key": "sk-dave"}, "dave", "", nil},
		{"rotated in grace", "/", map[string]string{"Authorization": "Bearer sk-alice-old"}, "alice", "alice#" + HashSecret("sk-alice-old")[:8], nil},
		{"rotated after grace", "/", map[string]string{"Authorization": "Bearer sk-alice-older"}, "", "", ErrRotated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest(http.MethodPost, tt.target, nil)
			for k, v := range tt.headers {
				r.Header.Set(k, v)
			}
			k, err := a.Authenticate(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || k != nil {
					t.Fatalf("Authenticate = %v, %v; want %v", k, err, tt.wantErr)
				}
				if StatusCode(err) != http.StatusUnauthorized {
					t.Errorf("StatusCode(%v) = %d, want 401", err, StatusCode(err))
				}
				return
			}
			if err != nil || k.Name != tt.wantKey {
				t.Fatalf("Authenticate = %v, %v; want key %s", k, err, tt.wantKey)
			}
			if tt.wantID != "" && k.ID() != tt.wantID {
				t.Errorf("ID() = %q, want %q", k.ID(), tt.wantID)
			}
		})
	}

	clk.Advance(time.Hour)
	if _, err := a.Check("sk-alice-old"); !errors.Is(err, ErrRotated) {
		t.Errorf("old key after its grace period: %v, want ErrRotated", err)
	}
	if _, err := a.Check("sk-dave"); !errors.Is(err, ErrExpired) {
		t.Errorf("key after its expiry: %v, want ErrExpired", err)
	}
}

func TestErrorsNeverShowSecrets(t *testing.T) {
	clk := newClock()
	path := filepath.Join(t.TempDir(), "keys.json")
	secrets := []string{"sk-llmr-disabledkeydisabledkey", "sk-llmr-expiredkeyexpiredkey", "sk-llmr-unknownunknownunknown"}
	writeKeys(t, path,
		Record{Name: "d", SHA256: HashSecret(secrets[0]), Policy: allowAll, Disabled: true},
		Record{Name: "e", SHA256: HashSecret(secrets[1]), Policy: allowAll, Expires: clk.Now()},
	)
	core, logs := observer.New(zap.DebugLevel)
	a := newAuth(t, Config{KeysFile: path, Now: clk.Now, Logger: zap.New(core)})
	for _, s := range secrets {
		_, err := a.Check(s)
		if err == nil {
			t.Fatalf("Check(%s) succeeded", s)
		}
		for _, leak := range []string{s, s[:9], HashSecret(s)[:9]} {
			if strings.Contains(err.Error(), leak) {
				t.Errorf("error %q contains %q", err, leak)
			}
		}
	}
	for _, e := range logs.All() {
		line := e.Message
		for k, v := range e.ContextMap() {
			line += " " + k + "=" + strings.TrimSpace(strings.ReplaceAll(toString(v), "\n", " "))
		}
		for _, s := range secrets {
			if strings.Contains(line, s[len(KeyPrefix):]) || strings.Contains(line, HashSecret(s)[:9]) {
				t.Errorf("log line %q shows a key or hash", line)
			}
		}
	}
}

func toString(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

func TestIsPublic(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	def := newAuth(t, Config{KeysFile: path})
	custom := newAuth(t, Config{KeysFile: path, PublicPaths: []string{"/health", "/docs/*"}})
	tests := []struct {
		a    *Authenticator
		path string
		want bool
	}{
		{def, "/api/ping", true},
		{def, "/api/version", true},
		{def, "/api/health", true},
		{def, "/api/ping/", false},
		{def, "/api/./ping", false},
		{def, "/v1/models", false},
		{def, "/", false},
		{custom, "/health", true},
		{custom, "/api/ping", false},
		{custom, "/docs/index.html", true},
		{custom, "/docs/../v1/chat/completions", false},
		{custom, "/docs//x", false},
	}
	for _, tt := range tests {
		if got := tt.a.IsPublic(tt.path); got != tt.want {
			t.Errorf("IsPublic(%q) = %v, want %v", tt.path, got, tt.want)
		}
	}
	prefixed := newAuth(t, Config{KeysFile: path, Prefix: "/llm"})
	if !prefixed.IsPublic("/llm/ping") || prefixed.IsPublic("/api/ping") {
		t.Error("Prefix /llm: want /llm/ping public and /api/ping not")
	}
}

func TestStripCredentials(t *testing.T) {
	h := http.Header{}
	h.Set("Authorization", "Bearer sk-x")
	h.Set("X-Api-Key", "sk-x")
	h.Set("Api-Key", "sk-x")
	h.Set("Content-Type", "application/json")
	StripCredentials(h)
	if len(h) != 1 || h.Get("Content-Type") == "" {
		t.Errorf("after StripCredentials: %v, want only Content-Type", h)
	}
}

func TestReloadOnFileChange(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	core, logs := observer.New(zap.InfoLevel)
	a := newAuth(t, Config{KeysFile: path, Poll: time.Millisecond, Logger: zap.New(core)})

	// A missing file means no keys, until it appears.
	if _, err := a.Check("sk-1"); !errors.Is(err, ErrUnknownKey) {
		t.Fatalf("before the file exists: %v, want ErrUnknownKey", err)
	}
	writeKeys(t, path, Record{Name: "one", SHA256: HashSecret("sk-1"), Policy: allowAll})
	eventually(t, "the new keys file to be loaded", func() bool { _, err := a.Check("sk-1"); return err == nil })

	// Disabling takes effect without a restart.
	writeKeys(t, path, Record{Name: "one", SHA256: HashSecret("sk-1"), Policy: allowAll, Disabled: true})
	eventually(t, "the key to be disabled", func() bool { _, err := a.Check("sk-1"); return errors.Is(err, ErrDisabled) })

	// A broken file is reported once and the previous keys stay in force.
	writeRaw(t, path, `{"keys": [ broken`)
	eventually(t, "the broken file to be reported", func() bool {
		return logs.FilterMessage("auth keys not reloaded; keeping the previous keys").Len() > 0
	})
	if _, err := a.Check("sk-1"); !errors.Is(err, ErrDisabled) {
		t.Errorf("after a broken file: %v, want the previous table (ErrDisabled)", err)
	}
	writeKeys(t, path, Record{Name: "two", SHA256: HashSecret("sk-2"), Policy: allowAll})
	eventually(t, "the fixed file to be loaded", func() bool { _, err := a.Check("sk-2"); return err == nil })
	if n := logs.FilterMessage("auth keys not reloaded; keeping the previous keys").Len(); n != 1 {
		t.Errorf("broken file reported %d times, want once", n)
	}

	// An editor that truncates the file before writing it does not wipe
	// the keys out.
	if err := os.WriteFile(path, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the empty file to be reported", func() bool {
		return logs.FilterMessage("auth keys not reloaded; keeping the previous keys").Len() == 2
	})
	if _, err := a.Check("sk-2"); err != nil {
		t.Errorf("after the file was emptied: %v, want the previous keys", err)
	}
}

// writeRaw replaces path with content atomically.
func writeRaw(t *testing.T, path, content string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestRedisOutageReportedOnce(t *testing.T) {
	c := startRedis(t)
	core, logs := observer.New(zap.InfoLevel)
	// The watcher would tick only after an hour: the test ticks by hand.
	a := newAuth(t, Config{Store: StoreRedis, Redis: c, Poll: time.Hour, Logger: zap.New(core)})
	const msg = "auth keys not reloaded; keeping the previous keys"
	c.Close() // every read now fails

	last := ""
	for range 5 {
		last = a.tick(context.Background(), last)
	}
	if n := logs.FilterMessage(msg).Len(); n != 1 {
		t.Errorf("a lasting outage logged %d errors, want 1", n)
	}
	if last == "" {
		t.Error("tick reported no failure with Redis down")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	path := filepath.Join(t.TempDir(), "keys.json")
	if err := os.WriteFile(path, []byte(`{"keys": [{"name": "x", "sha256": "plaintext"}]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, cfg := range []Config{
		{KeysFile: path},
		{Store: "vault"},
		{Store: StoreRedis},
	} {
		if a, err := New(context.Background(), cfg); err == nil {
			a.Close()
			t.Errorf("New(%+v) succeeded, want an error", cfg)
		}
	}
}

func TestCloseStopsWatcher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	a, err := New(ctx, Config{KeysFile: filepath.Join(t.TempDir(), "keys.json"), Poll: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	cancel()
	<-a.done // the watcher ends with its context
	a.Close()
}
