package lbsvc

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// resumed reports whether a row made under token by project is the one a
// create resumed under the same token asks for.
func resumed(rowToken, rowProject, token, projectID string) bool {
	return token != "" && rowToken == token && rowProject == projectID
}

// LoadBalancers returns a project's load balancers by name.
func (s *Service) LoadBalancers(ctx context.Context, projectID string) ([]LoadBalancer, error) {
	return s.queryLBs(ctx, s.db, " WHERE project_id = ?", projectID)
}

// LoadBalancer returns the project's load balancer with that name or ARN,
// or an error wrapping store.ErrNotFound.
func (s *Service) LoadBalancer(ctx context.Context, projectID, nameOrARN string) (*LoadBalancer, error) {
	l, err := one(s.queryLBs(ctx, s.db, " WHERE project_id = ? AND (arn = ? OR lower(name) = ?)", projectID, nameOrARN, strings.ToLower(nameOrARN)))
	if err != nil {
		return nil, fmt.Errorf("load balancer %s: %w", nameOrARN, err)
	}
	return l, nil
}

// CreateLoadBalancer makes a load balancer. Names are unique on the server
// (each is a host name): a taken one is an error wrapping
// store.ErrConflict, unless the load balancer is the project's and was
// made under the same non-empty managedBy, which returns it (a resumed
// create).
func (s *Service) CreateLoadBalancer(ctx context.Context, projectID, managedBy string, in LoadBalancerInput) (*LoadBalancer, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	name := in.Name
	if name == "" {
		name = "lb-" + resourceID("lb-name", managedBy)[:12]
	}
	if err := ValidateName("load balancer", name); err != nil {
		return nil, err
	}
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("load balancer %s: settings %w", name, err)
	}
	arn := s.arn("loadbalancer/app/" + name + "/" + resourceID("loadbalancer", managedBy))
	var out *LoadBalancer
	err = s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(s.queryLBs(ctx, tx, " WHERE lower(name) = ?", strings.ToLower(name)))
		if err == nil {
			if resumed(old.ManagedBy, old.ProjectID, managedBy, projectID) {
				out = old
				return nil
			}
			return fmt.Errorf("DuplicateLoadBalancerName: a load balancer named %s %w on this server: load balancer names are unique on a Slipway server, since each is the host name %s; choose another Name",
				name, store.ErrConflict, hostName(name))
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		now := time.Now()
		if _, err := tx.ExecContext(ctx, "INSERT INTO load_balancers ("+lbColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
			arn, projectID, name, in.Scheme, in.Type, in.IPAddressType, settings, managedBy, store.Millis(now)); err != nil {
			return fmt.Errorf("create load balancer %s: %w", name, err)
		}
		out, err = one(s.queryLBs(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	return out, err
}

func (in *LoadBalancerInput) normalize() error {
	if in.Scheme == "" {
		in.Scheme = "internet-facing"
	}
	if in.Type == "" {
		in.Type = "application"
	}
	if in.IPAddressType == "" {
		in.IPAddressType = "ipv4"
	}
	switch {
	case in.Scheme != "internet-facing" && in.Scheme != "internal":
		return fmt.Errorf("ValidationError: Scheme %q: want internet-facing or internal", in.Scheme)
	case in.Type != "application":
		return fmt.Errorf("ValidationError: load balancer Type %q is not supported: Slipway's load balancer is an application load balancer (HTTP); use Type application", in.Type)
	case !slices.Contains([]string{"ipv4", "dualstack", "dualstack-without-public-ipv4"}, in.IPAddressType):
		return fmt.Errorf("ValidationError: IpAddressType %q: want ipv4, dualstack or dualstack-without-public-ipv4", in.IPAddressType)
	}
	return nil
}

// UpdateLoadBalancer changes what may change of a load balancer in place:
// IPAddressType and the recorded settings.
func (s *Service) UpdateLoadBalancer(ctx context.Context, projectID, arn string, in LoadBalancerInput) (*LoadBalancer, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("load balancer settings %w", err)
	}
	var out *LoadBalancer
	err = s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(s.queryLBs(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, arn))
		if err != nil {
			return fmt.Errorf("load balancer %s: %w", arn, err)
		}
		if (in.Name != "" && in.Name != old.Name) || in.Scheme != old.Scheme || in.Type != old.Type {
			return fmt.Errorf("load balancer %s: Name, Scheme and Type cannot change in place; they need a new load balancer", old.Name)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE load_balancers SET ip_address_type = ?, settings = ? WHERE arn = ?",
			in.IPAddressType, settings, arn); err != nil {
			return fmt.Errorf("update load balancer %s: %w", old.Name, err)
		}
		out, err = one(s.queryLBs(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	return out, err
}

// DeleteLoadBalancer deletes a load balancer with its listeners and rules,
// as ELBv2 does; its target groups stay. An absent one is not an error.
func (s *Service) DeleteLoadBalancer(ctx context.Context, projectID, arn string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		_, err := tx.ExecContext(ctx, "DELETE FROM load_balancers WHERE project_id = ? AND arn = ?", projectID, arn)
		if err != nil {
			return fmt.Errorf("delete load balancer %s: %w", arn, err)
		}
		return nil
	})
}

// Listeners returns the project's listeners of a load balancer by port.
func (s *Service) Listeners(ctx context.Context, projectID, lbARN string) ([]Listener, error) {
	return s.queryListeners(ctx, s.db, " WHERE project_id = ? AND lb_arn = ?", projectID, lbARN)
}

// Listener returns the project's listener with that ARN.
func (s *Service) Listener(ctx context.Context, projectID, arn string) (*Listener, error) {
	l, err := one(s.queryListeners(ctx, s.db, " WHERE project_id = ? AND arn = ?", projectID, arn))
	if err != nil {
		return nil, fmt.Errorf("listener %s: %w", arn, err)
	}
	return l, nil
}

// CreateListener adds a listener to a load balancer of the project. A port
// the load balancer listens on already is an error wrapping
// store.ErrConflict, as is a new port that cannot be served (bound). A
// create resumed under the same non-empty managedBy returns the listener
// it made.
func (s *Service) CreateListener(ctx context.Context, projectID, managedBy string, in ListenerInput) (*Listener, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	var out *Listener
	err := s.mutate(ctx, func(tx *store.Tx) error {
		parent, err := one(s.queryLBs(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, in.LoadBalancerARN))
		if err != nil {
			return fmt.Errorf("LoadBalancerNotFound: load balancer %q: %w", in.LoadBalancerARN, err)
		}
		arn := s.arn("listener/" + parent.FullName() + "/" + resourceID("listener", managedBy))
		if old, err := one(s.queryListeners(ctx, tx, " WHERE arn = ?", arn)); err == nil && resumed(old.ManagedBy, old.ProjectID, managedBy, projectID) {
			out = old
			return nil
		}
		if err := s.checkListener(ctx, tx, projectID, parent, "", in); err != nil {
			return err
		}
		actions, err := encode(in.DefaultActions)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO lb_listeners ("+listenerColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			arn, projectID, parent.ARN, in.Port, in.Protocol, actions, managedBy, store.Millis(time.Now())); err != nil {
			return fmt.Errorf("create listener on port %d of %s: %w", in.Port, parent.Name, err)
		}
		out, err = one(s.queryListeners(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	if out != nil {
		out.LocalAddress = s.ListenerAddress(out.Port) // bound now
	}
	return out, err
}

func (in *ListenerInput) normalize() error {
	if in.Protocol == "" {
		in.Protocol = "HTTP"
	}
	in.Protocol = strings.ToUpper(in.Protocol)
	switch {
	case in.Port < 1 || in.Port > 65535:
		return fmt.Errorf("ValidationError: listener Port %d: want 1 to 65535", in.Port)
	case in.Protocol == "HTTPS":
		return errors.New("listener Protocol HTTPS is not supported yet: Slipway's load balancer has no certificates to serve TLS with; use Protocol HTTP")
	case in.Protocol != "HTTP":
		return fmt.Errorf("ValidationError: listener Protocol %q must be HTTP or HTTPS for an application load balancer (and HTTPS is not supported yet)", in.Protocol)
	}
	return validateActions(in.DefaultActions)
}

// checkListener checks in against the stored rows: the port is free on the
// load balancer (but for the listener self) and forwarded-to groups exist.
func (s *Service) checkListener(ctx context.Context, q store.Querier, projectID string, parent *LoadBalancer, self string, in ListenerInput) error {
	taken, err := exists(ctx, q, "SELECT 1 FROM lb_listeners WHERE lb_arn = ? AND port = ? AND arn <> ?", parent.ARN, in.Port, self)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("DuplicateListener: load balancer %s has a listener on port %d %w", parent.Name, in.Port, store.ErrConflict)
	}
	return checkGroups(ctx, q, projectID, in.DefaultActions)
}

// UpdateListener changes a listener's port, protocol and default actions.
func (s *Service) UpdateListener(ctx context.Context, projectID, arn string, in ListenerInput) (*Listener, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	var out *Listener
	err := s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(s.queryListeners(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, arn))
		if err != nil {
			return fmt.Errorf("ListenerNotFound: listener %s: %w", arn, err)
		}
		if in.LoadBalancerARN != "" && in.LoadBalancerARN != old.LoadBalancerARN {
			return errors.New("a listener cannot move to another load balancer in place; it needs a new listener")
		}
		parent, err := one(s.queryLBs(ctx, tx, " WHERE arn = ?", old.LoadBalancerARN))
		if err != nil {
			return err
		}
		if err := s.checkListener(ctx, tx, projectID, parent, arn, in); err != nil {
			return err
		}
		actions, err := encode(in.DefaultActions)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE lb_listeners SET port = ?, protocol = ?, default_actions = ? WHERE arn = ?",
			in.Port, in.Protocol, actions, arn); err != nil {
			return fmt.Errorf("update listener %s: %w", arn, err)
		}
		out, err = one(s.queryListeners(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	if out != nil {
		out.LocalAddress = s.ListenerAddress(out.Port)
	}
	return out, err
}

// DeleteListener deletes a listener and its rules; an absent one is not an
// error.
func (s *Service) DeleteListener(ctx context.Context, projectID, arn string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM lb_listeners WHERE project_id = ? AND arn = ?", projectID, arn); err != nil {
			return fmt.Errorf("delete listener %s: %w", arn, err)
		}
		return nil
	})
}

// Rules returns the project's rules of a listener by priority.
func (s *Service) Rules(ctx context.Context, projectID, listenerARN string) ([]Rule, error) {
	return queryRules(ctx, s.db, " WHERE project_id = ? AND listener_arn = ?", projectID, listenerARN)
}

// Rule returns the project's rule with that ARN.
func (s *Service) Rule(ctx context.Context, projectID, arn string) (*Rule, error) {
	r, err := one(queryRules(ctx, s.db, " WHERE project_id = ? AND arn = ?", projectID, arn))
	if err != nil {
		return nil, fmt.Errorf("rule %s: %w", arn, err)
	}
	return r, nil
}

// CreateRule adds a rule to a listener of the project. A priority in use
// on the listener is an error wrapping store.ErrConflict. A create resumed
// under the same non-empty managedBy returns the rule it made.
func (s *Service) CreateRule(ctx context.Context, projectID, managedBy string, in RuleInput) (*Rule, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Rule
	err := s.mutate(ctx, func(tx *store.Tx) error {
		l, err := one(s.queryListeners(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, in.ListenerARN))
		if err != nil {
			return fmt.Errorf("ListenerNotFound: listener %q: %w", in.ListenerARN, err)
		}
		_, path, _ := strings.Cut(l.ARN, ":listener/")
		arn := s.arn("listener-rule/" + path + "/" + resourceID("rule", managedBy))
		if old, err := one(queryRules(ctx, tx, " WHERE arn = ?", arn)); err == nil && resumed(old.ManagedBy, old.ProjectID, managedBy, projectID) {
			out = old
			return nil
		}
		if err := checkRule(ctx, tx, projectID, "", in); err != nil {
			return err
		}
		conds, err := encode(in.Conditions)
		if err != nil {
			return err
		}
		actions, err := encode(in.Actions)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO lb_rules ("+ruleColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
			arn, projectID, l.ARN, in.Priority, conds, actions, managedBy, store.Millis(time.Now())); err != nil {
			return fmt.Errorf("create rule of priority %d: %w", in.Priority, err)
		}
		out, err = one(queryRules(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	return out, err
}

func (in *RuleInput) validate() error {
	if in.Priority < 1 || in.Priority > 50000 {
		return fmt.Errorf("ValidationError: rule Priority %d: want 1 to 50000", in.Priority)
	}
	if len(in.Conditions) == 0 {
		return errors.New("ValidationError: a rule needs at least one condition (host-header or path-pattern)")
	}
	for _, c := range in.Conditions {
		switch c.Field {
		case FieldHostHeader, FieldPathPattern:
		case "http-header", "http-request-method", "query-string", "source-ip":
			return fmt.Errorf("rule condition %s is not supported by Slipway's load balancer yet: use host-header or path-pattern", c.Field)
		default:
			return fmt.Errorf("ValidationError: rule condition field %q: want host-header or path-pattern", c.Field)
		}
		if len(c.Values) == 0 {
			return fmt.Errorf("ValidationError: rule condition %s needs at least one value", c.Field)
		}
		for _, v := range c.Values {
			if v == "" || len(v) > 128 {
				return fmt.Errorf("ValidationError: rule condition %s value %q: want 1 to 128 characters", c.Field, v)
			}
		}
	}
	return validateActions(in.Actions)
}

// checkRule checks in against the stored rows: the priority is free on the
// listener (but for the rule self) and forwarded-to groups exist.
func checkRule(ctx context.Context, q store.Querier, projectID, self string, in RuleInput) error {
	taken, err := exists(ctx, q, "SELECT 1 FROM lb_rules WHERE listener_arn = ? AND priority = ? AND arn <> ?", in.ListenerARN, in.Priority, self)
	if err != nil {
		return err
	}
	if taken {
		return fmt.Errorf("PriorityInUse: priority %d on the listener %w", in.Priority, store.ErrConflict)
	}
	return checkGroups(ctx, q, projectID, in.Actions)
}

// UpdateRule changes a rule's priority, conditions and actions.
func (s *Service) UpdateRule(ctx context.Context, projectID, arn string, in RuleInput) (*Rule, error) {
	if err := in.validate(); err != nil {
		return nil, err
	}
	var out *Rule
	err := s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(queryRules(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, arn))
		if err != nil {
			return fmt.Errorf("RuleNotFound: rule %s: %w", arn, err)
		}
		if in.ListenerARN != "" && in.ListenerARN != old.ListenerARN {
			return errors.New("a rule cannot move to another listener in place; it needs a new rule")
		}
		in.ListenerARN = old.ListenerARN
		if err := checkRule(ctx, tx, projectID, arn, in); err != nil {
			return err
		}
		conds, err := encode(in.Conditions)
		if err != nil {
			return err
		}
		actions, err := encode(in.Actions)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "UPDATE lb_rules SET priority = ?, conditions = ?, actions = ? WHERE arn = ?",
			in.Priority, conds, actions, arn); err != nil {
			return fmt.Errorf("update rule %s: %w", arn, err)
		}
		out, err = one(queryRules(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	return out, err
}

// DeleteRule deletes a rule; an absent one is not an error.
func (s *Service) DeleteRule(ctx context.Context, projectID, arn string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx, "DELETE FROM lb_rules WHERE project_id = ? AND arn = ?", projectID, arn); err != nil {
			return fmt.Errorf("delete rule %s: %w", arn, err)
		}
		return nil
	})
}

// fixedContentTypes are the content types ELBv2 allows in a fixed response.
var fixedContentTypes = []string{"text/plain", "text/css", "text/html", "application/javascript", "application/json"}

// validateActions checks an action list on its own: exactly one action, of
// a supported type, complete.
func validateActions(as []Action) error {
	if len(as) != 1 {
		return fmt.Errorf("ValidationError: give exactly one action (forward, fixed-response or redirect), not %d", len(as))
	}
	a := as[0]
	switch a.Type {
	case ActionForward:
		if a.TargetGroupARN == "" {
			return errors.New("ValidationError: a forward action needs a target group")
		}
	case ActionFixedResponse:
		f := a.FixedResponse
		if f == nil {
			return errors.New("ValidationError: a fixed-response action needs FixedResponseConfig")
		}
		if f.StatusCode < 200 || f.StatusCode > 599 || f.StatusCode/100 == 3 {
			return fmt.Errorf("ValidationError: fixed-response StatusCode %d: want 2XX, 4XX or 5XX", f.StatusCode)
		}
		if f.ContentType != "" && !slices.Contains(fixedContentTypes, f.ContentType) {
			return fmt.Errorf("ValidationError: fixed-response ContentType %q: want one of %s", f.ContentType, strings.Join(fixedContentTypes, ", "))
		}
		if len(f.MessageBody) > 1024 {
			return errors.New("ValidationError: fixed-response MessageBody is longer than 1024 characters")
		}
	case ActionRedirect:
		r := a.Redirect
		if r == nil {
			return errors.New("ValidationError: a redirect action needs RedirectConfig")
		}
		if r.StatusCode != 301 && r.StatusCode != 302 {
			return fmt.Errorf("ValidationError: redirect StatusCode %d: want HTTP_301 or HTTP_302", r.StatusCode)
		}
		if p := strings.ToUpper(r.Protocol); p != "" && p != "HTTP" && p != "HTTPS" && p != "#{PROTOCOL}" {
			return fmt.Errorf("ValidationError: redirect Protocol %q: want HTTP, HTTPS or #{protocol}", r.Protocol)
		}
		if r.Path != "" && !strings.HasPrefix(r.Path, "/") {
			return fmt.Errorf("ValidationError: redirect Path %q must start with /", r.Path)
		}
	case "authenticate-oidc", "authenticate-cognito":
		return fmt.Errorf("action type %s is not supported by Slipway's load balancer: use forward, fixed-response or redirect", a.Type)
	default:
		return fmt.Errorf("ValidationError: action type %q: want forward, fixed-response or redirect", a.Type)
	}
	return nil
}

// checkGroups checks that the groups actions forward to are the project's.
func checkGroups(ctx context.Context, q store.Querier, projectID string, as []Action) error {
	for _, a := range as {
		if a.Type != ActionForward {
			continue
		}
		ok, err := exists(ctx, q, "SELECT 1 FROM target_groups WHERE arn = ? AND project_id = ?", a.TargetGroupARN, projectID)
		if err != nil {
			return err
		}
		if !ok {
			return fmt.Errorf("TargetGroupNotFound: target group %s: %w", a.TargetGroupARN, store.ErrNotFound)
		}
	}
	return nil
}

// TargetGroups returns a project's target groups by name.
func (s *Service) TargetGroups(ctx context.Context, projectID string) ([]TargetGroup, error) {
	tgs, err := queryGroups(ctx, s.db, " WHERE project_id = ?", projectID)
	if err != nil {
		return nil, err
	}
	users, err := s.groupUsers(ctx, s.db, projectID)
	if err != nil {
		return nil, err
	}
	for i := range tgs {
		tgs[i].LoadBalancerARNs = nonNil(users[tgs[i].ARN])
	}
	return tgs, nil
}

// TargetGroup returns the project's target group with that name or ARN,
// or an error wrapping store.ErrNotFound.
func (s *Service) TargetGroup(ctx context.Context, projectID, nameOrARN string) (*TargetGroup, error) {
	tg, err := one(queryGroups(ctx, s.db, " WHERE project_id = ? AND (arn = ? OR lower(name) = ?)", projectID, nameOrARN, strings.ToLower(nameOrARN)))
	if err != nil {
		return nil, fmt.Errorf("target group %s: %w", nameOrARN, err)
	}
	users, err := s.groupUsers(ctx, s.db, projectID)
	if err != nil {
		return nil, err
	}
	tg.LoadBalancerARNs = nonNil(users[tg.ARN])
	return tg, nil
}

// groupUsers maps the project's target groups to the load balancers whose
// listeners or rules forward to them.
func (s *Service) groupUsers(ctx context.Context, q store.Querier, projectID string) (map[string][]string, error) {
	ls, err := s.queryListeners(ctx, q, " WHERE project_id = ?", projectID)
	if err != nil {
		return nil, err
	}
	rs, err := queryRules(ctx, q, " WHERE project_id = ?", projectID)
	if err != nil {
		return nil, err
	}
	lbOf := map[string]string{}
	out := map[string][]string{}
	add := func(as []Action, lbARN string) {
		for _, a := range as {
			if a.Type == ActionForward && !slices.Contains(out[a.TargetGroupARN], lbARN) {
				out[a.TargetGroupARN] = append(out[a.TargetGroupARN], lbARN)
			}
		}
	}
	for _, l := range ls {
		lbOf[l.ARN] = l.LoadBalancerARN
		add(l.DefaultActions, l.LoadBalancerARN)
	}
	for _, r := range rs {
		add(r.Actions, lbOf[r.ListenerARN])
	}
	for _, v := range out {
		slices.Sort(v)
	}
	return out, nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func (in *TargetGroupInput) normalize() error {
	if in.Protocol == "" {
		in.Protocol = "HTTP"
	}
	in.Protocol = strings.ToUpper(in.Protocol)
	if in.TargetType == "" {
		in.TargetType = TargetInstance
	}
	hc := in.HealthCheck.withDefaults()
	switch {
	case in.Protocol == "HTTPS":
		return errors.New("target group Protocol HTTPS is not supported yet: Slipway's load balancer reaches targets over HTTP; use Protocol HTTP")
	case in.Protocol != "HTTP":
		return fmt.Errorf("ValidationError: target group Protocol %q must be HTTP or HTTPS for an application load balancer (and HTTPS is not supported yet)", in.Protocol)
	case in.TargetType == "lambda" || in.TargetType == "alb":
		return fmt.Errorf("target type %s is not supported by Slipway's load balancer: use instance or ip", in.TargetType)
	case in.TargetType != TargetInstance && in.TargetType != TargetIP:
		return fmt.Errorf("ValidationError: TargetType %q: want instance or ip", in.TargetType)
	case in.Port < 1 || in.Port > 65535:
		return fmt.Errorf("ValidationError: target group Port %d: want 1 to 65535 (a port is required for target type %s)", in.Port, in.TargetType)
	case strings.ToUpper(hc.Protocol) != "HTTP":
		return fmt.Errorf("health check protocol %s is not supported: Slipway's load balancer checks targets over HTTP", hc.Protocol)
	case !strings.HasPrefix(hc.Path, "/"):
		return fmt.Errorf("ValidationError: HealthCheckPath %q must start with /", hc.Path)
	case hc.IntervalSeconds < 5 || hc.IntervalSeconds > 300:
		return fmt.Errorf("ValidationError: HealthCheckIntervalSeconds %d: want 5 to 300", hc.IntervalSeconds)
	case hc.TimeoutSeconds < 2 || hc.TimeoutSeconds > 120:
		return fmt.Errorf("ValidationError: HealthCheckTimeoutSeconds %d: want 2 to 120", hc.TimeoutSeconds)
	case hc.TimeoutSeconds >= hc.IntervalSeconds:
		return fmt.Errorf("ValidationError: Health check timeout %ds must be smaller than the interval %ds", hc.TimeoutSeconds, hc.IntervalSeconds)
	case hc.HealthyThreshold < 2 || hc.HealthyThreshold > 10 || hc.UnhealthyThreshold < 2 || hc.UnhealthyThreshold > 10:
		return fmt.Errorf("ValidationError: HealthyThresholdCount %d and UnhealthyThresholdCount %d: want 2 to 10", hc.HealthyThreshold, hc.UnhealthyThreshold)
	case in.DeregistrationDelay < 0 || in.DeregistrationDelay > 3600:
		return fmt.Errorf("ValidationError: deregistration_delay.timeout_seconds %d: want 0 to 3600", in.DeregistrationDelay)
	}
	if hc.Port != "traffic-port" {
		if p, err := parsePort(hc.Port); err != nil || p < 1 {
			return fmt.Errorf("ValidationError: HealthCheckPort %q: want traffic-port or 1 to 65535", hc.Port)
		}
	}
	if _, err := parseMatcher(hc.Matcher); err != nil {
		return err
	}
	// Stored with its defaults, so that what is shown is what is done.
	in.HealthCheck = hc
	return nil
}

// CreateTargetGroup makes a target group. Names are unique on the server:
// a taken one is an error wrapping store.ErrConflict, unless the group is
// the project's and was made under the same non-empty managedBy (a
// resumed create), which returns it.
func (s *Service) CreateTargetGroup(ctx context.Context, projectID, managedBy string, in TargetGroupInput) (*TargetGroup, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	name := in.Name
	if name == "" {
		name = "tg-" + resourceID("tg-name", managedBy)[:12]
	}
	if err := ValidateName("target group", name); err != nil {
		return nil, err
	}
	hc, err := encode(in.HealthCheck)
	if err != nil {
		return nil, err
	}
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("target group %s: settings %w", name, err)
	}
	arn := s.arn("targetgroup/" + name + "/" + resourceID("targetgroup", managedBy))
	var out *TargetGroup
	err = s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(queryGroups(ctx, tx, " WHERE lower(name) = ?", strings.ToLower(name)))
		if err == nil {
			if resumed(old.ManagedBy, old.ProjectID, managedBy, projectID) {
				out = old
				return nil
			}
			return fmt.Errorf("DuplicateTargetGroupName: a target group named %s %w on this server: target group names are unique on a Slipway server; choose another Name",
				name, store.ErrConflict)
		}
		if !errors.Is(err, store.ErrNotFound) {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO target_groups ("+groupColumns+") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
			arn, projectID, name, in.Port, in.Protocol, in.TargetType, in.VpcID, hc, in.DeregistrationDelay, settings, managedBy,
			store.Millis(time.Now())); err != nil {
			return fmt.Errorf("create target group %s: %w", name, err)
		}
		out, err = one(queryGroups(ctx, tx, " WHERE arn = ?", arn))
		return err
	})
	if out != nil {
		out.LoadBalancerARNs = []string{}
	}
	return out, err
}

// UpdateTargetGroup changes a target group's health check, deregistration
// delay and recorded settings; its Name, Port, Protocol, TargetType and
// VpcID cannot change.
func (s *Service) UpdateTargetGroup(ctx context.Context, projectID, arn string, in TargetGroupInput) (*TargetGroup, error) {
	if err := in.normalize(); err != nil {
		return nil, err
	}
	hc, err := encode(in.HealthCheck)
	if err != nil {
		return nil, err
	}
	settings, err := encode(in.Settings)
	if err != nil {
		return nil, fmt.Errorf("target group settings %w", err)
	}
	var out *TargetGroup
	err = s.mutate(ctx, func(tx *store.Tx) error {
		old, err := one(queryGroups(ctx, tx, " WHERE project_id = ? AND arn = ?", projectID, arn))
		if err != nil {
			return fmt.Errorf("TargetGroupNotFound: target group %s: %w", arn, err)
		}
		if (in.Name != "" && in.Name != old.Name) || in.Port != old.Port || in.Protocol != old.Protocol || in.TargetType != old.TargetType || in.VpcID != old.VpcID {
			return fmt.Errorf("target group %s: Name, Port, Protocol, TargetType and VpcId cannot change in place; they need a new target group", old.Name)
		}
		if _, err := tx.ExecContext(ctx, "UPDATE target_groups SET health_check = ?, deregistration_delay = ?, settings = ? WHERE arn = ?",
			hc, in.DeregistrationDelay, settings, arn); err != nil {
			return fmt.Errorf("update target group %s: %w", old.Name, err)
		}
		out, err = one(queryGroups(ctx, tx, " WHERE arn = ?", arn))
		if err != nil {
			return err
		}
		users, err := s.groupUsers(ctx, tx, projectID)
		out.LoadBalancerARNs = nonNil(users[arn])
		return err
	})
	return out, err
}

// DeleteTargetGroup deletes a target group and its registrations (its
// targets drain); one a listener or rule forwards to is refused, as ELBv2
// does. An absent one is not an error.
func (s *Service) DeleteTargetGroup(ctx context.Context, projectID, arn string) error {
	return s.mutate(ctx, func(tx *store.Tx) error {
		users, err := s.groupUsers(ctx, tx, projectID)
		if err != nil {
			return err
		}
		if len(users[arn]) > 0 {
			return fmt.Errorf("ResourceInUse: target group '%s' is currently in use by a listener or a rule (of %s)", arn, strings.Join(users[arn], ", "))
		}
		if _, err := tx.ExecContext(ctx, "DELETE FROM target_groups WHERE project_id = ? AND arn = ?", projectID, arn); err != nil {
			return fmt.Errorf("delete target group %s: %w", arn, err)
		}
		return nil
	})
}

// Managed returns the ARN of the project's load balancer, listener, rule or
// target group made under token, or "" when there is none: what a stack
// deletes when the create it cut short never returned the ARN.
func (s *Service) Managed(ctx context.Context, projectID, token string) (string, error) {
	if token == "" {
		return "", nil
	}
	for _, table := range []string{"load_balancers", "lb_listeners", "lb_rules", "target_groups"} {
		var arn string
		err := store.Scan(s.db.QueryRowContext(ctx, "SELECT arn FROM "+table+" WHERE project_id = ? AND managed_by = ?", projectID, token), &arn)
		if err == nil {
			return arn, nil
		}
		if !errors.Is(err, store.ErrNotFound) {
			return "", err
		}
	}
	return "", nil
}
