package providers

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
)

// The ELBv2 resource types, served by the load balancer service. Every
// physical ID is an ARN, as Ref gives on AWS. Properties that have no
// meaning on one machine (subnets, security groups, attributes but the
// deregistration delay, tags) are accepted as on AWS and recorded.
const (
	loadBalancerType = "AWS::ElasticLoadBalancingV2::LoadBalancer"
	listenerType     = "AWS::ElasticLoadBalancingV2::Listener"
	listenerRuleType = "AWS::ElasticLoadBalancingV2::ListenerRule"
	targetGroupType  = "AWS::ElasticLoadBalancingV2::TargetGroup"
)

// gone is the error of an update of a resource deleted outside its stack.
func gone(what, id string) error {
	return fmt.Errorf("%s %s no longer exists: it was deleted outside the stack; delete the stack and create it again, or remove the resource from the template and add it back", what, id)
}

// managedARN is the ARN a Delete acts on: the physical ID, or what a create
// cut short before it returned one made under the token.
func (d *Deps) managedARN(ctx context.Context, r *stack.Request) (string, error) {
	if r.PhysicalID != "" {
		return r.PhysicalID, nil
	}
	return d.LoadBalancers.Managed(ctx, r.ProjectID, r.Token)
}

// loadBalancerSchema follows CloudFormation's
// AWS::ElasticLoadBalancingV2::LoadBalancer. Only application load
// balancers exist here.
var loadBalancerSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":                         replace,
		"Scheme":                       replace,
		"Type":                         replace,
		"CustomerOwnedIpv4Pool":        replace,
		"IpAddressType":                inPlace,
		"LoadBalancerAttributes":       inPlace,
		"SecurityGroups":               inPlace,
		"SubnetMappings":               inPlace,
		"Subnets":                      inPlace,
		"Tags":                         inPlace,
		"EnablePrefixForIpv6SourceNat": inPlace,
		"EnforceSecurityGroupInboundRulesOnPrivateLinkTraffic": inPlace,
		"Ipv4IpamPoolId":              inPlace,
		"MinimumLoadBalancerCapacity": inPlace,
	},
	Attributes:   []string{"CanonicalHostedZoneID", "DNSName", "LoadBalancerArn", "LoadBalancerFullName", "LoadBalancerName", "SecurityGroups"},
	NameProperty: "Name",
}

// loadBalancer provides AWS::ElasticLoadBalancingV2::LoadBalancer.
type loadBalancer struct{ d *Deps }

func (p *loadBalancer) Schema() stack.Schema { return loadBalancerSchema }

func (p *loadBalancer) input(r *stack.Request) (lbsvc.LoadBalancerInput, error) {
	in := readProps(r)
	out := lbsvc.LoadBalancerInput{
		Name:          in.str(r.Properties, "", "Name"),
		Scheme:        in.str(r.Properties, "", "Scheme"),
		Type:          in.str(r.Properties, "", "Type"),
		IPAddressType: in.str(r.Properties, "", "IpAddressType"),
		Settings:      without(r.Properties, "Name", "Scheme", "Type", "IpAddressType"),
	}
	in.strings(r.Properties, "", "SecurityGroups")
	if out.Name == "" {
		out.Name = generatedName(r, lbsvc.MaxNameLen)
	}
	return out, in.err
}

func (p *loadBalancer) outcome(r *stack.Request, l *lbsvc.LoadBalancer) *stack.Outcome {
	sgs := []any{}
	for _, sg := range readProps(r).strings(r.Properties, "", "SecurityGroups") {
		sgs = append(sgs, sg)
	}
	return &stack.Outcome{PhysicalID: l.ARN, Attrs: map[string]any{
		"CanonicalHostedZoneID": lbsvc.CanonicalHostedZoneID,
		"DNSName":               l.DNSName,
		"LoadBalancerArn":       l.ARN,
		"LoadBalancerFullName":  l.FullName(),
		"LoadBalancerName":      l.Name,
		"SecurityGroups":        sgs,
	}}
}

func (p *loadBalancer) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	l, err := p.d.LoadBalancers.CreateLoadBalancer(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	return p.outcome(r, l), nil
}

func (p *loadBalancer) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	if in.Name, err = p.currentName(ctx, r); err != nil {
		return nil, err
	}
	l, err := p.d.LoadBalancers.UpdateLoadBalancer(ctx, r.ProjectID, r.PhysicalID, in)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("load balancer", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return p.outcome(r, l), nil
}

// currentName is the name of the load balancer being updated (a generated
// one is not in the properties).
func (p *loadBalancer) currentName(ctx context.Context, r *stack.Request) (string, error) {
	l, err := p.d.LoadBalancers.LoadBalancer(ctx, r.ProjectID, r.PhysicalID)
	if errors.Is(err, store.ErrNotFound) {
		return "", gone("load balancer", r.PhysicalID)
	}
	if err != nil {
		return "", err
	}
	return l.Name, nil
}

// Delete deletes the load balancer and, as ELBv2 does, its listeners and
// rules.
func (p *loadBalancer) Delete(ctx context.Context, r *stack.Request) error {
	arn, err := p.d.managedARN(ctx, r)
	if err != nil || arn == "" {
		return err
	}
	return p.d.LoadBalancers.DeleteLoadBalancer(ctx, r.ProjectID, arn)
}

// readActions reads ELBv2 actions (DefaultActions, Actions): forward with
// TargetGroupArn or ForwardConfig.TargetGroups, fixed-response and
// redirect, in their Order.
func readActions(in *props, m map[string]any, key string) []lbsvc.Action {
	objs := in.objects(m, "", key)
	type ordered struct {
		order int
		a     lbsvc.Action
	}
	var as []ordered
	for i, o := range objs {
		path := fmt.Sprintf("%s/%d", key, i)
		a := lbsvc.Action{Type: strings.ToLower(in.str(o, path, "Type"))}
		order, ok := in.integer(o, path, "Order")
		if !ok {
			order = 50000 + i // after the ordered ones, as written
		}
		switch a.Type {
		case lbsvc.ActionForward:
			a.TargetGroupARN = forwardTarget(in, o, path)
		case lbsvc.ActionFixedResponse:
			f := in.object(o, path, "FixedResponseConfig")
			if f == nil {
				in.fail(path, "a fixed-response action needs FixedResponseConfig")
				break
			}
			code, _ := in.integer(f, path+"/FixedResponseConfig", "StatusCode")
			a.FixedResponse = &lbsvc.FixedResponse{StatusCode: code,
				ContentType: in.str(f, path+"/FixedResponseConfig", "ContentType"),
				MessageBody: in.str(f, path+"/FixedResponseConfig", "MessageBody")}
		case lbsvc.ActionRedirect:
			rc := in.object(o, path, "RedirectConfig")
			if rc == nil {
				in.fail(path, "a redirect action needs RedirectConfig")
				break
			}
			rp := path + "/RedirectConfig"
			code := 0
			switch sc := in.str(rc, rp, "StatusCode"); sc {
			case "HTTP_301":
				code = 301
			case "HTTP_302":
				code = 302
			default:
				in.fail(rp+"/StatusCode", "%q is not a valid enum value: want HTTP_301 or HTTP_302", sc)
			}
			a.Redirect = &lbsvc.Redirect{Protocol: in.str(rc, rp, "Protocol"), Host: in.str(rc, rp, "Host"),
				Port: in.str(rc, rp, "Port"), Path: in.str(rc, rp, "Path"), Query: in.str(rc, rp, "Query"), StatusCode: code}
		}
		as = append(as, ordered{order, a})
	}
	sort.SliceStable(as, func(i, j int) bool { return as[i].order < as[j].order })
	out := make([]lbsvc.Action, 0, len(as))
	for _, a := range as {
		out = append(out, a.a)
	}
	return out
}

// forwardTarget reads a forward action's one target group: TargetGroupArn,
// or the one group of ForwardConfig.TargetGroups that has a weight.
// Weighted forwarding to several groups is not supported.
func forwardTarget(in *props, o map[string]any, path string) string {
	arn := in.str(o, path, "TargetGroupArn")
	fc := in.object(o, path, "ForwardConfig")
	if fc == nil {
		return arn
	}
	var weighted []string
	for i, tg := range in.objects(fc, path+"/ForwardConfig", "TargetGroups") {
		tp := fmt.Sprintf("%s/ForwardConfig/TargetGroups/%d", path, i)
		if w, ok := in.integer(tg, tp, "Weight"); ok && w == 0 {
			continue
		}
		weighted = append(weighted, in.str(tg, tp, "TargetGroupArn"))
	}
	switch {
	case len(weighted) > 1:
		in.fail(path+"/ForwardConfig/TargetGroups", "weighted forwarding to %d target groups is not supported by Slipway's load balancer yet: forward to one target group (or give the others Weight 0)", len(weighted))
	case len(weighted) == 1 && arn != "" && weighted[0] != arn:
		in.fail(path, "TargetGroupArn and ForwardConfig name different target groups")
	case len(weighted) == 1:
		return weighted[0]
	}
	return arn
}

// readConditions reads rule conditions in both forms: Field with Values,
// and Field with HostHeaderConfig or PathPatternConfig.
func readConditions(in *props, m map[string]any) []lbsvc.Condition {
	var out []lbsvc.Condition
	for i, o := range in.objects(m, "", "Conditions") {
		path := fmt.Sprintf("Conditions/%d", i)
		c := lbsvc.Condition{Field: in.str(o, path, "Field"), Values: in.strings(o, path, "Values")}
		configs := map[string]string{"HostHeaderConfig": lbsvc.FieldHostHeader, "PathPatternConfig": lbsvc.FieldPathPattern,
			"HttpHeaderConfig": "http-header", "HttpRequestMethodConfig": "http-request-method",
			"QueryStringConfig": "query-string", "SourceIpConfig": "source-ip"}
		for key, field := range configs {
			cfg := in.object(o, path, key)
			if cfg == nil {
				continue
			}
			if c.Field == "" {
				c.Field = field
			}
			if c.Field != field {
				in.fail(path, "%s does not go with Field %s", key, c.Field)
			}
			c.Values = append(c.Values, in.strings(cfg, path+"/"+key, "Values")...)
		}
		out = append(out, c)
	}
	return out
}

// listenerSchema follows CloudFormation's AWS::ElasticLoadBalancingV2::Listener.
var listenerSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"DefaultActions":       requiredInPlace,
		"LoadBalancerArn":      requiredReplace,
		"Port":                 inPlace,
		"Protocol":             inPlace,
		"AlpnPolicy":           inPlace,
		"Certificates":         inPlace,
		"ListenerAttributes":   inPlace,
		"MutualAuthentication": inPlace,
		"SslPolicy":            inPlace,
	},
	Attributes: []string{"ListenerArn"},
}

// listener provides AWS::ElasticLoadBalancingV2::Listener: a port of a load
// balancer, served on this machine at that port or the local port it maps
// to.
type listener struct{ d *Deps }

func (p *listener) Schema() stack.Schema { return listenerSchema }

func (p *listener) input(r *stack.Request) (lbsvc.ListenerInput, error) {
	in := readProps(r)
	out := lbsvc.ListenerInput{
		LoadBalancerARN: in.str(r.Properties, "", "LoadBalancerArn"),
		Protocol:        in.str(r.Properties, "", "Protocol"),
		DefaultActions:  readActions(in, r.Properties, "DefaultActions"),
	}
	port, ok := in.integer(r.Properties, "", "Port")
	if !ok && in.err == nil {
		in.fail("Port", "required for a listener of an application load balancer")
	}
	out.Port = port
	return out, in.err
}

func (p *listener) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	l, err := p.d.LoadBalancers.CreateListener(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: l.ARN, Attrs: map[string]any{"ListenerArn": l.ARN}}, nil
}

func (p *listener) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	l, err := p.d.LoadBalancers.UpdateListener(ctx, r.ProjectID, r.PhysicalID, in)
	if errors.Is(err, store.ErrNotFound) && strings.HasPrefix(err.Error(), "ListenerNotFound") {
		return nil, gone("listener", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return &stack.Outcome{PhysicalID: l.ARN, Attrs: map[string]any{"ListenerArn": l.ARN}}, nil
}

func (p *listener) Delete(ctx context.Context, r *stack.Request) error {
	arn, err := p.d.managedARN(ctx, r)
	if err != nil || arn == "" {
		return err
	}
	return p.d.LoadBalancers.DeleteListener(ctx, r.ProjectID, arn)
}

// listenerRuleSchema follows CloudFormation's
// AWS::ElasticLoadBalancingV2::ListenerRule.
var listenerRuleSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Actions":     requiredInPlace,
		"Conditions":  requiredInPlace,
		"Priority":    requiredInPlace,
		"ListenerArn": requiredReplace,
		"Transforms":  inPlace,
	},
	Attributes: []string{"IsDefault", "RuleArn"},
}

// listenerRule provides AWS::ElasticLoadBalancingV2::ListenerRule: rules on
// host-header and path-pattern.
type listenerRule struct{ d *Deps }

func (p *listenerRule) Schema() stack.Schema { return listenerRuleSchema }

func (p *listenerRule) input(r *stack.Request) (lbsvc.RuleInput, error) {
	in := readProps(r)
	out := lbsvc.RuleInput{
		ListenerARN: in.str(r.Properties, "", "ListenerArn"),
		Conditions:  readConditions(in, r.Properties),
		Actions:     readActions(in, r.Properties, "Actions"),
	}
	out.Priority, _ = in.integer(r.Properties, "", "Priority")
	if len(in.list(r.Properties, "", "Transforms")) > 0 && in.err == nil {
		in.fail("Transforms", "rule transforms (host and URL rewrites) are not supported by Slipway's load balancer yet")
	}
	return out, in.err
}

func ruleOutcome(rule *lbsvc.Rule) *stack.Outcome {
	return &stack.Outcome{PhysicalID: rule.ARN, Attrs: map[string]any{"IsDefault": false, "RuleArn": rule.ARN}}
}

func (p *listenerRule) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	rule, err := p.d.LoadBalancers.CreateRule(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	return ruleOutcome(rule), nil
}

func (p *listenerRule) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	rule, err := p.d.LoadBalancers.UpdateRule(ctx, r.ProjectID, r.PhysicalID, in)
	if errors.Is(err, store.ErrNotFound) && strings.HasPrefix(err.Error(), "RuleNotFound") {
		return nil, gone("listener rule", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	return ruleOutcome(rule), nil
}

func (p *listenerRule) Delete(ctx context.Context, r *stack.Request) error {
	arn, err := p.d.managedARN(ctx, r)
	if err != nil || arn == "" {
		return err
	}
	return p.d.LoadBalancers.DeleteRule(ctx, r.ProjectID, arn)
}

// targetGroupSchema follows CloudFormation's
// AWS::ElasticLoadBalancingV2::TargetGroup: what identifies the group and
// its targets' addresses needs a new group; health checks, attributes and
// targets change in place.
var targetGroupSchema = stack.Schema{
	Properties: map[string]stack.Property{
		"Name":                       replace,
		"Port":                       replace,
		"Protocol":                   replace,
		"ProtocolVersion":            replace,
		"TargetType":                 replace,
		"VpcId":                      replace,
		"IpAddressType":              replace,
		"HealthCheckEnabled":         inPlace,
		"HealthCheckIntervalSeconds": inPlace,
		"HealthCheckPath":            inPlace,
		"HealthCheckPort":            inPlace,
		"HealthCheckProtocol":        inPlace,
		"HealthCheckTimeoutSeconds":  inPlace,
		"HealthyThresholdCount":      inPlace,
		"UnhealthyThresholdCount":    inPlace,
		"Matcher":                    inPlace,
		"TargetGroupAttributes":      inPlace,
		"Targets":                    inPlace,
		"Tags":                       inPlace,
	},
	Attributes:   []string{"LoadBalancerArns", "TargetGroupArn", "TargetGroupFullName", "TargetGroupName"},
	NameProperty: "Name",
}

// targetGroup provides AWS::ElasticLoadBalancingV2::TargetGroup. Targets
// named in the template are registered like any others; the fleet and
// deployments register theirs through the load balancer service.
type targetGroup struct{ d *Deps }

func (p *targetGroup) Schema() stack.Schema { return targetGroupSchema }

// deregistrationDelayKey is the one target group attribute with an effect.
const deregistrationDelayKey = "deregistration_delay.timeout_seconds"

func (p *targetGroup) input(r *stack.Request) (lbsvc.TargetGroupInput, error) {
	in := readProps(r)
	pr := r.Properties
	out := lbsvc.TargetGroupInput{
		Name:                in.str(pr, "", "Name"),
		Protocol:            in.str(pr, "", "Protocol"),
		TargetType:          in.str(pr, "", "TargetType"),
		VpcID:               in.str(pr, "", "VpcId"),
		DeregistrationDelay: lbsvc.DefaultDeregistrationDelay,
		Settings: without(pr, "Name", "Port", "Protocol", "TargetType", "VpcId", "HealthCheckEnabled", "HealthCheckIntervalSeconds",
			"HealthCheckPath", "HealthCheckPort", "HealthCheckProtocol", "HealthCheckTimeoutSeconds", "HealthyThresholdCount",
			"UnhealthyThresholdCount", "Matcher", "Targets"),
	}
	out.Port, _ = in.integer(pr, "", "Port")
	hc := &out.HealthCheck
	if _, ok := pr["HealthCheckEnabled"]; ok {
		enabled := in.boolean(pr, "", "HealthCheckEnabled")
		hc.Enabled = &enabled
	}
	hc.Protocol = in.str(pr, "", "HealthCheckProtocol")
	hc.Path = in.str(pr, "", "HealthCheckPath")
	hc.Port = in.str(pr, "", "HealthCheckPort")
	hc.IntervalSeconds, _ = in.integer(pr, "", "HealthCheckIntervalSeconds")
	hc.TimeoutSeconds, _ = in.integer(pr, "", "HealthCheckTimeoutSeconds")
	hc.HealthyThreshold, _ = in.integer(pr, "", "HealthyThresholdCount")
	hc.UnhealthyThreshold, _ = in.integer(pr, "", "UnhealthyThresholdCount")
	if m := in.object(pr, "", "Matcher"); m != nil {
		hc.Matcher = in.str(m, "Matcher", "HttpCode")
		if in.str(m, "Matcher", "GrpcCode") != "" && in.err == nil {
			in.fail("Matcher/GrpcCode", "gRPC health checks are not supported: use HttpCode")
		}
	}
	for i, a := range in.objects(pr, "", "TargetGroupAttributes") {
		path := fmt.Sprintf("TargetGroupAttributes/%d", i)
		if in.str(a, path, "Key") == deregistrationDelayKey {
			out.DeregistrationDelay, _ = in.integer(a, path, "Value")
		}
	}
	if out.Name == "" {
		out.Name = generatedName(r, lbsvc.MaxNameLen)
	}
	return out, in.err
}

// targets reads a Targets property.
func targets(r *stack.Request, properties map[string]any) ([]lbsvc.Target, error) {
	in := readProps(r)
	var out []lbsvc.Target
	for i, t := range in.objects(properties, "", "Targets") {
		path := fmt.Sprintf("Targets/%d", i)
		port, _ := in.integer(t, path, "Port")
		out = append(out, lbsvc.Target{ID: in.str(t, path, "Id"), Port: port})
	}
	return out, in.err
}

func (p *targetGroup) outcome(tg *lbsvc.TargetGroup) *stack.Outcome {
	lbs := []any{}
	for _, a := range tg.LoadBalancerARNs {
		lbs = append(lbs, a)
	}
	return &stack.Outcome{PhysicalID: tg.ARN, Attrs: map[string]any{
		"LoadBalancerArns":    lbs,
		"TargetGroupArn":      tg.ARN,
		"TargetGroupFullName": tg.FullName(),
		"TargetGroupName":     tg.Name,
	}}
}

func (p *targetGroup) Create(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	ts, err := targets(r, r.Properties)
	if err != nil {
		return nil, err
	}
	tg, err := p.d.LoadBalancers.CreateTargetGroup(ctx, r.ProjectID, r.Token, in)
	if err != nil {
		return nil, err
	}
	if len(ts) > 0 {
		if err := p.d.LoadBalancers.RegisterTargets(ctx, tg.ARN, ts...); err != nil {
			return nil, err
		}
	}
	return p.outcome(tg), nil
}

func (p *targetGroup) Update(ctx context.Context, r *stack.Request) (*stack.Outcome, error) {
	in, err := p.input(r)
	if err != nil {
		return nil, err
	}
	now, err := targets(r, r.Properties)
	if err != nil {
		return nil, err
	}
	before, _ := targets(r, r.Previous)
	cur, err := p.d.LoadBalancers.TargetGroup(ctx, r.ProjectID, r.PhysicalID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, gone("target group", r.PhysicalID)
	}
	if err != nil {
		return nil, err
	}
	// A generated name is not in the properties.
	in.Name = cur.Name
	tg, err := p.d.LoadBalancers.UpdateTargetGroup(ctx, r.ProjectID, r.PhysicalID, in)
	if err != nil {
		return nil, err
	}
	// The template's targets change as CloudFormation changes them: those
	// gone are deregistered, the new ones registered; others registered by
	// the fleet or deployments are left alone.
	var drop []lbsvc.Target
	for _, t := range before {
		if !slices.Contains(now, t) {
			drop = append(drop, t)
		}
	}
	if len(drop) > 0 {
		if err := p.d.LoadBalancers.DeregisterTargets(ctx, tg.ARN, false, drop...); err != nil {
			return nil, err
		}
	}
	var add []lbsvc.Target
	for _, t := range now {
		if !slices.Contains(before, t) {
			add = append(add, t)
		}
	}
	if len(add) > 0 {
		if err := p.d.LoadBalancers.RegisterTargets(ctx, tg.ARN, add...); err != nil {
			return nil, err
		}
	}
	return p.outcome(tg), nil
}

// Delete deletes the target group; while a listener or rule still forwards
// to it, ELBv2's ResourceInUse error says so.
func (p *targetGroup) Delete(ctx context.Context, r *stack.Request) error {
	arn, err := p.d.managedARN(ctx, r)
	if err != nil || arn == "" {
		return err
	}
	return p.d.LoadBalancers.DeleteTargetGroup(ctx, r.ProjectID, arn)
}
