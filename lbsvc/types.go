package lbsvc

import (
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// LoadBalancer is an application load balancer.
type LoadBalancer struct {
	ARN       string `json:"arn"`
	ProjectID string `json:"project_id"`
	Name      string `json:"name"`
	// DNSName is NAME.lb.localhost, with ":PORT" when the listener port 80
	// is served on another local port (see Service.DNSName).
	DNSName       string         `json:"dns_name"`
	Scheme        string         `json:"scheme"`
	Type          string         `json:"type"`
	IPAddressType string         `json:"ip_address_type"`
	Settings      map[string]any `json:"settings"`
	ManagedBy     string         `json:"managed_by,omitempty"`
	CreatedAt     time.Time      `json:"created_at"`
}

// FullName is the ARN's "app/NAME/ID" part, as ELBv2's LoadBalancerFullName.
func (l *LoadBalancer) FullName() string {
	_, full, _ := strings.Cut(l.ARN, ":loadbalancer/")
	return full
}

// LoadBalancerInput is what a load balancer is made of. Name, Scheme and
// Type cannot change once it exists.
type LoadBalancerInput struct {
	// Name: 1 to 32 letters, digits and hyphens, not starting or ending
	// with a hyphen nor starting with "internal-". Empty generates one.
	Name string
	// Scheme is "internet-facing" (default) or "internal"; recorded only.
	Scheme string
	// Type must be "application" (the default).
	Type string
	// IPAddressType is "ipv4" (default) or "dualstack"; recorded only.
	IPAddressType string
	// Settings are the properties that are only recorded: subnets,
	// security groups, attributes, tags.
	Settings map[string]any
}

// Listener is a port of a load balancer.
type Listener struct {
	ARN             string   `json:"arn"`
	ProjectID       string   `json:"project_id"`
	LoadBalancerARN string   `json:"load_balancer_arn"`
	Port            int      `json:"port"`
	Protocol        string   `json:"protocol"`
	DefaultActions  []Action `json:"default_actions"`
	// LocalAddress is the address of this machine the port is served on:
	// Port itself, or the local port it maps to (see Config.PortMap).
	LocalAddress string    `json:"local_address"`
	ManagedBy    string    `json:"managed_by,omitempty"`
	CreatedAt    time.Time `json:"created_at"`
}

// ListenerInput is what a listener is made of; LoadBalancerARN cannot change.
type ListenerInput struct {
	LoadBalancerARN string
	Port            int
	// Protocol must be "HTTP" (the default): there are no certificates here.
	Protocol string
	// DefaultActions holds exactly one action.
	DefaultActions []Action
}

// Rule is a listener rule.
type Rule struct {
	ARN         string      `json:"arn"`
	ProjectID   string      `json:"project_id"`
	ListenerARN string      `json:"listener_arn"`
	Priority    int         `json:"priority"`
	Conditions  []Condition `json:"conditions"`
	Actions     []Action    `json:"actions"`
	ManagedBy   string      `json:"managed_by,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
}

// RuleInput is what a rule is made of; ListenerARN cannot change.
type RuleInput struct {
	ListenerARN string
	// Priority is 1 to 50000, unique within the listener.
	Priority   int
	Conditions []Condition
	// Actions holds exactly one action.
	Actions []Action
}

// Condition fields, as ELBv2 spells them.
const (
	FieldHostHeader  = "host-header"
	FieldPathPattern = "path-pattern"
)

// Condition matches a request when its field matches any of the values
// ("*" any run of characters, "?" one).
type Condition struct {
	Field  string   `json:"field"`
	Values []string `json:"values"`
}

// Action types, as ELBv2 spells them.
const (
	ActionForward       = "forward"
	ActionFixedResponse = "fixed-response"
	ActionRedirect      = "redirect"
)

// Action is what a listener does with a request.
type Action struct {
	Type           string         `json:"type"`
	TargetGroupARN string         `json:"target_group_arn,omitempty"`
	FixedResponse  *FixedResponse `json:"fixed_response,omitempty"`
	Redirect       *Redirect      `json:"redirect,omitempty"`
}

// FixedResponse is a fixed-response action's answer.
type FixedResponse struct {
	StatusCode  int    `json:"status_code"`
	ContentType string `json:"content_type,omitempty"`
	MessageBody string `json:"message_body,omitempty"`
}

// Redirect is a redirect action, with ELBv2's meaning of every field:
// #{protocol}, #{host}, #{port}, #{path} (without its leading "/") and
// #{query} stand for the request's, and an empty field keeps the request's.
type Redirect struct {
	Protocol   string `json:"protocol,omitempty"`
	Host       string `json:"host,omitempty"`
	Port       string `json:"port,omitempty"`
	Path       string `json:"path,omitempty"`
	Query      string `json:"query,omitempty"`
	StatusCode int    `json:"status_code"` // 301 or 302
}

// Target types.
const (
	TargetInstance = "instance"
	TargetIP       = "ip"
)

// HealthCheck says how a target group's targets are probed. Zero fields
// take ELBv2's defaults for HTTP target groups.
type HealthCheck struct {
	Enabled            *bool  `json:"enabled,omitempty"` // recorded only: ELBv2 always checks instance and ip targets
	Protocol           string `json:"protocol,omitempty"`
	Path               string `json:"path,omitempty"`
	Port               string `json:"port,omitempty"` // "traffic-port" or a number
	IntervalSeconds    int    `json:"interval_seconds,omitempty"`
	TimeoutSeconds     int    `json:"timeout_seconds,omitempty"`
	HealthyThreshold   int    `json:"healthy_threshold,omitempty"`
	UnhealthyThreshold int    `json:"unhealthy_threshold,omitempty"`
	Matcher            string `json:"matcher,omitempty"` // HTTP codes: "200", "200-299", "200,302"
}

// withDefaults fills ELBv2's defaults for an HTTP target group.
func (hc HealthCheck) withDefaults() HealthCheck {
	if hc.Protocol == "" {
		hc.Protocol = "HTTP"
	}
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Port == "" {
		hc.Port = "traffic-port"
	}
	if hc.IntervalSeconds == 0 {
		hc.IntervalSeconds = 30
	}
	if hc.TimeoutSeconds == 0 {
		hc.TimeoutSeconds = 5
	}
	if hc.HealthyThreshold == 0 {
		hc.HealthyThreshold = 5
	}
	if hc.UnhealthyThreshold == 0 {
		hc.UnhealthyThreshold = 2
	}
	if hc.Matcher == "" {
		hc.Matcher = "200"
	}
	return hc
}

// DefaultDeregistrationDelay is ELBv2's deregistration_delay.timeout_seconds.
const DefaultDeregistrationDelay = 300

// TargetGroup is a target group.
type TargetGroup struct {
	ARN         string      `json:"arn"`
	ProjectID   string      `json:"project_id"`
	Name        string      `json:"name"`
	Port        int         `json:"port"`
	Protocol    string      `json:"protocol"`
	TargetType  string      `json:"target_type"`
	VpcID       string      `json:"vpc_id,omitempty"`
	HealthCheck HealthCheck `json:"health_check"`
	// DeregistrationDelay is in seconds.
	DeregistrationDelay int            `json:"deregistration_delay_seconds"`
	Settings            map[string]any `json:"settings"`
	// LoadBalancerARNs are the load balancers whose listeners or rules
	// forward to the group.
	LoadBalancerARNs []string  `json:"load_balancer_arns"`
	ManagedBy        string    `json:"managed_by,omitempty"`
	CreatedAt        time.Time `json:"created_at"`
}

// FullName is the ARN's "targetgroup/NAME/ID" part, as ELBv2's TargetGroupFullName.
func (tg *TargetGroup) FullName() string {
	_, full, _ := strings.Cut(tg.ARN, ":targetgroup/")
	return "targetgroup/" + full
}

// TargetGroupInput is what a target group is made of. Name, Port,
// Protocol, TargetType and VpcID cannot change once it exists.
type TargetGroupInput struct {
	// Name follows the load balancer's rules; empty generates one.
	Name string
	// Port is where targets receive traffic unless registered with their own.
	Port int
	// Protocol must be "HTTP" (the default).
	Protocol string
	// TargetType is "instance" (default) or "ip".
	TargetType  string
	VpcID       string
	HealthCheck HealthCheck
	// DeregistrationDelay is in seconds and taken literally: 0 drops a
	// deregistered target at once. ELBv2's default is
	// DefaultDeregistrationDelay.
	DeregistrationDelay int
	// Settings are the properties that are only recorded (tags, other
	// attributes).
	Settings map[string]any
}

// Target is a registered target: an instance ID or an IP address, and the
// port it receives traffic on.
type Target struct {
	ID string `json:"id"`
	// Port 0, when registering, means the target group's port.
	Port int `json:"port"`
}

// Target states, as ELBv2 reports them.
const (
	StateInitial   = "initial"
	StateHealthy   = "healthy"
	StateUnhealthy = "unhealthy"
	StateDraining  = "draining"
	StateUnused    = "unused"
)

// TargetHealth is a target and its state; Reason and Description say why
// it is not healthy, in ELBv2's codes and words.
type TargetHealth struct {
	ID          string `json:"id"`
	Port        int    `json:"port"`
	State       string `json:"state"`
	Reason      string `json:"reason,omitempty"`
	Description string `json:"description,omitempty"`
}

// HostSuffix follows a load balancer's name in its host name. Browsers,
// curl and the usual resolvers send every name under "localhost" to the
// loopback address (RFC 6761), so NAME.lb.localhost reaches this machine
// with no DNS set-up.
const HostSuffix = ".lb.localhost"

// CanonicalHostedZoneID is the CanonicalHostedZoneID of every load
// balancer: a fixed, made-up Route 53 zone ID (ELBv2 has one per region).
// Alias records may give it as AliasTarget.HostedZoneId; any value is taken.
const CanonicalHostedZoneID = "ZSLIPWAYLB0LOCAL"

// MaxNameLen is the longest load balancer or target group name.
const MaxNameLen = 32

// ValidateName checks a load balancer's or target group's name against
// ELBv2's rules.
func ValidateName(what, name string) error {
	bad := func(why string) error {
		return fmt.Errorf("ValidationError: the %s name %q %s: use 1 to %d letters, digits and hyphens, not starting or ending with a hyphen",
			what, name, why, MaxNameLen)
	}
	switch {
	case name == "" || len(name) > MaxNameLen:
		return bad(fmt.Sprintf("has %d characters", len(name)))
	case name[0] == '-' || name[len(name)-1] == '-':
		return bad("starts or ends with a hyphen")
	case what == "load balancer" && strings.HasPrefix(strings.ToLower(name), "internal-"):
		return bad(`starts with "internal-"`)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-') {
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	return nil
}

// lbNameOf returns the lower-case load balancer name of a host name or
// DNS name of the form [dualstack.]NAME.lb.localhost[.][:PORT], or "".
// The dualstack prefix is what alias records usually give ELBv2.
func lbNameOf(dnsName string) string {
	h := strings.ToLower(strings.TrimSpace(dnsName))
	if host, _, err := net.SplitHostPort(h); err == nil {
		h = host
	}
	h = strings.TrimSuffix(h, ".")
	h = strings.TrimPrefix(h, "dualstack.")
	name, ok := strings.CutSuffix(h, HostSuffix)
	if !ok || name == "" || strings.Contains(name, ".") {
		return ""
	}
	return name
}

// hostName is the host name of the load balancer called name.
func hostName(name string) string { return strings.ToLower(name) + HostSuffix }

// aliasAddr is the address alias records of load balancers answer with:
// the listen host when it is one address, else the loopback address.
func aliasAddr(listenHost string) netip.Addr {
	if ip, err := netip.ParseAddr(listenHost); err == nil && !ip.IsUnspecified() {
		return ip
	}
	return netip.MustParseAddr("127.0.0.1")
}

// normalizeAddr turns a port map value (":PORT", "PORT" or "HOST:PORT")
// into HOST:PORT with host as the default host.
func normalizeAddr(v, host string) (string, error) {
	v = strings.TrimSpace(v)
	if _, err := strconv.Atoi(v); err == nil {
		v = ":" + v
	}
	h, p, err := net.SplitHostPort(v)
	if err != nil {
		return "", fmt.Errorf("%q: want PORT or HOST:PORT", v)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 0 || n > 65535 {
		return "", fmt.Errorf("%q: port %q is not a number from 0 to 65535", v, p)
	}
	if h == "" {
		h = host
	}
	return net.JoinHostPort(h, p), nil
}

// sortedKeys returns m's keys in order.
func sortedKeys[K int | string, V any](m map[K]V) []K {
	out := make([]K, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
