package lb

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Options are an LB's dependencies and tuning; the zero value works.
type Options struct {
	// Logger receives operational logs (health changes, listener errors);
	// default slog.Default().
	Logger *slog.Logger
	// AccessLog, when set, receives one record per request. It is separate
	// from Logger because at tens of thousands of requests a second it is
	// usually sent elsewhere, or nowhere.
	AccessLog *slog.Logger
	// Registerer, when set, receives the Prometheus metrics.
	Registerer prometheus.Registerer
	// ShutdownGrace is how long a listener removed by Apply, or every
	// listener when Run's context ends, waits for in-flight requests before
	// closing their connections; default 30s.
	ShutdownGrace time.Duration
	// MaxIdleConnsPerTarget bounds the keep-alive connections kept to each
	// target; default 256, enough for a few hundred concurrent clients
	// without reconnecting.
	MaxIdleConnsPerTarget int
	// DialContext opens connections to targets, for proxied requests and
	// health checks alike, given a target's Address (with the health
	// check's port in place of the traffic port where the two differ). It
	// lets a target's Address name something that is not a TCP address,
	// such as a local instance reachable only through a Unix socket. Nil
	// dials TCP with a net.Dialer. Each dial is bounded to 5 seconds; an
	// error that is not a *net.OpError is wrapped in one (Op "dial"), so
	// that a request whose connection failed is still retried on another
	// target. The context given ends when the dial returns.
	DialContext func(ctx context.Context, network, addr string) (net.Conn, error)
}

// dialTimeout bounds the opening of one connection to a target.
const dialTimeout = 5 * time.Second

// dialer returns the function that opens connections to targets.
func (o Options) dialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	if o.DialContext == nil {
		return (&net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}).DialContext
	}
	dial := o.DialContext
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		ctx, cancel := context.WithTimeout(ctx, dialTimeout)
		defer cancel()
		conn, err := dial(ctx, network, addr)
		if err != nil {
			if _, ok := errors.AsType[*net.OpError](err); !ok {
				err = &net.OpError{Op: "dial", Net: network, Err: err}
			}
			return nil, err
		}
		return conn, nil
	}
}

// LB is a load balancer: listeners, target groups and their health checks.
// Configure it with Apply and Register, and run it with Run.
type LB struct {
	opts        Options
	log         *slog.Logger
	metrics     *metrics
	proxy       http.Handler
	checkClient *http.Client

	mu        sync.Mutex
	listeners map[string]*listener // by configured address
	groups    map[string]*group
	runCtx    context.Context             // set by Run; nil before
	pending   []func(ctx context.Context) // started by Run
	stopped   bool
	wg        sync.WaitGroup
}

// New returns an LB with no listeners and no target groups.
func New(opts Options) *LB {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 30 * time.Second
	}
	if opts.MaxIdleConnsPerTarget <= 0 {
		opts.MaxIdleConnsPerTarget = 256
	}
	lb := &LB{
		opts:      opts,
		log:       opts.Logger,
		metrics:   newMetrics(opts.Registerer, opts.Logger),
		listeners: map[string]*listener{},
		groups:    map[string]*group{},
		checkClient: &http.Client{
			// Health checks have their own small pool so that they never
			// wait behind proxied traffic for a connection.
			Transport: &http.Transport{
				Proxy:               nil,
				DialContext:         opts.dialer(),
				MaxIdleConnsPerHost: 1,
				IdleConnTimeout:     90 * time.Second,
				DisableCompression:  true,
			},
			// A redirect is an answer to match, not to follow, as in ELBv2.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
	}
	lb.proxy = lb.newProxy()
	return lb
}

// listener is one bound socket with its current routing, swapped by Apply.
type listener struct {
	addr  string // as configured
	ln    net.Listener
	srv   *http.Server
	route atomic.Pointer[route]
	// ctx is every request's base context; cancelling it ends upgraded
	// (WebSocket) connections, which http.Server.Shutdown does not track.
	ctx    context.Context
	cancel context.CancelFunc
}

// ErrStopped is returned by Apply once Run has returned, and by Run when it
// has already been called: an LB runs once.
var ErrStopped = errors.New("lb: stopped")

// Apply makes cfg the load balancer's configuration. Listeners at a new
// address are bound before anything changes, so a bind error leaves the old
// configuration whole; listeners kept swap their rules atomically without
// touching connections; listeners dropped stop accepting and finish their
// in-flight requests within ShutdownGrace. Apply may be called before Run,
// which then starts serving.
func (lb *LB) Apply(cfg Config) error {
	if err := cfg.validate(); err != nil {
		return err
	}
	lb.mu.Lock()
	defer lb.mu.Unlock()
	if lb.stopped {
		return ErrStopped
	}

	fresh := map[string]net.Listener{}
	for _, l := range cfg.Listeners {
		if lb.listeners[l.Address] != nil {
			continue
		}
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			for _, f := range fresh {
				f.Close()
			}
			return err
		}
		fresh[l.Address] = ln
	}

	lb.applyGroupsLocked(cfg)

	// Every forwarded-to group is defined, hence present, after applyGroupsLocked.
	groups := map[string]*group{}
	for _, tg := range cfg.TargetGroups {
		groups[tg.Name] = lb.groups[tg.Name]
	}
	keep := map[string]bool{}
	for _, l := range cfg.Listeners {
		keep[l.Address] = true
		li := lb.listeners[l.Address]
		if li == nil {
			li = lb.newListener(l.Address, fresh[l.Address])
			lb.listeners[l.Address] = li
			lb.goLocked(li.serve)
		}
		_, port, _ := net.SplitHostPort(li.ln.Addr().String())
		li.route.Store(newRoute(l, port, groups))
	}
	for addr, li := range lb.listeners {
		if !keep[addr] {
			delete(lb.listeners, addr)
			// Closing the socket now frees the address for a later Apply,
			// while in-flight requests finish in the background.
			lb.goLocked(func(ctx context.Context) { lb.stopListener(ctx, li) })
		}
	}
	return nil
}

// applyGroupsLocked updates group settings and which groups are in use.
func (lb *LB) applyGroupsLocked(cfg Config) {
	used := map[string]bool{}
	for _, l := range cfg.Listeners {
		used[l.DefaultAction.Forward] = true
		for _, r := range l.Rules {
			used[r.Action.Forward] = true
		}
	}
	defined := map[string]bool{}
	for _, tg := range cfg.TargetGroups {
		defined[tg.Name] = true
		g := lb.groupLocked(tg.Name)
		g.hc = tg.HealthCheck.withDefaults()
		g.match, _ = parseMatcher(g.hc.Matcher) // validated
		g.delay = tg.DeregistrationDelay
	}
	for _, g := range lb.groups {
		g.defined = defined[g.name]
		wasUsed := g.used
		g.used = used[g.name]
		if g.used != wasUsed {
			for _, t := range g.targets {
				if t.state != StateDraining {
					lb.activateLocked(g, t)
				}
			}
			lb.rebuildLocked(g)
		}
		lb.dropIfEmptyLocked(g)
	}
}

func (lb *LB) newListener(addr string, ln net.Listener) *listener {
	li := &listener{addr: addr, ln: ln}
	li.ctx, li.cancel = context.WithCancel(context.Background())
	li.srv = &http.Server{
		Handler:           lb.handler(li),
		ReadHeaderTimeout: 60 * time.Second, // ELBv2's idle timeout default
		IdleTimeout:       60 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return li.ctx },
		ErrorLog:          slog.NewLogLogger(lb.log.Handler(), slog.LevelWarn),
	}
	return li
}

// serve runs li's accept loop; stopListener ends it.
func (li *listener) serve(context.Context) {
	// Serve returns ErrServerClosed once stopped, and nothing else we could act on.
	_ = li.srv.Serve(li.ln)
}

// stopListener closes li gracefully: no new connections, in-flight requests
// get ShutdownGrace (less if ctx ends first), then everything is closed.
func (lb *LB) stopListener(ctx context.Context, li *listener) {
	ctx, cancel := context.WithTimeout(ctx, lb.opts.ShutdownGrace)
	defer cancel()
	if err := li.srv.Shutdown(ctx); err != nil {
		li.srv.Close()
	}
	li.cancel()
}

// ListenerAddr returns the address a configured listener is bound to, which
// differs from its configured Address when that asks for port 0.
func (lb *LB) ListenerAddr(address string) (net.Addr, bool) {
	lb.mu.Lock()
	defer lb.mu.Unlock()
	li := lb.listeners[address]
	if li == nil {
		return nil, false
	}
	return li.ln.Addr(), true
}

// goLocked runs fn in a goroutine owned by Run: at once if Run is running,
// when it starts otherwise, and never once it has stopped. The caller holds
// lb.mu.
func (lb *LB) goLocked(fn func(ctx context.Context)) {
	switch {
	case lb.stopped:
	case lb.runCtx == nil:
		lb.pending = append(lb.pending, fn)
	default:
		lb.wg.Go(func() { fn(lb.runCtx) })
	}
}

// Run serves the listeners and runs health checks until ctx ends, then stops
// every listener (in-flight requests get ShutdownGrace) and every goroutine
// of the LB before returning. An LB runs once.
func (lb *LB) Run(ctx context.Context) error {
	lb.mu.Lock()
	if lb.runCtx != nil || lb.stopped {
		lb.mu.Unlock()
		return ErrStopped
	}
	runCtx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	defer cancel()
	lb.runCtx = runCtx
	for _, fn := range lb.pending {
		lb.wg.Go(func() { fn(runCtx) })
	}
	lb.pending = nil
	lb.mu.Unlock()

	<-ctx.Done()

	lb.mu.Lock()
	lb.stopped = true
	var stopping sync.WaitGroup
	for addr, li := range lb.listeners {
		delete(lb.listeners, addr)
		stopping.Go(func() { lb.stopListener(runCtx, li) })
	}
	lb.mu.Unlock()
	// Listeners drain first, with health checks and draining timers still
	// running, so that requests in flight finish as they would have.
	stopping.Wait()
	cancel()
	lb.wg.Wait()
	return nil
}
