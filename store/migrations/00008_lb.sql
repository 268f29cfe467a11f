-- +goose Up
-- Load balancers (AWS::ElasticLoadBalancingV2::*), owned by lbsvc. Every row
-- belongs to a project; ARNs are the primary keys. managed_by is the stack
-- resource (its idempotency token) that made a row, so a resumed create
-- finds it. settings hold the properties that are only recorded (subnets,
-- security groups, attributes, tags), as JSON.
CREATE TABLE load_balancers (
    arn             TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id),
    -- Names are unique on the server: each is a host name, NAME.lb.localhost.
    name            TEXT NOT NULL UNIQUE,
    scheme          TEXT NOT NULL,
    type            TEXT NOT NULL,
    ip_address_type TEXT NOT NULL,
    settings        TEXT NOT NULL DEFAULT '{}',
    managed_by      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL
);
CREATE INDEX load_balancers_project ON load_balancers (project_id, name);

-- A listener: a port of a load balancer and its default actions (JSON).
CREATE TABLE lb_listeners (
    arn             TEXT PRIMARY KEY,
    project_id      TEXT NOT NULL REFERENCES projects(id),
    lb_arn          TEXT NOT NULL REFERENCES load_balancers(arn) ON DELETE CASCADE,
    port            BIGINT NOT NULL,
    protocol        TEXT NOT NULL,
    default_actions TEXT NOT NULL,
    managed_by      TEXT NOT NULL DEFAULT '',
    created_at      BIGINT NOT NULL,
    UNIQUE (lb_arn, port)
);

-- A listener rule: conditions and actions as JSON.
CREATE TABLE lb_rules (
    arn          TEXT PRIMARY KEY,
    project_id   TEXT NOT NULL REFERENCES projects(id),
    listener_arn TEXT NOT NULL REFERENCES lb_listeners(arn) ON DELETE CASCADE,
    priority     BIGINT NOT NULL,
    conditions   TEXT NOT NULL,
    actions      TEXT NOT NULL,
    managed_by   TEXT NOT NULL DEFAULT '',
    created_at   BIGINT NOT NULL,
    UNIQUE (listener_arn, priority)
);

-- A target group: its health check as JSON, its deregistration delay in
-- seconds.
CREATE TABLE target_groups (
    arn                  TEXT PRIMARY KEY,
    project_id           TEXT NOT NULL REFERENCES projects(id),
    name                 TEXT NOT NULL UNIQUE,
    port                 BIGINT NOT NULL,
    protocol             TEXT NOT NULL,
    target_type          TEXT NOT NULL,
    vpc_id               TEXT NOT NULL DEFAULT '',
    health_check         TEXT NOT NULL,
    deregistration_delay BIGINT NOT NULL,
    settings             TEXT NOT NULL DEFAULT '{}',
    managed_by           TEXT NOT NULL DEFAULT '',
    created_at           BIGINT NOT NULL
);
CREATE INDEX target_groups_project ON target_groups (project_id, name);

-- The registered targets of a target group, applied again when a server
-- starts.
CREATE TABLE lb_targets (
    target_group_arn TEXT NOT NULL REFERENCES target_groups(arn) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    port             BIGINT NOT NULL,
    registered_at    BIGINT NOT NULL,
    PRIMARY KEY (target_group_arn, id)
);

-- +goose Down
DROP TABLE lb_targets;
DROP TABLE target_groups;
DROP TABLE lb_rules;
DROP TABLE lb_listeners;
DROP TABLE load_balancers;
