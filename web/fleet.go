package web

import (
	"bytes"
	"context"
	"fmt"
	"html/template"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/slipway/slipway/client"
)

// fleetRoutes registers the fleet pages: instance groups and their
// instances, and the load balancers with their target groups.
func (c *Console) fleetRoutes(mux *http.ServeMux) {
	mux.Handle("GET /fleet", c.authed(c.fleet))
	mux.Handle("GET /fleet/live", c.authed(c.fleetLive))
	mux.Handle("GET /fleet/instances/{id}", c.authed(c.fleetInstance))
	mux.Handle("GET /load-balancers", c.authed(c.loadBalancers))
	mux.Handle("GET /load-balancers/live", c.authed(c.loadBalancersLive))
}

// infraInstanceURL is an instance's page.
func infraInstanceURL(id, project string) string {
	return infraURL("/fleet/instances/"+url.PathEscape(id), project, "")
}

// infraTGLink is where the load balancers page shows a target group.
func infraTGLink(name, project string) string {
	return infraURL("/load-balancers", project, "#tg-"+url.PathEscape(name))
}

// infraAddress is where an instance's application is reached: a host
// port for a plain process, else its own network, reached through the
// load balancer.
func infraAddress(in *client.Instance) string {
	if in.Port > 0 {
		return "127.0.0.1:" + strconv.Itoa(in.Port)
	}
	return ""
}

type fleetInstanceRow struct {
	client.Instance
	URL     string
	State   badge
	Health  badge
	Address string
}

// fleetTargetGroup is a target group a group's instances are registered with.
type fleetTargetGroup struct{ Name, Link string }

type fleetGroupRow struct {
	client.InstanceGroup
	StackURL     string
	TargetGroups []fleetTargetGroup
	Instances    []fleetInstanceRow
}

// fleetView is the fleet page; the groups are its live fragment.
type fleetView struct {
	Project  string
	Groups   []fleetGroupRow
	Fragment template.HTML
	Digest   string
}

func newFleetInstanceRow(in client.Instance, project string) fleetInstanceRow {
	return fleetInstanceRow{Instance: in, URL: infraInstanceURL(in.ID, project), State: newBadge(in.State), Health: newBadge(in.Health), Address: infraAddress(&in)}
}

func (c *Console) fleetView(ctx context.Context, s *session, project string) (*fleetView, error) {
	groups, err := s.api.InstanceGroups(ctx, project)
	if err != nil {
		return nil, err
	}
	v := &fleetView{Project: project}
	for _, g := range groups {
		row := fleetGroupRow{InstanceGroup: g}
		if g.StackName != "" {
			row.StackURL = infraStackURL(g.StackName, project, "")
		}
		for _, arn := range g.TargetGroups {
			name := infraARNName(arn, ":targetgroup/")
			if name == "" {
				name = arn
			}
			row.TargetGroups = append(row.TargetGroups, fleetTargetGroup{Name: name, Link: infraTGLink(name, project)})
		}
		for _, in := range g.Instances {
			row.Instances = append(row.Instances, newFleetInstanceRow(in, project))
		}
		v.Groups = append(v.Groups, row)
	}
	return v, nil
}

// fleet is the fleet page: the project's instance groups and their
// instances, kept up to date live.
func (c *Console) fleet(w http.ResponseWriter, r *http.Request, s *session) error {
	project := projectOf(r)
	v, err := c.fleetView(r.Context(), s, project)
	if err != nil {
		return err
	}
	html, err := c.fragment("fleet", "fleet-live", v)
	if err != nil {
		return err
	}
	// The fragment is the template's own output, escaped as it was made.
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, http.StatusOK, "fleet", &pageData{Title: "Fleet", Nav: "fleet", Project: project, Live: true, Body: v})
	return nil
}

func (c *Console) fleetLive(w http.ResponseWriter, r *http.Request, s *session) error {
	project := projectOf(r)
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		v, err := c.fleetView(ctx, s, project)
		if err != nil {
			return "", err
		}
		return c.fragment("fleet", "fleet-live", v)
	}, nil)
}

// instanceView is an instance's page.
type instanceView struct {
	Project  string
	Instance fleetInstanceRow
	GroupURL string
	Console  string
	// ConsoleNote says why there is no console output.
	ConsoleNote string
}

// instance is an instance's page: its facts and its console output.
func (c *Console) fleetInstance(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, id := projectOf(r), r.PathValue("id")
	in, err := s.api.Instance(ctx, project, id)
	if err != nil {
		return err
	}
	v := &instanceView{Project: project, Instance: newFleetInstanceRow(*in, project)}
	if in.Group != "" {
		v.GroupURL = infraURL("/fleet", project, "#group-"+url.PathEscape(in.Group))
	}
	var out bytes.Buffer
	if err := s.api.InstanceConsole(ctx, project, in.ID, &out); err != nil {
		status, msg, err := refusal(err)
		if err != nil {
			return err
		}
		// A terminated instance's log is gone: the page still shows the
		// instance, and why.
		c.log.Info("web: no console output", "project", project, "instance", in.ID, "status", status, "err", msg)
		v.ConsoleNote = msg
	} else {
		v.Console = strings.ToValidUTF8(out.String(), "\uFFFD")
	}
	c.render(w, r, s, http.StatusOK, "instance", &pageData{Title: "Instance " + in.ID, Nav: "fleet", Project: project, Body: v})
	return nil
}

// lbAction is what a listener does, in words, with the target group it
// forwards to.
type lbAction struct {
	Text        string
	TargetGroup string
	Link        string
}

type lbListener struct {
	client.Listener
	Actions []lbAction
}

type lbRow struct {
	client.LoadBalancerSummary
	URL       string
	Listeners []lbListener
}

type lbTarget struct {
	client.TargetHealth
	Badge badge
	// URL is an instance target's page.
	URL string
}

type lbTargetGroup struct {
	client.TargetGroup
	// LoadBalancers are the names of those forwarding to it.
	LoadBalancers []string
	Targets       []lbTarget
	Check         string
}

// lbView is the load balancers page; all of it below the title is its
// live fragment.
type lbView struct {
	Project       string
	LoadBalancers []lbRow
	TargetGroups  []lbTargetGroup
	Fragment      template.HTML
	Digest        string
}

func (c *Console) lbView(ctx context.Context, s *session, project string) (*lbView, error) {
	lbs, err := s.api.ListLoadBalancers(ctx, project)
	if err != nil {
		return nil, err
	}
	// The list holds each target group's targets' health.
	tgs, err := s.api.ListTargetGroups(ctx, project)
	if err != nil {
		return nil, err
	}
	v := &lbView{Project: project}
	tgNames := map[string]string{}
	for _, tg := range tgs {
		tgNames[tg.ARN] = tg.Name
	}
	for _, lb := range lbs {
		row := lbRow{LoadBalancerSummary: lb}
		if lb.DNSName != "" {
			row.URL = "http://" + lb.DNSName
		}
		for _, l := range lb.Listeners {
			ll := lbListener{Listener: l}
			for _, a := range l.DefaultActions {
				ll.Actions = append(ll.Actions, infraLBAction(a, tgNames, project))
			}
			row.Listeners = append(row.Listeners, ll)
		}
		v.LoadBalancers = append(v.LoadBalancers, row)
	}
	for _, tg := range tgs {
		row := lbTargetGroup{TargetGroup: tg, Check: infraHealthCheck(&tg)}
		for _, arn := range tg.LoadBalancerARNs {
			if n := infraARNName(arn, ":loadbalancer/app/"); n != "" {
				row.LoadBalancers = append(row.LoadBalancers, n)
			}
		}
		for _, t := range tg.Targets {
			lt := lbTarget{TargetHealth: t, Badge: newBadge(t.State)}
			if tg.TargetType == "" || tg.TargetType == "instance" {
				lt.URL = infraInstanceURL(t.ID, project)
			}
			row.Targets = append(row.Targets, lt)
		}
		v.TargetGroups = append(v.TargetGroups, row)
	}
	return v, nil
}

// infraLBAction says what a listener's action does.
func infraLBAction(a client.LBAction, tgNames map[string]string, project string) lbAction {
	switch {
	case a.Type == "forward" && a.TargetGroupARN != "":
		name := tgNames[a.TargetGroupARN]
		if name == "" {
			name = infraARNName(a.TargetGroupARN, ":targetgroup/")
		}
		if name == "" {
			return lbAction{Text: "forward to " + a.TargetGroupARN}
		}
		return lbAction{Text: "forward to", TargetGroup: name, Link: infraTGLink(name, project)}
	case a.FixedResponse != nil:
		return lbAction{Text: fmt.Sprintf("fixed response %d", a.FixedResponse.StatusCode)}
	case a.Redirect != nil:
		rd := a.Redirect
		to := rd.Host
		if rd.Port != "" {
			to += ":" + rd.Port
		}
		to = strings.TrimSpace(strings.ToUpper(rd.Protocol) + " " + to + rd.Path)
		if to == "" {
			return lbAction{Text: fmt.Sprintf("redirect (%d)", rd.StatusCode)}
		}
		return lbAction{Text: fmt.Sprintf("redirect (%d) to %s", rd.StatusCode, to)}
	}
	return lbAction{Text: a.Type}
}

func infraOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// healthCheck sums up a target group's health check settings.
func infraHealthCheck(tg *client.TargetGroup) string {
	hc := tg.HealthCheck
	var b strings.Builder
	b.WriteString(infraOr(hc.Protocol, tg.Protocol))
	if hc.Path != "" {
		b.WriteString(" " + hc.Path)
	}
	if hc.Port != "" && hc.Port != "traffic-port" {
		b.WriteString(" on port " + hc.Port)
	}
	if hc.IntervalSeconds > 0 {
		fmt.Fprintf(&b, ", every %ds", hc.IntervalSeconds)
	}
	if hc.TimeoutSeconds > 0 {
		fmt.Fprintf(&b, ", timeout %ds", hc.TimeoutSeconds)
	}
	if hc.HealthyThreshold > 0 || hc.UnhealthyThreshold > 0 {
		fmt.Fprintf(&b, ", healthy after %d, unhealthy after %d", hc.HealthyThreshold, hc.UnhealthyThreshold)
	}
	if hc.Matcher != "" {
		b.WriteString(", expects " + hc.Matcher)
	}
	return strings.TrimSpace(b.String())
}

// loadBalancers is the load balancers page: their listeners, and the
// target groups with their targets' health, kept up to date live.
func (c *Console) loadBalancers(w http.ResponseWriter, r *http.Request, s *session) error {
	project := projectOf(r)
	v, err := c.lbView(r.Context(), s, project)
	if err != nil {
		return err
	}
	html, err := c.fragment("loadbalancers", "lb-live", v)
	if err != nil {
		return err
	}
	v.Fragment, v.Digest = template.HTML(html), digest(html)
	c.render(w, r, s, http.StatusOK, "loadbalancers", &pageData{Title: "Load balancers", Nav: "lbs", Project: project, Live: true, Body: v})
	return nil
}

func (c *Console) loadBalancersLive(w http.ResponseWriter, r *http.Request, s *session) error {
	project := projectOf(r)
	return c.serveLive(w, r, func(ctx context.Context) (string, error) {
		v, err := c.lbView(ctx, s, project)
		if err != nil {
			return "", err
		}
		return c.fragment("loadbalancers", "lb-live", v)
	}, nil)
}
