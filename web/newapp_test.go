package web

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/slipway/slipway/client"
)

// newAppAPI answers the blueprints and teams of the default project and
// records the applications asked for; refuse, when set, refuses them.
type newAppAPI struct {
	asked  []client.CreateAppInput
	refuse *client.Error
}

func (n *newAppAPI) routes(mux *http.ServeMux, f *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	main, empty := "main", ""
	mux.HandleFunc("GET /api/v1/projects/default/blueprints", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Blueprint{
			{Name: "go-service", Description: "A Go web service with its pipeline.", Parameters: []client.BlueprintParameter{
				{Name: "ApplicationName", Description: "The name.", ConstraintDescription: "1 to 21 lower-case letters"},
				{Name: "Branch", Description: "The branch it ships.", Default: &main},
				{Name: "GoCache", Description: "A shared build cache.", Default: &empty},
			}},
			{Name: "static-site", Description: "A <static> site.", Parameters: []client.BlueprintParameter{
				{Name: "ApplicationName"},
				{Name: "Tier", Description: "How big.", AllowedValues: []string{"small", "large"}},
				{Name: "Domain", Description: "Where it is served."},
			}},
		})
	}))
	mux.HandleFunc("GET /api/v1/teams", authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Team{{Name: "web"}, {Name: "ops"}})
	}))
	mux.HandleFunc("POST /api/v1/projects/default/apps", authed(func(w http.ResponseWriter, r *http.Request) {
		var in client.CreateAppInput
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
			apiError(w, 400, "invalid_request", err.Error())
			return
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		n.asked = append(n.asked, in)
		if n.refuse != nil {
			apiError(w, n.refuse.Status, n.refuse.Code, n.refuse.Message)
			return
		}
		writeJSON(w, 201, client.App{Name: in.Name, Blueprint: in.Blueprint, Status: client.AppCreateInProgress})
	}))
}

// field finds the form control named name and returns its tag.
func field(t *testing.T, body, tag, name string) string {
	t.Helper()
	m := regexp.MustCompile(`<` + tag + `[^>]*name="` + regexp.QuoteMeta(name) + `"[^>]*>`).FindString(body)
	if m == "" {
		t.Fatalf("no <%s name=%q> in the page:\n%s", tag, name, body)
	}
	return m
}

func TestNewApp_FormShowsTheBlueprintsParameters(t *testing.T) {
	n := &newAppAPI{}
	_, srv := setup(t, Config{}, n.routes)
	resp, body := do(t, "GET", srv.URL+"/apps/new", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("GET /apps/new: %d\n%s", resp.StatusCode, body)
	}
	// The first blueprint is chosen; its name parameter is the name field.
	if !strings.Contains(body, `<option value="go-service" selected>`) || !strings.Contains(body, `id="choose"`) {
		t.Errorf("go-service is not the chosen blueprint, or no Choose button:\n%s", body)
	}
	if strings.Contains(body, `name="param.ApplicationName"`) {
		t.Error("the name parameter is asked for twice")
	}
	if !strings.Contains(body, "1 to 21 lower-case letters") {
		t.Error("the name's constraint is not shown")
	}
	if tag := field(t, body, "input", "param.Branch"); !strings.Contains(tag, `value="main"`) || strings.Contains(tag, "required") {
		t.Errorf("Branch is not pre-filled with its default: %s", tag)
	}
	if !strings.Contains(body, "The branch it ships.") || !strings.Contains(body, `<label for="param-Branch">`) {
		t.Error("Branch has no label or description")
	}
	if tag := field(t, body, "select", "owner"); !strings.Contains(tag, `id="owner"`) || !strings.Contains(body, `<option value="ops">ops</option>`) {
		t.Errorf("no owner team select: %s", tag)
	}
	for _, name := range []string{"name", "approvers", "ttl"} {
		field(t, body, "input", name)
	}
	if !strings.Contains(body, `id="create"`) || !strings.Contains(body, `action="/apps"`) || !strings.Contains(body, `src="/static/newapp.js?v=`) {
		t.Error("no create button, form action or script")
	}

	// Choosing another blueprint keeps what was typed; allowed values are
	// a select, and a parameter without a default is required.
	resp, body = do(t, "GET", srv.URL+"/apps/new?blueprint=static-site&name=shop&approvers=team:leads&param.Branch=dev", nil, nil, true)
	if resp.StatusCode != 200 {
		t.Fatalf("choose static-site: %d", resp.StatusCode)
	}
	if !strings.Contains(body, `<option value="static-site" selected>`) || !strings.Contains(body, "A &lt;static&gt; site.") {
		t.Errorf("static-site is not chosen:\n%s", body)
	}
	if tag := field(t, body, "input", "name"); !strings.Contains(tag, `value="shop"`) {
		t.Errorf("the name typed is lost: %s", tag)
	}
	if tag := field(t, body, "input", "approvers"); !strings.Contains(tag, `value="team:leads"`) {
		t.Errorf("the approvers typed are lost: %s", tag)
	}
	if strings.Contains(body, "param.Branch") {
		t.Error("the other blueprint's parameter is still in the form")
	}
	if tag := field(t, body, "select", "param.Tier"); !strings.Contains(tag, "required") || !strings.Contains(body, `<option value="large">large</option>`) {
		t.Errorf("Tier is not a required select of its allowed values: %s", tag)
	}
	if tag := field(t, body, "input", "param.Domain"); !strings.Contains(tag, "required") {
		t.Errorf("Domain has no default yet is not required: %s", tag)
	}

	resp, body = do(t, "GET", srv.URL+"/apps/new?blueprint=nosuch", nil, nil, true)
	if resp.StatusCode != 200 || !strings.Contains(body, "no blueprint named nosuch") {
		t.Errorf("an unknown blueprint: %d\n%s", resp.StatusCode, body)
	}
}

func TestNewApp_PostCreatesAndRedirectsToTheApp(t *testing.T) {
	n := &newAppAPI{}
	f, srv := setup(t, Config{}, n.routes)
	form := url.Values{"project": {"default"}, "blueprint": {"go-service"}, "name": {" shop "},
		"param.Branch": {"release"}, "param.GoCache": {""}, "param.Bogus": {"x"},
		"owner": {"web"}, "approvers": {"alice, team:leads,,"}, "ttl": {"24h"}}
	resp, body := do(t, "POST", srv.URL+"/apps", form, nil, true)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/apps/shop" {
		t.Fatalf("POST /apps: %d to %q\n%s", resp.StatusCode, resp.Header.Get("Location"), body)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(n.asked) != 1 {
		t.Fatalf("asked the API %d times", len(n.asked))
	}
	got := n.asked[0]
	want := client.CreateAppInput{Name: "shop", Blueprint: "go-service", Owner: "web", TTL: "24h",
		Approvers: []string{"alice", "team:leads"}, Parameters: map[string]string{"Branch": "release", "GoCache": ""}}
	if gb, _ := json.Marshal(got); string(gb) != mustJSON(t, want) {
		t.Errorf("CreateAppInput:\n got %s\nwant %s", gb, mustJSON(t, want))
	}
}

func mustJSON(t *testing.T, v any) string {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestNewApp_RefusalShowsTheFormAgain(t *testing.T) {
	n := &newAppAPI{refuse: &client.Error{Status: 400, Code: "invalid_request", Message: `parameter Domain: "" is missing`}}
	f, srv := setup(t, Config{}, n.routes)
	form := url.Values{"blueprint": {"static-site"}, "name": {"shop"}, "param.Tier": {"large"}, "param.Domain": {""},
		"approvers": {"bob"}, "ttl": {"2h"}, "owner": {"ops"}}
	resp, body := do(t, "POST", srv.URL+"/apps", form, nil, true)
	if resp.StatusCode != 400 {
		t.Fatalf("refused POST: %d\n%s", resp.StatusCode, body)
	}
	if !strings.Contains(body, `id="error"`) || !strings.Contains(body, "parameter Domain: &#34;&#34; is missing") {
		t.Errorf("the API's message is not shown:\n%s", body)
	}
	if !strings.Contains(field(t, body, "input", "name"), `value="shop"`) ||
		!strings.Contains(field(t, body, "input", "ttl"), `value="2h"`) ||
		!strings.Contains(body, `<option value="large" selected>`) ||
		!strings.Contains(body, `<option value="ops" selected>`) ||
		!strings.Contains(body, `<option value="static-site" selected>`) {
		t.Errorf("what was typed is not kept:\n%s", body)
	}
	f.mu.Lock()
	asked := n.asked[0]
	f.mu.Unlock()
	// A required parameter left empty is not sent, so the API names it
	// as missing.
	if _, sent := asked.Parameters["Domain"]; sent || asked.Parameters["Tier"] != "large" {
		t.Errorf("parameters sent: %v", asked.Parameters)
	}

	// No permission: the 403 and its message, on the form.
	f.set(func(*fakeAPI) {
		n.refuse = &client.Error{Status: 403, Code: "forbidden", Message: "permission denied: ask an admin"}
	})
	resp, body = do(t, "POST", srv.URL+"/apps", form, nil, true)
	if resp.StatusCode != 403 || !strings.Contains(body, "permission denied: ask an admin") || !strings.Contains(body, `id="create"`) {
		t.Errorf("a 403: %d\n%s", resp.StatusCode, body)
	}
}

func TestNewApp_ListLinksToTheForm(t *testing.T) {
	_, srv := setup(t, Config{})
	_, body := do(t, "GET", srv.URL+"/apps", nil, nil, true)
	if !strings.Contains(body, `<a id="create-app" class="button-link" href="/apps/new">`) {
		t.Errorf("no create link on the list:\n%s", body)
	}
	resp, _ := do(t, "GET", srv.URL+"/apps/new", nil, nil, false)
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/login?next=%2Fapps%2Fnew" {
		t.Errorf("signed out: %d to %q", resp.StatusCode, resp.Header.Get("Location"))
	}
}
