package lb

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// fastCheck probes often enough for tests to see state changes quickly.
var fastCheck = HealthCheck{Interval: 30 * time.Millisecond, Timeout: 25 * time.Millisecond, HealthyThreshold: 2, UnhealthyThreshold: 2}

// start runs an LB with cfg until the test ends and returns it with the base
// URL of its first listener.
func start(t *testing.T, cfg Config, opts Options) (*LB, string) {
	t.Helper()
	if opts.ShutdownGrace == 0 {
		opts.ShutdownGrace = 5 * time.Second
	}
	lb := New(opts)
	if err := lb.Apply(cfg); err != nil {
		t.Fatalf("Apply: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- lb.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	addr, ok := lb.ListenerAddr(cfg.Listeners[0].Address)
	if !ok {
		t.Fatal("listener not bound")
	}
	return lb, "http://" + addr.String()
}

// named is a target answering every request with its name.
func named(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, name)
	}))
	t.Cleanup(s.Close)
	return s
}

func addr(s *httptest.Server) string { return s.Listener.Addr().String() }

func forward(group string) Action { return Action{Forward: group} }

// get sends a request and returns its status and body, failing the test on
// a transport error; call it from the test's goroutine only.
func get(t *testing.T, client *http.Client, url, host string) (int, string) {
	t.Helper()
	code, body, err := fetch(client, url, host)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	return code, body
}

// fetch is get for other goroutines: it returns the error.
func fetch(client *http.Client, url, host string) (int, string, error) {
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		return 0, "", err
	}
	if host != "" {
		req.Host = host
	}
	res, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func stateOf(lb *LB, group, id string) State {
	for _, th := range lb.Targets(group) {
		if th.ID == id {
			return th.State
		}
	}
	return ""
}

// gathered sums the values of a metric family in reg.
func gathered(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, mf := range mfs {
		if mf.GetName() == name {
			for _, m := range mf.GetMetric() {
				sum += m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func TestWildcard(t *testing.T) {
	for _, c := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true},
		{"/api/*", "/api/v1/x", true},
		{"/api/*", "/apix", false},
		{"*.example.com", "www.example.com", true},
		{"*.example.com", "example.com", false},
		{"v?", "v1", true},
		{"v?", "v12", false},
		{"a*b*c", "aXbYbZc", true},
		{"a*b*c", "aXbYbZ", false},
		{"/exact", "/exact", true},
	} {
		if got := wildcard(c.p, c.s); got != c.want {
			t.Errorf("wildcard(%q, %q) = %v, want %v", c.p, c.s, got, c.want)
		}
	}
}

func TestApply_RejectsBadConfigWithEveryError(t *testing.T) {
	err := New(Options{}).Apply(Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: HealthCheck{Matcher: "200-abc", Port: "x"}}},
		Listeners: []Listener{{
			Address:       "127.0.0.1:0",
			DefaultAction: forward("missing"),
			Rules: []Rule{
				{Priority: 1, Conditions: []Condition{{Field: "method", Values: []string{"GET"}}}, Action: forward("web")},
				{Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/"}}}, Action: Action{Redirect: &Redirect{StatusCode: 307}}},
			},
		}},
	})
	if err == nil {
		t.Fatal("Apply accepted a bad config")
	}
	for _, want := range []string{"matcher", "health check port", "TargetGroupNotFound", "condition field", "PriorityInUse", "redirect status code 307"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}

func TestRouting_RulesByHostAndPathInPriorityOrder(t *testing.T) {
	a, b, c := named(t, "a"), named(t, "b"), named(t, "c")
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "a"}, {Name: "b"}, {Name: "c"}},
		Listeners: []Listener{{
			Address:       "127.0.0.1:0",
			DefaultAction: Action{FixedResponse: &FixedResponse{StatusCode: 404, MessageBody: "no rule"}},
			Rules: []Rule{
				{Priority: 20, Conditions: []Condition{{Field: FieldHostHeader, Values: []string{"*.example.com"}}, {Field: FieldPathPattern, Values: []string{"/v?/*"}}}, Action: forward("c")},
				{Priority: 10, Conditions: []Condition{{Field: FieldHostHeader, Values: []string{"api.*", "API2.internal"}}}, Action: forward("a")},
				{Priority: 5, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/static/*"}}}, Action: forward("b")},
			},
		}},
	}, Options{})
	lb.Register("a", Target{ID: "a", Address: addr(a)})
	lb.Register("b", Target{ID: "b", Address: addr(b)})
	lb.Register("c", Target{ID: "c", Address: addr(c)})

	for _, tc := range []struct {
		host, path string
		want       string
	}{
		{"api.example.com", "/x", "a"},
		{"api2.internal:8080", "/", "a"},           // case and port ignored
		{"api.example.com", "/static/app.js", "b"}, // priority 5 beats 10
		{"www.example.com", "/v1/users", "c"},
		{"www.example.com", "/v10/users", "no rule"},
		{"www.example.com", "/V1/users", "no rule"}, // paths are case-sensitive
		{"other.org", "/", "no rule"},
	} {
		if _, body := get(t, http.DefaultClient, url+tc.path, tc.host); body != tc.want {
			t.Errorf("Host %s path %s: got %q, want %q", tc.host, tc.path, body, tc.want)
		}
	}
}

func TestActions_FixedResponseAndRedirect(t *testing.T) {
	_, url := start(t, Config{Listeners: []Listener{{
		Address:       "127.0.0.1:0",
		Port:          80,
		DefaultAction: Action{FixedResponse: &FixedResponse{StatusCode: 503, ContentType: "application/json", MessageBody: `{"down":true}`}},
		Rules: []Rule{
			{Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/old/*"}}},
				Action: Action{Redirect: &Redirect{Protocol: "HTTPS", Port: "443", Path: "/new#{path}", StatusCode: 301}}},
			{Priority: 2, Conditions: []Condition{{Field: FieldHostHeader, Values: []string{"example.com"}}},
				Action: Action{Redirect: &Redirect{Host: "www.#{host}", StatusCode: 302}}},
		},
	}}}, Options{})
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

	res, err := noFollow.Get(url + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Content-Type") != "application/json" || string(body) != `{"down":true}` {
		t.Errorf("fixed response: %d %s %q", res.StatusCode, res.Header.Get("Content-Type"), body)
	}

	for _, tc := range []struct {
		host, path string
		code       int
		location   string
	}{
		{"shop.test", "/old/a?x=1", 301, "https://shop.test/new/old/a?x=1"},
		{"example.com", "/p?q", 302, "http://www.example.com/p?q"},
	} {
		req, _ := http.NewRequest(http.MethodGet, url+tc.path, nil)
		req.Host = tc.host
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.code || res.Header.Get("Location") != tc.location {
			t.Errorf("%s%s: %d %s, want %d %s", tc.host, tc.path, res.StatusCode, res.Header.Get("Location"), tc.code, tc.location)
		}
	}
}

func TestHealthChecks_ThresholdsDecideWhichTargetsGetTraffic(t *testing.T) {
	var failing atomic.Bool
	var failedProbes atomic.Int64
	flaky := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if r.UserAgent() != "ELB-HealthChecker/2.0" {
				t.Errorf("health check User-Agent %q", r.UserAgent())
			}
			if failing.Load() {
				failedProbes.Add(1)
				w.WriteHeader(http.StatusInternalServerError)
			}
			return
		}
		io.WriteString(w, "flaky")
	}))
	defer flaky.Close()
	steady := named(t, "steady")

	hc := fastCheck
	hc.Path, hc.Matcher = "/health", "200-299"
	hc.UnhealthyThreshold = 3
	reg := prometheus.NewRegistry()
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: hc}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{Registerer: reg})
	lb.Register("web", Target{ID: "flaky", Address: addr(flaky)}, Target{ID: "steady", Address: addr(steady)})

	waitFor(t, "both healthy", func() bool {
		return stateOf(lb, "web", "flaky") == StateHealthy && stateOf(lb, "web", "steady") == StateHealthy
	})
	if g := gathered(t, reg, "slipway_lb_healthy_targets"); g != 2 {
		t.Errorf("healthy gauge = %v, want 2", g)
	}

	failing.Store(true)
	waitFor(t, "flaky unhealthy", func() bool { return stateOf(lb, "web", "flaky") == StateUnhealthy })
	if n := failedProbes.Load(); n < 3 {
		t.Errorf("unhealthy after %d failed checks, want at least the threshold of 3", n)
	}
	th := lb.Targets("web")[0]
	if th.Reason != reasonMismatch || !strings.Contains(th.Description, "500") {
		t.Errorf("unhealthy target reports %q %q", th.Reason, th.Description)
	}
	for range 10 {
		if _, body := get(t, http.DefaultClient, url, ""); body != "steady" {
			t.Fatalf("an unhealthy target got traffic: %q", body)
		}
	}

	failing.Store(false)
	waitFor(t, "flaky healthy again", func() bool { return stateOf(lb, "web", "flaky") == StateHealthy })
	seen := map[string]int{}
	for range 10 {
		_, body := get(t, http.DefaultClient, url, "")
		seen[body]++
	}
	if seen["flaky"] != 5 || seen["steady"] != 5 {
		t.Errorf("round robin over two healthy targets gave %v", seen)
	}
	// A request is counted once the proxy has finished it, which can be just
	// after the client has read the response.
	waitFor(t, "every request to be counted", func() bool { return gathered(t, reg, "slipway_lb_requests_total") >= 20 })
	if n := gathered(t, reg, "slipway_lb_requests_total"); n != 20 {
		t.Errorf("requests counter = %v, want 20", n)
	}
}

func TestNoHealthyTarget_Returns502NamingTheGroup(t *testing.T) {
	sick := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer sick.Close()
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: fastCheck}, {Name: "empty"}},
		Listeners: []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web"), Rules: []Rule{
			{Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/empty"}}}, Action: forward("empty")},
		}}},
	}, Options{})
	lb.Register("web", Target{ID: "sick", Address: addr(sick)})
	waitFor(t, "sick unhealthy", func() bool { return stateOf(lb, "web", "sick") == StateUnhealthy })

	for path, group := range map[string]string{"/": "web", "/empty": "empty"} {
		code, body := get(t, http.DefaultClient, url+path, "")
		if code != http.StatusBadGateway || !strings.Contains(body, fmt.Sprintf("target group %q has no healthy target", group)) {
			t.Errorf("%s: %d %q", path, code, body)
		}
	}
}

func TestProxy_SetsXForwardedHeadersAndKeepsHost(t *testing.T) {
	seen := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	echo := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == "ELB-HealthChecker/2.0" {
			return
		}
		seen <- r.Header.Clone()
		hosts <- r.Host
	}))
	defer echo.Close()
	var logs lockedBuffer
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web"}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", Port: 80, DefaultAction: forward("web")}},
	}, Options{AccessLog: slog.New(slog.NewJSONHandler(&logs, nil))})
	lb.Register("web", Target{ID: "echo", Address: addr(echo)})

	req, _ := http.NewRequest(http.MethodGet, url, nil)
	req.Host = "app.example.test"
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	req.Header.Set("Connection", "close, X-Secret")
	req.Header.Set("X-Secret", "hop-by-hop")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	h := <-seen
	for k, want := range map[string]string{
		"X-Forwarded-For":   "203.0.113.9, 127.0.0.1",
		"X-Forwarded-Proto": "http",
		"X-Forwarded-Host":  "app.example.test",
		"X-Forwarded-Port":  "80",
		"X-Secret":          "",
	} {
		if got := h.Get(k); got != want {
			t.Errorf("%s = %q, want %q", k, got, want)
		}
	}
	if host := <-hosts; host != "app.example.test" {
		t.Errorf("target saw Host %q", host)
	}
	waitFor(t, "an access log record", func() bool {
		return strings.Contains(logs.String(), `"status":200,"target_group":"web","target":"echo"`)
	})
}

// lockedBuffer is a log destination safe to read while the LB writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func TestProxy_StreamsResponsesAsWritten(t *testing.T) {
	release := make(chan struct{})
	streamer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "second\n")
	}))
	defer streamer.Close()
	defer close(release)
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web"}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{})
	lb.Register("web", Target{ID: "s", Address: addr(streamer)})

	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	line, err := bufio.NewReader(res.Body).ReadString('\n')
	if err != nil || line != "first\n" {
		t.Fatalf("first chunk: %q %v", line, err)
	}
}

func TestProxy_UpgradeRoundTrip(t *testing.T) {
	ws := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want Upgrade: echo", http.StatusBadRequest)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		brw.Flush()
		for {
			line, err := brw.ReadString('\n')
			if err != nil {
				return
			}
			brw.WriteString("echo: " + line)
			brw.Flush()
		}
	}))
	defer ws.Close()
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web"}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{})
	lb.Register("web", Target{ID: "ws", Address: addr(ws)})

	conn, err := net.Dial("tcp", strings.TrimPrefix(url, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	io.WriteString(conn, "GET /chat HTTP/1.1\r\nHost: app\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	br := bufio.NewReader(conn)
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("status %d", res.StatusCode)
	}
	for _, msg := range []string{"hello\n", "again\n"} {
		io.WriteString(conn, msg)
		if got, err := br.ReadString('\n'); err != nil || got != "echo: "+msg {
			t.Fatalf("got %q %v", got, err)
		}
	}
}

func TestProxy_RetriesAnotherTargetWhenTheConnectionFails(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close()
	live := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "live %s", b)
	}))
	defer live.Close()
	// A long interval keeps both targets in initial, hence both routable.
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: HealthCheck{Interval: time.Hour, UnhealthyThreshold: 10}}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{})
	lb.Register("web", Target{ID: "dead", Address: deadAddr}, Target{ID: "live", Address: addr(live)})

	for i := range 6 {
		res, err := http.Post(url, "text/plain", strings.NewReader(fmt.Sprint(i)))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(b) != fmt.Sprintf("live %d", i) {
			t.Errorf("POST %d: %d %q", i, res.StatusCode, b)
		}
	}
}

// TestDeregistration_UnderLoadFailsNoRequest is the figure: a target
// deregistered under load, zero failed requests.
func TestDeregistration_UnderLoadFailsNoRequest(t *testing.T) {
	slowEntered := make(chan string, 16)
	target := func(name string) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/slow" {
				slowEntered <- name
				time.Sleep(400 * time.Millisecond)
			}
			io.WriteString(w, name)
		}))
		t.Cleanup(s.Close)
		return s
	}
	a, b := target("a"), target("b")
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: fastCheck, DeregistrationDelay: 5 * time.Second}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{})
	lb.Register("web", Target{ID: "a", Address: addr(a)}, Target{ID: "b", Address: addr(b)})
	waitFor(t, "both healthy", func() bool {
		return stateOf(lb, "web", "a") == StateHealthy && stateOf(lb, "web", "b") == StateHealthy
	})

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 8}}
	defer client.CloseIdleConnections()
	var failures, afterDrain atomic.Int64
	var drained atomic.Bool
	ctx, stop := context.WithCancel(context.Background())
	var load sync.WaitGroup
	for range 4 {
		load.Go(func() {
			for ctx.Err() == nil {
				res, err := client.Get(url)
				if err != nil {
					failures.Add(1)
					continue
				}
				body, _ := io.ReadAll(res.Body)
				res.Body.Close()
				if res.StatusCode != 200 {
					failures.Add(1)
				}
				if drained.Load() && string(body) == "a" {
					afterDrain.Add(1)
				}
			}
		})
	}

	// Slow requests until one is in flight on a, the target to deregister.
	slow := make(chan string, 16)
	slowSent := 0
	for {
		slowSent++
		load.Go(func() {
			code, body, err := fetch(client, url+"/slow", "")
			if err != nil || code != 200 {
				failures.Add(1)
			}
			slow <- body
		})
		if <-slowEntered == "a" {
			break
		}
	}
	lb.Deregister("web", "a")
	// A request that picked a just before it was deregistered may still be
	// answered by it; give those a moment before counting strays.
	time.Sleep(20 * time.Millisecond)
	drained.Store(true)
	if s := stateOf(lb, "web", "a"); s != StateDraining {
		t.Errorf("deregistered target is %s, want draining", s)
	}

	time.Sleep(200 * time.Millisecond) // load continues while a drains
	if s := stateOf(lb, "web", "a"); s != StateDraining {
		t.Errorf("target with a request in flight is %q, want still draining", s)
	}
	var bodies []string
	for range slowSent {
		bodies = append(bodies, <-slow)
	}
	if !slices.Contains(bodies, "a") {
		t.Errorf("slow requests answered by %v; one should be a's, finished while draining", bodies)
	}
	waitFor(t, "a dropped", func() bool { return stateOf(lb, "web", "a") == "" })
	time.Sleep(100 * time.Millisecond)
	stop()
	load.Wait()

	if n := failures.Load(); n != 0 {
		t.Errorf("%d requests failed during deregistration, want 0", n)
	}
	if n := afterDrain.Load(); n != 0 {
		t.Errorf("draining target got %d new requests", n)
	}
}

func TestApply_LiveListenerKeepsInFlightRequests(t *testing.T) {
	entered := make(chan struct{}, 2)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() == "ELB-HealthChecker/2.0" {
			return
		}
		entered <- struct{}{}
		time.Sleep(300 * time.Millisecond)
		io.WriteString(w, "slow")
	}))
	defer slow.Close()
	groups := []TargetGroup{{Name: "web"}}
	lb, url := start(t, Config{
		TargetGroups: groups,
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{})
	lb.Register("web", Target{ID: "slow", Address: addr(slow)})

	inflight := func() <-chan string {
		out := make(chan string, 1)
		go func() {
			code, body, err := fetch(http.DefaultClient, url, "")
			out <- fmt.Sprint(code, " ", body, err)
		}()
		<-entered
		return out
	}

	// The same listener with a new default action: rules swap, the socket stays.
	first := inflight()
	if err := lb.Apply(Config{TargetGroups: groups, Listeners: []Listener{{
		Address:       "127.0.0.1:0",
		DefaultAction: Action{FixedResponse: &FixedResponse{StatusCode: 200, MessageBody: "v2"}},
		Rules:         []Rule{{Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/app"}}}, Action: forward("web")}},
	}}}); err != nil {
		t.Fatal(err)
	}
	if _, body := get(t, http.DefaultClient, url, ""); body != "v2" {
		t.Errorf("after Apply got %q, want the new default action", body)
	}
	if got := <-first; got != "200 slow<nil>" {
		t.Errorf("in-flight request across Apply: %s", got)
	}

	// The listener removed: it stops accepting, but its request finishes.
	second := make(chan string, 1)
	go func() {
		code, body, err := fetch(http.DefaultClient, url+"/app", "")
		second <- fmt.Sprint(code, " ", body, err)
	}()
	<-entered
	if err := lb.Apply(Config{TargetGroups: groups}); err != nil {
		t.Fatal(err)
	}
	if got := <-second; got != "200 slow<nil>" {
		t.Errorf("in-flight request on a removed listener: %s", got)
	}
	if _, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Get(url); err == nil {
		t.Error("removed listener still accepts connections")
	}
}

func TestRun_StopsListenersAndReturns(t *testing.T) {
	lb := New(Options{ShutdownGrace: time.Second})
	if err := lb.Apply(Config{Listeners: []Listener{{Address: "127.0.0.1:0", DefaultAction: Action{FixedResponse: &FixedResponse{StatusCode: 204}}}}}); err != nil {
		t.Fatal(err)
	}
	a, _ := lb.ListenerAddr("127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- lb.Run(ctx) }()
	lb.Register("g", Target{ID: "x", Address: "127.0.0.1:1"})
	if th := lb.Targets("g"); len(th) != 1 || th[0].State != StateUnused || th[0].Reason != reasonNotInUse {
		t.Errorf("target of a group no listener uses: %+v, want unused", th)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", a.String()); err == nil {
		t.Error("listener still open after Run returned")
	}
	if err := lb.Apply(Config{}); !errors.Is(err, ErrStopped) {
		t.Errorf("Apply after Run: %v, want ErrStopped", err)
	}
}

func BenchmarkProxy(b *testing.B) {
	hello := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello\n") })
	t1, t2 := httptest.NewServer(hello), httptest.NewServer(hello)
	defer t1.Close()
	defer t2.Close()
	lb := New(Options{})
	cfg := Config{
		TargetGroups: []TargetGroup{{Name: "web"}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}
	if err := lb.Apply(cfg); err != nil {
		b.Fatal(err)
	}
	lb.Register("web", Target{ID: "1", Address: addr(t1)}, Target{ID: "2", Address: addr(t2)})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- lb.Run(ctx) }()
	defer func() { cancel(); <-done }()
	a, _ := lb.ListenerAddr("127.0.0.1:0")
	url := "http://" + a.String() + "/"
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 256}}
	defer client.CloseIdleConnections()

	b.SetParallelism(16) // 16 clients per core, like wrk -c32 on two cores
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			res, err := client.Get(url)
			if err != nil {
				b.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "req/s")
}

// TestOptions_DialContextReachesTargetsForTrafficAndHealthChecks: targets
// named by something other than a TCP address (local instances behind a
// Unix socket) are reached through DialContext, by requests and probes
// alike, and a dial error of its own kind still moves a request to another
// target.
func TestOptions_DialContextReachesTargetsForTrafficAndHealthChecks(t *testing.T) {
	app := named(t, "app")
	var mu sync.Mutex
	dialled := map[string]int{}
	dial := func(ctx context.Context, network, address string) (net.Conn, error) {
		mu.Lock()
		dialled[address]++
		mu.Unlock()
		host, _, _ := net.SplitHostPort(address)
		if host == "broken.instance" {
			return nil, errors.New("instance socket missing")
		}
		var d net.Dialer
		return d.DialContext(ctx, network, addr(app))
	}
	hc := fastCheck
	hc.Port = "9000"
	lb, url := start(t, Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: hc}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}, Options{DialContext: dial})
	lb.Register("web", Target{ID: "i-1", Address: "i-1.instance:8000"})
	waitFor(t, "the target to become healthy through the dialer", func() bool { return stateOf(lb, "web", "i-1") == StateHealthy })
	if code, body := get(t, http.DefaultClient, url+"/", ""); code != 200 || body != "app" {
		t.Fatalf("through the dialer: %d %q", code, body)
	}
	mu.Lock()
	probes, traffic := dialled["i-1.instance:9000"], dialled["i-1.instance:8000"]
	mu.Unlock()
	if probes == 0 || traffic == 0 {
		t.Errorf("dialled %v: want the health check port 9000 for probes and 8000 for traffic", dialled)
	}

	// A broken target fails its dial with a plain error: the request goes
	// to the other one, as with a refused TCP connection.
	lb.Deregister("web", "i-1")
	slow := HealthCheck{Interval: time.Hour, UnhealthyThreshold: 10}
	if err := lb.Apply(Config{
		TargetGroups: []TargetGroup{{Name: "web", HealthCheck: slow}},
		Listeners:    []Listener{{Address: "127.0.0.1:0", DefaultAction: forward("web")}},
	}); err != nil {
		t.Fatal(err)
	}
	lb.Register("web", Target{ID: "a-broken", Address: "broken.instance:8000"}, Target{ID: "b-good", Address: "good.instance:8000"})
	for i := range 4 {
		if code, body := get(t, http.DefaultClient, url+"/", ""); code != 200 || body != "app" {
			t.Fatalf("request %d with a broken target: %d %q", i, code, body)
		}
	}
}

func TestFixedResponse_ExpandsPlaceholdersOnlyWhenAsked(t *testing.T) {
	_, url := start(t, Config{Listeners: []Listener{{
		Address: "127.0.0.1:0",
		Port:    80,
		DefaultAction: Action{FixedResponse: &FixedResponse{StatusCode: 404,
			MessageBody: "nobody serves #{host} on #{port} for #{path}", ExpandPlaceholders: true}},
		Rules: []Rule{{Priority: 1, Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/raw"}}},
			Action: Action{FixedResponse: &FixedResponse{StatusCode: 200, MessageBody: "#{host}"}}}},
	}}}, Options{})
	if code, body := get(t, http.DefaultClient, url+"/x", "shop.test:8081"); code != 404 || body != "nobody serves shop.test on 80 for /x" {
		t.Errorf("expanded: %d %q", code, body)
	}
	if code, body := get(t, http.DefaultClient, url+"/raw", "shop.test"); code != 200 || body != "#{host}" {
		t.Errorf("as written: %d %q", code, body)
	}
}
