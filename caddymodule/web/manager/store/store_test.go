package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/llmrouter/llm-router/caddymodule/rdb/rdbtest"
	"github.com/llmrouter/llm-router/caddymodule/web/manager/store/pgtest"
)

// clock is a settable time source for the store under test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// env is one test's database: a URL and the clock of the stores opened on it.
type env struct {
	url   string
	clock *clock
}

// open opens a store on e's database with cheap password hashing and e's
// clock, closed when t ends.
func (e *env) open(t *testing.T) *Store {
	t.Helper()
	s, err := Open(context.Background(), e.url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	s.hash = hashParams{memory: 64, time: 1, threads: 1}
	if s.dummy, err = s.hash.hash("dummy"); err != nil {
		t.Fatal(err)
	}
	s.now = e.clock.now
	s.poll = 20 * time.Millisecond
	return s
}

// TestStore runs every store test on SQLite and on a real PostgreSQL.
func TestStore(t *testing.T) {
	tests := []struct {
		name string
		fn   func(*testing.T, *env)
	}{
		{"Setup", testSetup},
		{"Users", testUsers},
		{"Login", testLogin},
		{"Throttle", testThrottle},
		{"ThrottleParallel", testThrottleParallel},
		{"Sessions", testSessions},
		{"LastAdmin", testLastAdmin},
		{"Projects", testProjects},
		{"Isolation", testIsolation},
		{"Versions", testVersions},
		{"Conflict", testConflict},
		{"ConcurrentSave", testConcurrentSave},
		{"Bounds", testBounds},
		{"Activation", testActivation},
		{"WaitActive", testWaitActive},
		{"Reopen", testReopen},
		{"Reconnect", testReconnect},
	}
	engines := []struct {
		name  string
		newDB func(t *testing.T) func(*testing.T) string
	}{
		{"sqlite", func(*testing.T) func(*testing.T) string {
			return func(t *testing.T) string { return filepath.Join(t.TempDir(), "sub", "manager.db") }
		}},
		{"postgres", func(t *testing.T) func(*testing.T) string {
			srv := pgtest.Start(t)
			return func(t *testing.T) string { return srv.NewDatabase(t) }
		}},
	}
	for _, eng := range engines {
		t.Run(eng.name, func(t *testing.T) {
			newDB := eng.newDB(t)
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, &env{url: newDB(t), clock: &clock{t: time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)}})
				})
			}
		})
	}
}

func must[T any](t *testing.T) func(T, error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

func wantErr(t *testing.T, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("got error %v, want %v", err, want)
	}
}

const pw = "correct horse battery"

var ctx = context.Background()

func testSetup(t *testing.T, e *env) {
	s := e.open(t)
	if need := must[bool](t)(s.NeedsSetup(ctx)); !need {
		t.Fatal("a new database does not need setup")
	}
	_, err := s.Setup(ctx, "admin", "short")
	wantErr(t, err, ErrWeakPassword)
	// Two setups at once: exactly one admin.
	var (
		wg   sync.WaitGroup
		errs = make([]error, 2)
	)
	for i := range errs {
		wg.Go(func() { _, errs[i] = s.Setup(ctx, fmt.Sprintf("admin%d", i), pw) })
	}
	wg.Wait()
	ok := 0
	for _, err := range errs {
		if err == nil {
			ok++
		} else if !errors.Is(err, ErrSetupDone) {
			t.Fatalf("concurrent setup: %v", err)
		}
	}
	users := must[[]User](t)(s.Users(ctx))
	if ok != 1 || len(users) != 1 || users[0].Role != RoleAdmin {
		t.Fatalf("concurrent setups: %d succeeded, users %+v; want exactly one admin", ok, users)
	}
	if need := must[bool](t)(s.NeedsSetup(ctx)); need {
		t.Fatal("still needs setup after it")
	}
	_, err = s.Setup(ctx, "other", pw)
	wantErr(t, err, ErrSetupDone)
}

func testUsers(t *testing.T, e *env) {
	s := e.open(t)
	a := must[User](t)(s.Setup(ctx, "Admin", pw))
	u := must[User](t)(s.CreateUser(ctx, "  alice ", pw, RoleUser))
	if u.Name != "alice" || u.Role != RoleUser || u.Blocked || !u.Created.Equal(e.clock.now()) {
		t.Fatalf("created %+v", u)
	}
	_, err := s.CreateUser(ctx, "ALICE", pw, RoleUser)
	wantErr(t, err, ErrExists)
	_, err = s.CreateUser(ctx, "bob", pw, Role("root"))
	wantErr(t, err, ErrInvalid)
	_, err = s.CreateUser(ctx, strings.Repeat("ż", MaxNameLen+1), pw, RoleUser)
	wantErr(t, err, ErrInvalid)
	long := must[User](t)(s.CreateUser(ctx, strings.Repeat("ż", MaxNameLen), pw, RoleUser))
	_, err = s.CreateUser(ctx, "bell\a", pw, RoleUser)
	wantErr(t, err, ErrInvalid)
	_, err = s.CreateUser(ctx, "bob", strings.Repeat("x", MaxPasswordLen+1), RoleUser)
	wantErr(t, err, ErrWeakPassword)
	got := must[User](t)(s.User(ctx, u.ID))
	if got != u {
		t.Fatalf("User(%d) = %+v, want %+v", u.ID, got, u)
	}
	_, err = s.User(ctx, 9999)
	wantErr(t, err, ErrNotFound)
	users := must[[]User](t)(s.Users(ctx))
	if len(users) != 3 || users[0].ID != a.ID || users[1].ID != u.ID || users[2].ID != long.ID {
		t.Fatalf("Users = %+v", users)
	}
	var hash string
	if err := s.db.QueryRow(s.q("SELECT password_hash FROM users WHERE id = ?"), u.ID).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(hash, "$argon2id$v=19$m=") || strings.Contains(hash, pw) {
		t.Fatalf("stored password hash %q is not an argon2id PHC string", hash)
	}
}

func testLogin(t *testing.T, e *env) {
	s := e.open(t)
	must[User](t)(s.Setup(ctx, "admin", pw))
	u := must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	if got := must[User](t)(s.Login(ctx, "Alice", pw, "10.0.0.1:5555")); got.ID != u.ID {
		t.Fatalf("login as %+v", got)
	}
	_, err := s.Login(ctx, "alice", pw+"x", "10.0.0.1")
	wantErr(t, err, ErrBadCredentials)
	_, err = s.Login(ctx, "nobody", pw, "10.0.0.1")
	wantErr(t, err, ErrBadCredentials)
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, u.ID, true))
	_, err = s.Login(ctx, "alice", pw, "10.0.0.2")
	wantErr(t, err, ErrBlocked)
	_, err = s.Login(ctx, "alice", "wrong password", "10.0.0.2")
	wantErr(t, err, ErrBadCredentials) // a blocked account is revealed only to its password
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, u.ID, false))
	must[User](t)(s.Login(ctx, "alice", pw, "10.0.0.2"))
}

func testThrottle(t *testing.T, e *env) {
	s := e.open(t)
	must[User](t)(s.Setup(ctx, "admin", pw))
	must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	bob := must[User](t)(s.CreateUser(ctx, "bob", pw, RoleUser))
	start := e.clock.now()
	for i := range MaxLoginFailures {
		_, err := s.Login(ctx, "alice", "wrong password", fmt.Sprintf("10.0.0.%d", i))
		wantErr(t, err, ErrBadCredentials)
		e.clock.advance(time.Second)
	}
	// The account is throttled, from any address, even with the password.
	_, err := s.Login(ctx, "alice", pw, "192.0.2.7")
	wantErr(t, err, ErrThrottled)
	var te *ThrottledError
	if !errors.As(err, &te) || te.RetryAfter != start.Add(LoginWindow).Sub(e.clock.now()) {
		t.Fatalf("throttled with %v, want RetryAfter %s", err, start.Add(LoginWindow).Sub(e.clock.now()))
	}
	// Another account is not.
	must[User](t)(s.Login(ctx, "bob", pw, "192.0.2.7"))
	// Once the failures leave the window the password works again.
	e.clock.advance(te.RetryAfter)
	must[User](t)(s.Login(ctx, "alice", pw, "192.0.2.7"))

	// Per address: failures for many accounts from one IPv6 /64.
	for i := range MaxLoginFailures {
		_, err := s.Login(ctx, fmt.Sprintf("guess%d", i), "wrong password", fmt.Sprintf("[2001:db8::%d]:4000", i))
		wantErr(t, err, ErrBadCredentials)
	}
	_, err = s.Login(ctx, "bob", pw, "2001:db8::ffff")
	wantErr(t, err, ErrThrottled)
	must[User](t)(s.Login(ctx, "bob", pw, "2001:db9::1"))
	// A success clears the account's failures.
	for range MaxLoginFailures - 1 {
		_, err := s.Login(ctx, "bob", "wrong password", "198.51.100.1")
		wantErr(t, err, ErrBadCredentials)
	}
	must[User](t)(s.Login(ctx, "bob", pw, "198.51.100.2"))
	_, err = s.Login(ctx, "bob", "wrong password", "198.51.100.3")
	wantErr(t, err, ErrBadCredentials)
	must[User](t)(s.Login(ctx, "bob", pw, "198.51.100.3"))

	// Guessing the old password through a stolen session counts too.
	for range MaxLoginFailures {
		wantErr(t, s.ChangePassword(ctx, bob.ID, "wrong password", "new password 123"), ErrBadCredentials)
	}
	wantErr(t, s.ChangePassword(ctx, bob.ID, pw, "new password 123"), ErrThrottled)
	_, err = s.Login(ctx, "bob", pw, "203.0.113.9")
	wantErr(t, err, ErrThrottled)
}

func testSessions(t *testing.T, e *env) {
	s := e.open(t)
	a := must[User](t)(s.Setup(ctx, "admin", pw))
	u := must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	tok := must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	if len(tok) != 43 {
		t.Fatalf("token %q: want 256 bits in base64url", tok)
	}
	if got := must[User](t)(s.SessionUser(ctx, tok)); got.ID != u.ID {
		t.Fatalf("session user %+v", got)
	}
	var n int
	if err := s.db.QueryRow(s.q("SELECT count(*) FROM sessions WHERE token_hash = ?"), tok).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the token itself is stored (%d rows, %v)", n, err)
	}
	_, err := s.SessionUser(ctx, "forged")
	wantErr(t, err, ErrNotFound)

	// Expiry.
	e.clock.advance(time.Hour - time.Millisecond)
	must[User](t)(s.SessionUser(ctx, tok))
	e.clock.advance(time.Millisecond)
	_, err = s.SessionUser(ctx, tok)
	wantErr(t, err, ErrNotFound)

	// Logout.
	tok = must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	must[struct{}](t)(struct{}{}, s.EndSession(ctx, tok))
	_, err = s.SessionUser(ctx, tok)
	wantErr(t, err, ErrNotFound)

	// Blocking ends every session and refuses new ones.
	t1 := must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	t2 := must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	ta := must[string](t)(s.NewSession(ctx, a.ID, time.Hour))
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, u.ID, true))
	for _, tk := range []string{t1, t2} {
		_, err = s.SessionUser(ctx, tk)
		wantErr(t, err, ErrNotFound)
	}
	_, err = s.NewSession(ctx, u.ID, time.Hour)
	wantErr(t, err, ErrNotFound)
	must[User](t)(s.SessionUser(ctx, ta))
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, u.ID, false))

	// Changing the password ends the sessions; the old password stops working.
	t1 = must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	wantErr(t, s.ChangePassword(ctx, u.ID, "not the password", "new password 123"), ErrBadCredentials)
	wantErr(t, s.ChangePassword(ctx, u.ID, pw, "short"), ErrWeakPassword)
	must[User](t)(s.SessionUser(ctx, t1))
	must[struct{}](t)(struct{}{}, s.ChangePassword(ctx, u.ID, pw, "new password 123"))
	_, err = s.SessionUser(ctx, t1)
	wantErr(t, err, ErrNotFound)
	_, err = s.Login(ctx, "alice", pw, "10.1.1.1")
	wantErr(t, err, ErrBadCredentials)
	must[User](t)(s.Login(ctx, "alice", "new password 123", "10.1.1.1"))

	// So does an admin's reset.
	t1 = must[string](t)(s.NewSession(ctx, u.ID, time.Hour))
	must[struct{}](t)(struct{}{}, s.ResetPassword(ctx, u.ID, "reset password 456"))
	_, err = s.SessionUser(ctx, t1)
	wantErr(t, err, ErrNotFound)
	must[User](t)(s.Login(ctx, "alice", "reset password 456", "10.1.1.1"))
	wantErr(t, s.ResetPassword(ctx, 9999, "reset password 456"), ErrNotFound)
}

func testLastAdmin(t *testing.T, e *env) {
	s := e.open(t)
	a := must[User](t)(s.Setup(ctx, "admin", pw))
	wantErr(t, s.SetRole(ctx, a.ID, RoleUser), ErrLastAdmin)
	wantErr(t, s.SetBlocked(ctx, a.ID, true), ErrLastAdmin)
	b := must[User](t)(s.CreateUser(ctx, "bob", pw, RoleUser))
	must[struct{}](t)(struct{}{}, s.SetRole(ctx, b.ID, RoleAdmin))
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, a.ID, true))
	wantErr(t, s.SetRole(ctx, b.ID, RoleUser), ErrLastAdmin)
	must[struct{}](t)(struct{}{}, s.SetBlocked(ctx, a.ID, false))
	must[struct{}](t)(struct{}{}, s.SetRole(ctx, b.ID, RoleUser))
	if got := must[User](t)(s.User(ctx, b.ID)); got.Role != RoleUser {
		t.Fatalf("role %q", got.Role)
	}
	wantErr(t, s.SetRole(ctx, 9999, RoleUser), ErrNotFound)
}

func testProjects(t *testing.T, e *env) {
	s := e.open(t)
	must[User](t)(s.Setup(ctx, "admin", pw))
	u := must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	// Concurrent first requests agree on one default project.
	ids := make([]int64, 4)
	var wg sync.WaitGroup
	for i := range ids {
		wg.Go(func() {
			p, err := s.DefaultProject(ctx, u)
			if err != nil {
				t.Error(err)
			}
			ids[i] = p.ID
		})
	}
	wg.Wait()
	for _, id := range ids {
		if id != ids[0] {
			t.Fatalf("DefaultProject gave %v", ids)
		}
	}
	def := must[Project](t)(s.Project(ctx, u, ids[0]))
	if !def.Default || def.OwnerID != u.ID || def.Name != "Default" {
		t.Fatalf("default project %+v", def)
	}
	p := must[Project](t)(s.CreateProject(ctx, u, "Lab"))
	_, err := s.CreateProject(ctx, u, "Lab")
	wantErr(t, err, ErrExists)
	_, err = s.RenameProject(ctx, u, p.ID, "Default")
	wantErr(t, err, ErrExists)
	p = must[Project](t)(s.RenameProject(ctx, u, p.ID, "Fleet"))
	if p.Name != "Fleet" {
		t.Fatalf("renamed %+v", p)
	}
	wantErr(t, s.DeleteProject(ctx, u, def.ID), ErrConflict)
	must[Config](t)(s.CreateConfig(ctx, u, p.ID, "c", []byte("{}"), ""))
	wantErr(t, s.DeleteProject(ctx, u, p.ID), ErrConflict)
	empty := must[Project](t)(s.CreateProject(ctx, u, "Empty"))
	must[struct{}](t)(struct{}{}, s.DeleteProject(ctx, u, empty.ID))
	if ps := must[[]Project](t)(s.Projects(ctx, u)); len(ps) != 2 || ps[0].Name != "Default" || ps[1].Name != "Fleet" {
		t.Fatalf("projects %+v", ps)
	}
	// A user who already has a project called Default still gets a default one.
	b := must[User](t)(s.CreateUser(ctx, "bob", pw, RoleUser))
	must[Project](t)(s.CreateProject(ctx, b, "Default"))
	bd := must[Project](t)(s.DefaultProject(ctx, b))
	if !bd.Default || bd.Name != "Default 2" {
		t.Fatalf("bob's default project %+v", bd)
	}
}

func testIsolation(t *testing.T, e *env) {
	s := e.open(t)
	admin := must[User](t)(s.Setup(ctx, "admin", pw))
	alice := must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	bob := must[User](t)(s.CreateUser(ctx, "bob", pw, RoleUser))
	ap := must[Project](t)(s.DefaultProject(ctx, alice))
	c := must[Config](t)(s.CreateConfig(ctx, alice, ap.ID, "alice's", []byte(`{"a":1}`), "first"))

	// Bob gets the same answer for alice's config as for one that does not
	// exist.
	for _, id := range []int64{c.ID, 9999} {
		_, err := s.Config(ctx, bob, id)
		wantErr(t, err, ErrNotFound)
		_, err = s.SaveConfig(ctx, bob, id, 1, "", []byte("{}"), "")
		wantErr(t, err, ErrNotFound)
		_, err = s.Versions(ctx, bob, id)
		wantErr(t, err, ErrNotFound)
		_, err = s.Version(ctx, bob, id, 1)
		wantErr(t, err, ErrNotFound)
		_, err = s.Restore(ctx, bob, id, 1, "")
		wantErr(t, err, ErrNotFound)
		_, err = s.Activate(ctx, bob, id, 1)
		wantErr(t, err, ErrNotFound)
		wantErr(t, s.DeleteConfig(ctx, bob, id), ErrNotFound)
	}
	_, err := s.Configs(ctx, bob, ap.ID)
	wantErr(t, err, ErrNotFound)
	_, err = s.Project(ctx, bob, ap.ID)
	wantErr(t, err, ErrNotFound)
	_, err = s.CreateConfig(ctx, bob, ap.ID, "planted", []byte("{}"), "")
	wantErr(t, err, ErrNotFound)
	_, err = s.RenameProject(ctx, bob, ap.ID, "mine")
	wantErr(t, err, ErrNotFound)
	wantErr(t, s.DeleteProject(ctx, bob, ap.ID), ErrNotFound)
	if ps := must[[]Project](t)(s.Projects(ctx, bob)); len(ps) != 0 {
		t.Fatalf("bob sees projects %+v", ps)
	}
	// Alice's config is untouched.
	got := must[Config](t)(s.Config(ctx, alice, c.ID))
	if got.Revision != 1 || string(got.Doc) != `{"a":1}` {
		t.Fatalf("alice's config after bob's attempts: %+v", got)
	}
	// An admin sees and edits everything; the config stays alice's.
	if ps := must[[]Project](t)(s.Projects(ctx, admin)); len(ps) != 1 {
		t.Fatalf("admin sees projects %+v", ps)
	}
	got = must[Config](t)(s.SaveConfig(ctx, admin, c.ID, 1, "", []byte(`{"a":2}`), "by admin"))
	if got.OwnerID != alice.ID || got.UpdatedBy != "admin" || got.Name != "alice's" {
		t.Fatalf("saved by admin: %+v", got)
	}
	ac := must[Config](t)(s.CreateConfig(ctx, admin, ap.ID, "made by admin", []byte("{}"), ""))
	if ac.OwnerID != alice.ID {
		t.Fatalf("a config an admin makes in alice's project belongs to %d", ac.OwnerID)
	}
	if cs := must[[]Config](t)(s.Configs(ctx, alice, ap.ID)); len(cs) != 2 || cs[0].Doc != nil {
		t.Fatalf("alice's configs %+v", cs)
	}
}

func testVersions(t *testing.T, e *env) {
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	p := must[Project](t)(s.DefaultProject(ctx, u))
	docs := []string{`{"v":1}`, `{"v":2}`, `{"v":3}`}
	c := must[Config](t)(s.CreateConfig(ctx, u, p.ID, "one", []byte(docs[0]), "import"))
	if c.Revision != 1 {
		t.Fatalf("new config at revision %d", c.Revision)
	}
	e.clock.advance(time.Minute)
	c = must[Config](t)(s.SaveConfig(ctx, u, c.ID, 1, "two", []byte(docs[1]), "second"))
	e.clock.advance(time.Minute)
	c = must[Config](t)(s.SaveConfig(ctx, u, c.ID, 2, "", []byte(docs[2]), "third"))
	if c.Revision != 3 || c.Name != "two" || string(c.Doc) != docs[2] || !c.Updated.Equal(e.clock.now()) {
		t.Fatalf("after two saves: %+v", c)
	}
	vs := must[[]Version](t)(s.Versions(ctx, u, c.ID))
	if len(vs) != 3 || vs[0].Number != 3 || vs[2].Number != 1 || vs[2].Note != "import" || vs[0].Doc != nil || vs[1].Name != "two" || vs[2].Name != "one" {
		t.Fatalf("versions %+v", vs)
	}
	v1 := must[Version](t)(s.Version(ctx, u, c.ID, 1))
	if string(v1.Doc) != docs[0] || v1.Author != "admin" || !v1.Created.Equal(e.clock.now().Add(-2*time.Minute)) {
		t.Fatalf("version 1 %+v", v1)
	}
	_, err := s.Version(ctx, u, c.ID, 4)
	wantErr(t, err, ErrNotFound)

	// Restore writes version 4 with version 1's document and name; 2 and 3 stay.
	c = must[Config](t)(s.Restore(ctx, u, c.ID, 1, ""))
	if c.Revision != 4 || string(c.Doc) != docs[0] || c.Name != "one" {
		t.Fatalf("restored %+v", c)
	}
	if got := must[Config](t)(s.Config(ctx, u, c.ID)); string(got.Doc) != docs[0] || got.Revision != 4 {
		t.Fatalf("stored after restore %+v", got)
	}
	vs = must[[]Version](t)(s.Versions(ctx, u, c.ID))
	if len(vs) != 4 || vs[0].Note != "restored version 1" {
		t.Fatalf("versions after restore %+v", vs)
	}
	for n, want := range map[int64]string{2: docs[1], 3: docs[2], 4: docs[0]} {
		if v := must[Version](t)(s.Version(ctx, u, c.ID, n)); string(v.Doc) != want {
			t.Fatalf("version %d holds %s, want %s", n, v.Doc, want)
		}
	}
	_, err = s.Restore(ctx, u, c.ID, 9, "")
	wantErr(t, err, ErrNotFound)

	must[struct{}](t)(struct{}{}, s.DeleteConfig(ctx, u, c.ID))
	_, err = s.Config(ctx, u, c.ID)
	wantErr(t, err, ErrNotFound)
	_, err = s.Version(ctx, u, c.ID, 1)
	wantErr(t, err, ErrNotFound)
}

func testConflict(t *testing.T, e *env) {
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	b := must[User](t)(s.CreateUser(ctx, "bob", pw, RoleAdmin))
	p := must[Project](t)(s.DefaultProject(ctx, u))
	c := must[Config](t)(s.CreateConfig(ctx, u, p.ID, "c", []byte(`{"v":1}`), ""))
	// Both open revision 1; the admin saves first; bob's save is refused.
	must[Config](t)(s.SaveConfig(ctx, u, c.ID, 1, "", []byte(`{"v":"admin"}`), ""))
	_, err := s.SaveConfig(ctx, b, c.ID, 1, "bob's name", []byte(`{"v":"bob"}`), "")
	wantErr(t, err, ErrConflict)
	got := must[Config](t)(s.Config(ctx, u, c.ID))
	if got.Revision != 2 || string(got.Doc) != `{"v":"admin"}` || got.Name != "c" {
		t.Fatalf("after the refused save: %+v", got)
	}
	if vs := must[[]Version](t)(s.Versions(ctx, u, c.ID)); len(vs) != 2 {
		t.Fatalf("the refused save wrote a version: %+v", vs)
	}
}

func testConcurrentSave(t *testing.T, e *env) {
	s1, s2 := e.open(t), e.open(t) // two stores: two router instances on one database
	u := must[User](t)(s1.Setup(ctx, "admin", pw))
	p := must[Project](t)(s1.DefaultProject(ctx, u))
	c := must[Config](t)(s1.CreateConfig(ctx, u, p.ID, "c", []byte("{}"), ""))
	const n = 8
	var (
		wg   sync.WaitGroup
		errs = make([]error, n)
	)
	for i := range n {
		st := s1
		if i%2 == 1 {
			st = s2
		}
		wg.Go(func() {
			_, errs[i] = st.SaveConfig(ctx, u, c.ID, 1, "", fmt.Appendf(nil, `{"writer":%d}`, i), "")
		})
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both saved on revision 1", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, ErrConflict):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer won")
	}
	got := must[Config](t)(s1.Config(ctx, u, c.ID))
	if got.Revision != 2 || string(got.Doc) != fmt.Sprintf(`{"writer":%d}`, winner) {
		t.Fatalf("config %+v, winner %d", got, winner)
	}
	if vs := must[[]Version](t)(s1.Versions(ctx, u, c.ID)); len(vs) != 2 {
		t.Fatalf("%d versions, want 2", len(vs))
	}
}

func testBounds(t *testing.T, e *env) {
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	p := must[Project](t)(s.DefaultProject(ctx, u))
	big := bytes.Repeat([]byte("x"), MaxDocSize+1)
	_, err := s.CreateConfig(ctx, u, p.ID, "big", big, "")
	wantErr(t, err, ErrInvalid)
	c := must[Config](t)(s.CreateConfig(ctx, u, p.ID, "max", big[:MaxDocSize], ""))
	if got := must[Config](t)(s.Config(ctx, u, c.ID)); len(got.Doc) != MaxDocSize {
		t.Fatalf("stored %d bytes", len(got.Doc))
	}
	_, err = s.SaveConfig(ctx, u, c.ID, 1, "", big, "")
	wantErr(t, err, ErrInvalid)
	_, err = s.SaveConfig(ctx, u, c.ID, 1, "", []byte("{}"), strings.Repeat("n", MaxNoteLen+1))
	wantErr(t, err, ErrInvalid)
	_, err = s.SaveConfig(ctx, u, c.ID, 1, strings.Repeat("n", MaxNameLen+1), []byte("{}"), "")
	wantErr(t, err, ErrInvalid)
	_, err = s.CreateProject(ctx, u, "  ")
	wantErr(t, err, ErrInvalid)
	// Markup is data to the store: kept verbatim (the pages escape it).
	html := `<script>alert("x")</script>`
	c = must[Config](t)(s.SaveConfig(ctx, u, c.ID, 1, html, []byte("{}"), strings.Repeat("n", MaxNoteLen-len(html)-1)+"\n"+html))
	if v := must[Version](t)(s.Version(ctx, u, c.ID, 2)); v.Name != html || !strings.HasSuffix(v.Note, "\n"+html) {
		t.Fatalf("version %+v", v)
	}
}

func testActivation(t *testing.T, e *env) {
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	p := must[Project](t)(s.DefaultProject(ctx, u))
	if _, ok, err := s.Active(ctx); err != nil || ok {
		t.Fatalf("a new database has an active config (%v, %v)", ok, err)
	}
	c := must[Config](t)(s.CreateConfig(ctx, u, p.ID, "c", []byte(`{"v":1}`), ""))
	must[Config](t)(s.SaveConfig(ctx, u, c.ID, 1, "", []byte(`{"v":2}`), ""))
	_, err := s.Activate(ctx, u, c.ID, 3)
	wantErr(t, err, ErrNotFound)
	a1 := must[Activation](t)(s.Activate(ctx, u, c.ID, 1))
	if a1.ConfigID != c.ID || a1.Revision != 1 || string(a1.Doc) != `{"v":1}` || a1.By != "admin" || !a1.At.Equal(e.clock.now()) {
		t.Fatalf("activation %+v", a1)
	}
	a2 := must[Activation](t)(s.Activate(ctx, u, c.ID, 2))
	if a2.Seq <= a1.Seq {
		t.Fatalf("seq %d after %d", a2.Seq, a1.Seq)
	}
	got, ok, err := s.Active(ctx)
	if err != nil || !ok || got.Seq != a2.Seq || string(got.Doc) != `{"v":2}` {
		t.Fatalf("Active = %+v, %v, %v", got, ok, err)
	}
	// The log outlives the config.
	must[struct{}](t)(struct{}{}, s.DeleteConfig(ctx, u, c.ID))
	if got, ok, err := s.Active(ctx); err != nil || !ok || got.Seq != a2.Seq {
		t.Fatalf("Active after delete = %+v, %v, %v", got, ok, err)
	}
}

func testWaitActive(t *testing.T, e *env) {
	writer, follower := e.open(t), e.open(t) // the follower is another router instance
	follower.safety = time.Hour              // on PostgreSQL only a NOTIFY can wake it in time
	u := must[User](t)(writer.Setup(ctx, "admin", pw))
	p := must[Project](t)(writer.DefaultProject(ctx, u))
	c := must[Config](t)(writer.CreateConfig(ctx, u, p.ID, "c", []byte(`{"v":1}`), ""))
	a1 := must[Activation](t)(writer.Activate(ctx, u, c.ID, 1))

	// An activation newer than afterSeq is returned at once.
	wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if got := must[Activation](t)(follower.WaitActive(wctx, 0)); got.Seq != a1.Seq {
		t.Fatalf("WaitActive(0) = %+v", got)
	}

	// A wait ends when the context does.
	short, cancelShort := context.WithCancel(ctx)
	go cancelShort()
	_, err := follower.WaitActive(short, a1.Seq)
	wantErr(t, err, context.Canceled)

	// A waiting follower sees the next activation, well before its deadline.
	must[Config](t)(writer.SaveConfig(ctx, u, c.ID, 1, "", []byte(`{"v":2}`), ""))
	type result struct {
		a   Activation
		err error
	}
	done := make(chan result, 1)
	waiting := make(chan struct{}, 100)
	follower.waiting = func() { waiting <- struct{}{} }
	go func() {
		a, err := follower.WaitActive(wctx, a1.Seq)
		done <- result{a, err}
	}()
	<-waiting // the follower looked, found nothing new and now blocks
	a2 := must[Activation](t)(writer.Activate(ctx, u, c.ID, 2))
	r := <-done
	if r.err != nil || r.a.Seq != a2.Seq || string(r.a.Doc) != `{"v":2}` {
		t.Fatalf("WaitActive = %+v, %v; want activation %d", r.a, r.err, a2.Seq)
	}

	if writer.Postgres() {
		// Without NOTIFY (say it was lost while a connection dropped), the
		// safety-net poll still finds the activation.
		writer.pgNotify = false
		follower.safety = 50 * time.Millisecond
		go func() {
			a, err := follower.WaitActive(wctx, a2.Seq)
			done <- result{a, err}
		}()
		<-waiting
		a3 := must[Activation](t)(writer.Activate(ctx, u, c.ID, 1))
		if r := <-done; r.err != nil || r.a.Seq != a3.Seq {
			t.Fatalf("WaitActive by polling = %+v, %v; want activation %d", r.a, r.err, a3.Seq)
		}
	}
}

func testReopen(t *testing.T, e *env) {
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	p := must[Project](t)(s.DefaultProject(ctx, u))
	c := must[Config](t)(s.CreateConfig(ctx, u, p.ID, "kept", []byte(`{"k":true}`), ""))
	s.Close()
	// Reopening (twice at once, as two instances starting together) runs
	// no migration again and keeps the data.
	var wg sync.WaitGroup
	stores := make([]*Store, 2)
	for i := range stores {
		wg.Go(func() { stores[i] = e.open(t) })
	}
	wg.Wait()
	for _, s := range stores {
		if need := must[bool](t)(s.NeedsSetup(ctx)); need {
			t.Fatal("reopened database needs setup")
		}
		if got := must[Config](t)(s.Config(ctx, u, c.ID)); string(got.Doc) != `{"k":true}` {
			t.Fatalf("reopened config %+v", got)
		}
		var n int
		if err := s.db.QueryRow("SELECT count(*) FROM goose_db_version WHERE version_id = 1").Scan(&n); err != nil || n != 1 {
			t.Fatalf("migration 1 recorded %d times (%v)", n, err)
		}
	}
	if !IsPostgres(e.url) {
		fi, err := os.Stat(e.url)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Fatalf("database file mode %v, want 0600", fi.Mode().Perm())
		}
		di, _ := os.Stat(filepath.Dir(e.url))
		if di.Mode().Perm() != 0o700 {
			t.Fatalf("database directory mode %v, want 0700", di.Mode().Perm())
		}
	}
}

func TestDefaultURL(t *testing.T) {
	t.Setenv("HOME", "/home/op")
	for _, tc := range []struct{ state, xdg, want string }{
		{"/var/lib/llm-router", "/x", "/var/lib/llm-router/manager.db"},
		{"/var/lib/a:/var/lib/b", "", "/var/lib/a/manager.db"},
		{"", "/data", "/data/llm-router/manager.db"},
		{"", "", "/home/op/.local/share/llm-router/manager.db"},
	} {
		t.Setenv("STATE_DIRECTORY", tc.state)
		t.Setenv("XDG_DATA_HOME", tc.xdg)
		if got := DefaultURL(); got != tc.want {
			t.Errorf("STATE_DIRECTORY=%q XDG_DATA_HOME=%q: DefaultURL() = %q, want %q", tc.state, tc.xdg, got, tc.want)
		}
	}
}

func TestRedact(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:secret@db:5432/m":              "postgres://u:xxxxx@db:5432/m",
		"postgresql://u@db/m":                        "postgresql://u@db/m",
		"postgres://db/m?password=x&sslmode=disable": "postgres://db/m?password=xxxxx&sslmode=disable",
		"/var/lib/llm-router/manager.db":             "/var/lib/llm-router/manager.db",
		"postgres://u:p@ss:w@rd@db:5432/m":           "postgres://u:xxxxx@db:5432/m",
	} {
		if got := Redact(in); got != want {
			t.Errorf("Redact(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestSQLiteURL(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		url, file string
	}{
		{filepath.Join(dir, "a.db"), filepath.Join(dir, "a.db")},
		{"sqlite:///" + filepath.Join(dir, "b.db"), filepath.Join(dir, "b.db")}, // sqlite:////abs/b.db
		{"file:" + filepath.Join(dir, "c.db"), filepath.Join(dir, "c.db")},
		{"file://" + filepath.Join(dir, "d d.db") + "?_pragma=cache_size(-4000)", filepath.Join(dir, "d d.db")},
		{"file:" + filepath.Join(dir, "new", "e%20e.db"), filepath.Join(dir, "new", "e e.db")},
	} {
		s, err := Open(ctx, tc.url)
		if err != nil {
			t.Fatalf("Open(%q): %v", tc.url, err)
		}
		s.Close()
		if fi, err := os.Stat(tc.file); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("Open(%q) did not make %s with mode 0600: %v", tc.url, tc.file, err)
		}
	}
	for _, bad := range []string{"", ":memory:", "sqlite:///:memory:", "file::memory:?cache=shared", filepath.Join(dir, "x.db?mode=ro")} {
		if _, err := Open(ctx, bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("Open(%q) = %v, want ErrInvalid", bad, err)
		}
	}
}

func TestAddrKey(t *testing.T) {
	for in, want := range map[string]string{
		"10.0.0.1:5555":          "10.0.0.1",
		"10.0.0.1":               "10.0.0.1",
		"[::ffff:10.0.0.1]:80":   "10.0.0.1",
		"[2001:db8::1]:443":      "2001:db8::/64",
		"2001:db8::abcd:1":       "2001:db8::/64",
		"fe80::1%eth0":           "fe80::/64",
		"":                       "",
		"not an address":         "not an address",
		strings.Repeat("a", 300): strings.Repeat("a", 100),
	} {
		if got := addrKey(in); got != want {
			t.Errorf("addrKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestPasswordHash(t *testing.T) {
	phc, err := defaultHash.hash(pw)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(phc, "$argon2id$v=19$m=19456,t=2,p=1$") {
		t.Fatalf("PHC string %q", phc)
	}
	for _, tc := range []struct {
		phc, pw string
		ok      bool
		err     bool
	}{
		{phc, pw, true, false},
		{phc, pw + " ", false, false},
		{strings.Replace(phc, "argon2id", "argon2i", 1), pw, false, true},
		{strings.Replace(phc, "m=19456", "m=99999999", 1), pw, false, true},
		{"$argon2id$v=19$m=64,t=1,p=1$!!$!!", pw, false, true},
		{"", pw, false, true},
	} {
		ok, err := verify(tc.phc, tc.pw)
		if ok != tc.ok || (err != nil) != tc.err {
			t.Errorf("verify(%q, %q) = %v, %v", tc.phc, tc.pw, ok, err)
		}
	}
}

// testThrottleParallel: wrong guesses sent at once get no more than
// MaxLoginFailures tries between them; the rest are throttled.
func testThrottleParallel(t *testing.T, e *env) {
	s := e.open(t)
	must[User](t)(s.Setup(ctx, "admin", pw))
	must[User](t)(s.CreateUser(ctx, "alice", pw, RoleUser))
	const n = 4 * MaxLoginFailures
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			_, err := s.Login(ctx, "alice", fmt.Sprintf("wrong password %d", i), fmt.Sprintf("10.0.1.%d", i))
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	tried := 0
	for err := range errs {
		switch {
		case errors.Is(err, ErrBadCredentials):
			tried++
		case !errors.Is(err, ErrThrottled):
			t.Fatalf("parallel guess: %v", err)
		}
	}
	if tried != MaxLoginFailures {
		t.Fatalf("%d of %d parallel guesses were tried, want %d", tried, n, MaxLoginFailures)
	}
	_, err := s.Login(ctx, "alice", pw, "192.0.2.7")
	wantErr(t, err, ErrThrottled)
}

// testReconnect: the server ends the store's pooled connections, as a
// restart does (57P01 terminating connection due to administrator command);
// the next write and read succeed at once, on new connections.
func testReconnect(t *testing.T, e *env) {
	if !IsPostgres(e.url) {
		t.Skip("PostgreSQL only: a SQLite file has no server to restart")
	}
	s := e.open(t)
	u := must[User](t)(s.Setup(ctx, "admin", pw))
	p := must[Project](t)(s.DefaultProject(ctx, u)) // leaves a connection, just used, in the pool
	admin, err := pgx.Connect(ctx, e.url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(ctx)
	const others = "FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
	if _, err := admin.Exec(ctx, "SELECT pg_terminate_backend(pid) "+others); err != nil {
		t.Fatal(err)
	}
	rdbtest.Eventually(t, 10*time.Second, "the store's server processes end", func() bool {
		var n int
		return admin.QueryRow(ctx, "SELECT count(*) "+others).Scan(&n) == nil && n == 0
	})
	must[Config](t)(s.CreateConfig(ctx, u, p.ID, "after the restart", []byte(`{}`), ""))
	must[bool](t)(s.NeedsSetup(ctx))
}
