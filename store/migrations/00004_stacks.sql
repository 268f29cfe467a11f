-- +goose Up
-- A stack: its status, the template and parameter values it is applying
-- (and, during an update, the ones a rollback restores), and its outputs.
CREATE TABLE stacks (
    id                   TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id),
    name                 TEXT NOT NULL,
    status               TEXT NOT NULL,
    status_reason        TEXT NOT NULL DEFAULT '',
    template_name        TEXT NOT NULL DEFAULT '',
    template             TEXT NOT NULL DEFAULT '',
    parameters           TEXT NOT NULL DEFAULT '{}',
    prev_template_name   TEXT NOT NULL DEFAULT '',
    prev_template        TEXT NOT NULL DEFAULT '',
    prev_parameters      TEXT NOT NULL DEFAULT '{}',
    tags                 TEXT NOT NULL DEFAULT '{}',
    outputs              TEXT NOT NULL DEFAULT '[]',
    job_id               BIGINT NOT NULL DEFAULT 0,
    created_at           BIGINT NOT NULL,
    updated_at           BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- One physical resource of a stack (the old side of a replacement too).
CREATE TABLE stack_resources (
    id                    TEXT PRIMARY KEY,
    stack_id              TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    logical_id            TEXT NOT NULL,
    body                  TEXT NOT NULL,
    updated_at            BIGINT NOT NULL
);
CREATE INDEX stack_resources_stack ON stack_resources (stack_id, logical_id);

CREATE TABLE stack_events (
    id          {{SERIAL}},
    stack_id    TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    logical_id  TEXT NOT NULL,
    physical_id TEXT NOT NULL DEFAULT '',
    type        TEXT NOT NULL,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    at          BIGINT NOT NULL
);
CREATE INDEX stack_events_stack ON stack_events (stack_id, id);

-- Exports are unique in a project; imports say which stack uses which.
CREATE TABLE stack_exports (
    project_id TEXT NOT NULL REFERENCES projects(id),
    name       TEXT NOT NULL,
    stack_id   TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    value      TEXT NOT NULL,
    PRIMARY KEY (project_id, name)
);
CREATE TABLE stack_imports (
    stack_id   TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    project_id TEXT NOT NULL,
    name       TEXT NOT NULL,
    PRIMARY KEY (stack_id, name)
);

-- Signals sent to resources with a CreationPolicy (cfn-signal).
CREATE TABLE stack_signals (
    id         {{SERIAL}},
    stack_id   TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    logical_id TEXT NOT NULL,
    status     TEXT NOT NULL,
    unique_id  TEXT NOT NULL DEFAULT '',
    at         BIGINT NOT NULL
);
CREATE INDEX stack_signals_resource ON stack_signals (stack_id, logical_id);

-- Change sets: a plan kept for review, then executed or deleted.
CREATE TABLE change_sets (
    id               TEXT PRIMARY KEY,
    stack_id         TEXT NOT NULL REFERENCES stacks(id) ON DELETE CASCADE,
    name             TEXT NOT NULL,
    status           TEXT NOT NULL,
    execution_status TEXT NOT NULL,
    status_reason    TEXT NOT NULL DEFAULT '',
    template_name    TEXT NOT NULL DEFAULT '',
    template         TEXT NOT NULL,
    parameters       TEXT NOT NULL DEFAULT '{}',
    changes          TEXT NOT NULL DEFAULT '[]',
    created_at       BIGINT NOT NULL,
    UNIQUE (stack_id, name)
);

-- Named artifact buckets (AWS::S3::Bucket): a namespace for artifacts in
-- the artifact store.
CREATE TABLE buckets (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name       TEXT NOT NULL UNIQUE,
    managed_by TEXT NOT NULL DEFAULT '',
    settings   TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- The stack resource (its idempotency token) that made a repository, so a
-- resumed create finds it instead of failing on the name.
ALTER TABLE repositories ADD COLUMN managed_by TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE repositories DROP COLUMN managed_by;
DROP TABLE buckets;
DROP TABLE change_sets;
DROP TABLE stack_signals;
DROP TABLE stack_imports;
DROP TABLE stack_exports;
DROP TABLE stack_events;
DROP TABLE stack_resources;
DROP TABLE stacks;
