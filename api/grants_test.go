package api_test

import (
	"encoding/json"
	"fmt"
	"net/url"
	"strings"
	"testing"

	"github.com/slipway/slipway/auth"
)

type grantRow struct {
	ID, Project, Resource, Subject, Role string
}

func (f *fixture) grants(t *testing.T, actor string) []grantRow {
	t.Helper()
	code, b := f.do(t, actor, "GET", "/api/v1/projects/default/grants", nil)
	if code != 200 {
		t.Fatalf("list grants as %s: %d %s", actor, code, b)
	}
	var gs []grantRow
	if err := json.Unmarshal(b, &gs); err != nil {
		t.Fatal(err)
	}
	return gs
}

func findGrant(gs []grantRow, resource, subject string) *grantRow {
	for i := range gs {
		if gs[i].Resource == resource && gs[i].Subject == subject {
			return &gs[i]
		}
	}
	return nil
}

// TestGrants_ListNamesResourcesAndSubjects: the list says every grant in
// the words granting takes, the project's own first.
func TestGrants_ListNamesResourcesAndSubjects(t *testing.T) {
	f := newFixture(t)
	repoName := f.newRepo(t)
	gs := f.grants(t, "admin")
	if len(gs) == 0 || gs[0].Resource != "project" {
		t.Fatalf("the project's grants come first: %+v", gs)
	}
	for _, want := range []grantRow{
		{Project: "default", Resource: "project", Subject: "team:builders", Role: "write"},
		{Project: "default", Resource: "repo/" + repoName, Subject: "owner", Role: "admin"},
		{Project: "default", Resource: "repo/" + repoName, Subject: "reader", Role: "read"},
		{Project: "default", Resource: "app/webapp", Subject: "reader", Role: "read"},
	} {
		g := findGrant(gs, want.Resource, want.Subject)
		if g == nil || g.Role != want.Role || g.Project != want.Project || g.ID == "" {
			t.Errorf("grant %s on %s: got %+v in %+v", want.Subject, want.Resource, g, gs)
		}
	}
	// A project admin who is no site admin may list them too; write on the
	// project is not enough.
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "project", "subject": "owner", "role": "admin"}); code != 201 {
		t.Fatalf("grant project admin: %d %s", code, b)
	}
	if got := f.grants(t, "owner"); len(got) != len(gs)+1 {
		t.Errorf("project admin sees %d grants, want %d", len(got), len(gs)+1)
	}
	code, b := f.do(t, "teamwriter", "GET", "/api/v1/projects/default/grants", nil)
	if code != 403 {
		t.Errorf("project writer lists grants: %d %s", code, b)
	}
	if code, b := f.do(t, "admin", "GET", "/api/v1/projects/nosuch/grants", nil); code != 404 {
		t.Errorf("grants of a missing project: %d %s", code, b)
	}
}

// TestGrants_RevokeTakesAdminOnTheResource: who may grant on a resource
// may revoke its grants; the revoked role stops working at once.
func TestGrants_RevokeTakesAdminOnTheResource(t *testing.T) {
	f := newFixture(t)
	repoName := f.newRepo(t)
	g := findGrant(f.grants(t, "admin"), "repo/"+repoName, "reader")
	if g == nil {
		t.Fatal("no grant of reader on the repository")
	}
	path := "/api/v1/projects/default/grants/" + url.PathEscape(g.ID)
	for actor, want := range map[string]int{"writer": 403, "approver": 403, "stranger": 404, "teamwriter": 403} {
		if code, b := f.do(t, actor, "DELETE", path, nil); code != want {
			t.Errorf("revoke as %s: %d %s, want %d", actor, code, b, want)
		}
	}
	if code, _ := f.do(t, "reader", "GET", "/api/v1/projects/default/repos/"+repoName, nil); code != 200 {
		t.Fatalf("reader before the revocation: %d", code)
	}
	if code, b := f.do(t, "owner", "DELETE", path, nil); code != 204 {
		t.Fatalf("revoke as the repository's admin: %d %s", code, b)
	}
	if code, _ := f.do(t, "reader", "GET", "/api/v1/projects/default/repos/"+repoName, nil); code != 404 {
		t.Errorf("reader after the revocation: %d, want 404", code)
	}
	if code, b := f.do(t, "owner", "DELETE", path, nil); code != 404 {
		t.Errorf("revoke twice: %d %s", code, b)
	}
	if findGrant(f.grants(t, "admin"), "repo/"+repoName, "reader") != nil {
		t.Error("the revoked grant is still listed")
	}
	// A grant is revoked through its own project only.
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects", map[string]string{"name": "other"}); code != 201 {
		t.Fatalf("create project: %d %s", code, b)
	}
	w := findGrant(f.grants(t, "admin"), "repo/"+repoName, "writer")
	if code, b := f.do(t, "admin", "DELETE", "/api/v1/projects/other/grants/"+url.PathEscape(w.ID), nil); code != 404 {
		t.Errorf("revoke through another project: %d %s", code, b)
	}
}

// TestAudit_FiltersAndPages: actor is matched whole, action as text in any
// case; before pages back from an entry.
func TestAudit_FiltersAndPages(t *testing.T) {
	f := newFixture(t)
	for i := range 3 {
		f.do(t, "reader", "POST", "/api/v1/projects", map[string]string{"name": fmt.Sprintf("no%d", i)})
		f.do(t, "admin", "POST", "/api/v1/teams", map[string]string{"name": fmt.Sprintf("t%d", i)})
	}
	f.do(t, "admin", "POST", "/api/v1/projects/default/grants", map[string]string{"resource": "project", "subject": "reader", "role": "read"})
	list := func(query string) []auth.AuditEntry {
		t.Helper()
		code, b := f.do(t, "admin", "GET", "/api/v1/audit?"+query, nil)
		if code != 200 {
			t.Fatalf("audit?%s: %d %s", query, code, b)
		}
		var es []auth.AuditEntry
		if err := json.Unmarshal(b, &es); err != nil {
			t.Fatal(err)
		}
		return es
	}
	es := list("actor=reader")
	if len(es) != 3 {
		t.Fatalf("reader's entries: %+v", es)
	}
	for _, e := range es {
		if e.Actor != "reader" || e.Action != "POST /api/v1/projects" {
			t.Errorf("actor=reader answered %+v", e)
		}
	}
	if es := list("actor=read"); len(es) != 0 {
		t.Errorf("actor is matched whole, yet actor=read answered %+v", es)
	}
	if es := list("action=%2Fteams"); len(es) != 3 || es[0].Action != "POST /api/v1/teams" {
		t.Errorf("action=/teams: %+v", es)
	}
	if es := list("action=post+%2Fapi%2Fv1%2Fprojects%2F%7Bproject%7D%2Fgrants&actor=admin"); len(es) != 1 || es[0].Actor != "admin" {
		t.Errorf("action in lower case with actor: %+v", es)
	}
	// LIKE's wildcards are plain text.
	if es := list("action=%25"); len(es) != 0 {
		t.Errorf("action=%%: %+v", es)
	}
	all := list("")
	page1 := list("limit=2")
	page2 := list(fmt.Sprintf("limit=2&before=%d", page1[1].ID))
	if len(all) != 7 || len(page1) != 2 || len(page2) != 2 || page2[0].ID != all[2].ID || page2[1].ID != all[3].ID {
		t.Errorf("pages: %+v then %+v of %+v", page1, page2, all)
	}
	if older := list(fmt.Sprintf("actor=reader&before=%d", es[0].ID)); len(older) != 2 || older[0].ID != es[1].ID || older[1].ID != es[2].ID {
		t.Errorf("a filtered page: %+v, want the last two of %+v", older, es)
	}
}

// TestGrants_OnAnApplication: a role on an application is granted by name
// like one on a repository; an unknown application is not found.
func TestGrants_OnAnApplication(t *testing.T) {
	f := newFixture(t)
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "app/webapp", "subject": "writer", "role": "admin"}); code != 201 {
		t.Fatalf("grant on the application: %d %s", code, b)
	}
	if g := findGrant(f.grants(t, "admin"), "app/webapp", "writer"); g == nil || g.Role != "admin" {
		t.Errorf("the application's grant is not listed: %+v", g)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "app/nosuch", "subject": "writer", "role": "read"}); code != 404 || !strings.Contains(string(b), "application nosuch") {
		t.Errorf("grant on a missing application: %d %s", code, b)
	}
}
