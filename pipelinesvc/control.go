package pipelinesvc

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/slipway/slipway/store"
)

// Retry modes, as CodePipeline's RetryStageExecution has them.
const (
	RetryFailedActions = "FAILED_ACTIONS"
	RetryAllActions    = "ALL_ACTIONS"
)

// Retry runs a failed stage of an execution again, on the same execution
// with the same input artifacts: its failed actions, or all of them. The
// execution takes the stage again (or waits for it) as any execution does.
func (s *Service) Retry(ctx context.Context, p *Pipeline, execID, stage, mode string) (*Execution, error) {
	if mode == "" {
		mode = RetryFailedActions
	}
	if mode != RetryFailedActions && mode != RetryAllActions {
		return nil, fmt.Errorf("%w retry mode %q: use %s or %s", ErrInvalid, mode, RetryFailedActions, RetryAllActions)
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET seq = seq + 1 WHERE id = ?`, p.ID); err != nil {
			return err
		}
		e, err := s.execution(ctx, tx, execID)
		if err != nil {
			return err
		}
		if e.PipelineID != p.ID {
			return fmt.Errorf("execution %s: %w", execID, store.ErrNotFound)
		}
		if e.Status != Failed || e.Stage != stage {
			return fmt.Errorf("%w: only a failed stage can be retried: execution %s is %s at stage %s", ErrState, execID, e.Status, e.Stage)
		}
		if e.Version != p.Version {
			return fmt.Errorf("%w: the pipeline changed since execution %s started (version %d, now %d): start a new execution", ErrState, execID, e.Version, p.Version)
		}
		st := e.decl.Stage(stage)
		last := latest(e.Actions, stage)
		now := store.Millis(time.Now())
		for _, a := range st.Actions {
			prev, ran := last[a.Name]
			if mode == RetryFailedActions && (!ran || prev.Status == Succeeded) {
				continue
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_actions (id, execution_id, stage, action, attempt, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
				store.NewID(), e.ID, stage, a.Name, prev.Attempt+1, Pending, now); err != nil {
				return err
			}
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET status = ?, reason = '', ended_at = 0, waiting = 1 WHERE id = ?`, InProgress, e.ID); err != nil {
			return err
		}
		return s.enqueueAdvance(ctx, tx, e.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.Execution(ctx, execID)
}

// Stop stops an execution. Without abandon, its running actions finish
// and nothing new starts (Stopping, then Stopped); with abandon, they are
// abandoned at once. A waiting manual approval is abandoned either way.
func (s *Service) Stop(ctx context.Context, p *Pipeline, execID string, abandon bool, reason string) (*Execution, error) {
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET seq = seq + 1 WHERE id = ?`, p.ID); err != nil {
			return err
		}
		e, err := s.execution(ctx, tx, execID)
		if err != nil {
			return err
		}
		if e.PipelineID != p.ID {
			return fmt.Errorf("execution %s: %w", execID, store.ErrNotFound)
		}
		if e.Status != InProgress && !(e.Status == Stopping && abandon) {
			return fmt.Errorf("%w: execution %s is %s, not in progress", ErrState, execID, e.Status)
		}
		now := store.Millis(time.Now())
		for _, a := range e.Actions {
			isApproval := false
			if act := findAction(e.decl, a.Stage, a.Action); act != nil {
				isApproval = act.ActionTypeID.Category == "Approval"
			}
			if a.Status == Pending || a.Status == InProgress && (abandon || isApproval) {
				if _, err := tx.ExecContext(ctx, `UPDATE pipeline_actions SET status = ?, error = ?, ended_at = ? WHERE id = ?`,
					Abandoned, "the execution was stopped", now, a.ID); err != nil {
					return err
				}
			}
		}
		if reason == "" {
			reason = "stopped"
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET status = ?, reason = ? WHERE id = ?`, Stopping, reason, e.ID); err != nil {
			return err
		}
		return s.enqueueAdvance(ctx, tx, e.ID)
	})
	if err != nil {
		return nil, err
	}
	return s.Execution(ctx, execID)
}

// SetTransition disables (with a reason) or enables the transition into a
// stage. Executions wait at a disabled transition; enabling it lets the
// waiting ones in.
func (s *Service) SetTransition(ctx context.Context, p *Pipeline, stage string, enabled bool, reason string) error {
	if p.Declaration.Stage(stage) == nil {
		return fmt.Errorf("%w: pipeline %s has no stage %s", ErrInvalid, p.Name, stage)
	}
	if !enabled && reason == "" {
		return fmt.Errorf("%w: give a reason for disabling the transition into %s", ErrInvalid, stage)
	}
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		var raw string
		if err := store.Scan(tx.QueryRowContext(ctx, `SELECT disabled FROM pipelines WHERE id = ?`, p.ID), &raw); err != nil {
			return err
		}
		dis := map[string]string{}
		_ = json.Unmarshal([]byte(raw), &dis)
		if enabled {
			delete(dis, stage)
		} else {
			dis[stage] = reason
		}
		b, _ := json.Marshal(dis)
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET disabled = ?, seq = seq + 1 WHERE id = ?`, string(b), p.ID); err != nil {
			return err
		}
		if !enabled {
			return nil
		}
		rows, err := tx.QueryContext(ctx, `SELECT id FROM pipeline_executions WHERE pipeline_id = ? AND stage = ? AND waiting = 1 AND status = ?`, p.ID, stage, InProgress)
		if err != nil {
			return err
		}
		var waiting []string
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				rows.Close()
				return err
			}
			waiting = append(waiting, id)
		}
		rows.Close()
		for _, id := range waiting {
			if err := s.enqueueAdvance(ctx, tx, id); err != nil {
				return err
			}
		}
		return nil
	})
}
