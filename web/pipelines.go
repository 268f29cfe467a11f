package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/client"
)

const (
	// historyPage is how many executions a page of history shows.
	historyPage = 25
	// recentExecutions is how many an application's page shows.
	recentExecutions = 5
)

// executionStatuses are the statuses the history can be filtered by, as
// the API names them.
func executionStatuses() []string {
	return []string{"InProgress", "Stopping", "Succeeded", "Failed", "Superseded", "Stopped"}
}

// pipelineRoutes registers the pipelines pages.
func (c *Console) pipelineRoutes(mux *http.ServeMux) {
	mux.Handle("GET /pipelines/{name}", c.authed(c.pipelinePage))
	mux.Handle("GET /pipelines/{name}/live", c.authed(c.pipelineLiveStream))
	mux.Handle("POST /pipelines/{name}/executions", c.authed(c.releaseChange))
	mux.Handle("POST /pipelines/{name}/transitions", c.authed(c.setTransition))
	mux.Handle("POST /pipelines/{name}/approvals", c.authed(c.decidePipeline))
	mux.Handle("GET /pipelines/{name}/executions/{id}", c.authed(c.executionPage))
	mux.Handle("GET /pipelines/{name}/executions/{id}/live", c.authed(c.executionLiveStream))
	mux.Handle("POST /pipelines/{name}/executions/{id}/retry", c.authed(c.retryStage))
	mux.Handle("POST /pipelines/{name}/executions/{id}/stop", c.authed(c.stopExecution))
}

// pipelineURL is a pipeline's page (or a path below it, suffix).
func pipelineURL(name, project, suffix string) string {
	return withProject("/pipelines/"+url.PathEscape(name)+suffix, project)
}

// executionURL is an execution's page.
func executionURL(pipeline, id, project string) string {
	return pipelineURL(pipeline, project, "/executions/"+url.PathEscape(id))
}

// historyRow is one execution of a history table.
type historyRow struct {
	ID       string
	URL      string
	Status   string
	Reason   string
	Trigger  string
	By       string
	Commit   string
	Started  time.Time
	Duration string
}

func newHistoryRow(e *client.PipelineExecution, pipeline, project string) historyRow {
	row := historyRow{ID: e.ID, URL: executionURL(pipeline, e.ID, project), Status: e.Status, Reason: e.Reason,
		Trigger: triggerWords(e.Trigger.Type), By: e.Trigger.By, Commit: execCommit(e), Started: e.StartedAt}
	row.Duration = span(e.StartedAt, e.EndedAt, e.Status == "InProgress" || e.Status == "Stopping")
	return row
}

// triggerWords says what started an execution in words.
func triggerWords(t string) string {
	switch t {
	case "CloudWatchEvent":
		return "Push"
	case "StartPipelineExecution":
		return "Started by hand"
	case "CreatePipeline":
		return "Pipeline created"
	case "UpdatePipeline":
		return "Pipeline updated"
	}
	return t
}

// transitionView is a stage's inbound transition.
type transitionView struct {
	// N numbers the transitions, for the ids of their forms' fields.
	N        int
	Stage    string
	Disabled bool
	Reason   string
}

// pipelineLive is the live part of a pipeline's page: the picture of its
// latest execution and its transitions.
type pipelineLive struct {
	Project        string
	Name           string
	Picture        *pictureView
	Transitions    []transitionView
	CanWrite       bool
	TransitionsURL string
	// Gone says the pipeline no longer exists.
	Gone bool
}

// pipelineView is a pipeline's page.
type pipelineView struct {
	Project  string
	Name     string
	Pipeline *client.Pipeline
	Live     *pipelineLive
	CanWrite bool
	// FilterURL is where the history's filter goes (the project is a
	// field of the form); LiveURL the live stream; ReleaseURL where
	// "Release change" posts.
	FilterURL  string
	LiveURL    string
	ReleaseURL string
	// Statuses are the filter's choices, Status the chosen one.
	Statuses []string
	Status   string
	History  []historyRow
	// OlderURL is the next page of history, NewestURL the first (when
	// this is not it).
	OlderURL  string
	NewestURL string
	Fragment  template.HTML
	Digest    string
}

// historyURL is a page of a pipeline's history.
func historyURL(name, project, status, before string) string {
	q := url.Values{}
	if project != "" && project != defaultProject {
		q.Set("project", project)
	}
	if status != "" {
		q.Set("status", status)
	}
	if before != "" {
		q.Set("before", before)
	}
	p := "/pipelines/" + url.PathEscape(name)
	if len(q) > 0 {
		p += "?" + q.Encode()
	}
	return p + "#history-title"
}

// pipelineLiveView reads what the live part of a pipeline's page shows.
// latest is the pipeline's newest execution when the caller has it
// already (nil: it is asked for).
func (c *Console) pipelineLiveView(ctx context.Context, s *session, project string, p *client.Pipeline, latest *client.PipelineExecution, known bool) (*pipelineLive, error) {
	v := &pipelineLive{Project: project, Name: p.Name, CanWrite: p.Permissions["write"], TransitionsURL: pipelineURL(p.Name, "", "/transitions")}
	if !known {
		es, err := s.api.PipelineExecutions(ctx, project, p.Name, client.ExecutionListOptions{Limit: 1})
		if err != nil {
			return nil, err
		}
		if len(es) > 0 {
			latest = &es[0]
		}
	}
	var exec *client.PipelineExecution
	if latest != nil {
		var err error
		exec, err = s.api.GetPipelineExecution(ctx, project, latest.ID)
		if status, _ := apiStatus(err); status == http.StatusNotFound {
			// Deleted since it was listed: the picture shows no execution.
			exec, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
	}
	decl := c.readDeclaration(project, p)
	pic := &pictureView{Project: project, CanApprove: p.Permissions["approve"], ApprovalURL: pipelineURL(p.Name, "", "/approvals"), Back: "pipeline"}
	pic.Stages, pic.Approval = pictureStages(decl, p.Disabled, exec, project)
	if exec != nil {
		pic.Execution = execSummary(exec, project)
	}
	v.Picture = pic
	for i, st := range decl.Stages {
		reason, disabled := p.Disabled[st.Name]
		// The first stage has no inbound transition, unless one was
		// declared disabled all the same.
		if i == 0 && !disabled {
			continue
		}
		v.Transitions = append(v.Transitions, transitionView{N: len(v.Transitions) + 1, Stage: st.Name, Disabled: disabled, Reason: reason})
	}
	return v, nil
}

// pipelineView reads a pipeline's page: the pipeline, a page of its
// history and its live part. A history filter the API refuses (a status
// it does not know, a cursor of another pipeline) comes back as msg.
func (c *Console) pipelineView(ctx context.Context, s *session, project, name, status, before string) (v *pipelineView, msg string, err error) {
	p, err := s.api.GetPipeline(ctx, project, name)
	if err != nil {
		return nil, "", err
	}
	v = &pipelineView{Project: project, Name: p.Name, Pipeline: p, CanWrite: p.Permissions["write"],
		FilterURL: "/pipelines/" + url.PathEscape(p.Name) + "#history-title", LiveURL: pipelineURL(p.Name, project, "/live"), ReleaseURL: pipelineURL(p.Name, "", "/executions"),
		Statuses: executionStatuses(), Status: status}
	// One more than a page says whether there is an older page.
	hist, err := s.api.PipelineExecutions(ctx, project, p.Name, client.ExecutionListOptions{Limit: historyPage + 1, Status: status, Before: before})
	if st, m := apiStatus(err); st == http.StatusBadRequest {
		msg, hist, err = m, nil, nil
		v.Status = ""
	}
	if err != nil {
		return nil, "", err
	}
	if len(hist) > historyPage {
		hist = hist[:historyPage]
		v.OlderURL = historyURL(p.Name, project, v.Status, hist[len(hist)-1].ID)
	}
	if before != "" || msg != "" {
		v.NewestURL = historyURL(p.Name, project, v.Status, "")
	}
	for i := range hist {
		v.History = append(v.History, newHistoryRow(&hist[i], p.Name, project))
	}
	// The first page of the whole history starts with the latest
	// execution; any other page says nothing of it.
	var latest *client.PipelineExecution
	known := status == "" && before == "" && msg == ""
	if known && len(hist) > 0 {
		latest = &hist[0]
	}
	if v.Live, err = c.pipelineLiveView(ctx, s, project, p, latest, known); err != nil {
		return nil, "", err
	}
	return v, msg, nil
}

func (c *Console) pipelinePage(w http.ResponseWriter, r *http.Request, s *session) error {
	q := r.URL.Query()
	return c.renderPipeline(w, r, s, http.StatusOK, "", q.Get("status"), q.Get("before"), nil)
}

// renderPipeline renders a pipeline's page with an error message (msg,
// shown with status) and, after a refused approval, its comment kept.
func (c *Console) renderPipeline(w http.ResponseWriter, r *http.Request, s *session, status int, msg, filter, before string, keep func(*pipelineLive)) error {
	project, name := projectOf(r), r.PathValue("name")
	v, filterMsg, err := c.pipelineView(r.Context(), s, project, name, filter, before)
	if err != nil {
		return err
	}
	if msg == "" && filterMsg != "" {
		status, msg = http.StatusBadRequest, filterMsg
	}
	if keep != nil {
		keep(v.Live)
	}
	html, err := c.fragment("pipeline", "pipeline-live", v.Live)
	if err != nil {
		return err
	}
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, status, "pipeline", &pageData{Title: "Pipeline " + v.Name, Nav: "apps", Project: project, Live: true, Error: msg, Body: v})
	return nil
}

// pipelineLiveStream streams the live part of a pipeline's page.
func (c *Console) pipelineLiveStream(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name := projectOf(r), r.PathValue("name")
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		p, err := s.api.GetPipeline(ctx, project, name)
		if err != nil {
			return "", err
		}
		v, err := c.pipelineLiveView(ctx, s, project, p, nil, false)
		if err != nil {
			return "", err
		}
		return c.fragment("pipeline", "pipeline-live", v)
	}, func() (string, error) {
		return c.fragment("pipeline", "pipeline-live", &pipelineLive{Gone: true})
	})
}

// releaseChange starts an execution by hand and shows it.
func (c *Console) releaseChange(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name := projectOf(r), r.PathValue("name")
	e, err := s.api.StartPipeline(r.Context(), project, name)
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: release refused", "project", project, "pipeline", name, "status", status, "err", msg)
		return c.renderPipeline(w, r, s, status, msg, "", "", nil)
	}
	c.log.Info("web: release started", "project", project, "pipeline", name, "execution", e.ID)
	http.Redirect(w, r, executionURL(name, e.ID, project), http.StatusSeeOther)
	return nil
}

// setTransition disables (with a reason) or enables a stage's inbound
// transition.
func (c *Console) setTransition(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name := projectOf(r), r.PathValue("name")
	stage, reason := r.PostFormValue("stage"), strings.TrimSpace(r.PostFormValue("reason"))
	var err error
	switch enabled := r.PostFormValue("enabled"); {
	case stage == "":
		return c.renderPipeline(w, r, s, http.StatusBadRequest, "The transition's stage is missing.", "", "", nil)
	case enabled == "true":
		err = s.api.EnableStageTransition(r.Context(), project, name, stage)
	case enabled == "false" && reason == "":
		return c.renderPipeline(w, r, s, http.StatusBadRequest, "Give a reason for disabling the transition into "+stage+".", "", "", nil)
	case enabled == "false":
		err = s.api.DisableStageTransition(r.Context(), project, name, stage, reason)
	default:
		return c.renderPipeline(w, r, s, http.StatusBadRequest, "Choose Enable or Disable.", "", "", nil)
	}
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: transition change refused", "project", project, "pipeline", name, "stage", stage, "status", status, "err", msg)
		return c.renderPipeline(w, r, s, status, msg, "", "", nil)
	}
	c.log.Info("web: transition changed", "project", project, "pipeline", name, "stage", stage, "enabled", r.PostFormValue("enabled"))
	http.Redirect(w, r, pipelineURL(name, project, ""), http.StatusSeeOther)
	return nil
}

// decidePipeline approves or rejects a manual approval from a pipeline's
// or an execution's page (back says which) and goes back there; the API
// decides whether the user may.
func (c *Console) decidePipeline(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name := projectOf(r), r.PathValue("name")
	d, status, msg := approvalForm(r)
	toExecution := r.PostFormValue("back") == "execution" && d.ExecutionID != ""
	if status == 0 {
		_, err := s.api.DecideApproval(r.Context(), project, name, d)
		if err == nil {
			c.log.Info("web: approval decided", "project", project, "pipeline", name, "stage", d.Stage, "action", d.Action, "approved", d.Approved)
			back := pipelineURL(name, project, "")
			if toExecution {
				back = executionURL(name, d.ExecutionID, project)
			}
			http.Redirect(w, r, back, http.StatusSeeOther)
			return nil
		}
		if status, msg, err = refusal(err); err != nil {
			return err
		}
		c.log.Info("web: approval refused", "project", project, "pipeline", name, "status", status, "err", msg)
	}
	keep := func(p *pictureView) { p.Comment = d.Comment }
	if toExecution {
		return c.renderExecution(w, r, s, status, msg, d.ExecutionID, keep)
	}
	return c.renderPipeline(w, r, s, status, msg, "", "", func(v *pipelineLive) { keep(v.Picture) })
}

// attemptView is one attempt at one action, on an execution's page.
type attemptView struct {
	client.ActionExecution
	Duration string
	Link     *linkView
}

// execStageView is a stage of an execution's page with every attempt of
// its actions.
type execStageView struct {
	N        int
	Name     string
	Status   string
	Attempts []attemptView
	// CanRetry says the stage is the one the failed execution stopped at.
	CanRetry bool
}

// Label is the status word shown.
func (st execStageView) Label() string { return statusLabel(st.Status) }

// executionLive is the live part of an execution's page.
type executionLive struct {
	Project  string
	Pipeline string
	Exec     *client.PipelineExecution
	Commit   string
	Trigger  string
	Duration string
	Stages   []execStageView
	// Approval is the approval form's view (the picture's shape).
	Approval *pictureView
	CanWrite bool
	CanStop  bool
	// RetryURL and StopURL are where those forms post.
	RetryURL string
	StopURL  string
	// Gone says the execution no longer exists.
	Gone bool
}

// executionView is an execution's page.
type executionView struct {
	Project     string
	Pipeline    string
	ID          string
	PipelineURL string
	LiveURL     string
	Live        *executionLive
	Fragment    template.HTML
	Digest      string
}

// executionLiveView reads an execution of the named pipeline and the
// pipeline (for its stages' order and what the user may do).
func (c *Console) executionLiveView(ctx context.Context, s *session, project, name, id string) (*executionLive, error) {
	var (
		p         *client.Pipeline
		exec      *client.PipelineExecution
		pErr, eEr error
		wg        sync.WaitGroup
	)
	// Two independent reads: a live page asks every poll.
	wg.Go(func() { p, pErr = s.api.GetPipeline(ctx, project, name) })
	wg.Go(func() { exec, eEr = s.api.GetPipelineExecution(ctx, project, id) })
	wg.Wait()
	if eEr != nil {
		return nil, eEr
	}
	if pErr != nil {
		return nil, pErr
	}
	if exec.Pipeline != p.Name {
		// The execution is another pipeline's: this page does not exist.
		return nil, &client.Error{Status: http.StatusNotFound, Code: "not_found", Message: "pipeline " + name + " has no execution " + id}
	}
	v := &executionLive{Project: project, Pipeline: p.Name, Exec: exec, Commit: execCommit(exec), Trigger: triggerWords(exec.Trigger.Type),
		CanWrite: p.Permissions["write"], RetryURL: executionURL(p.Name, exec.ID, "") + "/retry", StopURL: executionURL(p.Name, exec.ID, "") + "/stop"}
	v.CanStop = exec.Status == "InProgress" || exec.Status == "Stopping"
	v.Duration = span(exec.StartedAt, exec.EndedAt, false)
	// The stages in the declaration's order, then any the execution ran
	// that the pipeline no longer declares.
	decl := c.readDeclaration(project, p)
	var order []string
	for _, st := range decl.Stages {
		order = append(order, st.Name)
	}
	byStage := map[string][]attemptView{}
	for _, a := range exec.Actions {
		if !slices.Contains(order, a.Stage) {
			order = append(order, a.Stage)
		}
		byStage[a.Stage] = append(byStage[a.Stage], attemptView{ActionExecution: a, Duration: actionSpan(a), Link: targetLink(a.Target, project)})
	}
	latest := latestAttempts(exec)
	for _, name := range order {
		st := execStageView{N: len(v.Stages) + 1, Name: name, Attempts: byStage[name], Status: statusNotRun}
		failed, running, done := false, false, 0
		for k, a := range latest {
			if k[0] != name {
				continue
			}
			switch a.Status {
			case "Failed", "Abandoned":
				failed = true
			case "InProgress", "Pending":
				running = true
			case "Succeeded":
				done++
			}
		}
		switch {
		case running:
			st.Status = "InProgress"
		case failed:
			st.Status = "Failed"
		case done > 0:
			st.Status = "Succeeded"
		}
		st.CanRetry = v.CanWrite && exec.Status == "Failed" && exec.Stage == name
		v.Stages = append(v.Stages, st)
	}
	_, approval := pictureStages(decl, p.Disabled, exec, project)
	v.Approval = &pictureView{Project: project, Approval: approval, CanApprove: p.Permissions["approve"],
		ApprovalURL: pipelineURL(p.Name, "", "/approvals"), Back: "execution"}
	return v, nil
}

func (c *Console) executionPage(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.renderExecution(w, r, s, http.StatusOK, "", r.PathValue("id"), nil)
}

// renderExecution renders an execution's page with an error message (msg,
// shown with status); keep changes the approval form (a refused
// decision's comment).
func (c *Console) renderExecution(w http.ResponseWriter, r *http.Request, s *session, status int, msg, id string, keep func(*pictureView)) error {
	project, name := projectOf(r), r.PathValue("name")
	live, err := c.executionLiveView(r.Context(), s, project, name, id)
	if err != nil {
		return err
	}
	if keep != nil {
		keep(live.Approval)
	}
	html, err := c.fragment("execution", "execution-live", live)
	if err != nil {
		return err
	}
	v := &executionView{Project: project, Pipeline: live.Pipeline, ID: live.Exec.ID, PipelineURL: pipelineURL(live.Pipeline, project, ""),
		LiveURL: pipelineURL(live.Pipeline, project, "/executions/"+url.PathEscape(live.Exec.ID)+"/live"), Live: live,
		Fragment: template.HTML(html), Digest: digest(html)}
	c.render(w, r, s, status, "execution", &pageData{Title: "Execution " + live.Exec.ID, Nav: "apps", Project: project, Live: true, Error: msg, Body: v})
	return nil
}

// executionLiveStream streams the live part of an execution's page.
func (c *Console) executionLiveStream(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name, id := projectOf(r), r.PathValue("name"), r.PathValue("id")
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		v, err := c.executionLiveView(ctx, s, project, name, id)
		if err != nil {
			return "", err
		}
		html, err := c.fragment("execution", "execution-live", v)
		if err == nil && !v.CanStop {
			// Ended: a retry starts from a form, whose answer is a new page.
			err = errLiveDone
		}
		return html, err
	}, func() (string, error) {
		return c.fragment("execution", "execution-live", &executionLive{Gone: true, Pipeline: name, Project: project})
	})
}

// retryStage runs an execution's failed stage again.
func (c *Console) retryStage(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name, id := projectOf(r), r.PathValue("name"), r.PathValue("id")
	stage, mode := r.PostFormValue("stage"), r.PostFormValue("mode")
	if mode != client.RetryAllActions {
		mode = client.RetryFailedActions
	}
	if stage == "" {
		return c.renderExecution(w, r, s, http.StatusBadRequest, "The stage to retry is missing.", id, nil)
	}
	if _, err := s.api.RetryStage(r.Context(), project, id, stage, mode); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: retry refused", "project", project, "pipeline", name, "execution", id, "status", status, "err", msg)
		return c.renderExecution(w, r, s, status, msg, id, nil)
	}
	c.log.Info("web: stage retried", "project", project, "pipeline", name, "execution", id, "stage", stage, "mode", mode)
	http.Redirect(w, r, executionURL(name, id, project), http.StatusSeeOther)
	return nil
}

// stopExecution stops an execution, or abandons its running actions.
func (c *Console) stopExecution(w http.ResponseWriter, r *http.Request, s *session) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name, id := projectOf(r), r.PathValue("name"), r.PathValue("id")
	abandon, reason := r.PostFormValue("abandon") == "true", strings.TrimSpace(r.PostFormValue("reason"))
	if _, err := s.api.StopPipelineExecution(r.Context(), project, id, abandon, reason); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: stop refused", "project", project, "pipeline", name, "execution", id, "status", status, "err", msg)
		return c.renderExecution(w, r, s, status, msg, id, nil)
	}
	c.log.Info("web: execution stopped", "project", project, "pipeline", name, "execution", id, "abandon", abandon)
	http.Redirect(w, r, executionURL(name, id, project), http.StatusSeeOther)
	return nil
}
