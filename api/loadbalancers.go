package api

import (
	"errors"
	"net/http"
	"slices"

	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/store"
)

// loadBalancerSummary is a load balancer with its listeners, each with the
// local address its port is served on.
type loadBalancerSummary struct {
	*lbsvc.LoadBalancer
	Listeners []lbsvc.Listener `json:"listeners"`
}

// listenerView is a listener with its rules.
type listenerView struct {
	lbsvc.Listener
	Rules []lbsvc.Rule `json:"rules"`
}

// targetGroupView is a target group with its targets' health.
type targetGroupView struct {
	lbsvc.TargetGroup
	Targets []lbsvc.TargetHealth `json:"targets"`
}

// loadBalancerDetail is the answer of GET .../load-balancers/{name}.
type loadBalancerDetail struct {
	LoadBalancer *lbsvc.LoadBalancer `json:"load_balancer"`
	Listeners    []listenerView      `json:"listeners"`
	// TargetGroups are the groups its listeners and rules forward to.
	TargetGroups []targetGroupView `json:"target_groups"`
}

// registerRequest is the body of POST .../targets.
type registerRequest struct {
	Targets []lbsvc.Target `json:"targets"`
}

// deregisterRequest is the body of POST .../targets/deregister.
type deregisterRequest struct {
	// IDs are deregistered on every port; Targets on the port each gives
	// (0: every port).
	IDs     []string       `json:"ids"`
	Targets []lbsvc.Target `json:"targets"`
	// Wait answers only once the targets have drained (or the request ends).
	Wait bool `json:"wait"`
}

// lbError turns the load balancer and DNS services' errors into API errors.
func lbError(err error, what string) error {
	var inv *lbsvc.InvalidError
	switch {
	case errors.As(err, &inv):
		return badRequest("%s", inv.Message)
	case errors.Is(err, store.ErrNotFound):
		return &notFound{what: what}
	}
	return err
}

func (s *Server) listLoadBalancers(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	lbs, err := s.LoadBalancers.LoadBalancers(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := []loadBalancerSummary{}
	for i := range lbs {
		ls, err := s.LoadBalancers.Listeners(ctx, pr.ID, lbs[i].ARN)
		if err != nil {
			return err
		}
		out = append(out, loadBalancerSummary{LoadBalancer: &lbs[i], Listeners: nonNil(ls)})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) getLoadBalancer(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	name := r.PathValue("name")
	l, err := s.LoadBalancers.LoadBalancer(ctx, pr.ID, name)
	if err != nil {
		return lbError(err, "load balancer "+name)
	}
	out := loadBalancerDetail{LoadBalancer: l, Listeners: []listenerView{}, TargetGroups: []targetGroupView{}}
	ls, err := s.LoadBalancers.Listeners(ctx, pr.ID, l.ARN)
	if err != nil {
		return err
	}
	for _, li := range ls {
		rules, err := s.LoadBalancers.Rules(ctx, pr.ID, li.ARN)
		if err != nil {
			return err
		}
		out.Listeners = append(out.Listeners, listenerView{Listener: li, Rules: nonNil(rules)})
	}
	tgs, err := s.LoadBalancers.TargetGroups(ctx, pr.ID)
	if err != nil {
		return err
	}
	for _, tg := range tgs {
		if !slices.Contains(tg.LoadBalancerARNs, l.ARN) {
			continue
		}
		th, err := s.LoadBalancers.TargetHealth(ctx, tg.ARN)
		if err != nil {
			return err
		}
		out.TargetGroups = append(out.TargetGroups, targetGroupView{TargetGroup: tg, Targets: th})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) listTargetGroups(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	tgs, err := s.LoadBalancers.TargetGroups(ctx, pr.ID)
	if err != nil {
		return err
	}
	out := []targetGroupView{}
	for _, tg := range tgs {
		th, err := s.LoadBalancers.TargetHealth(ctx, tg.ARN)
		if err != nil {
			return err
		}
		out = append(out, targetGroupView{TargetGroup: tg, Targets: th})
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// targetGroup resolves {name} to one of the project's target groups, with
// the action's role on the project.
func (s *Server) targetGroup(r *http.Request, p *auth.Principal, act auth.Action) (*lbsvc.TargetGroup, error) {
	pr, err := s.projectFor(r.Context(), p, act, r.PathValue("project"))
	if err != nil {
		return nil, err
	}
	name := r.PathValue("name")
	tg, err := s.LoadBalancers.TargetGroup(r.Context(), pr.ID, name)
	if err != nil {
		return nil, lbError(err, "target group "+name)
	}
	return tg, nil
}

func (s *Server) targetHealth(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tg, err := s.targetGroup(r, p, auth.Read)
	if err != nil {
		return err
	}
	th, err := s.LoadBalancers.TargetHealth(r.Context(), tg.ARN)
	if err != nil {
		return lbError(err, "target group "+tg.Name)
	}
	writeJSON(w, http.StatusOK, th)
	return nil
}

// registerTargets registers targets, as deployments and the fleet do, and
// answers the group's target health.
func (s *Server) registerTargets(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tg, err := s.targetGroup(r, p, auth.Write)
	if err != nil {
		return err
	}
	var req registerRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	if len(req.Targets) == 0 {
		return badRequest("targets: give at least one target as {\"id\": ID, \"port\": PORT}")
	}
	if err := s.LoadBalancers.RegisterTargets(r.Context(), tg.ARN, req.Targets...); err != nil {
		return lbError(err, "target group "+tg.Name)
	}
	return s.targetHealth(w, r, p)
}

// deregisterTargets deregisters targets; with wait it answers once they
// have drained.
func (s *Server) deregisterTargets(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	tg, err := s.targetGroup(r, p, auth.Write)
	if err != nil {
		return err
	}
	var req deregisterRequest
	if err := decode(r, &req); err != nil {
		return err
	}
	targets := req.Targets
	for _, id := range req.IDs {
		targets = append(targets, lbsvc.Target{ID: id})
	}
	if len(targets) == 0 {
		return badRequest("ids or targets: give at least one target")
	}
	if err := s.LoadBalancers.DeregisterTargets(r.Context(), tg.ARN, req.Wait, targets...); err != nil {
		return lbError(err, "target group "+tg.Name)
	}
	return s.targetHealth(w, r, p)
}

// hostedZones is the answer of GET .../hosted-zones.
type hostedZones struct {
	// DNSAddress is where the server's DNS server answers ("" when it runs none).
	DNSAddress  string              `json:"dns_address"`
	HostedZones []dnssvc.HostedZone `json:"hosted_zones"`
}

// hostedZoneDetail is the answer of GET .../hosted-zones/{zone}.
type hostedZoneDetail struct {
	DNSAddress string             `json:"dns_address"`
	HostedZone *dnssvc.HostedZone `json:"hosted_zone"`
	RecordSets []dnssvc.RecordSet `json:"record_sets"`
}

func (s *Server) listHostedZones(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	zs, err := s.DNS.Zones(ctx, pr.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hostedZones{DNSAddress: s.DNS.Addr(), HostedZones: nonNil(zs)})
	return nil
}

func (s *Server) getHostedZone(w http.ResponseWriter, r *http.Request, p *auth.Principal) error {
	ctx := r.Context()
	pr, err := s.projectFor(ctx, p, auth.Read, r.PathValue("project"))
	if err != nil {
		return err
	}
	zone := r.PathValue("zone")
	z, err := s.DNS.Zone(ctx, pr.ID, zone)
	if err != nil {
		return lbError(err, "hosted zone "+zone)
	}
	rss, err := s.DNS.RecordSets(ctx, pr.ID, z.ID)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, hostedZoneDetail{DNSAddress: s.DNS.Addr(), HostedZone: z, RecordSets: nonNil(rss)})
	return nil
}
