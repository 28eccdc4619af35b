// Package resources holds the defaults embedded in the binary: the default
// Caddyfile, an example models-config.json and the prompt library.
package resources

import "embed"

// FS holds Caddyfile, models-config.json and prompts/{pl,en}/…
//
//go:embed Caddyfile models-config.json all:prompts
var FS embed.FS
