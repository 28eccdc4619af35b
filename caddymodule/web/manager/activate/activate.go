// Package activate makes a Config Manager document the one the router
// serves: it validates it with the router's validator, writes the
// models-config file atomically and reloads the running Caddy config in
// place (graceful: requests in flight finish on the old config). Follow
// does the same on every instance of a fleet that shares one database, and
// TestProvider checks that a provider answers.
package activate

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"

	"go.uber.org/zap"

	"github.com/llmrouter/llm-router/caddymodule/config"
	"github.com/llmrouter/llm-router/caddymodule/env"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
)

// DefaultModelsConfig is the packaged models-config file; the router reads it
// when it exists and nothing else is configured.
const DefaultModelsConfig = "/etc/llm-router/models-config.json"

// FileMode is the mode of the models-config file Apply writes: it holds the
// providers' tokens in clear, for the router.
const FileMode = 0o640

// Applier applies documents to the router of this process. Its zero value
// (but Key, where tokens are sealed) works with Caddy's default admin
// endpoint; it is safe for concurrent use.
type Applier struct {
	// Path is the models-config file to write. Empty: the file the running
	// llm_router app reads (its models_config, else LLM_ROUTER_MODELS_CONFIG,
	// else /etc/llm-router/models-config.json when it exists), else
	// FallbackPath.
	Path string
	// FallbackPath is written when the router runs on the embedded example
	// (no file configured); the running config is pointed at it.
	FallbackPath string
	// Key opens the sealed api_tokens; nil refuses a document with sealed
	// tokens.
	Key *doc.Key
	// Admin is the Caddy admin endpoint of this process ("localhost:2019",
	// "unix//run/llm-router/admin.sock"); empty: the running config's
	// (its global admin option), else $CADDY_ADMIN, else localhost:2019.
	Admin string
	// Reload replaces the admin-endpoint reload, for tests and embedders:
	// it must make the router read path, whose SHA-256 is hash, and return
	// once the new config serves.
	Reload func(ctx context.Context, path, hash string) error
	// Logger logs applied configs; nil logs nothing.
	Logger *zap.Logger

	mu sync.Mutex
}

// ValidationError is a document Apply refuses without trying: the router's
// validator refuses it (Err is then the *config.Error naming the file,
// model, provider and field), it does not parse (*doc.SyntaxError), or its
// sealed tokens cannot be opened with the key.
type ValidationError struct{ Err error }

func (e *ValidationError) Error() string { return "the router refuses this config: " + e.Err.Error() }
func (e *ValidationError) Unwrap() error { return e.Err }

// Applied tells what Apply did.
type Applied struct {
	// Path is the file written.
	Path string
	// Hash is the SHA-256 of the file, hex.
	Hash string
	// Reloaded is false when the router already served this document.
	Reloaded bool
}

// Apply makes data (a document as stored: JSON or HuJSON, tokens sealed or
// not) the router's models-config: it opens the tokens, validates with the
// router's validator (a refusal is a *ValidationError and changes nothing),
// writes the file atomically (temp file, fsync, rename; mode 0640) and
// reloads the router in this process, returning once the new config serves.
// A document the router already serves is not applied again. If ctx ends
// during the reload, Apply returns at once and the reload completes without
// it: callers that must know the outcome (a page handler) pass a context
// that outlives the client, e.g. context.WithoutCancel plus a timeout.
func (a *Applier) Apply(ctx context.Context, data []byte) (Applied, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	d, err := doc.Parse(data)
	if err != nil {
		return Applied{}, &ValidationError{Err: err}
	}
	if a.Key != nil {
		if err := d.Open(a.Key); err != nil {
			return Applied{}, &ValidationError{Err: err}
		}
	}
	if err := refuseSealed(d); err != nil {
		return Applied{}, &ValidationError{Err: err}
	}

	running, err := a.running(ctx)
	if err != nil {
		return Applied{}, err
	}
	path := a.target(running)
	if path == "" {
		return Applied{}, fmt.Errorf("activate: the router runs on the embedded example models-config and no file to write is configured (set models_config or LLM_ROUTER_MODELS_CONFIG): %w", ErrCannotApply)
	}
	out := d.JSON()
	// The router's validator with the running router's options: a router
	// with strict_models_config refuses unknown fields.
	opts := config.Options{}
	if running != nil {
		opts.Strict = running.Strict
	}
	if _, err := opts.Parse(path, out); err != nil {
		return Applied{}, &ValidationError{Err: err}
	}
	sum := sha256.Sum256(out)
	res := Applied{Path: path, Hash: hex.EncodeToString(sum[:])}

	if cur, err := config.ReadFile(path); err == nil && bytes.Equal(cur, out) &&
		running != nil && running.Hash == res.Hash && running.resolved() == path {
		return res, nil
	}
	prev, prevErr := config.ReadFile(path)
	if err := writeFile(path, out); err != nil {
		return Applied{}, err
	}
	if err := a.reload(ctx, path, res.Hash); err != nil {
		// The router kept its config (Caddy rolls a failed load back): put
		// the file back too, so that a later restart or `caddy reload`
		// does not pick up what was never served. Not when ctx ended: the
		// request was abandoned, not refused, and the load goes on (this
		// is how a follower in the module being replaced lets go).
		if ctx.Err() != nil {
			return Applied{}, err
		}
		if prevErr == nil {
			if rerr := writeFile(path, prev); rerr != nil {
				err = fmt.Errorf("%w; restoring the previous file: %w", err, rerr)
			}
		} else if errors.Is(prevErr, fs.ErrNotExist) {
			_ = os.Remove(path)
		}
		return Applied{}, err
	}
	res.Reloaded = true
	if a.Logger != nil {
		a.Logger.Info("models configuration activated", zap.String("path", path), zap.String("sha256", res.Hash))
	}
	return res, nil
}

// refuseSealed refuses a document whose tokens are still sealed: the router
// would send the ciphertext upstream.
func refuseSealed(d *doc.Document) error {
	for _, m := range d.Models() {
		for _, p := range m.Providers {
			if strings.HasPrefix(p.Get("api_token"), doc.SealPrefix) {
				return fmt.Errorf("model %q: provider #%d: the token is sealed and no key is configured", m.Name, p.Index)
			}
		}
	}
	return nil
}

// ErrCannotApply wraps the errors that retrying will not cure: this process
// has no file to write, or no admin endpoint to reload through.
var ErrCannotApply = errors.New("this router cannot apply a config in place")

// app is what Apply reads of the running llm_router app's config.
type app struct {
	ModelsConfig string `json:"models_config"`
	Hash         string `json:"models_config_hash"`
	Strict       bool   `json:"strict_models_config"`
}

// resolved is the file the running app reads ("" for the embedded example).
func (r *app) resolved() string {
	p := r.ModelsConfig
	if p == "" {
		p = env.Read(os.Getenv).ModelsConfig
	}
	if p == "" {
		if _, err := os.Stat(DefaultModelsConfig); err == nil {
			p = DefaultModelsConfig
		}
	}
	return p
}

// running reads the llm_router app's options of the running config; nil
// when a Reload hook replaces the admin endpoint.
func (a *Applier) running(ctx context.Context) (*app, error) {
	if a.Reload != nil {
		return nil, nil
	}
	raw, err := adminGet(ctx, a.Admin, "/config/apps/llm_router")
	if err != nil {
		return nil, fmt.Errorf("activate: reading the running config: %w", err)
	}
	if bytes.Equal(bytes.TrimSpace(raw), []byte("null")) {
		return &app{}, nil // no llm_router options: all defaults
	}
	var r app
	if err := json.Unmarshal(raw, &r); err != nil {
		return nil, fmt.Errorf("activate: reading the running config: %w", err)
	}
	return &r, nil
}

func (a *Applier) target(running *app) string {
	if a.Path != "" {
		return a.Path
	}
	if running != nil {
		if p := running.resolved(); p != "" {
			return p
		}
	}
	return a.FallbackPath
}

// reload makes the running router read path.
func (a *Applier) reload(ctx context.Context, path, hash string) error {
	if a.Reload != nil {
		if err := a.Reload(ctx, path, hash); err != nil {
			return fmt.Errorf("activate: reload: %w", err)
		}
		return nil
	}
	// Change the two options of the running app in one request: Caddy
	// provisions the new config, starts it, then stops the old one
	// gracefully; the request returns once the new one serves.
	raw, err := adminGet(ctx, a.Admin, "/config/apps/llm_router")
	if err != nil {
		return fmt.Errorf("activate: reload: %w", err)
	}
	opts := map[string]json.RawMessage{}
	if t := bytes.TrimSpace(raw); len(t) > 0 && !bytes.Equal(t, []byte("null")) {
		if err := json.Unmarshal(t, &opts); err != nil {
			return fmt.Errorf("activate: reload: the llm_router app's config: %w", err)
		}
	}
	opts["models_config"], _ = json.Marshal(path)
	opts["models_config_hash"], _ = json.Marshal(hash)
	body, err := json.Marshal(opts)
	if err != nil {
		return fmt.Errorf("activate: reload: %w", err)
	}
	if err := adminSend(ctx, a.Admin, "POST", "/config/apps/llm_router", body); err != nil {
		return fmt.Errorf("activate: reload: %w", err)
	}
	return nil
}

// writeFile replaces path atomically: a temp file beside it, fsync, rename,
// fsync of the directory.
func writeFile(path string, data []byte) error {
	// An operator's symlink (models-config.json → a file kept elsewhere)
	// stays a symlink: the file it points to is replaced.
	if fi, err := os.Lstat(path); err == nil && fi.Mode()&os.ModeSymlink != 0 {
		target, err := filepath.EvalSymlinks(path)
		if err != nil {
			return fmt.Errorf("activate: %s is a symlink that does not resolve: %w", path, err)
		}
		path = target
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("activate: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after the rename
	err = f.Chmod(FileMode)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("activate: writing %s: %w", path, err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync()
		_ = d.Close()
	}
	return nil
}
