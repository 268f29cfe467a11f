-- +goose Up
-- The audit log is read newest first, filtered by actor (the console's
-- and the CLI's filter): one user's entries without a scan of everyone's.
CREATE INDEX audit_log_actor ON audit_log (actor, id);

-- +goose Down
DROP INDEX audit_log_actor;
