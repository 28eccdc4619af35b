package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// checkText enforces a text field's bounds: valid UTF-8, no control
// characters (but newlines and tabs where multiline), at most limit
// characters.
func checkText(field, v string, limit int, multiline bool) error {
	if !utf8.ValidString(v) {
		return fmt.Errorf("store: %w: %s is not valid UTF-8", ErrInvalid, field)
	}
	if n := utf8.RuneCountInString(v); n > limit {
		return fmt.Errorf("store: %w: %s is %d characters long, at most %d", ErrInvalid, field, n, limit)
	}
	for _, r := range v {
		if unicode.IsControl(r) && !(multiline && (r == '\n' || r == '\r' || r == '\t')) {
			return fmt.Errorf("store: %w: %s contains a control character", ErrInvalid, field)
		}
	}
	return nil
}

// cleanName trims a name and checks it.
func cleanName(field, v string) (string, error) {
	v = strings.TrimSpace(v)
	if v == "" {
		return "", fmt.Errorf("store: %w: %s is empty", ErrInvalid, field)
	}
	return v, checkText(field, v, MaxNameLen, false)
}

// nameKey is the case-folded form of a user name that must be unique.
func nameKey(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

const userCols = "id, name, role, blocked, created"

type scanner interface{ Scan(...any) error }

func scanUser(r scanner) (User, error) {
	var (
		u       User
		blocked int64
		created int64
	)
	if err := r.Scan(&u.ID, &u.Name, &u.Role, &blocked, &created); err != nil {
		return User{}, err
	}
	u.Blocked = blocked != 0
	u.Created = fromMillis(created)
	return u, nil
}

// NeedsSetup reports whether no admin has been set up yet.
func (s *Store) NeedsSetup(ctx context.Context) (bool, error) {
	var n int64
	if err := s.db.QueryRowContext(ctx, "SELECT count(*) FROM setup").Scan(&n); err != nil {
		return false, dbErr("setup", err)
	}
	return n == 0, nil
}

// Setup creates the first admin. It is atomic: only one caller ever succeeds;
// every later call returns ErrSetupDone.
func (s *Store) Setup(ctx context.Context, name, password string) (User, error) {
	if need, err := s.NeedsSetup(ctx); err != nil {
		return User{}, err
	} else if !need {
		return User{}, fmt.Errorf("store: %w", ErrSetupDone)
	}
	name, err := cleanName("user name", name)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.tx(ctx, func(tx *sql.Tx) error {
		// The setup row's primary key makes a second setup fail even when two
		// run at once.
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO setup (id, done_at) VALUES (1, ?)"), millis(s.now())); err != nil {
			if isUnique(err) {
				return fmt.Errorf("store: %w", ErrSetupDone)
			}
			return dbErr("setup", err)
		}
		u, err = s.insertUser(ctx, tx, name, hash, RoleAdmin)
		return err
	})
	return u, err
}

func (s *Store) insertUser(ctx context.Context, tx *sql.Tx, name, hash string, role Role) (User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, s.q(
		"INSERT INTO users (name, name_key, role, blocked, password_hash, created) VALUES (?, ?, ?, 0, ?, ?) RETURNING "+userCols),
		name, nameKey(name), string(role), hash, millis(s.now())))
	if isUnique(err) {
		return User{}, fmt.Errorf("store: user %q: %w", name, ErrExists)
	}
	if err != nil {
		return User{}, dbErr("create user", err)
	}
	return u, nil
}

func checkRole(r Role) error {
	if r != RoleAdmin && r != RoleUser {
		return fmt.Errorf("store: %w: role %q (want admin or user)", ErrInvalid, r)
	}
	return nil
}

// CreateUser adds an account. A name taken (case-insensitively) is ErrExists.
func (s *Store) CreateUser(ctx context.Context, name, password string, role Role) (User, error) {
	if err := checkRole(role); err != nil {
		return User{}, err
	}
	name, err := cleanName("user name", name)
	if err != nil {
		return User{}, err
	}
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return User{}, err
	}
	var u User
	err = s.tx(ctx, func(tx *sql.Tx) error {
		u, err = s.insertUser(ctx, tx, name, hash, role)
		return err
	})
	return u, err
}

// Users lists every account by name.
func (s *Store) Users(ctx context.Context) ([]User, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT "+userCols+" FROM users ORDER BY name_key, id")
	if err != nil {
		return nil, dbErr("users", err)
	}
	defer rows.Close()
	var out []User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, dbErr("users", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("users", err)
	}
	return out, nil
}

// User returns one account.
func (s *Store) User(ctx context.Context, id int64) (User, error) {
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q("SELECT "+userCols+" FROM users WHERE id = ?"), id))
	if err != nil {
		return User{}, dbErr(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// Login checks a name and password (argon2id). addr is the client's address
// (an IP, with or without port) for throttling. Errors: ErrBadCredentials for
// an unknown name or a wrong password (in about the same time), ErrBlocked for
// a blocked account with the right password, *ThrottledError (ErrThrottled)
// after too many failures for the account or from the address; a throttled
// attempt is refused before the password is looked at.
func (s *Store) Login(ctx context.Context, name, password, addr string) (User, error) {
	key, from := nameKey(name), addrKey(addr)
	if len(key) > 4*MaxNameLen {
		key = key[:4*MaxNameLen]
	}
	now := s.now()
	attempt := [][2]string{{"user", key}, {"addr", from}}
	if err := s.claim(ctx, now, attempt...); err != nil {
		return User{}, err
	}
	var (
		u    User
		hash string
	)
	row := s.db.QueryRowContext(ctx, s.q("SELECT "+userCols+", password_hash FROM users WHERE name_key = ?"), key)
	var blocked, created int64
	err := row.Scan(&u.ID, &u.Name, &u.Role, &blocked, &created, &hash)
	known := err == nil
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return User{}, dbErr("login", err)
	}
	if !known {
		hash = s.dummy
	}
	ok := false
	if len(password) <= MaxPasswordLen {
		if ok, err = s.verifyPassword(ctx, hash, password); err != nil {
			return User{}, err
		}
	}
	if !known || !ok {
		return User{}, fmt.Errorf("store: %w", ErrBadCredentials) // the claimed attempt stays a failure
	}
	if err := s.unclaim(ctx, now, attempt...); err != nil {
		return User{}, err
	}
	u.Blocked, u.Created = blocked != 0, fromMillis(created)
	if u.Blocked {
		return User{}, fmt.Errorf("store: %w", ErrBlocked)
	}
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM login_failures WHERE kind = 'user' AND key = ?"), key); err != nil {
		return User{}, dbErr("login", err)
	}
	return u, nil
}

// claim checks that no (kind, key) of a login attempt is throttled and
// records the attempt as a failure of each, in one transaction: parallel
// guesses cannot all pass the check before any is recorded. A throttled
// attempt is *ThrottledError and records nothing. The caller unclaims the
// attempt when the password is right. Failures that left the window are
// forgotten on the way.
func (s *Store) claim(ctx context.Context, now time.Time, keys ...[2]string) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if s.pg {
			// Serialize claims (SQLite's BEGIN IMMEDIATE already does);
			// plain reads of the table are not blocked.
			if _, err := tx.ExecContext(ctx, "LOCK TABLE login_failures IN SHARE ROW EXCLUSIVE MODE"); err != nil {
				return dbErr("login throttle", err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM login_failures WHERE at <= ?"), millis(now.Add(-LoginWindow))); err != nil {
			return dbErr("login throttle", err)
		}
		for _, k := range keys {
			if wait, err := s.throttled(ctx, tx, k[0], k[1], now); err != nil {
				return err
			} else if wait > 0 {
				return &ThrottledError{RetryAfter: wait}
			}
		}
		for _, k := range keys {
			if _, err := tx.ExecContext(ctx, s.q("INSERT INTO login_failures (kind, key, at) VALUES (?, ?, ?)"),
				k[0], k[1], millis(now)); err != nil {
				return dbErr("login throttle", err)
			}
		}
		return nil
	})
}

// unclaim removes the failures claim recorded for an attempt that turned out
// right (one row per key: identical rows are interchangeable).
func (s *Store) unclaim(ctx context.Context, at time.Time, keys ...[2]string) error {
	row := map[bool]string{true: "ctid", false: "rowid"}[s.pg]
	for _, k := range keys {
		if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM login_failures WHERE "+row+" = (SELECT "+row+
			" FROM login_failures WHERE kind = ? AND key = ? AND at = ? LIMIT 1)"), k[0], k[1], millis(at)); err != nil {
			return dbErr("login", err)
		}
	}
	return nil
}

// throttled returns how long attempts for (kind, key) must wait: zero unless
// MaxLoginFailures failures lie within LoginWindow.
func (s *Store) throttled(ctx context.Context, tx *sql.Tx, kind, key string, now time.Time) (time.Duration, error) {
	var at int64
	err := tx.QueryRowContext(ctx, s.q(
		"SELECT at FROM login_failures WHERE kind = ? AND key = ? AND at > ? ORDER BY at DESC LIMIT 1 OFFSET ?"),
		kind, key, millis(now.Add(-LoginWindow)), MaxLoginFailures-1).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil
	}
	if err != nil {
		return 0, dbErr("login throttle", err)
	}
	return max(time.Second, fromMillis(at).Add(LoginWindow).Sub(now)), nil
}

// addrKey is the throttling key of a client address: the IP without port,
// an IPv6 address reduced to its /64 (one host usually owns the whole
// prefix).
func addrKey(addr string) string {
	host := addr
	if h, _, err := net.SplitHostPort(addr); err == nil {
		host = h
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		if len(host) > 100 {
			host = host[:100]
		}
		return host
	}
	ip = ip.Unmap().WithZone("")
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// ChangePassword sets a new password after checking the old one (a wrong one
// is ErrBadCredentials and counts as a failed login of the account, so a
// stolen session cannot guess the password faster than the login page;
// *ThrottledError once too many). It ends every session of the user: the
// caller issues a new one (session rotation).
func (s *Store) ChangePassword(ctx context.Context, id int64, old, new string) error {
	var hash, key string
	if err := s.db.QueryRowContext(ctx, s.q("SELECT password_hash, name_key FROM users WHERE id = ?"), id).Scan(&hash, &key); err != nil {
		return dbErr(fmt.Sprintf("user %d", id), err)
	}
	now := s.now()
	attempt := [2]string{"user", key}
	if err := s.claim(ctx, now, attempt); err != nil {
		return err
	}
	ok := false
	if len(old) <= MaxPasswordLen {
		var err error
		if ok, err = s.verifyPassword(ctx, hash, old); err != nil {
			return err
		}
	}
	if !ok {
		return fmt.Errorf("store: %w", ErrBadCredentials) // the claimed attempt stays a failure
	}
	if err := s.unclaim(ctx, now, attempt); err != nil {
		return err
	}
	return s.setPassword(ctx, id, hash, new)
}

// ResetPassword sets a new password without the old one (admin action) and
// ends every session of the user.
func (s *Store) ResetPassword(ctx context.Context, id int64, new string) error {
	return s.setPassword(ctx, id, "", new)
}

// setPassword replaces the password hash (only if it is still was, when was is
// set) and ends the user's sessions.
func (s *Store) setPassword(ctx context.Context, id int64, was, password string) error {
	hash, err := s.hashPassword(ctx, password)
	if err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		q, args := "UPDATE users SET password_hash = ? WHERE id = ?", []any{hash, id}
		if was != "" {
			q, args = q+" AND password_hash = ?", append(args, was)
		}
		res, err := tx.ExecContext(ctx, s.q(q), args...)
		if err != nil {
			return dbErr("set password", err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			if was != "" {
				return fmt.Errorf("store: password: %w", ErrConflict)
			}
			return fmt.Errorf("store: user %d: %w", id, ErrNotFound)
		}
		return s.endSessions(ctx, tx, id)
	})
}

func (s *Store) endSessions(ctx context.Context, tx *sql.Tx, userID int64) error {
	if _, err := tx.ExecContext(ctx, s.q("DELETE FROM sessions WHERE user_id = ?"), userID); err != nil {
		return dbErr("end sessions", err)
	}
	return nil
}

// SetBlocked blocks or unblocks a user; blocking ends the user's sessions.
// Blocking the last active admin is ErrLastAdmin.
func (s *Store) SetBlocked(ctx context.Context, id int64, blocked bool) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if blocked && u.IsAdmin() && !u.Blocked {
			if err := s.otherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		b := 0
		if blocked {
			b = 1
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE users SET blocked = ? WHERE id = ?"), b, id); err != nil {
			return dbErr("block user", err)
		}
		if blocked {
			return s.endSessions(ctx, tx, id)
		}
		return nil
	})
}

// SetRole changes a user's role. Demoting the last active admin is
// ErrLastAdmin.
func (s *Store) SetRole(ctx context.Context, id int64, r Role) error {
	if err := checkRole(r); err != nil {
		return err
	}
	return s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.lockUser(ctx, tx, id)
		if err != nil {
			return err
		}
		if r != RoleAdmin && u.IsAdmin() && !u.Blocked {
			if err := s.otherAdmin(ctx, tx, id); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, s.q("UPDATE users SET role = ? WHERE id = ?"), string(r), id); err != nil {
			return dbErr("set role", err)
		}
		return nil
	})
}

// lockUser reads a user inside tx, locking the row on PostgreSQL.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, id int64) (User, error) {
	u, err := scanUser(tx.QueryRowContext(ctx, s.q("SELECT "+userCols+" FROM users WHERE id = ?"+s.forUpdate()), id))
	if err != nil {
		return User{}, dbErr(fmt.Sprintf("user %d", id), err)
	}
	return u, nil
}

// otherAdmin returns ErrLastAdmin unless an active admin other than id
// exists. On PostgreSQL it locks the admins' rows, so two concurrent demotions
// cannot both pass.
func (s *Store) otherAdmin(ctx context.Context, tx *sql.Tx, id int64) error {
	rows, err := tx.QueryContext(ctx, s.q("SELECT id FROM users WHERE role = 'admin' AND blocked = 0 AND id <> ?"+s.forUpdate()), id)
	if err != nil {
		return dbErr("admins", err)
	}
	defer rows.Close()
	if rows.Next() {
		return nil
	}
	if err := rows.Err(); err != nil {
		return dbErr("admins", err)
	}
	return fmt.Errorf("store: %w", ErrLastAdmin)
}

// tokenHash is what the store keeps of a session token.
func tokenHash(token string) string {
	h := sha256.Sum256([]byte(token))
	return hex.EncodeToString(h[:])
}

// NewSession starts a session for the user and returns its token: 256 random
// bits, base64url. Only the token's SHA-256 is stored. A blocked or unknown
// user is ErrNotFound.
func (s *Store) NewSession(ctx context.Context, userID int64, ttl time.Duration) (string, error) {
	if ttl <= 0 {
		return "", fmt.Errorf("store: %w: session lifetime %s", ErrInvalid, ttl)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return "", fmt.Errorf("store: session token: %w", err)
	}
	token := base64.RawURLEncoding.EncodeToString(raw)
	now := s.now()
	err := s.tx(ctx, func(tx *sql.Tx) error {
		u, err := s.lockUser(ctx, tx, userID)
		if err != nil {
			return err
		}
		if u.Blocked {
			return fmt.Errorf("store: user %d: %w", userID, ErrNotFound)
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM sessions WHERE expires <= ?"), millis(now)); err != nil {
			return dbErr("new session", err)
		}
		if _, err := tx.ExecContext(ctx, s.q("INSERT INTO sessions (token_hash, user_id, created, expires) VALUES (?, ?, ?, ?)"),
			tokenHash(token), userID, millis(now), millis(now.Add(ttl))); err != nil {
			return dbErr("new session", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return token, nil
}

// SessionUser returns the user of a live session. An unknown or expired token,
// or a blocked user, is ErrNotFound.
func (s *Store) SessionUser(ctx context.Context, token string) (User, error) {
	if token == "" || len(token) > 128 {
		return User{}, fmt.Errorf("store: session: %w", ErrNotFound)
	}
	u, err := scanUser(s.db.QueryRowContext(ctx, s.q(
		"SELECT u.id, u.name, u.role, u.blocked, u.created FROM sessions s JOIN users u ON u.id = s.user_id "+
			"WHERE s.token_hash = ? AND s.expires > ? AND u.blocked = 0"),
		tokenHash(token), millis(s.now())))
	if err != nil {
		return User{}, dbErr("session", err)
	}
	return u, nil
}

// EndSession ends a session (logout). An unknown token is not an error.
func (s *Store) EndSession(ctx context.Context, token string) error {
	if _, err := s.db.ExecContext(ctx, s.q("DELETE FROM sessions WHERE token_hash = ?"), tokenHash(token)); err != nil {
		return dbErr("end session", err)
	}
	return nil
}
