// Package lbsvc is the load balancer service: it owns the load balancers,
// listeners, rules, target groups and registered targets of every project
// (AWS::ElasticLoadBalancingV2::*) and serves them all through one lb data
// plane.
//
// Every load balancer with a listener on port P is served on one local
// address for P (P itself, or the local port P maps to, see Config.PortMap),
// so several load balancers share it; a request reaches a load balancer by
// its Host: NAME.lb.localhost, or any name the DNS service aliases to it,
// whatever the port. When only one load balancer listens on P, every
// request on P is its own, whatever the Host.
package lbsvc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/lb"
	"github.com/slipway/slipway/store"
)

// Config is the service's set-up.
type Config struct {
	// Partition, Region and AccountID go into ARNs; empty ones are "aws",
	// "local" and "000000000000", the values of template.DefaultPseudo.
	Partition, Region, AccountID string
	// ListenHost is the host that listener ports are served on when
	// PortMap does not say otherwise; default 127.0.0.1.
	ListenHost string
	// PortMap gives, for a listener port, the local address ("HOST:PORT",
	// or "PORT" on ListenHost) that serves it: ports below 1024 cannot be
	// bound without privileges. Ports not in the map are served on
	// ListenHost at the same port. Nil maps 80 to 8081 and 443 to 8444.
	// Port 80's address is bound by New, even with no load balancer, so
	// that DNS names (which carry its port) never change while the server
	// runs; port 0 binds any free port.
	PortMap map[int]string
	// Dial reaches a port of a local instance, for targets of target
	// groups of type "instance"; the fleet service provides it. Nil dials
	// 127.0.0.1 at the target's port.
	Dial func(ctx context.Context, instanceID string, port int) (net.Conn, error)
	// Bus, when set, tells every server process of a change, so that each
	// one's data plane follows the tables.
	Bus *events.Bus
	// Registerer receives the data plane's Prometheus metrics.
	Registerer prometheus.Registerer
	// Log receives operational logs; AccessLog, when set, one record per
	// proxied request.
	Log, AccessLog *slog.Logger
	// ShutdownGrace is how long in-flight requests get when a listener
	// stops; default 30s.
	ShutdownGrace time.Duration
}

// Topic is the event published with every change to the load balancers.
const Topic = "lb.changed"

// Service manages load balancers and serves them. It is safe for
// concurrent use.
type Service struct {
	db    *store.DB
	cfg   Config
	log   *slog.Logger
	plane *lb.LB

	portMap  map[int]string // listener port -> local address
	httpPort int            // the port port 80 is served on

	// mu serialises changes of the data plane, so that it always holds the
	// last state read.
	mu      sync.Mutex
	aliases map[string]string         // host -> lower-case load balancer name
	applied map[string]map[string]int // data plane group -> target ID -> port registered
	groups  map[string]string         // target group ARN -> data plane group (its name)

	names atomic.Pointer[map[string]bool] // lower-case names of the load balancers served
}

// New returns the service, its data plane bound to port 80's local
// address. Run serves it.
func New(db *store.DB, cfg Config) (*Service, error) {
	if cfg.Partition == "" {
		cfg.Partition = "aws"
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.AccountID == "" {
		cfg.AccountID = "000000000000"
	}
	if cfg.ListenHost == "" {
		cfg.ListenHost = "127.0.0.1"
	}
	if cfg.PortMap == nil {
		cfg.PortMap = map[int]string{80: "8081", 443: "8444"}
	}
	if cfg.Log == nil {
		cfg.Log = slog.Default()
	}
	s := &Service{db: db, cfg: cfg, log: cfg.Log, portMap: map[int]string{},
		aliases: map[string]string{}, applied: map[string]map[string]int{}, groups: map[string]string{}}
	used := map[string]int{}
	for _, port := range sortedKeys(cfg.PortMap) {
		addr, err := normalizeAddr(cfg.PortMap[port], cfg.ListenHost)
		if err != nil {
			return nil, fmt.Errorf("load balancer port map %d: %w", port, err)
		}
		if port < 1 || port > 65535 {
			return nil, fmt.Errorf("load balancer port map: listener port %d is not from 1 to 65535", port)
		}
		if other, dup := used[addr]; dup {
			return nil, fmt.Errorf("load balancer port map: ports %d and %d both map to %s; give each its own local address (port 0, any free port, for one of them only)", other, port, addr)
		}
		used[addr] = port
		s.portMap[port] = addr
	}
	s.names.Store(&map[string]bool{})
	s.plane = lb.New(lb.Options{Logger: cfg.Log, AccessLog: cfg.AccessLog, Registerer: cfg.Registerer,
		ShutdownGrace: cfg.ShutdownGrace, DialContext: s.dial})
	httpAddr := s.localAddr(80)
	if err := s.plane.Apply(lb.Config{Listeners: []lb.Listener{{Address: httpAddr, Port: 80, DefaultAction: notServed(80, nil)}}}); err != nil {
		return nil, fmt.Errorf("load balancers: serve listener port 80 on %s: %w (choose another local address with --lb-port-map 80=PORT)", httpAddr, err)
	}
	a, _ := s.plane.ListenerAddr(httpAddr)
	s.httpPort = a.(*net.TCPAddr).Port
	return s, nil
}

// localAddr is the configured local address that serves listener port.
func (s *Service) localAddr(port int) string {
	if a, ok := s.portMap[port]; ok {
		return a
	}
	return net.JoinHostPort(s.cfg.ListenHost, strconv.Itoa(port))
}

// ListenerAddress is the local address serving listener port: the bound
// address when some listener is served on it (so the real port when the
// map asks for port 0), else the configured one.
func (s *Service) ListenerAddress(port int) string {
	a := s.localAddr(port)
	if bound, ok := s.plane.ListenerAddr(a); ok {
		return bound.String()
	}
	return a
}

// DNSName is the DNS name of the load balancer called name:
// NAME.lb.localhost, followed by ":PORT" when listener port 80 is served
// on a local port other than 80, so that "http://" + DNSName is a working
// URL. It is a host name plus a port rather than a pure DNS name because
// binding port 80 needs privileges; the DNS service strips the port where a
// name is needed (alias records).
func (s *Service) DNSName(name string) string {
	if s.httpPort == 80 {
		return hostName(name)
	}
	return hostName(name) + ":" + strconv.Itoa(s.httpPort)
}

// Run loads the state from the tables, serves it until ctx ends (following
// changes made by other server processes when Config.Bus is set), then
// stops the data plane, giving in-flight requests ShutdownGrace.
func (s *Service) Run(ctx context.Context) error {
	var changes <-chan events.Event
	if s.cfg.Bus != nil {
		ch, cancel := s.cfg.Bus.Subscribe(Topic)
		defer cancel()
		changes = ch
	}
	if err := s.reload(ctx); err != nil {
		// The server goes on: the port-80 listener answers, and the next
		// change tries again.
		s.log.Error("load balancers: serve the stored load balancers", "err", err)
	}
	done := make(chan error, 1)
	go func() { done <- s.plane.Run(ctx) }()
	for {
		select {
		case err := <-done:
			return err
		case _, ok := <-changes:
			if !ok {
				changes = nil
				continue
			}
			// One reload covers every change queued meanwhile.
			events.Drain(changes)
			if err := s.reload(ctx); err != nil && ctx.Err() == nil {
				s.log.Error("load balancers: apply a change", "err", err)
			}
		}
	}
}

// reload makes the data plane serve what the tables hold.
func (s *Service) reload(ctx context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(ctx, s.db)
}

// mutate runs fn in a transaction and applies the state it leaves to the
// data plane before committing, so that a change the data plane refuses
// (a port that cannot be bound) is not stored either.
func (s *Service) mutate(ctx context.Context, fn func(tx *store.Tx) error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	applied := false
	err := s.db.Tx(ctx, func(tx *store.Tx) error {
		if err := fn(tx); err != nil {
			return err
		}
		if s.cfg.Bus != nil {
			if err := s.cfg.Bus.Publish(ctx, tx, Topic, nil); err != nil {
				return err
			}
		}
		applied = true
		return s.applyLocked(ctx, tx)
	})
	if err != nil && applied {
		// The data plane may hold a state whose commit failed.
		if rerr := s.applyLocked(context.WithoutCancel(ctx), s.db); rerr != nil {
			s.log.Error("load balancers: restore the stored state", "err", rerr)
		}
	}
	return err
}

// applyLocked reads the state through q and applies it: the listeners and
// target groups, then the targets. The caller holds s.mu.
func (s *Service) applyLocked(ctx context.Context, q store.Querier) error {
	st, err := load(ctx, q, s)
	if err != nil {
		return err
	}
	cfg, err := s.config(st)
	if err != nil {
		return err
	}
	if err := s.plane.Apply(cfg); err != nil {
		var opErr *net.OpError
		if errors.As(err, &opErr) && opErr.Op == "listen" {
			return fmt.Errorf("cannot serve a listener on %s: %w (ports below 1024 need privileges: map the port with --lb-port-map PORT=LOCALPORT)", opErr.Addr, err)
		}
		return err
	}
	names := map[string]bool{}
	for _, l := range st.lbs {
		names[strings.ToLower(l.Name)] = true
	}
	s.names.Store(&names)
	s.syncTargetsLocked(st)
	return nil
}

// syncTargetsLocked registers and deregisters targets so the data plane
// has exactly the stored ones, at their current addresses.
func (s *Service) syncTargetsLocked(st *state) {
	// By group name, the data plane IDs of its targets (ID and port).
	want := map[string]map[string]int{}
	groups := map[string]string{}
	for _, tg := range st.groups {
		groups[tg.ARN] = tg.Name
		ts := map[string]int{}
		for _, t := range st.targets[tg.ARN] {
			ts[planeID(t.ID, t.Port)] = t.Port
		}
		want[tg.Name] = ts
	}
	for _, g := range sortedKeys(s.applied) {
		have := s.applied[g]
		var gone []string
		for id, port := range have {
			if p, ok := want[g][id]; !ok || p != port {
				gone = append(gone, id)
			}
		}
		if len(gone) > 0 {
			slices.Sort(gone)
			s.plane.Deregister(g, gone...)
		}
	}
	byName := map[string]*TargetGroup{}
	for i := range st.groups {
		byName[st.groups[i].Name] = &st.groups[i]
	}
	for _, g := range sortedKeys(want) {
		var add []lb.Target
		for _, key := range sortedKeys(want[g]) {
			if _, ok := s.applied[g][key]; !ok {
				id, port := fromPlaneID(key)
				add = append(add, lb.Target{ID: key, Address: targetAddress(byName[g].TargetType, id, port)})
			}
		}
		if len(add) > 0 {
			s.plane.Register(g, add...)
		}
	}
	s.applied, s.groups = want, groups
}

// instanceSuffix marks the data plane address of an instance target,
// ID.instance:PORT, which dial hands to Config.Dial.
const instanceSuffix = ".instance"

// targetAddress is the data plane address of a target.
func targetAddress(targetType, id string, port int) string {
	if targetType == TargetIP {
		return net.JoinHostPort(id, strconv.Itoa(port))
	}
	return net.JoinHostPort(id+instanceSuffix, strconv.Itoa(port))
}

// dial opens a connection to a target for the data plane.
func (s *Service) dial(ctx context.Context, network, address string) (net.Conn, error) {
	host, portStr, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	id, instance := strings.CutSuffix(host, instanceSuffix)
	if !instance {
		return d.DialContext(ctx, network, address)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil {
		return nil, fmt.Errorf("instance %s: port %q", id, portStr)
	}
	if s.cfg.Dial == nil {
		return d.DialContext(ctx, network, net.JoinHostPort("127.0.0.1", portStr))
	}
	conn, err := s.cfg.Dial(ctx, id, port)
	if err != nil {
		return nil, fmt.Errorf("instance %s port %d: %w", id, port, err)
	}
	return conn, nil
}

// SetAliases tells the service which host names stand for which load
// balancer: host name (a wildcard "*.example.internal" too) -> the load
// balancer's DNS name as an alias record gives it (with or without a
// "dualstack." prefix, a final dot or a port). Names that are no load
// balancer's are ignored. The DNS service calls it with every alias after
// each change; requests whose Host is one of them reach that load balancer.
func (s *Service) SetAliases(aliases map[string]string) {
	m := map[string]string{}
	for host, target := range aliases {
		if name := lbNameOf(target); name != "" {
			m[strings.TrimSuffix(strings.ToLower(host), ".")] = name
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if maps.Equal(m, s.aliases) {
		return
	}
	s.aliases = m
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.applyLocked(ctx, s.db); err != nil {
		s.log.Error("load balancers: apply DNS aliases", "err", err)
	}
}

// AliasAddrs answers for the DNS service what an alias record naming a
// load balancer's DNS name resolves to: the address its listeners are
// served on (the listen host, or 127.0.0.1 when that is no single
// address). ok is false when no load balancer has that name.
func (s *Service) AliasAddrs(dnsName string) (ips []netip.Addr, ok bool) {
	name := lbNameOf(dnsName)
	if name == "" || !(*s.names.Load())[name] {
		return nil, false
	}
	return []netip.Addr{aliasAddr(s.cfg.ListenHost)}, true
}

// config builds the data plane's configuration from st: one listener per
// listener port, shared by the load balancers listening on it.
func (s *Service) config(st *state) (lb.Config, error) {
	var cfg lb.Config
	tgName := map[string]string{}
	for _, tg := range st.groups {
		tgName[tg.ARN] = tg.Name
		hc := tg.HealthCheck.withDefaults()
		cfg.TargetGroups = append(cfg.TargetGroups, lb.TargetGroup{
			Name: tg.Name,
			HealthCheck: lb.HealthCheck{
				Path:               hc.Path,
				Port:               hc.Port,
				Interval:           time.Duration(hc.IntervalSeconds) * time.Second,
				Timeout:            time.Duration(hc.TimeoutSeconds) * time.Second,
				HealthyThreshold:   hc.HealthyThreshold,
				UnhealthyThreshold: hc.UnhealthyThreshold,
				Matcher:            hc.Matcher,
			},
			DeregistrationDelay: time.Duration(tg.DeregistrationDelay) * time.Second,
		})
	}
	// The host names of each load balancer: its own, then its aliases.
	hosts := map[string][]string{}
	byName := map[string]string{}
	lbs := map[string]*LoadBalancer{}
	for i := range st.lbs {
		l := &st.lbs[i]
		lbs[l.ARN] = l
		hosts[l.ARN] = []string{hostName(l.Name)}
		byName[strings.ToLower(l.Name)] = l.ARN
	}
	for _, host := range sortedKeys(s.aliases) {
		if arn, ok := byName[s.aliases[host]]; ok {
			hosts[arn] = append(hosts[arn], host)
		}
	}
	rules := map[string][]Rule{}
	for _, r := range st.rules {
		rules[r.ListenerARN] = append(rules[r.ListenerARN], r)
	}
	for _, rs := range rules {
		slices.SortFunc(rs, func(a, b Rule) int { return a.Priority - b.Priority })
	}
	ports := map[int][]*Listener{80: nil} // port 80 is always served
	for i := range st.listeners {
		l := &st.listeners[i]
		ports[l.Port] = append(ports[l.Port], l)
	}
	action := func(as []Action) lb.Action { return planeAction(as, tgName) }
	addrs := map[string]int{}
	for _, port := range sortedKeys(ports) {
		addr := s.localAddr(port)
		if other, dup := addrs[addr]; dup {
			return cfg, fmt.Errorf("listener port %d would be served on %s, which serves listener port %d already (see --lb-port-map); choose another port", port, addr, other)
		}
		addrs[addr] = port
		ls := ports[port]
		slices.SortFunc(ls, func(a, b *Listener) int {
			return strings.Compare(strings.ToLower(lbs[a.LoadBalancerARN].Name), strings.ToLower(lbs[b.LoadBalancerARN].Name))
		})
		pl := lb.Listener{Address: addr, Port: port}
		switch len(ls) {
		case 0:
			pl.DefaultAction = notServed(port, nil)
		case 1:
			// Every request on the port is this load balancer's.
			l := ls[0]
			for i, r := range rules[l.ARN] {
				pl.Rules = append(pl.Rules, lb.Rule{Priority: i + 1, Conditions: planeConditions(r.Conditions), Action: action(r.Actions)})
			}
			pl.DefaultAction = action(l.DefaultActions)
		default:
			// A request goes to the load balancer its Host names: each one's
			// rules, then its default, all limited to its host names.
			var served []string
			for _, l := range ls {
				names := hosts[l.LoadBalancerARN]
				served = append(served, names...)
				only := lb.Condition{Field: lb.FieldHostHeader, Values: names}
				for _, r := range rules[l.ARN] {
					pl.Rules = append(pl.Rules, lb.Rule{Priority: len(pl.Rules) + 1,
						Conditions: append(planeConditions(r.Conditions), only), Action: action(r.Actions)})
				}
				pl.Rules = append(pl.Rules, lb.Rule{Priority: len(pl.Rules) + 1, Conditions: []lb.Condition{only}, Action: action(l.DefaultActions)})
			}
			pl.DefaultAction = notServed(port, served)
		}
		cfg.Listeners = append(cfg.Listeners, pl)
	}
	return cfg, nil
}

// notServed answers requests on a port whose Host no load balancer serves.
func notServed(port int, names []string) lb.Action {
	msg := fmt.Sprintf("404 Not Found: no load balancer listening on port %d serves the host \"#{host}\".\n", port)
	if len(names) == 0 {
		msg += fmt.Sprintf("No load balancer has a listener on port %d yet.\n", port)
	} else {
		msg += "Hosts served on this port: " + strings.Join(names, ", ") + ".\n"
	}
	return lb.Action{FixedResponse: &lb.FixedResponse{StatusCode: 404, ContentType: "text/plain; charset=utf-8",
		MessageBody: msg, ExpandPlaceholders: true}}
}

// planeConditions converts rule conditions for the data plane.
func planeConditions(cs []Condition) []lb.Condition {
	out := make([]lb.Condition, 0, len(cs)+1)
	for _, c := range cs {
		out = append(out, lb.Condition{Field: c.Field, Values: c.Values})
	}
	return out
}

// planeAction converts a stored action list (one action, validated when
// stored) for the data plane.
func planeAction(as []Action, tgName map[string]string) lb.Action {
	if len(as) != 1 {
		return lb.Action{FixedResponse: &lb.FixedResponse{StatusCode: 500, MessageBody: "500: this rule has no single action\n"}}
	}
	a := as[0]
	switch a.Type {
	case ActionForward:
		if name, ok := tgName[a.TargetGroupARN]; ok {
			return lb.Action{Forward: name}
		}
		return lb.Action{FixedResponse: &lb.FixedResponse{StatusCode: 503,
			MessageBody: fmt.Sprintf("503 Service Unavailable: target group %s does not exist any more\n", a.TargetGroupARN)}}
	case ActionFixedResponse:
		f := a.FixedResponse
		return lb.Action{FixedResponse: &lb.FixedResponse{StatusCode: f.StatusCode, ContentType: f.ContentType, MessageBody: f.MessageBody}}
	default:
		r := a.Redirect
		// ELBv2's #{path} has no leading "/" (its default Path is
		// "/#{path}"); the data plane's has one.
		return lb.Action{Redirect: &lb.Redirect{Protocol: r.Protocol, Host: r.Host, Port: r.Port,
			Path: strings.ReplaceAll(r.Path, "/#{path}", "#{path}"), Query: r.Query, StatusCode: r.StatusCode}}
	}
}
