package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// adminAPI answers the administration endpoints, as a site admin or not,
// and records what was asked.
type adminAPI struct {
	calls []string
	audit []url.Values
	// refuseGrants makes the grant list a 403.
	refuseGrants bool
}

func (a *adminAPI) routes(mux *http.ServeMux, f *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	record := func(r *http.Request, body any) {
		f.mu.Lock()
		defer f.mu.Unlock()
		b, _ := json.Marshal(body)
		a.calls = append(a.calls, r.Method+" "+r.URL.Path+" "+string(b))
	}
	admin := func(w http.ResponseWriter) bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		if !f.siteAdmin {
			apiError(w, 403, "forbidden", "permission denied: site admins only")
		}
		return f.siteAdmin
	}
	mux.HandleFunc("GET /api/v1/users", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		defer f.mu.Unlock()
		writeJSON(w, 200, []client.User{{Name: "alice", SiteAdmin: f.siteAdmin, CreatedAt: at}, {Name: "<bob>", CreatedAt: at}})
	}))
	mux.HandleFunc("POST /api/v1/users", authed(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		record(r, in)
		if !admin(w) {
			return
		}
		if in["name"] == "taken" {
			apiError(w, 409, "conflict", "user taken: already exists")
			return
		}
		writeJSON(w, 201, client.User{Name: in["name"].(string)})
	}))
	mux.HandleFunc("GET /api/v1/teams", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Team{{Name: "web", Members: []string{"alice", "<bob>"}, CreatedAt: at}, {Name: "ops", CreatedAt: at}})
	}))
	mux.HandleFunc("POST /api/v1/teams", authed(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		record(r, in)
		if admin(w) {
			writeJSON(w, 201, client.Team{Name: in["name"].(string)})
		}
	}))
	mux.HandleFunc("POST /api/v1/teams/{team}/members", authed(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		record(r, in)
		if !admin(w) {
			return
		}
		if in["user"] == "nobody" {
			apiError(w, 400, "invalid_request", `user "nobody" does not exist`)
			return
		}
		writeJSON(w, 200, map[string]string{})
	}))
	mux.HandleFunc("GET /api/v1/projects", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Project{{Name: "default"}, {Name: "team"}})
	}))
	mux.HandleFunc("GET /api/v1/projects/{project}/grants", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		refuse := a.refuseGrants
		f.mu.Unlock()
		if refuse {
			apiError(w, 403, "forbidden", "permission denied: only the project's admins and site admins may list its grants")
			return
		}
		writeJSON(w, 200, []client.Grant{
			{ID: "g1", Project: r.PathValue("project"), Resource: "project", Subject: "team:web", Role: "write"},
			{ID: "g2", Project: r.PathValue("project"), Resource: "repo/shop", Subject: "<bob>", Role: "read"},
		})
	}))
	mux.HandleFunc("POST /api/v1/projects/{project}/grants", authed(func(w http.ResponseWriter, r *http.Request) {
		var in map[string]any
		_ = json.NewDecoder(r.Body).Decode(&in)
		record(r, in)
		if in["subject"] == "nobody" {
			apiError(w, 400, "invalid_request", `user "nobody" does not exist`)
			return
		}
		writeJSON(w, 201, client.Grant{ID: "g3"})
	}))
	mux.HandleFunc("DELETE /api/v1/projects/{project}/grants/{id}", authed(func(w http.ResponseWriter, r *http.Request) {
		record(r, nil)
		w.WriteHeader(http.StatusNoContent)
	}))
	mux.HandleFunc("GET /api/v1/audit", authed(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		a.audit = append(a.audit, r.URL.Query())
		f.mu.Unlock()
		if !admin(w) {
			return
		}
		var es []client.AuditEntry
		before := int64(1000)
		if b := r.URL.Query().Get("before"); b != "" {
			before, _ = strconv.ParseInt(b, 10, 64)
		}
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		for id := before - 1; id > 0 && len(es) < limit; id-- {
			outcome, status := "success", 201
			if id%2 == 0 {
				outcome, status = "failure", 403
			}
			es = append(es, client.AuditEntry{ID: id, At: at, Actor: "alice", Action: "POST /api/v1/teams", Target: "/api/v1/teams",
				RemoteAddr: "192.0.2.7", Outcome: outcome, Status: status})
		}
		writeJSON(w, 200, es)
	}))
}

func (a *adminAPI) set(f *fakeAPI, fn func(a *adminAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(a)
}

// lastCall is the last state-changing call the console made.
func (a *adminAPI) lastCall(t *testing.T, f *fakeAPI) string {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(a.calls) == 0 {
		t.Fatal("the console called no API")
	}
	return a.calls[len(a.calls)-1]
}

func TestAdmin_UsersListAndCreate(t *testing.T) {
	a := &adminAPI{}
	f, srv := setup(t, Config{}, a.routes)
	resp, body := do(t, "GET", srv.URL+"/admin", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin: %d\n%s", resp.StatusCode, body)
	}
	for _, want := range []string{`<table id="users"`, `data-user="alice"`, `data-user="&lt;bob&gt;"`, `id="admin-nav-users" href="/admin" aria-current="page"`,
		`aria-current="page">Administration`, `id="users-readonly"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the users page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="create-user"`) {
		t.Error("a user who is no site admin is offered the create-user form")
	}
	// The API refuses a user who is no site admin: its message shows.
	resp, body = do(t, "POST", srv.URL+"/admin/users", url.Values{"name": {"carol"}, "password": {"pw-secret-1"}}, nil, true)
	if resp.StatusCode != 403 || !strings.Contains(body, "permission denied: site admins only") {
		t.Errorf("a refused creation: %d\n%s", resp.StatusCode, body)
	}

	f.set(func(f *fakeAPI) { f.siteAdmin = true })
	_, body = do(t, "GET", srv.URL+"/admin", nil, nil, true)
	if !strings.Contains(body, `id="create-user"`) || !strings.Contains(body, `id="user-password" name="password" type="password"`) {
		t.Errorf("a site admin is not offered the create-user form:\n%s", body)
	}
	resp, _ = do(t, "POST", srv.URL+"/admin/users", url.Values{"name": {" carol "}, "password": {"pw-secret-1"}, "site_admin": {"1"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin" {
		t.Fatalf("create user: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := a.lastCall(t, f), `POST /api/v1/users {"name":"carol","password":"pw-secret-1","site_admin":true}`; got != want {
		t.Errorf("API call: %s, want %s", got, want)
	}
	resp, body = do(t, "POST", srv.URL+"/admin/users", url.Values{"name": {"taken"}, "password": {"pw-secret-2"}, "site_admin": {"1"}}, nil, true)
	if resp.StatusCode != 409 || !strings.Contains(body, "user taken: already exists") {
		t.Errorf("a conflict: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `id="user-name" name="name" value="taken"`) || !strings.Contains(body, `value="1" checked`) {
		t.Errorf("what was typed is not kept:\n%s", body)
	}
	if strings.Contains(body, "pw-secret-2") {
		t.Error("the password is shown back")
	}
}

func TestAdmin_TeamsListCreateAndAddMember(t *testing.T) {
	a := &adminAPI{}
	f, srv := setup(t, Config{}, a.routes)
	f.set(func(f *fakeAPI) { f.siteAdmin = true })
	resp, body := do(t, "GET", srv.URL+"/admin/teams", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/teams: %d", resp.StatusCode)
	}
	for _, want := range []string{`<tr data-team="web">`, `<li data-member="&lt;bob&gt;">`, `<tr data-team="ops">`, `id="create-team"`,
		`id="add-member"`, `<option value="&lt;bob&gt;"></option>`} {
		if !strings.Contains(body, want) {
			t.Errorf("the teams page lacks %s:\n%s", want, body)
		}
	}
	resp, _ = do(t, "POST", srv.URL+"/admin/teams", url.Values{"name": {"leads"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/teams" {
		t.Fatalf("create team: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := a.lastCall(t, f), `POST /api/v1/teams {"name":"leads"}`; got != want {
		t.Errorf("API call: %s, want %s", got, want)
	}
	resp, _ = do(t, "POST", srv.URL+"/admin/teams/members", url.Values{"team": {"ops"}, "user": {"alice"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("add member: %d", resp.StatusCode)
	}
	if got, want := a.lastCall(t, f), `POST /api/v1/teams/ops/members {"user":"alice"}`; got != want {
		t.Errorf("API call: %s, want %s", got, want)
	}
	resp, body = do(t, "POST", srv.URL+"/admin/teams/members", url.Values{"team": {"ops"}, "user": {"nobody"}}, nil, true)
	if resp.StatusCode != 400 || !strings.Contains(body, "user &#34;nobody&#34; does not exist") ||
		!strings.Contains(body, `<option value="ops" selected>`) || !strings.Contains(body, `value="nobody"`) {
		t.Errorf("a refused member: %d\n%s", resp.StatusCode, body)
	}

	f.set(func(f *fakeAPI) { f.siteAdmin = false })
	_, body = do(t, "GET", srv.URL+"/admin/teams", nil, nil, true)
	if strings.Contains(body, `id="create-team"`) || !strings.Contains(body, `id="teams-readonly"`) {
		t.Errorf("a user who is no site admin is offered the team forms:\n%s", body)
	}
}

func TestAdmin_RolesListGrantAndRevoke(t *testing.T) {
	a := &adminAPI{}
	f, srv := setup(t, Config{}, a.routes)
	resp, body := do(t, "GET", srv.URL+"/admin/roles?project=team", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/roles: %d", resp.StatusCode)
	}
	for _, want := range []string{`<option value="team" selected>`, `data-grant="g1" data-subject="team:web" data-resource="project" data-role="write"`,
		`data-grant="g2" data-subject="&lt;bob&gt;" data-resource="repo/shop" data-role="read"`, `action="/admin/roles/g2/revoke"`,
		`<input type="hidden" name="project" value="team">`, `id="grant-form"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the roles page lacks %s:\n%s", want, body)
		}
	}
	form := url.Values{"project": {"team"}, "subject": {"team:ops"}, "resource": {"repo/shop"}, "role": {"approve"}}
	resp, _ = do(t, "POST", srv.URL+"/admin/roles", form, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/roles?project=team" {
		t.Fatalf("grant: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := a.lastCall(t, f), `POST /api/v1/projects/team/grants {"resource":"repo/shop","role":"approve","subject":"team:ops"}`; got != want {
		t.Errorf("API call: %s, want %s", got, want)
	}
	form.Set("subject", "nobody")
	resp, body = do(t, "POST", srv.URL+"/admin/roles", form, nil, true)
	if resp.StatusCode != 400 || !strings.Contains(body, "user &#34;nobody&#34; does not exist") ||
		!strings.Contains(body, `id="grant-subject" name="subject" value="nobody"`) || !strings.Contains(body, `<option value="approve" selected>`) {
		t.Errorf("a refused grant: %d\n%s", resp.StatusCode, body)
	}
	resp, _ = do(t, "POST", srv.URL+"/admin/roles/g2/revoke", url.Values{"project": {"team"}}, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/admin/roles?project=team" {
		t.Fatalf("revoke: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
	if got, want := a.lastCall(t, f), `DELETE /api/v1/projects/team/grants/g2 null`; got != want {
		t.Errorf("API call: %s, want %s", got, want)
	}

	// Who may not list the grants sees why, and the form still.
	a.set(f, func(a *adminAPI) { a.refuseGrants = true })
	resp, body = do(t, "GET", srv.URL+"/admin/roles", nil, nil, true)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="admin-refused"`) ||
		!strings.Contains(body, "only the project&#39;s admins and site admins may list its grants") ||
		strings.Contains(body, `id="grants"`) || !strings.Contains(body, `id="grant-form"`) {
		t.Errorf("a refused list: %d\n%s", resp.StatusCode, body)
	}
}

func TestAdmin_AuditFiltersAndPages(t *testing.T) {
	a := &adminAPI{}
	f, srv := setup(t, Config{}, a.routes)
	f.set(func(f *fakeAPI) { f.siteAdmin = true })
	resp, body := do(t, "GET", srv.URL+"/admin/audit?actor=alice&action=%2Fteams", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /admin/audit: %d\n%s", resp.StatusCode, body)
	}
	f.mu.Lock()
	q := a.audit[len(a.audit)-1]
	f.mu.Unlock()
	if q.Get("actor") != "alice" || q.Get("action") != "/teams" || q.Get("limit") != "51" || q.Get("before") != "" {
		t.Errorf("the API was asked %v", q)
	}
	if n := strings.Count(body, "<tr data-entry="); n != 50 {
		t.Errorf("%d entries on a page, want 50", n)
	}
	for _, want := range []string{`<tr data-entry="999" data-actor="alice" data-outcome="success" data-from="192.0.2.7">`, `<td>192.0.2.7</td>`,
		`<span class="symbol" aria-hidden="true">✓</span> success`, `<span class="symbol" aria-hidden="true">✗</span> failure`,
		`id="audit-actor" name="actor" value="alice"`, `id="older" href="/admin/audit?action=%2Fteams&amp;actor=alice&amp;before=950"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the audit page lacks %s:\n%s", want, body)
		}
	}
	if strings.Contains(body, `id="newest"`) {
		t.Error("the newest page links to the newest")
	}
	resp, body = do(t, "GET", srv.URL+"/admin/audit?actor=alice&action=%2Fteams&before=950", nil, nil, true)
	f.mu.Lock()
	q = a.audit[len(a.audit)-1]
	f.mu.Unlock()
	if resp.StatusCode != 200 || q.Get("before") != "950" || q.Get("actor") != "alice" {
		t.Errorf("the older page: %d, the API was asked %v", resp.StatusCode, q)
	}
	if !strings.Contains(body, `<tr data-entry="949"`) || !strings.Contains(body, `id="newest" href="/admin/audit?action=%2Fteams&amp;actor=alice"`) {
		t.Errorf("the older page:\n%s", body)
	}
	// The last page has no Older link.
	_, body = do(t, "GET", srv.URL+"/admin/audit?before=30", nil, nil, true)
	if strings.Count(body, "<tr data-entry=") != 29 || strings.Contains(body, `id="older"`) {
		t.Errorf("the last page:\n%s", body)
	}
	if resp, _ := do(t, "GET", srv.URL+"/admin/audit?before=x", nil, nil, true); resp.StatusCode != 400 {
		t.Errorf("a bad page: %d", resp.StatusCode)
	}

	f.set(func(f *fakeAPI) { f.siteAdmin = false })
	resp, body = do(t, "GET", srv.URL+"/admin/audit", nil, nil, true)
	if resp.StatusCode != 200 || !strings.Contains(body, `id="admin-refused"`) || !strings.Contains(body, "permission denied: site admins only") ||
		strings.Contains(body, `<table id="audit"`) {
		t.Errorf("a refused audit log: %d\n%s", resp.StatusCode, body)
	}
}
