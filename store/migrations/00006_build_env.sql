-- +goose Up
-- Environment variables given when a build starts (a pipeline's CodeBuild
-- action), over the project's; JSON like the project's.
ALTER TABLE builds ADD COLUMN env TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE builds DROP COLUMN env;
