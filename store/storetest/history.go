package storetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
)

// PipelineHistory writes n executions of the pipeline name straight into
// its tables
// (the orchestration would take minutes to make that many), every tenth
// failed, each with a succeeded source attempt that recorded its commit.
// It returns the newest one's ID.
func PipelineHistory(tb testing.TB, db *store.DB, projectID, name string, n int) string {
	tb.Helper()
	ctx := context.Background()
	var pipelineID, decl string
	if err := db.QueryRowContext(ctx, `SELECT id, declaration FROM pipelines WHERE project_id = ? AND name = ?`, projectID, name).Scan(&pipelineID, &decl); err != nil {
		tb.Fatal(err)
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	newest := ""
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for i := range n {
			id := fmt.Sprintf("h%06d", i)
			status := "Succeeded"
			if i%10 == 3 {
				status = "Failed"
			}
			at := start.Add(time.Duration(i) * time.Minute)
			commit := fmt.Sprintf("%040x", i)
			trig := fmt.Sprintf(`{"type":"CloudWatchEvent","by":"bob","repository":"app","ref":"refs/heads/main","commit":%q}`, commit)
			if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_executions (id, pipeline_id, status, trigger, declaration, version, stage, started_at, ended_at)
				VALUES (?, ?, ?, ?, ?, 1, 'Approve', ?, ?)`, id, pipelineID, status, trig, decl, store.Millis(at), store.Millis(at.Add(90*time.Second))); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_actions (id, execution_id, stage, action, attempt, status, summary, external_id, started_at, ended_at)
				VALUES (?, ?, 'Source', 'Source', 1, 'Succeeded', ?, ?, ?, ?)`, "a"+id, id, "commit "+commit, commit, store.Millis(at), store.Millis(at.Add(time.Second))); err != nil {
				return err
			}
			newest = id
		}
		return nil
	})
	if err != nil {
		tb.Fatal(err)
	}
	return newest
}
