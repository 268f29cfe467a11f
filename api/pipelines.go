package api

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"unicode/utf8"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/store"
)

// executionView is an execution as the API shows it: with the name of its
// pipeline, which the service names only by ID, so that a client can tell
// the user what to approve without another request.
type executionView struct {
	*pipelinesvc.Execution
	Pipeline string `json:"pipeline"`
	// Actions shadows the execution's own: each attempt says what it ran
	// as (its target), so that a client can link to the build, the
	// deployment, the stack or the repository. Listings have none (null).
	Actions []actionView `json:"actions"`
}

// actionView is an action's attempt with what it ran as.
type actionView struct {
	pipelinesvc.ActionExecution
	Target *pipelinesvc.ActionTarget `json:"target,omitempty"`
}

// viewExecution is e as the API shows it.
func viewExecution(e *pipelinesvc.Execution, pipelineName string) executionView {
	v := executionView{Execution: e, Pipeline: pipelineName}
	if e.Actions != nil {
		v.Actions = make([]actionView, len(e.Actions))
		for i := range e.Actions {
			v.Actions[i] = actionView{e.Actions[i], e.Target(&e.Actions[i])}
		}
	}
	return v
}

// approvalRequest is the body of POST .../approvals, CodePipeline's
// PutApprovalResult by stage and action names rather than by token.
type approvalRequest struct {
	Stage  string `json:"stage"`
	Action string `json:"action"`
	// ExecutionID picks one execution when several wait at the approval.
	ExecutionID string `json:"execution_id"`
	// Approved is a pointer so that a body without it is refused rather
	// than read as a rejection.
	Approved *bool  `json:"approved"`
	Comment  string `json:"comment"`
}

// maxApprovalComment is the longest comment, as PutApprovalResult bounds
// its summary.
const maxApprovalComment = 512

// declarationName names the request body in the positions of a
// declaration's problems (request body:3:7: ...).
const declarationName = "request body"

func pipelineResource(pl *pipelinesvc.Pipeline) auth.Resource {
	return auth.Resource{Kind: "pipeline", ID: pl.ID, ProjectID: pl.ProjectID}
}

// pipelineError turns the pipeline service's errors into API errors whose
// messages read without the service's sentinel prefixes.
func pipelineError(err error, what string) error {
	msg := err.Error()
	switch {
	case errors.Is(err, pipelinesvc.ErrInvalid):
		return badRequest("%s", strings.TrimPrefix(msg, pipelinesvc.ErrInvalid.Error()+": "))
	case errors.Is(err, pipelinesvc.ErrState):
		return &Error{Status: http.StatusConflict, Code: "conflict", Message: strings.TrimPrefix(msg, pipelinesvc.ErrState.Error()+": ")}
	case errors.Is(err, pipelinesvc.ErrNotAllowed):
		return &Error{Status: http.StatusForbidden, Code: "forbidden", Message: strings.TrimPrefix(msg, pipelinesvc.ErrNotAllowed.Error()+": ")}
	}
	return notFoundAs(err, what)
}

// pipelineFor finds a pipeline and checks the caller may do act to it.
// Missing and invisible pipelines give the same answer, as repoFor's
// repositories do.
func (s *Server) pipelineFor(ctx context.Context, p *auth.Principal, act auth.Action, project, name string) (*auth.Project, *pipelinesvc.Pipeline, error) {
	pr, err := s.project(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	pl, err := s.Pipelines.Get(ctx, pr.ID, name)
	if err != nil {
		return nil, nil, pipelineError(err, "pipeline "+name)
	}
	if err := s.authorizePipeline(ctx, p, act, pl); err != nil {
		return nil, nil, err
	}
	return pr, pl, nil
}

func (s *Server) authorizePipeline(ctx context.Context, p *auth.Principal, act auth.Action, pl *pipelinesvc.Pipeline) error {
	err := s.Auth.Authorize(ctx, p, act, pipelineResource(pl))
	switch {
	case errors.Is(err, auth.ErrHidden):
		return &notFound{"pipeline " + pl.Name}
	case errors.Is(err, auth.ErrForbidden):
		return &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "permission denied: this needs the " + string(act) + " role on pipeline " + pl.Name + " or its project"}
	}
	return err
}

// listPipelines answers the pipelines the caller can read: all of them with
// a role on the project, else those granted one by one.
func (s *Server) listPipelines(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.project(ctx, r.PathValue("project"))
	if err != nil {
		return err
	}
	all, err := s.Pipelines.List(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := []pipelinesvc.Pipeline{}
	for i := range all {
		ok, err := s.Auth.Can(ctx, p, auth.Read, pipelineResource(&all[i]))
		if err != nil {
			return err
		}
		if ok {
			out = append(out, all[i])
		}
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// createPipeline reads the body as a declaration file (JSON, or the AWS
// CLI's create-pipeline input) and answers every problem at once, one
// position each, in a 400.
func (s *Server) createPipeline(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Write, r.PathValue("project"))
	if err != nil {
		return err
	}
	body, err := io.ReadAll(r.Body)
	if errors.As(err, new(*http.MaxBytesError)) {
		return &Error{Status: http.StatusRequestEntityTooLarge, Code: "too_large", Message: "the declaration is larger than 1 MiB"}
	}
	if err != nil {
		return badRequest("request body: %v", err)
	}
	d, err := pipeline.Parse(declarationName, body)
	if err != nil {
		return badRequest("%v", err)
	}
	pl, err := s.Pipelines.Create(ctx, pr.ID, d)
	if err != nil {
		return pipelineError(err, "pipeline "+d.Name)
	}
	writeJSON(w, http.StatusCreated, pl)
	return nil
}

func (s *Server) getPipeline(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	_, pl, err := s.pipelineFor(r.Context(), p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	// What the caller may do to it, so that a console shows only the
	// buttons that work (the server checks each request regardless).
	perms := map[string]bool{}
	for _, act := range []auth.Action{auth.Read, auth.Write, auth.Approve, auth.Admin} {
		ok, err := s.Auth.Can(r.Context(), p, act, pipelineResource(pl))
		if err != nil {
			return err
		}
		perms[string(act)] = ok
	}
	writeJSON(w, http.StatusOK, struct {
		*pipelinesvc.Pipeline
		Permissions map[string]bool `json:"permissions"`
	}{pl, perms})
	return nil
}

// deletePipeline removes a pipeline, its history and the grants on it, so
// that a later pipeline of the same name starts with none.
func (s *Server) deletePipeline(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, pl, err := s.pipelineFor(ctx, p, auth.Write, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	if err := s.Pipelines.Delete(ctx, pr.ID, pl.Name); err != nil {
		return pipelineError(err, "pipeline "+pl.Name)
	}
	if err := s.Auth.DeleteGrants(ctx, pipelineResource(pl)); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// startPipeline starts an execution by hand (StartPipelineExecution).
func (s *Server) startPipeline(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, pl, err := s.pipelineFor(ctx, p, auth.Write, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	e, err := s.Pipelines.Start(ctx, pl, pipelinesvc.Trigger{Type: pipelinesvc.TriggerManual, By: p.Name}, "")
	if err != nil {
		return pipelineError(err, "pipeline "+pl.Name)
	}
	writeJSON(w, http.StatusCreated, viewExecution(e, pl.Name))
	return nil
}

// listExecutions answers a page of a pipeline's executions, newest first,
// without their actions (ask for one execution for those): with status,
// those of that status only; with before, those listed after that
// execution, so that the last one of a page names the next.
func (s *Server) listExecutions(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, pl, err := s.pipelineFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	limit, err := intParam(r, "limit", 100)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	es, err := s.Pipelines.ListExecutions(ctx, pl, pipelinesvc.ExecutionQuery{Limit: limit, Status: q.Get("status"), Before: q.Get("before")})
	if err != nil {
		return pipelineError(err, "pipeline "+pl.Name)
	}
	out := make([]executionView, len(es))
	for i := range es {
		out[i] = viewExecution(&es[i], pl.Name)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// executionFor finds an execution of the project and checks the caller may
// do act to its pipeline. An execution of another project's pipeline, or of
// one the caller may not read, is not found, like one that does not exist.
func (s *Server) executionFor(ctx context.Context, p *auth.Principal, act auth.Action, project, id string) (*pipelinesvc.Pipeline, *pipelinesvc.Execution, error) {
	missing := &notFound{"pipeline execution " + id}
	pr, err := s.project(ctx, project)
	if err != nil {
		return nil, nil, err
	}
	e, err := s.Pipelines.Execution(ctx, id)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil, missing
	}
	if err != nil {
		return nil, nil, err
	}
	pl, err := s.Pipelines.PipelineByID(ctx, e.PipelineID)
	switch {
	case errors.Is(err, store.ErrNotFound):
		// Deleted with its pipeline since it was read.
		return nil, nil, missing
	case err != nil:
		return nil, nil, err
	case pl.ProjectID != pr.ID:
		return nil, nil, missing
	}
	if err := s.authorizePipeline(ctx, p, act, pl); err != nil {
		if errors.As(err, new(*notFound)) {
			return nil, nil, missing
		}
		return nil, nil, err
	}
	return pl, e, nil
}

// getExecution answers an execution with its actions.
func (s *Server) getExecution(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	pl, e, err := s.executionFor(r.Context(), p, auth.Read, r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, viewExecution(e, pl.Name))
	return nil
}

// retryRequest is the body of POST .../pipeline-executions/{id}/retry,
// CodePipeline's RetryStageExecution.
type retryRequest struct {
	Stage string `json:"stage"`
	// Mode is FAILED_ACTIONS (the default) or ALL_ACTIONS.
	Mode string `json:"mode"`
}

// retryExecution runs the failed stage of an execution again, on the same
// execution and the same input artifacts.
func (s *Server) retryExecution(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pl, e, err := s.executionFor(ctx, p, auth.Write, r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	var req retryRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if req.Stage == "" {
		return badRequest(`stage: name the failed stage to retry, as in {"stage": "Build"}`)
	}
	out, err := s.Pipelines.Retry(ctx, pl, e.ID, req.Stage, req.Mode)
	if err != nil {
		return pipelineError(err, "pipeline execution "+e.ID)
	}
	writeJSON(w, http.StatusOK, viewExecution(out, pl.Name))
	return nil
}

// stopRequest is the body of POST .../pipeline-executions/{id}/stop,
// CodePipeline's StopPipelineExecution.
type stopRequest struct {
	// Abandon abandons running actions instead of letting them finish.
	Abandon bool   `json:"abandon"`
	Reason  string `json:"reason"`
}

// Reasons are bounded as CodePipeline bounds them (StopPipelineExecution's
// and DisableStageTransition's), since they are stored and shown.
const (
	maxStopReason       = 200
	maxTransitionReason = 300
)

// stopExecution stops an execution. The reason it keeps names the caller,
// as a start and an approval do, so that the execution says who stopped it.
func (s *Server) stopExecution(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pl, e, err := s.executionFor(ctx, p, auth.Write, r.PathValue("project"), r.PathValue("id"))
	if err != nil {
		return err
	}
	var req stopRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if n := utf8.RuneCountInString(req.Reason); n > maxStopReason {
		return badRequest("reason: %d characters; the most is %d", n, maxStopReason)
	}
	reason := "stopped by " + p.Name
	if req.Reason != "" {
		reason += ": " + req.Reason
	}
	out, err := s.Pipelines.Stop(ctx, pl, e.ID, req.Abandon, reason)
	if err != nil {
		return pipelineError(err, "pipeline execution "+e.ID)
	}
	writeJSON(w, http.StatusOK, viewExecution(out, pl.Name))
	return nil
}

// transitionRequest is the body of POST .../pipelines/{name}/transitions,
// CodePipeline's DisableStageTransition and EnableStageTransition (inbound
// transitions only: those are the ones Slipway has).
type transitionRequest struct {
	Stage string `json:"stage"`
	// Enabled is a pointer so that a body without it is refused rather
	// than read as disabling.
	Enabled *bool  `json:"enabled"`
	Reason  string `json:"reason"`
}

// setTransition disables or enables the transition into a stage.
func (s *Server) setTransition(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, pl, err := s.pipelineFor(ctx, p, auth.Write, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	var req transitionRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	switch n := utf8.RuneCountInString(req.Reason); {
	case req.Stage == "":
		return badRequest(`stage: name the stage whose inbound transition to change, as in {"stage": "Deploy", "enabled": false, "reason": "release freeze"}`)
	case req.Enabled == nil:
		return badRequest("enabled: say false to disable the transition or true to enable it")
	case n > maxTransitionReason:
		return badRequest("reason: %d characters; the most is %d", n, maxTransitionReason)
	}
	if err := s.Pipelines.SetTransition(ctx, pl, req.Stage, *req.Enabled, req.Reason); err != nil {
		return pipelineError(err, "pipeline "+pl.Name)
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

// decideApproval approves or rejects a manual approval. It takes the approve
// role (on the pipeline or its project; admin includes it): write alone is
// not enough, so that who changes a pipeline and who lets its changes
// through can be different people.
func (s *Server) decideApproval(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	_, pl, err := s.pipelineFor(ctx, p, auth.Read, r.PathValue("project"), r.PathValue("name"))
	if err != nil {
		return err
	}
	if ok, err := s.Auth.Can(ctx, p, auth.Approve, pipelineResource(pl)); err != nil {
		return err
	} else if !ok {
		return &Error{Status: http.StatusForbidden, Code: "forbidden",
			Message: "permission denied: approving needs the approve role on pipeline " + pl.Name + " or its project"}
	}
	var req approvalRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	switch {
	case req.Stage == "" || req.Action == "":
		return badRequest(`stage and action: name the approval action, as in {"stage": "Approve", "action": "Approve", "approved": true}`)
	case req.Approved == nil:
		return badRequest("approved: say true to approve or false to reject")
	case utf8.RuneCountInString(req.Comment) > maxApprovalComment:
		return badRequest("comment: %d characters; the most is %d", utf8.RuneCountInString(req.Comment), maxApprovalComment)
	}
	a, err := s.Pipelines.Decide(ctx, pl, req.Stage, req.Action, req.ExecutionID, *req.Approved, p.Name, req.Comment)
	if err != nil {
		return pipelineError(err, "pipeline "+pl.Name)
	}
	writeJSON(w, http.StatusOK, a)
	return nil
}
