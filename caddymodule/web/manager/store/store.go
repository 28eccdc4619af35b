package store

import (
	"context"
	"errors"
	"time"
)

var errTODO = errors.New("store: not implemented yet")

// Store is an open Config Manager database. It is safe for concurrent use.
type Store struct{}

// Open opens (creating it if needed) the database at url and brings its schema
// up to date. url is a postgres:// or postgresql:// URL for PostgreSQL;
// anything else is a SQLite file path (a file: URI is accepted too). The
// SQLite file's directory is created with mode 0700.
func Open(ctx context.Context, url string) (*Store, error) { return nil, errTODO }

// DefaultURL returns the default database: manager.db in $STATE_DIRECTORY
// (set by systemd's StateDirectory=), else in $XDG_DATA_HOME/llm-router, else
// in ~/.local/share/llm-router.
func DefaultURL() string { return "" }

// Close closes the database.
func (s *Store) Close() error { return nil }

// Postgres reports whether the store runs on PostgreSQL.
func (s *Store) Postgres() bool { return false }

// NeedsSetup reports whether no admin has been set up yet.
func (s *Store) NeedsSetup(ctx context.Context) (bool, error) { return false, errTODO }

// Setup creates the first admin. It is atomic: only one caller ever succeeds;
// every later call returns ErrSetupDone.
func (s *Store) Setup(ctx context.Context, name, password string) (User, error) {
	return User{}, errTODO
}

// CreateUser adds an account. A name taken (case-insensitively) is ErrExists.
func (s *Store) CreateUser(ctx context.Context, name, password string, role Role) (User, error) {
	return User{}, errTODO
}

// Users lists every account by name.
func (s *Store) Users(ctx context.Context) ([]User, error) { return nil, errTODO }

// User returns one account.
func (s *Store) User(ctx context.Context, id int64) (User, error) { return User{}, errTODO }

// Login checks a name and password (argon2id). addr is the client's address
// (an IP, with or without port) for throttling. Errors: ErrBadCredentials for
// an unknown name or a wrong password (in about the same time), ErrBlocked for
// a blocked account with the right password, *ThrottledError (ErrThrottled)
// after too many failures for the account or from the address.
func (s *Store) Login(ctx context.Context, name, password, addr string) (User, error) {
	return User{}, errTODO
}

// ChangePassword sets a new password after checking the old one (a wrong one
// is ErrBadCredentials). It ends every session of the user: the caller issues
// a new one (session rotation).
func (s *Store) ChangePassword(ctx context.Context, id int64, old, new string) error { return errTODO }

// ResetPassword sets a new password without the old one (admin action) and
// ends every session of the user.
func (s *Store) ResetPassword(ctx context.Context, id int64, new string) error { return errTODO }

// SetBlocked blocks or unblocks a user; blocking ends the user's sessions.
// Blocking the last active admin is ErrLastAdmin.
func (s *Store) SetBlocked(ctx context.Context, id int64, blocked bool) error { return errTODO }

// SetRole changes a user's role. Demoting the last active admin is
// ErrLastAdmin.
func (s *Store) SetRole(ctx context.Context, id int64, r Role) error { return errTODO }

// NewSession starts a session for the user and returns its token: 256 random
// bits, base64url. Only the token's SHA-256 is stored.
func (s *Store) NewSession(ctx context.Context, userID int64, ttl time.Duration) (string, error) {
	return "", errTODO
}

// SessionUser returns the user of a live session. An unknown or expired token,
// or a blocked user, is ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, token string) (User, error) {
	return User{}, errTODO
}

// EndSession ends a session (logout). An unknown token is not an error.
func (s *Store) EndSession(ctx context.Context, token string) error { return errTODO }

// Projects lists the projects u may see (an admin: all), by name.
func (s *Store) Projects(ctx context.Context, u User) ([]Project, error) { return nil, errTODO }

// Project returns one project u may see.
func (s *Store) Project(ctx context.Context, u User, id int64) (Project, error) {
	return Project{}, errTODO
}

// CreateProject adds a project owned by u. A name u already uses is ErrExists.
func (s *Store) CreateProject(ctx context.Context, u User, name string) (Project, error) {
	return Project{}, errTODO
}

// RenameProject renames a project u may see.
func (s *Store) RenameProject(ctx context.Context, u User, id int64, name string) (Project, error) {
	return Project{}, errTODO
}

// DeleteProject deletes an empty, non-default project; otherwise ErrConflict.
func (s *Store) DeleteProject(ctx context.Context, u User, id int64) error { return errTODO }

// DefaultProject returns u's default project, creating it on first use.
func (s *Store) DefaultProject(ctx context.Context, u User) (Project, error) {
	return Project{}, errTODO
}

// Configs lists the configs of a project u may see, by name, with Doc empty.
func (s *Store) Configs(ctx context.Context, u User, projectID int64) ([]Config, error) {
	return nil, errTODO
}

// Config returns a config. A config u does not own is ErrNotFound unless u is
// an admin: its existence is never revealed.
func (s *Store) Config(ctx context.Context, u User, id int64) (Config, error) {
	return Config{}, errTODO
}

// CreateConfig adds a config to a project u may see, writing version 1 with
// the note. The config belongs to the project's owner.
func (s *Store) CreateConfig(ctx context.Context, u User, projectID int64, name string, doc []byte, note string) (Config, error) {
	return Config{}, errTODO
}

// SaveConfig writes a new version of a config if its revision is still
// baseRevision; otherwise it writes nothing and returns ErrConflict.
func (s *Store) SaveConfig(ctx context.Context, u User, id, baseRevision int64, name string, doc []byte, note string) (Config, error) {
	return Config{}, errTODO
}

// DeleteConfig deletes a config and its versions (its activations stay in the
// log).
func (s *Store) DeleteConfig(ctx context.Context, u User, id int64) error { return errTODO }

// Versions lists a config's versions, newest first, with Doc empty.
func (s *Store) Versions(ctx context.Context, u User, id int64) ([]Version, error) {
	return nil, errTODO
}

// Version returns version n of a config, with its document.
func (s *Store) Version(ctx context.Context, u User, id, n int64) (Version, error) {
	return Version{}, errTODO
}

// Restore writes a new version of a config holding version n's document (and
// name); history is never rewritten.
func (s *Store) Restore(ctx context.Context, u User, id, n int64, note string) (Config, error) {
	return Config{}, errTODO
}

// Activate records that revision of config id is what the routers serve. It
// checks only that u may see the config and that the revision exists: whether
// u may activate and whether the document is valid is the caller's decision.
// On PostgreSQL it also sends NOTIFY llm_router_manager_active.
func (s *Store) Activate(ctx context.Context, u User, id, revision int64) (Activation, error) {
	return Activation{}, errTODO
}

// Active returns the newest activation; false when there is none.
func (s *Store) Active(ctx context.Context) (Activation, bool, error) {
	return Activation{}, false, errTODO
}

// WaitActive blocks until there is an activation with Seq > afterSeq and
// returns the newest one, or until ctx ends. It uses LISTEN/NOTIFY on
// PostgreSQL (with a slow poll as a safety net) and polling on SQLite.
func (s *Store) WaitActive(ctx context.Context, afterSeq int64) (Activation, error) {
	return Activation{}, errTODO
}
