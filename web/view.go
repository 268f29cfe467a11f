package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/client"
)

// appView is an application's page: its header and what the live
// fragment shows (the pipeline picture, the approval, the environments,
// the pipeline's recent executions).
type appView struct {
	App     *client.App
	Project string
	// Stages are the pipeline picture's columns.
	Stages    []stageView
	Execution *execView
	// Approval is the manual approval waiting in the latest execution.
	Approval *approvalView
	// CanApprove says the user may decide it.
	CanApprove bool
	// Note says why there is no picture.
	Note string
	// Comment is kept in the approval form when a decision was refused.
	Comment string
	// Recent are the pipeline's latest executions.
	Recent []historyRow
	// Gone says the application no longer exists (live pages only).
	Gone bool
	// Fragment is the live fragment as the page holds it, rendered once;
	// Digest names it, so that the live stream sends nothing until it
	// changes: replacing the same HTML would only take away the nodes the
	// user is working with.
	Fragment template.HTML
	Digest   string
}

// PipelineURL is the page of the application's pipeline, or "".
func (v *appView) PipelineURL() string {
	if v.App == nil || v.App.Pipeline == "" {
		return ""
	}
	return pipelineURL(v.App.Pipeline, v.Project, "")
}

// Picture is the application's pipeline picture, whose approval form
// posts to the application's page.
func (v *appView) Picture() *pictureView {
	pv := &pictureView{Project: v.Project, Stages: v.Stages, Execution: v.Execution, Approval: v.Approval,
		CanApprove: v.CanApprove, Note: v.Note, Comment: v.Comment}
	if v.App != nil {
		pv.ApprovalURL = appURL(v.App.Name, "", "/approvals")
	}
	return pv
}

// pictureView is a pipeline's picture: its stages as columns of actions,
// each with the latest attempt in one execution, and the approval waiting
// there. The application's page and the pipeline's show it.
type pictureView struct {
	Project    string
	Stages     []stageView
	Execution  *execView
	Approval   *approvalView
	CanApprove bool
	Note       string
	Comment    string
	// ApprovalURL is where the approval form posts; Back (if set) names
	// the page the decision comes back to.
	ApprovalURL string
	Back        string
}

type stageView struct {
	Name string
	// Blocked says the stage's inbound transition is disabled; Disabled
	// is why.
	Blocked  bool
	Disabled string
	Actions  []actionView
}

type actionView struct {
	Name     string
	Category string
	// Status is the API's word for the latest attempt, or NotRun.
	Status   string
	Duration string
	Detail   string
	// Started is when the latest attempt started (zero when not run).
	Started time.Time
	// Revision is the commit a source action took.
	Revision string
	// Link is what the attempt ran as (a build, a deployment, a stack, a
	// repository), when there is one.
	Link *linkView
}

// Label is the status word shown.
func (a actionView) Label() string { return statusLabel(a.Status) }

// statusLabel is a status word as a page writes it.
func statusLabel(status string) string {
	if status == statusNotRun {
		return "Not run"
	}
	return status
}

// linkView is a link to the page of what an action ran as.
type linkView struct {
	// Kind is build, deployment, stack or repository.
	Kind string
	Name string
	URL  string
	// Commit is the commit a source action took.
	Commit string
}

// Text is the link's words.
func (l *linkView) Text() string {
	switch l.Kind {
	case "build":
		return "Build " + l.Name
	case "deployment":
		return "Deployment " + l.Name
	case "stack":
		return "Stack " + l.Name
	case "repository":
		return "Repository " + l.Name
	}
	return l.Name
}

// targetLink is the console's page of what an attempt ran as, or nil.
func targetLink(t *client.ActionTarget, project string) *linkView {
	if t == nil || t.Name == "" {
		return nil
	}
	var prefix string
	switch t.Kind {
	case "build":
		prefix = "/builds/"
	case "deployment":
		prefix = "/deployments/"
	case "stack":
		prefix = "/stacks/"
	case "repository":
		prefix = "/repos/"
	default:
		return nil
	}
	return &linkView{Kind: t.Kind, Name: t.Name, URL: withProject(prefix+url.PathEscape(t.Name), project), Commit: t.Commit}
}

type execView struct {
	ID      string
	Status  string
	Commit  string
	Trigger string
	// URL is the execution's page ("" when its pipeline is unknown).
	URL string
}

type approvalView struct {
	Execution string
	Stage     string
	Action    string
}

const statusNotRun = "NotRun"

// declaration is what the picture reads of a pipeline's declaration.
type declaration struct {
	Stages []struct {
		Name    string `json:"Name"`
		Actions []struct {
			Name         string `json:"Name"`
			ActionTypeID struct {
				Category string `json:"Category"`
			} `json:"ActionTypeId"`
		} `json:"Actions"`
	} `json:"Stages"`
}

// readDeclaration reads what the picture needs of a pipeline's
// declaration; an unreadable one gives no stages (and a log line).
func (c *Console) readDeclaration(project string, p *client.Pipeline) declaration {
	var decl declaration
	if len(p.Declaration) > 0 {
		if err := json.Unmarshal(p.Declaration, &decl); err != nil {
			c.log.Warn("web: cannot read a pipeline's declaration", "project", project, "pipeline", p.Name, "err", err)
		}
	}
	return decl
}

// execSummary is the line about an execution the picture shows.
func execSummary(exec *client.PipelineExecution, project string) *execView {
	v := &execView{ID: exec.ID, Status: exec.Status, Commit: execCommit(exec), Trigger: exec.Trigger.Type}
	if exec.Pipeline != "" {
		v.URL = executionURL(exec.Pipeline, exec.ID, project)
	}
	return v
}

// execCommit is the commit an execution runs on: its source's, else the
// pushed one.
func execCommit(exec *client.PipelineExecution) string {
	for _, rev := range exec.Revisions {
		if rev.Commit != "" {
			return rev.Commit
		}
	}
	return exec.Trigger.Commit
}

// latestAttempts is the latest attempt of each action (by stage and
// action) of an execution.
func latestAttempts(exec *client.PipelineExecution) map[[2]string]client.ActionExecution {
	latest := map[[2]string]client.ActionExecution{}
	if exec == nil {
		return latest
	}
	for _, a := range exec.Actions {
		k := [2]string{a.Stage, a.Action}
		if old, ok := latest[k]; !ok || a.Attempt > old.Attempt || (a.Attempt == old.Attempt && a.StartedAt.After(old.StartedAt)) {
			latest[k] = a
		}
	}
	return latest
}

// pictureStages lays the declaration's stages out as columns with the
// latest attempt of each action in exec (which may be nil), and finds the
// approval waiting there.
func pictureStages(decl declaration, disabled map[string]string, exec *client.PipelineExecution, project string) ([]stageView, *approvalView) {
	latest := latestAttempts(exec)
	var stages []stageView
	var approval *approvalView
	for _, st := range decl.Stages {
		reason, blocked := disabled[st.Name]
		sv := stageView{Name: st.Name, Blocked: blocked, Disabled: reason}
		for _, ac := range st.Actions {
			av := actionView{Name: ac.Name, Category: ac.ActionTypeID.Category, Status: statusNotRun}
			if a, ok := latest[[2]string{st.Name, ac.Name}]; ok {
				av.Status, av.Duration, av.Detail, av.Started = a.Status, actionSpan(a), detail(a), a.StartedAt
				av.Link = targetLink(a.Target, project)
				if a.Target != nil {
					av.Revision = a.Target.Commit
				}
				if av.Category == "" {
					av.Category = a.Category
				}
			}
			if av.Category == "Approval" && av.Status == "InProgress" && approval == nil && exec != nil {
				approval = &approvalView{Execution: exec.ID, Stage: st.Name, Action: ac.Name}
			}
			sv.Actions = append(sv.Actions, av)
		}
		stages = append(stages, sv)
	}
	return stages, approval
}

// appView reads an application, its pipeline and its latest execution.
func (c *Console) appView(ctx context.Context, s *session, project, name string) (*appView, error) {
	app, err := s.api.App(ctx, project, name)
	if err != nil {
		return nil, err
	}
	v := &appView{App: app, Project: project}
	var decl declaration
	var disabled map[string]string
	switch {
	case app.Pipeline == "":
		v.Note = "The pipeline is not made yet."
	default:
		p, err := s.api.GetPipeline(ctx, project, app.Pipeline)
		switch status, _ := apiStatus(err); {
		case err == nil:
			v.CanApprove = p.Permissions["approve"]
			disabled = p.Disabled
			decl = c.readDeclaration(project, p)
		case status == http.StatusNotFound:
			v.Note = "The pipeline " + app.Pipeline + " does not exist."
		case status == http.StatusForbidden:
			v.Note = "You may not read the pipeline " + app.Pipeline + "."
		default:
			return nil, err
		}
	}
	if v.Note == "" {
		recent, err := s.api.PipelineExecutions(ctx, project, app.Pipeline, client.ExecutionListOptions{Limit: recentExecutions})
		if status, _ := apiStatus(err); err != nil && (status == 0 || status == http.StatusUnauthorized) {
			return nil, err
		} else if err != nil {
			// The picture shows without them.
			c.log.Warn("web: cannot list a pipeline's executions", "project", project, "pipeline", app.Pipeline, "err", err)
		}
		for i := range recent {
			v.Recent = append(v.Recent, newHistoryRow(&recent[i], app.Pipeline, project))
		}
	}
	var exec *client.PipelineExecution
	if le := app.LatestExecution; le != nil && le.ID != "" && v.Note == "" {
		exec, err = s.api.GetPipelineExecution(ctx, project, le.ID)
		if status, _ := apiStatus(err); status == http.StatusNotFound {
			exec, err = nil, nil
		}
		if err != nil {
			return nil, err
		}
		v.Execution = &execView{ID: le.ID, Status: le.Status, Commit: le.Commit, Trigger: le.Trigger,
			URL: executionURL(app.Pipeline, le.ID, project)}
		if exec != nil {
			v.Execution.Status = exec.Status
			if v.Execution.Commit == "" {
				v.Execution.Commit = execCommit(exec)
			}
			if v.Execution.Trigger == "" {
				v.Execution.Trigger = exec.Trigger.Type
			}
		}
	}

	v.Stages, v.Approval = pictureStages(decl, disabled, exec, project)
	if len(v.Stages) == 0 && v.Note == "" {
		for _, name := range app.Stages {
			reason, blocked := disabled[name]
			v.Stages = append(v.Stages, stageView{Name: name, Blocked: blocked, Disabled: reason})
		}
	}
	return v, nil
}

// span is how long something took from start to end: "running" while it
// has no end and running says it goes on, "" when it has not started or
// stopped without an end.
func span(start, end time.Time, running bool) string {
	switch {
	case start.IsZero():
		return ""
	case end.IsZero() && running:
		return "running"
	case end.IsZero():
		return ""
	}
	return formatDuration(end.Sub(start))
}

// actionSpan is how long an action's attempt took.
func actionSpan(a client.ActionExecution) string {
	return span(a.StartedAt, a.EndedAt, a.Status == "InProgress")
}

func formatDuration(d time.Duration) string {
	switch {
	case d < 0:
		return ""
	case d < time.Second:
		return "<1s"
	}
	d = d.Round(time.Second)
	h, m, s := int(d/time.Hour), int(d%time.Hour/time.Minute), int(d%time.Minute/time.Second)
	switch {
	case h > 0:
		return fmt.Sprintf("%dh %dm", h, m)
	case m > 0:
		return fmt.Sprintf("%dm %ds", m, s)
	}
	return fmt.Sprintf("%ds", s)
}

// detail is a line about an attempt: its error, its decision or summary.
func detail(a client.ActionExecution) string {
	switch {
	case a.Decision != nil:
		word := "Rejected"
		if a.Decision.Approved {
			word = "Approved"
		}
		return word + " by " + a.Decision.By
	case a.Error != "":
		return clip(a.Error, 200)
	}
	return clip(a.Summary, 200)
}

func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}

// statusKind groups the API's statuses (actions', executions', stacks'
// and applications') for colour and symbol.
func statusKind(s string) string {
	// Pipelines, stacks, builds (CodeBuild's capitals), deployments,
	// instances, targets and change sets each have their own words.
	switch strings.ToLower(s) {
	case "succeeded", "create_complete", "update_complete", "import_complete",
		"inservice", "healthy", "available", "execute_complete":
		return "ok"
	case "inprogress", "in_progress", "initial", "draining", "terminating", "execute_in_progress", "degraded":
		return "busy"
	case "failed", "fault", "timed_out", "rollback_complete", "update_rollback_complete",
		"unhealthy", "execute_failed":
		return "bad"
	case "stopped", "stopping", "abandoned", "superseded", "disabled", "skipped",
		"terminated", "unused", "obsolete", "unavailable":
		return "stopped"
	case "pending", "created", "queued":
		return "pending"
	}
	switch {
	case strings.HasSuffix(s, "_IN_PROGRESS"):
		return "busy"
	case strings.HasSuffix(s, "_FAILED"):
		return "bad"
	}
	return "none"
}

// statusSymbol is the symbol beside a status word, so that colour is not
// its only sign.
func statusSymbol(s string) string {
	switch statusKind(s) {
	case "ok":
		return "✓"
	case "busy":
		return "…"
	case "bad":
		return "✗"
	case "stopped":
		return "■"
	case "pending":
		return "○"
	}
	return "·"
}

// badge is a status word with its colour group (kind) and symbol.
type badge struct{ Word, Kind, Symbol string }

func newBadge(word string) badge {
	if word == "" {
		word = "Unknown"
	}
	return badge{Word: word, Kind: statusKind(word), Symbol: statusSymbol(word)}
}

// HTML is the badge as the "status" template shows a status: a word and
// a symbol, never the colour alone.
func (b badge) HTML() template.HTML {
	return template.HTML(`<span class="status status-` + template.HTMLEscapeString(b.Kind) + `"><span class="symbol" aria-hidden="true">` +
		b.Symbol + `</span> ` + template.HTMLEscapeString(b.Word) + `</span>`)
}

// instancesHealth says how many of an environment's instances are
// healthy, as a badge: Healthy when every one is, Unhealthy when none is,
// else Degraded.
func instancesHealth(n *client.AppInstances) badge {
	b := newBadge("Degraded")
	switch {
	case n.Total > 0 && n.Healthy == n.Total:
		b = newBadge("Healthy")
	case n.Healthy == 0:
		b = newBadge("Unhealthy")
	}
	b.Word = fmt.Sprintf("%d of %d healthy", n.Healthy, n.Total)
	return b
}
