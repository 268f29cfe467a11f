package appsvc

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
)

// failed is an outcome the job records on the application rather than
// retries: a stack that did not come up, a blueprint that is gone.
type failed struct{ reason string }

func (f failed) Error() string { return f.reason }

// settle records a job's outcome: a failed outcome, or a transient error on
// the job's last attempt, ends the application in status; other errors are
// the engine's to retry.
func (s *Service) settle(ctx context.Context, job *jobs.Job, a *App, status string, err error) error {
	var f failed
	switch {
	case err == nil:
		return nil
	case errors.As(err, &f):
	case job.Attempt >= job.MaxAttempts || jobs.IsPermanent(err):
		f = failed{err.Error()}
	default:
		return err
	}
	s.cfg.Log.Warn("application operation failed", "app", a.Name, "status", status, "reason", f.reason)
	return s.setStatus(context.WithoutCancel(ctx), a, status, f.reason)
}

// load returns the job's application, or nil once it is gone.
func (s *Service) load(ctx context.Context, job *jobs.Job) (*App, error) {
	var p payload
	if err := job.Decode(&p); err != nil {
		return nil, jobs.Permanent(err)
	}
	a, err := s.app(ctx, `id = ?`, p.AppID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	return a, err
}

func (s *Service) project(ctx context.Context, id string) (stacksvc.Project, error) {
	p, err := s.cfg.Auth.ProjectByID(ctx, id)
	if err != nil {
		return stacksvc.Project{}, err
	}
	return stacksvc.Project{ID: p.ID, Name: p.Name}, nil
}

func (s *Service) runCreate(ctx context.Context, job *jobs.Job) error {
	a, err := s.load(ctx, job)
	if err != nil || a == nil || a.Status != CreateInProgress {
		return err
	}
	return s.settle(ctx, job, a, CreateFailed, s.create(ctx, a))
}

// create makes the application's pipeline stack, waits for it, seeds the
// repository and grants the roles. Every step finds what an earlier
// attempt did.
func (s *Service) create(ctx context.Context, a *App) error {
	pr, err := s.project(ctx, a.ProjectID)
	if err != nil {
		return err
	}
	bp, _, err := s.blueprintOf(ctx, a)
	if err != nil {
		return failed{fmt.Sprintf("blueprint %s: %v", a.Blueprint, err)}
	}
	name := a.Name + PipelineStackSuffix
	if _, err := s.cfg.Stacks.Get(ctx, a.ProjectID, name); errors.Is(err, store.ErrNotFound) {
		body, err := bp.PipelineTemplate()
		if err != nil {
			return failed{err.Error()}
		}
		tags := map[string]string{"slipway:application": a.Name, "slipway:blueprint": a.Blueprint}
		if _, err := s.cfg.Stacks.Deploy(ctx, pr, name, stacksvc.Input{TemplateName: bp.Pipeline, Template: string(body),
			Parameters: a.Parameters, Tags: tags}); err != nil {
			if errors.Is(err, stacksvc.ErrInvalid) {
				return failed{fmt.Sprintf("the pipeline stack %s: %v", name, err)}
			}
			return err
		}
	} else if err != nil {
		return err
	}
	st, err := s.waitStack(ctx, a.ProjectID, name)
	if err != nil {
		return err
	}
	if st.Status != stack.CreateComplete && st.Status != stack.UpdateComplete {
		return failed{fmt.Sprintf("the pipeline stack %s is %s: %s (slipway stack events %s says why)", name, st.Status, st.StatusReason, name)}
	}
	m, err := s.madeBy(ctx, a)
	if err != nil {
		return err
	}
	if m.repo == "" || m.pipeline == "" {
		return failed{fmt.Sprintf("the pipeline stack %s made no repository and pipeline: a blueprint's pipeline template makes an AWS::CodeCommit::Repository and an AWS::CodePipeline::Pipeline", name)}
	}
	p, err := s.cfg.Pipelines.Get(ctx, a.ProjectID, m.pipeline)
	if err != nil {
		return err
	}
	rp, err := s.cfg.Repos.Get(ctx, a.ProjectID, m.repo)
	if err != nil {
		return err
	}
	if err := s.grantRoles(ctx, a, rp, p); err != nil {
		return err
	}
	branch := sourceBranch(p.Declaration, m.repo)
	if branch == "" {
		return failed{fmt.Sprintf("the pipeline %s has no CodeCommit source action on the repository %s: a blueprint's pipeline watches the repository it makes", m.pipeline, m.repo)}
	}
	// As on AWS, making the pipeline started an execution, on the empty
	// repository; it ends at its source. Seeding once it has ended makes
	// the starter commit's push start the one execution that ships it.
	if err := s.waitFirstExecution(ctx, p); err != nil {
		return err
	}
	content, err := bp.Content()
	if err != nil {
		return failed{err.Error()}
	}
	msg := fmt.Sprintf("Start %s from the %s blueprint\n", a.Name, a.Blueprint)
	commit, err := s.cfg.Repos.Seed(ctx, rp, branch, content, msg, "Slipway <slipway@localhost>", a.Creator)
	switch {
	case errors.Is(err, repo.ErrNotEmpty):
		// An earlier attempt seeded it.
	case errors.Is(err, fs.ErrNotExist):
		return failed{err.Error()}
	case err != nil:
		return err
	default:
		s.cfg.Log.Info("application seeded", "app", a.Name, "repository", m.repo, "branch", branch, "commit", commit)
	}
	return s.setStatus(ctx, a, CreateComplete, "")
}

// grantRoles gives the owner team write on the repository and the
// pipeline, and each approver the approve role on the pipeline.
func (s *Service) grantRoles(ctx context.Context, a *App, rp *repo.Repository, p *pipelinesvc.Pipeline) error {
	repoRes := auth.Resource{Kind: "repo", ID: rp.ID, ProjectID: rp.ProjectID}
	pipeRes := auth.Resource{Kind: "pipeline", ID: p.ID, ProjectID: p.ProjectID}
	if a.Owner != "" {
		t, err := s.cfg.Auth.TeamByName(ctx, a.Owner)
		if err != nil {
			return failed{fmt.Sprintf("owner team %s: %v", a.Owner, err)}
		}
		for _, res := range []auth.Resource{repoRes, pipeRes} {
			if _, err := s.cfg.Auth.SetGrant(ctx, auth.SubjectTeam, t.ID, res, auth.RoleWrite); err != nil {
				return err
			}
		}
	}
	for _, name := range a.Approvers {
		kind, id, err := s.subject(ctx, name)
		if err != nil {
			return failed{err.Error()}
		}
		if _, err := s.cfg.Auth.SetGrant(ctx, kind, id, pipeRes, auth.RoleApprove); err != nil {
			return err
		}
	}
	return nil
}

// sourceBranch is the branch the pipeline's CodeCommit source action on
// repository watches.
func sourceBranch(d *pipeline.Declaration, repository string) string {
	for _, st := range d.Stages {
		for _, act := range st.Actions {
			if act.ActionTypeID.Provider == pipeline.CodeCommit && act.Configuration["RepositoryName"] == repository {
				return act.Configuration["BranchName"]
			}
		}
	}
	return ""
}

// waitStack waits for the stack's operation to end and returns the stack;
// a stack gone while waiting (deleted) gives store.ErrNotFound.
func (s *Service) waitStack(ctx context.Context, projectID, name string) (*stacksvc.Stack, error) {
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		st, err := s.cfg.Stacks.Get(ctx, projectID, name)
		if err != nil {
			return nil, err
		}
		if !stack.InProgress(st.Status) || st.Status == stack.ReviewInProgress {
			return st, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// firstExecutionWait bounds the wait for the pipeline's first execution:
// one that takes longer is not the source failing on an empty repository.
const firstExecutionWait = 2 * time.Minute

// waitFirstExecution waits until the execution that making the pipeline
// started has ended.
func (s *Service) waitFirstExecution(ctx context.Context, p *pipelinesvc.Pipeline) error {
	ctx, cancel := context.WithTimeout(ctx, firstExecutionWait)
	defer cancel()
	t := time.NewTicker(s.cfg.Poll)
	defer t.Stop()
	for {
		es, err := s.cfg.Pipelines.Executions(ctx, p, 10)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		running := false
		for _, e := range es {
			running = running || e.Trigger.Type == pipelinesvc.TriggerCreate && e.Status == pipelinesvc.InProgress
		}
		if !running {
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

func (s *Service) runExpire(ctx context.Context, job *jobs.Job) error {
	a, err := s.load(ctx, job)
	if err != nil || a == nil {
		return err
	}
	switch a.Status {
	case CreateInProgress:
		return fmt.Errorf("preview %s expired while it is being created: deleting it once it is", a.Name)
	case DeleteInProgress:
		return nil
	}
	s.cfg.Log.Info("preview application expired", "app", a.Name, "expired_at", a.ExpiresAt)
	return s.startDelete(ctx, a, "Preview expired")
}

func (s *Service) runDelete(ctx context.Context, job *jobs.Job) error {
	a, err := s.load(ctx, job)
	if err != nil || a == nil || a.Status != DeleteInProgress {
		return err
	}
	return s.settle(ctx, job, a, DeleteFailed, s.delete(ctx, a))
}

// delete stops the pipeline's executions, deletes the environments'
// stacks, then the pipeline stack, then the application.
func (s *Service) delete(ctx context.Context, a *App) error {
	pr, err := s.project(ctx, a.ProjectID)
	if err != nil {
		return err
	}
	m, err := s.madeBy(ctx, a)
	switch {
	case errors.Is(err, store.ErrNotFound):
	case err != nil:
		return err
	default:
		if m.pipeline != "" {
			if err := s.deleteEnvironments(ctx, pr, m.pipeline); err != nil {
				return err
			}
		}
		if err := s.deleteStack(ctx, pr, m.stack.Name); err != nil {
			return err
		}
	}
	if err := s.cfg.Auth.DeleteGrants(ctx, a.Resource()); err != nil {
		return err
	}
	if _, err := s.cfg.DB.ExecContext(ctx, `DELETE FROM apps WHERE id = ?`, a.ID); err != nil {
		return fmt.Errorf("delete application %s: %w", a.Name, err)
	}
	s.cfg.Log.Info("application deleted", "app", a.Name)
	return nil
}

// deleteEnvironments stops what the pipeline is doing, so that it deploys
// nothing more, and deletes the stacks it deployed, all at once.
func (s *Service) deleteEnvironments(ctx context.Context, pr stacksvc.Project, name string) error {
	p, err := s.cfg.Pipelines.Get(ctx, pr.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	es, err := s.cfg.Pipelines.Executions(ctx, p, 50)
	if err != nil {
		return err
	}
	for _, e := range es {
		if e.Status == pipelinesvc.InProgress || e.Status == pipelinesvc.Stopping {
			if _, err := s.cfg.Pipelines.Stop(ctx, p, e.ID, true, "The application is being deleted"); err != nil && !errors.Is(err, pipelinesvc.ErrState) {
				return err
			}
		}
	}
	stacks := environmentStacks(p.Declaration)
	errs := make(chan error, len(stacks))
	for _, st := range stacks {
		go func() { errs <- s.deleteStack(ctx, pr, st.stack) }()
	}
	var all []error
	for range stacks {
		all = append(all, <-errs)
	}
	return errors.Join(all...)
}

// deleteStack deletes a stack, once an operation under way has ended, and
// waits until it is gone.
func (s *Service) deleteStack(ctx context.Context, pr stacksvc.Project, name string) error {
	if _, err := s.waitStack(ctx, pr.ID, name); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return err
	}
	// ErrState here is an operation begun since: the engine retries.
	if _, err := s.cfg.Stacks.Delete(ctx, pr, name); errors.Is(err, store.ErrNotFound) {
		return nil
	} else if err != nil {
		return fmt.Errorf("delete the stack %s: %w", name, err)
	}
	st, err := s.waitStack(ctx, pr.ID, name)
	if errors.Is(err, store.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return failed{fmt.Sprintf("the stack %s could not be deleted: %s: %s (slipway stack events %s says why)", name, st.Status, st.StatusReason, name)}
}
