package svcmod

import (
	"os"
	"slices"
	"strings"

	"github.com/caddyserver/caddy/v2"
)

// environKey keys the environment snapshot in a caddy.Context.
type environKey struct{}

// snapshot is one reading of the process environment: its "KEY=value"
// pairs and, for lookups, the same as a map (the first of duplicate keys
// wins, as with os.Getenv).
type snapshot struct {
	list []string
	vars map[string]string
}

// WithEnviron returns a copy of ctx that carries environ ("KEY=value"
// pairs, as os.Environ returns them) as the environment of the modules
// loaded through it. The llm_router app takes one such snapshot per config
// load, so it and its plugins see the same variables; the plugins read
// them through Environ and Getenv, never from the process.
func WithEnviron(ctx caddy.Context, environ []string) caddy.Context {
	s := snapshot{list: slices.Clone(environ), vars: make(map[string]string, len(environ))}
	for _, kv := range s.list {
		k, v, ok := strings.Cut(kv, "=")
		if _, seen := s.vars[k]; ok && !seen {
			s.vars[k] = v
		}
	}
	return ctx.WithValue(environKey{}, s)
}

func snapshotOf(ctx caddy.Context) (snapshot, bool) {
	if ctx.Context == nil {
		return snapshot{}, false
	}
	s, ok := ctx.Value(environKey{}).(snapshot)
	return s, ok
}

// Environ returns the environment ctx carries (see WithEnviron) as
// "KEY=value" pairs. Without a snapshot (a module provisioned on its own,
// outside the llm_router app) it falls back to os.Environ().
func Environ(ctx caddy.Context) []string {
	if s, ok := snapshotOf(ctx); ok {
		return slices.Clone(s.list)
	}
	return os.Environ()
}

// Getenv returns the lookup of the environment ctx carries (see
// WithEnviron): unset variables read as "". Without a snapshot (a module
// provisioned on its own, outside the llm_router app) it falls back to
// os.Getenv.
func Getenv(ctx caddy.Context) func(string) string {
	if s, ok := snapshotOf(ctx); ok {
		return func(k string) string { return s.vars[k] }
	}
	return os.Getenv
}
