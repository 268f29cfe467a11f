package client

import (
	"context"
	"time"
)

// LoadBalancer is an application load balancer.
type LoadBalancer struct {
	ARN       string `json:"arn"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// DNSName is NAME.lb.localhost, with ":PORT" when listener port 80 is
	// served on another local port: "http://" + DNSName reaches it.
	DNSName       string         `json:"dns_name"`
	Scheme        string         `json:"scheme"`
	Type          string         `json:"type"`
	IPAddressType string         `json:"ip_address_type"`
	Settings      map[string]any `json:"settings"`
	ManagedBy     string         `json:"managed_by,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
}

// LBAction is a listener's or rule's action.
type LBAction struct {
	Type           string `json:"type"`
	TargetGroupARN string `json:"target_group_arn,omitempty"`
	FixedResponse  *struct {
		StatusCode  int    `json:"status_code"`
		ContentType string `json:"content_type,omitempty"`
		MessageBody string `json:"message_body,omitempty"`
	} `json:"fixed_response,omitempty"`
	Redirect *struct {
		Protocol   string `json:"protocol,omitempty"`
		Host       string `json:"host,omitempty"`
		Port       string `json:"port,omitempty"`
		Path       string `json:"path,omitempty"`
		Query      string `json:"query,omitempty"`
		StatusCode int    `json:"status_code"`
	} `json:"redirect,omitempty"`
}

// Listener is a port of a load balancer.
type Listener struct {
	ARN             string     `json:"arn"`
	LoadBalancerARN string     `json:"load_balancer_arn"`
	Port            int        `json:"port"`
	Protocol        string     `json:"protocol"`
	DefaultActions  []LBAction `json:"default_actions"`
	// LocalAddress is where this machine serves the port.
	LocalAddress string    `json:"local_address"`
	CreatedAt    time.Time `json:"created_at"`
	// Rules are filled by GetLoadBalancer.
	Rules []ListenerRule `json:"rules,omitempty"`
}

// ListenerRule is a listener rule.
type ListenerRule struct {
	ARN        string `json:"arn"`
	Priority   int    `json:"priority"`
	Conditions []struct {
		Field  string   `json:"field"`
		Values []string `json:"values"`
	} `json:"conditions"`
	Actions []LBAction `json:"actions"`
}

// LoadBalancerSummary is a load balancer with its listeners.
type LoadBalancerSummary struct {
	LoadBalancer
	Listeners []Listener `json:"listeners"`
}

// TargetGroup is a target group with its targets' health.
type TargetGroup struct {
	ARN         string `json:"arn"`
	Name        string `json:"name"`
	Port        int    `json:"port"`
	Protocol    string `json:"protocol"`
	TargetType  string `json:"target_type"`
	VpcID       string `json:"vpc_id,omitempty"`
	HealthCheck struct {
		Protocol           string `json:"protocol,omitempty"`
		Path               string `json:"path,omitempty"`
		Port               string `json:"port,omitempty"`
		IntervalSeconds    int    `json:"interval_seconds,omitempty"`
		TimeoutSeconds     int    `json:"timeout_seconds,omitempty"`
		HealthyThreshold   int    `json:"healthy_threshold,omitempty"`
		UnhealthyThreshold int    `json:"unhealthy_threshold,omitempty"`
		Matcher            string `json:"matcher,omitempty"`
	} `json:"health_check"`
	DeregistrationDelay int            `json:"deregistration_delay_seconds"`
	LoadBalancerARNs    []string       `json:"load_balancer_arns"`
	Targets             []TargetHealth `json:"targets"`
	CreatedAt           time.Time      `json:"created_at"`
}

// Target is a target to register: an instance ID (or an IP address for a
// target group of type ip) and a port, 0 for the group's.
type Target struct {
	ID   string `json:"id"`
	Port int    `json:"port,omitempty"`
}

// TargetHealth is a target and its state (initial, healthy, unhealthy,
// draining or unused); Reason and Description say why it is not healthy.
type TargetHealth struct {
	ID          string `json:"id"`
	Port        int    `json:"port"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
}

// LoadBalancerDetail is a load balancer with its listeners and their rules,
// and the target groups it forwards to.
type LoadBalancerDetail struct {
	LoadBalancer *LoadBalancer `json:"load_balancer"`
	Listeners    []Listener    `json:"listeners"`
	TargetGroups []TargetGroup `json:"target_groups"`
}

// ListLoadBalancers lists a project's load balancers with their listeners.
func (c *Client) ListLoadBalancers(ctx context.Context, project string) ([]LoadBalancerSummary, error) {
	var out []LoadBalancerSummary
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/load-balancers", nil, &out)
}

// GetLoadBalancer returns a load balancer by name or ARN.
func (c *Client) GetLoadBalancer(ctx context.Context, project, name string) (*LoadBalancerDetail, error) {
	var out LoadBalancerDetail
	return &out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/load-balancers/"+esc(name), nil, &out)
}

// ListTargetGroups lists a project's target groups with their targets.
func (c *Client) ListTargetGroups(ctx context.Context, project string) ([]TargetGroup, error) {
	var out []TargetGroup
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/target-groups", nil, &out)
}

// TargetHealth reports a target group's targets.
func (c *Client) TargetHealth(ctx context.Context, project, targetGroup string) ([]TargetHealth, error) {
	var out []TargetHealth
	return out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/target-groups/"+esc(targetGroup)+"/targets", nil, &out)
}

// RegisterTargets registers targets with a target group and returns its
// targets' health.
func (c *Client) RegisterTargets(ctx context.Context, project, targetGroup string, targets []Target) ([]TargetHealth, error) {
	var out []TargetHealth
	return out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/target-groups/"+esc(targetGroup)+"/targets",
		map[string]any{"targets": targets}, &out)
}

// DeregisterTargets deregisters targets (Port 0: every port of the ID);
// with wait it returns once they have drained. It returns the group's
// targets' health.
func (c *Client) DeregisterTargets(ctx context.Context, project, targetGroup string, targets []Target, wait bool) ([]TargetHealth, error) {
	var out []TargetHealth
	return out, c.Do(ctx, "POST", "/api/v1/projects/"+esc(project)+"/target-groups/"+esc(targetGroup)+"/targets/deregister",
		map[string]any{"targets": targets, "wait": wait}, &out)
}

// HostedZone is a hosted zone.
type HostedZone struct {
	ID             string         `json:"id"`
	Name           string         `json:"name"`
	Comment        string         `json:"comment,omitempty"`
	NameServers    []string       `json:"name_servers"`
	RecordSetCount int            `json:"record_set_count"`
	Settings       map[string]any `json:"settings"`
	CreatedAt      time.Time      `json:"created_at"`
}

// RecordSet is a record set of a zone.
type RecordSet struct {
	ID     string   `json:"id"`
	ZoneID string   `json:"hosted_zone_id"`
	Name   string   `json:"name"`
	Type   string   `json:"type"`
	TTL    int      `json:"ttl,omitempty"`
	Values []string `json:"resource_records,omitempty"`
	Alias  *struct {
		DNSName              string `json:"dns_name"`
		HostedZoneID         string `json:"hosted_zone_id,omitempty"`
		EvaluateTargetHealth bool   `json:"evaluate_target_health,omitempty"`
	} `json:"alias_target,omitempty"`
	CreatedAt time.Time `json:"created_at"`
}

// HostedZones is a project's zones and where the DNS server answers.
type HostedZones struct {
	// DNSAddress is HOST:PORT of the server's DNS server, "" when it runs none.
	DNSAddress  string       `json:"dns_address"`
	HostedZones []HostedZone `json:"hosted_zones"`
}

// HostedZoneDetail is a zone with its record sets.
type HostedZoneDetail struct {
	DNSAddress string      `json:"dns_address"`
	HostedZone *HostedZone `json:"hosted_zone"`
	RecordSets []RecordSet `json:"record_sets"`
}

// ListHostedZones lists a project's hosted zones.
func (c *Client) ListHostedZones(ctx context.Context, project string) (*HostedZones, error) {
	var out HostedZones
	return &out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/hosted-zones", nil, &out)
}

// GetHostedZone returns a zone (by ID or name) with its record sets.
func (c *Client) GetHostedZone(ctx context.Context, project, zone string) (*HostedZoneDetail, error) {
	var out HostedZoneDetail
	return &out, c.Do(ctx, "GET", "/api/v1/projects/"+esc(project)+"/hosted-zones/"+esc(zone), nil, &out)
}
