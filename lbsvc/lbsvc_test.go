package lbsvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// project inserts a project row and returns its id.
func project(t *testing.T, db *store.DB, name string) string {
	t.Helper()
	id := store.NewID()
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", id, name, store.Millis(time.Now())); err != nil {
		t.Fatal(err)
	}
	return id
}

// start runs a service over db until the test ends, port 80 on a free port.
func start(t *testing.T, db *store.DB, cfg Config) *Service {
	t.Helper()
	if cfg.PortMap == nil {
		cfg.PortMap = map[int]string{80: "127.0.0.1:0"}
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	cfg.ShutdownGrace = 5 * time.Second
	s, err := New(db, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return s
}

// backend is an HTTP server answering every request with its name and the
// path, and its health checks with health (200 unless set).
func backend(t *testing.T, name string) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(s.Close)
	return s
}

func portOf(t *testing.T, s *httptest.Server) int {
	t.Helper()
	return s.Listener.Addr().(*net.TCPAddr).Port
}

// get sends GET url with Host host and returns status and body.
func get(t *testing.T, url, host string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func forward(tg *TargetGroup) []Action {
	return []Action{{Type: ActionForward, TargetGroupARN: tg.ARN}}
}

// web makes a load balancer with a port-80 listener forwarding to a new
// ip target group whose targets are the backends.
func web(t *testing.T, s *Service, pid, name string, backends ...*httptest.Server) (*LoadBalancer, *Listener, *TargetGroup) {
	t.Helper()
	ctx := context.Background()
	l, err := s.CreateLoadBalancer(ctx, pid, "", LoadBalancerInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.CreateTargetGroup(ctx, pid, "", TargetGroupInput{Name: name + "-tg", Port: 80, TargetType: TargetIP})
	if err != nil {
		t.Fatal(err)
	}
	li, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)})
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range backends {
		if err := s.RegisterTargets(ctx, tg.ARN, Target{ID: "127.0.0.1", Port: portOf(t, b)}); err != nil {
			t.Fatal(err)
		}
	}
	return l, li, tg
}

func TestResources_ARNsNamesAndLifecycle(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := start(t, db, Config{})
		pid, other := project(t, db, "acme"), project(t, db, "other")
		port := strconv.Itoa(s.httpPort)

		l, err := s.CreateLoadBalancer(ctx, pid, "tok-lb", LoadBalancerInput{Name: "App-Staging", Settings: map[string]any{"Subnets": []any{"subnet-1"}}})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^arn:aws:elasticloadbalancing:local:000000000000:loadbalancer/app/App-Staging/[0-9a-f]{16}$`).MatchString(l.ARN) {
			t.Errorf("load balancer ARN %s", l.ARN)
		}
		if l.DNSName != "app-staging.lb.localhost:"+port || l.FullName() != strings.TrimPrefix(l.ARN, "arn:aws:elasticloadbalancing:local:000000000000:loadbalancer/") {
			t.Errorf("DNSName %s FullName %s", l.DNSName, l.FullName())
		}
		if l.Scheme != "internet-facing" || l.Type != "application" || l.IPAddressType != "ipv4" || len(l.Settings["Subnets"].([]any)) != 1 {
			t.Errorf("defaults and settings: %+v", l)
		}
		again, err := s.CreateLoadBalancer(ctx, pid, "tok-lb", LoadBalancerInput{Name: "App-Staging"})
		if err != nil || again.ARN != l.ARN {
			t.Fatalf("resumed create: %+v %v", again, err)
		}
		for _, tc := range []struct{ project, token, name string }{{pid, "tok-2", "app-staging"}, {other, "tok-lb", "App-Staging"}, {pid, "", "App-Staging"}} {
			_, err := s.CreateLoadBalancer(ctx, tc.project, tc.token, LoadBalancerInput{Name: tc.name})
			if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "unique on a Slipway server") {
				t.Errorf("taken name %+v: %v", tc, err)
			}
		}
		for _, bad := range []string{"-x", "x-", "internal-x", strings.Repeat("a", 33), "a_b"} {
			if _, err := s.CreateLoadBalancer(ctx, pid, "", LoadBalancerInput{Name: bad}); err == nil || !strings.Contains(err.Error(), "letters, digits and hyphens") {
				t.Errorf("name %q: %v", bad, err)
			}
		}
		if _, err := s.CreateLoadBalancer(ctx, pid, "", LoadBalancerInput{Name: "nlb", Type: "network"}); err == nil || !strings.Contains(err.Error(), "application") {
			t.Errorf("network load balancer: %v", err)
		}
		gen, err := s.CreateLoadBalancer(ctx, pid, "tok-gen", LoadBalancerInput{})
		if err != nil || ValidateName("load balancer", gen.Name) != nil {
			t.Fatalf("generated name: %+v %v", gen, err)
		}

		tg, err := s.CreateTargetGroup(ctx, pid, "tok-tg", TargetGroupInput{Name: "app-tg", Port: 8000, VpcID: "vpc-1",
			HealthCheck: HealthCheck{Path: "/health", Matcher: "200-299"}, DeregistrationDelay: DefaultDeregistrationDelay})
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`^arn:aws:elasticloadbalancing:local:000000000000:targetgroup/app-tg/[0-9a-f]{16}$`).MatchString(tg.ARN) ||
			!strings.HasPrefix(tg.FullName(), "targetgroup/app-tg/") || tg.TargetType != TargetInstance || tg.Protocol != "HTTP" {
			t.Errorf("target group %+v (full name %s)", tg, tg.FullName())
		}
		if _, err := s.CreateTargetGroup(ctx, pid, "", TargetGroupInput{Name: "APP-TG", Port: 1}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("taken target group name: %v", err)
		}
		for _, in := range []TargetGroupInput{
			{Name: "a", Port: 80, Protocol: "HTTPS"},
			{Name: "a", Port: 80, TargetType: "lambda"},
			{Name: "a", Port: 0},
			{Name: "a", Port: 80, HealthCheck: HealthCheck{IntervalSeconds: 5, TimeoutSeconds: 5}},
			{Name: "a", Port: 80, HealthCheck: HealthCheck{Matcher: "600"}},
		} {
			if _, err := s.CreateTargetGroup(ctx, pid, "", in); err == nil {
				t.Errorf("bad target group %+v accepted", in)
			}
		}

		_, err = s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 443, Protocol: "HTTPS", DefaultActions: forward(tg)})
		if err == nil || !strings.Contains(err.Error(), "HTTPS is not supported") {
			t.Errorf("HTTPS listener: %v", err)
		}
		li, err := s.CreateListener(ctx, pid, "tok-li", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(li.ARN, "arn:aws:elasticloadbalancing:local:000000000000:listener/"+l.FullName()+"/") || li.LocalAddress != "127.0.0.1:"+port {
			t.Errorf("listener %+v", li)
		}
		if again, err := s.CreateListener(ctx, pid, "tok-li", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)}); err != nil || again.ARN != li.ARN {
			t.Errorf("resumed listener create: %+v %v", again, err)
		}
		if _, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)}); !errors.Is(err, store.ErrConflict) {
			t.Errorf("second listener on port 80: %v", err)
		}
		otherTG, err := s.CreateTargetGroup(ctx, other, "", TargetGroupInput{Name: "theirs", Port: 80})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 8080, DefaultActions: forward(otherTG)}); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("forward to another project's group: %v", err)
		}

		rule, err := s.CreateRule(ctx, pid, "tok-rule", RuleInput{ListenerARN: li.ARN, Priority: 10,
			Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/api/*"}}}, Actions: forward(tg)})
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(rule.ARN, "arn:aws:elasticloadbalancing:local:000000000000:listener-rule/"+l.FullName()+"/") {
			t.Errorf("rule ARN %s", rule.ARN)
		}
		_, err = s.CreateRule(ctx, pid, "", RuleInput{ListenerARN: li.ARN, Priority: 10,
			Conditions: []Condition{{Field: FieldHostHeader, Values: []string{"x"}}}, Actions: forward(tg)})
		if !errors.Is(err, store.ErrConflict) || !strings.Contains(err.Error(), "PriorityInUse") {
			t.Errorf("priority in use: %v", err)
		}
		_, err = s.CreateRule(ctx, pid, "", RuleInput{ListenerARN: li.ARN, Priority: 11,
			Conditions: []Condition{{Field: "http-header", Values: []string{"x"}}}, Actions: forward(tg)})
		if err == nil || !strings.Contains(err.Error(), "not supported") {
			t.Errorf("http-header condition: %v", err)
		}
		if _, err := s.UpdateRule(ctx, pid, rule.ARN, RuleInput{Priority: 5, Conditions: rule.Conditions,
			Actions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 418}}}}); err != nil {
			t.Fatal(err)
		}

		got, err := s.TargetGroup(ctx, pid, "app-tg")
		if err != nil || len(got.LoadBalancerARNs) != 1 || got.LoadBalancerARNs[0] != l.ARN {
			t.Fatalf("target group in use: %+v %v", got, err)
		}
		if err := s.DeleteTargetGroup(ctx, pid, tg.ARN); err == nil || !strings.Contains(err.Error(), "ResourceInUse") {
			t.Errorf("delete of a group in use: %v", err)
		}
		if _, err := s.UpdateTargetGroup(ctx, pid, tg.ARN, TargetGroupInput{Name: "app-tg", Port: 9000, VpcID: "vpc-1"}); err == nil {
			t.Error("a port change was made in place")
		}
		upd, err := s.UpdateTargetGroup(ctx, pid, tg.ARN, TargetGroupInput{Name: "app-tg", Port: 8000, VpcID: "vpc-1",
			HealthCheck: HealthCheck{Path: "/ready"}, DeregistrationDelay: 10})
		if err != nil || upd.HealthCheck.Path != "/ready" || upd.DeregistrationDelay != 10 {
			t.Fatalf("update target group: %+v %v", upd, err)
		}

		if arn, err := s.Managed(ctx, pid, "tok-rule"); err != nil || arn != rule.ARN {
			t.Errorf("Managed(tok-rule) = %s %v", arn, err)
		}
		if arn, err := s.Managed(ctx, other, "tok-rule"); err != nil || arn != "" {
			t.Errorf("Managed in another project = %s %v", arn, err)
		}

		// Deleting the load balancer takes its listeners and rules along.
		for range 2 {
			if err := s.DeleteLoadBalancer(ctx, pid, l.ARN); err != nil {
				t.Fatal(err)
			}
		}
		if _, err := s.Listener(ctx, pid, li.ARN); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("listener after its load balancer was deleted: %v", err)
		}
		if _, err := s.Rule(ctx, pid, rule.ARN); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("rule after its load balancer was deleted: %v", err)
		}
		if err := s.DeleteTargetGroup(ctx, pid, tg.ARN); err != nil {
			t.Fatal(err)
		}
		if lbs, _ := s.LoadBalancers(ctx, pid); len(lbs) != 1 || lbs[0].Name != gen.Name {
			t.Errorf("load balancers left: %+v", lbs)
		}
	})
}

// TestRouting_LoadBalancersShareAPortByHost is the service's real HTTP
// test: two load balancers on listener port 80 share one local port and
// are told apart by Host, a rule routes by path, an alias host reaches its
// load balancer, and a Host nobody serves gets a 404 saying what is served.
func TestRouting_LoadBalancersShareAPortByHost(t *testing.T) {
	storetest.Each(t, testRouting)
}

func testRouting(t *testing.T, db *store.DB) {
	ctx := context.Background()
	s := start(t, db, Config{Registerer: prometheus.NewRegistry()})
	pid := project(t, db, "acme")
	url := "http://" + s.ListenerAddress(80)

	webLB, webListener, _ := web(t, s, pid, "web", backend(t, "web"))
	// One load balancer on the port: every Host is its.
	if code, body := get(t, url+"/x", "anything.example"); code != 200 || body != "web /x" {
		t.Fatalf("the only load balancer: %d %q", code, body)
	}
	web(t, s, pid, "api", backend(t, "api"))
	static, err := s.CreateTargetGroup(ctx, pid, "", TargetGroupInput{Name: "static", Port: 80, TargetType: TargetIP})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTargets(ctx, static.ARN, Target{ID: "127.0.0.1", Port: portOf(t, backend(t, "static"))}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateRule(ctx, pid, "", RuleInput{ListenerARN: webListener.ARN, Priority: 1,
		Conditions: []Condition{{Field: FieldPathPattern, Values: []string{"/static/*"}}}, Actions: forward(static)}); err != nil {
		t.Fatal(err)
	}
	s.SetAliases(map[string]string{"app.staging.example.internal.": "dualstack." + webLB.DNSName, "other.example": "nosuch.lb.localhost"})

	port := strconv.Itoa(s.httpPort)
	for _, tc := range []struct {
		host, path string
		code       int
		body       string
	}{
		{"web.lb.localhost:" + port, "/", 200, "web /"},
		{"WEB.lb.localhost", "/static/app.css", 200, "static /static/app.css"},
		{"api.lb.localhost:" + port, "/", 200, "api /"},
		{"api.lb.localhost", "/static/app.css", 200, "api /static/app.css"},
		{"app.staging.example.internal", "/static/x", 200, "static /static/x"},
		{"app.staging.example.internal:" + port, "/", 200, "web /"},
	} {
		if code, body := get(t, url+tc.path, tc.host); code != tc.code || body != tc.body {
			t.Errorf("Host %s %s: %d %q, want %d %q", tc.host, tc.path, code, body, tc.code, tc.body)
		}
	}
	code, body := get(t, url+"/", "nobody.example")
	if code != 404 || !strings.Contains(body, `"nobody.example"`) ||
		!strings.Contains(body, "api.lb.localhost, web.lb.localhost, app.staging.example.internal") {
		t.Errorf("unknown host: %d %q", code, body)
	}
	if ips, ok := s.AliasAddrs("web.lb.localhost:" + port); !ok || len(ips) != 1 || ips[0].String() != "127.0.0.1" {
		t.Errorf("AliasAddrs(web) = %v %v", ips, ok)
	}
	if _, ok := s.AliasAddrs("nosuch.lb.localhost"); ok {
		t.Error("AliasAddrs answers for a load balancer that does not exist")
	}

	// A listener on another port is served on that port; a port that
	// cannot be bound is refused and not stored.
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := busy.Addr().(*net.TCPAddr).Port
	_, err = s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: webLB.ARN, Port: busyPort,
		DefaultActions: []Action{{Type: ActionFixedResponse, FixedResponse: &FixedResponse{StatusCode: 200}}}})
	if err == nil || !strings.Contains(err.Error(), "cannot serve a listener") {
		t.Errorf("listener on a taken port: %v", err)
	}
	if ls, _ := s.Listeners(ctx, pid, webLB.ARN); len(ls) != 1 {
		t.Errorf("a refused listener was stored: %+v", ls)
	}
	busy.Close()
	if _, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: webLB.ARN, Port: busyPort,
		DefaultActions: []Action{{Type: ActionRedirect, Redirect: &Redirect{Port: port, Path: "/moved/#{path}", StatusCode: 301}}}}); err != nil {
		t.Fatal(err)
	}
	res, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Get(
		"http://" + s.ListenerAddress(busyPort) + "/a?b=1")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if want := "http://127.0.0.1:" + port + "/moved/a?b=1"; res.StatusCode != 301 || res.Header.Get("Location") != want {
		t.Errorf("redirect: %d %s, want 301 %s", res.StatusCode, res.Header.Get("Location"), want)
	}
}

func TestTargets_RegistrationHealthAndDraining(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	release := make(chan struct{})
	entered := make(chan struct{}, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/health":
		case "/slow":
			entered <- struct{}{}
			<-release
			io.WriteString(w, "slow done")
		default:
			io.WriteString(w, "app")
		}
	}))
	defer app.Close()
	appPort := portOf(t, app)
	// The instance "i-app" is reached through Dial, as the fleet's
	// instances are.
	var dialled atomic.Int64
	dial := func(ctx context.Context, id string, port int) (net.Conn, error) {
		if id != "i-app" || port != appPort {
			return nil, fmt.Errorf("no instance %s port %d", id, port)
		}
		dialled.Add(1)
		var d net.Dialer
		return d.DialContext(ctx, "tcp", app.Listener.Addr().String())
	}
	s := start(t, db, Config{Dial: dial})
	pid := project(t, db, "acme")
	l, err := s.CreateLoadBalancer(ctx, pid, "", LoadBalancerInput{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.CreateTargetGroup(ctx, pid, "", TargetGroupInput{Name: "web-tg", Port: appPort,
		HealthCheck:         HealthCheck{Path: "/health", IntervalSeconds: 5, TimeoutSeconds: 2, HealthyThreshold: 2},
		DeregistrationDelay: DefaultDeregistrationDelay})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTargets(ctx, tg.ARN, Target{ID: "i-app"}); err != nil {
		t.Fatal(err)
	}
	th, err := s.TargetHealth(ctx, tg.ARN)
	if err != nil || len(th) != 1 || th[0].ID != "i-app" || th[0].Port != appPort || th[0].State != StateUnused {
		t.Fatalf("a target of a group no listener uses: %+v %v", th, err)
	}
	if _, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)}); err != nil {
		t.Fatal(err)
	}
	url := "http://" + s.ListenerAddress(80)
	// A target in its initial checks gets traffic while none is healthy.
	if code, body := get(t, url+"/", ""); code != 200 || body != "app" {
		t.Fatalf("through the instance: %d %q", code, body)
	}
	if err := s.RegisterTargets(ctx, tg.ARN, Target{ID: "10.0.0.1:80"}); err == nil {
		t.Error("an instance target with a colon was accepted")
	}
	waitFor(t, "the instance target to pass its health checks", func() bool {
		th, _ := s.TargetHealth(ctx, tg.ARN)
		return len(th) == 1 && th[0].State == StateHealthy
	})
	if dialled.Load() == 0 {
		t.Error("Dial was not used")
	}

	// A restarted service registers the stored targets again.
	ctx2, cancel := context.WithCancel(ctx)
	s2, err := New(db, Config{PortMap: map[int]string{80: "127.0.0.1:0"}, Dial: dial})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s2.Run(ctx2) }()
	if code, body := get(t, "http://"+s2.ListenerAddress(80)+"/", "web.lb.localhost"); code != 200 || body != "app" {
		t.Errorf("after a restart: %d %q", code, body)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}

	// Deregistration drains: the slow request finishes, new ones find no
	// target, and a waiting DeregisterTargets returns once it is dropped.
	slow := make(chan string, 1)
	go func() {
		res, err := http.Get(url + "/slow")
		if err != nil {
			slow <- err.Error()
			return
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		slow <- string(b)
	}()
	<-entered
	deregistered := make(chan error, 1)
	go func() { deregistered <- s.DeregisterTargets(ctx, tg.ARN, true, Target{ID: "i-app"}) }()
	waitFor(t, "the target to drain", func() bool {
		th, _ := s.TargetHealth(ctx, tg.ARN)
		return len(th) == 1 && th[0].State == StateDraining && th[0].Reason == "Target.DeregistrationInProgress"
	})
	if code, body := get(t, url+"/", ""); code != 502 || !strings.Contains(body, "web-tg") {
		t.Errorf("while the only target drains: %d %q", code, body)
	}
	select {
	case err := <-deregistered:
		t.Fatalf("DeregisterTargets returned while a request was in flight: %v", err)
	default:
	}
	close(release)
	if got := <-slow; got != "slow done" {
		t.Errorf("the in-flight request: %q", got)
	}
	if err := <-deregistered; err != nil {
		t.Fatal(err)
	}
	if th, _ := s.TargetHealth(ctx, tg.ARN); len(th) != 0 {
		t.Errorf("targets after deregistration: %+v", th)
	}
}

// TestBus_AnotherServerProcessServesWhatThisOneChanged: two services over
// one database, each with its own event bus as two server processes have.
func TestBus_AnotherServerProcessServesWhatThisOneChanged(t *testing.T) {
	db := storetest.SQLite(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	var services []*Service
	for range 2 {
		bus := events.New(db, log)
		done := make(chan error, 1)
		go func() { done <- bus.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		<-bus.Ready()
		services = append(services, start(t, db, Config{Bus: bus}))
	}
	one, other := services[0], services[1]
	pid := project(t, db, "acme")
	_, _, tg := web(t, one, pid, "web", backend(t, "web"))
	waitFor(t, "the other process to serve the load balancer", func() bool {
		req, _ := http.NewRequest(http.MethodGet, "http://"+other.ListenerAddress(80)+"/", nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return string(b) == "web /"
	})
	th, err := other.TargetHealth(context.Background(), tg.ARN)
	if err != nil || len(th) != 1 || th[0].ID != "127.0.0.1" {
		t.Errorf("the other process's targets: %+v %v", th, err)
	}
}

// TestTargets_OneAddressOnTwoPortsIsTwoTargets: a target is an ID and a
// port, as in ELBv2.
func TestTargets_OneAddressOnTwoPortsIsTwoTargets(t *testing.T) {
	db := storetest.SQLite(t)
	ctx := context.Background()
	var ports []int
	for _, name := range []string{"one", "two"} {
		app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, name) }))
		defer app.Close()
		ports = append(ports, portOf(t, app))
	}
	s := start(t, db, Config{})
	pid := project(t, db, "acme")
	l, err := s.CreateLoadBalancer(ctx, pid, "", LoadBalancerInput{Name: "pair"})
	if err != nil {
		t.Fatal(err)
	}
	tg, err := s.CreateTargetGroup(ctx, pid, "", TargetGroupInput{Name: "pair-tg", Port: 80, TargetType: TargetIP,
		HealthCheck: HealthCheck{IntervalSeconds: 5, TimeoutSeconds: 2, HealthyThreshold: 2}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.CreateListener(ctx, pid, "", ListenerInput{LoadBalancerARN: l.ARN, Port: 80, DefaultActions: forward(tg)}); err != nil {
		t.Fatal(err)
	}
	if err := s.RegisterTargets(ctx, tg.ARN, Target{ID: "127.0.0.1", Port: ports[0]}, Target{ID: "127.0.0.1", Port: ports[1]}); err != nil {
		t.Fatal(err)
	}
	th, err := s.TargetHealth(ctx, tg.ARN)
	if err != nil || len(th) != 2 || th[0].Port == th[1].Port {
		t.Fatalf("two ports of one address: %+v %v", th, err)
	}
	url := "http://" + s.ListenerAddress(80) + "/"
	seen := map[string]bool{}
	for range 20 {
		_, body := get(t, url, "")
		seen[body] = true
	}
	if !seen["one"] || !seen["two"] {
		t.Errorf("answered by %v, want both ports", seen)
	}
	// One port goes; the other stays.
	if err := s.DeregisterTargets(ctx, tg.ARN, true, Target{ID: "127.0.0.1", Port: ports[0]}); err != nil {
		t.Fatal(err)
	}
	th, _ = s.TargetHealth(ctx, tg.ARN)
	if len(th) != 1 || th[0].Port != ports[1] {
		t.Fatalf("after deregistering port %d: %+v", ports[0], th)
	}
	for range 5 {
		if _, body := get(t, url, ""); body != "two" {
			t.Errorf("answered %q after port %d went", body, ports[0])
		}
	}
	// Without a port, every port of the ID goes.
	if err := s.RegisterTargets(ctx, tg.ARN, Target{ID: "127.0.0.1", Port: ports[0]}); err != nil {
		t.Fatal(err)
	}
	if err := s.DeregisterTargets(ctx, tg.ARN, true, Target{ID: "127.0.0.1"}); err != nil {
		t.Fatal(err)
	}
	if th, _ := s.TargetHealth(ctx, tg.ARN); len(th) != 0 {
		t.Errorf("after deregistering the ID: %+v", th)
	}
}
