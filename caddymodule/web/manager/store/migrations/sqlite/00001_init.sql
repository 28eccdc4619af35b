-- The Config Manager's schema (SQLite). Times are Unix milliseconds.
-- +goose Up
CREATE TABLE setup (
	id      INTEGER PRIMARY KEY CHECK (id = 1),
	done_at INTEGER NOT NULL
);
CREATE TABLE users (
	id            INTEGER PRIMARY KEY AUTOINCREMENT,
	name          TEXT    NOT NULL,
	name_key      TEXT    NOT NULL UNIQUE,
	role          TEXT    NOT NULL CHECK (role IN ('admin', 'user')),
	blocked       INTEGER NOT NULL DEFAULT 0,
	password_hash TEXT    NOT NULL,
	created       INTEGER NOT NULL
);
CREATE TABLE sessions (
	token_hash TEXT    PRIMARY KEY,
	user_id    INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
	created    INTEGER NOT NULL,
	expires    INTEGER NOT NULL
);
CREATE INDEX sessions_user ON sessions (user_id);
CREATE INDEX sessions_expires ON sessions (expires);
CREATE TABLE login_failures (
	kind TEXT    NOT NULL,
	key  TEXT    NOT NULL,
	at   INTEGER NOT NULL
);
CREATE INDEX login_failures_key ON login_failures (kind, key, at);
CREATE TABLE projects (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	owner_id   INTEGER NOT NULL REFERENCES users (id),
	name       TEXT    NOT NULL,
	is_default INTEGER NOT NULL DEFAULT 0,
	created    INTEGER NOT NULL,
	UNIQUE (owner_id, name)
);
CREATE UNIQUE INDEX projects_default ON projects (owner_id) WHERE is_default = 1;
CREATE TABLE configs (
	id         INTEGER PRIMARY KEY AUTOINCREMENT,
	project_id INTEGER NOT NULL REFERENCES projects (id),
	owner_id   INTEGER NOT NULL REFERENCES users (id),
	name       TEXT    NOT NULL,
	doc        BLOB    NOT NULL,
	revision   INTEGER NOT NULL,
	updated    INTEGER NOT NULL,
	updated_by TEXT    NOT NULL
);
CREATE INDEX configs_project ON configs (project_id);
CREATE TABLE versions (
	config_id INTEGER NOT NULL REFERENCES configs (id) ON DELETE CASCADE,
	number    INTEGER NOT NULL,
	name      TEXT    NOT NULL,
	author    TEXT    NOT NULL,
	note      TEXT    NOT NULL,
	created   INTEGER NOT NULL,
	doc       BLOB    NOT NULL,
	PRIMARY KEY (config_id, number)
);
-- The activation log outlives the configs it names: no foreign key.
CREATE TABLE activations (
	seq       INTEGER PRIMARY KEY AUTOINCREMENT,
	config_id INTEGER NOT NULL,
	revision  INTEGER NOT NULL,
	doc       BLOB    NOT NULL,
	by_user   TEXT    NOT NULL,
	at        INTEGER NOT NULL
);

-- +goose Down
DROP TABLE activations;
DROP TABLE versions;
DROP TABLE configs;
DROP TABLE projects;
DROP TABLE login_failures;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE setup;
