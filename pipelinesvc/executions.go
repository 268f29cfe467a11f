package pipelinesvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/store"
)

type executionPayload struct {
	ExecutionID string `json:"execution_id"`
}

type actionPayload struct {
	ActionID string `json:"action_id"`
}

// Start starts an execution of a pipeline on its current declaration.
// dedupe, when not empty, makes a second start with the same key (the same
// push seen by another server process) a no-op that returns nil.
func (s *Service) Start(ctx context.Context, p *Pipeline, trigger Trigger, dedupe string) (*Execution, error) {
	decl, _ := json.Marshal(p.Declaration)
	e := &Execution{ID: store.NewID(), PipelineID: p.ID, Status: InProgress, Trigger: trigger, Version: p.Version,
		StartedAt: time.Now().UTC().Truncate(time.Millisecond)}
	trig, _ := json.Marshal(trigger)
	var key any
	if dedupe != "" {
		key = dedupe
	}
	started := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		// A new execution queues for the first stage at once, so that
		// executions enter it in the order they started, whichever of
		// their first steps runs first.
		res, err := tx.ExecContext(ctx, `INSERT INTO pipeline_executions (id, pipeline_id, status, trigger, declaration, version, stage, waiting, dedupe, started_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT (dedupe) DO NOTHING`,
			e.ID, p.ID, InProgress, string(trig), string(decl), p.Version, p.Declaration.Stages[0].Name, key, store.Millis(e.StartedAt))
		if err != nil {
			return fmt.Errorf("start %s: %w", p.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return nil
		}
		started = true
		return s.enqueueAdvance(ctx, tx, e.ID)
	})
	if err != nil || !started {
		return nil, err
	}
	return s.Execution(ctx, e.ID)
}

func (s *Service) enqueueAdvance(ctx context.Context, tx *store.Tx, execID string) error {
	_, err := s.cfg.Jobs.EnqueueTx(ctx, tx, advanceJob, executionPayload{ExecutionID: execID}, jobs.MaxAttempts(50))
	return err
}

const executionColumns = `id, pipeline_id, status, reason, trigger, declaration, version, stage, waiting, artifacts, variables, revisions, started_at, ended_at`

func scanExecution(row interface{ Scan(...any) error }) (*Execution, error) {
	var e Execution
	var trig, decl, arts, vars, revs string
	var waiting, started, ended int64
	if err := row.Scan(&e.ID, &e.PipelineID, &e.Status, &e.Reason, &trig, &decl, &e.Version, &e.Stage, &waiting,
		&arts, &vars, &revs, &started, &ended); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(trig), &e.Trigger), json.Unmarshal([]byte(decl), &e.decl),
		json.Unmarshal([]byte(arts), &e.Artifacts), json.Unmarshal([]byte(vars), &e.Variables),
		json.Unmarshal([]byte(revs), &e.Revisions)); err != nil {
		return nil, fmt.Errorf("execution %s: %w", e.ID, err)
	}
	e.Waiting = waiting != 0
	e.StartedAt = store.Time(started)
	if ended != 0 {
		e.EndedAt = store.Time(ended)
	}
	return &e, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

func (s *Service) execution(ctx context.Context, q querier, id string) (*Execution, error) {
	e, err := scanExecution(q.QueryRowContext(ctx, `SELECT `+executionColumns+` FROM pipeline_executions WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("execution %s: %w", id, store.ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if e.Actions, err = s.actions(ctx, q, id); err != nil {
		return nil, err
	}
	for i := range e.Actions {
		if act := findAction(e.decl, e.Actions[i].Stage, e.Actions[i].Action); act != nil {
			e.Actions[i].Category, e.Actions[i].Provider = string(act.ActionTypeID.Category), act.ActionTypeID.Provider
		}
	}
	return e, nil
}

// Execution returns an execution with its actions: the whole picture.
func (s *Service) Execution(ctx context.Context, id string) (*Execution, error) {
	return s.execution(ctx, s.db, id)
}

// Executions lists a pipeline's executions, newest first.
func (s *Service) Executions(ctx context.Context, p *Pipeline, limit int) ([]Execution, error) {
	return s.ListExecutions(ctx, p, ExecutionQuery{Limit: limit})
}

// ExecutionQuery picks a page of a pipeline's history.
type ExecutionQuery struct {
	// Limit is the most executions to return: 1 to 1000, 100 otherwise.
	Limit int
	// Status keeps the executions with this status only (InProgress,
	// Stopping, Succeeded, Failed, Superseded or Stopped); "" keeps all.
	Status string
	// Before keeps the executions listed after this one (the listing's
	// order is started_at DESC, id DESC): the last one of a page names the
	// next page. It must be an execution of the same pipeline.
	Before string
}

// executionStatuses are the statuses an execution can have, which
// ExecutionQuery.Status may name.
func executionStatuses() []string {
	return []string{InProgress, Stopping, Succeeded, Failed, Superseded, Stopped}
}

// ListExecutions lists a page of a pipeline's executions, newest first.
// The indexes on (pipeline_id, started_at, id) and (pipeline_id, status,
// started_at, id) serve it in that order, so a page costs the same at the
// end of a long history as at its start.
func (s *Service) ListExecutions(ctx context.Context, p *Pipeline, q ExecutionQuery) ([]Execution, error) {
	if all := executionStatuses(); q.Status != "" && !slices.Contains(all, q.Status) {
		return nil, fmt.Errorf("%w: status %q: an execution's status is one of %s", ErrInvalid, q.Status, strings.Join(all, ", "))
	}
	var before *executionCursor
	if q.Before != "" {
		var at int64
		err := s.db.QueryRowContext(ctx, `SELECT started_at FROM pipeline_executions WHERE id = ? AND pipeline_id = ?`, q.Before, p.ID).Scan(&at)
		if errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("%w: before: %s is no execution of pipeline %s", ErrInvalid, q.Before, p.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("list executions of %s: %w", p.Name, err)
		}
		before = &executionCursor{at: at, id: q.Before}
	}
	query, args := executionsQuery(p.ID, q, before)
	rows, err := s.db.QueryContext(ctx, query, args...)
	if err != nil {
		return nil, fmt.Errorf("list executions of %s: %w", p.Name, err)
	}
	defer rows.Close()
	out := []Execution{}
	for rows.Next() {
		e, err := scanExecution(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *e)
	}
	return out, rows.Err()
}

// executionCursor is the place in the listing's order of the execution a
// page starts after.
type executionCursor struct {
	at int64
	id string
}

// executionsQuery is the query of a page of executions. The cursor's
// condition is written so that its first part bounds the index range
// (started_at <= at), which a plain OR would not.
func executionsQuery(pipelineID string, q ExecutionQuery, before *executionCursor) (string, []any) {
	limit := q.Limit
	if limit <= 0 || limit > 1000 {
		limit = 100
	}
	var b strings.Builder
	b.WriteString(`SELECT ` + executionColumns + ` FROM pipeline_executions WHERE pipeline_id = ?`)
	args := []any{pipelineID}
	if q.Status != "" {
		b.WriteString(` AND status = ?`)
		args = append(args, q.Status)
	}
	if before != nil {
		b.WriteString(` AND started_at <= ? AND (started_at < ? OR id < ?)`)
		args = append(args, before.at, before.at, before.id)
	}
	b.WriteString(` ORDER BY started_at DESC, id DESC LIMIT ?`)
	return b.String(), append(args, limit)
}

// ActionTarget is what an action's attempt ran as, for a client to show
// or link to.
type ActionTarget struct {
	// Kind is build (a CodeBuild build), deployment (a CodeDeploy
	// deployment), stack (a CloudFormation stack) or repository (a
	// CodeCommit source).
	Kind string `json:"kind"`
	// Name is the build's or the deployment's ID, the stack's or the
	// repository's name.
	Name string `json:"name"`
	// Commit is the commit a source action took.
	Commit string `json:"commit,omitempty"`
}

// Target says what attempt a of e ran as, from its provider and its
// configuration in the declaration e runs on and what the attempt
// recorded; nil when there is nothing to point to (an approval, a build
// not started yet).
func (e *Execution) Target(a *ActionExecution) *ActionTarget {
	if e.decl == nil {
		return nil
	}
	act := findAction(e.decl, a.Stage, a.Action)
	if act == nil {
		return nil
	}
	cfg := act.Configuration
	switch act.ActionTypeID.Provider {
	case pipeline.CodeCommit:
		commit := a.ExternalID // the commit the attempt resolved
		if commit == "" {
			commit = a.Variables["CommitId"]
		}
		return &ActionTarget{Kind: "repository", Name: cfg["RepositoryName"], Commit: commit}
	case pipeline.CodeBuild:
		if a.ExternalID != "" {
			return &ActionTarget{Kind: "build", Name: a.ExternalID}
		}
	case pipeline.CloudFormation:
		if cfg["StackName"] != "" {
			return &ActionTarget{Kind: "stack", Name: cfg["StackName"]}
		}
	case pipeline.CodeDeploy:
		if id, ok := strings.CutPrefix(a.ExternalID, "deployment:"); ok && id != "" {
			return &ActionTarget{Kind: "deployment", Name: id}
		}
	}
	return nil
}

const actionColumns = `id, execution_id, stage, action, attempt, status, summary, error, external_id, outputs, variables, decision, started_at, ended_at`

func scanAction(row interface{ Scan(...any) error }) (*ActionExecution, error) {
	var a ActionExecution
	var outs, vars, dec string
	var started, ended int64
	if err := row.Scan(&a.ID, &a.ExecutionID, &a.Stage, &a.Action, &a.Attempt, &a.Status, &a.Summary, &a.Error, &a.ExternalID,
		&outs, &vars, &dec, &started, &ended); err != nil {
		return nil, err
	}
	var d Decision
	if err := errors.Join(json.Unmarshal([]byte(outs), &a.Outputs), json.Unmarshal([]byte(vars), &a.Variables), json.Unmarshal([]byte(dec), &d)); err != nil {
		return nil, fmt.Errorf("action %s: %w", a.ID, err)
	}
	if d.By != "" {
		a.Decision = &d
	}
	a.StartedAt = store.Time(started)
	if ended != 0 {
		a.EndedAt = store.Time(ended)
	}
	return &a, nil
}

func (s *Service) actions(ctx context.Context, q querier, execID string) ([]ActionExecution, error) {
	rows, err := q.QueryContext(ctx, `SELECT `+actionColumns+` FROM pipeline_actions WHERE execution_id = ? ORDER BY started_at, stage, action, attempt`, execID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []ActionExecution{}
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// latest returns the latest attempt of each action of a stage.
func latest(actions []ActionExecution, stage string) map[string]ActionExecution {
	out := map[string]ActionExecution{}
	for _, a := range actions {
		if a.Stage == stage && a.Attempt >= out[a.Action].Attempt {
			out[a.Action] = a
		}
	}
	return out
}

// terminal reports whether an execution or action status is final.
func terminal(status string) bool {
	return status != InProgress && status != Stopping && status != Pending
}

// advanceHandler is the job that takes an execution's next step.
func (s *Service) advanceHandler(ctx context.Context, job *jobs.Job) error {
	var pl executionPayload
	if err := job.Decode(&pl); err != nil {
		return jobs.Permanent(err)
	}
	err := s.db.Tx(ctx, func(tx *store.Tx) error { return s.advance(ctx, tx, pl.ExecutionID) })
	if errors.Is(err, store.ErrNotFound) {
		return nil // deleted with its pipeline
	}
	return err
}

// advance takes an execution's next steps, in the caller's transaction.
func (s *Service) advance(ctx context.Context, tx *store.Tx, execID string) error {
	var pipelineID string
	if err := store.Scan(tx.QueryRowContext(ctx, `SELECT pipeline_id FROM pipeline_executions WHERE id = ?`, execID), &pipelineID); err != nil {
		return err
	}
	// The pipeline's row lock serialises every step of its executions.
	if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET seq = seq + 1 WHERE id = ?`, pipelineID); err != nil {
		return err
	}
	e, err := s.execution(ctx, tx, execID)
	if err != nil || terminal(e.Status) {
		return err
	}
	stages := e.decl.Stages
	switch {
	case e.Status == Stopping && (e.Waiting || e.Stage == ""):
		return s.finish(ctx, tx, e, Stopped, e.Reason)
	case e.Stage == "":
		return s.enter(ctx, tx, e, stages[0].Name)
	case e.Waiting:
		return s.enter(ctx, tx, e, e.Stage)
	}
	return s.step(ctx, tx, e)
}

// enter takes the stage for e, or makes e wait for it. In SUPERSEDED mode
// (the default) one execution waits in front of a stage: a newer one
// replaces it. In QUEUED mode they all wait, and enter in the order they
// started. In PARALLEL mode no execution waits for another.
func (s *Service) enter(ctx context.Context, tx *store.Tx, e *Execution, stage string) error {
	mode := e.decl.ExecutionMode
	if mode == pipeline.Parallel {
		return s.take(ctx, tx, e, stage)
	}
	var holder, waiter, disabled string
	if err := store.Scan(tx.QueryRowContext(ctx, `SELECT holder, waiter FROM pipeline_stages WHERE pipeline_id = ? AND stage = ?`, e.PipelineID, stage), &holder, &waiter); err != nil {
		return fmt.Errorf("stage %s: %w", stage, err)
	}
	if err := store.Scan(tx.QueryRowContext(ctx, `SELECT disabled FROM pipelines WHERE id = ?`, e.PipelineID), &disabled); err != nil {
		return err
	}
	var dis map[string]string
	_ = json.Unmarshal([]byte(disabled), &dis)
	_, isDisabled := dis[stage]
	free := (holder == "" || holder == e.ID) && !isDisabled
	if free && mode == pipeline.Queued {
		// Executions queued in front of the stage before e go first.
		var first string
		err := tx.QueryRowContext(ctx, `SELECT id FROM pipeline_executions WHERE pipeline_id = ? AND stage = ? AND waiting = 1 AND status = ?
			ORDER BY started_at, id LIMIT 1`, e.PipelineID, stage, InProgress).Scan(&first)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return err
		}
		if first != "" && first != e.ID {
			// The stage is free but an older execution queues for it: let
			// that one in (its wake-up may have come before it queued).
			if err := s.enqueueAdvance(ctx, tx, first); err != nil {
				return err
			}
			free = false
		}
	}
	if free {
		if waiter == e.ID {
			waiter = ""
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_stages SET holder = ?, waiter = ? WHERE pipeline_id = ? AND stage = ?`, e.ID, waiter, e.PipelineID, stage); err != nil {
			return err
		}
		return s.take(ctx, tx, e, stage)
	}
	if mode == pipeline.Queued {
		_, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET stage = ?, waiting = 1 WHERE id = ?`, stage, e.ID)
		return err
	}
	if waiter != "" && waiter != e.ID {
		older, err := s.execution(ctx, tx, waiter)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		case older.StartedAt.After(e.StartedAt) || older.StartedAt.Equal(e.StartedAt) && older.ID > e.ID:
			// The one already waiting is the newer: e is the one overtaken.
			return s.finish(ctx, tx, e, Superseded, "overtaken by the newer execution "+older.ID+" waiting for stage "+stage)
		default:
			if err := s.finish(ctx, tx, older, Superseded, "overtaken by the newer execution "+e.ID+" waiting for stage "+stage); err != nil {
				return err
			}
		}
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pipeline_stages SET waiter = ? WHERE pipeline_id = ? AND stage = ?`, e.ID, e.PipelineID, stage); err != nil {
		return err
	}
	_, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET stage = ?, waiting = 1 WHERE id = ?`, stage, e.ID)
	return err
}

// take puts e in the stage and starts its work there.
func (s *Service) take(ctx context.Context, tx *store.Tx, e *Execution, stage string) error {
	if _, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET stage = ?, waiting = 0 WHERE id = ?`, stage, e.ID); err != nil {
		return err
	}
	e.Stage, e.Waiting = stage, false
	return s.step(ctx, tx, e)
}

// step runs the stage e holds: the next RunOrder group, or leaving the
// stage when every group succeeded (or failing it). A stopping execution
// starts nothing more and ends Stopped once its running actions are done.
func (s *Service) step(ctx context.Context, tx *store.Tx, e *Execution) error {
	st := e.decl.Stage(e.Stage)
	done := latest(e.Actions, e.Stage)
	for _, group := range st.Groups() {
		var toStart []*pipeline.Action
		running := false
		for _, a := range group {
			ax, ok := done[a.Name]
			switch {
			case !ok || ax.Status == Pending:
				toStart = append(toStart, a)
			case ax.Status == InProgress:
				running = true
			case ax.Status != Succeeded:
				if err := s.release(ctx, tx, e, e.Stage); err != nil {
					return err
				}
				if e.Status == Stopping {
					return s.finish(ctx, tx, e, Stopped, e.Reason)
				}
				return s.finish(ctx, tx, e, Failed, fmt.Sprintf("action %s of stage %s failed: %s", a.Name, e.Stage, ax.Error))
			}
		}
		if e.Status == Stopping {
			if running {
				return nil
			}
			if err := s.release(ctx, tx, e, e.Stage); err != nil {
				return err
			}
			return s.finish(ctx, tx, e, Stopped, e.Reason)
		}
		if len(toStart) > 0 {
			for _, a := range toStart {
				if err := s.startAction(ctx, tx, e, a, done[a.Name]); err != nil {
					return err
				}
			}
			return nil
		}
		if running {
			return nil
		}
	}
	// The stage succeeded.
	if err := s.release(ctx, tx, e, e.Stage); err != nil {
		return err
	}
	for i, x := range e.decl.Stages {
		if x.Name == e.Stage && i+1 < len(e.decl.Stages) {
			return s.enter(ctx, tx, e, e.decl.Stages[i+1].Name)
		}
	}
	return s.finish(ctx, tx, e, Succeeded, "")
}

// release frees a stage e holds and wakes the execution waiting for it
// (in QUEUED mode, the first in the queue).
func (s *Service) release(ctx context.Context, tx *store.Tx, e *Execution, stage string) error {
	switch e.decl.ExecutionMode {
	case pipeline.Parallel:
		return nil
	case pipeline.Queued:
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_stages SET holder = '' WHERE pipeline_id = ? AND stage = ? AND holder = ?`, e.PipelineID, stage, e.ID); err != nil {
			return err
		}
		var next string
		err := tx.QueryRowContext(ctx, `SELECT id FROM pipeline_executions WHERE pipeline_id = ? AND stage = ? AND waiting = 1 AND status = ?
			ORDER BY started_at, id LIMIT 1`, e.PipelineID, stage, InProgress).Scan(&next)
		if errors.Is(err, sql.ErrNoRows) {
			return nil
		}
		if err != nil {
			return err
		}
		return s.enqueueAdvance(ctx, tx, next)
	}
	var waiter string
	if err := store.Scan(tx.QueryRowContext(ctx, `SELECT waiter FROM pipeline_stages WHERE pipeline_id = ? AND stage = ?`, e.PipelineID, stage), &waiter); err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE pipeline_stages SET holder = '' WHERE pipeline_id = ? AND stage = ? AND holder = ?`, e.PipelineID, stage, e.ID); err != nil {
		return err
	}
	if waiter != "" {
		return s.enqueueAdvance(ctx, tx, waiter)
	}
	return nil
}

func (s *Service) finish(ctx context.Context, tx *store.Tx, e *Execution, status, reason string) error {
	if e.Waiting || status == Superseded {
		// It leaves the waiting place it had.
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_stages SET waiter = '' WHERE pipeline_id = ? AND waiter = ?`, e.PipelineID, e.ID); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, `UPDATE pipeline_executions SET status = ?, reason = ?, ended_at = ? WHERE id = ? AND status IN (?, ?)`,
		status, reason, store.Millis(time.Now()), e.ID, InProgress, Stopping)
	e.Status, e.Reason = status, reason
	return err
}

// startAction starts an action: its Pending attempt (a retry), or a first
// one, and enqueues its job; a manual approval has no job but a timeout.
func (s *Service) startAction(ctx context.Context, tx *store.Tx, e *Execution, a *pipeline.Action, pending ActionExecution) error {
	now := time.Now()
	id := pending.ID
	if pending.Status == Pending {
		if _, err := tx.ExecContext(ctx, `UPDATE pipeline_actions SET status = ?, started_at = ? WHERE id = ?`, InProgress, store.Millis(now), id); err != nil {
			return err
		}
	} else {
		id = store.NewID()
		if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_actions (id, execution_id, stage, action, attempt, status, started_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			id, e.ID, e.Stage, a.Name, 1, InProgress, store.Millis(now)); err != nil {
			return fmt.Errorf("start action %s: %w", a.Name, err)
		}
	}
	if a.ActionTypeID.Category == pipeline.Approval {
		timeout := time.Duration(a.TimeoutInMinutes) * time.Minute
		if timeout <= 0 {
			timeout = DefaultApprovalTimeout
		}
		_, err := s.cfg.Jobs.EnqueueTx(ctx, tx, approvalTimeoutJob, actionPayload{ActionID: id}, jobs.RunAt(now.Add(timeout)))
		return err
	}
	_, err := s.cfg.Jobs.EnqueueTx(ctx, tx, actionJob, actionPayload{ActionID: id}, jobs.MaxAttempts(50))
	return err
}
