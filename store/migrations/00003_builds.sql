-- +goose Up
-- A build project: its settings (AWS::CodeBuild::Project's fields) as JSON.
CREATE TABLE build_projects (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    settings    TEXT NOT NULL,
    next_number BIGINT NOT NULL DEFAULT 1,
    created_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- One build; phases, exported variables and artifacts are JSON.
CREATE TABLE builds (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    build_project_id TEXT NOT NULL REFERENCES build_projects(id) ON DELETE CASCADE,
    number           BIGINT NOT NULL,
    status           TEXT NOT NULL,
    source           TEXT NOT NULL,
    commit_id        TEXT NOT NULL DEFAULT '',
    initiator        TEXT NOT NULL,
    phases           TEXT NOT NULL DEFAULT '[]',
    exported         TEXT NOT NULL DEFAULT '{}',
    artifacts        TEXT NOT NULL DEFAULT '[]',
    job_id           BIGINT NOT NULL DEFAULT 0,
    log_size         BIGINT NOT NULL DEFAULT 0,
    started_at       BIGINT NOT NULL,
    ended_at         BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX builds_project ON builds (build_project_id, number);

-- The build log in chunks, in order.
CREATE TABLE build_logs (
    build_id TEXT NOT NULL REFERENCES builds(id) ON DELETE CASCADE,
    seq      BIGINT NOT NULL,
    start    BIGINT NOT NULL,
    size     BIGINT NOT NULL,
    data     TEXT NOT NULL,
    PRIMARY KEY (build_id, seq)
);

-- +goose Down
DROP TABLE build_logs;
DROP TABLE builds;
DROP TABLE build_projects;
