package audit

import (
	"bytes"
	"fmt"
	"io"
	"os"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "audit",
		Usage: "keygen|verify|decrypt",
		Short: "Manages the encrypted, hash-chained audit log",
		Long: `
Manages the audit log written under LLM_ROUTER_AUDIT_DIR.

  audit keygen  --out DIR                  writes an OpenPGP key pair (public + private, 0600)
  audit verify  --dir DIR [--anchor S:H]   checks the hash chain; needs no key
  audit decrypt --dir DIR --key FILE       prints every record as a JSON line

Give the router only the public key (LLM_ROUTER_AUDIT_PUBLIC_KEY); keep the
private key off the machine. verify exits non-zero naming the first broken
link, gap, reorder or truncation.
`,
		CobraFunc: func(cmd *cobra.Command) {
			// Not Caddy's help footer (its command-line docs) under a router command.
			cmd.SetHelpTemplate(cmd.HelpTemplate() + "\nDocumentation: https://github.com/llmrouter/llm-router#observability-and-audit\n")
			cmd.AddCommand(keygenCommand(os.Stdout), verifyCommand(os.Stdout), decryptCommand(os.Stdout))
		},
	})
}

func keygenCommand(out io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "keygen --out DIR [--passphrase-file FILE]",
		Short: "Writes a new audit key pair into DIR",
	}
	c.Flags().String("out", "", "directory for "+PublicKeyFile+" and "+PrivateKeyFile)
	c.Flags().String("passphrase-file", "", "file whose first line protects the private key")
	c.RunE = caddycmd.WrapCommandFuncForCobra(cmdKeygen(out))
	return c
}

func verifyCommand(out io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "verify --dir DIR [--anchor SEQ:HASH] [--partial]",
		Short: "Checks the audit log's hash chain (no key needed)",
	}
	c.Flags().String("dir", "", "audit log directory")
	c.Flags().String("anchor", "", "a head SEQ:HASH recorded earlier; the log must contain it")
	c.Flags().Bool("partial", false, "accept a log whose oldest files were pruned on purpose")
	c.RunE = caddycmd.WrapCommandFuncForCobra(cmdVerify(out))
	return c
}

func decryptCommand(out io.Writer) *cobra.Command {
	c := &cobra.Command{
		Use:   "decrypt --dir DIR --key PRIVATE_KEY_FILE [--passphrase-file FILE]",
		Short: "Prints the audit records as JSON lines",
	}
	c.Flags().String("dir", "", "audit log directory")
	c.Flags().String("key", "", "armored private key file")
	c.Flags().String("passphrase-file", "", "file whose first line unlocks the private key")
	c.Flags().String("anchor", "", "a head SEQ:HASH recorded earlier; the log must contain it")
	c.Flags().Bool("partial", false, "accept a log whose oldest files were pruned on purpose")
	c.RunE = caddycmd.WrapCommandFuncForCobra(cmdDecrypt(out))
	return c
}

// cmdKeygen implements `audit keygen`.
func cmdKeygen(out io.Writer) caddycmd.CommandFunc {
	return func(fl caddycmd.Flags) (int, error) {
		dir := fl.String("out")
		if dir == "" {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("audit keygen: --out DIR is required")
		}
		pass, err := readPassphrase(fl.String("passphrase-file"))
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		pub, priv, err := Keygen(dir, pass)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		fmt.Fprintf(out, "public key:  %s (set LLM_ROUTER_AUDIT_PUBLIC_KEY to it)\nprivate key: %s (keep it off the router)\n", pub, priv)
		return caddy.ExitCodeSuccess, nil
	}
}

// cmdVerify implements `audit verify`.
func cmdVerify(out io.Writer) caddycmd.CommandFunc {
	return func(fl caddycmd.Flags) (int, error) {
		opt, dir, err := verifyFlags(fl)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		s, err := Verify(dir, opt)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		fmt.Fprintf(out, "ok: %d records in %d files, seq %d..%d, head %s\n", s.Records, s.Files, s.First, s.Head.Seq, s.Head)
		return caddy.ExitCodeSuccess, nil
	}
}

// cmdDecrypt implements `audit decrypt`.
func cmdDecrypt(out io.Writer) caddycmd.CommandFunc {
	return func(fl caddycmd.Flags) (int, error) {
		opt, dir, err := verifyFlags(fl)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		if fl.String("key") == "" {
			return caddy.ExitCodeFailedStartup, fmt.Errorf("audit decrypt: --key PRIVATE_KEY_FILE is required")
		}
		pass, err := readPassphrase(fl.String("passphrase-file"))
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		keys, err := LoadPrivateKey(fl.String("key"), pass)
		if err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		if _, err := Decrypt(dir, keys, out, opt); err != nil {
			return caddy.ExitCodeFailedStartup, err
		}
		return caddy.ExitCodeSuccess, nil
	}
}

// verifyFlags reads --dir, --anchor and --partial.
func verifyFlags(fl caddycmd.Flags) (VerifyOptions, string, error) {
	var opt VerifyOptions
	dir := fl.String("dir")
	if dir == "" {
		return opt, "", fmt.Errorf("audit: --dir DIR is required")
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		return opt, "", fmt.Errorf("audit: --dir %s is not a directory", dir)
	}
	if a := fl.String("anchor"); a != "" {
		h, err := ParseAnchor(a)
		if err != nil {
			return opt, "", err
		}
		opt.Anchor = h
	}
	opt.Partial = fl.Bool("partial")
	return opt, dir, nil
}

// readPassphrase returns the first line of path ("" → none).
func readPassphrase(path string) ([]byte, error) {
	if path == "" {
		return nil, nil
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("audit: passphrase file: %w", err)
	}
	if i := bytes.IndexAny(b, "\r\n"); i >= 0 {
		b = b[:i]
	}
	if len(b) == 0 {
		return nil, fmt.Errorf("audit: passphrase file %s is empty", path)
	}
	return b, nil
}
