// Package appsvc makes applications from blueprints: with one request a
// team gets the stack of a blueprint's pipeline template (its repository,
// build project, deployment application and pipeline), the repository's
// first commit from the blueprint's starter content, which starts the
// execution that deploys the environments, and the roles of its owner team
// and approvers. An application is deleted as it was made, in reverse:
// first the environments' stacks, which import what the pipeline stack
// exports, then the pipeline stack. Creating and deleting are durable jobs;
// a preview application, made with a time to live, is deleted by a job
// scheduled for when its time runs out.
package appsvc

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/catalog"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
)

// The statuses of an application, in CloudFormation's words.
const (
	CreateInProgress = "CREATE_IN_PROGRESS"
	CreateComplete   = "CREATE_COMPLETE"
	CreateFailed     = "CREATE_FAILED"
	DeleteInProgress = "DELETE_IN_PROGRESS"
	DeleteFailed     = "DELETE_FAILED"
)

// Job kinds.
const (
	jobCreate = "app.create"
	jobDelete = "app.delete"
	jobExpire = "app.expire"
)

// Errors callers branch on.
var (
	// ErrInvalid wraps a request the service refuses as it stands: an
	// unknown blueprint, a parameter its constraints refuse.
	ErrInvalid = errors.New("invalid")
	// ErrState says the application's status does not allow the request.
	ErrState = errors.New("application state")
)

// PipelineStackSuffix names an application's pipeline stack: NAME-pipeline.
const PipelineStackSuffix = "-pipeline"

// App is an application as described to users.
type App struct {
	ID        string `json:"id"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	Blueprint string `json:"blueprint"`
	// Parameters are the values the pipeline template was given.
	Parameters   map[string]string `json:"parameters"`
	Owner        string            `json:"owner,omitempty"`
	Approvers    []string          `json:"approvers"`
	Status       string            `json:"status"`
	StatusReason string            `json:"status_reason,omitempty"`
	Creator      string            `json:"creator"`
	// ExpiresAt is when a preview application is deleted by itself.
	ExpiresAt time.Time `json:"expires_at,omitzero"`
	CreatedAt time.Time `json:"created_at"`
	UpdatedAt time.Time `json:"updated_at"`

	// What the pipeline stack made, once it has: filled by Get.
	PipelineStack string `json:"pipeline_stack"`
	Repository    string `json:"repository,omitempty"`
	CloneURL      string `json:"clone_url,omitempty"`
	Pipeline      string `json:"pipeline,omitempty"`
	// Stages are the pipeline's stages, in order.
	Stages []string `json:"stages"`
	// Environments are the stacks the pipeline's CloudFormation actions
	// deploy, in the pipeline's order.
	Environments []Environment `json:"environments"`
	// LatestExecution is the pipeline's newest execution.
	LatestExecution *Execution `json:"latest_execution,omitempty"`
}

// Environment is one environment of an application: a stack its pipeline
// deploys, such as hello-staging.
type Environment struct {
	// Name is the stack's name without the application's: staging.
	Name  string `json:"name"`
	Stack string `json:"stack"`
	// Status is the stack's, or NOT_CREATED before the pipeline first
	// deploys it.
	Status string `json:"status"`
	// URL is the stack's URL output, where the environment serves.
	URL string `json:"url,omitempty"`
	// Stage is the pipeline stage that deploys it.
	Stage string `json:"stage"`
	// Revision is the commit of the newest execution that got past Stage:
	// what the environment runs. Empty until one has.
	Revision string `json:"revision,omitempty"`
	// Execution is that execution.
	Execution string `json:"execution,omitempty"`
	// Instances counts the instances of the stack's Auto Scaling groups;
	// nil while it has none (or the server runs no fleet).
	Instances *Instances `json:"instances,omitempty"`
}

// Instances counts an environment's instances that are not terminated.
type Instances struct {
	// Groups are the Auto Scaling groups' names.
	Groups    []string `json:"groups"`
	Total     int      `json:"total"`
	InService int      `json:"in_service"`
	// Healthy are in service and pass their health checks.
	Healthy int `json:"healthy"`
}

// NotCreated is the status of an environment the pipeline has not deployed yet.
const NotCreated = "NOT_CREATED"

// Execution summarises a pipeline execution.
type Execution struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	// Stage is where it is, or where it ended.
	Stage   string `json:"stage,omitempty"`
	Trigger string `json:"trigger"`
	// Commit is the source revision it runs.
	Commit string `json:"commit,omitempty"`
}

// Config is what a Service needs.
type Config struct {
	DB        *store.DB
	Jobs      *jobs.Engine
	Stacks    *stacksvc.Service
	Pipelines *pipelinesvc.Service
	Repos     *repo.Service
	Auth      *auth.Service
	// Fleet, when set, counts each environment's instances.
	Fleet *fleet.Service
	// Artifacts holds the archives of blueprints users add.
	Artifacts artifact.Store
	// BlueprintDir caches those archives unpacked, one directory each.
	BlueprintDir string
	// WorkDir holds exports of repositories that blueprints are added from.
	WorkDir string
	Log     *slog.Logger
	// Poll is how often a job looks at the stacks and executions it waits
	// for; default 200ms.
	Poll time.Duration
}

// Service owns the application and blueprint tables.
type Service struct {
	cfg     Config
	builtin []*catalog.Blueprint
}

// New returns the application service.
func New(cfg Config) (*Service, error) {
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	if cfg.Poll <= 0 {
		cfg.Poll = 200 * time.Millisecond
	}
	builtin, err := catalog.Builtin()
	if err != nil {
		return nil, err
	}
	return &Service{cfg: cfg, builtin: builtin}, nil
}

// Register makes the job engine run the service's jobs.
func (s *Service) Register(e *jobs.Engine) {
	e.Register(jobCreate, s.runCreate)
	e.Register(jobDelete, s.runDelete)
	e.Register(jobExpire, s.runExpire)
}

// CreateInput is what an application is made from.
type CreateInput struct {
	Name      string
	Blueprint string
	// Parameters are the blueprint's, except its ApplicationName, which is
	// Name.
	Parameters map[string]string
	// Owner is a team whose members get write on the repository and the
	// pipeline.
	Owner string
	// Approvers get the approve role on the pipeline: user names, or
	// team:NAME.
	Approvers []string
	// TTL, when not zero, makes a preview application, deleted by itself
	// once TTL has passed.
	TTL time.Duration
	// Creator is the user asking; it gets admin on the application.
	Creator, CreatorID string
}

// Create records the application and starts the job that makes it.
func (s *Service) Create(ctx context.Context, pr stacksvc.Project, in CreateInput) (*App, error) {
	bp, digest, err := s.blueprint(ctx, pr.ID, in.Blueprint)
	if err != nil {
		return nil, err
	}
	if v, ok := in.Parameters[catalog.NameParameter]; ok && v != in.Name {
		return nil, fmt.Errorf("%w: the application's name is its %s; leave the parameter out or give it %q", ErrInvalid, catalog.NameParameter, in.Name)
	}
	params := map[string]string{catalog.NameParameter: in.Name}
	for k, v := range in.Parameters {
		params[k] = v
	}
	values, err := bp.Bind(params)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalid, err)
	}
	if err := stacksvc.ValidateName(in.Name + PipelineStackSuffix); err != nil {
		return nil, fmt.Errorf("%w: application name %q: %w", ErrInvalid, in.Name, err)
	}
	if in.TTL < 0 {
		return nil, fmt.Errorf("%w: a time to live must be positive, such as 24h", ErrInvalid)
	}
	if in.Owner != "" {
		if _, err := s.cfg.Auth.TeamByName(ctx, in.Owner); err != nil {
			return nil, fmt.Errorf("%w: owner: no team %q (slipway team list shows them)", ErrInvalid, in.Owner)
		}
	}
	approvers := slices.Clone(in.Approvers)
	for _, a := range approvers {
		if _, _, err := s.subject(ctx, a); err != nil {
			return nil, err
		}
	}
	slices.Sort(approvers)
	approvers = slices.Compact(approvers)

	now := time.Now().UTC()
	a := &App{ID: store.NewID(), ProjectID: pr.ID, Name: in.Name, Blueprint: bp.Name, Parameters: values,
		Owner: in.Owner, Approvers: nonNilList(approvers), Status: CreateInProgress, Creator: in.Creator,
		CreatedAt: now, UpdatedAt: now}
	if in.TTL > 0 {
		a.ExpiresAt = now.Add(in.TTL)
	}
	paramJSON, _ := json.Marshal(values)
	approverJSON, _ := json.Marshal(a.Approvers)
	err = s.cfg.DB.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, `INSERT INTO apps (id, project_id, name, blueprint, blueprint_digest, parameters, owner_team, approvers,
			status, creator, expires_at, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			a.ID, pr.ID, a.Name, a.Blueprint, digest, string(paramJSON), a.Owner, string(approverJSON), a.Status, a.Creator,
			millisOrZero(a.ExpiresAt), store.Millis(now), store.Millis(now)); err != nil {
			if errors.Is(err, store.ErrConflict) {
				return fmt.Errorf("application %s: %w (slipway app get %s shows it)", a.Name, store.ErrConflict, a.Name)
			}
			return fmt.Errorf("create application %s: %w", a.Name, err)
		}
		if _, err := s.cfg.Jobs.EnqueueTx(ctx, tx, jobCreate, payload{AppID: a.ID}, jobs.MaxAttempts(20)); err != nil {
			return err
		}
		if !a.ExpiresAt.IsZero() {
			if _, err := s.cfg.Jobs.EnqueueTx(ctx, tx, jobExpire, payload{AppID: a.ID}, jobs.RunAt(a.ExpiresAt), jobs.MaxAttempts(50)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if in.CreatorID != "" {
		if _, err := s.cfg.Auth.SetGrant(ctx, auth.SubjectUser, in.CreatorID, a.Resource(), auth.RoleAdmin); err != nil {
			return nil, err
		}
	}
	if in.Owner != "" {
		t, err := s.cfg.Auth.TeamByName(ctx, in.Owner)
		if err != nil {
			return nil, err
		}
		if _, err := s.cfg.Auth.SetGrant(ctx, auth.SubjectTeam, t.ID, a.Resource(), auth.RoleAdmin); err != nil {
			return nil, err
		}
	}
	s.cfg.Log.Info("application creation started", "app", a.Name, "blueprint", a.Blueprint, "project", pr.Name)
	return s.Get(ctx, pr.ID, a.Name)
}

// Resource is the application as auth knows it.
func (a *App) Resource() auth.Resource {
	return auth.Resource{Kind: "app", ID: a.ID, ProjectID: a.ProjectID}
}

// subject resolves "user" or "team:NAME" to a grant's subject.
func (s *Service) subject(ctx context.Context, name string) (kind, id string, err error) {
	if t, ok := strings.CutPrefix(name, "team:"); ok {
		team, err := s.cfg.Auth.TeamByName(ctx, t)
		if err != nil {
			return "", "", fmt.Errorf("%w: approver %s: no team %q (slipway team list shows them)", ErrInvalid, name, t)
		}
		return auth.SubjectTeam, team.ID, nil
	}
	u, err := s.cfg.Auth.UserByName(ctx, name)
	if err != nil {
		return "", "", fmt.Errorf("%w: approver: no user %q (name a user, or a team as team:NAME)", ErrInvalid, name)
	}
	return auth.SubjectUser, u.ID, nil
}

const appColumns = `id, project_id, name, blueprint, parameters, owner_team, approvers, status, status_reason, creator, expires_at, created_at, updated_at`

type scanner interface{ Scan(dest ...any) error }

func scanApp(row scanner) (*App, error) {
	var a App
	var params, approvers string
	var expires, created, updated int64
	if err := row.Scan(&a.ID, &a.ProjectID, &a.Name, &a.Blueprint, &params, &a.Owner, &approvers, &a.Status, &a.StatusReason,
		&a.Creator, &expires, &created, &updated); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(params), &a.Parameters); err != nil {
		return nil, fmt.Errorf("application %s: parameters: %w", a.Name, err)
	}
	if err := json.Unmarshal([]byte(approvers), &a.Approvers); err != nil {
		return nil, fmt.Errorf("application %s: approvers: %w", a.Name, err)
	}
	if expires != 0 {
		a.ExpiresAt = store.Time(expires)
	}
	a.CreatedAt, a.UpdatedAt = store.Time(created), store.Time(updated)
	a.PipelineStack = a.Name + PipelineStackSuffix
	a.Environments = []Environment{}
	a.Stages = []string{}
	return &a, nil
}

func (s *Service) app(ctx context.Context, where string, args ...any) (*App, error) {
	a, err := scanApp(s.cfg.DB.QueryRowContext(ctx, `SELECT `+appColumns+` FROM apps WHERE `+where, args...))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("application: %w", store.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("application: %w", err)
	}
	return a, nil
}

// Get returns an application with what its stacks and pipeline say now.
func (s *Service) Get(ctx context.Context, projectID, name string) (*App, error) {
	a, err := s.Find(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	if err := s.Describe(ctx, a); err != nil {
		return nil, err
	}
	return a, nil
}

// Find returns an application as recorded, without asking its stacks and
// pipeline (Describe does): enough to check who may see it.
func (s *Service) Find(ctx context.Context, projectID, name string) (*App, error) {
	return s.app(ctx, `project_id = ? AND name = ?`, projectID, name)
}

// List returns a project's applications, by name, as recorded (without
// their environments: Get describes one).
func (s *Service) List(ctx context.Context, projectID string) ([]App, error) {
	rows, err := s.cfg.DB.QueryContext(ctx, `SELECT `+appColumns+` FROM apps WHERE project_id = ? ORDER BY name`, projectID)
	if err != nil {
		return nil, fmt.Errorf("list applications: %w", err)
	}
	defer rows.Close()
	out := []App{}
	for rows.Next() {
		a, err := scanApp(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, *a)
	}
	return out, rows.Err()
}

// made is what an application's pipeline stack made.
type made struct {
	stack    *stacksvc.Stack
	repo     string
	cloneURL string
	pipeline string
}

// madeBy reads the pipeline stack's resources; a stack not there yet
// gives store.ErrNotFound.
func (s *Service) madeBy(ctx context.Context, a *App) (*made, error) {
	st, err := s.cfg.Stacks.Get(ctx, a.ProjectID, a.Name+PipelineStackSuffix)
	if err != nil {
		return nil, err
	}
	m := &made{stack: st}
	rs, err := s.cfg.Stacks.Resources(ctx, st.ID)
	if err != nil {
		return nil, err
	}
	for _, r := range rs {
		if r.Status == stack.DeleteComplete || r.PhysicalID == "" {
			continue
		}
		switch r.Type {
		case "AWS::CodeCommit::Repository":
			m.repo, _ = r.Attrs["Name"].(string)
			m.cloneURL, _ = r.Attrs["CloneUrlHttp"].(string)
		case "AWS::CodePipeline::Pipeline":
			m.pipeline = r.PhysicalID
		}
	}
	return m, nil
}

// Describe fills in what the stacks and the pipeline say.
func (s *Service) Describe(ctx context.Context, a *App) error {
	m, err := s.madeBy(ctx, a)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	a.Repository, a.CloneURL, a.Pipeline = m.repo, m.cloneURL, m.pipeline
	if m.pipeline == "" {
		return nil
	}
	p, err := s.cfg.Pipelines.Get(ctx, a.ProjectID, m.pipeline)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	es, err := s.cfg.Pipelines.Executions(ctx, p, 20)
	if err != nil {
		return err
	}
	stages := make([]string, len(p.Declaration.Stages))
	for i, st := range p.Declaration.Stages {
		stages[i] = st.Name
	}
	a.Stages = stages
	var groups []*fleet.Group
	if s.cfg.Fleet != nil {
		if groups, err = s.cfg.Fleet.Groups(ctx, a.ProjectID); err != nil {
			return err
		}
	}
	for _, e := range environmentStacks(p.Declaration) {
		env := Environment{Name: strings.TrimPrefix(e.stack, a.Name+"-"), Stack: e.stack, Stage: e.stage, Status: NotCreated}
		if ex := passed(es, stages, e.stage); ex != nil {
			env.Execution = ex.ID
			if len(ex.Revisions) > 0 {
				env.Revision = ex.Revisions[0].Commit
			}
		}
		name := e.stack
		st, err := s.cfg.Stacks.Get(ctx, a.ProjectID, name)
		switch {
		case errors.Is(err, store.ErrNotFound):
		case err != nil:
			return err
		default:
			env.Status = st.Status
			for _, o := range st.Outputs {
				if o.Key == "URL" {
					env.URL = o.Value
				}
			}
			if env.Instances, err = s.instances(ctx, groups, name); err != nil {
				return err
			}
		}
		a.Environments = append(a.Environments, env)
	}
	if len(es) > 0 {
		e := es[0]
		a.LatestExecution = &Execution{ID: e.ID, Status: e.Status, Stage: e.Stage, Trigger: e.Trigger.Type}
		if len(e.Revisions) > 0 {
			a.LatestExecution.Commit = e.Revisions[0].Commit
		}
	}
	return nil
}

// envStack is a stack a pipeline deploys, and the stage that does.
type envStack struct{ stack, stage string }

// environmentStacks lists the stacks a pipeline's CloudFormation actions
// deploy, in the order of its stages, each once.
func environmentStacks(d *pipeline.Declaration) []envStack {
	var out []envStack
	seen := map[string]bool{}
	for _, st := range d.Stages {
		for _, act := range st.Actions {
			if act.ActionTypeID.Provider != pipeline.CloudFormation {
				continue
			}
			if name := act.Configuration["StackName"]; name != "" && !seen[name] {
				seen[name] = true
				out = append(out, envStack{name, st.Name})
			}
		}
	}
	return out
}

// passed returns the newest of es (newest first) that has got past stage:
// one that succeeded, or is in (or ended in) a later stage. Stages run in
// order, so an execution in a stage has passed every earlier one.
func passed(es []pipelinesvc.Execution, stages []string, stage string) *pipelinesvc.Execution {
	want := slices.Index(stages, stage)
	for i := range es {
		e := &es[i]
		if e.Status == pipelinesvc.Succeeded || slices.Index(stages, e.Stage) > want {
			return e
		}
	}
	return nil
}

// Delete starts deleting an application: its environments, then its
// pipeline stack. Deleting one whose creation or deletion is under way
// is refused; one that failed may be deleted again.
func (s *Service) Delete(ctx context.Context, projectID, name string) (*App, error) {
	a, err := s.Find(ctx, projectID, name)
	if err != nil {
		return nil, err
	}
	if err := s.startDelete(ctx, a, "User Initiated"); err != nil {
		return nil, err
	}
	return s.Get(ctx, projectID, name)
}

// startDelete moves a to DELETE_IN_PROGRESS and enqueues its deletion.
func (s *Service) startDelete(ctx context.Context, a *App, reason string) error {
	return s.cfg.DB.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE apps SET status = ?, status_reason = ?, updated_at = ? WHERE id = ? AND status IN (?, ?, ?)`,
			DeleteInProgress, reason, store.Millis(time.Now()), a.ID, CreateComplete, CreateFailed, DeleteFailed)
		if err != nil {
			return fmt.Errorf("delete application %s: %w", a.Name, err)
		}
		if n, _ := res.RowsAffected(); n == 0 {
			return fmt.Errorf("%w: application %s is %s; wait for it to end, then delete it", ErrState, a.Name, a.Status)
		}
		_, err = s.cfg.Jobs.EnqueueTx(ctx, tx, jobDelete, payload{AppID: a.ID}, jobs.MaxAttempts(20))
		return err
	})
}

// setStatus records an application's status and why.
func (s *Service) setStatus(ctx context.Context, a *App, status, reason string) error {
	_, err := s.cfg.DB.ExecContext(ctx, `UPDATE apps SET status = ?, status_reason = ?, updated_at = ? WHERE id = ?`,
		status, reason, store.Millis(time.Now()), a.ID)
	if err != nil {
		return fmt.Errorf("application %s: %w", a.Name, err)
	}
	a.Status, a.StatusReason = status, reason
	return nil
}

type payload struct {
	AppID string `json:"app_id"`
}

func millisOrZero(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return store.Millis(t)
}

func nonNilList(l []string) []string {
	if l == nil {
		return []string{}
	}
	return l
}

// instances counts the instances of the groups (of the project) that the
// stack made.
func (s *Service) instances(ctx context.Context, groups []*fleet.Group, stackName string) (*Instances, error) {
	var out *Instances
	for _, g := range groups {
		if g.StackName != stackName {
			continue
		}
		ins, err := s.cfg.Fleet.Instances(ctx, g.ID)
		if err != nil {
			return nil, err
		}
		if out == nil {
			out = &Instances{}
		}
		out.Groups = append(out.Groups, g.Name)
		for _, in := range ins {
			if in.State == fleet.Terminated {
				continue
			}
			out.Total++
			if in.State == fleet.InService {
				out.InService++
				if in.Health == fleet.Healthy {
					out.Healthy++
				}
			}
		}
	}
	return out, nil
}
