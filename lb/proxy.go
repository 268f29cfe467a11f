package lb

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// exchange is one proxied request's bookkeeping, carried in its context from
// the handler to the transport and the error handler.
type exchange struct {
	group  *group
	target *target // the acquired target; changes when a dial fails and we retry
	port   string  // the listener's public port
	status int
}

type exchangeKey struct{}

// handler routes a listener's requests by its current rules.
func (lb *LB) handler(li *listener) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rt := li.route.Load()
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		a := rt.action(host, r.URL.Path)
		var groupName, targetID string
		status := 0
		switch {
		case a.FixedResponse != nil:
			status = a.FixedResponse.StatusCode
			ct := a.FixedResponse.ContentType
			if ct == "" {
				ct = "text/plain"
			}
			w.Header().Set("Content-Type", ct)
			w.WriteHeader(status)
			body := a.FixedResponse.MessageBody
			if a.FixedResponse.ExpandPlaceholders {
				body = placeholders(r, host, rt.port).Replace(body)
			}
			io.WriteString(w, body)
		case a.Redirect != nil:
			status = a.Redirect.StatusCode
			http.Redirect(w, r, redirectURL(a.Redirect, r, host, rt.port), status)
		default:
			groupName = a.Forward
			g := rt.groups[groupName]
			t := g.pick(nil)
			if t == nil {
				status = http.StatusBadGateway
				http.Error(w, fmt.Sprintf("502 Bad Gateway: target group %q has no healthy target", groupName), status)
				break
			}
			x := &exchange{group: g, target: t, port: rt.port}
			lb.proxy.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), exchangeKey{}, x)))
			x.target.release()
			status, targetID = x.status, x.target.ID
		}
		d := time.Since(start)
		lb.metrics.requests.WithLabelValues(groupName, strconv.Itoa(status)).Inc()
		lb.metrics.latency.WithLabelValues(groupName).Observe(d.Seconds())
		if lb.opts.AccessLog != nil {
			lb.opts.AccessLog.LogAttrs(r.Context(), slog.LevelInfo, "request",
				slog.String("listener", li.addr),
				slog.String("client", r.RemoteAddr),
				slog.String("method", r.Method),
				slog.String("host", r.Host),
				slog.String("uri", r.RequestURI),
				slog.Int("status", status),
				slog.String("target_group", groupName),
				slog.String("target", targetID),
				slog.Duration("duration", d),
				slog.String("user_agent", r.UserAgent()))
		}
	})
}

// placeholders expands ELBv2's #{...} placeholders for a request.
func placeholders(r *http.Request, host, port string) *strings.Replacer {
	return strings.NewReplacer(
		"#{protocol}", "http", "#{host}", host, "#{port}", port,
		"#{path}", r.URL.Path, "#{query}", r.URL.RawQuery,
	)
}

// redirectURL expands a redirect action for a request, ELBv2-style.
func redirectURL(rd *Redirect, r *http.Request, host, port string) string {
	rep := placeholders(r, host, port)
	expand := func(field, keep string) string {
		if field == "" {
			return keep
		}
		return rep.Replace(field)
	}
	proto := strings.ToLower(expand(rd.Protocol, "http"))
	h := expand(rd.Host, host)
	p := expand(rd.Port, port)
	u := proto + "://" + h
	if !(proto == "http" && p == "80" || proto == "https" && p == "443") {
		u += ":" + p
	}
	u += expand(rd.Path, r.URL.Path)
	if q := expand(rd.Query, r.URL.RawQuery); q != "" {
		u += "?" + q
	}
	return u
}

// newProxy builds the one ReverseProxy all listeners share, so that keep-alive
// connections to a target are reused whichever listener a request came in on.
func (lb *LB) newProxy() http.Handler {
	base := &http.Transport{
		Proxy:               nil, // targets are local; an environment proxy would be wrong
		DialContext:         lb.opts.dialer(),
		MaxIdleConns:        0, // bounded per target instead
		MaxIdleConnsPerHost: lb.opts.MaxIdleConnsPerTarget,
		IdleConnTimeout:     90 * time.Second,
		// The client's Accept-Encoding passes through untouched; the
		// transport must not add gzip and decode on its own.
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
	return &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			x := pr.In.Context().Value(exchangeKey{}).(*exchange)
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = x.target.Address
			// ELBv2 appends to the client's X-Forwarded-For rather than
			// replacing it; Rewrite starts with it removed.
			pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
			pr.SetXForwarded()
			pr.Out.Header.Set("X-Forwarded-Port", x.port)
		},
		Transport: &retryTransport{lb: lb, base: base},
		// No FlushInterval: a response of unknown length (streamed: server-
		// sent events, long polls, progress output) is flushed at every
		// write by ReverseProxy itself, and one of known length goes out in
		// as few writes as its size allows, not one per copy.
		BufferPool: newBufferPool(),
		ModifyResponse: func(res *http.Response) error {
			res.Request.Context().Value(exchangeKey{}).(*exchange).status = res.StatusCode
			return nil
		},
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			x := r.Context().Value(exchangeKey{}).(*exchange)
			if r.Context().Err() != nil {
				// The client went away; nobody reads an answer. 499 is
				// nginx's code for it and keeps the logs honest.
				x.status = 499
				return
			}
			x.status = http.StatusBadGateway
			lb.log.Warn("proxy error", "target_group", x.group.name, "target", x.target.ID, "err", err)
			http.Error(w, fmt.Sprintf("502 Bad Gateway: target group %q, target %s: %v", x.group.name, x.target.ID, err), x.status)
		},
	}
}

// retryTransport sends a request to its exchange's target and, when the
// connection to that target could not be opened, to another one. Only a
// failed dial is retried: nothing has been sent then, so even a POST is safe,
// whereas after a byte has gone out the target may have acted on it.
// The attempts bound keeps a request from cycling between dead targets that
// health checks have not caught yet.
type retryTransport struct {
	lb   *LB
	base *http.Transport
}

// maxAttempts is how many targets one request tries at most.
const maxAttempts = 3

func (rt *retryTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	x := req.Context().Value(exchangeKey{}).(*exchange)
	body := &onceBody{rc: req.Body}
	if req.Body != nil && req.Body != http.NoBody {
		req.Body = body
	}
	for attempt := 1; ; attempt++ {
		res, err := rt.base.RoundTrip(req)
		var op *net.OpError
		if err == nil || !errors.As(err, &op) || op.Op != "dial" || body.read.Load() || attempt == maxAttempts {
			return res, err
		}
		next := x.group.pick(x.target)
		if next == nil {
			return nil, err
		}
		rt.lb.log.Warn("target unreachable, retrying on another", "target_group", x.group.name,
			"target", x.target.ID, "next", next.ID, "err", err)
		x.target.release()
		x.target = next
		req = req.Clone(req.Context())
		req.URL.Host = next.Address
	}
}

// onceBody lets a request body survive a failed dial: the transport closes
// the body it was given even when it sent none of it, and a retry needs it
// open. The server closes the real body when the handler returns.
type onceBody struct {
	rc   io.ReadCloser
	read atomic.Bool
}

func (b *onceBody) Read(p []byte) (int, error) {
	b.read.Store(true)
	return b.rc.Read(p)
}

func (b *onceBody) Close() error { return nil }

// bufferPool recycles the proxy's copy buffers, which would otherwise be
// allocated per request.
type bufferPool struct{ p sync.Pool }

func newBufferPool() *bufferPool {
	return &bufferPool{p: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (b *bufferPool) Get() []byte  { return *b.p.Get().(*[]byte) }
func (b *bufferPool) Put(s []byte) { b.p.Put(&s) }

// metrics are the LB's Prometheus metrics. Without a Registerer they are
// still recorded, unexported, which keeps the request path free of nil checks.
type metrics struct {
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	healthy  *prometheus.GaugeVec
}

func newMetrics(reg prometheus.Registerer, log *slog.Logger) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_lb_requests_total",
			Help: "Requests by target group (empty for fixed-response and redirect actions) and status code.",
		}, []string{"target_group", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_lb_request_duration_seconds",
			Help: "Time from request received to response finished, by target group.",
			// 0.5ms to about 16s: local targets answer in well under a millisecond.
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 16),
		}, []string{"target_group"}),
		healthy: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "slipway_lb_healthy_targets",
			Help: "Healthy targets by target group.",
		}, []string{"target_group"}),
	}
	if reg != nil {
		for _, c := range []prometheus.Collector{m.requests, m.latency, m.healthy} {
			if err := reg.Register(c); err != nil {
				log.Warn("register load balancer metrics", "err", err)
			}
		}
	}
	return m
}
