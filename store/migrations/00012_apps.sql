-- +goose Up
-- Applications made from blueprints, owned by the application service.
-- parameters are the bound values of the blueprint's parameters (JSON);
-- approvers are "user" or "team:NAME" (JSON); expires_at is 0 for an
-- application that lives until deleted, else when its preview ends.
CREATE TABLE apps (
    id               TEXT PRIMARY KEY,
    project_id       TEXT NOT NULL REFERENCES projects(id),
    name             TEXT NOT NULL,
    blueprint        TEXT NOT NULL,
    blueprint_digest TEXT NOT NULL DEFAULT '',
    parameters       TEXT NOT NULL,
    owner_team       TEXT NOT NULL DEFAULT '',
    approvers        TEXT NOT NULL DEFAULT '[]',
    status           TEXT NOT NULL,
    status_reason    TEXT NOT NULL DEFAULT '',
    creator          TEXT NOT NULL,
    expires_at       BIGINT NOT NULL DEFAULT 0,
    created_at       BIGINT NOT NULL,
    updated_at       BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Blueprints users added to a project: the archive (a gzipped tar of the
-- blueprint's directory) is in the artifact store under digest.
CREATE TABLE blueprints (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    description TEXT NOT NULL,
    source      TEXT NOT NULL,
    digest      TEXT NOT NULL,
    created_by  TEXT NOT NULL,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- +goose Down
DROP TABLE blueprints;
DROP TABLE apps;
