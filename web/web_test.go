package web

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

const (
	tokenID     = "tok1"
	tokenSecret = "slw_SECRETSECRET"
	password    = "correct horse"
	fullCommit  = "0123456789abcdef0123456789abcdef01234567"
)

// fakeAPI stands in for the REST API with canned answers in the shapes of
// the client's types.
type fakeAPI struct {
	mu          sync.Mutex
	revoked     map[string]bool
	approve     bool   // the pipeline's permissions.approve
	siteAdmin   bool   // alice's site_admin
	forwarded   string // the X-Forwarded-For of the last /me
	actions     []client.ActionExecution
	declaration string
	decisions   []client.ApprovalDecision
	decideErr   *client.Error
	created     []string
}

// fakeRoutes adds a test's own answers to the fake API; authed wraps a
// handler that needs the session's token.
type fakeRoutes func(mux *http.ServeMux, f *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc)

func newFakeAPI(t *testing.T, extra ...fakeRoutes) (*fakeAPI, *httptest.Server) {
	f := &fakeAPI{revoked: map[string]bool{}, declaration: declarationJSON("Approve")}
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	f.actions = []client.ActionExecution{
		{Stage: "Source", Action: "Source", Attempt: 1, Status: "Succeeded", StartedAt: start, EndedAt: start.Add(2 * time.Second), Category: "Source"},
		{Stage: "Build", Action: "Build", Attempt: 1, Status: "Failed", StartedAt: start, EndedAt: start.Add(time.Minute), Category: "Build"},
		{Stage: "Build", Action: "Build", Attempt: 2, Status: "Succeeded", StartedAt: start.Add(2 * time.Minute), EndedAt: start.Add(3*time.Minute + 5*time.Second), Category: "Build"},
		{Stage: "Approval", Action: "Approve", Attempt: 1, Status: "InProgress", StartedAt: start.Add(4 * time.Minute), Category: "Approval"},
	}
	mux := http.NewServeMux()
	authed := func(h http.HandlerFunc) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			f.mu.Lock()
			ok := r.Header.Get("Authorization") == "Bearer "+tokenSecret && !f.revoked[tokenID]
			f.mu.Unlock()
			if !ok {
				apiError(w, http.StatusUnauthorized, "unauthenticated", "a valid API token is required")
				return
			}
			h(w, r)
		}
	}
	mux.HandleFunc("POST /api/v1/sessions", func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name, Password string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		if in.Name != "alice" || in.Password != password {
			apiError(w, http.StatusUnauthorized, "unauthenticated", "the user name or the password is wrong")
			return
		}
		writeJSON(w, http.StatusCreated, client.Session{Token: tokenSecret, ID: tokenID, User: "alice"})
	})
	mux.HandleFunc("GET /api/v1/me", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		f.forwarded = r.Header.Get("X-Forwarded-For")
		writeJSON(w, 200, client.Me{ID: "u1", Name: "alice", SiteAdmin: f.siteAdmin})
	}))
	mux.HandleFunc("GET /api/v1/tokens", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Token{{ID: tokenID, User: "alice", Name: "console", CreatedAt: start}, {ID: "tok2", User: "alice", Name: "<ci>", CreatedAt: start, LastUsedAt: start.Add(time.Hour)}})
	}))
	mux.HandleFunc("POST /api/v1/tokens", authed(func(w http.ResponseWriter, r *http.Request) {
		var in struct{ Name string }
		_ = json.NewDecoder(r.Body).Decode(&in)
		f.mu.Lock()
		f.created = append(f.created, in.Name)
		f.mu.Unlock()
		writeJSON(w, 201, client.NewToken{Token: "slw_NEWSECRET", ID: "tok3", User: "alice", Name: in.Name, CreatedAt: start})
	}))
	mux.HandleFunc("DELETE /api/v1/tokens/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.revoked[r.PathValue("id")] = true
		f.mu.Unlock()
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/v1/projects/default/apps", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.App{{Name: "shop", Blueprint: "go-service", Status: "CREATE_COMPLETE"}})
	}))
	mux.HandleFunc("GET /api/v1/projects/default/apps/{name}", authed(func(w http.ResponseWriter, r *http.Request) {
		if r.PathValue("name") != "shop" {
			apiError(w, 404, "not_found", "app "+r.PathValue("name")+" not found")
			return
		}
		writeJSON(w, 200, client.App{
			Name: "shop", Blueprint: "go-service", Status: "CREATE_COMPLETE", Owner: "web",
			Repository: "shop", CloneURL: "http://127.0.0.1:8080/git/default/shop.git", Pipeline: "shop-pipeline",
			Stages: []string{"Source", "Build", "Approval", "Production"},
			Environments: []client.AppEnvironment{
				{Name: "staging", Stack: "shop-staging", Status: "UPDATE_COMPLETE", URL: "http://staging.shop.example", Stage: "Build", Revision: fullCommit,
					Instances: &client.AppInstances{Groups: []string{"shop-staging-asg"}, Total: 2, InService: 2, Healthy: 1}},
				{Name: "production", Stack: "shop-production", Status: "NOT_CREATED", Stage: "Production"},
			},
			LatestExecution: &client.AppExecution{ID: "ex1", Status: "InProgress", Stage: "Approval", Trigger: "CloudWatchEvent", Commit: fullCommit},
		})
	}))
	mux.HandleFunc("GET /api/v1/projects/default/pipelines/shop-pipeline", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, client.Pipeline{Name: "shop-pipeline", Declaration: json.RawMessage(f.declaration), Permissions: map[string]bool{"read": true, "approve": f.approve}})
	}))
	mux.HandleFunc("GET /api/v1/projects/default/pipeline-executions/ex1", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, client.PipelineExecution{ID: "ex1", Pipeline: "shop-pipeline", Status: "InProgress", Actions: f.actions,
			Trigger: client.PipelineTrigger{Type: "CloudWatchEvent", Commit: fullCommit}})
	}))
	mux.HandleFunc("POST /api/v1/projects/default/pipelines/shop-pipeline/approvals", authed(func(w http.ResponseWriter, r *http.Request) {
		var d client.ApprovalDecision
		_ = json.NewDecoder(r.Body).Decode(&d)
		f.mu.Lock()
		defer f.mu.Unlock()
		if f.decideErr != nil {
			apiError(w, f.decideErr.Status, f.decideErr.Code, f.decideErr.Message)
			return
		}
		f.decisions = append(f.decisions, d)
		writeJSON(w, 200, client.ActionExecution{Stage: d.Stage, Action: d.Action, Status: "Succeeded"})
	}))
	for _, add := range extra {
		add(mux, f, authed)
	}
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return f, srv
}

func declarationJSON(approvalAction string) string {
	b, _ := json.Marshal(map[string]any{"Name": "shop-pipeline", "Stages": []any{
		map[string]any{"Name": "Source", "Actions": []any{map[string]any{"Name": "Source", "ActionTypeId": map[string]string{"Category": "Source"}}}},
		map[string]any{"Name": "Build", "Actions": []any{map[string]any{"Name": "Build", "ActionTypeId": map[string]string{"Category": "Build"}}}},
		map[string]any{"Name": "Approval", "Actions": []any{map[string]any{"Name": approvalAction, "ActionTypeId": map[string]string{"Category": "Approval"}}}},
		map[string]any{"Name": "Production", "Actions": []any{map[string]any{"Name": "Deploy", "ActionTypeId": map[string]string{"Category": "Deploy"}}}},
	}})
	return string(b)
}

func (f *fakeAPI) set(fn func(f *fakeAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func apiError(w http.ResponseWriter, status int, code, msg string) {
	writeJSON(w, status, map[string]any{"error": map[string]string{"code": code, "message": msg}})
}

// setup starts the fake API and the console before it.
func setup(t *testing.T, cfg Config, extra ...fakeRoutes) (*fakeAPI, *httptest.Server) {
	t.Helper()
	f, api := newFakeAPI(t, extra...)
	cfg.API = api.URL
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	c, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c.keepalive = 50 * time.Millisecond
	srv := httptest.NewServer(c.Handler())
	t.Cleanup(srv.Close)
	return f, srv
}

// do sends a request to the console without following redirects.
func do(t *testing.T, method, u string, form url.Values, header http.Header, signedIn bool) (*http.Response, string) {
	t.Helper()
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, u, body)
	if err != nil {
		t.Fatal(err)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, vs := range header {
		req.Header[k] = vs
	}
	if signedIn {
		req.AddCookie(&http.Cookie{Name: cookieName, Value: tokenID + "." + tokenSecret})
	}
	hc := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func sessionCookie(resp *http.Response) *http.Cookie {
	for _, c := range resp.Cookies() {
		if c.Name == cookieName {
			return c
		}
	}
	return nil
}

func TestNoSessionRedirectsToLogin(t *testing.T) {
	_, srv := setup(t, Config{})
	for path, want := range map[string]string{
		"/apps":                   "/login?next=%2Fapps",
		"/apps/shop?project=team": "/login?next=%2Fapps%2Fshop%3Fproject%3Dteam",
		"/apps/shop/live":         "/login?next=%2Fapps%2Fshop",
		"/tokens":                 "/login?next=%2Ftokens",
		"/":                       "/login",
	} {
		resp, _ := do(t, "GET", srv.URL+path, nil, nil, false)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
	// A cookie that is not ID.TOKEN is no session.
	req, _ := http.NewRequest("GET", srv.URL+"/apps", nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: "garbage"})
	resp, err := (&http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}).Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("bad cookie: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}

func TestSignIn(t *testing.T) {
	for _, secure := range []bool{false, true} {
		_, srv := setup(t, Config{Secure: secure})
		resp, _ := do(t, "POST", srv.URL+"/login", url.Values{"name": {"alice"}, "password": {password}, "next": {"/apps/shop"}}, nil, false)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/shop" {
			t.Fatalf("sign-in: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
		}
		c := sessionCookie(resp)
		if c == nil {
			t.Fatal("sign-in set no session cookie")
		}
		if c.Value != tokenID+"."+tokenSecret || !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.MaxAge != 12*3600 || c.Secure != secure {
			t.Errorf("secure=%v: cookie %+v", secure, c)
		}
	}

	_, srv := setup(t, Config{})
	for next, want := range map[string]string{"": "/apps", "//evil.example/x": "/apps", "https://evil.example": "/apps", "/\\evil.example": "/apps", "/tokens?x=1": "/tokens?x=1"} {
		resp, _ := do(t, "POST", srv.URL+"/login?next="+url.QueryEscape(next), url.Values{"name": {"alice"}, "password": {password}}, nil, false)
		if got := resp.Header.Get("Location"); got != want {
			t.Errorf("next %q: redirected to %q, want %q", next, got, want)
		}
	}

	resp, body := do(t, "POST", srv.URL+"/login", url.Values{"name": {"alice"}, "password": {"hunter2-wrong"}}, nil, false)
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("wrong password: status %d, want 401", resp.StatusCode)
	}
	if !strings.Contains(body, "The user name or the password is wrong.") {
		t.Errorf("wrong password: the message is missing:\n%s", body)
	}
	if strings.Contains(body, "hunter2-wrong") {
		t.Error("the page echoes the password")
	}
	if sessionCookie(resp) != nil {
		t.Error("a refused sign-in set a cookie")
	}
	if !strings.Contains(body, `<label for="name">`) || !strings.Contains(body, `<label for="password">`) {
		t.Error("the sign-in form's inputs have no labels")
	}
}

func TestSecurityHeaders(t *testing.T) {
	_, srv := setup(t, Config{})
	for _, tc := range []struct {
		path     string
		signedIn bool
	}{{"/login", false}, {"/apps", true}, {"/apps/shop", true}, {"/tokens", true}, {"/static/app.css", false}, {"/nope", false}} {
		resp, _ := do(t, "GET", srv.URL+tc.path, nil, nil, tc.signedIn)
		if got := resp.Header.Get("Content-Security-Policy"); got != csp {
			t.Errorf("%s: CSP %q", tc.path, got)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" || resp.Header.Get("Referrer-Policy") != "same-origin" {
			t.Errorf("%s: headers %v", tc.path, resp.Header)
		}
	}
	resp, body := do(t, "GET", srv.URL+"/static/live.js", nil, nil, false)
	if resp.StatusCode != 200 || !strings.Contains(resp.Header.Get("Content-Type"), "javascript") || resp.Header.Get("Cache-Control") == "" || !strings.Contains(body, "EventSource") {
		t.Errorf("live.js: %d %v", resp.StatusCode, resp.Header)
	}
	for _, p := range []string{"/api/v1/me", "/git/x", "/healthz", "/metrics"} {
		resp, body := do(t, "GET", srv.URL+p, nil, nil, true)
		if resp.StatusCode != http.StatusNotFound || strings.Contains(body, "<html") {
			t.Errorf("%s: the console answers %d", p, resp.StatusCode)
		}
	}
}

func TestCrossOriginApprovalRefused(t *testing.T) {
	f, srv := setup(t, Config{})
	f.set(func(f *fakeAPI) { f.approve = true })
	form := url.Values{"execution": {"ex1"}, "stage": {"Approval"}, "action": {"Approve"}, "decision": {"approve"}, "comment": {"ok"}}
	for _, h := range []http.Header{
		{"Sec-Fetch-Site": {"cross-site"}},
		{"Origin": {"http://evil.example"}},
	} {
		resp, _ := do(t, "POST", srv.URL+"/apps/shop/approvals", form, h, true)
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("%v: status %d, want 403", h, resp.StatusCode)
		}
	}
	f.mu.Lock()
	n := len(f.decisions)
	f.mu.Unlock()
	if n != 0 {
		t.Fatalf("the API saw %d decisions from cross-origin posts", n)
	}

	// The same post from the console's own page goes through.
	resp, _ := do(t, "POST", srv.URL+"/apps/shop/approvals", form, http.Header{"Sec-Fetch-Site": {"same-origin"}, "Origin": {srv.URL}}, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/shop" {
		t.Fatalf("same-origin approval: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	want := client.ApprovalDecision{Stage: "Approval", Action: "Approve", ExecutionID: "ex1", Approved: true, Comment: "ok"}
	if len(f.decisions) != 1 || f.decisions[0] != want {
		t.Errorf("decisions %+v, want %+v", f.decisions, want)
	}
}

func TestApprovalRefusedByAPI(t *testing.T) {
	f, srv := setup(t, Config{})
	f.set(func(f *fakeAPI) {
		f.approve = true
		f.decideErr = &client.Error{Status: http.StatusConflict, Code: "conflict", Message: "no approval waits at Approval/Approve"}
	})
	form := url.Values{"execution": {"ex1"}, "stage": {"Approval"}, "action": {"Approve"}, "decision": {"reject"}, "comment": {"not <yet>"}}
	resp, body := do(t, "POST", srv.URL+"/apps/shop/approvals", form, nil, true)
	if resp.StatusCode != http.StatusConflict {
		t.Errorf("status %d, want the API's 409", resp.StatusCode)
	}
	if !strings.Contains(body, "no approval waits at Approval/Approve") || !strings.Contains(body, `id="pipeline"`) {
		t.Errorf("the app page with the error is not shown:\n%s", body)
	}
	if !strings.Contains(body, "not &lt;yet&gt;</textarea>") {
		t.Error("the comment is not kept in the form")
	}
}

func TestApprovalForm(t *testing.T) {
	f, srv := setup(t, Config{})

	// Without the approve permission: no form, a notice.
	_, body := do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	if strings.Contains(body, `id="approval"`) {
		t.Error("the approval form shows without the approve permission")
	}
	if !strings.Contains(body, "Waiting for approval by an approver") {
		t.Error("the waiting notice is missing")
	}

	// With it, and the approval in progress: the form.
	f.set(func(f *fakeAPI) { f.approve = true })
	resp, body := do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	for _, want := range []string{
		`<form id="approval" method="post" action="/apps/shop/approvals">`,
		`<input type="hidden" name="execution" value="ex1">`,
		`<input type="hidden" name="stage" value="Approval">`,
		`<input type="hidden" name="action" value="Approve">`,
		`<label for="comment">`,
		`<textarea id="comment" name="comment"`,
		`name="decision" value="approve">Approve</button>`,
		`name="decision" value="reject" class="danger">Reject</button>`,
		// The rest of the page.
		`<section class="stage" data-stage="Build"`,
		`<div class="action status-ok" data-action="Build" data-status="Succeeded">`,
		`data-action="Approve" data-status="InProgress"`,
		`data-action="Deploy" data-status="NotRun"`,
		`1m 5s`, `running`, `✓`, `…`, `·`,
		`<table id="environments"`,
		`<tr data-env="staging" data-revision="` + fullCommit + `" data-status="UPDATE_COMPLETE" data-instances="2" data-healthy="1">`,
		`<a href="http://staging.shop.example">`,
		`<input id="clone-url" type="text" readonly value="http://127.0.0.1:8080/git/default/shop.git"`,
		`<div id="live" aria-live="polite"`,
		`<div id="pipeline">`,
		`<code id="execution">ex1</code>`,
		`>` + fullCommit[:12] + `</code>`,
		`<form id="signout" method="post" action="/logout"><button>Sign out</button></form>`,
		`<strong id="user">alice</strong>`,
		`<html lang="en">`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the app page lacks %s", want)
		}
	}
	if strings.Contains(body, tokenSecret) {
		t.Error("the page shows the session's token")
	}

	// With it, but nothing waiting: no form, no notice.
	f.set(func(f *fakeAPI) {
		f.actions[3].Status = "Succeeded"
		f.actions[3].EndedAt = f.actions[3].StartedAt.Add(time.Second)
	})
	_, body = do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	if strings.Contains(body, `id="approval"`) || strings.Contains(body, "Waiting for approval") {
		t.Error("an approval shows though none is in progress")
	}
}

func TestNamesAreEscaped(t *testing.T) {
	f, srv := setup(t, Config{})
	f.set(func(f *fakeAPI) {
		f.approve = true
		f.declaration = declarationJSON("<script>")
		f.actions[3].Action = "<script>"
	})
	_, body := do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	if !strings.Contains(body, `data-action="&lt;script&gt;"`) || !strings.Contains(body, `<span class="action-name">&lt;script&gt;</span>`) {
		t.Errorf("the action's name is not escaped:\n%s", body)
	}
	if n := strings.Count(body, "<script"); n != 1 { // live.js only
		t.Errorf("%d <script in the page, want only live.js's", n)
	}
	_, body = do(t, "GET", srv.URL+"/tokens", nil, nil, true)
	if !strings.Contains(body, "&lt;ci&gt;") || strings.Contains(body, "<ci>") {
		t.Error("a token's name is not escaped")
	}
}

// mustContain says which of wants the page called what lacks.
func mustContain(t *testing.T, what, body string, wants ...string) {
	t.Helper()
	for _, want := range wants {
		if !strings.Contains(body, want) {
			t.Errorf("%s lacks %s", what, want)
		}
	}
}

// mustNotContain says which of bad the page called what holds.
func mustNotContain(t *testing.T, what, body string, bad ...string) {
	t.Helper()
	for _, b := range bad {
		if strings.Contains(body, b) {
			t.Errorf("%s holds %s", what, b)
		}
	}
}

// openStream opens a live stream as the signed-in user; it is closed
// when the test ends.
func openStream(t *testing.T, u string) *bufio.Reader {
	t.Helper()
	_, r := openStreamResp(t, u)
	return r
}

// openStreamResp is openStream with the answer, for its status and
// headers.
func openStreamResp(t *testing.T, u string) (*http.Response, *bufio.Reader) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	req, _ := http.NewRequestWithContext(ctx, "GET", u, nil)
	req.AddCookie(&http.Cookie{Name: cookieName, Value: tokenID + "." + tokenSecret})
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, bufio.NewReader(resp.Body)
}

// sseEvent reads the next event of a stream, skipping comments.
func sseEvent(t *testing.T, r *bufio.Reader) (event, data string) {
	t.Helper()
	var lines []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("read the stream: %v", err)
		}
		line = strings.TrimRight(line, "\n")
		switch {
		case line == "":
			if event != "" || lines != nil {
				return event, strings.Join(lines, "\n")
			}
		case strings.HasPrefix(line, ":"):
		case strings.HasPrefix(line, "event: "):
			event = strings.TrimPrefix(line, "event: ")
		case strings.HasPrefix(line, "data: "):
			lines = append(lines, strings.TrimPrefix(line, "data: "))
		default:
			t.Fatalf("unexpected line %q", line)
		}
	}
}

func TestLive(t *testing.T) {
	f, srv := setup(t, Config{Poll: 10 * time.Millisecond})
	resp, r := openStreamResp(t, srv.URL+"/apps/shop/live")
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/event-stream" {
		t.Fatalf("status %d, content type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	event, data := sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `<div id="pipeline">`) || !strings.Contains(data, `data-action="Approve" data-status="InProgress"`) ||
		!strings.Contains(data, `<table id="environments"`) || !strings.Contains(data, "Waiting for approval by an approver") {
		t.Fatalf("first event %q:\n%s", event, data)
	}
	if strings.Contains(data, `<div id="live"`) || strings.Contains(data, "<html") {
		t.Error("the event holds more than the fragment")
	}

	f.set(func(f *fakeAPI) {
		f.actions[3].Status = "Failed"
		f.actions[3].EndedAt = f.actions[3].StartedAt.Add(time.Second)
	})
	event, data = sseEvent(t, r)
	if event != "update" || !strings.Contains(data, `data-action="Approve" data-status="Failed"`) || !strings.Contains(data, "✗") {
		t.Fatalf("second event %q:\n%s", event, data)
	}

	// Revoking the token ends the stream with signedout.
	f.set(func(f *fakeAPI) { f.revoked[tokenID] = true })
	if event, _ = sseEvent(t, r); event != "signedout" {
		t.Fatalf("event %q, want signedout", event)
	}
}

func TestLiveKeepalive(t *testing.T) {
	_, srv := setup(t, Config{Poll: time.Hour})
	r := openStream(t, srv.URL+"/apps/shop/live")
	sseEvent(t, r)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if line == ": keepalive\n" {
			return
		}
	}
}

func TestWriteEventSplitsLines(t *testing.T) {
	var b strings.Builder
	if err := writeEvent(&b, "update", "<p>a</p>\r\n<p>b\rc</p>\n"); err != nil {
		t.Fatal(err)
	}
	want := "event: update\ndata: <p>a</p>\ndata: <p>b\ndata: c</p>\n\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestLogout(t *testing.T) {
	f, srv := setup(t, Config{})
	resp, _ := do(t, "POST", srv.URL+"/logout", url.Values{}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login" {
		t.Fatalf("logout: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	c := sessionCookie(resp)
	if c == nil || c.Value != "" || c.MaxAge >= 0 {
		t.Errorf("the cookie is not cleared: %+v", c)
	}
	f.mu.Lock()
	revoked := f.revoked[tokenID]
	f.mu.Unlock()
	if !revoked {
		t.Error("the session's token was not revoked at the API")
	}

	// The revoked token now signs the user out of any page.
	resp, _ = do(t, "GET", srv.URL+"/apps", nil, nil, true)
	if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(resp.Header.Get("Location"), "/login") {
		t.Errorf("revoked token: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if c := sessionCookie(resp); c == nil || c.MaxAge >= 0 {
		t.Errorf("a revoked token's cookie is not cleared: %+v", c)
	}
}

func TestAppsPage(t *testing.T) {
	_, srv := setup(t, Config{})
	resp, body := do(t, "GET", srv.URL+"/apps", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("status %d:\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{
		`<a href="/apps/shop">shop</a>`,
		`<li data-env="staging" data-revision="` + fullCommit + `" data-status="UPDATE_COMPLETE">`,
		`<code title="` + fullCommit + `">` + fullCommit[:12] + `</code>`,
		`<a href="http://staging.shop.example">`,
		`data-env="production"`,
		`aria-current="page">Applications</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the apps page lacks %s", want)
		}
	}
	resp, body = do(t, "GET", srv.URL+"/apps/missing", nil, nil, true)
	if resp.StatusCode != http.StatusNotFound || !strings.Contains(body, "app missing not found") {
		t.Errorf("missing app: %d", resp.StatusCode)
	}
}

func TestTokens(t *testing.T) {
	f, srv := setup(t, Config{})
	_, body := do(t, "GET", srv.URL+"/tokens", nil, nil, true)
	for _, want := range []string{`action="/tokens/tok2/revoke"`, `this session`, `<label for="token-name">`, "never"} {
		if !strings.Contains(body, want) {
			t.Errorf("the tokens page lacks %s", want)
		}
	}
	resp, body := do(t, "POST", srv.URL+"/tokens", url.Values{"name": {"ci"}}, nil, true)
	if resp.StatusCode != http.StatusCreated || !strings.Contains(body, `value="slw_NEWSECRET"`) || !strings.Contains(body, "Store this token now.") {
		t.Errorf("create: %d\n%s", resp.StatusCode, body)
	}
	if resp.Header.Get("Cache-Control") != "no-store" {
		t.Error("the page with the new secret may be cached")
	}
	_, body = do(t, "GET", srv.URL+"/tokens", nil, nil, true)
	if strings.Contains(body, "slw_NEWSECRET") {
		t.Error("the secret shows again")
	}
	resp, _ = do(t, "POST", srv.URL+"/tokens/tok2/revoke", url.Values{}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/tokens" {
		t.Errorf("revoke: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.revoked["tok2"] || len(f.created) != 1 {
		t.Errorf("revoked %v, created %v", f.revoked, f.created)
	}
}

func TestDataAttributesAreText(t *testing.T) {
	c, err := New(Config{API: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	html, err := c.renderLive(&appView{App: &client.App{Name: "shop"}, Stages: []stageView{{Name: "Deploy & test", Actions: []actionView{{Name: "Deploy staging", Status: statusNotRun}}}}})
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`data-stage="Deploy &amp; test"`, `data-action="Deploy staging"`} {
		if !strings.Contains(html, want) {
			t.Errorf("the fragment lacks %s:\n%s", want, html)
		}
	}
}

func TestAPIDown(t *testing.T) {
	api := httptest.NewServer(http.NotFoundHandler())
	api.Close()
	c, err := New(Config{API: api.URL, Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(c.Handler())
	defer srv.Close()
	resp, body := do(t, "GET", srv.URL+"/apps", nil, nil, true)
	if resp.StatusCode != http.StatusBadGateway || !strings.Contains(body, "could not get an answer") || strings.Contains(body, tokenSecret) {
		t.Errorf("status %d:\n%s", resp.StatusCode, body)
	}
	resp, body = do(t, "POST", srv.URL+"/login", url.Values{"name": {"alice"}, "password": {password}}, nil, false)
	if resp.StatusCode != http.StatusBadGateway || strings.Contains(body, password) {
		t.Errorf("sign-in with the API down: %d", resp.StatusCode)
	}
}

// The page's digest of its live fragment holds the stream back until the
// fragment changes: replacing the same HTML would take away the nodes
// under the user's hands (the comment being typed, the button pressed).
func TestLiveSendsNothingTheDigestSaysThePageHas(t *testing.T) {
	f, srv := setup(t, Config{Poll: 10 * time.Millisecond})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	get := func(path string) *http.Response {
		req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+path, nil)
		req.AddCookie(&http.Cookie{Name: cookieName, Value: tokenID + "." + tokenSecret})
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	page := get("/apps/shop")
	body, _ := io.ReadAll(page.Body)
	page.Body.Close()
	m := regexp.MustCompile(`data-digest="([0-9a-f]{16})"`).FindSubmatch(body)
	if m == nil {
		t.Fatalf("no digest on the page:\n%s", body)
	}
	resp := get("/apps/shop/live?digest=" + string(m[1]))
	defer resp.Body.Close()
	r := bufio.NewReader(resp.Body)
	time.Sleep(50 * time.Millisecond)
	f.set(func(f *fakeAPI) {
		f.actions[3].Status = "Failed"
		f.actions[3].EndedAt = f.actions[3].StartedAt.Add(time.Second)
	})
	if event, data := sseEvent(t, r); event != "update" || !strings.Contains(data, `data-action="Approve" data-status="Failed"`) {
		t.Fatalf("the first event is not the change: %q\n%s", event, data)
	}
}

// An environment shows its instances' health and links to its stack and
// the fleet; one not yet created links nowhere.
func TestAppPageEnvironmentInstances(t *testing.T) {
	_, srv := setup(t, Config{})
	resp, body := do(t, "GET", srv.URL+"/apps/shop", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /apps/shop: %d", resp.StatusCode)
	}
	for _, want := range []string{
		`data-instances="2" data-healthy="1"`,
		`<a href="/stacks/shop-staging">staging</a>`,
		`<a href="/fleet"><span class="status status-busy"><span class="symbol" aria-hidden="true">…</span> 1 of 2 healthy</span></a>`,
		`<th scope="row">production</th>`,
		`<a id="repo-link" href="/repos/shop">shop</a>`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %s:\n%s", want, body)
		}
	}
	if got := instancesHealth(&client.AppInstances{Total: 2, Healthy: 2}); got.Kind != "ok" || got.Word != "2 of 2 healthy" {
		t.Errorf("all healthy: %+v", got)
	}
	if got := instancesHealth(&client.AppInstances{Total: 2}); got.Kind != "bad" {
		t.Errorf("none healthy: %+v", got)
	}
}

// The console names the browser's address to the API, for its audit log.
func TestForwardsTheBrowsersAddress(t *testing.T) {
	f, srv := setup(t, Config{})
	if resp, _ := do(t, "GET", srv.URL+"/apps", nil, nil, true); resp.StatusCode != 200 {
		t.Fatalf("GET /apps: %d", resp.StatusCode)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.forwarded != "127.0.0.1" {
		t.Errorf("X-Forwarded-For to the API: %q, want the browser's 127.0.0.1", f.forwarded)
	}
}
