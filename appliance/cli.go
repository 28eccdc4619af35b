package main

import (
	"fmt"
	"runtime"
	"runtime/debug"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/llmrouter/llm-router/caddymodule"
)

// commit is the source revision, set at link time with
// -X main.commit=…; without it, the revision Go recorded in the build.
var commit string

const docsURL = "https://github.com/llmrouter/llm-router"

const longDescription = `llm-router is an on-premises LLM gateway: the Caddy web server with the
llm_router modules compiled in. It serves OpenAI-, Anthropic- and
Ollama-compatible APIs and balances requests over the providers listed in
models-config.json.

Documentation: ` + docsURL + ` (README), /usr/share/doc/llm-router/`

// caddyCommands are the subcommands that come with Caddy itself; every other
// registered command belongs to llm-router (or a module built in).
var caddyCommands = []string{"adapt", "add-package", "build-info", "completion", "environ", "file-server",
	"fmt", "hash-password", "list-modules", "manpage", "reload", "remove-package", "respond", "reverse-proxy",
	"run", "start", "stop", "storage", "trust", "untrust", "upgrade", "validate", "version"}

// refused are Caddy commands main refuses (they would replace the binary).
var refused = []string{"upgrade", "add-package", "remove-package"}

// versionText is what `llm-router version` prints.
func versionText() string {
	rev, dirty := commit, false
	caddyVersion := "unknown"
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision":
				if rev == "" {
					rev = s.Value
				}
			case "vcs.modified":
				dirty = s.Value == "true" && commit == ""
			}
		}
		for _, d := range bi.Deps {
			if d.Path == caddy.ImportPath {
				caddyVersion = d.Version
				if d.Replace != nil {
					caddyVersion = d.Replace.Version
				}
			}
		}
	}
	if len(rev) > 12 {
		rev = rev[:12]
	}
	if rev == "" {
		rev = "unknown"
	}
	if dirty {
		rev += " (modified)"
	}
	return fmt.Sprintf("llm-router %s\ncommit %s\nCaddy %s\n%s %s/%s\n",
		caddymodule.Version, rev, caddyVersion, runtime.Version(), runtime.GOOS, runtime.GOARCH)
}

// isRootHelp reports whether args ask for the top-level help.
func isRootHelp(args []string) bool {
	if len(args) < 2 {
		return true
	}
	if len(args) == 2 {
		switch args[1] {
		case "help", "--help", "-h":
			return true
		}
	}
	return false
}

// rootHelp lists llm-router's own commands first, then the server commands
// that come from Caddy.
func rootHelp() string {
	var b strings.Builder
	b.WriteString(longDescription)
	b.WriteString("\n\nUsage:\n  llm-router <command> [flags]\n\n")
	cmds := caddycmd.Commands()
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	slices.Sort(names)
	w := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	fmt.Fprintln(w, "llm-router commands:")
	for _, n := range names {
		if !slices.Contains(caddyCommands, n) {
			fmt.Fprintf(w, "  %s\t%s\n", n, cmds[n].Short)
		}
	}
	fmt.Fprintf(w, "  version\tPrints the llm-router version, its commit and the Caddy version inside\n")
	fmt.Fprintln(w, "\nServer commands (from Caddy):")
	for _, n := range names {
		if slices.Contains(caddyCommands, n) && n != "version" && !slices.Contains(refused, n) {
			short := cmds[n].Short
			switch n {
			case "run":
				short += " (without --config: the configuration embedded in llm-router)"
			case "reload":
				short += "; models-config changes included"
			}
			fmt.Fprintf(w, "  %s\t%s\n", n, short)
		}
	}
	w.Flush()
	b.WriteString(`
Run 'llm-router <command> --help' for a command's flags. The server commands
work as in Caddy (https://caddyserver.com/docs/command-line); without --config,
run, reload and validate use the default configuration embedded in llm-router.
`)
	return b.String()
}
