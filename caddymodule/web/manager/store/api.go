// Package store is the Config Manager's database: users and their sessions,
// projects, configs with their whole version history, and the activation log
// that every router instance of a fleet follows.
//
// One implementation serves two engines: an embedded SQLite file
// (modernc.org/sqlite, pure Go, so the binary stays CGO-free) by default and
// PostgreSQL (github.com/jackc/pgx/v5 through database/sql) for fleets. The
// schema is versioned with goose migrations embedded per dialect and run by
// Open.
//
// Access rules live here, not in the handlers: a user sees and changes only
// the projects and configs they own; an admin sees all of them. Whatever a
// user may not see is reported as ErrNotFound, so guessing ids reveals
// nothing. Config documents are opaque bytes to the store (the doc package has
// already sealed their tokens).
package store

import (
	"errors"
	"fmt"
	"time"
)

// Bounds on what the store accepts. Longer input is refused with ErrInvalid.
const (
	MaxNameLen     = 200     // user, project and config names, in characters
	MaxNoteLen     = 2000    // version notes, in characters
	MaxDocSize     = 8 << 20 // a config document, in bytes
	MinPasswordLen = 10      // shorter passwords are ErrWeakPassword
	MaxPasswordLen = 1024    // longer passwords are ErrWeakPassword (argon2 input bound)
)

// Login throttling: more than MaxLoginFailures failed logins within
// LoginWindow, for one account or from one address, refuse further attempts
// (even with the right password) until the oldest failure leaves the window.
const (
	MaxLoginFailures = 5
	LoginWindow      = 15 * time.Minute
)

// Errors. Match them with errors.Is; the returned errors wrap them with detail.
var (
	ErrNotFound       = errors.New("not found")
	ErrConflict       = errors.New("changed since you opened it")
	ErrExists         = errors.New("already exists")
	ErrBadCredentials = errors.New("wrong user name or password")
	ErrBlocked        = errors.New("account blocked")
	ErrThrottled      = errors.New("too many failed logins; try again later")
	ErrSetupDone      = errors.New("setup already done")
	ErrWeakPassword   = errors.New("password too short or too long")
	ErrInvalid        = errors.New("invalid input")
	ErrLastAdmin      = errors.New("the last active admin cannot be demoted or blocked")
)

// ThrottledError is returned by Login when attempts are throttled. It matches
// ErrThrottled with errors.Is and tells when the next attempt may succeed.
type ThrottledError struct {
	RetryAfter time.Duration
}

// Error implements error.
func (e *ThrottledError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", ErrThrottled, e.RetryAfter.Round(time.Second))
}

// Is makes errors.Is(err, ErrThrottled) true.
func (e *ThrottledError) Is(target error) bool { return target == ErrThrottled }

// Role is a user's role.
type Role string

// The roles.
const (
	RoleAdmin Role = "admin"
	RoleUser  Role = "user"
)

// User is an account. The password hash never leaves the store.
type User struct {
	ID      int64
	Name    string
	Role    Role
	Blocked bool
	Created time.Time
}

// IsAdmin reports whether u has the admin role.
func (u User) IsAdmin() bool { return u.Role == RoleAdmin }

// Project groups configs; each user has a default project, created on demand
// by DefaultProject.
type Project struct {
	ID, OwnerID int64
	Name        string
	Default     bool
	Created     time.Time
}

// Config is the current state of one models-config document. Revision is the
// number of its newest version; SaveConfig takes it back as the base revision
// to detect concurrent edits.
type Config struct {
	ID, ProjectID, OwnerID int64
	Name                   string
	Doc                    []byte
	Revision               int64
	Updated                time.Time
	UpdatedBy              string
}

// Version is one saved state of a config: who, when, why and the whole
// document.
type Version struct {
	ConfigID, Number int64
	Name             string // the config's name in this version
	Author, Note     string
	Created          time.Time
	Doc              []byte // empty in Versions' list
}

// Activation records that a config revision became the one the routers serve.
// Seq grows with each activation; Doc is that revision's document.
type Activation struct {
	Seq, ConfigID, Revision int64
	Doc                     []byte
	By                      string
	At                      time.Time
}
