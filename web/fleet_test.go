package web

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// fleetFake is the fleet and load balancer part of the fake API.
type fleetFake struct {
	mu      sync.Mutex
	groups  []client.InstanceGroup
	console string
}

func newFleetFake() *fleetFake {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	return &fleetFake{
		groups: []client.InstanceGroup{{
			Name: "web-asg", StackName: "app", LogicalID: "Group", LaunchConfiguration: "web-lc", MinSize: 1, MaxSize: 4, Desired: 2,
			HealthCheckType: "ELB", GracePeriod: 30, TargetGroups: []string{tgARN}, InService: 1,
			Instances: []client.Instance{
				{ID: "i-0a", Group: "web-asg", State: "InService", Health: "Healthy", Mode: "namespaced", LaunchedAt: at},
				{ID: "i-0b", Group: "web-asg", State: "Pending", Health: "Unknown", Mode: "process", Port: 40123,
					Reason: "waiting for <init>", LaunchedAt: at.Add(time.Minute)},
			},
		}},
		console: "booting\n<script>alert(1)</script>\n\xff done\n",
	}
}

func (ff *fleetFake) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	const base = "/api/v1/projects/{project}"
	handle := func(pattern string, h func(w http.ResponseWriter, r *http.Request)) {
		mux.HandleFunc(pattern, authed(func(w http.ResponseWriter, r *http.Request) {
			ff.mu.Lock()
			defer ff.mu.Unlock()
			h(w, r)
		}))
	}
	instance := func(w http.ResponseWriter, r *http.Request) *client.Instance {
		for _, g := range ff.groups {
			for i := range g.Instances {
				if g.Instances[i].ID == r.PathValue("id") {
					return &g.Instances[i]
				}
			}
		}
		apiError(w, 404, "not_found", "instance "+r.PathValue("id")+" not found")
		return nil
	}
	handle("GET "+base+"/instance-groups", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, map[string]any{"groups": ff.groups})
	})
	handle("GET "+base+"/instances/{id}", func(w http.ResponseWriter, r *http.Request) {
		if in := instance(w, r); in != nil {
			writeJSON(w, 200, in)
		}
	})
	handle("GET "+base+"/instances/{id}/console", func(w http.ResponseWriter, r *http.Request) {
		in := instance(w, r)
		switch {
		case in == nil:
		case in.ID == "i-0b":
			apiError(w, 404, "not_found", "console log of i-0b (it is removed when the instance terminates) not found")
		default:
			w.Header().Set("Content-Type", "text/plain; charset=utf-8")
			_, _ = io.WriteString(w, ff.console)
		}
	})
	handle("GET "+base+"/load-balancers", func(w http.ResponseWriter, r *http.Request) {
		lb := client.LoadBalancerSummary{LoadBalancer: client.LoadBalancer{ARN: lbARN, Name: "front", DNSName: "front.lb.localhost:8081", Scheme: "internet-facing"}}
		forward := client.Listener{Port: 80, Protocol: "HTTP", LocalAddress: "127.0.0.1:8081", DefaultActions: []client.LBAction{{Type: "forward", TargetGroupARN: tgARN}}}
		fixed := client.Listener{Port: 8443, Protocol: "HTTP", DefaultActions: []client.LBAction{{Type: "fixed-response"}}}
		fixed.DefaultActions[0].FixedResponse = &struct {
			StatusCode  int    `json:"status_code"`
			ContentType string `json:"content_type,omitempty"`
			MessageBody string `json:"message_body,omitempty"`
		}{StatusCode: 503}
		lb.Listeners = []client.Listener{forward, fixed}
		writeJSON(w, 200, []client.LoadBalancerSummary{lb})
	})
	handle("GET "+base+"/target-groups", func(w http.ResponseWriter, r *http.Request) {
		tg := client.TargetGroup{ARN: tgARN, Name: "web-tg", Port: 8080, Protocol: "HTTP", TargetType: "instance", DeregistrationDelay: 5,
			LoadBalancerARNs: []string{lbARN},
			Targets: []client.TargetHealth{
				{ID: "i-0a", Port: 8080, State: "healthy"},
				{ID: "i-0b", Port: 8080, State: "unhealthy", Reason: "Target.ResponseCodeMismatch", Description: "Health checks failed with these codes: [<500>]"},
				{ID: "i-0c", Port: 8080, State: "draining", Reason: "Target.DeregistrationInProgress"},
			}}
		tg.HealthCheck.Protocol, tg.HealthCheck.Path, tg.HealthCheck.IntervalSeconds = "HTTP", "/healthz", 5
		tg.HealthCheck.HealthyThreshold, tg.HealthCheck.UnhealthyThreshold, tg.HealthCheck.Matcher = 2, 3, "200"
		writeJSON(w, 200, []client.TargetGroup{tg})
	})
}

func TestFleetPage(t *testing.T) {
	ff := newFleetFake()
	_, srv := setup(t, Config{}, ff.routes)
	resp, body := do(t, "GET", srv.URL+"/fleet?project=team", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<section class="infra-card" id="group-web-asg" data-group="web-asg"`,
		`<dd data-desired="2">2</dd>`, `<dd>1</dd>`, `<dd>4</dd>`, `<dd data-in-service="1">1</dd>`,
		`<a href="/stacks/app?project=team" class="group-stack">app</a>`,
		`<a href="/load-balancers?project=team#tg-web-tg">web-tg</a>`,
		`<tr data-instance="i-0a" data-state="InService" data-health="Healthy">`,
		`<a href="/fleet/instances/i-0a?project=team"><code>i-0a</code></a>`,
		`<span class="status status-ok"><span class="symbol" aria-hidden="true">✓</span> InService</span>`,
		`<span class="status status-ok"><span class="symbol" aria-hidden="true">✓</span> Healthy</span>`,
		`<span class="status status-pending"><span class="symbol" aria-hidden="true">○</span> Pending</span>`,
		`waiting for &lt;init&gt;`,
		`<code>127.0.0.1:40123</code>`,
		`<div id="live" aria-live="polite"`,
		`<a href="/fleet" aria-current="page">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "<init>") {
		t.Error("an instance's reason is not escaped")
	}
}

func TestInstancePage(t *testing.T) {
	ff := newFleetFake()
	_, srv := setup(t, Config{}, ff.routes)
	resp, body := do(t, "GET", srv.URL+"/fleet/instances/i-0a", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<code id="instance-id">i-0a</code>`,
		`<span id="instance-state" data-state="InService">`,
		`id="instance-health" data-health="Healthy"`,
		`<a href="/fleet#group-web-asg" id="instance-group">web-asg</a>`,
		`<pre id="console" class="infra-console" tabindex="0" aria-labelledby="console-title">booting` + "\n" + `&lt;script&gt;alert(1)&lt;/script&gt;` + "\n\uFFFD done\n</pre>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "<script>alert") {
		t.Error("the console output is not escaped")
	}

	// A terminated instance's console log is gone: the page says so.
	resp, body = do(t, "GET", srv.URL+"/fleet/instances/i-0b", nil, nil, true)
	if resp.StatusCode != 200 || !strings.Contains(body, `<p class="notice" id="console-note">console log of i-0b (it is removed when the instance terminates) not found</p>`) ||
		strings.Contains(body, `id="console"`) {
		t.Errorf("no console log: %d:\n%s", resp.StatusCode, body)
	}

	resp, body = do(t, "GET", srv.URL+"/fleet/instances/i-nope", nil, nil, true)
	if resp.StatusCode != 404 || !strings.Contains(body, "instance i-nope not found") {
		t.Errorf("unknown instance: %d:\n%s", resp.StatusCode, body)
	}
}

func TestLoadBalancersPage(t *testing.T) {
	ff := newFleetFake()
	_, srv := setup(t, Config{}, ff.routes)
	resp, body := do(t, "GET", srv.URL+"/load-balancers", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<section class="infra-card" id="lb-front" data-lb="front"`,
		`<a href="http://front.lb.localhost:8081" class="lb-url">front.lb.localhost:8081</a>`,
		`<tr data-port="80">`,
		`→ forward to <a href="/load-balancers#tg-web-tg" data-target-group="web-tg">web-tg</a>`,
		`<code>127.0.0.1:8081</code>`,
		`→ fixed response 503`,
		`<section class="infra-card" id="tg-web-tg" data-target-group="web-tg"`,
		`<dd class="tg-health-check">HTTP /healthz, every 5s, healthy after 2, unhealthy after 3, expects 200</dd>`,
		`<a href="#lb-front">front</a>`,
		`<tr data-target="i-0a" data-port="8080" data-state="healthy">`,
		`<a href="/fleet/instances/i-0a"><code>i-0a</code></a>`,
		`<span class="status status-ok"><span class="symbol" aria-hidden="true">✓</span> healthy</span>`,
		`<tr data-target="i-0b" data-port="8080" data-state="unhealthy">`,
		`<span class="status status-bad"><span class="symbol" aria-hidden="true">✗</span> unhealthy</span>`,
		`<code>Target.ResponseCodeMismatch</code> <span class="muted">Health checks failed with these codes: [&lt;500&gt;]</span>`,
		`<span class="status status-busy"><span class="symbol" aria-hidden="true">…</span> draining</span>`,
		`<a href="/load-balancers" aria-current="page">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
	if strings.Contains(body, "[<500>]") {
		t.Error("a target's description is not escaped")
	}

	// The page's live stream sends the same fragment.
	event, data := sseEvent(t, openStream(t, srv.URL+"/load-balancers/live"))
	if event != "update" || !strings.Contains(body, data) || !strings.Contains(data, `data-target="i-0b" data-port="8080" data-state="unhealthy"`) {
		t.Errorf("live event %q is not the page's fragment:\n%s", event, data)
	}
}

func TestFleetLive(t *testing.T) {
	ff := newFleetFake()
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, ff.routes)
	r := openStream(t, srv.URL+"/fleet/live")
	event, data := sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `data-instance="i-0b" data-state="Pending"`) || strings.Contains(data, "<html") {
		t.Fatalf("first event %q:\n%s", event, data)
	}
	ff.mu.Lock()
	ff.groups[0].Instances[1].State, ff.groups[0].Instances[1].Health = "InService", "Healthy"
	ff.mu.Unlock()
	event, data = sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `data-instance="i-0b" data-state="InService" data-health="Healthy"`) {
		t.Fatalf("second event %q:\n%s", event, data)
	}
}

func TestInfraBadge(t *testing.T) {
	for word, want := range map[string]string{
		"healthy": "ok", "InService": "ok", "Healthy": "ok", "AVAILABLE": "ok",
		"unhealthy": "bad", "Unhealthy": "bad", "FAILED": "bad",
		"initial": "busy", "draining": "busy", "Terminating": "busy",
		"Terminated": "stopped", "unused": "stopped", "OBSOLETE": "stopped",
		"Pending": "pending", "Unknown": "none", "CREATE_COMPLETE": "ok",
	} {
		if got := newBadge(word); got.Kind != want || got.Symbol == "" || got.Word != word {
			t.Errorf("%s: %+v, want kind %s", word, got, want)
		}
	}
	if b := newBadge(""); b.Word != "Unknown" || b.Kind != "none" {
		t.Errorf("no word: %+v", b)
	}
	if got := string(newBadge(`<x>`).HTML()); !strings.Contains(got, "&lt;x&gt;") || strings.Contains(got, "<x>") {
		t.Errorf("the badge's word is not escaped: %s", got)
	}
}
