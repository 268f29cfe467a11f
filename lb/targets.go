package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Target is one registered endpoint of a target group.
type Target struct {
	ID      string // unique within its group, for example an instance id
	Address string // host:port that traffic goes to
}

// State is a target's health state, spelled as in ELBv2.
type State string

// Target states.
const (
	StateInitial   State = "initial"   // registered, not yet through HealthyThreshold checks
	StateHealthy   State = "healthy"   // receives traffic
	StateUnhealthy State = "unhealthy" // failed UnhealthyThreshold checks in a row
	StateDraining  State = "draining"  // deregistered, finishing in-flight requests
	StateUnused    State = "unused"    // its group is not the target of any listener action
)

// Reason codes, as ELBv2 reports them in TargetHealth.Reason.
const (
	reasonInitial      = "Elb.InitialHealthChecking"
	reasonMismatch     = "Target.ResponseCodeMismatch"
	reasonTimeout      = "Target.Timeout"
	reasonFailed       = "Target.FailedHealthChecks"
	reasonDeregistered = "Target.DeregistrationInProgress"
	reasonNotInUse     = "Target.NotInUse"
)

// TargetHealth is a target with its state and, when not healthy, why.
type TargetHealth struct {
	Target
	State       State
	Reason      string
	Description string
}

// group is the live side of a target group. Its fields are guarded by LB.mu
// except routable, which the request path reads without locking.
type group struct {
	name    string
	hc      HealthCheck
	match   matcher
	delay   time.Duration
	defined bool // present in the last applied Config
	used    bool // some listener action forwards to it
	targets map[string]*target

	routable atomic.Pointer[[]*target]
	next     atomic.Uint64 // round-robin cursor
}

// target is one registered target. state, reason, counters and quit are
// guarded by LB.mu; inflight and draining by mu, because the request path
// must not take the LB-wide lock.
type target struct {
	Target
	state       State
	reason      string
	description string
	successes   int // consecutive, since the last state change
	failures    int
	quit        chan struct{} // closed to stop the health checker; nil when none runs

	mu       sync.Mutex
	inflight int
	draining bool
	idle     chan struct{} // closed once draining and no request is in flight
}

// acquire counts a request against t, unless t is draining: a request that
// picked t just before it was deregistered picks again rather than landing on
// a target that may be dropped before the request ends.
func (t *target) acquire() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.draining {
		return false
	}
	t.inflight++
	return true
}

func (t *target) release() {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.inflight--
	if t.draining && t.inflight == 0 {
		close(t.idle)
	}
}

// drain stops new requests to t and returns a channel closed when the
// in-flight ones have ended.
func (t *target) drain() <-chan struct{} {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.draining = true
	t.idle = make(chan struct{})
	if t.inflight == 0 {
		close(t.idle)
	}
	return t.idle
}

// pick returns a routable target, acquired, or nil. Healthy targets are
// preferred; targets still in their initial checks get traffic only when no
// target is healthy, so that a freshly started load balancer serves at once
// while an unproven target never takes traffic from proven ones. Unhealthy
// targets get none: the 502 says so plainly instead of failing open.
func (g *group) pick(skip *target) *target {
	list := g.routable.Load()
	if list == nil {
		return nil
	}
	n := len(*list)
	start := g.next.Add(1)
	for i := range n {
		t := (*list)[(start+uint64(i))%uint64(n)]
		if t != skip && t.acquire() {
			return t
		}
	}
	return nil
}

// rebuildLocked recomputes the routable list and the healthy gauge after a
// state change. The caller holds LB.mu.
func (lb *LB) rebuildLocked(g *group) {
	var healthy, initial []*target
	for _, t := range g.targets {
		switch t.state {
		case StateHealthy:
			healthy = append(healthy, t)
		case StateInitial:
			initial = append(initial, t)
		}
	}
	list := healthy
	if len(list) == 0 {
		list = initial
	}
	// A stable order keeps round-robin fair across rebuilds.
	slices.SortFunc(list, func(a, b *target) int { return strings.Compare(a.ID, b.ID) })
	g.routable.Store(&list)
	lb.metrics.healthy.WithLabelValues(g.name).Set(float64(len(healthy)))
}

// groupLocked returns the named group, creating an undefined, unused one so
// that targets may be registered before the config that uses them.
func (lb *LB) groupLocked(name string) *group {
	g := lb.groups[name]
	if g == nil {
		hc := HealthCheck{}.withDefaults()
		m, _ := parseMatcher(hc.Matcher) // the default always parses
		g = &group{name: name, hc: hc, match: m, targets: map[string]*target{}}
		lb.groups[name] = g
	}
	return g
}

// Register adds targets to a group. A target whose group is forwarded to
// starts in the initial state and is health-checked at once; otherwise it is
// unused until a listener forwards to its group. Registering an ID already
// registered changes nothing, unless it is draining: then a fresh target
// replaces it while the old one finishes draining.
func (lb *LB) Register(groupName string, targets ...Target) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	g := lb.groupLocked(groupName)
	for _, tt := range targets {
		if old := g.targets[tt.ID]; old != nil && old.state != StateDraining {
			continue
		}
		t := &target{Target: tt}
		g.targets[tt.ID] = t
		lb.activateLocked(g, t)
	}
	lb.rebuildLocked(g)
}

// activateLocked puts t in the state its group's use implies and starts or
// stops its health checker to match.
func (lb *LB) activateLocked(g *group, t *target) {
	if !g.used {
		t.state, t.reason, t.description = StateUnused, reasonNotInUse, "Target group is not configured to receive traffic from the load balancer"
		if t.quit != nil {
			close(t.quit)
			t.quit = nil
		}
		return
	}
	if t.quit != nil {
		return
	}
	t.state, t.reason, t.description = StateInitial, reasonInitial, "Initial health checks in progress"
	t.successes, t.failures = 0, 0
	quit := make(chan struct{})
	t.quit = quit
	lb.goLocked(func(ctx context.Context) { lb.check(ctx, g, t, quit) })
}

// Deregister starts draining the targets with the given IDs: they get no new
// requests, and each is dropped once its in-flight requests end or its
// group's deregistration delay passes, whichever comes first.
func (lb *LB) Deregister(groupName string, ids ...string) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	g := lb.groups[groupName]
	if g == nil {
		return
	}
	for _, id := range ids {
		t := g.targets[id]
		if t == nil || t.state == StateDraining {
			continue
		}
		// Health checks stop while draining, as in ELBv2.
		if t.quit != nil {
			close(t.quit)
			t.quit = nil
		}
		t.state, t.reason, t.description = StateDraining, reasonDeregistered, "Target deregistration is in progress"
		idle := t.drain()
		delay := g.delay
		lb.goLocked(func(ctx context.Context) {
			timer := time.NewTimer(delay)
			defer timer.Stop()
			select {
			case <-idle:
			case <-timer.C:
			case <-ctx.Done():
			}
			lb.mu.Lock()
			defer lb.mu.Unlock()
			if g.targets[t.ID] == t {
				delete(g.targets, t.ID)
			}
			lb.dropIfEmptyLocked(g)
		})
	}
	lb.rebuildLocked(g)
}

// dropIfEmptyLocked forgets a group that neither the config nor any target
// keeps alive.
func (lb *LB) dropIfEmptyLocked(g *group) {
	if !g.defined && len(g.targets) == 0 && lb.groups[g.name] == g {
		delete(lb.groups, g.name)
		lb.metrics.healthy.DeleteLabelValues(g.name)
	}
}

// Targets reports the group's targets sorted by ID, draining ones included.
func (lb *LB) Targets(groupName string) []TargetHealth {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	g := lb.groups[groupName]
	if g == nil {
		return nil
	}
	out := make([]TargetHealth, 0, len(g.targets))
	for _, t := range g.targets {
		out = append(out, TargetHealth{Target: t.Target, State: t.state, Reason: t.reason, Description: t.description})
	}
	slices.SortFunc(out, func(a, b TargetHealth) int { return strings.Compare(a.ID, b.ID) })
	return out
}

// check probes t at its group's interval until quit closes or ctx ends. It
// probes at once on start, so that a new target leaves initial as soon as
// its thresholds allow.
func (lb *LB) check(ctx context.Context, g *group, t *target, quit <-chan struct{}) {
	for {
		lb.mu.Lock()
		hc, match := g.hc, g.match
		lb.mu.Unlock()

		err := lb.probe(ctx, t.Address, hc, match)

		lb.mu.Lock()
		if t.quit != quit { // stopped while probing
			lb.mu.Unlock()
			return
		}
		lb.recordLocked(g, t, hc, err)
		lb.mu.Unlock()

		timer := time.NewTimer(hc.Interval)
		select {
		case <-timer.C:
		case <-quit:
			timer.Stop()
			return
		case <-ctx.Done():
			timer.Stop()
			return
		}
	}
}

// probeError is a failed health check with its ELBv2 reason code.
type probeError struct {
	reason string
	err    error
}

func (e *probeError) Error() string { return e.err.Error() }

// probe sends one health check request to a target.
func (lb *LB) probe(ctx context.Context, address string, hc HealthCheck, match matcher) error {
	host, port, err := net.SplitHostPort(address)
	if err != nil {
		return &probeError{reasonFailed, err}
	}
	if hc.Port != TrafficPort {
		port = hc.Port
	}
	ctx, cancel := context.WithTimeout(ctx, hc.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+hc.Path, nil)
	if err != nil {
		return &probeError{reasonFailed, err}
	}
	// The name ELBv2's checker sends, so applications can tell checks apart.
	req.Header.Set("User-Agent", "ELB-HealthChecker/2.0")
	resp, err := lb.checkClient.Do(req)
	if err != nil {
		if errors.Is(err, context.DeadlineExceeded) {
			return &probeError{reasonTimeout, fmt.Errorf("Request timed out")}
		}
		return &probeError{reasonFailed, fmt.Errorf("Health checks failed: %v", err)}
	}
	// Drain a little so the connection can be reused; bounded so a big body
	// cannot stall the checker.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if !match.match(resp.StatusCode) {
		return &probeError{reasonMismatch, fmt.Errorf("Health checks failed with these codes: [%d]", resp.StatusCode)}
	}
	return nil
}

// recordLocked applies one probe's outcome to t's state.
func (lb *LB) recordLocked(g *group, t *target, hc HealthCheck, err error) {
	before := t.state
	if err == nil {
		t.successes++
		t.failures = 0
		if t.state != StateHealthy && t.successes >= hc.HealthyThreshold {
			t.state, t.reason, t.description = StateHealthy, "", ""
		}
	} else {
		t.failures++
		t.successes = 0
		var pe *probeError
		errors.As(err, &pe)
		if t.state != StateUnhealthy && t.failures >= hc.UnhealthyThreshold {
			t.state = StateUnhealthy
		}
		if t.state == StateUnhealthy {
			t.reason, t.description = pe.reason, pe.Error()
		}
	}
	if t.state != before {
		lb.log.Info("target health changed", "target_group", g.name, "target", t.ID, "address", t.Address,
			"from", before, "to", t.state, "reason", t.reason)
		lb.rebuildLocked(g)
	}
}
