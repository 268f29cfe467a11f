package client

import (
	"context"
	"encoding/json"
	"net/url"
	"strconv"
	"time"
)

// Pipeline is a pipeline as the server keeps it.
type Pipeline struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	Version   int64  `json:"version"`
	// Declaration is the declaration in CloudFormation's property names
	// (AWS::CodePipeline::Pipeline); it reads back as a declaration file.
	Declaration json.RawMessage `json:"declaration"`
	// Disabled maps a stage whose inbound transition is disabled to why.
	Disabled  map[string]string `json:"disabled_transitions"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
	// Permissions say what the caller may do to it (read, write, approve,
	// admin); only a single pipeline's answer has them.
	Permissions map[string]bool `json:"permissions,omitempty"`
}

// PipelineArtifact is an artifact of an execution in the artifact store.
type PipelineArtifact struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// PipelineRevision is a source revision an execution runs on.
type PipelineRevision struct {
	Action     string `json:"action"`
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Commit     string `json:"commit"`
}

// PipelineTrigger says what started an execution: a push
// (CloudWatchEvent, with the ref and commit), a start by hand
// (StartPipelineExecution), or the stack that made or changed the pipeline
// (CreatePipeline, UpdatePipeline).
type PipelineTrigger struct {
	Type       string `json:"type"`
	By         string `json:"by"`
	Repository string `json:"repository,omitempty"`
	Ref        string `json:"ref,omitempty"`
	Commit     string `json:"commit,omitempty"`
}

// PipelineExecution is one run of a pipeline. Listings leave Actions out.
type PipelineExecution struct {
	ID         string `json:"id"`
	PipelineID string `json:"pipeline_id"`
	Pipeline   string `json:"pipeline"`
	// Status is InProgress, Stopping, Succeeded, Failed, Superseded or
	// Stopped.
	Status  string          `json:"status"`
	Reason  string          `json:"reason,omitempty"`
	Trigger PipelineTrigger `json:"trigger"`
	Version int64           `json:"pipeline_version"`
	// Stage is the stage it is in or, when Waiting, waits to enter.
	Stage     string                       `json:"stage"`
	Waiting   bool                         `json:"waiting"`
	Artifacts map[string]PipelineArtifact  `json:"artifacts"`
	Variables map[string]map[string]string `json:"variables"`
	Revisions []PipelineRevision           `json:"revisions"`
	Actions   []ActionExecution            `json:"actions"`
	StartedAt time.Time                    `json:"started_at"`
	EndedAt   time.Time                    `json:"ended_at,omitzero"`
}

// ActionExecution is one attempt at one action of an execution.
type ActionExecution struct {
	ID      string `json:"id"`
	Stage   string `json:"stage"`
	Action  string `json:"action"`
	Attempt int    `json:"attempt"`
	// Status is Pending, InProgress, Succeeded, Failed or Abandoned.
	Status  string `json:"status"`
	Summary string `json:"summary,omitempty"`
	Error   string `json:"error,omitempty"`
	// ExternalID is what the action runs as: a build ID, a commit.
	ExternalID string                      `json:"external_id,omitempty"`
	Outputs    map[string]PipelineArtifact `json:"outputs"`
	Variables  map[string]string           `json:"variables"`
	Decision   *Decision                   `json:"decision,omitempty"`
	StartedAt  time.Time                   `json:"started_at"`
	EndedAt    time.Time                   `json:"ended_at,omitzero"`
	// ExecutionID is the execution the attempt belongs to.
	ExecutionID string `json:"execution_id"`
	// Category (Source, Build, Deploy, Approval, ...) and Provider
	// (CodeCommit, CodeBuild, Manual, ...) are the action's type, as the
	// execution's declaration has it.
	Category string `json:"category,omitempty"`
	Provider string `json:"provider,omitempty"`
	// Target is what the attempt ran as (nil for an approval, or a build
	// not started yet).
	Target *ActionTarget `json:"target,omitempty"`
}

// ActionTarget is what an action's attempt ran as.
type ActionTarget struct {
	// Kind is build, deployment, stack or repository.
	Kind string `json:"kind"`
	// Name is the build's or the deployment's ID, the stack's or the
	// repository's name.
	Name string `json:"name"`
	// Commit is the commit a source action took.
	Commit string `json:"commit,omitempty"`
}

// Decision is the outcome of a manual approval.
type Decision struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
}

// ApprovalDecision approves or rejects the manual approval waiting at
// Stage/Action.
type ApprovalDecision struct {
	Stage  string `json:"stage"`
	Action string `json:"action"`
	// ExecutionID picks one execution when several wait there.
	ExecutionID string `json:"execution_id,omitempty"`
	Approved    bool   `json:"approved"`
	Comment     string `json:"comment,omitempty"`
}

func pipelinesPath(project string) string { return "/api/v1/projects/" + esc(project) + "/pipelines" }

func pipelinePath(project, name string) string { return pipelinesPath(project) + "/" + esc(name) }

// CreatePipeline creates a pipeline from a declaration in JSON.
func (c *Client) CreatePipeline(ctx context.Context, project string, declaration json.RawMessage) (*Pipeline, error) {
	var out Pipeline
	return &out, c.Do(ctx, "POST", pipelinesPath(project), declaration, &out)
}

// ListPipelines lists the project's pipelines the caller can read, by name.
func (c *Client) ListPipelines(ctx context.Context, project string) ([]Pipeline, error) {
	var out []Pipeline
	return out, c.Do(ctx, "GET", pipelinesPath(project), nil, &out)
}

// GetPipeline returns a pipeline.
func (c *Client) GetPipeline(ctx context.Context, project, name string) (*Pipeline, error) {
	var out Pipeline
	return &out, c.Do(ctx, "GET", pipelinePath(project, name), nil, &out)
}

// DeletePipeline deletes a pipeline and its executions.
func (c *Client) DeletePipeline(ctx context.Context, project, name string) error {
	return c.Do(ctx, "DELETE", pipelinePath(project, name), nil, nil)
}

// StartPipeline starts an execution of a pipeline by hand.
func (c *Client) StartPipeline(ctx context.Context, project, name string) (*PipelineExecution, error) {
	var out PipelineExecution
	return &out, c.Do(ctx, "POST", pipelinePath(project, name)+"/executions", nil, &out)
}

// ListPipelineExecutions lists a pipeline's executions, newest first, at
// most limit (0: the server's default, 100).
func (c *Client) ListPipelineExecutions(ctx context.Context, project, name string, limit int) ([]PipelineExecution, error) {
	return c.PipelineExecutions(ctx, project, name, ExecutionListOptions{Limit: limit})
}

// ExecutionListOptions picks a page of a pipeline's history.
type ExecutionListOptions struct {
	// Limit is the most executions (0: the server's default, 100; at most
	// 1000).
	Limit int
	// Status keeps those of this status only (InProgress, Stopping,
	// Succeeded, Failed, Superseded, Stopped).
	Status string
	// Before is an execution of the pipeline: only those listed after it.
	// The next page is Before the last execution of a page.
	Before string
}

// PipelineExecutions lists a page of a pipeline's executions, newest
// first (by start, then ID), without their actions.
func (c *Client) PipelineExecutions(ctx context.Context, project, name string, o ExecutionListOptions) ([]PipelineExecution, error) {
	q := url.Values{}
	if o.Limit > 0 {
		q.Set("limit", strconv.Itoa(o.Limit))
	}
	if o.Status != "" {
		q.Set("status", o.Status)
	}
	if o.Before != "" {
		q.Set("before", o.Before)
	}
	p := pipelinePath(project, name) + "/executions"
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	var out []PipelineExecution
	return out, c.Do(ctx, "GET", p, nil, &out)
}

// GetPipelineExecution returns an execution with its actions.
func (c *Client) GetPipelineExecution(ctx context.Context, project, id string) (*PipelineExecution, error) {
	var out PipelineExecution
	return &out, c.Do(ctx, "GET", executionPath(project, id), nil, &out)
}

// DecideApproval approves or rejects a manual approval of a pipeline and
// returns the decided action.
func (c *Client) DecideApproval(ctx context.Context, project, pipeline string, d *ApprovalDecision) (*ActionExecution, error) {
	var out ActionExecution
	return &out, c.Do(ctx, "POST", pipelinePath(project, pipeline)+"/approvals", d, &out)
}

// Retry modes of RetryStage, as CodePipeline's RetryStageExecution has them.
const (
	RetryFailedActions = "FAILED_ACTIONS"
	RetryAllActions    = "ALL_ACTIONS"
)

func executionPath(project, id string) string {
	return "/api/v1/projects/" + esc(project) + "/pipeline-executions/" + esc(id)
}

// RetryStage runs the failed stage of an execution again, on the same
// execution: its failed actions (RetryFailedActions, also for "") or all
// of them (RetryAllActions).
func (c *Client) RetryStage(ctx context.Context, project, id, stage, mode string) (*PipelineExecution, error) {
	var out PipelineExecution
	return &out, c.Do(ctx, "POST", executionPath(project, id)+"/retry", map[string]string{"stage": stage, "mode": mode}, &out)
}

// StopPipelineExecution stops an execution: its running actions finish
// (Stopping, then Stopped), or with abandon are abandoned at once.
func (c *Client) StopPipelineExecution(ctx context.Context, project, id string, abandon bool, reason string) (*PipelineExecution, error) {
	var out PipelineExecution
	body := struct {
		Abandon bool   `json:"abandon"`
		Reason  string `json:"reason,omitempty"`
	}{abandon, reason}
	return &out, c.Do(ctx, "POST", executionPath(project, id)+"/stop", body, &out)
}

// stageTransition is the body of .../transitions.
type stageTransition struct {
	Stage   string `json:"stage"`
	Enabled bool   `json:"enabled"`
	Reason  string `json:"reason,omitempty"`
}

// DisableStageTransition makes executions wait in front of a stage; the
// reason shows with the pipeline.
func (c *Client) DisableStageTransition(ctx context.Context, project, pipeline, stage, reason string) error {
	return c.Do(ctx, "POST", pipelinePath(project, pipeline)+"/transitions", stageTransition{stage, false, reason}, nil)
}

// EnableStageTransition lets executions into a stage again, those waiting
// in front of it first.
func (c *Client) EnableStageTransition(ctx context.Context, project, pipeline, stage string) error {
	return c.Do(ctx, "POST", pipelinePath(project, pipeline)+"/transitions", stageTransition{stage, true, ""}, nil)
}
