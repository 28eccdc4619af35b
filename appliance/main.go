// Command llm-router is Caddy v2 with the LLM router modules compiled in.
//
// It accepts Caddy's command line. `llm-router run` without --config serves
// the default configuration embedded in the binary, which reads the original
// LLM Router's LLM_ROUTER_* environment variables.
package main

import (
	"fmt"
	"os"
	"path/filepath"

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
	if len(args) > 1 {
		switch args[1] {
		case "upgrade", "add-package", "remove-package":
			// These would replace the binary with a stock Caddy build that lacks
			// the router modules.
			fmt.Fprintf(os.Stderr, "llm-router: %q is not available; install a new llm-router package instead\n", args[1])
			os.Exit(1)
		}
	}
	os.Args = args
	caddycmd.Main()
}

// withDefaultConfig adds --config with the embedded default Caddyfile to a
// `run` (or `start`) command that names no configuration.
func withDefaultConfig(args []string) ([]string, error) {
	if len(args) < 2 || (args[1] != "run" && args[1] != "start") {
		return args, nil
	}
	for _, a := range args[2:] {
		switch a {
		case "--config", "-c", "--resume", "-r":
			return args, nil
		}
		if len(a) > 9 && a[:9] == "--config=" {
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
	return append(out, "--config", path, "--adapter", "caddyfile"), nil
}
