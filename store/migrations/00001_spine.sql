-- +goose Up
CREATE TABLE projects (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE,
    description TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL
);

CREATE TABLE users (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL UNIQUE,
    password_hash TEXT NOT NULL DEFAULT '',
    site_admin    INTEGER NOT NULL DEFAULT 0,
    created_at    BIGINT NOT NULL
);

CREATE TABLE teams (
    id         TEXT PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    created_at BIGINT NOT NULL
);

CREATE TABLE team_members (
    team_id TEXT NOT NULL REFERENCES teams(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    PRIMARY KEY (team_id, user_id)
);

CREATE TABLE tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    name         TEXT NOT NULL DEFAULT '',
    hash         TEXT NOT NULL UNIQUE,
    created_at   BIGINT NOT NULL,
    last_used_at BIGINT NOT NULL DEFAULT 0
);

-- A grant gives a role on one resource (or on a whole project) to a user or a team.
CREATE TABLE grants (
    id            TEXT PRIMARY KEY,
    subject_kind  TEXT NOT NULL,
    subject_id    TEXT NOT NULL,
    resource_kind TEXT NOT NULL,
    resource_id   TEXT NOT NULL,
    project_id    TEXT NOT NULL,
    role          TEXT NOT NULL,
    created_at    BIGINT NOT NULL,
    UNIQUE (subject_kind, subject_id, resource_kind, resource_id)
);
CREATE INDEX grants_resource ON grants (resource_kind, resource_id);
CREATE INDEX grants_subject ON grants (subject_id, project_id);

CREATE TABLE audit_log (
    id          {{SERIAL}},
    at          BIGINT NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    remote_addr TEXT NOT NULL,
    outcome     TEXT NOT NULL,
    status      INTEGER NOT NULL
);

-- path is the bare repository's directory relative to the repositories root,
-- fixed at creation so that renaming a project never loses its repositories.
CREATE TABLE repositories (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    path        TEXT NOT NULL UNIQUE,
    created_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

CREATE TABLE push_events (
    id         {{SERIAL}},
    repo_id    TEXT NOT NULL REFERENCES repositories(id) ON DELETE CASCADE,
    ref        TEXT NOT NULL,
    old_commit TEXT NOT NULL,
    new_commit TEXT NOT NULL,
    pusher     TEXT NOT NULL,
    at         BIGINT NOT NULL
);
CREATE INDEX push_events_repo ON push_events (repo_id, id);

-- Platform events, delivered to every server process sharing this database.
CREATE TABLE events (
    id      {{SERIAL}},
    topic   TEXT NOT NULL,
    payload TEXT NOT NULL,
    at      BIGINT NOT NULL
);

CREATE TABLE jobs (
    id           {{SERIAL}},
    kind         TEXT NOT NULL,
    payload      TEXT NOT NULL,
    state        TEXT NOT NULL,
    attempt      INTEGER NOT NULL DEFAULT 0,
    max_attempts INTEGER NOT NULL,
    run_at       BIGINT NOT NULL,
    lease_owner  TEXT NOT NULL DEFAULT '',
    lease_until  BIGINT NOT NULL DEFAULT 0,
    last_error   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    finished_at  BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX jobs_ready ON jobs (state, run_at);

-- One row per periodic job: whoever moves next_run_at forward runs it.
CREATE TABLE periodic (
    name        TEXT PRIMARY KEY,
    next_run_at BIGINT NOT NULL
);

-- +goose Down
DROP TABLE periodic;
DROP TABLE jobs;
DROP TABLE events;
DROP TABLE push_events;
DROP TABLE repositories;
DROP TABLE audit_log;
DROP TABLE grants;
DROP TABLE tokens;
DROP TABLE team_members;
DROP TABLE teams;
DROP TABLE users;
DROP TABLE projects;
