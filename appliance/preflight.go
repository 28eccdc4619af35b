package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"

	"github.com/llmrouter/llm-router/caddymodule"
	"github.com/llmrouter/llm-router/caddymodule/config"
)

// maxConfigFile bounds the Caddyfile or JSON config preflight reads.
const maxConfigFile = 16 << 20

// preflight checks, before Caddy runs a command, what the router can report
// better than Caddy's error chain: a broken models-config (one line: file,
// line, model, provider, field, what is wrong) and, for run and start, an
// admin port already in use. Warnings (unknown fields) go to warn for the
// commands whose output a person reads (reload, validate); run logs them at
// load. It returns the message and exit code of a refusal, or code 0.
func preflight(args []string, warn io.Writer) (string, int) {
	if len(args) < 2 {
		return "", 0
	}
	cmd := args[1]
	switch cmd {
	case "run", "start", "reload", "validate":
	default:
		return "", 0
	}
	file, adapter := flagValue(args, "--config", "-c"), flagValue(args, "--adapter", "-a")
	if file == "" {
		return "", 0
	}
	cfg, ok := adapted(file, adapter)
	if !ok {
		return "", 0 // Caddy reports what is wrong with the file itself
	}
	var doc struct {
		Admin *struct {
			Disabled bool   `json:"disabled"`
			Listen   string `json:"listen"`
		} `json:"admin"`
		Apps struct {
			LLMRouter *struct {
				ModelsConfig string `json:"models_config"`
				Strict       bool   `json:"strict_models_config"`
			} `json:"llm_router"`
		} `json:"apps"`
	}
	if err := json.Unmarshal(cfg, &doc); err != nil {
		return "", 0
	}
	if strings.Contains(string(cfg), `"llm_router"`) {
		var option string
		var strict bool
		if a := doc.Apps.LLMRouter; a != nil {
			option, strict = a.ModelsConfig, a.Strict
		}
		if msg := checkModels(cmd, caddymodule.ResolveModelsConfig(option), strict, warn); msg != "" {
			return msg, 1
		}
	}
	if cmd == "run" || cmd == "start" {
		if doc.Admin != nil && doc.Admin.Disabled {
			return "", 0
		}
		listen := caddy.DefaultAdminListen
		if doc.Admin != nil && doc.Admin.Listen != "" {
			listen = doc.Admin.Listen
		}
		if msg := checkAdmin(listen); msg != "" {
			return msg, 1
		}
	}
	return "", 0
}

// checkModels loads the models-config the router will read and returns a
// one-line refusal, or "".
func checkModels(cmd, path string, strict bool, warn io.Writer) string {
	if path == "" || strings.Contains(path, "{") {
		return "" // the embedded example, or a placeholder only the server resolves
	}
	cfg, err := config.Options{Strict: strict}.LoadFile(path)
	if errors.Is(err, os.ErrPermission) && cmd != "run" && cmd != "start" {
		return "" // the server reads it with its own rights, and validates it
	}
	if err != nil {
		msg := err.Error() + "; fix the models-config"
		switch cmd {
		case "reload":
			msg += " and reload again (the running configuration keeps serving)"
		case "validate":
			msg += " and validate again"
		default:
			msg += " and start again"
		}
		return msg
	}
	if cmd == "reload" || cmd == "validate" {
		for _, w := range cfg.Warnings {
			fmt.Fprintln(warn, "llm-router: warning:", w)
		}
	}
	return ""
}

// checkAdmin reports an admin TCP address that another process holds, and
// how to move it.
func checkAdmin(listen string) string {
	addr, err := caddy.ParseNetworkAddress(listen)
	if err != nil || addr.IsUnixNetwork() || addr.IsFdNetwork() {
		return ""
	}
	l, err := net.Listen(addr.Network, addr.JoinHostPort(0))
	if err == nil {
		l.Close()
		return ""
	}
	if !errors.Is(err, syscall.EADDRINUSE) {
		return ""
	}
	return fmt.Sprintf("the admin endpoint %s is already in use (another llm-router or Caddy?); "+
		"move it with CADDY_ADMIN=localhost:2020 in the environment, or 'admin localhost:2020' "+
		"(or 'admin off') in the Caddyfile's global options", listen)
}

// adapted returns the config file as Caddy JSON, adapting a Caddyfile the way
// Caddy would; ok is false when it cannot (Caddy will say why).
func adapted(file, adapter string) ([]byte, bool) {
	f, err := os.Open(file)
	if err != nil {
		return nil, false
	}
	defer f.Close()
	body, err := io.ReadAll(io.LimitReader(f, maxConfigFile))
	if err != nil {
		return nil, false
	}
	base := strings.ToLower(filepath.Base(file))
	if adapter == "" && (strings.HasPrefix(base, "caddyfile") || filepath.Ext(base) == ".caddyfile") {
		adapter = "caddyfile"
	}
	if adapter == "" || adapter == "json" {
		return body, true
	}
	a := caddyconfig.GetAdapter(adapter)
	if a == nil {
		return nil, false
	}
	out, _, err := a.Adapt(body, map[string]any{"filename": file})
	if err != nil {
		return nil, false
	}
	return out, true
}

// flagValue returns the value of a flag given as "--name v", "--name=v",
// or by its short form.
func flagValue(args []string, long, short string) string {
	v := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		for _, n := range []string{long, short} {
			if a == n && i+1 < len(args) {
				v = args[i+1]
			} else if strings.HasPrefix(a, n+"=") {
				v = strings.TrimPrefix(a, n+"=")
			}
		}
	}
	return v
}
