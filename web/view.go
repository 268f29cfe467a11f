package web

import (
	"context"
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/client"
)

// appView is an application's page: its header and what the live
// fragment shows (the pipeline picture, the approval, the environments).
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
	// Gone says the application no longer exists (live pages only).
	Gone bool
	// Fragment is the live fragment as the page holds it, rendered once;
	// Digest names it, so that the live stream sends nothing until it
	// changes: replacing the same HTML would only take away the nodes the
	// user is working with.
	Fragment template.HTML
	Digest   string
}

type stageView struct {
	Name string
	// Disabled is why the stage's inbound transition is disabled.
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
}

// Label is the status word shown.
func (a actionView) Label() string {
	if a.Status == statusNotRun {
		return "Not run"
	}
	return a.Status
}

type execView struct {
	ID      string
	Status  string
	Commit  string
	Trigger string
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
			if len(p.Declaration) > 0 {
				if err := json.Unmarshal(p.Declaration, &decl); err != nil {
					c.log.Warn("web: cannot read a pipeline's declaration", "project", project, "pipeline", app.Pipeline, "err", err)
				}
			}
		case status == http.StatusNotFound:
			v.Note = "The pipeline " + app.Pipeline + " does not exist."
		case status == http.StatusForbidden:
			v.Note = "You may not read the pipeline " + app.Pipeline + "."
		default:
			return nil, err
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
		v.Execution = &execView{ID: le.ID, Status: le.Status, Commit: le.Commit, Trigger: le.Trigger}
		if exec != nil {
			v.Execution.Status = exec.Status
			if v.Execution.Commit == "" {
				v.Execution.Commit = exec.Trigger.Commit
				for _, rev := range exec.Revisions {
					if rev.Commit != "" {
						v.Execution.Commit = rev.Commit
						break
					}
				}
			}
			if v.Execution.Trigger == "" {
				v.Execution.Trigger = exec.Trigger.Type
			}
		}
	}

	// The latest attempt of each action.
	latest := map[[2]string]client.ActionExecution{}
	if exec != nil {
		for _, a := range exec.Actions {
			k := [2]string{a.Stage, a.Action}
			if old, ok := latest[k]; !ok || a.Attempt > old.Attempt || (a.Attempt == old.Attempt && a.StartedAt.After(old.StartedAt)) {
				latest[k] = a
			}
		}
	}
	for _, st := range decl.Stages {
		sv := stageView{Name: st.Name, Disabled: disabled[st.Name]}
		for _, ac := range st.Actions {
			av := actionView{Name: ac.Name, Category: ac.ActionTypeID.Category, Status: statusNotRun}
			if a, ok := latest[[2]string{st.Name, ac.Name}]; ok {
				av.Status, av.Duration, av.Detail = a.Status, duration(a), detail(a)
				if av.Category == "" {
					av.Category = a.Category
				}
			}
			if av.Category == "Approval" && av.Status == "InProgress" && v.Approval == nil && exec != nil {
				v.Approval = &approvalView{Execution: exec.ID, Stage: st.Name, Action: ac.Name}
			}
			sv.Actions = append(sv.Actions, av)
		}
		v.Stages = append(v.Stages, sv)
	}
	if len(v.Stages) == 0 && v.Note == "" {
		for _, name := range app.Stages {
			v.Stages = append(v.Stages, stageView{Name: name, Disabled: disabled[name]})
		}
	}
	return v, nil
}

// duration is how long an attempt took, or "running".
func duration(a client.ActionExecution) string {
	if a.StartedAt.IsZero() {
		return ""
	}
	if a.EndedAt.IsZero() {
		if a.Status == "InProgress" {
			return "running"
		}
		return ""
	}
	return formatDuration(a.EndedAt.Sub(a.StartedAt))
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
	switch s {
	case "Succeeded", "CREATE_COMPLETE", "UPDATE_COMPLETE", "IMPORT_COMPLETE":
		return "ok"
	case "InProgress":
		return "busy"
	case "Failed", "ROLLBACK_COMPLETE", "UPDATE_ROLLBACK_COMPLETE":
		return "bad"
	case "Stopped", "Stopping", "Abandoned", "Superseded":
		return "stopped"
	case "Pending":
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
