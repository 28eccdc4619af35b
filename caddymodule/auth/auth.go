package auth

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"go.uber.org/zap"
)

// Key stores, selected by Config.Store.
const (
	StoreFile  = "file"  // a HuJSON keys file (default)
	StoreRedis = "redis" // the same document in a Redis hash, for a fleet
)

// Defaults for Config fields left empty.
const (
	DefaultKeysFile = "/etc/llm-router/keys.json"
	DefaultRedisKey = "llm-router:auth:keys"
	DefaultPrefix   = "/api"
	DefaultPoll     = 2 * time.Second
)

// maxSecretLen bounds the key we hash; longer values are rejected unhashed.
const maxSecretLen = 512

// Config configures an Authenticator. The JSON form is what the handler
// embeds in its Caddy config; the fields tagged "-" are set in Provision.
type Config struct {
	// Enabled turns authentication on (LLM_ROUTER_AUTH_ENABLED). It is for
	// the handler to act on: New does not read it.
	Enabled bool `json:"enabled,omitempty"`
	// Store is StoreFile (default) or StoreRedis (LLM_ROUTER_AUTH_KEY_STORE).
	Store string `json:"store,omitempty"`
	// KeysFile is the keys file (LLM_ROUTER_AUTH_KEYS_FILE; default
	// DefaultKeysFile). A missing file means no keys (every request is
	// refused) until it appears.
	KeysFile string `json:"keys_file,omitempty"`
	// RedisKey is the Redis hash that holds the keys document (fields
	// "doc" and "rev"); default DefaultRedisKey.
	RedisKey string `json:"redis_key,omitempty"`
	// Prefix is the API path prefix used to build the default public
	// paths; default DefaultPrefix.
	Prefix string `json:"prefix,omitempty"`
	// PublicPaths need no key. Nil means {Prefix}/ping, {Prefix}/version and
	// {Prefix}/health.
	// Entries match exactly, or by prefix when they end in "*".
	PublicPaths []string `json:"public_paths,omitempty"`
	// Poll is how often the store is checked for changes; default
	// DefaultPoll.
	Poll time.Duration `json:"poll,omitempty"`

	// Redis is the client used with StoreRedis; the caller owns it.
	Redis redis.UniversalClient `json:"-"`
	// Now is the clock; default time.Now.
	Now func() time.Time `json:"-"`
	// Logger receives load and reload messages; default no logging.
	Logger *zap.Logger `json:"-"`
}

// DefaultPublicPaths returns the paths that need no key by default.
func DefaultPublicPaths(prefix string) []string {
	return []string{prefix + "/ping", prefix + "/version", prefix + "/health"}
}

// Authenticator checks API keys against an immutable key table that is
// swapped atomically whenever the keys file (or Redis document) changes.
// Its methods are safe for concurrent use.
type Authenticator struct {
	src     source
	now     func() time.Time
	log     *zap.Logger
	poll    time.Duration
	exact   map[string]struct{}
	prefixs []string

	tab atomic.Pointer[hashIndex]
	// rev is the revision of the loaded document and bad that of one that
	// failed to load; only the watcher goroutine touches them after New.
	rev, bad string
	cancel   context.CancelFunc
	done     chan struct{}
}

// hashIndex finds entries by the first 8 bytes of the hash; the full hash is
// then compared in constant time.
type hashIndex struct {
	m    map[uint64][]hashed
	keys int
}

type hashed struct {
	sum [32]byte
	e   *entry
}

func index(t *table) *hashIndex {
	x := &hashIndex{m: make(map[uint64][]hashed, len(t.byHash)), keys: t.keys}
	for sum, e := range t.byHash {
		k := binary.LittleEndian.Uint64(sum[:8])
		x.m[k] = append(x.m[k], hashed{sum: sum, e: e})
	}
	return x
}

// New loads the keys and starts watching the store for changes until ctx is
// done or Close is called. A missing keys file is not an error (no key is
// valid until it appears); an invalid one is.
func New(ctx context.Context, cfg Config) (*Authenticator, error) {
	a := &Authenticator{now: cfg.Now, log: cfg.Logger, poll: cfg.Poll, exact: map[string]struct{}{}}
	if a.now == nil {
		a.now = time.Now
	}
	if a.log == nil {
		a.log = zap.NewNop()
	}
	if a.poll <= 0 {
		a.poll = DefaultPoll
	}
	switch cfg.Store {
	case "", StoreFile:
		path := cfg.KeysFile
		if path == "" {
			path = DefaultKeysFile
		}
		a.src = &fileSource{path: path}
	case StoreRedis:
		if cfg.Redis == nil {
			return nil, errors.New("auth: key store redis needs a Redis client")
		}
		key := cfg.RedisKey
		if key == "" {
			key = DefaultRedisKey
		}
		a.src = &redisSource{c: cfg.Redis, key: key}
	default:
		return nil, fmt.Errorf("auth: unknown key store %q (want file or redis)", cfg.Store)
	}
	public := cfg.PublicPaths
	if public == nil {
		prefix := cfg.Prefix
		if prefix == "" {
			prefix = DefaultPrefix
		}
		public = DefaultPublicPaths(prefix)
	}
	for _, p := range public {
		if pre, ok := strings.CutSuffix(p, "*"); ok {
			a.prefixs = append(a.prefixs, pre)
		} else {
			a.exact[p] = struct{}{}
		}
	}
	a.tab.Store(index(&table{}))
	if err := a.reload(ctx); err != nil {
		return nil, err
	}
	ctx, a.cancel = context.WithCancel(ctx)
	a.done = make(chan struct{})
	go a.watch(ctx)
	return a, nil
}

// Close stops watching the store and waits for the watcher to end.
func (a *Authenticator) Close() {
	a.cancel()
	<-a.done
}

// Keys returns the number of keys in the current table.
func (a *Authenticator) Keys() int { return a.tab.Load().keys }

func (a *Authenticator) watch(ctx context.Context) {
	defer close(a.done)
	t := time.NewTicker(a.poll)
	defer t.Stop()
	var last string
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			last = a.tick(ctx, last)
		}
	}
}

// tick reloads once. It logs a failure only when it differs from the last
// one (so a lasting Redis outage is reported once) and returns the failure.
func (a *Authenticator) tick(ctx context.Context, last string) string {
	err := a.reload(ctx)
	if ctx.Err() != nil {
		return last
	}
	if err != nil && err.Error() != last {
		a.log.Error("auth keys not reloaded; keeping the previous keys", zap.Error(err))
	}
	if err != nil {
		return err.Error()
	}
	return ""
}

// reload fetches the document if it changed and swaps in a new table. A
// document that failed to load is not read again until it changes.
func (a *Authenticator) reload(ctx context.Context) error {
	doc, rev, changed, err := a.src.fetch(ctx, func(rev string) bool { return rev == a.rev || rev == a.bad })
	if err != nil || !changed {
		return err
	}
	if doc == nil {
		a.tab.Store(index(&table{}))
		a.rev = rev
		a.log.Warn("auth keys store is empty: every request that needs a key is refused", zap.String("store", a.src.String()))
		return nil
	}
	if len(bytes.TrimSpace(doc)) == 0 && a.rev != "" {
		// Most likely an editor caught between truncating and writing.
		a.bad = rev
		return fmt.Errorf("%s is empty; write {\"keys\": []} to remove every key", a.src)
	}
	t, err := load(doc, a.src.String())
	if err != nil {
		a.bad = rev
		return err
	}
	a.tab.Store(index(t))
	a.rev, a.bad = rev, ""
	a.log.Info("auth keys loaded", zap.String("store", a.src.String()), zap.Int("keys", t.keys))
	return nil
}

// load parses a keys document into a table.
func load(doc []byte, src string) (*table, error) {
	recs, err := parseDoc(doc, src)
	if err != nil {
		return nil, err
	}
	t, err := newTable(recs)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", src, err)
	}
	return t, nil
}

// IsPublic reports whether a request path needs no key.
func (a *Authenticator) IsPublic(path string) bool {
	if _, ok := a.exact[path]; ok {
		return true
	}
	for _, p := range a.prefixs {
		if strings.HasPrefix(path, p) && !strings.Contains(path, "..") && !strings.Contains(path, "//") {
			return true
		}
	}
	return false
}

// Extract returns the key a request carries: from "Authorization: Bearer
// <key>" (OpenAI and Ollama clients) or else "x-api-key" (Anthropic
// clients). The query string is never consulted.
func Extract(r *http.Request) (string, error) {
	if h := r.Header.Get("Authorization"); h != "" {
		scheme, tok, ok := strings.Cut(h, " ")
		if ok && strings.EqualFold(scheme, "Bearer") {
			if tok = strings.TrimSpace(tok); tok != "" {
				return tok, nil
			}
		}
	}
	if k := strings.TrimSpace(r.Header.Get("X-Api-Key")); k != "" {
		return k, nil
	}
	return "", ErrNoKey
}

// StripCredentials removes the client's credentials from headers bound
// upstream: the client's key is never forwarded to a provider.
func StripCredentials(h http.Header) {
	h.Del("Authorization")
	h.Del("X-Api-Key")
	h.Del("Api-Key")
}

// Authenticate returns the key the request carries. Errors wrap ErrNoKey,
// ErrUnknownKey, ErrDisabled, ErrExpired or ErrRotated (all 401).
func (a *Authenticator) Authenticate(r *http.Request) (*Key, error) {
	secret, err := Extract(r)
	if err != nil {
		return nil, err
	}
	return a.Check(secret)
}

// Check looks a plaintext key up: one SHA-256, one map access and a
// constant-time comparison of the full hash.
func (a *Authenticator) Check(secret string) (*Key, error) {
	if secret == "" {
		return nil, ErrNoKey
	}
	if len(secret) > maxSecretLen {
		return nil, ErrUnknownKey
	}
	var buf [maxSecretLen]byte // keeps the hashed copy on the stack
	sum := sha256.Sum256(buf[:copy(buf[:], secret)])
	var e *entry
	for _, h := range a.tab.Load().m[binary.LittleEndian.Uint64(sum[:8])] {
		if subtle.ConstantTimeCompare(h.sum[:], sum[:]) == 1 {
			e = h.e
		}
	}
	if e == nil {
		return nil, ErrUnknownKey
	}
	k := e.key
	now := a.now()
	switch {
	case e.disabled:
		return nil, deny(ErrDisabled, "API key %q is disabled", k.Name)
	case !k.Expires.IsZero() && !now.Before(k.Expires):
		return nil, deny(ErrExpired, "API key %q expired at %s", k.Name, k.Expires.UTC().Format(time.RFC3339))
	case e.rotated && !now.Before(e.validUntil):
		return nil, deny(ErrRotated, "API key %q was rotated and its grace period ended at %s; use the new key",
			k.Name, e.validUntil.UTC().Format(time.RFC3339))
	}
	return k, nil
}
