-- +goose Up
-- A pipeline: its declaration (JSON, CloudFormation's property names) and
-- the disabled inbound transitions (stage name -> reason, JSON).
CREATE TABLE pipelines (
    id          TEXT PRIMARY KEY,
    project_id  TEXT NOT NULL REFERENCES projects(id),
    name        TEXT NOT NULL,
    declaration TEXT NOT NULL,
    version     BIGINT NOT NULL DEFAULT 1,
    disabled    TEXT NOT NULL DEFAULT '{}',
    seq         BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    UNIQUE (project_id, name)
);

-- One run of a pipeline, on the declaration it started with. stage is the
-- stage it is in (or waits to enter, when waiting = 1); artifacts and
-- variables are what its actions produced so far.
CREATE TABLE pipeline_executions (
    id          TEXT PRIMARY KEY,
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    status      TEXT NOT NULL,
    reason      TEXT NOT NULL DEFAULT '',
    trigger     TEXT NOT NULL DEFAULT '{}',
    declaration TEXT NOT NULL,
    version     BIGINT NOT NULL,
    stage       TEXT NOT NULL DEFAULT '',
    waiting     BIGINT NOT NULL DEFAULT 0,
    artifacts   TEXT NOT NULL DEFAULT '{}',
    variables   TEXT NOT NULL DEFAULT '{}',
    revisions   TEXT NOT NULL DEFAULT '[]',
    dedupe      TEXT UNIQUE,
    started_at  BIGINT NOT NULL,
    ended_at    BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX pipeline_executions_pipeline ON pipeline_executions (pipeline_id, started_at);

-- Which execution holds each stage (one at a time), and which one waits to
-- enter it.
CREATE TABLE pipeline_stages (
    pipeline_id TEXT NOT NULL REFERENCES pipelines(id) ON DELETE CASCADE,
    stage       TEXT NOT NULL,
    holder      TEXT NOT NULL DEFAULT '',
    waiter      TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (pipeline_id, stage)
);

-- One attempt at one action of one execution.
CREATE TABLE pipeline_actions (
    id           TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES pipeline_executions(id) ON DELETE CASCADE,
    stage        TEXT NOT NULL,
    action       TEXT NOT NULL,
    attempt      BIGINT NOT NULL,
    status       TEXT NOT NULL,
    summary      TEXT NOT NULL DEFAULT '',
    error        TEXT NOT NULL DEFAULT '',
    external_id  TEXT NOT NULL DEFAULT '',
    outputs      TEXT NOT NULL DEFAULT '{}',
    variables    TEXT NOT NULL DEFAULT '{}',
    decision     TEXT NOT NULL DEFAULT '{}',
    started_at   BIGINT NOT NULL,
    ended_at     BIGINT NOT NULL DEFAULT 0,
    UNIQUE (execution_id, stage, action, attempt)
);

-- +goose Down
DROP TABLE pipeline_actions;
DROP TABLE pipeline_stages;
DROP TABLE pipeline_executions;
DROP TABLE pipelines;
