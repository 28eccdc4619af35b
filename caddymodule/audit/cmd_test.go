package audit

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

// run runs a subcommand's function with args parsed by its own flag set.
func run(t *testing.T, mk func(out *bytes.Buffer) (*cobra.Command, caddycmd.CommandFunc), args ...string) (int, string, error) {
	t.Helper()
	var out bytes.Buffer
	c, fn := mk(&out)
	if err := c.Flags().Parse(args); err != nil {
		t.Fatal(err)
	}
	code, err := fn(caddycmd.Flags{FlagSet: c.Flags()})
	return code, out.String(), err
}

func keygenCmd(out *bytes.Buffer) (*cobra.Command, caddycmd.CommandFunc) {
	return keygenCommand(out), cmdKeygen(out)
}

func verifyCmd(out *bytes.Buffer) (*cobra.Command, caddycmd.CommandFunc) {
	return verifyCommand(out), cmdVerify(out)
}

func decryptCmd(out *bytes.Buffer) (*cobra.Command, caddycmd.CommandFunc) {
	return decryptCommand(out), cmdDecrypt(out)
}

func TestCommands(t *testing.T) {
	for _, protect := range []bool{false, true} {
		name := "plain key"
		if protect {
			name = "passphrase-protected key"
		}
		t.Run(name, func(t *testing.T) {
			keyDir := filepath.Join(t.TempDir(), "keys")
			logDir := t.TempDir()
			var passArgs []string
			if protect {
				pf := filepath.Join(t.TempDir(), "pass")
				os.WriteFile(pf, []byte("correct horse\n"), 0o600)
				passArgs = []string{"--passphrase-file", pf}
			}

			code, out, err := run(t, keygenCmd, append([]string{"--out", keyDir}, passArgs...)...)
			if err != nil || code != 0 {
				t.Fatalf("keygen: %d %v", code, err)
			}
			pub, priv := filepath.Join(keyDir, PublicKeyFile), filepath.Join(keyDir, PrivateKeyFile)
			if !strings.Contains(out, pub) {
				t.Errorf("keygen output %q does not name %s", out, pub)
			}
			st, err := os.Stat(priv)
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("private key %v mode %v, want 0600", err, st.Mode())
			}
			if code, _, err := run(t, keygenCmd, "--out", keyDir); err == nil || code == 0 {
				t.Errorf("keygen over existing keys succeeded")
			}

			l, err := Open(Config{Dir: logDir, PublicKeyFile: pub})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if err := l.Record(context.Background(), KindGuardrail, map[string]int{"i": i}); err != nil {
					t.Fatal(err)
				}
			}
			if err := l.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			head := l.Head()

			code, out, err = run(t, verifyCmd, "--dir", logDir, "--anchor", head.String())
			if err != nil || code != 0 || !strings.Contains(out, "ok: 3 records") {
				t.Fatalf("verify: %d %q %v", code, out, err)
			}

			if protect {
				if code, _, err := run(t, decryptCmd, "--dir", logDir, "--key", priv); err == nil || code == 0 {
					t.Errorf("decrypt of a protected key without passphrase succeeded")
				}
			}
			code, out, err = run(t, decryptCmd, append([]string{"--dir", logDir, "--key", priv}, passArgs...)...)
			if err != nil || code != 0 {
				t.Fatalf("decrypt: %d %v", code, err)
			}
			sc := bufio.NewScanner(strings.NewReader(out))
			n := 0
			for sc.Scan() {
				var r struct {
					Seq    uint64
					Kind   string
					Fields struct{ I int }
				}
				if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
					t.Fatalf("line %q: %v", sc.Text(), err)
				}
				if r.Seq != uint64(n+1) || r.Kind != KindGuardrail || r.Fields.I != n {
					t.Errorf("line %d = %q", n, sc.Text())
				}
				n++
			}
			if n != 3 {
				t.Errorf("decrypt printed %d records, want 3", n)
			}

			// Tamper: delete the middle record.
			files, _ := listFiles(logDir)
			path := filepath.Join(logDir, files[0].name)
			b, _ := os.ReadFile(path)
			lines := strings.SplitAfter(string(b), "\n")
			os.WriteFile(path, []byte(lines[0]+lines[2]), 0o600)
			code, _, err = run(t, verifyCmd, "--dir", logDir)
			if code == 0 || err == nil || !strings.Contains(err.Error(), "gap") || !strings.Contains(err.Error(), files[0].name) {
				t.Errorf("verify of a tampered log: %d %v; want non-zero naming the gap and file", code, err)
			}
		})
	}
}

func TestCommandsRejectBadFlags(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		name string
		mk   func(out *bytes.Buffer) (*cobra.Command, caddycmd.CommandFunc)
		args []string
		want string
	}{
		{"keygen without --out", keygenCmd, nil, "--out"},
		{"verify without --dir", verifyCmd, nil, "--dir"},
		{"verify of a missing dir", verifyCmd, []string{"--dir", filepath.Join(dir, "nope")}, "not a directory"},
		{"verify with a bad anchor", verifyCmd, []string{"--dir", dir, "--anchor", "12"}, "anchor"},
		{"decrypt without --key", decryptCmd, []string{"--dir", dir}, "--key"},
		{"decrypt with a public key", decryptCmd, []string{"--dir", dir, "--key", testKeyPair(t).pubFile}, "no private key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, err := run(t, tc.mk, tc.args...)
			if code == 0 || err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %d %v, want a non-zero exit saying %q", code, err, tc.want)
			}
		})
	}
}
