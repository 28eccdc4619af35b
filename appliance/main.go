// Command llm-router is Caddy v2 with the LLM router modules compiled in.
//
// It accepts Caddy's command line. `llm-router run` (and reload, validate,
// adapt) without --config uses the default configuration embedded in the
// binary, which reads the original LLM Router's LLM_ROUTER_* environment
// variables. `llm-router version` and `llm-router --help` describe the router,
// not Caddy; run, start, reload and validate check the models-config first and
// report a mistake in it on one line.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	// Caddy's standard modules and every llm-router module.
	_ "github.com/caddyserver/caddy/v2/modules/standard"
	_ "github.com/llmrouter/llm-router"

	"github.com/llmrouter/llm-router/resources"
)

func main() {
	args, err := withDefaultConfig(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "llm-router:", err)
		os.Exit(1)
	}
	caddy.CustomBinaryName = "llm-router"
	caddy.CustomLongDescription = longDescription
	if len(args) > 1 {
		switch args[1] {
		case "upgrade", "add-package", "remove-package":
			// These would replace the binary with a stock Caddy build that lacks
			// the router modules.
			fmt.Fprintf(os.Stderr, "llm-router: %q is not available; install a new llm-router package instead\n", args[1])
			os.Exit(1)
		case "version", "--version", "-v":
			if slices.Contains(args[2:], "--help") || slices.Contains(args[2:], "-h") {
				fmt.Println("Usage: llm-router version\n\nPrints the llm-router version and commit, the Caddy version inside and the Go version.")
				return
			}
			fmt.Print(versionText())
			return
		case "reload":
			// Caddy skips a reload whose adapted config is unchanged; a reload
			// must also pick up changes it cannot see in the config, such as
			// prompt files. --force makes the running process load it again.
			if !slices.Contains(args[2:], "--force") {
				args = append(args, "--force")
			}
		}
	}
	if isRootHelp(args) {
		fmt.Print(rootHelp())
		return
	}
	if msg, code := preflight(args, os.Stderr); code != 0 {
		fmt.Fprintln(os.Stderr, "llm-router:", msg)
		os.Exit(code)
	}
	os.Args = args
	caddycmd.Main()
}

// usesConfig lists the subcommands that take --config and default to the
// embedded Caddyfile, as `run` does.
var usesConfig = []string{"run", "start", "reload", "validate", "adapt"}

// withDefaultConfig adds --config with the embedded default Caddyfile to a
// command of usesConfig that names no configuration.
func withDefaultConfig(args []string) ([]string, error) {
	if len(args) < 2 || !slices.Contains(usesConfig, args[1]) {
		return args, nil
	}
	for _, a := range args[2:] {
		switch a {
		case "--config", "-c", "--resume", "-r", "--help", "-h":
			return args, nil
		}
		if strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-c=") {
			return args, nil
		}
	}
	data, err := resources.FS.ReadFile("Caddyfile")
	if err != nil {
		return nil, fmt.Errorf("embedded Caddyfile: %w", err)
	}
	dir, err := os.UserCacheDir()
	if err != nil || os.MkdirAll(filepath.Join(dir, "llm-router"), 0o700) != nil {
		dir = os.TempDir()
	}
	path := filepath.Join(dir, "llm-router", "Caddyfile.default")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("default config: %w", err)
	}
	if err := os.WriteFile(path, data, 0o600); err != nil {
		return nil, fmt.Errorf("default config: %w", err)
	}
	out := append([]string{}, args...)
	if !slices.Contains(out[2:], "--adapter") {
		out = append(out, "--adapter", "caddyfile")
	}
	return append(out, "--config", path), nil
}
