package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// defaultProjectName names the project DefaultProject creates.
const defaultProjectName = "Default"

// visible is the SQL condition (one ? for the user id, one for is-admin)
// under which a row with owner_id is visible to a user.
const visible = "(owner_id = ? OR ? = 1)"

func who(u User) []any {
	admin := 0
	if u.IsAdmin() {
		admin = 1
	}
	return []any{u.ID, admin}
}

func args(a ...any) []any { return a }

const projectCols = "id, owner_id, name, is_default, created"

func scanProject(r scanner) (Project, error) {
	var (
		p       Project
		def     int64
		created int64
	)
	if err := r.Scan(&p.ID, &p.OwnerID, &p.Name, &def, &created); err != nil {
		return Project{}, err
	}
	p.Default, p.Created = def != 0, fromMillis(created)
	return p, nil
}

// Projects lists the projects u may see (an admin: all), by name.
func (s *Store) Projects(ctx context.Context, u User) ([]Project, error) {
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+projectCols+" FROM projects WHERE "+visible+" ORDER BY name, id"), who(u)...)
	if err != nil {
		return nil, dbErr("projects", err)
	}
	defer rows.Close()
	var out []Project
	for rows.Next() {
		p, err := scanProject(rows)
		if err != nil {
			return nil, dbErr("projects", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("projects", err)
	}
	return out, nil
}

// Project returns one project u may see.
func (s *Store) Project(ctx context.Context, u User, id int64) (Project, error) {
	return s.project(ctx, s.db, u, id)
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (s *Store) project(ctx context.Context, q querier, u User, id int64) (Project, error) {
	p, err := scanProject(q.QueryRowContext(ctx, s.q("SELECT "+projectCols+" FROM projects WHERE id = ? AND "+visible),
		append(args(id), who(u)...)...))
	if err != nil {
		return Project{}, dbErr(fmt.Sprintf("project %d", id), err)
	}
	return p, nil
}

// CreateProject adds a project owned by u. A name u already uses is ErrExists.
func (s *Store) CreateProject(ctx context.Context, u User, name string) (Project, error) {
	name, err := cleanName("project name", name)
	if err != nil {
		return Project{}, err
	}
	return s.insertProject(ctx, u, name, false)
}

func (s *Store) insertProject(ctx context.Context, u User, name string, def bool) (Project, error) {
	d := 0
	if def {
		d = 1
	}
	p, err := scanProject(s.db.QueryRowContext(ctx, s.q(
		"INSERT INTO projects (owner_id, name, is_default, created) VALUES (?, ?, ?, ?) RETURNING "+projectCols),
		u.ID, name, d, millis(s.now())))
	if isUnique(err) {
		return Project{}, fmt.Errorf("store: project %q: %w", name, ErrExists)
	}
	if err != nil {
		return Project{}, dbErr("create project", err)
	}
	return p, nil
}

// RenameProject renames a project u may see.
func (s *Store) RenameProject(ctx context.Context, u User, id int64, name string) (Project, error) {
	name, err := cleanName("project name", name)
	if err != nil {
		return Project{}, err
	}
	p, err := scanProject(s.db.QueryRowContext(ctx, s.q(
		"UPDATE projects SET name = ? WHERE id = ? AND "+visible+" RETURNING "+projectCols),
		append(args(name, id), who(u)...)...))
	if isUnique(err) {
		return Project{}, fmt.Errorf("store: project %q: %w", name, ErrExists)
	}
	if err != nil {
		return Project{}, dbErr(fmt.Sprintf("project %d", id), err)
	}
	return p, nil
}

// DeleteProject deletes an empty, non-default project; otherwise ErrConflict.
func (s *Store) DeleteProject(ctx context.Context, u User, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		p, err := s.project(ctx, tx, u, id)
		if err != nil {
			return err
		}
		if p.Default {
			return fmt.Errorf("store: the default project cannot be deleted: %w", ErrConflict)
		}
		var n int64
		if err := tx.QueryRowContext(ctx, s.q("SELECT count(*) FROM configs WHERE project_id = ?"), id).Scan(&n); err != nil {
			return dbErr("delete project", err)
		}
		if n > 0 {
			return fmt.Errorf("store: project %q holds %d configs: %w", p.Name, n, ErrConflict)
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM projects WHERE id = ?"), id); err != nil {
			return dbErr("delete project", err)
		}
		return nil
	})
}

// DefaultProject returns u's default project, creating it on first use.
func (s *Store) DefaultProject(ctx context.Context, u User) (Project, error) {
	name := defaultProjectName
	for i := 2; ; i++ {
		p, err := scanProject(s.db.QueryRowContext(ctx, s.q(
			"SELECT "+projectCols+" FROM projects WHERE owner_id = ? AND is_default = 1"), u.ID))
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return Project{}, dbErr("default project", err)
		}
		if p, err = s.insertProject(ctx, u, name, true); err == nil {
			return p, nil
		}
		// Either another request created the default project just now (the
		// next SELECT finds it) or u has a project of that name already.
		if !errors.Is(err, ErrExists) || i > 10 {
			return Project{}, err
		}
		name = fmt.Sprintf("%s %d", defaultProjectName, i)
	}
}

const configCols = "id, project_id, owner_id, name, revision, updated, updated_by"

func scanConfig(r scanner, withDoc bool) (Config, error) {
	var (
		c       Config
		updated int64
	)
	dest := []any{&c.ID, &c.ProjectID, &c.OwnerID, &c.Name, &c.Revision, &updated, &c.UpdatedBy}
	if withDoc {
		dest = append(dest, &c.Doc)
	}
	if err := r.Scan(dest...); err != nil {
		return Config{}, err
	}
	c.Updated = fromMillis(updated)
	return c, nil
}

// Configs lists the configs of a project u may see, by name, with Doc empty.
func (s *Store) Configs(ctx context.Context, u User, projectID int64) ([]Config, error) {
	if _, err := s.Project(ctx, u, projectID); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT "+configCols+" FROM configs WHERE project_id = ? AND "+visible+" ORDER BY name, id"),
		append(args(projectID), who(u)...)...)
	if err != nil {
		return nil, dbErr("configs", err)
	}
	defer rows.Close()
	var out []Config
	for rows.Next() {
		c, err := scanConfig(rows, false)
		if err != nil {
			return nil, dbErr("configs", err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("configs", err)
	}
	return out, nil
}

// Config returns a config. A config u does not own is ErrNotFound unless u is
// an admin: its existence is never revealed.
func (s *Store) Config(ctx context.Context, u User, id int64) (Config, error) {
	return s.config(ctx, s.db, u, id, "")
}

func (s *Store) config(ctx context.Context, q querier, u User, id int64, suffix string) (Config, error) {
	c, err := scanConfig(q.QueryRowContext(ctx, s.q("SELECT "+configCols+", doc FROM configs WHERE id = ? AND "+visible+suffix),
		append(args(id), who(u)...)...), true)
	if err != nil {
		return Config{}, dbErr(fmt.Sprintf("config %d", id), err)
	}
	return c, nil
}

// checkDoc enforces the document's size bound.
func checkDoc(doc []byte) error {
	if len(doc) > MaxDocSize {
		return fmt.Errorf("store: %w: the document is %d bytes, at most %d", ErrInvalid, len(doc), MaxDocSize)
	}
	if doc == nil {
		return fmt.Errorf("store: %w: no document", ErrInvalid)
	}
	return nil
}

// CreateConfig adds a config to a project u may see, writing version 1 with
// the note. The config belongs to the project's owner.
func (s *Store) CreateConfig(ctx context.Context, u User, projectID int64, name string, doc []byte, note string) (Config, error) {
	name, err := cleanName("config name", name)
	if err != nil {
		return Config{}, err
	}
	if err := checkText("note", note, MaxNoteLen, true); err != nil {
		return Config{}, err
	}
	if err := checkDoc(doc); err != nil {
		return Config{}, err
	}
	var c Config
	err = s.tx(ctx, func(tx *sql.Tx) error {
		p, err := s.project(ctx, tx, u, projectID)
		if err != nil {
			return err
		}
		now := millis(s.now())
		c, err = scanConfig(tx.QueryRowContext(ctx, s.q(
			"INSERT INTO configs (project_id, owner_id, name, doc, revision, updated, updated_by) VALUES (?, ?, ?, ?, 1, ?, ?) RETURNING "+configCols),
			p.ID, p.OwnerID, name, doc, now, u.Name), false)
		if err != nil {
			return dbErr("create config", err)
		}
		c.Doc = doc
		return s.insertVersion(ctx, tx, c, note)
	})
	return c, err
}

// insertVersion writes c's document as version c.Revision.
func (s *Store) insertVersion(ctx context.Context, tx *sql.Tx, c Config, note string) error {
	if _, err := tx.ExecContext(ctx, s.q(
		"INSERT INTO versions (config_id, number, name, author, note, created, doc) VALUES (?, ?, ?, ?, ?, ?, ?)"),
		c.ID, c.Revision, c.Name, c.UpdatedBy, note, millis(c.Updated), c.Doc); err != nil {
		return dbErr("write version", err)
	}
	return nil
}

// SaveConfig writes a new version of a config if its revision is still
// baseRevision; otherwise it writes nothing and returns ErrConflict. An empty
// name keeps the config's name.
func (s *Store) SaveConfig(ctx context.Context, u User, id, baseRevision int64, name string, doc []byte, note string) (Config, error) {
	if name != "" {
		var err error
		if name, err = cleanName("config name", name); err != nil {
			return Config{}, err
		}
	}
	if err := checkText("note", note, MaxNoteLen, true); err != nil {
		return Config{}, err
	}
	if err := checkDoc(doc); err != nil {
		return Config{}, err
	}
	var c Config
	err := s.tx(ctx, func(tx *sql.Tx) error {
		var err error
		c, err = s.update(ctx, tx, u, id, baseRevision, name, doc)
		if err != nil {
			return err
		}
		return s.insertVersion(ctx, tx, c, note)
	})
	return c, err
}

// update moves config id from revision base to base+1 with name (empty: kept)
// and doc. A config at another revision is ErrConflict; one u may not see is
// ErrNotFound.
func (s *Store) update(ctx context.Context, tx *sql.Tx, u User, id, base int64, name string, doc []byte) (Config, error) {
	c, err := scanConfig(tx.QueryRowContext(ctx, s.q(
		"UPDATE configs SET name = CASE WHEN ? = '' THEN name ELSE ? END, doc = ?, revision = revision + 1, updated = ?, updated_by = ? "+
			"WHERE id = ? AND revision = ? AND "+visible+" RETURNING "+configCols),
		append(args(name, name, doc, millis(s.now()), u.Name, id, base), who(u)...)...), false)
	if errors.Is(err, sql.ErrNoRows) {
		cur, err := s.config(ctx, tx, u, id, "")
		if err != nil {
			return Config{}, err
		}
		return Config{}, fmt.Errorf("store: config %q is at revision %d, not %d: %w", cur.Name, cur.Revision, base, ErrConflict)
	}
	if err != nil {
		return Config{}, dbErr("save config", err)
	}
	c.Doc = doc
	return c, nil
}

// DeleteConfig deletes a config and its versions (its activations stay in the
// log).
func (s *Store) DeleteConfig(ctx context.Context, u User, id int64) error {
	return s.tx(ctx, func(tx *sql.Tx) error {
		if _, err := s.config(ctx, tx, u, id, s.forUpdate()); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM versions WHERE config_id = ?"), id); err != nil {
			return dbErr("delete config", err)
		}
		if _, err := tx.ExecContext(ctx, s.q("DELETE FROM configs WHERE id = ?"), id); err != nil {
			return dbErr("delete config", err)
		}
		return nil
	})
}

// Versions lists a config's versions, newest first, with Doc empty.
func (s *Store) Versions(ctx context.Context, u User, id int64) ([]Version, error) {
	if _, err := s.Config(ctx, u, id); err != nil {
		return nil, err
	}
	rows, err := s.db.QueryContext(ctx, s.q("SELECT config_id, number, name, author, note, created FROM versions WHERE config_id = ? ORDER BY number DESC"), id)
	if err != nil {
		return nil, dbErr("versions", err)
	}
	defer rows.Close()
	var out []Version
	for rows.Next() {
		var (
			v       Version
			created int64
		)
		if err := rows.Scan(&v.ConfigID, &v.Number, &v.Name, &v.Author, &v.Note, &created); err != nil {
			return nil, dbErr("versions", err)
		}
		v.Created = fromMillis(created)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, dbErr("versions", err)
	}
	return out, nil
}

// Version returns version n of a config, with its document.
func (s *Store) Version(ctx context.Context, u User, id, n int64) (Version, error) {
	return s.version(ctx, s.db, u, id, n)
}

func (s *Store) version(ctx context.Context, q querier, u User, id, n int64) (Version, error) {
	if _, err := s.config(ctx, q, u, id, ""); err != nil {
		return Version{}, err
	}
	var (
		v       Version
		created int64
	)
	err := q.QueryRowContext(ctx, s.q("SELECT config_id, number, name, author, note, created, doc FROM versions WHERE config_id = ? AND number = ?"), id, n).
		Scan(&v.ConfigID, &v.Number, &v.Name, &v.Author, &v.Note, &created, &v.Doc)
	if err != nil {
		return Version{}, dbErr(fmt.Sprintf("config %d version %d", id, n), err)
	}
	v.Created = fromMillis(created)
	return v, nil
}

// Restore writes a new version of a config holding version n's document (and
// name); history is never rewritten. An empty note becomes "restored version
// n".
func (s *Store) Restore(ctx context.Context, u User, id, n int64, note string) (Config, error) {
	if note == "" {
		note = fmt.Sprintf("restored version %d", n)
	}
	if err := checkText("note", note, MaxNoteLen, true); err != nil {
		return Config{}, err
	}
	var c Config
	err := s.tx(ctx, func(tx *sql.Tx) error {
		cur, err := s.config(ctx, tx, u, id, s.forUpdate())
		if err != nil {
			return err
		}
		v, err := s.version(ctx, tx, u, id, n)
		if err != nil {
			return err
		}
		if c, err = s.update(ctx, tx, u, id, cur.Revision, v.Name, v.Doc); err != nil {
			return err
		}
		return s.insertVersion(ctx, tx, c, note)
	})
	return c, err
}
