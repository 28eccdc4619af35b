package manager

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/llmrouter/llm-router/caddymodule/web/manager/doc"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store"
)

// sharedConfig is what configures a shared database; its key names the
// pool entry.
type sharedConfig struct {
	Database, KeyFile string
}

func (c sharedConfig) key() string {
	s := sha256.Sum256([]byte(c.Database + "\x00" + c.KeyFile))
	return "manager|" + hex.EncodeToString(s[:])
}

// shared is what outlives a config reload: the database and the sealing
// key.
type shared struct {
	st  *store.Store
	key *doc.Key
}

func openShared(c sharedConfig) (*shared, error) {
	url := c.Database
	if url == "" {
		url = store.DefaultURL()
	}
	keyFile := c.KeyFile
	if keyFile == "" {
		keyFile = defaultKeyFile(url)
	}
	st, err := store.Open(context.Background(), url)
	if err != nil {
		return nil, fmt.Errorf("opening the database: %w", err)
	}
	key, err := doc.LoadKey(keyFile)
	if err != nil {
		_ = st.Close()
		return nil, fmt.Errorf("token key: %w", err)
	}
	return &shared{st: st, key: key}, nil
}

// Destruct closes the database once no config uses it.
func (s *shared) Destruct() error {
	return s.st.Close()
}

// defaultKeyFile is manager.key next to a SQLite database, or next to the
// default database for PostgreSQL.
func defaultKeyFile(url string) string {
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		url = store.DefaultURL()
	}
	url = strings.TrimPrefix(url, "file:")
	if i := strings.IndexByte(url, '?'); i >= 0 {
		url = url[:i]
	}
	return filepath.Join(filepath.Dir(url), "manager.key")
}
