// Package lb is the load balancer's data plane: HTTP listeners with ELBv2-style
// rules, target groups with health checks and connection draining, and a reverse proxy.
package lb

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Config is the whole desired shape of a load balancer; Apply makes it so.
type Config struct {
	Listeners    []Listener
	TargetGroups []TargetGroup
}

// Listener is an ELBv2 HTTP listener bound to a local address.
type Listener struct {
	// Address is the local host:port to bind, for example "127.0.0.1:8080".
	// It identifies the listener across Apply calls: the same Address keeps
	// the same socket and its connections. Port 0 binds a free port; see
	// LB.ListenerAddr.
	Address string
	// Port is the port clients believe they reach (80 for a listener the
	// caller maps to a local port, because binding 80 needs privileges). It
	// is sent as X-Forwarded-Port and used by redirects; 0 means Address's port.
	Port int
	// DefaultAction applies when no rule matches.
	DefaultAction Action
	// Rules are tried by ascending Priority; the first match wins.
	Rules []Rule
}

// Action is what a listener does with a request; exactly one field is set.
type Action struct {
	// Forward names the target group to proxy to.
	Forward       string
	FixedResponse *FixedResponse
	Redirect      *Redirect
}

// FixedResponse answers without reaching any target.
type FixedResponse struct {
	StatusCode  int
	ContentType string // default text/plain
	MessageBody string
	// ExpandPlaceholders expands #{host}, #{port}, #{path}, #{query} and
	// #{protocol} in MessageBody as a redirect does. ELBv2 has no such
	// option (its fixed responses are sent as written); the load balancer
	// service uses it for its own answers, such as a 404 that names the
	// Host nobody serves.
	ExpandPlaceholders bool
}

// Redirect answers with a redirect built from the request. Every field may
// use the placeholders #{protocol}, #{host}, #{port}, #{path} and #{query}
// (the last without "?"), as ELBv2 does; an empty field keeps the request's value.
type Redirect struct {
	Protocol   string // "HTTP" or "HTTPS"
	Host       string
	Port       string
	Path       string // must start with "/" once placeholders are expanded
	Query      string
	StatusCode int // 301 or 302
}

// Rule is a listener rule: all Conditions must match (each matching any of its values).
type Rule struct {
	Priority   int // 1 to 50000, unique within a listener
	Conditions []Condition
	Action     Action
}

// Condition fields, spelled as in ELBv2.
const (
	FieldHostHeader  = "host-header"
	FieldPathPattern = "path-pattern"
)

// Condition matches a request field against patterns where "*" matches any
// run of characters and "?" exactly one. Host patterns ignore case and the
// port; path patterns are case-sensitive and see the path without the query.
type Condition struct {
	Field  string
	Values []string
}

// TargetGroup holds settings for the targets registered under its name.
type TargetGroup struct {
	Name        string
	HealthCheck HealthCheck
	// DeregistrationDelay bounds how long a deregistered target keeps
	// serving its in-flight requests. It is taken literally (0 drops the
	// target at once): AWS's default of 300s is the caller's to fill in.
	DeregistrationDelay time.Duration
}

// HealthCheck says how targets are probed; zero fields take the ELBv2 defaults.
type HealthCheck struct {
	Path               string        // default "/"
	Port               string        // "traffic-port" (default) or a port number
	Interval           time.Duration // default 30s
	Timeout            time.Duration // default 5s; must be less than Interval
	HealthyThreshold   int           // default 5
	UnhealthyThreshold int           // default 2
	Matcher            string        // HTTP codes: "200" (default), "200-299", "200,302"
}

// TrafficPort is the HealthCheck.Port that probes the port traffic goes to.
const TrafficPort = "traffic-port"

// withDefaults returns hc with the ELBv2 defaults in its zero fields.
func (hc HealthCheck) withDefaults() HealthCheck {
	if hc.Path == "" {
		hc.Path = "/"
	}
	if hc.Port == "" {
		hc.Port = TrafficPort
	}
	if hc.Interval == 0 {
		hc.Interval = 30 * time.Second
	}
	if hc.Timeout == 0 {
		hc.Timeout = 5 * time.Second
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

// codeRange is one element of a matcher: codes lo to hi inclusive.
type codeRange struct{ lo, hi int }

// matcher is a parsed HealthCheck.Matcher.
type matcher []codeRange

func parseMatcher(s string) (matcher, error) {
	var m matcher
	for part := range strings.SplitSeq(s, ",") {
		lo, hi, isRange := strings.Cut(strings.TrimSpace(part), "-")
		if !isRange {
			hi = lo
		}
		l, err1 := strconv.Atoi(lo)
		h, err2 := strconv.Atoi(hi)
		if err1 != nil || err2 != nil || l < 200 || h > 499 || l > h {
			return nil, fmt.Errorf("matcher %q: want HTTP codes from 200 to 499 like \"200\", \"200-299\" or \"200,302\"", s)
		}
		m = append(m, codeRange{l, h})
	}
	return m, nil
}

func (m matcher) match(code int) bool {
	for _, r := range m {
		if code >= r.lo && code <= r.hi {
			return true
		}
	}
	return false
}

// validate reports every problem of cfg at once, in ELBv2's words where it has them.
func (cfg Config) validate() error {
	var errs []error
	groups := map[string]bool{}
	for i, tg := range cfg.TargetGroups {
		where := fmt.Sprintf("target group %d (%s)", i, tg.Name)
		if tg.Name == "" {
			errs = append(errs, fmt.Errorf("%s: name is required", where))
		}
		if groups[tg.Name] {
			errs = append(errs, fmt.Errorf("%s: a target group with the same name already exists", where))
		}
		groups[tg.Name] = true
		hc := tg.HealthCheck.withDefaults()
		if _, err := parseMatcher(hc.Matcher); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", where, err))
		}
		if hc.Port != TrafficPort {
			if p, err := strconv.Atoi(hc.Port); err != nil || p < 1 || p > 65535 {
				errs = append(errs, fmt.Errorf("%s: health check port %q: want %q or 1-65535", where, hc.Port, TrafficPort))
			}
		}
		if hc.Timeout >= hc.Interval || hc.Timeout < 0 {
			errs = append(errs, fmt.Errorf("%s: health check timeout %s must be positive and less than the interval %s", where, hc.Timeout, hc.Interval))
		}
		if hc.HealthyThreshold < 1 || hc.UnhealthyThreshold < 1 {
			errs = append(errs, fmt.Errorf("%s: health check thresholds must be at least 1", where))
		}
		if !strings.HasPrefix(hc.Path, "/") {
			errs = append(errs, fmt.Errorf("%s: health check path %q must start with /", where, hc.Path))
		}
		if tg.DeregistrationDelay < 0 {
			errs = append(errs, fmt.Errorf("%s: deregistration delay must not be negative", where))
		}
	}
	addrs := map[string]bool{}
	for i, l := range cfg.Listeners {
		where := fmt.Sprintf("listener %d (%s)", i, l.Address)
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			errs = append(errs, fmt.Errorf("%s: address: %w", where, err))
		}
		if addrs[l.Address] {
			errs = append(errs, fmt.Errorf("%s: a listener with the same address already exists", where))
		}
		addrs[l.Address] = true
		if err := l.DefaultAction.validate(groups); err != nil {
			errs = append(errs, fmt.Errorf("%s: default action: %w", where, err))
		}
		prios := map[int]bool{}
		for _, r := range l.Rules {
			rw := fmt.Sprintf("%s: rule priority %d", where, r.Priority)
			if r.Priority < 1 || r.Priority > 50000 {
				errs = append(errs, fmt.Errorf("%s: priority must be from 1 to 50000", rw))
			}
			if prios[r.Priority] {
				errs = append(errs, fmt.Errorf("%s: PriorityInUse: another rule has this priority", rw))
			}
			prios[r.Priority] = true
			if len(r.Conditions) == 0 {
				errs = append(errs, fmt.Errorf("%s: a rule needs at least one condition", rw))
			}
			for _, c := range r.Conditions {
				if c.Field != FieldHostHeader && c.Field != FieldPathPattern {
					errs = append(errs, fmt.Errorf("%s: condition field %q: want %q or %q", rw, c.Field, FieldHostHeader, FieldPathPattern))
				}
				if len(c.Values) == 0 {
					errs = append(errs, fmt.Errorf("%s: condition %s needs at least one value", rw, c.Field))
				}
			}
			if err := r.Action.validate(groups); err != nil {
				errs = append(errs, fmt.Errorf("%s: action: %w", rw, err))
			}
		}
	}
	return errors.Join(errs...)
}

func (a Action) validate(groups map[string]bool) error {
	set := 0
	if a.Forward != "" {
		set++
		if !groups[a.Forward] {
			return fmt.Errorf("TargetGroupNotFound: forward to %q, which the config does not define", a.Forward)
		}
	}
	if f := a.FixedResponse; f != nil {
		set++
		if f.StatusCode < 200 || f.StatusCode > 599 {
			return fmt.Errorf("fixed-response status code %d: want 2XX, 4XX or 5XX", f.StatusCode)
		}
	}
	if r := a.Redirect; r != nil {
		set++
		if r.StatusCode != 301 && r.StatusCode != 302 {
			return fmt.Errorf("redirect status code %d: want 301 or 302", r.StatusCode)
		}
		if p := strings.ToUpper(r.Protocol); p != "" && p != "HTTP" && p != "HTTPS" && p != "#{PROTOCOL}" {
			return fmt.Errorf("redirect protocol %q: want HTTP, HTTPS or #{protocol}", r.Protocol)
		}
	}
	if set != 1 {
		return errors.New("set exactly one of forward, fixed-response and redirect")
	}
	return nil
}

// route is a listener's compiled rules, swapped atomically by Apply so that a
// request sees one whole configuration.
type route struct {
	port   string // the public port, for X-Forwarded-Port and redirects
	rules  []Rule // sorted by priority
	def    Action
	groups map[string]*group // forward targets, resolved so requests need no lock
}

func newRoute(l Listener, boundPort string, groups map[string]*group) *route {
	rt := &route{port: boundPort, rules: slices.Clone(l.Rules), def: l.DefaultAction, groups: groups}
	if l.Port != 0 {
		rt.port = strconv.Itoa(l.Port)
	}
	slices.SortFunc(rt.rules, func(a, b Rule) int { return a.Priority - b.Priority })
	return rt
}

// action picks the action for a request's host (without port) and path.
func (rt *route) action(host, path string) Action {
	for _, r := range rt.rules {
		if r.matches(host, path) {
			return r.Action
		}
	}
	return rt.def
}

func (r Rule) matches(host, path string) bool {
	for _, c := range r.Conditions {
		subject, fold := path, false
		if c.Field == FieldHostHeader {
			subject, fold = host, true
		}
		if !slices.ContainsFunc(c.Values, func(p string) bool {
			if fold {
				return wildcard(strings.ToLower(p), strings.ToLower(subject))
			}
			return wildcard(p, subject)
		}) {
			return false
		}
	}
	return true
}

// wildcard reports whether s matches pattern p, where "*" matches any run of
// bytes and "?" one. It backtracks only to the last "*", so it runs in
// O(len(p)·len(s)) at worst, whatever the pattern.
func wildcard(p, s string) bool {
	pi, si := 0, 0
	star, mark := -1, 0
	for si < len(s) {
		switch {
		case pi < len(p) && (p[pi] == '?' || p[pi] == s[si]):
			pi++
			si++
		case pi < len(p) && p[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(p) && p[pi] == '*' {
		pi++
	}
	return pi == len(p)
}
