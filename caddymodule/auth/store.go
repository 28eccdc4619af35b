package auth

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/redis/go-redis/v9"
)

// missing is the revision of a store that holds no document.
const missing = "missing"

// source is where the Authenticator reads the keys document from.
type source interface {
	// fetch returns the current document and its revision. When skip
	// reports true for the revision, the document is not read and changed
	// is false. A missing document is returned as nil with revision
	// "missing".
	fetch(ctx context.Context, skip func(rev string) bool) (doc []byte, rev string, changed bool, err error)
	String() string
}

// fileSource reads a keys file; its revision is the file's inode, mtime and
// size (a rename-based writer, like the keys CLI, always changes the inode).
type fileSource struct{ path string }

func (s *fileSource) String() string { return s.path }

func (s *fileSource) fetch(_ context.Context, skip func(string) bool) ([]byte, string, bool, error) {
	fi, err := os.Stat(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missing, !skip(missing), nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("auth: %w", err)
	}
	rev := fmt.Sprintf("%d-%d-%d", inode(fi), fi.ModTime().UnixNano(), fi.Size())
	if skip(rev) {
		return nil, rev, false, nil
	}
	b, err := os.ReadFile(s.path)
	if err != nil {
		return nil, "", false, fmt.Errorf("auth: %w", err)
	}
	return b, rev, true, nil
}

// redisSource reads the keys document from the fields "doc" and "rev" of a
// Redis hash; rev is the hex SHA-256 of doc, so polling costs one HGET.
type redisSource struct {
	c   redis.UniversalClient
	key string
}

func (s *redisSource) String() string { return "redis key " + s.key }

func (s *redisSource) fetch(ctx context.Context, skip func(string) bool) ([]byte, string, bool, error) {
	rev, err := s.c.HGet(ctx, s.key, "rev").Result()
	if errors.Is(err, redis.Nil) {
		return nil, missing, !skip(missing), nil
	}
	if err != nil {
		return nil, "", false, fmt.Errorf("auth: reading %s: %w", s, err)
	}
	if skip(rev) {
		return nil, rev, false, nil
	}
	vals, err := s.c.HMGet(ctx, s.key, "doc", "rev").Result()
	if err != nil {
		return nil, "", false, fmt.Errorf("auth: reading %s: %w", s, err)
	}
	doc, _ := vals[0].(string)
	rev, _ = vals[1].(string)
	if rev == "" {
		return nil, missing, !skip(missing), nil
	}
	return []byte(doc), rev, true, nil
}

// docStore is where the keys CLI reads and writes the keys document.
type docStore interface {
	// load returns the document (nil when there is none) and its revision.
	load(ctx context.Context) (doc []byte, rev string, err error)
	// save replaces the document if it is still at revision rev.
	save(ctx context.Context, doc []byte, rev string) error
	String() string
}

// errConflict is returned when the keys document changed between reading
// and writing it; run the command again.
var errConflict = errors.New("keys document changed while being edited; run the command again")

func docRev(doc []byte) string {
	if doc == nil {
		return missing
	}
	sum := sha256.Sum256(doc)
	return hex.EncodeToString(sum[:])
}

// fileStore edits a keys file, replacing it atomically (temp file + rename).
type fileStore struct {
	path string
	// reader, when set, is the account that must be able to read the file
	// (the packaged service's user): a write that would leave the file
	// unreadable to it is refused, saying how to fix it.
	reader *account
	// note, when set, receives one line on the owner and mode written.
	note io.Writer
}

func (s *fileStore) String() string { return s.path }

func (s *fileStore) load(context.Context) ([]byte, string, error) {
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, missing, nil
	}
	if err != nil {
		return nil, "", fmt.Errorf("reading keys file: %w", err)
	}
	return b, docRev(b), nil
}

// save writes doc to a temp file in the same directory, syncs it and renames
// it over the keys file. An existing file keeps its mode, and its owner when
// we may set it; a new file gets mode 0640 and the directory's group (so in
// /etc/llm-router, root:llm-router, readable by the service).
func (s *fileStore) save(ctx context.Context, doc []byte, rev string) error {
	_, cur, err := s.load(ctx)
	if err != nil {
		return err
	}
	if cur != rev {
		return errConflict
	}
	dir := filepath.Dir(s.path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating keys directory: %w", err)
	}
	f, err := os.CreateTemp(dir, ".keys-*.tmp")
	if err != nil {
		return fmt.Errorf("writing keys file: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp) // no-op after a successful rename
	mode, what := fs.FileMode(0o640), "created with owner %s and mode %04o (the group of its directory)"
	if fi, err := os.Stat(s.path); err == nil {
		mode, what = fi.Mode().Perm(), "kept owner %s and mode %04o"
		keepOwner(f, fi)
	} else if di, err := os.Stat(dir); err == nil {
		keepGroup(f, di)
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return fmt.Errorf("writing keys file: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("writing keys file: %w", err)
	}
	if s.reader != nil {
		if err := s.reader.canRead(s.path, fi); err != nil {
			f.Close()
			return err
		}
	}
	if _, err := f.Write(doc); err != nil {
		f.Close()
		return fmt.Errorf("writing keys file: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing keys file: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing keys file: %w", err)
	}
	if err := os.Rename(tmp, s.path); err != nil {
		return fmt.Errorf("replacing keys file: %w", err)
	}
	if d, err := os.Open(dir); err == nil {
		_ = d.Sync() // make the rename durable; best effort
		d.Close()
	}
	if s.note != nil {
		fmt.Fprintf(s.note, "%s: "+what+"%s.\n", s.path, ownerText(fi), mode, s.reader.readable())
	}
	return nil
}

// redisStore edits the keys document in a Redis hash with an optimistic
// transaction (WATCH/MULTI), so concurrent edits never lose each other.
type redisStore struct {
	c   redis.UniversalClient
	key string
}

func (s *redisStore) String() string { return "redis key " + s.key }

func (s *redisStore) load(ctx context.Context) ([]byte, string, error) {
	vals, err := s.c.HMGet(ctx, s.key, "doc", "rev").Result()
	if err != nil {
		return nil, "", fmt.Errorf("reading %s: %w", s, err)
	}
	doc, ok := vals[0].(string)
	if !ok {
		return nil, missing, nil
	}
	return []byte(doc), docRev([]byte(doc)), nil
}

func (s *redisStore) save(ctx context.Context, doc []byte, rev string) error {
	err := s.c.Watch(ctx, func(tx *redis.Tx) error {
		cur, err := tx.HGet(ctx, s.key, "rev").Result()
		if errors.Is(err, redis.Nil) {
			cur = missing
		} else if err != nil {
			return err
		}
		if cur != rev {
			return errConflict
		}
		_, err = tx.TxPipelined(ctx, func(p redis.Pipeliner) error {
			p.HSet(ctx, s.key, "doc", string(doc), "rev", docRev(doc))
			return nil
		})
		return err
	}, s.key)
	if errors.Is(err, redis.TxFailedErr) {
		return errConflict
	}
	if err != nil && !errors.Is(err, errConflict) {
		return fmt.Errorf("writing %s: %w", s, err)
	}
	return err
}
