package web

import (
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// fakeDeploys serves deployments d-FAILED (rolled back by d-ROLLBACK, which
// is in progress) with their instances and hook output.
type fakeDeploys struct {
	mu      sync.Mutex
	deps    map[string]*client.Deployment
	targets map[string][]client.DeploymentTarget
	logs    map[string][]client.LogChunk // by instance
}

func newFakeDeploys() *fakeDeploys {
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	at := func(s int) time.Time { return start.Add(time.Duration(s) * time.Second) }
	rev := client.Revision{Digest: "sha256:" + strings.Repeat("ef", 32), BundleType: "zip", Size: 100}
	return &fakeDeploys{
		deps: map[string]*client.Deployment{
			"d-FAILED": {ID: "d-FAILED", Application: "shop", Group: "shop-prod", Config: "CodeDeployDefault.OneAtATime", Status: "Failed",
				Creator: "user", CreatedBy: "alice", Revision: rev, ErrorCode: "HEALTH_CONSTRAINTS",
				ErrorMessage: "The overall deployment failed because too many individual instances failed deployment",
				Rollback: client.RollbackInfo{RollbackDeploymentID: "d-ROLLBACK",
					RollbackMessage: "Automatic rollback to the revision of d-OLD in deployment d-ROLLBACK"},
				Overview:  client.DeploymentOverview{Failed: 1},
				CreatedAt: start, StartedAt: at(1), EndedAt: at(61)},
			"d-ROLLBACK": {ID: "d-ROLLBACK", Application: "shop", Group: "shop-prod", Config: "CodeDeployDefault.OneAtATime", Status: "InProgress",
				Creator: "codeDeployRollback", Revision: rev,
				Rollback:  client.RollbackInfo{RollbackTriggeringDeploymentID: "d-FAILED", RollbackMessage: "Rollback of d-FAILED"},
				CreatedAt: at(62), StartedAt: at(63)},
		},
		targets: map[string][]client.DeploymentTarget{
			"d-FAILED": {{InstanceID: "i-web1", Status: "Failed", StartedAt: at(1), EndedAt: at(61), Events: []client.LifecycleEvent{
				{Name: "ApplicationStop", Status: "Skipped"},
				{Name: "DownloadBundle", Status: "Succeeded", StartedAt: at(1), EndedAt: at(3)},
				{Name: "BeforeInstall", Status: "Succeeded", StartedAt: at(3), EndedAt: at(10)},
				{Name: "AfterInstall", Status: "Failed", StartedAt: at(10), EndedAt: at(61), Diagnostics: &client.AgentDiagnostics{
					ErrorCode: "ScriptFailed", ScriptName: "scripts/migrate.sh", Message: "Script at specified location: scripts/migrate.sh run as user root failed with exit code 3",
					LogTail: "[stderr]migration <broken>"}},
				{Name: "ApplicationStart", Status: "Pending"},
			}}},
			"d-ROLLBACK": {{InstanceID: "i-web1", Status: "InProgress", StartedAt: at(63), Events: []client.LifecycleEvent{
				{Name: "DownloadBundle", Status: "InProgress", StartedAt: at(63)},
			}}},
		},
		logs: map[string][]client.LogChunk{
			"i-web1": {
				{Seq: 1, Event: "BeforeInstall", Text: "[stdout]installing\n"},
				{Seq: 2, Event: "AfterInstall", Text: "[stdout]\x1b[31mmigrating\x1b[0m\n"},
				{Seq: 3, Event: "AfterInstall", Text: "[stderr]<script>alert(1)</script>\n"},
				{Seq: 4, Event: "ValidateService", Text: "[stdout]stray output\n"},
			},
		},
	}
}

func (f *fakeDeploys) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	get := func(w http.ResponseWriter, r *http.Request) *client.Deployment {
		d := f.deps[r.PathValue("id")]
		if r.PathValue("project") != "default" || d == nil {
			apiError(w, 404, "not_found", "deployment "+r.PathValue("id")+" not found")
			return nil
		}
		return d
	}
	mux.HandleFunc("GET /api/v1/projects/{project}/deployments/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if d := get(w, r); d != nil {
			writeJSON(w, 200, d)
		}
	}))
	mux.HandleFunc("GET /api/v1/projects/{project}/deployments/{id}/instances", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		if d := get(w, r); d != nil {
			writeJSON(w, 200, f.targets[d.ID])
		}
	}))
	mux.HandleFunc("GET /api/v1/projects/{project}/deployments/{id}/logs", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		d := get(w, r)
		if d == nil {
			return
		}
		after, _ := strconv.ParseInt(r.URL.Query().Get("after"), 10, 64)
		out := client.DeploymentLogs{Status: d.Status, Chunks: []client.LogChunk{}}
		if d.ID == "d-FAILED" {
			for _, c := range f.logs[r.URL.Query().Get("instance")] {
				if c.Seq > after {
					out.Chunks = append(out.Chunks, c)
				}
			}
		}
		writeJSON(w, 200, out)
	}))
}

func TestDeploymentPage(t *testing.T) {
	fd := newFakeDeploys()
	_, srv := setup(t, Config{}, fd.routes)
	resp, body := do(t, "GET", srv.URL+"/deployments/d-FAILED", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<span id="deployment-id">d-FAILED</span>`,
		`<dd id="deployment-status" data-status="Failed"><span class="status status-bad"><span class="symbol" aria-hidden="true">✗</span> Failed</span></dd>`,
		`<dd id="deployment-application">shop</dd>`,
		`<dd id="deployment-group">shop-prod</dd>`,
		`<dd id="deployment-config">CodeDeployDefault.OneAtATime</dd>`,
		`<dd id="deployment-revision" data-digest="sha256:` + strings.Repeat("ef", 32) + `">`,
		`>sha256:efefefefefef</code> <span class="muted">zip</span>`,
		`<dd id="deployment-creator">alice (user)</dd>`,
		`<dd id="deployment-duration">1m 0s</dd>`,
		`<p class="alert" id="deployment-error" data-code="HEALTH_CONSTRAINTS"><strong>HEALTH_CONSTRAINTS</strong>: The overall deployment failed`,
		// Rolled back: a link to the rollback.
		`This deployment was rolled back by <a id="rolled-back-by" href="/deployments/d-ROLLBACK">d-ROLLBACK</a>.`,
		`<p class="muted" id="rollback-message">Automatic rollback to the revision of d-OLD in deployment d-ROLLBACK</p>`,
		// The instance and its events, with statuses and diagnostics.
		`<section class="deploy-instance" data-instance="i-web1" data-status="Failed"`,
		`<tr data-event="ApplicationStop" data-status="Skipped">`,
		`<span class="status status-stopped"><span class="symbol" aria-hidden="true">■</span> Skipped</span>`,
		`<tr data-event="BeforeInstall" data-status="Succeeded">`,
		`<td>7s</td>`,
		`<tr data-event="AfterInstall" data-status="Failed">`,
		`<td>51s</td>`,
		`<strong class="deploy-code">ScriptFailed</strong>`,
		`script <code>scripts/migrate.sh</code>`,
		`run as user root failed with exit code 3`,
		`<pre class="deploy-tail">[stderr]migration &lt;broken&gt;</pre>`,
		`<span class="status status-pending"><span class="symbol" aria-hidden="true">○</span> Pending</span>`,
		// Hook output by event, its colours rendered and its text escaped;
		// a failed event's is open.
		`<details data-output="BeforeInstall">`,
		`<pre>[stdout]installing` + "\n</pre>",
		`<details data-output="AfterInstall" open>`,
		`<pre>[stdout]<span class="ansi-fg-1">migrating</span>` + "\n" + `[stderr]&lt;script&gt;alert(1)&lt;/script&gt;` + "\n</pre>",
		`<details data-output="ValidateService">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the deployment page lacks %s", want)
		}
	}
	// The events keep their order.
	last := -1
	for _, e := range []string{"ApplicationStop", "DownloadBundle", "BeforeInstall", "AfterInstall", "ApplicationStart"} {
		i := strings.Index(body, `data-event="`+e+`"`)
		if i < last {
			t.Errorf("%s is out of order", e)
		}
		last = i
	}
	if strings.Count(body, "<script") != 1 || !strings.Contains(body, `<script src="/static/builds.js?v=`) {
		t.Error("the output's <script> is not escaped, or builds.js is missing")
	}
	if strings.Contains(body, "live.js") {
		t.Error("a finished deployment's page loads live.js")
	}
	if strings.Contains(body, `id="live"`) {
		t.Error("a finished deployment's page is live")
	}
}

func TestDeploymentRollbackPageIsLive(t *testing.T) {
	fd := newFakeDeploys()
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, fd.routes)
	_, body := do(t, "GET", srv.URL+"/deployments/d-ROLLBACK", nil, nil, true)
	for _, want := range []string{
		`This deployment rolls back <a id="rollback-of" href="/deployments/d-FAILED">d-FAILED</a>.`,
		`<div id="live" aria-live="polite" tabindex="-1" data-src="/deployments/d-ROLLBACK/live" data-digest="`,
		`<tr data-event="DownloadBundle" data-status="InProgress">`,
		`<td>running</td>`,
		`src="/static/live.js?v=`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the rollback's page lacks %s", want)
		}
	}

	r := openStream(t, srv.URL+"/deployments/d-ROLLBACK/live")
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `data-event="DownloadBundle" data-status="InProgress"`) {
		t.Fatalf("first event %q:\n%s", event, data)
	}
	fd.mu.Lock()
	fd.targets["d-ROLLBACK"][0].Events[0].Status = "Succeeded"
	fd.targets["d-ROLLBACK"][0].Events[0].EndedAt = fd.deps["d-ROLLBACK"].StartedAt.Add(2 * time.Second)
	fd.mu.Unlock()
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `data-event="DownloadBundle" data-status="Succeeded"`) {
		t.Fatalf("second event %q:\n%s", event, data)
	}
	// A deployment that goes away says so.
	fd.mu.Lock()
	delete(fd.deps, "d-ROLLBACK")
	fd.mu.Unlock()
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `id="gone"`) {
		t.Fatalf("gone event %q:\n%s", event, data)
	}
}

// A deployment that ends ends its page's stream: the last update, then
// "end".
func TestDeploymentLiveEndsWithTheDeployment(t *testing.T) {
	fd := newFakeDeploys()
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, fd.routes)
	r := openStream(t, srv.URL+"/deployments/d-ROLLBACK/live")
	if event, _ := sseEvent(t, r); event != "update" {
		t.Fatalf("first event %q", event)
	}
	fd.mu.Lock()
	d := fd.deps["d-ROLLBACK"]
	d.Status = "Succeeded"
	d.EndedAt = d.StartedAt.Add(time.Minute)
	fd.mu.Unlock()
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `data-status="Succeeded"`) {
		t.Fatalf("the ended deployment's update %q:\n%s", event, data)
	}
	if event, _ := sseEvent(t, r); event != "end" {
		t.Fatalf("after the deployment ended, event %q, want end", event)
	}
}

func TestDeploymentNotFound(t *testing.T) {
	_, srv := setup(t, Config{}, newFakeDeploys().routes)
	resp, body := do(t, "GET", srv.URL+"/deployments/d-NOSUCH", nil, nil, true)
	if resp.StatusCode != 404 || !strings.Contains(body, "deployment d-NOSUCH not found") {
		t.Errorf("unknown deployment: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = do(t, "GET", srv.URL+"/deployments/d-FAILED?project=other", nil, nil, true)
	if resp.StatusCode != 404 {
		t.Errorf("another project's deployment: %d", resp.StatusCode)
	}
}
