//go:build unix

package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/spf13/cobra"
)

// TestKeysFileReadableByService runs `keys create` as root (the tests do)
// for a service account with another uid, as the packaged service runs: the
// keys file must come out readable by it, or the write is refused with the
// fix.
func TestKeysFileReadableByService(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to give files to another uid")
	}
	const svcUID, svcGID = 4242, 4343
	svc := &account{name: "llm-router", uid: svcUID, gids: []int{svcGID}}
	run := func(args ...string) (string, error) {
		t.Helper()
		root := &cobra.Command{Use: "keys", SilenceErrors: true}
		keysCommandWith(root, cliEnv{now: newClock().Now, lookup: func(name string) (*account, error) {
			switch name {
			case "":
				return nil, nil
			case "llm-router":
				return svc, nil
			}
			t.Errorf("looked up %q, want the packaged service user", name)
			return nil, nil
		}})
		var out bytes.Buffer
		root.SetOut(&out)
		root.SetErr(&out)
		root.SetArgs(args)
		err := root.Execute()
		return out.String(), err
	}
	// etcDir is /etc/llm-router as the package makes it: root:llm-router 0755.
	etcDir := func(mode os.FileMode, gid int) string {
		t.Helper()
		tmp := t.TempDir()
		for _, d := range []string{filepath.Dir(tmp), tmp} { // testing makes them 0700
			if err := os.Chmod(d, 0o755); err != nil {
				t.Fatal(err)
			}
		}
		dir := filepath.Join(tmp, "llm-router")
		if err := os.Mkdir(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(dir, 0, gid); err != nil {
			t.Fatal(err)
		}
		return dir
	}
	stat := func(path string) (uint32, uint32, os.FileMode) {
		t.Helper()
		fi, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		st := fi.Sys().(*syscall.Stat_t)
		return st.Uid, st.Gid, fi.Mode().Perm()
	}

	t.Run("new file takes the directory's group", func(t *testing.T) {
		file := filepath.Join(etcDir(0o755, svcGID), "keys.json")
		out, err := run("create", "--keys-file", file, "--name", "alice")
		if err != nil {
			t.Fatalf("create: %v\n%s", err, out)
		}
		if uid, gid, mode := stat(file); uid != 0 || gid != svcGID || mode != 0o640 {
			t.Fatalf("keys file %d:%d %04o, want 0:%d 0640 (readable by the service)", uid, gid, mode, svcGID)
		}
		if !strings.Contains(out, "created with owner") || !strings.Contains(out, "mode 0640") || !strings.Contains(out, "readable by the service user llm-router") {
			t.Fatalf("create must say how the file was written:\n%s", out)
		}
		// An edit keeps what is there.
		if out, err := run("disable", "--keys-file", file, "alice"); err != nil || !strings.Contains(out, "kept owner") {
			t.Fatalf("disable: %v\n%s", err, out)
		}
		if uid, gid, mode := stat(file); uid != 0 || gid != svcGID || mode != 0o640 {
			t.Fatalf("after an edit %d:%d %04o, want 0:%d 0640", uid, gid, mode, svcGID)
		}
	})

	t.Run("existing file the service cannot read", func(t *testing.T) {
		file := filepath.Join(etcDir(0o755, svcGID), "keys.json")
		if err := os.WriteFile(file, []byte(`{"keys": []}`), 0o600); err != nil {
			t.Fatal(err)
		}
		out, err := run("create", "--keys-file", file, "--name", "bob")
		if err == nil {
			t.Fatalf("create left a keys file the service cannot read:\n%s", out)
		}
		msg := err.Error()
		if !strings.Contains(msg, "could not read it") || !strings.Contains(msg, "chgrp llm-router "+file) || !strings.Contains(msg, "chmod 0640 "+file) {
			t.Fatalf("the refusal must say how to fix it: %v", err)
		}
		if b, _ := os.ReadFile(file); string(b) != `{"keys": []}` {
			t.Fatalf("a refused write changed the file: %s", b)
		}
	})

	t.Run("directory the service cannot enter", func(t *testing.T) {
		dir := etcDir(0o750, 0)
		out, err := run("create", "--keys-file", filepath.Join(dir, "keys.json"), "--name", "carol")
		if err == nil || !strings.Contains(err.Error(), "may not enter "+dir) || !strings.Contains(err.Error(), "chgrp llm-router "+dir) {
			t.Fatalf("create in a closed directory: %v\n%s", err, out)
		}
	})

	t.Run("check off", func(t *testing.T) {
		dir := etcDir(0o750, 0)
		if out, err := run("create", "--keys-file", filepath.Join(dir, "keys.json"), "--name", "dave", "--service-user", ""); err != nil {
			t.Fatalf("--service-user '' must skip the check: %v\n%s", err, out)
		}
	})
}
