package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

//go:embed migrations
var migrations embed.FS

// notifyChannel is the PostgreSQL channel Activate notifies.
const notifyChannel = "llm_router_manager_active"

// Store is an open Config Manager database. It is safe for concurrent use.
type Store struct {
	db  *sql.DB
	pg  bool
	url string // the PostgreSQL URL, for WaitActive's LISTEN connection

	now      func() time.Time
	hash     hashParams
	dummy    string        // a hash checked for unknown users, so they take as long as known ones
	hashSem  chan struct{} // bounds concurrent argon2 runs (each takes hash.memory KiB)
	poll     time.Duration // WaitActive's polling interval on SQLite
	safety   time.Duration // WaitActive's safety-net poll on PostgreSQL
	pgNotify bool          // false only in tests that prove the safety net
	waiting  func()        // test hook: WaitActive found nothing new and now blocks
}

// Open opens (creating it if needed) the database at url and brings its schema
// up to date. url is a postgres:// or postgresql:// URL for PostgreSQL;
// anything else is a SQLite file: a path, a file: URI, or SQLAlchemy's
// sqlite:///relative/path and sqlite:////absolute/path (the original's
// DATABASE_URL). A new SQLite file is created with mode 0600 in a directory
// created with mode 0700.
func Open(ctx context.Context, url string) (*Store, error) {
	s := &Store{
		url:      url,
		now:      time.Now,
		hash:     defaultHash,
		hashSem:  make(chan struct{}, max(1, runtime.GOMAXPROCS(0))),
		poll:     500 * time.Millisecond,
		safety:   10 * time.Second,
		pgNotify: true,
	}
	var (
		err     error
		dialect goose.Dialect
		opts    []goose.ProviderOption
	)
	if IsPostgres(url) {
		s.pg = true
		dialect = goose.DialectPostgres
		cfg, err := pgx.ParseConfig(url)
		if err != nil {
			return nil, fmt.Errorf("store: %w", err) // pgx redacts the password
		}
		// Ping every pooled connection before reuse (pgx pings only those
		// idle for over a second): one that the server ended, as a restart
		// does (57P01), then fails the ping, which database/sql answers by
		// retrying on another connection, instead of failing the statement.
		s.db = stdlib.OpenDB(*cfg, stdlib.OptionShouldPing(func(context.Context, stdlib.ShouldPingParams) bool { return true }))
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			s.db.Close()
			return nil, fmt.Errorf("store: %w", err)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	} else {
		dialect = goose.DialectSQLite3
		dsn, err := sqliteDSN(url)
		if err != nil {
			return nil, err
		}
		if s.db, err = sql.Open("sqlite", dsn); err != nil {
			return nil, fmt.Errorf("store: %w", err)
		}
	}
	if err := s.db.PingContext(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: connect to %s: %w", Redact(url), err)
	}
	sub, err := fs.Sub(migrations, "migrations/"+map[bool]string{true: "postgres", false: "sqlite"}[s.pg])
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: %w", err)
	}
	p, err := goose.NewProvider(dialect, s.db, sub, append(opts, goose.WithDisableGlobalRegistry(true))...)
	if err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		s.db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", Redact(url), err)
	}
	if s.dummy, err = s.hash.hash("not a password of anyone"); err != nil {
		s.db.Close()
		return nil, err
	}
	return s, nil
}

// IsPostgres reports whether url names a PostgreSQL database rather than a
// SQLite file.
func IsPostgres(url string) bool {
	return strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://")
}

// Redact returns url with any password (in the user info or the password
// query parameter) replaced by "xxxxx", for messages and logs.
func Redact(rawURL string) string {
	if !IsPostgres(rawURL) {
		return rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		return "postgres://(an unparsable URL)"
	}
	if q := u.Query(); q.Has("password") {
		q.Set("password", "xxxxx")
		u.RawQuery = q.Encode()
	}
	return u.Redacted()
}

// sqliteDSN turns a path or file: URI into a modernc.org/sqlite DSN with the
// settings the store relies on, creating the file (0600) and its directory
// (0700) first.
func sqliteDSN(name string) (string, error) {
	params := "_pragma=busy_timeout(10000)&_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	// SQLAlchemy's form, the original's DATABASE_URL: sqlite:///relative.db,
	// sqlite:////absolute.db.
	name = strings.TrimPrefix(name, "sqlite:///")
	if name == ":memory:" || strings.Contains(name, "mode=memory") || strings.HasPrefix(name, "file::memory:") {
		return "", fmt.Errorf("store: %w: an in-memory SQLite database is one per connection; use a file", ErrInvalid)
	}
	if strings.HasPrefix(name, "file:") {
		path, query, _ := strings.Cut(strings.TrimPrefix(name, "file:"), "?")
		if strings.HasPrefix(path, "///") || strings.HasPrefix(path, "//localhost/") {
			path = path[strings.Index(path[2:], "/")+2:]
		}
		path, err := url.PathUnescape(path)
		if err != nil || path == "" {
			return "", fmt.Errorf("store: %w: SQLite URI %q", ErrInvalid, name)
		}
		if err := createPrivate(path); err != nil {
			return "", err
		}
		if query != "" {
			return name + "&" + params, nil
		}
		return name + "?" + params, nil
	}
	if name == "" || strings.ContainsAny(name, "?#") {
		return "", fmt.Errorf("store: %w: SQLite path %q is empty or contains '?' or '#'", ErrInvalid, name)
	}
	if err := createPrivate(name); err != nil {
		return "", err
	}
	return name + "?" + params, nil
}

// createPrivate creates the database file (mode 0600) and its directory (mode
// 0700) unless they exist: it holds password hashes and config documents.
func createPrivate(path string) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	return f.Close()
}

// DefaultURL returns the default database: manager.db in $STATE_DIRECTORY
// (set by systemd's StateDirectory=), else in $XDG_DATA_HOME/llm-router, else
// in ~/.local/share/llm-router.
func DefaultURL() string {
	if d, _, _ := strings.Cut(os.Getenv("STATE_DIRECTORY"), ":"); d != "" {
		return filepath.Join(d, "manager.db")
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "llm-router", "manager.db")
	}
	if h, err := os.UserHomeDir(); err == nil {
		return filepath.Join(h, ".local", "share", "llm-router", "manager.db")
	}
	return "manager.db"
}

// Close closes the database.
func (s *Store) Close() error { return s.db.Close() }

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return s.pg }

// q rewrites a query written with ? placeholders for the store's engine.
func (s *Store) q(query string) string {
	if !s.pg {
		return query
	}
	var b strings.Builder
	n := 0
	for _, r := range query {
		if r == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// forUpdate is the row-locking suffix of a SELECT inside a transaction: SQLite
// transactions are already exclusive (BEGIN IMMEDIATE).
func (s *Store) forUpdate() string {
	if s.pg {
		return " FOR UPDATE"
	}
	return ""
}

// tx runs fn in a transaction, committing when it returns nil.
func (s *Store) tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("store: commit: %w", err)
	}
	return nil
}

// millis is the stored form of a time.
func millis(t time.Time) int64 { return t.UnixMilli() }

// fromMillis is the inverse of millis.
func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// isUnique reports whether err is a unique-constraint violation.
func isUnique(err error) bool {
	var se *sqlite.Error
	if errors.As(err, &se) {
		return se.Code() == sqlite3.SQLITE_CONSTRAINT_UNIQUE || se.Code() == sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return false
}

// dbErr wraps a database error with what was being done; sql.ErrNoRows
// becomes ErrNotFound.
func dbErr(what string, err error) error {
	if errors.Is(err, sql.ErrNoRows) {
		return fmt.Errorf("store: %s: %w", what, ErrNotFound)
	}
	return fmt.Errorf("store: %s: %w", what, err)
}
