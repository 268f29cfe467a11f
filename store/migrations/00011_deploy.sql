-- +goose Up
-- Deployments (AWS::CodeDeploy::*), owned by the deploy service. managed_by
-- is the stack resource (its idempotency token) that made a row, so a
-- resumed create finds it.
CREATE TABLE deploy_applications (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    managed_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- Custom deployment configurations; the predefined ones live in code.
CREATE TABLE deploy_configs (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    min_type    TEXT NOT NULL,
    min_value   BIGINT NOT NULL,
    managed_by  TEXT NOT NULL DEFAULT '',
    created_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- A deployment group: which instances (spec, JSON), how (config), and the
-- revision its last successful deployment left (target_revision, JSON).
CREATE TABLE deploy_groups (
    id              TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id),
    application_id  TEXT NOT NULL REFERENCES deploy_applications(id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    config          TEXT NOT NULL,
    spec            TEXT NOT NULL,
    target_revision TEXT NOT NULL DEFAULT '',
    last_success    TEXT NOT NULL DEFAULT '',
    managed_by      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    UNIQUE (application_id, name)
);

-- Revisions registered with an application: a deployment may name only
-- these by digest (a digest alone proves nothing about who may read it).
CREATE TABLE deploy_revisions (
    application_id TEXT NOT NULL REFERENCES deploy_applications(id) ON DELETE CASCADE,
    digest         TEXT NOT NULL,
    size           BIGINT NOT NULL,
    bundle_type    TEXT NOT NULL,
    description    TEXT NOT NULL DEFAULT '',
    registered_at  BIGINT NOT NULL,
    PRIMARY KEY (application_id, digest)
);

-- A deployment. active is 1 while a user's (or a rollback's) deployment of
-- the group runs: the unique index makes "one active deployment per group"
-- hold across server processes.
CREATE TABLE deployments (
    id             TEXT PRIMARY KEY,
    project_id     TEXT NOT NULL REFERENCES projects(id),
    application_id TEXT NOT NULL,
    group_id       TEXT NOT NULL,
    status         TEXT NOT NULL,
    creator        TEXT NOT NULL,
    created_by     TEXT NOT NULL DEFAULT '',
    active         BIGINT,
    revision       TEXT NOT NULL,
    options        TEXT NOT NULL,
    error_code     TEXT NOT NULL DEFAULT '',
    error_message  TEXT NOT NULL DEFAULT '',
    rollback       TEXT NOT NULL DEFAULT '{}',
    stop_requested BIGINT NOT NULL DEFAULT 0,
    created_at     BIGINT NOT NULL,
    started_at     BIGINT NOT NULL DEFAULT 0,
    ended_at       BIGINT NOT NULL DEFAULT 0
);
CREATE UNIQUE INDEX deployments_active ON deployments (group_id, active);
CREATE INDEX deployments_group ON deployments (group_id, created_at);

-- One instance of a deployment, with its lifecycle events (JSON).
CREATE TABLE deployment_targets (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    instance_id   TEXT NOT NULL,
    ord           BIGINT NOT NULL,
    status        TEXT NOT NULL,
    events        TEXT NOT NULL,
    started_at    BIGINT NOT NULL DEFAULT 0,
    ended_at      BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (deployment_id, instance_id)
);

-- Script output of a deployment's instances, in chunks.
CREATE TABLE deployment_logs (
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    instance_id   TEXT NOT NULL,
    seq           BIGINT NOT NULL,
    event         TEXT NOT NULL,
    text          TEXT NOT NULL,
    PRIMARY KEY (deployment_id, instance_id, seq)
);

-- Hosts that standalone agents registered (on-premises instances), with
-- their tags (JSON) and their credential's hash.
CREATE TABLE deploy_hosts (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    name          TEXT NOT NULL,
    tags          TEXT NOT NULL,
    token_hash    TEXT NOT NULL UNIQUE,
    registered_by TEXT NOT NULL,
    registered_at BIGINT NOT NULL,
    revoked_at    BIGINT NOT NULL DEFAULT 0,
    UNIQUE (project_id, name)
);

-- Commands for agents, one per lifecycle event of an instance in a
-- deployment, as CodeDeploy's command service has them.
CREATE TABLE deploy_commands (
    id            TEXT PRIMARY KEY,
    host_id       TEXT NOT NULL,
    deployment_id TEXT NOT NULL REFERENCES deployments(id) ON DELETE CASCADE,
    event         TEXT NOT NULL,
    status        TEXT NOT NULL,
    spec          TEXT NOT NULL,
    diagnostics   TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    acked_at      BIGINT NOT NULL DEFAULT 0,
    ended_at      BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX deploy_commands_host ON deploy_commands (host_id, status, created_at);

-- When each host's agent last spoke to the server.
CREATE TABLE deploy_agents_seen (
    host_id  TEXT PRIMARY KEY,
    seen_at  BIGINT NOT NULL
);

-- +goose Down
DROP TABLE deploy_agents_seen;
DROP TABLE deploy_commands;
DROP TABLE deploy_hosts;
DROP TABLE deployment_logs;
DROP TABLE deployment_targets;
DROP TABLE deployments;
DROP TABLE deploy_revisions;
DROP TABLE deploy_groups;
DROP TABLE deploy_configs;
DROP TABLE deploy_applications;
