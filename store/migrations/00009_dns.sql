-- +goose Up
-- Hosted zones (AWS::Route53::HostedZone), owned by dnssvc. A zone's name is
-- unique on the server, since its one DNS server answers for one zone of a
-- name. settings hold the properties that are only recorded (tags, VPCs,
-- query logging), as JSON; managed_by is the stack resource's token.
CREATE TABLE hosted_zones (
    id         TEXT PRIMARY KEY,
    project_id TEXT NOT NULL REFERENCES projects(id),
    name       TEXT NOT NULL UNIQUE,
    comment    TEXT NOT NULL DEFAULT '',
    settings   TEXT NOT NULL DEFAULT '{}',
    managed_by TEXT NOT NULL DEFAULT '',
    created_at BIGINT NOT NULL
);
CREATE INDEX hosted_zones_project ON hosted_zones (project_id, name);

-- A record set: one name and type of a zone. record_values are the
-- ResourceRecords (JSON list), alias the AliasTarget (JSON, '' when none).
CREATE TABLE record_sets (
    id            TEXT PRIMARY KEY,
    project_id    TEXT NOT NULL REFERENCES projects(id),
    zone_id       TEXT NOT NULL REFERENCES hosted_zones(id),
    name          TEXT NOT NULL,
    type          TEXT NOT NULL,
    ttl           BIGINT NOT NULL DEFAULT 0,
    record_values TEXT NOT NULL DEFAULT '[]',
    alias         TEXT NOT NULL DEFAULT '',
    settings      TEXT NOT NULL DEFAULT '{}',
    managed_by    TEXT NOT NULL DEFAULT '',
    created_at    BIGINT NOT NULL,
    UNIQUE (zone_id, name, type)
);

-- +goose Down
DROP TABLE record_sets;
DROP TABLE hosted_zones;
