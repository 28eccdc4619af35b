package auth

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

// cli runs the keys command with args and returns stdout and stderr.
func cli(t *testing.T, clk *clock, args ...string) (string, string, error) {
	t.Helper()
	root := &cobra.Command{Use: "keys", SilenceErrors: true}
	keysCommandWith(root, cliEnv{now: clk.Now, lookup: func(string) (*account, error) { return nil, nil }})
	var out, errOut bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&errOut)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), errOut.String(), err
}

func TestCLIKeyLifecycle(t *testing.T) {
	clk := newClock()
	file := filepath.Join(t.TempDir(), "etc", "keys.json")
	f := "--keys-file=" + file
	a := newAuth(t, Config{KeysFile: file, Now: clk.Now, Poll: time.Millisecond})
	mustCheck := func(secret string, want error) {
		t.Helper()
		eventually(t, "the keys file change to apply", func() bool {
			_, err := a.Check(secret)
			return errors.Is(err, want) || (want == nil && err == nil)
		})
	}

	out, _, err := cli(t, clk, "create", f, "--name", "alice", "--models", "gpt-4o*, llama3",
		"--endpoints", "chat,listing", "--rpm", "60", "--tpm", "1000", "--expires", "2027-01-01")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out)
	if !strings.HasPrefix(secret, KeyPrefix) || strings.Contains(secret, "\n") {
		t.Fatalf("create printed %q, want one key starting with %s", out, KeyPrefix)
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(raw, []byte(secret)) || bytes.Contains(raw, []byte(secret[len(KeyPrefix):])) {
		t.Fatal("the keys file holds the plaintext key")
	}
	if !bytes.Contains(raw, []byte(HashSecret(secret))) {
		t.Fatal("the keys file lacks the key's SHA-256")
	}
	if fi, _ := os.Stat(file); fi.Mode().Perm() != 0o640 {
		t.Errorf("new keys file mode %v, want 0640 (group of its directory)", fi.Mode().Perm())
	}
	mustCheck(secret, nil)
	k, _ := a.Check(secret)
	want := Policy{Models: []string{"gpt-4o*", "llama3"}, Endpoints: []Family{FamilyChat, FamilyListing}, RPM: 60, TPM: 1000}
	if got, _ := json.Marshal(k.Policy); string(got) != toString(want) {
		t.Errorf("policy = %s, want %s", got, toString(want))
	}
	if !k.Expires.Equal(time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("expires = %v, want 2027-01-01T00:00:00Z", k.Expires)
	}

	if _, _, err := cli(t, clk, "create", f, "--name", "alice"); err == nil || !strings.Contains(err.Error(), "already exists") {
		t.Errorf("second create of alice: %v, want an 'already exists' error", err)
	}
	if _, _, err := cli(t, clk, "create", f, "--name", "bob", "--endpoints", "chats"); err == nil || !strings.Contains(err.Error(), `unknown family "chats"`) {
		t.Errorf("create with a bad family: %v", err)
	}
	if _, _, err := cli(t, clk, "create", f, "--name", "bob", "--expires", "2020-01-01"); err == nil || !strings.Contains(err.Error(), "in the past") {
		t.Errorf("create with a past expiry: %v", err)
	}

	out, _, err = cli(t, clk, "list", f)
	if err != nil {
		t.Fatal(err)
	}
	h := HashSecret(secret)
	if !strings.Contains(out, "alice") || !strings.Contains(out, h[:8]) || strings.Contains(out, h[:9]) || !strings.Contains(out, "active") {
		t.Errorf("list output:\n%s\nwant alice, active and 8 (not more) hash characters", out)
	}

	out, _, err = cli(t, clk, "rotate", f, "alice", "--grace", "1h")
	if err != nil {
		t.Fatal(err)
	}
	rotated := strings.TrimSpace(out)
	mustCheck(rotated, nil)
	mustCheck(secret, nil) // still in its grace period
	clk.Advance(time.Hour)
	mustCheck(secret, ErrRotated)
	mustCheck(rotated, nil)

	out, _, err = cli(t, clk, "list", f, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var items []listItem
	if err := json.Unmarshal([]byte(out), &items); err != nil || len(items) != 1 || items[0].Hash != HashSecret(rotated)[:8] {
		t.Errorf("list --json = %s (%v)", out, err)
	}

	if _, _, err := cli(t, clk, "disable", f, "alice"); err != nil {
		t.Fatal(err)
	}
	mustCheck(rotated, ErrDisabled)
	if _, _, err := cli(t, clk, "enable", f, "alice"); err != nil {
		t.Fatal(err)
	}
	mustCheck(rotated, nil)
	if _, _, err := cli(t, clk, "delete", f, "alice"); err != nil {
		t.Fatal(err)
	}
	mustCheck(rotated, ErrUnknownKey)
	if _, _, err := cli(t, clk, "delete", f, "alice"); !errors.Is(err, errNoSuchKey) {
		t.Errorf("deleting a missing key: %v, want errNoSuchKey", err)
	}
}

func TestRotatePrunesEndedGracePeriods(t *testing.T) {
	clk := newClock()
	doc, _, err := addKey(nil, createOptions{Name: "a"}, clk.Now())
	if err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if doc, _, err = rotateKey(doc, "a", time.Hour, clk.Now()); err != nil {
			t.Fatal(err)
		}
		clk.Advance(40 * time.Minute)
	}
	recs, err := parseDoc(doc, "doc")
	if err != nil {
		t.Fatal(err)
	}
	if n := len(recs[0].Previous); n != 2 {
		t.Errorf("after 3 rotations 40 min apart with 1h grace: %d old keys kept, want 2", n)
	}
	if doc, _, err = rotateKey(doc, "a", 0, clk.Now().Add(2*time.Hour)); err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(doc, []byte("previous")) {
		t.Errorf("rotation without grace after every grace ended left old keys:\n%s", doc)
	}
}

func TestEditKeepsComments(t *testing.T) {
	doc := []byte(`// site keys, owner: ops team
{
	"keys": [
		// the CI key
		{"name": "ci", "sha256": "` + HashSecret("x") + `", "policy": {"models": ["*"], "endpoints": ["chat"]}},
	],
}
`)
	out, _, err := addKey(doc, createOptions{Name: "new"}, newClock().Now())
	if err != nil {
		t.Fatal(err)
	}
	if out, err = setDisabled(out, "ci", true); err != nil {
		t.Fatal(err)
	}
	for _, c := range []string{"// site keys, owner: ops team", "// the CI key"} {
		if !bytes.Contains(out, []byte(c)) {
			t.Errorf("comment %q lost:\n%s", c, out)
		}
	}
	recs, err := parseDoc(out, "out")
	if err != nil || len(recs) != 2 || !recs[0].Disabled || recs[1].Name != "new" {
		t.Errorf("edited document = %+v, %v", recs, err)
	}
}

func TestFileStore(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "keys.json")
	s := &fileStore{path: path}
	if err := s.save(ctx, []byte(`{"keys": []}`), missing); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, 0o640); err != nil {
		t.Fatal(err)
	}
	_, rev, err := s.load(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(ctx, []byte(`{"keys": [] }`), rev); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Mode().Perm() != 0o640 {
		t.Errorf("mode after save = %v, want the existing 0640 kept", fi.Mode().Perm())
	}
	if err := s.save(ctx, []byte(`{}`), rev); !errors.Is(err, errConflict) {
		t.Errorf("save over a changed file = %v, want errConflict", err)
	}
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), ".keys-*")); len(m) != 0 {
		t.Errorf("temp files left behind: %v", m)
	}
}

func TestParseExpiry(t *testing.T) {
	now := newClock().Now()
	tests := []struct {
		in   string
		want time.Time
	}{
		{"", time.Time{}},
		{"2027-03-01", time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{"2027-03-01T10:00:00+02:00", time.Date(2027, 3, 1, 8, 0, 0, 0, time.UTC)},
		{"90d", now.Add(90 * 24 * time.Hour)},
		{"36h", now.Add(36 * time.Hour)},
	}
	for _, tt := range tests {
		got, err := parseExpiry(tt.in, now)
		if err != nil || !got.Equal(tt.want) {
			t.Errorf("parseExpiry(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	for _, bad := range []string{"tomorrow", "-5d", "0d", "-1h", "2027-13-01"} {
		if _, err := parseExpiry(bad, now); err == nil {
			t.Errorf("parseExpiry(%q) accepted", bad)
		}
	}
}

func TestRedisKeyStore(t *testing.T) {
	c := startRedis(t)
	clk := newClock()
	url := "--redis-url=unix://" + c.Options().Addr
	a := newAuth(t, Config{Store: StoreRedis, Redis: c, Now: clk.Now, Poll: time.Millisecond})
	if a.Keys() != 0 {
		t.Fatalf("empty Redis: %d keys", a.Keys())
	}
	out, _, err := cli(t, clk, "create", url, "--name", "fleet", "--models", "llama3")
	if err != nil {
		t.Fatal(err)
	}
	secret := strings.TrimSpace(out)
	eventually(t, "the key created in Redis to apply", func() bool { _, err := a.Check(secret); return err == nil })
	if _, _, err := cli(t, clk, "disable", url, "fleet"); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the key disabled in Redis to apply", func() bool {
		_, err := a.Check(secret)
		return errors.Is(err, ErrDisabled)
	})

	// A second router reading the same Redis sees the same keys.
	b := newAuth(t, Config{Store: StoreRedis, Redis: c, Now: clk.Now})
	if _, err := b.Check(secret); !errors.Is(err, ErrDisabled) {
		t.Errorf("second router: %v, want ErrDisabled", err)
	}

	// push copies a whole keys file into Redis.
	file := filepath.Join(t.TempDir(), "keys.json")
	out, _, err = cli(t, clk, "create", "--keys-file="+file, "--name", "pushed")
	if err != nil {
		t.Fatal(err)
	}
	pushed := strings.TrimSpace(out)
	if _, _, err := cli(t, clk, "push", "--keys-file="+file, url); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the pushed keys to apply", func() bool {
		_, errNew := a.Check(pushed)
		_, errOld := a.Check(secret)
		return errNew == nil && errors.Is(errOld, ErrUnknownKey)
	})

	// Optimistic locking: a save based on a stale revision is refused.
	s := &redisStore{c: c, key: DefaultRedisKey}
	doc, rev, err := s.load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.save(context.Background(), doc, rev); err != nil {
		t.Fatal(err)
	}
	if err := s.save(context.Background(), []byte(`{"keys": []}`), "stale"); !errors.Is(err, errConflict) {
		t.Errorf("stale save = %v, want errConflict", err)
	}
}
