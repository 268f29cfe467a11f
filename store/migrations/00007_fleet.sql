-- +goose Up
-- Launch configurations (AWS::AutoScaling::LaunchConfiguration): what an
-- instance is launched with. Immutable, as on AWS: a change is a new one.
CREATE TABLE launch_configurations (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    managed_by TEXT NOT NULL DEFAULT '',
    image_id TEXT NOT NULL,
    instance_type TEXT NOT NULL,
    user_data TEXT NOT NULL DEFAULT '',
    settings TEXT NOT NULL DEFAULT '{}',
    created_at BIGINT NOT NULL
);

-- Instance groups (AWS::AutoScaling::AutoScalingGroup).
CREATE TABLE instance_groups (
    id TEXT PRIMARY KEY,
    project_id TEXT NOT NULL,
    name TEXT NOT NULL UNIQUE,
    managed_by TEXT NOT NULL DEFAULT '',
    stack_name TEXT NOT NULL DEFAULT '',
    logical_id TEXT NOT NULL DEFAULT '',
    launch_configuration TEXT NOT NULL,
    min_size INTEGER NOT NULL,
    max_size INTEGER NOT NULL,
    desired INTEGER NOT NULL,
    health_check_type TEXT NOT NULL DEFAULT 'EC2',
    grace_seconds INTEGER NOT NULL DEFAULT 0,
    target_groups TEXT NOT NULL DEFAULT '[]',
    settings TEXT NOT NULL DEFAULT '{}',
    deleting INTEGER NOT NULL DEFAULT 0,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);

-- Instances: local hosts launched by a group. token_hash is the SHA-256 of
-- the instance's credential (cfn-signal, and later its agent).
CREATE TABLE instances (
    id TEXT PRIMARY KEY,
    group_id TEXT NOT NULL,
    project_id TEXT NOT NULL,
    launch_configuration TEXT NOT NULL,
    state TEXT NOT NULL,
    health TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    proc TEXT NOT NULL DEFAULT '{}',
    token_hash TEXT NOT NULL UNIQUE,
    launched_at BIGINT NOT NULL,
    in_service_at BIGINT NOT NULL DEFAULT 0,
    ended_at BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX instances_group ON instances (group_id, state);

-- +goose Down
DROP TABLE instances;
DROP TABLE instance_groups;
DROP TABLE launch_configurations;
