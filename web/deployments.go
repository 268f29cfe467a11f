package web

import (
	"context"
	"html/template"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/slipway/slipway/client"
)

const (
	// deployOutputLines is how much of one lifecycle event's hook output
	// the page shows: its last lines.
	deployOutputLines = 500
	// deployLogPages bounds the pages of output chunks read per instance
	// (the API answers up to 1000 chunks a page).
	deployLogPages = 20
	deployLogPage  = 1000
)

// deploymentRoutes registers the deployments pages.
func (c *Console) deploymentRoutes(mux *http.ServeMux) {
	mux.Handle("GET /deployments/{id}", c.authed(c.deploymentPage))
	mux.Handle("GET /deployments/{id}/live", c.authed(c.deploymentLive))
}

// deployPageURL is a deployment's page (or a path below it, suffix), with
// the project when it is not the default one.
func deployPageURL(id, project, suffix string) string {
	return withProject("/deployments/"+url.PathEscape(id)+suffix, project)
}

// deployEventRow is one lifecycle event of an instance.
type deployEventRow struct {
	client.LifecycleEvent
	Badge    badge
	Duration string
	// Output is the event's hook output (its last lines), rendered.
	Output    template.HTML
	OutputCut bool
}

// deployInstanceRow is one instance of a deployment with its events.
type deployInstanceRow struct {
	ID string
	// URL is the fleet's page of a local instance; on-premises hosts
	// have none.
	URL      string
	Badge    badge
	Duration string
	Events   []deployEventRow
	// Other is output of events the instance does not list.
	Other []deployEventRow
	// OutputNote says the output could not all be read.
	OutputNote string
}

// deployView is a deployment's page; the live fragment is all of it but
// the heading.
type deployView struct {
	D         *client.Deployment
	Project   string
	Badge     badge
	Duration  string
	Instances []deployInstanceRow
	// RollbackOf is the page of the deployment this one rolls back;
	// RolledBackBy that of the deployment that rolled this one back.
	RollbackOf, RolledBackBy string
	// Gone says the deployment no longer exists (live pages only).
	Gone     bool
	Fragment template.HTML
	Digest   string
}

// RevisionShort is the revision's digest shortened for the eye.
func (v *deployView) RevisionShort() string {
	algo, hex, ok := strings.Cut(v.D.Revision.Digest, ":")
	if !ok {
		return short(v.D.Revision.Digest)
	}
	return algo + ":" + short(hex)
}

// StreamURL is the live fragment's stream.
func (v *deployView) StreamURL() string { return deployPageURL(v.D.ID, v.Project, "/live") }

func (c *Console) deployView(ctx context.Context, s *session, project, id string) (*deployView, error) {
	d, err := s.api.Deployment(ctx, project, id)
	if err != nil {
		return nil, err
	}
	targets, err := s.api.DeploymentInstances(ctx, project, id)
	if err != nil {
		return nil, err
	}
	running := !d.Done()
	v := &deployView{D: d, Project: project, Badge: newBadge(d.Status), Duration: span(d.StartedAt, d.EndedAt, running)}
	if rb := d.Rollback.RollbackTriggeringDeploymentID; rb != "" {
		v.RollbackOf = deployPageURL(rb, project, "")
	}
	if rb := d.Rollback.RollbackDeploymentID; rb != "" {
		v.RolledBackBy = deployPageURL(rb, project, "")
	}
	for _, t := range targets {
		row := deployInstanceRow{ID: t.InstanceID, URL: instanceURL(t.InstanceID, project), Badge: newBadge(t.Status),
			Duration: span(t.StartedAt, t.EndedAt, t.Status == "InProgress")}
		output, complete, err := c.deployOutput(ctx, s, project, id, t.InstanceID)
		switch st, _ := apiStatus(err); {
		case err == nil:
			if !complete {
				row.OutputNote = "This instance wrote more output than the page reads; the last lines of each event may be missing."
			}
		case st == http.StatusUnauthorized || ctx.Err() != nil:
			return nil, err
		default:
			c.log.Warn("web: cannot read a deployment's hook output", "deployment", id, "instance", t.InstanceID, "err", err)
			row.OutputNote = "The hook output cannot be read now."
		}
		for _, e := range t.Events {
			er := deployEventRow{LifecycleEvent: e, Badge: newBadge(e.Status), Duration: span(e.StartedAt, e.EndedAt, e.Status == "InProgress")}
			er.Output, er.OutputCut = deployRender(output[e.Name])
			delete(output, e.Name)
			row.Events = append(row.Events, er)
		}
		// In a fixed order: the live stream sends the fragment when it
		// changes.
		for _, name := range slices.Sorted(maps.Keys(output)) {
			er := deployEventRow{LifecycleEvent: client.LifecycleEvent{Name: name}}
			er.Output, er.OutputCut = deployRender(output[name])
			row.Other = append(row.Other, er)
		}
		v.Instances = append(v.Instances, row)
	}
	return v, nil
}

// deployOutput reads an instance's hook output by lifecycle event;
// complete is false when there was more than the page reads.
func (c *Console) deployOutput(ctx context.Context, s *session, project, id, instance string) (map[string]string, bool, error) {
	texts := map[string]*strings.Builder{}
	var after int64
	complete := false
	for range deployLogPages {
		logs, err := s.api.DeploymentLogs(ctx, project, id, instance, after)
		if err != nil {
			return nil, false, err
		}
		for _, ch := range logs.Chunks {
			b := texts[ch.Event]
			if b == nil {
				b = &strings.Builder{}
				texts[ch.Event] = b
			}
			b.WriteString(ch.Text)
			after = max(after, ch.Seq)
		}
		if len(logs.Chunks) < deployLogPage {
			complete = true
			break
		}
	}
	out := make(map[string]string, len(texts))
	for k, b := range texts {
		out[k] = b.String()
	}
	return out, complete, nil
}

// deployRender renders hook output's last deployOutputLines lines, with
// their ANSI colours; cut says earlier lines were left out.
func deployRender(text string) (template.HTML, bool) {
	if text == "" {
		return "", false
	}
	lines := strings.Split(strings.TrimSuffix(text, "\n"), "\n")
	var st ansiState
	var b strings.Builder
	cut := len(lines) > deployOutputLines
	for i, line := range lines {
		html, _, next := ansiLine(strings.TrimSuffix(line, "\r"), st)
		st = next
		if i < len(lines)-deployOutputLines {
			continue
		}
		b.WriteString(string(html))
		b.WriteByte('\n')
	}
	return template.HTML(b.String()), cut
}

func (c *Console) deploymentPage(w http.ResponseWriter, r *http.Request, s *session) error {
	project, id := projectOf(r), r.PathValue("id")
	v, err := c.deployView(r.Context(), s, project, id)
	if err != nil {
		return err
	}
	html, err := c.fragment("deployment", "deployment-live", v)
	if err != nil {
		return err
	}
	// The fragment is the template's own output, escaped as it was made.
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, http.StatusOK, "deployment", &pageData{Title: "Deployment " + v.D.ID, Project: project, Live: !v.D.Done(), Scripts: []string{"builds.js"}, Body: v})
	return nil
}

// deploymentLive streams a deployment's live fragment.
func (c *Console) deploymentLive(w http.ResponseWriter, r *http.Request, s *session) error {
	project, id := projectOf(r), r.PathValue("id")
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		v, err := c.deployView(ctx, s, project, id)
		if err != nil {
			return "", err
		}
		html, err := c.fragment("deployment", "deployment-live", v)
		if err == nil && v.D.Done() {
			err = errLiveDone
		}
		return html, err
	}, func() (string, error) {
		return c.fragment("deployment", "deployment-live", &deployView{Gone: true, D: &client.Deployment{ID: id}, Project: project})
	})
}

// instanceURL is the fleet's page of a local instance (ids "i-…"), or ""
// for an on-premises host, which the fleet does not run.
func instanceURL(id, project string) string {
	if !strings.HasPrefix(id, "i-") {
		return ""
	}
	return infraInstanceURL(id, project)
}
