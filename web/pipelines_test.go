package web

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// shipAPI is the fake API's pipeline "ship": 60 executions (sx59 the
// newest, failed at Build), one execution of another pipeline (other1),
// and what the console asked of it.
type shipAPI struct {
	mu       sync.Mutex
	perms    map[string]bool
	disabled map[string]string
	execs    []client.PipelineExecution // newest first
	detail   client.PipelineExecution
	// refuse answers every change with this error.
	refuse *client.Error
	// lists are the list requests' queries; posts the change requests'
	// paths and bodies.
	lists []url.Values
	posts []string
}

func shipDeclaration() string {
	b, _ := json.Marshal(map[string]any{"Name": "ship", "Stages": []any{
		map[string]any{"Name": "Source", "Actions": []any{map[string]any{"Name": "Checkout", "ActionTypeId": map[string]string{"Category": "Source", "Provider": "CodeCommit"}}}},
		map[string]any{"Name": "Build", "Actions": []any{map[string]any{"Name": "Compile", "ActionTypeId": map[string]string{"Category": "Build", "Provider": "CodeBuild"}}}},
		map[string]any{"Name": "Staging", "Actions": []any{
			map[string]any{"Name": "Stack", "ActionTypeId": map[string]string{"Category": "Deploy", "Provider": "CloudFormation"}},
			map[string]any{"Name": "Hosts", "ActionTypeId": map[string]string{"Category": "Deploy", "Provider": "CodeDeploy"}},
		}},
		map[string]any{"Name": "Gate", "Actions": []any{map[string]any{"Name": "Approve", "ActionTypeId": map[string]string{"Category": "Approval", "Provider": "Manual"}}}},
	}})
	return string(b)
}

func newShipAPI() *shipAPI {
	start := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	a := &shipAPI{perms: map[string]bool{"read": true, "write": true, "approve": true}, disabled: map[string]string{"Gate": "release <freeze>"}}
	statuses := []string{"Succeeded", "Failed", "Superseded", "Stopped"}
	for i := 59; i >= 0; i-- {
		e := client.PipelineExecution{ID: fmt.Sprintf("sx%02d", i), Pipeline: "ship", Status: statuses[i%4],
			Trigger:   client.PipelineTrigger{Type: "CloudWatchEvent", By: "bob", Commit: fmt.Sprintf("%040d", i)},
			StartedAt: start.Add(time.Duration(i) * time.Minute), EndedAt: start.Add(time.Duration(i)*time.Minute + 90*time.Second)}
		a.execs = append(a.execs, e)
	}
	a.execs[0].Status, a.execs[0].EndedAt = "InProgress", time.Time{}
	a.execs[0].Stage = "Gate"
	t0 := a.execs[0].StartedAt
	a.detail = a.execs[0]
	a.detail.Actions = []client.ActionExecution{
		{Stage: "Source", Action: "Checkout", Attempt: 1, Status: "Succeeded", Summary: "commit " + fullCommit, StartedAt: t0, EndedAt: t0.Add(time.Second),
			Category: "Source", Target: &client.ActionTarget{Kind: "repository", Name: "ship", Commit: fullCommit}},
		{Stage: "Build", Action: "Compile", Attempt: 1, Status: "Failed", Error: "build b-1 ended FAILED: see <logs>", StartedAt: t0, EndedAt: t0.Add(time.Minute),
			Category: "Build", Target: &client.ActionTarget{Kind: "build", Name: "b-1"}},
		{Stage: "Build", Action: "Compile", Attempt: 2, Status: "Succeeded", Summary: "build b-2", StartedAt: t0.Add(2 * time.Minute), EndedAt: t0.Add(4 * time.Minute),
			Category: "Build", Target: &client.ActionTarget{Kind: "build", Name: "b-2"}},
		{Stage: "Staging", Action: "Stack", Attempt: 1, Status: "Succeeded", Summary: "stack ship-staging UPDATE_COMPLETE", StartedAt: t0.Add(5 * time.Minute), EndedAt: t0.Add(6 * time.Minute),
			Category: "Deploy", Target: &client.ActionTarget{Kind: "stack", Name: "ship-staging"}},
		{Stage: "Staging", Action: "Hosts", Attempt: 1, Status: "Succeeded", Summary: "deployment d-1 succeeded", StartedAt: t0.Add(5 * time.Minute), EndedAt: t0.Add(7 * time.Minute),
			Category: "Deploy", Target: &client.ActionTarget{Kind: "deployment", Name: "d-1"}},
		{Stage: "Gate", Action: "Approve", Attempt: 1, Status: "InProgress", StartedAt: t0.Add(8 * time.Minute), Category: "Approval"},
	}
	return a
}

func (a *shipAPI) set(fn func(a *shipAPI)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fn(a)
}

// routes serves the pipeline "ship" as the API does.
func (a *shipAPI) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	const base = "/api/v1/projects/default/"
	mux.HandleFunc("GET "+base+"pipelines/ship", authed(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		writeJSON(w, 200, client.Pipeline{Name: "ship", Version: 3, Declaration: json.RawMessage(shipDeclaration()), Disabled: a.disabled, Permissions: a.perms})
	}))
	mux.HandleFunc("GET "+base+"pipelines/ship/executions", authed(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		q := r.URL.Query()
		a.lists = append(a.lists, q)
		status, before := q.Get("status"), q.Get("before")
		if status != "" && status != "Failed" && status != "Succeeded" && status != "InProgress" {
			apiError(w, 400, "bad_request", "status \""+status+"\": an execution's status is one of InProgress, ...")
			return
		}
		limit, _ := strconv.Atoi(q.Get("limit"))
		out := []client.PipelineExecution{}
		seen := before == ""
		for _, e := range a.execs {
			if !seen {
				seen = e.ID == before
				continue
			}
			if (status == "" || e.Status == status) && (limit == 0 || len(out) < limit) {
				out = append(out, e)
			}
		}
		writeJSON(w, 200, out)
	}))
	mux.HandleFunc("GET "+base+"pipeline-executions/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		a.mu.Lock()
		defer a.mu.Unlock()
		switch id := r.PathValue("id"); {
		case id == a.detail.ID:
			writeJSON(w, 200, a.detail)
		case id == "other1":
			writeJSON(w, 200, client.PipelineExecution{ID: "other1", Pipeline: "elsewhere", Status: "Succeeded"})
		default:
			for _, e := range a.execs {
				if e.ID == id {
					writeJSON(w, 200, e)
					return
				}
			}
			apiError(w, 404, "not_found", "pipeline execution "+id+" not found")
		}
	}))
	change := func(ok int, answer func() any) http.HandlerFunc {
		return authed(func(w http.ResponseWriter, r *http.Request) {
			var body map[string]any
			_ = json.NewDecoder(r.Body).Decode(&body)
			b, _ := json.Marshal(body)
			a.mu.Lock()
			defer a.mu.Unlock()
			a.posts = append(a.posts, r.URL.Path+" "+string(b))
			if a.refuse != nil {
				apiError(w, a.refuse.Status, a.refuse.Code, a.refuse.Message)
				return
			}
			if ok == http.StatusNoContent {
				w.WriteHeader(ok)
				return
			}
			writeJSON(w, ok, answer())
		})
	}
	exec := func() any { return client.PipelineExecution{ID: "sx59", Pipeline: "ship", Status: "InProgress"} }
	mux.HandleFunc("POST "+base+"pipelines/ship/transitions", change(http.StatusNoContent, nil))
	mux.HandleFunc("POST "+base+"pipelines/ship/executions", change(http.StatusCreated, func() any {
		return client.PipelineExecution{ID: "new1", Pipeline: "ship", Status: "InProgress"}
	}))
	mux.HandleFunc("POST "+base+"pipelines/ship/approvals", change(http.StatusOK, func() any { return client.ActionExecution{Status: "Succeeded"} }))
	mux.HandleFunc("POST "+base+"pipeline-executions/{id}/retry", change(http.StatusOK, exec))
	mux.HandleFunc("POST "+base+"pipeline-executions/{id}/stop", change(http.StatusOK, exec))
}

func (a *shipAPI) lastPost(t *testing.T) string {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.posts) == 0 {
		t.Fatal("the API saw no change")
	}
	return a.posts[len(a.posts)-1]
}

func (a *shipAPI) postCount() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.posts)
}

func TestPipelinePage_PictureTransitionsAndFirstPageOfHistory(t *testing.T) {
	ship := newShipAPI()
	_, srv := setup(t, Config{}, ship.routes)
	resp, body := do(t, "GET", srv.URL+"/pipelines/ship", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	mustContain(t, "the pipeline page", body,
		`<h1>Pipeline ship</h1>`,
		`<form id="release" class="inline" method="post" action="/pipelines/ship/executions">`,
		`<button id="release-change">Release change</button>`,
		`<div id="live" aria-live="polite" tabindex="-1" data-src="/pipelines/ship/live" data-digest="`,
		// The picture of the latest execution, each action linking to
		// what it ran as.
		`<a id="execution-link" href="/pipelines/ship/executions/sx59"><code id="execution">sx59</code></a>`,
		`<div class="action status-ok" data-action="Compile" data-status="Succeeded">`,
		`<a class="action-link" href="/builds/b-2" data-link="build">Build b-2</a>`,
		`<a class="action-link" href="/repos/ship" data-link="repository">Repository ship</a>`,
		`<a class="action-link" href="/stacks/ship-staging" data-link="stack">Stack ship-staging</a>`,
		`<a class="action-link" href="/deployments/d-1" data-link="deployment">Deployment d-1</a>`,
		`<span class="revision">commit <code title="`+fullCommit+`">`+fullCommit[:12]+`</code></span>`,
		`<time datetime="2026-01-02T04:01:00Z">2026-01-02 04:01 UTC</time> · 2m 0s`,
		`<p class="transition" data-transition="disabled"><span aria-hidden="true">■</span> Transition disabled: release &lt;freeze&gt;</p>`,
		// The approval, which this user may decide, posts to the
		// pipeline's page.
		`<form id="approval" method="post" action="/pipelines/ship/approvals">`,
		`<input type="hidden" name="back" value="pipeline">`,
		`<input type="hidden" name="execution" value="sx59">`,
		// Transitions: none into the first stage; one disabled with its
		// reason; forms with labels.
		`<table id="transitions" aria-labelledby="transitions-title">`,
		`<tr data-stage="Build" data-transition="enabled">`,
		`<tr data-stage="Gate" data-transition="disabled">`,
		`<label for="reason-1">Reason<span class="visually-hidden"> to disable the transition into Build</span></label>`,
		`<input id="reason-1" name="reason" required maxlength="300">`,
		`<button id="enable-3">Enable<span class="visually-hidden"> the transition into Gate</span></button>`,
		`<span class="muted sub">release &lt;freeze&gt;</span>`,
		// The history: a filter, 25 rows, the older page.
		`<label for="history-status">Status</label>`,
		`<option value="Failed">Failed</option>`,
		`<tr data-execution="sx59" data-status="InProgress">`,
		`<th scope="row"><a href="/pipelines/ship/executions/sx58"><code>sx58</code></a></th>`,
		`<td>Push<span class="muted sub">bob</span></td>`,
		`<td>1m 30s</td>`,
		`<a id="history-older" href="/pipelines/ship?before=sx35#history-title" rel="next">Older</a>`,
	)
	if strings.Contains(body, `data-stage="Source" data-transition`) {
		t.Error("the first stage shows an inbound transition")
	}
	if n := strings.Count(body, "<tr data-execution="); n != historyPage {
		t.Errorf("%d rows of history, want %d", n, historyPage)
	}
	if strings.Contains(body, `id="history-newest"`) {
		t.Error("the first page links to the newest page")
	}
	ship.mu.Lock()
	lists := ship.lists
	ship.mu.Unlock()
	if len(lists) != 1 || lists[0].Get("limit") != "26" || lists[0].Get("status") != "" || lists[0].Get("before") != "" {
		t.Errorf("the page listed executions with %v; want one page of 26 (one more tells there is an older page)", lists)
	}

	// Without the write and approve permissions: no release, no forms.
	ship.set(func(a *shipAPI) { a.perms = map[string]bool{"read": true} })
	_, body = do(t, "GET", srv.URL+"/pipelines/ship", nil, nil, true)
	for _, unwanted := range []string{`id="release"`, `class="transition-form"`, `id="approval"`} {
		if strings.Contains(body, unwanted) {
			t.Errorf("a reader's page shows %s", unwanted)
		}
	}
	mustContain(t, "a reader's page", body, `Waiting for approval by an approver: Gate / Approve.`, `<tr data-stage="Gate" data-transition="disabled">`)
}

func TestPipelinePage_HistoryFilterAndPages(t *testing.T) {
	ship := newShipAPI()
	_, srv := setup(t, Config{}, ship.routes)
	_, body := do(t, "GET", srv.URL+"/pipelines/ship?status=Failed&before=sx30", nil, nil, true)
	mustContain(t, "the filtered page", body,
		`<option value="Failed" selected>Failed</option>`,
		`<tr data-execution="sx29" data-status="Failed">`,
		`<a id="history-newest" href="/pipelines/ship?status=Failed#history-title">Newest</a>`,
		// The live part still shows the latest execution, not the page's.
		`<code id="execution">sx59</code>`,
	)
	if strings.Contains(body, `data-status="Succeeded"><th`) || strings.Contains(body, `data-execution="sx33"`) || strings.Contains(body, `id="history-older"`) {
		t.Errorf("the page holds executions the filter leaves out, or an older page that does not exist:\n%s", body)
	}
	ship.mu.Lock()
	q := ship.lists[0]
	ship.mu.Unlock()
	if q.Get("status") != "Failed" || q.Get("before") != "sx30" {
		t.Errorf("the API was asked %v", q)
	}

	// A status the API refuses shows its message.
	resp, body := do(t, "GET", srv.URL+"/pipelines/ship?status=Bogus", nil, nil, true)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, `status &#34;Bogus&#34;: an execution&#39;s status is one of`) {
		t.Errorf("bad filter: %d\n%s", resp.StatusCode, body)
	}

	// A pipeline the API does not know is the API's 404.
	resp, body = do(t, "GET", srv.URL+"/pipelines/nosuch", nil, nil, true)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("missing pipeline: %d\n%s", resp.StatusCode, body)
	}
}

func TestPipelinePage_TransitionsReleaseAndApproval(t *testing.T) {
	ship := newShipAPI()
	_, srv := setup(t, Config{}, ship.routes)

	resp, _ := do(t, "POST", srv.URL+"/pipelines/ship/transitions", url.Values{"stage": {"Build"}, "enabled": {"false"}, "reason": {" freeze "}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/ship" {
		t.Fatalf("disable: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ship.lastPost(t); got != `/api/v1/projects/default/pipelines/ship/transitions {"enabled":false,"reason":"freeze","stage":"Build"}` {
		t.Errorf("the API got %s", got)
	}
	resp, _ = do(t, "POST", srv.URL+"/pipelines/ship/transitions", url.Values{"stage": {"Gate"}, "enabled": {"true"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/ship" {
		t.Fatalf("enable: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ship.lastPost(t); got != `/api/v1/projects/default/pipelines/ship/transitions {"enabled":true,"stage":"Gate"}` {
		t.Errorf("the API got %s", got)
	}

	// No reason: refused before the API.
	n := ship.postCount()
	resp, body := do(t, "POST", srv.URL+"/pipelines/ship/transitions", url.Values{"stage": {"Build"}, "enabled": {"false"}, "reason": {"  "}}, nil, true)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "Give a reason for disabling the transition into Build.") || ship.postCount() != n {
		t.Errorf("disable without a reason: %d", resp.StatusCode)
	}

	resp, _ = do(t, "POST", srv.URL+"/pipelines/ship/executions", url.Values{}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/ship/executions/new1" {
		t.Fatalf("release: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}

	resp, _ = do(t, "POST", srv.URL+"/pipelines/ship/approvals",
		url.Values{"execution": {"sx59"}, "stage": {"Gate"}, "action": {"Approve"}, "decision": {"approve"}, "comment": {"ok"}, "back": {"pipeline"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/ship" {
		t.Fatalf("approve: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ship.lastPost(t); got != `/api/v1/projects/default/pipelines/ship/approvals {"action":"Approve","approved":true,"comment":"ok","execution_id":"sx59","stage":"Gate"}` {
		t.Errorf("the API got %s", got)
	}

	// The API's refusals show on the page with their status and message.
	ship.set(func(a *shipAPI) {
		a.refuse = &client.Error{Status: http.StatusForbidden, Code: "forbidden", Message: "permission denied: this needs the write role on pipeline ship"}
	})
	for _, tc := range []struct {
		path string
		form url.Values
	}{
		{"/pipelines/ship/transitions", url.Values{"stage": {"Build"}, "enabled": {"false"}, "reason": {"x"}}},
		{"/pipelines/ship/executions", url.Values{}},
		{"/pipelines/ship/approvals", url.Values{"execution": {"sx59"}, "stage": {"Gate"}, "action": {"Approve"}, "decision": {"reject"}, "comment": {"not <now>"}}},
	} {
		resp, body := do(t, "POST", srv.URL+tc.path, tc.form, nil, true)
		if resp.StatusCode != http.StatusForbidden || !strings.Contains(body, `<p class="alert" role="alert" id="error">permission denied: this needs the write role on pipeline ship</p>`) ||
			!strings.Contains(body, `<h1>Pipeline ship</h1>`) {
			t.Errorf("%s refused: %d\n%s", tc.path, resp.StatusCode, body)
		}
		if tc.form.Get("comment") != "" && !strings.Contains(body, `not &lt;now&gt;</textarea>`) {
			t.Error("the refused approval's comment is not kept")
		}
	}
}

func TestExecutionPage_EveryAttemptWithLinksAndTheForms(t *testing.T) {
	ship := newShipAPI()
	_, srv := setup(t, Config{}, ship.routes)
	resp, body := do(t, "GET", srv.URL+"/pipelines/ship/executions/sx59", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	mustContain(t, "the execution page", body,
		`<a id="pipeline-link" href="/pipelines/ship">Pipeline ship</a>`,
		`<h1>Execution <code>sx59</code></h1>`,
		`data-src="/pipelines/ship/executions/sx59/live"`,
		`<div id="execution" data-execution="sx59" data-status="InProgress">`,
		`<section class="exec-stage" data-stage="Build" data-status="Succeeded" aria-labelledby="stage-2">`,
		`<tr data-action="Compile" data-attempt="1" data-status="Failed">`,
		`<span class="attempt-error">build b-1 ended FAILED: see &lt;logs&gt;</span>`,
		`<a class="action-link" href="/builds/b-1" data-link="build">Build b-1</a>`,
		`<tr data-action="Compile" data-attempt="2" data-status="Succeeded">`,
		`<td>2m 0s</td>`,
		`<a class="action-link" href="/repos/ship" data-link="repository">Repository ship</a> <code title="`+fullCommit+`">`,
		`<a class="action-link" href="/deployments/d-1" data-link="deployment">Deployment d-1</a>`,
		`<section class="exec-stage" data-stage="Gate" data-status="InProgress"`,
		`<form id="approval" method="post" action="/pipelines/ship/approvals">`,
		`<input type="hidden" name="back" value="execution">`,
		`<form id="stop" class="exec-form" method="post" action="/pipelines/ship/executions/sx59/stop">`,
		`<label for="stop-reason">Reason (optional)</label>`,
		`<input type="radio" name="abandon" value="true"> Abandon them now</label>`,
	)
	if strings.Contains(body, `class="retry-form`) {
		t.Error("a running execution offers a retry")
	}

	// Failed at Build: the retry form on that stage, no stop form.
	ship.set(func(a *shipAPI) {
		a.detail.Status, a.detail.Stage, a.detail.Reason = "Failed", "Build", "action Compile of stage Build failed"
		a.detail.EndedAt = a.detail.StartedAt.Add(time.Minute)
		a.detail.Actions = a.detail.Actions[:2]
	})
	_, body = do(t, "GET", srv.URL+"/pipelines/ship/executions/sx59", nil, nil, true)
	mustContain(t, "the failed execution's page", body,
		`<span id="execution-reason" class="muted">action Compile of stage Build failed</span>`,
		`<form class="retry-form exec-form" method="post" action="/pipelines/ship/executions/sx59/retry">`,
		`<input type="hidden" name="stage" value="Build">`,
		`<button id="retry-2">Retry failed stage</button>`,
		`<section class="exec-stage" data-stage="Staging" data-status="NotRun"`,
		`Not reached.`,
	)
	if strings.Contains(body, `id="stop"`) || strings.Contains(body, `id="approval"`) || strings.Count(body, `class="retry-form`) != 1 {
		t.Error("the failed execution's page offers a stop, an approval or more than one retry")
	}

	resp, _ = do(t, "POST", srv.URL+"/pipelines/ship/executions/sx59/retry", url.Values{"stage": {"Build"}, "mode": {"ALL_ACTIONS"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/pipelines/ship/executions/sx59" {
		t.Fatalf("retry: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got := ship.lastPost(t); got != `/api/v1/projects/default/pipeline-executions/sx59/retry {"mode":"ALL_ACTIONS","stage":"Build"}` {
		t.Errorf("the API got %s", got)
	}
	resp, _ = do(t, "POST", srv.URL+"/pipelines/ship/executions/sx59/stop", url.Values{"abandon": {"true"}, "reason": {"wrong commit"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("stop: %d", resp.StatusCode)
	}
	if got := ship.lastPost(t); got != `/api/v1/projects/default/pipeline-executions/sx59/stop {"abandon":true,"reason":"wrong commit"}` {
		t.Errorf("the API got %s", got)
	}

	// A refusal shows on the execution's page.
	ship.set(func(a *shipAPI) {
		a.refuse = &client.Error{Status: http.StatusConflict, Code: "conflict", Message: "execution sx59 is Failed, not in progress"}
	})
	resp, body = do(t, "POST", srv.URL+"/pipelines/ship/executions/sx59/stop", url.Values{"abandon": {"false"}}, nil, true)
	if resp.StatusCode != http.StatusConflict || !strings.Contains(body, `id="error">execution sx59 is Failed, not in progress</p>`) || !strings.Contains(body, `<h1>Execution <code>sx59</code></h1>`) {
		t.Errorf("refused stop: %d\n%s", resp.StatusCode, body)
	}

	// Another pipeline's execution is not this pipeline's page.
	resp, _ = do(t, "GET", srv.URL+"/pipelines/ship/executions/other1", nil, nil, true)
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("another pipeline's execution: %d", resp.StatusCode)
	}
}

func TestPipelineLive_TransitionChangeStreams(t *testing.T) {
	ship := newShipAPI()
	_, srv := setup(t, Config{Poll: 10 * time.Millisecond}, ship.routes)
	r := openStream(t, srv.URL+"/pipelines/ship/live")
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `<tr data-stage="Build" data-transition="enabled">`) {
		t.Fatalf("first event %q:\n%s", event, data)
	}
	ship.set(func(a *shipAPI) { a.disabled = map[string]string{"Build": "incident"} })
	event, data := sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `<tr data-stage="Build" data-transition="disabled">`) || !strings.Contains(data, "Transition disabled: incident") {
		t.Fatalf("second event %q:\n%s", event, data)
	}

	// The execution's stream follows its attempts.
	r = openStream(t, srv.URL+"/pipelines/ship/executions/sx59/live")
	sseEvent(t, r)
	ship.set(func(a *shipAPI) {
		a.detail.Actions[5].Status = "Succeeded"
		a.detail.Actions[5].Decision = &client.Decision{Approved: true, By: "carol", Comment: "ship it"}
	})
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `<span class="decision">Approved by carol: ship it</span>`) {
		t.Fatalf("execution update %q:\n%s", event, data)
	}
}

func TestAppPage_LinksToItsPipelineAndRecentExecutions(t *testing.T) {
	ship := newShipAPI()
	recent := func(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
		mux.HandleFunc("GET /api/v1/projects/default/pipelines/shop-pipeline/executions", authed(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Query().Get("limit") != strconv.Itoa(recentExecutions) {
				apiError(w, 400, "bad_request", "limit "+r.URL.Query().Get("limit"))
				return
			}
			ship.mu.Lock()
			defer ship.mu.Unlock()
			out := append([]client.PipelineExecution(nil), ship.execs[:recentExecutions]...)
			for i := range out {
				out[i].Pipeline = "shop-pipeline"
			}
			writeJSON(w, 200, out)
		}))
	}
	_, srv := setup(t, Config{}, recent)
	_, body := do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	mustContain(t, "the app page", body,
		`<a id="pipeline-link" href="/pipelines/shop-pipeline">shop-pipeline</a>`,
		`<a id="execution-link" href="/pipelines/shop-pipeline/executions/ex1"><code id="execution">ex1</code></a>`,
		`<h2 id="recent-title">Recent executions</h2>`,
		`<th scope="row"><a href="/pipelines/shop-pipeline/executions/sx55"><code>sx55</code></a></th>`,
		`<a id="recent-more" href="/pipelines/shop-pipeline#history-title">The whole history</a>`,
	)
	if n := strings.Count(body, "<tr data-execution="); n != recentExecutions {
		t.Errorf("%d recent executions, want %d", n, recentExecutions)
	}
}

func TestPipelineURLsCarryTheProject(t *testing.T) {
	for got, want := range map[string]string{
		pipelineURL("a b", "default", ""):                                      "/pipelines/a%20b",
		pipelineURL("ship", "team", "/live"):                                   "/pipelines/ship/live?project=team",
		executionURL("ship", "x/1", "team"):                                    "/pipelines/ship/executions/x%2F1?project=team",
		historyURL("ship", "team", "Failed", "sx1"):                            "/pipelines/ship?before=sx1&project=team&status=Failed#history-title",
		targetLink(&client.ActionTarget{Kind: "stack", Name: "s"}, "team").URL: "/stacks/s?project=team",
	} {
		if got != want {
			t.Errorf("got %q, want %q", got, want)
		}
	}
	if targetLink(&client.ActionTarget{Kind: "approval", Name: "x"}, "") != nil || targetLink(nil, "") != nil {
		t.Error("a link to something the console has no page for")
	}
}
