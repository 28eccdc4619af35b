package main

import (
	"slices"
	"strings"
	"testing"
)

func TestWithDefaultConfig(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	tests := []struct {
		args        []string
		wantDefault bool
	}{
		{[]string{"llm-router", "run"}, true},
		{[]string{"llm-router", "reload"}, true},
		{[]string{"llm-router", "validate"}, true},
		{[]string{"llm-router", "adapt", "--pretty"}, true},
		{[]string{"llm-router", "reload", "--config", "/etc/llm-router/Caddyfile"}, false},
		{[]string{"llm-router", "run", "--config=/x/Caddyfile"}, false},
		{[]string{"llm-router", "run", "--resume"}, false},
		{[]string{"llm-router", "reload", "--help"}, false},
		{[]string{"llm-router", "keys", "list"}, false},
		{[]string{"llm-router"}, false},
	}
	for _, tt := range tests {
		got, err := withDefaultConfig(tt.args)
		if err != nil {
			t.Fatal(err)
		}
		cfg := flagValue(got, "--config", "-c")
		isDefault := strings.HasSuffix(cfg, "Caddyfile.default") && slices.Contains(got, "caddyfile")
		if isDefault != tt.wantDefault {
			t.Errorf("%v → %v: default config %v, want %v", tt.args, got, isDefault, tt.wantDefault)
		}
	}
}

func TestFlagValue(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"run", "--config", "a"}, "a"},
		{[]string{"run", "-c", "b"}, "b"},
		{[]string{"run", "--config=c"}, "c"},
		{[]string{"run", "--config"}, ""},
		{[]string{"run", "--adapter", "caddyfile"}, ""},
	}
	for _, tt := range tests {
		if got := flagValue(tt.args, "--config", "-c"); got != tt.want {
			t.Errorf("flagValue(%v) = %q, want %q", tt.args, got, tt.want)
		}
	}
}

func TestRootHelpListsRouterCommandsFirst(t *testing.T) {
	h := rootHelp()
	own, keys, audit, run := strings.Index(h, "llm-router commands:"), strings.Index(h, "\n  keys "), strings.Index(h, "\n  audit "), strings.Index(h, "\n  run ")
	if own < 0 || keys < own || audit < own || run < keys || run < audit {
		t.Fatalf("help does not list llm-router's commands before Caddy's:\n%s", h)
	}
	for _, refusedCmd := range refused {
		if strings.Contains(h, "\n  "+refusedCmd+" ") {
			t.Errorf("help lists %q, which llm-router refuses", refusedCmd)
		}
	}
}
