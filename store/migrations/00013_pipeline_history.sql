-- +goose Up
-- A pipeline's history is listed newest first (started_at DESC, id DESC),
-- a page at a time after a cursor, and by status: both indexes give that
-- order without sorting, so a page of a long history reads only its rows.
DROP INDEX pipeline_executions_pipeline;
CREATE INDEX pipeline_executions_pipeline ON pipeline_executions (pipeline_id, started_at, id);
CREATE INDEX pipeline_executions_status ON pipeline_executions (pipeline_id, status, started_at, id);

-- +goose Down
DROP INDEX pipeline_executions_status;
DROP INDEX pipeline_executions_pipeline;
CREATE INDEX pipeline_executions_pipeline ON pipeline_executions (pipeline_id, started_at);
