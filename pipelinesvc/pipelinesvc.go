// Package pipelinesvc keeps pipelines and runs their executions: the
// declarations (validated by package pipeline), executions started by a push
// or by hand, and the orchestration of stages and actions as durable jobs,
// so that a server killed at any point resumes every running execution.
//
// Orchestration is a reconciliation: an "advance" job looks at what an
// execution's actions have done and takes the next step (start the next
// RunOrder group, leave a stage, enter the next one or wait for it); an
// "action" job runs one action through its provider and then asks for an
// advance. Every step changes the database in one transaction, under the
// pipeline's row lock, so two steps of one pipeline never interleave.
package pipelinesvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/store"
)

// Job kinds.
const (
	advanceJob = "pipeline.advance"
	actionJob  = "pipeline.action"
)

// Execution and action statuses, as CodePipeline has them.
const (
	InProgress = "InProgress"
	Succeeded  = "Succeeded"
	Failed     = "Failed"
	Superseded = "Superseded"
	Stopped    = "Stopped"
	Stopping   = "Stopping"
	Abandoned  = "Abandoned"
	// Pending is an action attempt a retry made, to start when its stage
	// is held and its RunOrder group comes.
	Pending = "Pending"
)

// Errors callers branch on.
var (
	// ErrInvalid wraps a malformed declaration or request.
	ErrInvalid = errors.New("invalid")
	// ErrState says the pipeline or execution cannot do that now.
	ErrState = errors.New("pipeline state")
	// ErrNotAllowed says the pipeline's own rules refuse this user.
	ErrNotAllowed = errors.New("not allowed")
)

// Pipeline is a pipeline as stored.
type Pipeline struct {
	ID          string                `json:"id"`
	ProjectID   string                `json:"project_id"`
	Name        string                `json:"name"`
	Version     int64                 `json:"version"`
	Declaration *pipeline.Declaration `json:"declaration"`
	// Disabled maps a stage whose inbound transition is disabled to why.
	Disabled  map[string]string `json:"disabled_transitions"`
	CreatedAt time.Time         `json:"created_at"`
	UpdatedAt time.Time         `json:"updated_at"`
}

// Artifact is an artifact of an execution in the artifact store.
type Artifact struct {
	Digest string `json:"digest"`
	Size   int64  `json:"size"`
}

// Revision is the source revision an execution runs on.
type Revision struct {
	Action     string `json:"action"`
	Repository string `json:"repository"`
	Branch     string `json:"branch"`
	Commit     string `json:"commit"`
}

// Trigger says what started an execution: a push (with the ref it
// updated and the new commit) or a start by hand.
type Trigger struct {
	Type       string `json:"type"`
	By         string `json:"by"`
	Repository string `json:"repository,omitempty"`
	Ref        string `json:"ref,omitempty"`
	New        string `json:"commit,omitempty"`
}

// Trigger types, as CodePipeline names them: a CodeCommit push arrives as
// an (EventBridge) event.
const (
	TriggerPush   = "CloudWatchEvent"
	TriggerManual = "StartPipelineExecution"
	TriggerCreate = "CreatePipeline"
	TriggerUpdate = "UpdatePipeline"
)

// Execution is one run of a pipeline.
type Execution struct {
	ID         string                       `json:"id"`
	PipelineID string                       `json:"pipeline_id"`
	Status     string                       `json:"status"`
	Reason     string                       `json:"reason,omitempty"`
	Trigger    Trigger                      `json:"trigger"`
	Version    int64                        `json:"pipeline_version"`
	Stage      string                       `json:"stage"`
	Waiting    bool                         `json:"waiting"`
	Artifacts  map[string]Artifact          `json:"artifacts"`
	Variables  map[string]map[string]string `json:"variables"`
	Revisions  []Revision                   `json:"revisions"`
	Actions    []ActionExecution            `json:"actions"`
	StartedAt  time.Time                    `json:"started_at"`
	EndedAt    time.Time                    `json:"ended_at,omitzero"`

	decl *pipeline.Declaration
}

// ActionExecution is one attempt at one action.
type ActionExecution struct {
	ID         string              `json:"id"`
	Stage      string              `json:"stage"`
	Action     string              `json:"action"`
	Attempt    int                 `json:"attempt"`
	Status     string              `json:"status"`
	Summary    string              `json:"summary,omitempty"`
	Error      string              `json:"error,omitempty"`
	ExternalID string              `json:"external_id,omitempty"`
	Outputs    map[string]Artifact `json:"outputs"`
	Variables  map[string]string   `json:"variables"`
	Decision   *Decision           `json:"decision,omitempty"`
	StartedAt  time.Time           `json:"started_at"`
	EndedAt    time.Time           `json:"ended_at,omitzero"`
	// ExecutionID is the execution the attempt belongs to.
	ExecutionID string `json:"execution_id"`
	// Category and Provider are the action's type, as the execution's
	// declaration had it.
	Category string `json:"category,omitempty"`
	Provider string `json:"provider,omitempty"`
}

// Decision is the outcome of a manual approval.
type Decision struct {
	Approved bool      `json:"approved"`
	By       string    `json:"by"`
	Comment  string    `json:"comment"`
	At       time.Time `json:"at"`
}

// Config is what a Service needs besides the database.
type Config struct {
	Jobs *jobs.Engine
	// Repos answers which files a push changed, for file path filters.
	Repos *repo.Service
	// Providers run actions, by ActionTypeId provider name.
	Providers map[string]ActionProvider
	Log       *slog.Logger
}

// Service owns the pipeline tables.
type Service struct {
	db  *store.DB
	cfg Config
}

// New returns the pipeline service.
func New(db *store.DB, cfg Config) *Service {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	return &Service{db: db, cfg: cfg}
}

// Register makes the job engine run the orchestration.
func (s *Service) Register(e *jobs.Engine) {
	e.Register(advanceJob, s.advanceHandler)
	e.Register(actionJob, s.actionHandler)
	e.Register(approvalTimeoutJob, s.approvalTimeoutHandler)
}

// Create validates and stores a pipeline declaration.
func (s *Service) Create(ctx context.Context, projectID string, d *pipeline.Declaration) (*Pipeline, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	disabled := map[string]string{}
	for _, t := range d.DisableInboundStageTransitions {
		disabled[t.StageName] = t.Reason
	}
	dis, _ := json.Marshal(disabled)
	now := time.Now().UTC().Truncate(time.Millisecond)
	p := &Pipeline{ID: store.NewID(), ProjectID: projectID, Name: d.Name, Version: 1, Declaration: d, Disabled: disabled, CreatedAt: now, UpdatedAt: now}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO pipelines (id, project_id, name, declaration, disabled, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			p.ID, projectID, d.Name, string(body), string(dis), store.Millis(now), store.Millis(now)); err != nil {
			return fmt.Errorf("pipeline %s: %w", d.Name, err)
		}
		for _, st := range d.Stages {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_stages (pipeline_id, stage) VALUES (?, ?)`, p.ID, st.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Update replaces a pipeline's declaration. Running executions finish on
// the declaration they started with; new ones take this one.
func (s *Service) Update(ctx context.Context, projectID string, d *pipeline.Declaration) (*Pipeline, error) {
	if err := d.Validate(); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	body, err := json.Marshal(d)
	if err != nil {
		return nil, err
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		var id string
		if err := store.Scan(tx.QueryRowContext(ctx, `SELECT id FROM pipelines WHERE project_id = ? AND name = ?`, projectID, d.Name), &id); err != nil {
			return fmt.Errorf("pipeline %s: %w", d.Name, err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE pipelines SET declaration = ?, version = version + 1, updated_at = ? WHERE id = ?`,
			string(body), store.Millis(time.Now()), id); err != nil {
			return err
		}
		for _, st := range d.Stages {
			if _, err := tx.ExecContext(ctx, `INSERT INTO pipeline_stages (pipeline_id, stage) VALUES (?, ?) ON CONFLICT DO NOTHING`, id, st.Name); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, projectID, d.Name)
}

const pipelineColumns = `id, project_id, name, version, declaration, disabled, created_at, updated_at`

func scanPipeline(row interface{ Scan(...any) error }) (*Pipeline, error) {
	var p Pipeline
	var decl, dis string
	var created, updated int64
	if err := row.Scan(&p.ID, &p.ProjectID, &p.Name, &p.Version, &decl, &dis, &created, &updated); err != nil {
		return nil, err
	}
	if err := errors.Join(json.Unmarshal([]byte(decl), &p.Declaration), json.Unmarshal([]byte(dis), &p.Disabled)); err != nil {
		return nil, fmt.Errorf("pipeline %s: %w", p.Name, err)
	}
	p.CreatedAt, p.UpdatedAt = store.Time(created), store.Time(updated)
	return &p, nil
}

// Get returns a pipeline by name.
func (s *Service) Get(ctx context.Context, projectID, name string) (*Pipeline, error) {
	p, err := scanPipeline(s.db.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE project_id = ? AND name = ?`, projectID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s: %w", name, store.ErrNotFound)
	}
	return p, err
}

// PipelineByID returns a pipeline by its ID.
func (s *Service) PipelineByID(ctx context.Context, id string) (*Pipeline, error) {
	p, err := scanPipeline(s.db.QueryRowContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("pipeline %s: %w", id, store.ErrNotFound)
	}
	return p, err
}

// List returns a project's pipelines by name.
func (s *Service) List(ctx context.Context, projectID string) ([]Pipeline, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+pipelineColumns+` FROM pipelines WHERE project_id = ? ORDER BY name`, projectID)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	out := []Pipeline{}
	for rows.Next() {
		p, err := scanPipeline(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *p)
	}
	return out, rows.Err()
}

// Delete removes a pipeline and its history; running actions stop at
// their next step.
func (s *Service) Delete(ctx context.Context, projectID, name string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM pipelines WHERE project_id = ? AND name = ?`, projectID, name)
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return fmt.Errorf("pipeline %s: %w", name, store.ErrNotFound)
	}
	return nil
}
