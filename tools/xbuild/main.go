// Command xbuild builds llm-router with stock xcaddy from the description in
// xcaddy.json (xcaddy itself reads no configuration file). It proves that our
// modules compose into a stock Caddy build: `go run ./tools/xbuild`.
package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// xcaddyVersion is the pinned xcaddy release.
const xcaddyVersion = "v0.4.5"

type descriptor struct {
	CaddyVersion string `json:"caddy_version"`
	Plugins      []struct {
		ModulePath  string `json:"module_path"`
		Version     string `json:"version"`
		Replacement string `json:"replacement"`
	} `json:"plugins"`
	BuildTags string `json:"build_tags"`
	Output    string `json:"output"`
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "xbuild:", err)
		os.Exit(1)
	}
}

func run() error {
	data, err := os.ReadFile("xcaddy.json")
	if err != nil {
		return fmt.Errorf("run from the repository root: %w", err)
	}
	var d descriptor
	if err := json.Unmarshal(data, &d); err != nil {
		return fmt.Errorf("xcaddy.json: %w", err)
	}
	out, err := filepath.Abs(d.Output)
	if err != nil {
		return err
	}
	args := []string{"run", "github.com/caddyserver/xcaddy/cmd/xcaddy@" + xcaddyVersion, "build", d.CaddyVersion, "--output", out}
	for _, p := range d.Plugins {
		with := p.ModulePath
		if p.Version != "" {
			with += "@" + p.Version
		}
		if p.Replacement != "" {
			abs, err := filepath.Abs(p.Replacement)
			if err != nil {
				return err
			}
			with += "=" + abs
		}
		args = append(args, "--with", with)
	}
	cmd := exec.Command("go", args...)
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0",
		"XCADDY_GO_BUILD_FLAGS=-trimpath -tags="+d.BuildTags)
	for _, p := range d.Plugins {
		cmd.Env = append(cmd.Env, "GOPRIVATE="+p.ModulePath)
	}
	fmt.Println("go", args)
	return cmd.Run()
}
