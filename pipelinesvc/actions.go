package pipelinesvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/store"
)

const approvalTimeoutJob = "pipeline.approval_timeout"

// DefaultApprovalTimeout is how long a manual approval waits, as on AWS.
const DefaultApprovalTimeout = 7 * 24 * time.Hour

// ActionRun is one attempt at an action, as its provider sees it.
type ActionRun struct {
	ExecutionID, PipelineName, ProjectID, Stage string
	Action                                      *pipeline.Action
	// Configuration is the action's, with #{Namespace.Variable} resolved.
	Configuration map[string]string
	// Inputs are the action's input artifacts by name.
	Inputs map[string]Artifact
	// Trigger started the execution (a push names its commit).
	Trigger Trigger
	// ExternalID is what an earlier attempt of this run recorded (a build
	// ID, a commit): a resumed run continues that instead of starting anew.
	ExternalID string
	// Record saves the external ID before the provider starts something
	// that must not be started twice.
	Record func(ctx context.Context, externalID string) error
}

// ActionResult is what a succeeded action produced.
type ActionResult struct {
	Outputs   map[string]Artifact
	Variables map[string]string
	Summary   string
	Revision  *Revision
}

// An ActionProvider runs one kind of action (by ActionTypeId provider). Run
// may take long (a build); it is run again after a crash, with the
// ExternalID it recorded, and must then continue rather than repeat.
type ActionProvider interface {
	Run(ctx context.Context, r *ActionRun) (*ActionResult, error)
}

// actionHandler is the job that runs one action.
func (s *Service) actionHandler(ctx context.Context, job *jobs.Job) error {
	var pl actionPayload
	if err := job.Decode(&pl); err != nil {
		return jobs.Permanent(err)
	}
	a, err := scanAction(s.db.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM pipeline_actions WHERE id = ?`, pl.ActionID))
	if err != nil {
		if errors.Is(err, sql.ErrNoRows) {
			return nil // gone with its pipeline
		}
		return err
	}
	if terminal(a.Status) {
		return nil
	}
	e, err := s.Execution(ctx, a.ExecutionID)
	if err != nil {
		return err
	}
	if terminal(e.Status) {
		return s.complete(ctx, a, Abandoned, nil, "the execution ended "+e.Status)
	}
	var p struct{ ProjectID, Name string }
	if err := store.Scan(s.db.QueryRowContext(ctx, `SELECT project_id, name FROM pipelines WHERE id = ?`, e.PipelineID), &p.ProjectID, &p.Name); err != nil {
		return err
	}
	act := findAction(e.decl, a.Stage, a.Action)
	if act == nil {
		return s.complete(ctx, a, Failed, nil, "the action is no longer declared")
	}
	prov := s.cfg.Providers[act.ActionTypeID.Provider]
	if prov == nil {
		return s.complete(ctx, a, Failed, nil, fmt.Sprintf("actions of provider %s are not yet available in Slipway", act.ActionTypeID.Provider))
	}
	cfg, err := resolveConfiguration(act, e)
	if err != nil {
		return s.complete(ctx, a, Failed, nil, err.Error())
	}
	inputs := map[string]Artifact{}
	for _, in := range act.InputArtifacts {
		art, ok := e.Artifacts[in.Name]
		if !ok {
			return s.complete(ctx, a, Failed, nil, "input artifact "+in.Name+" was not produced")
		}
		inputs[in.Name] = art
	}
	run := &ActionRun{ExecutionID: e.ID, PipelineName: p.Name, ProjectID: p.ProjectID, Stage: a.Stage, Action: act,
		Configuration: cfg, Inputs: inputs, Trigger: e.Trigger, ExternalID: a.ExternalID,
		Record: func(ctx context.Context, id string) error {
			_, err := s.db.ExecContext(ctx, `UPDATE pipeline_actions SET external_id = ? WHERE id = ?`, id, a.ID)
			return err
		}}
	res, err := prov.Run(ctx, run)
	if cause := context.Cause(ctx); ctx.Err() != nil && (errors.Is(cause, jobs.ErrLeaseLost) || errors.Is(cause, jobs.ErrShutdown)) {
		return cause // run again where it is picked up next
	}
	if err != nil {
		return s.complete(ctx, a, Failed, nil, err.Error())
	}
	return s.complete(ctx, a, Succeeded, res, "")
}

func findAction(d *pipeline.Declaration, stage, name string) *pipeline.Action {
	st := d.Stage(stage)
	if st == nil {
		return nil
	}
	for _, a := range st.Actions {
		if a.Name == name {
			return a
		}
	}
	return nil
}

// resolveConfiguration substitutes the variables of earlier actions, the
// pipeline's and codepipeline's in the action's configuration.
func resolveConfiguration(a *pipeline.Action, e *Execution) (map[string]string, error) {
	lookup := func(ns, name string) (string, bool) {
		if ns == "codepipeline" && name == "PipelineExecutionId" {
			return e.ID, true
		}
		if ns == "variables" {
			for _, v := range e.decl.Variables {
				if v.Name == name {
					return v.DefaultValue, true
				}
			}
		}
		v, ok := e.Variables[ns][name]
		return v, ok
	}
	out := map[string]string{}
	for k, v := range a.Configuration {
		r, err := pipeline.SubstituteVariables(v, lookup)
		if err != nil {
			return nil, fmt.Errorf("configuration %s: %w", k, err)
		}
		out[k] = r
	}
	return out, nil
}

// complete records an action's end and asks for the execution's next step.
func (s *Service) complete(ctx context.Context, a *ActionExecution, status string, res *ActionResult, msg string) error {
	ctx = context.WithoutCancel(ctx)
	return s.db.Tx(ctx, func(tx *store.Tx) error {
		outs, vars, summary := map[string]Artifact{}, map[string]string{}, ""
		if res != nil {
			outs, vars, summary = nonNilMap(res.Outputs), nonNilVars(res.Variables), res.Summary
		}
		o, _ := json.Marshal(outs)
		v, _ := json.Marshal(vars)
		r, err := tx.ExecContext(ctx, `UPDATE pipeline_actions SET status = ?, summary = ?, error = ?, outputs = ?, variables = ?, ended_at = ?
			WHERE id = ? AND status = ?`, status, summary, msg, string(o), string(v), store.Millis(time.Now()), a.ID, InProgress)
		if err != nil {
			return err
		}
		if n, _ := r.RowsAffected(); n == 0 {
			return nil // decided already (an approval, or a timeout)
		}
		if status == Succeeded && res != nil {
			if err := s.merge(ctx, tx, a, res); err != nil {
				return err
			}
		}
		return s.enqueueAdvance(ctx, tx, a.ExecutionID)
	})
}

func nonNilMap(m map[string]Artifact) map[string]Artifact {
	if m == nil {
		return map[string]Artifact{}
	}
	return m
}

func nonNilVars(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}

// merge adds an action's artifacts, variables and revision to its execution.
func (s *Service) merge(ctx context.Context, tx *store.Tx, a *ActionExecution, res *ActionResult) error {
	e, err := s.execution(ctx, tx, a.ExecutionID)
	if err != nil {
		return err
	}
	if e.Artifacts == nil {
		e.Artifacts = map[string]Artifact{}
	}
	maps.Copy(e.Artifacts, res.Outputs)
	if act := findAction(e.decl, a.Stage, a.Action); act != nil && act.Namespace != "" && len(res.Variables) > 0 {
		if e.Variables == nil {
			e.Variables = map[string]map[string]string{}
		}
		e.Variables[act.Namespace] = res.Variables
	}
	if res.Revision != nil {
		e.Revisions = append(e.Revisions, *res.Revision)
	}
	arts, _ := json.Marshal(e.Artifacts)
	vars, _ := json.Marshal(e.Variables)
	revs, _ := json.Marshal(e.Revisions)
	_, err = tx.ExecContext(ctx, `UPDATE pipeline_executions SET artifacts = ?, variables = ?, revisions = ? WHERE id = ?`,
		string(arts), string(vars), string(revs), e.ID)
	return err
}

// TagApproverNotAuthor, set to "true" among a pipeline's Tags, refuses a
// decision on an approval by the user whose push (or start) began the
// execution: the author of a change may not let it through alone.
const TagApproverNotAuthor = "slipway:approver-not-author"

func approverMustDiffer(d *pipeline.Declaration) bool {
	for _, t := range d.Tags {
		if t.Key == TagApproverNotAuthor && strings.EqualFold(t.Value, "true") {
			return true
		}
	}
	return false
}

// Decide approves or rejects the manual approval waiting at stage/action
// of a pipeline. execID picks one execution; without it, the only one
// waiting there is meant, and several are an error listing them.
// Authorisation is the caller's.
func (s *Service) Decide(ctx context.Context, p *Pipeline, stage, action, execID string, approve bool, by, comment string) (*ActionExecution, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+actionColumns+` FROM pipeline_actions WHERE status = ? AND stage = ? AND action = ?
		AND execution_id IN (SELECT id FROM pipeline_executions WHERE pipeline_id = ? AND status = ?)`, InProgress, stage, action, p.ID, InProgress)
	if err != nil {
		return nil, err
	}
	var waiting []*ActionExecution
	for rows.Next() {
		a, err := scanAction(rows)
		if err != nil {
			rows.Close()
			return nil, err
		}
		if execID == "" || a.ExecutionID == execID {
			waiting = append(waiting, a)
		}
	}
	rows.Close()
	if act := findAction(p.Declaration, stage, action); act == nil || act.ActionTypeID.Category != pipeline.Approval {
		return nil, fmt.Errorf("%w: pipeline %s has no approval action %s in stage %s", ErrInvalid, p.Name, action, stage)
	}
	switch len(waiting) {
	case 0:
		return nil, fmt.Errorf("%w: no execution of pipeline %s waits for approval %s/%s", ErrState, p.Name, stage, action)
	case 1:
	default:
		ids := make([]string, len(waiting))
		for i, a := range waiting {
			ids[i] = a.ExecutionID
		}
		slices.Sort(ids)
		return nil, fmt.Errorf("%w: several executions wait for approval %s/%s: %s; choose one with --execution", ErrState, stage, action, strings.Join(ids, ", "))
	}
	a := waiting[0]
	if approverMustDiffer(p.Declaration) {
		e, err := s.Execution(ctx, a.ExecutionID)
		if err != nil {
			return nil, err
		}
		if e.Trigger.By != "" && e.Trigger.By == by {
			return nil, fmt.Errorf("%w: %s started execution %s and may not decide its approval: pipeline %s asks for another approver (tag %s)",
				ErrNotAllowed, by, e.ID, p.Name, TagApproverNotAuthor)
		}
	}
	d := Decision{Approved: approve, By: by, Comment: comment, At: time.Now().UTC().Truncate(time.Millisecond)}
	status, msg := Succeeded, ""
	if !approve {
		status, msg = Failed, "rejected by "+by
		if comment != "" {
			msg += ": " + comment
		}
	}
	db, _ := json.Marshal(d)
	if _, err := s.db.ExecContext(ctx, `UPDATE pipeline_actions SET decision = ? WHERE id = ? AND status = ?`, string(db), a.ID, InProgress); err != nil {
		return nil, err
	}
	summary := "approved by " + by
	if !approve {
		summary = "rejected by " + by
	}
	if err := s.complete(ctx, a, status, &ActionResult{Summary: summary}, msg); err != nil {
		return nil, err
	}
	a.Status, a.Decision, a.Error = status, &d, msg
	return a, nil
}

// approvalTimeoutHandler fails an approval nobody decided in time.
func (s *Service) approvalTimeoutHandler(ctx context.Context, job *jobs.Job) error {
	var pl actionPayload
	if err := job.Decode(&pl); err != nil {
		return jobs.Permanent(err)
	}
	a, err := scanAction(s.db.QueryRowContext(ctx, `SELECT `+actionColumns+` FROM pipeline_actions WHERE id = ?`, pl.ActionID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil // gone with its pipeline
	}
	if err != nil {
		return err
	}
	if terminal(a.Status) {
		return nil
	}
	return s.complete(ctx, a, Failed, nil, "the approval timed out: nobody approved or rejected it in time")
}
