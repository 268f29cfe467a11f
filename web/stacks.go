package web

import (
	"context"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/slipway/slipway/client"
)

const (
	// stackEventsShown is how many of a stack's newest events its page
	// shows; the CLI shows them all.
	stackEventsShown = 200
	// stackEventsPage is how many events one API request asks for (the
	// API's most).
	stackEventsPage = 1000
	// stackNoEchoMask is how the API shows a NoEcho parameter's value.
	stackNoEchoMask = "****"
	// stackChangeSetAvailable is the execution status of a change set that can
	// be executed.
	stackChangeSetAvailable = "AVAILABLE"
)

// stackRoutes registers the stacks pages.
func (c *Console) stackRoutes(mux *http.ServeMux) {
	mux.Handle("GET /stacks", c.authed(c.stacks))
	mux.Handle("GET /stacks/{name}", c.authed(c.stack))
	mux.Handle("GET /stacks/{name}/live", c.authed(c.stackLive))
	mux.Handle("GET /stacks/{name}/change-sets/{cs}", c.authed(c.stackChangeSet))
	mux.Handle("POST /stacks/{name}/change-sets/{cs}/execute", c.authed(c.stackExecuteChangeSet))
	mux.Handle("POST /stacks/{name}/change-sets/{cs}/delete", c.authed(c.stackDeleteChangeSet))
}

// infraURL is a console page's path with the project when it is not the
// default one, then fragment (with its #) if any.
func infraURL(path, project, fragment string) string {
	return withProject(path, project) + fragment
}

// infraStackURL is a stack's page, or a path below it (suffix).
func infraStackURL(name, project, suffix string) string {
	return infraURL("/stacks/"+url.PathEscape(name)+suffix, project, "")
}

// stackInProgress says a stack is being changed, so its page follows it
// live. A stack in review waits for a change set and changes only when one
// is executed, which leads back to its page.
func stackInProgress(status string) bool {
	return strings.HasSuffix(status, "_IN_PROGRESS") && status != "REVIEW_IN_PROGRESS"
}

// stackRow is a stack of the list.
type stackRow struct {
	client.Stack
	URL string
}

type stacksView struct {
	Project string
	Stacks  []stackRow
}

// stacks lists a project's stacks.
func (c *Console) stacks(w http.ResponseWriter, r *http.Request, s *session) error {
	project := projectOf(r)
	list, err := s.api.ListStacks(r.Context(), project)
	if err != nil {
		return err
	}
	v := &stacksView{Project: project}
	for _, st := range list {
		v.Stacks = append(v.Stacks, stackRow{Stack: st, URL: infraStackURL(st.Name, project, "")})
	}
	c.render(w, r, s, http.StatusOK, "stacks", &pageData{Title: "Stacks", Nav: "stacks", Project: project, Body: v})
	return nil
}

// stackParam is a parameter as shown; Masked says the API hid a NoEcho value.
type stackParam struct {
	Key    string
	Value  string
	Masked bool
}

// stackResourceRow is a resource; Link is the console page of what its
// physical ID names, when the console has one.
type stackResourceRow struct {
	client.StackResource
	Link string
}

type stackEventRow struct {
	client.StackEvent
	Time string
}

type stackChangeSetRow struct {
	client.ChangeSet
	URL       string
	Badge     badge
	ExecBadge badge
}

type stackTag struct{ Key, Value string }

// stackView is a stack's page. Everything below its title is the live
// fragment, which a stack being changed keeps up to date.
type stackView struct {
	Project    string
	Name       string
	Stack      *client.Stack
	Params     []stackParam
	Tags       []stackTag
	Resources  []stackResourceRow
	Events     []stackEventRow
	EventTotal int
	ChangeSets []stackChangeSetRow
	// Gone says the stack no longer exists (live pages only); ListURL is
	// the project's stacks.
	Gone    bool
	ListURL string

	Live     bool
	Fragment template.HTML
	Digest   string
}

// stackEventLog keeps a stack's newest events, read incrementally: a live
// page asks only for the events after the last one it has.
type stackEventLog struct {
	stackID string
	after   int64
	total   int
	// newest are oldest first, at most stackEventsShown.
	newest []client.StackEvent
}

// load reads the events after those the log has. A stack made again under
// the same name starts a new log.
func (l *stackEventLog) load(ctx context.Context, s *session, project string, st *client.Stack) error {
	if st.ID != l.stackID {
		*l = stackEventLog{stackID: st.ID}
	}
	for {
		evs, err := s.api.StackEvents(ctx, project, st.Name, l.after, stackEventsPage)
		if err != nil {
			return err
		}
		l.total += len(evs)
		l.newest = append(l.newest, evs...)
		if n := len(l.newest); n > stackEventsShown {
			l.newest = slices.Clone(l.newest[n-stackEventsShown:])
		}
		if len(evs) > 0 {
			l.after = evs[len(evs)-1].Seq
		}
		if len(evs) < stackEventsPage {
			return nil
		}
	}
}

// stackView reads a stack, its resources, events and change sets.
func (c *Console) stackView(ctx context.Context, s *session, project, name string, log *stackEventLog) (*stackView, error) {
	st, err := s.api.GetStack(ctx, project, name)
	if err != nil {
		return nil, err
	}
	v := &stackView{Project: project, Name: st.Name, Stack: st, Live: stackInProgress(st.Status)}
	for _, p := range st.Parameters {
		v.Params = append(v.Params, stackParam{Key: p.Key, Value: p.Value, Masked: p.Value == stackNoEchoMask})
	}
	for k, val := range st.Tags {
		v.Tags = append(v.Tags, stackTag{k, val})
	}
	sort.Slice(v.Tags, func(i, j int) bool { return v.Tags[i].Key < v.Tags[j].Key })
	resources, err := s.api.StackResources(ctx, project, name)
	if err != nil {
		return nil, err
	}
	for _, res := range resources {
		v.Resources = append(v.Resources, stackResourceRow{StackResource: res, Link: stackResourceLink(project, res)})
	}
	if err := log.load(ctx, s, project, st); err != nil {
		return nil, err
	}
	v.EventTotal = log.total
	for i := len(log.newest) - 1; i >= 0; i-- {
		e := log.newest[i]
		v.Events = append(v.Events, stackEventRow{StackEvent: e, Time: e.At.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	sets, err := s.api.ListChangeSets(ctx, project, name)
	if err != nil {
		return nil, err
	}
	// Newest first, as the events.
	for i := len(sets) - 1; i >= 0; i-- {
		cs := sets[i]
		v.ChangeSets = append(v.ChangeSets, stackChangeSetRow{ChangeSet: cs, URL: infraStackURL(name, project, "/change-sets/"+url.PathEscape(cs.Name)),
			Badge: newBadge(cs.Status), ExecBadge: newBadge(cs.ExecutionStatus)})
	}
	return v, nil
}

// stackResourceLink is the console page of what a resource's physical ID names:
// an instance group's (its name), a load balancer's or target group's (an
// ARN holding the name), a pipeline's (its name); "" for other types.
func stackResourceLink(project string, r client.StackResource) string {
	if r.PhysicalID == "" || r.Status == "DELETE_COMPLETE" {
		return ""
	}
	switch r.Type {
	case "AWS::AutoScaling::AutoScalingGroup":
		return infraURL("/fleet", project, "#group-"+url.PathEscape(r.PhysicalID))
	case "AWS::ElasticLoadBalancingV2::LoadBalancer":
		if n := infraARNName(r.PhysicalID, ":loadbalancer/app/"); n != "" {
			return infraURL("/load-balancers", project, "#lb-"+url.PathEscape(n))
		}
	case "AWS::ElasticLoadBalancingV2::TargetGroup":
		if n := infraARNName(r.PhysicalID, ":targetgroup/"); n != "" {
			return infraURL("/load-balancers", project, "#tg-"+url.PathEscape(n))
		}
	case "AWS::CodePipeline::Pipeline":
		return infraURL("/pipelines/"+url.PathEscape(r.PhysicalID), project, "")
	}
	return ""
}

// infraARNName is the NAME of an ELBv2 ARN "...KIND/NAME/ID" whose kind part is
// marker, or "".
func infraARNName(arn, marker string) string {
	_, rest, ok := strings.Cut(arn, marker)
	if !ok {
		return ""
	}
	name, _, ok := strings.Cut(rest, "/")
	if !ok {
		return ""
	}
	return name
}

// stack is a stack's page.
func (c *Console) stack(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name := projectOf(r), r.PathValue("name")
	v, err := c.stackView(r.Context(), s, project, name, &stackEventLog{})
	if err != nil {
		return err
	}
	html, err := c.fragment("stack", "stack-live", v)
	if err != nil {
		return err
	}
	// The fragment is the template's own output, escaped as it was made.
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, http.StatusOK, "stack", &pageData{Title: "Stack " + v.Name, Nav: "stacks", Project: project, Live: v.Live, Body: v})
	return nil
}

// stackLive streams a stack's live fragment. The stream keeps the events
// it has read, so each refresh asks only for new ones.
func (c *Console) stackLive(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name := projectOf(r), r.PathValue("name")
	log := &stackEventLog{}
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		v, err := c.stackView(ctx, s, project, name, log)
		if err != nil {
			return "", err
		}
		html, err := c.fragment("stack", "stack-live", v)
		if err == nil && !v.Live {
			// Settled: nothing changes until someone starts an operation.
			err = errLiveDone
		}
		return html, err
	}, func() (string, error) {
		return c.fragment("stack", "stack-live", &stackView{Project: project, Name: name, Gone: true, ListURL: infraURL("/stacks", project, "")})
	})
}

// changeSetView is a change set's page.
type changeSetView struct {
	Project   string
	StackName string
	StackURL  string
	Set       *client.ChangeSet
	Badge     badge
	ExecBadge badge
	// CanExecute says the change set is available to execute; the API
	// decides whether the user may.
	CanExecute bool
	ExecuteURL string
	DeleteURL  string
}

// stackChangeSet is a change set's page.
func (c *Console) stackChangeSet(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.stackChangeSetPage(w, r, s, http.StatusOK, "")
}

func (c *Console) stackChangeSetPage(w http.ResponseWriter, r *http.Request, s *session, status int, msg string) error {
	project, name, cs := projectOf(r), r.PathValue("name"), r.PathValue("cs")
	set, err := s.api.GetChangeSet(r.Context(), project, name, cs)
	if err != nil {
		return err
	}
	base := "/change-sets/" + url.PathEscape(set.Name)
	v := &changeSetView{Project: project, StackName: name, StackURL: infraStackURL(name, project, ""), Set: set,
		Badge: newBadge(set.Status), ExecBadge: newBadge(set.ExecutionStatus),
		CanExecute: set.ExecutionStatus == stackChangeSetAvailable,
		ExecuteURL: infraStackURL(name, "", base+"/execute"), DeleteURL: infraStackURL(name, "", base+"/delete")}
	c.render(w, r, s, status, "changeset", &pageData{Title: "Change set " + set.Name, Nav: "stacks", Project: project, Body: v, Error: msg})
	return nil
}

// stackExecuteChangeSet executes a change set and shows its stack, which is then
// being changed. A refusal shows on the change set's page.
func (c *Console) stackExecuteChangeSet(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.stackChangeSetAction(w, r, s, "execute", func(ctx context.Context, project, name, cs string) (string, error) {
		_, err := s.api.ExecuteChangeSet(ctx, project, name, cs)
		return infraStackURL(name, project, ""), err
	})
}

// stackDeleteChangeSet deletes a change set and goes back to its stack's list
// of change sets.
func (c *Console) stackDeleteChangeSet(w http.ResponseWriter, r *http.Request, s *session) error {
	return c.stackChangeSetAction(w, r, s, "delete", func(ctx context.Context, project, name, cs string) (string, error) {
		err := s.api.DeleteChangeSet(ctx, project, name, cs)
		return infraStackURL(name, project, "") + "#change-sets", err
	})
}

// stackChangeSetAction runs a change set's form: act calls the API and says
// where to go after.
func (c *Console) stackChangeSetAction(w http.ResponseWriter, r *http.Request, s *session, what string,
	act func(ctx context.Context, project, name, cs string) (string, error)) error {
	if err := parseForm(w, r); err != nil {
		return err
	}
	project, name, cs := projectOf(r), r.PathValue("name"), r.PathValue("cs")
	next, err := act(r.Context(), project, name, cs)
	if err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		c.log.Info("web: change set action refused", "action", what, "project", project, "stack", name, "change_set", cs, "status", status, "err", msg)
		if status == http.StatusNotFound {
			// Nothing to show the message on.
			return err
		}
		return c.stackChangeSetPage(w, r, s, status, msg)
	}
	c.log.Info("web: change set action done", "action", what, "project", project, "stack", name, "change_set", cs)
	http.Redirect(w, r, next, http.StatusSeeOther)
	return nil
}
