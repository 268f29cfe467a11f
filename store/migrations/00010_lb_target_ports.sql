-- +goose Up
-- A target is an ID and a port, as in ELBv2: one address (or instance) may
-- be registered on several ports of a group.
CREATE TABLE lb_targets_by_port (
    target_group_arn TEXT NOT NULL REFERENCES target_groups(arn) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    port             BIGINT NOT NULL,
    registered_at    BIGINT NOT NULL,
    PRIMARY KEY (target_group_arn, id, port)
);
INSERT INTO lb_targets_by_port (target_group_arn, id, port, registered_at)
    SELECT target_group_arn, id, port, registered_at FROM lb_targets;
DROP TABLE lb_targets;
ALTER TABLE lb_targets_by_port RENAME TO lb_targets;

-- +goose Down
CREATE TABLE lb_targets_by_id (
    target_group_arn TEXT NOT NULL REFERENCES target_groups(arn) ON DELETE CASCADE,
    id               TEXT NOT NULL,
    port             BIGINT NOT NULL,
    registered_at    BIGINT NOT NULL,
    PRIMARY KEY (target_group_arn, id)
);
INSERT INTO lb_targets_by_id (target_group_arn, id, port, registered_at)
    SELECT target_group_arn, id, MAX(port), MAX(registered_at) FROM lb_targets GROUP BY target_group_arn, id;
DROP TABLE lb_targets;
ALTER TABLE lb_targets_by_id RENAME TO lb_targets;
