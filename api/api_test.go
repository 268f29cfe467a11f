package api_test

import (
	"archive/zip"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/api"
	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/deploy"
	"github.com/slipway/slipway/dnssvc"
	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/fleet"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/lbsvc"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// fixture is a server with one user per kind of access.
type fixture struct {
	srv    *httptest.Server
	api    *api.Server
	auth   *auth.Service
	jobs   *jobs.Engine
	stacks *stacksvc.Service
	pipes  *pipelinesvc.Service
	// deploys runs deployments only where a test runs the job engine.
	deploys *deploy.Service
	// apps makes applications only where a test runs the job engine:
	// otherwise they stay CREATE_IN_PROGRESS.
	apps  *appsvc.Service
	db    *store.DB
	repos *repo.Service
	// deployment is a deployment of application web to group web-group,
	// which stays Created while no job runs; revision is its digest.
	deployment, revision string
	tokens               map[string]string // actor -> token; "anon" has none
	n                    int
}

// actors are the kinds of callers. "agent" holds an on-premises host's
// agent credential, which is no user's.
var actors = []string{"admin", "owner", "writer", "approver", "reader", "teamwriter", "stranger", "anon", "badtoken", "agent"}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	a := auth.NewService(db)
	dir := t.TempDir()
	if _, err := a.Bootstrap(ctx, filepath.Join(dir, "admin-token")); err != nil {
		t.Fatal(err)
	}
	bus := events.New(db, log)
	reg := prometheus.NewRegistry()
	secrets, err := secret.NewService(db, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	repos := repo.NewService(db, filepath.Join(dir, "repos"), bus, log, repo.NewMetrics(reg))
	arts, err := artifact.NewFS(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	// The job engine is not run: started builds stay queued, stack
	// operations stay in progress. Where a test runs it, its end cancels
	// the jobs still running (a deployment waiting for an agent) at once.
	jobEngine := jobs.New(db, jobs.Options{Logger: log, ShutdownGrace: time.Millisecond})
	builds := buildsvc.NewService(db, buildsvc.Config{Jobs: jobEngine, Repos: repos,
		Secrets: secrets, Artifacts: arts, WorkDir: filepath.Join(dir, "builds"), Log: log})
	types := stack.NewRegistry()
	types.Register(thingType, thing{})
	stacks := stacksvc.New(db, stacksvc.Config{Jobs: jobEngine, Engine: &stack.Engine{Registry: types}, Log: log})
	// Its source actions make an artifact out of nothing; they run only
	// where a test runs the job engine.
	pipes := pipelinesvc.New(db, pipelinesvc.Config{Jobs: jobEngine, Log: log,
		Providers: map[string]pipelinesvc.ActionProvider{pipeline.CodeCommit: fakeSource{}}})
	lbs, err := lbsvc.New(db, lbsvc.Config{PortMap: map[int]string{80: "127.0.0.1:0"}, Log: log, ShutdownGrace: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	dns, err := dnssvc.New(db, dnssvc.Config{Listen: "127.0.0.1:0", AliasAddrs: lbs.AliasAddrs, OnAliasesChanged: lbs.SetAliases, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	runCtx, stopRun := context.WithCancel(ctx)
	ran := make(chan error, 2)
	go func() { ran <- lbs.Run(runCtx) }()
	go func() { ran <- dns.Run(runCtx) }()
	t.Cleanup(func() {
		stopRun()
		<-ran
		<-ran
	})
	fleetSvc := fleet.New(fleet.Config{DB: db, Log: log, Runtime: &fleet.Runtime{Dir: filepath.Join(dir, "instances"), DataDir: dir}})
	// Agents may be silent long enough for a long poll to outlast a slow
	// machine's job engine.
	deploys := deploy.New(deploy.Config{DB: db, Jobs: jobEngine, Bus: bus, Artifacts: arts, Fleet: fleetSvc, Log: log, AgentTimeout: 2 * time.Minute})
	apps, err := appsvc.New(appsvc.Config{DB: db, Jobs: jobEngine, Stacks: stacks, Pipelines: pipes, Repos: repos, Auth: a,
		Artifacts: arts, BlueprintDir: filepath.Join(dir, "blueprints"), WorkDir: filepath.Join(dir, "work"), Log: log})
	if err != nil {
		t.Fatal(err)
	}
	apps.Register(jobEngine)
	s := &api.Server{Auth: a, Repos: repos, Secrets: secrets, Builds: builds, Artifacts: arts, Stacks: stacks, Pipelines: pipes,
		LoadBalancers: lbs, DNS: dns, Log: log, Registry: reg, Fleet: fleetSvc, Deploys: deploys, Apps: apps}
	f := &fixture{srv: httptest.NewServer(s.Handler()), api: s, auth: a, jobs: jobEngine, stacks: stacks, pipes: pipes, deploys: deploys,
		apps: apps, db: db, repos: repos, tokens: map[string]string{}}
	t.Cleanup(f.srv.Close)
	b, _ := os.ReadFile(filepath.Join(dir, "admin-token"))
	f.tokens["admin"] = strings.TrimSpace(string(b))
	def, _ := a.Project(ctx, auth.DefaultProject)
	team, err := a.CreateTeam(ctx, "builders")
	if err != nil {
		t.Fatal(err)
	}
	// newbie is no actor: rows that add a user somewhere act on it, so they
	// change nobody's access.
	for _, name := range []string{"owner", "writer", "approver", "reader", "teamwriter", "stranger", "newbie"} {
		u, err := a.CreateUser(ctx, name, "", false)
		if err != nil {
			t.Fatal(err)
		}
		tok, _, err := a.CreateToken(ctx, u.ID, "test")
		if err != nil {
			t.Fatal(err)
		}
		f.tokens[name] = tok
		if name == "teamwriter" {
			if err := a.AddMember(ctx, team.ID, u.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	if _, err := a.SetGrant(ctx, auth.SubjectTeam, team.ID, auth.ProjectResource(def.ID), auth.RoleWrite); err != nil {
		t.Fatal(err)
	}
	// A load balancer "web" forwarding to target group "web-tg", and a
	// hosted zone, for the load balancer and DNS rows.
	webTG, err := lbs.CreateTargetGroup(ctx, def.ID, "", lbsvc.TargetGroupInput{Name: "web-tg", Port: 8000})
	if err != nil {
		t.Fatal(err)
	}
	webLB, err := lbs.CreateLoadBalancer(ctx, def.ID, "", lbsvc.LoadBalancerInput{Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := lbs.CreateListener(ctx, def.ID, "", lbsvc.ListenerInput{LoadBalancerARN: webLB.ARN, Port: 80,
		DefaultActions: []lbsvc.Action{{Type: lbsvc.ActionForward, TargetGroupARN: webTG.ARN}}}); err != nil {
		t.Fatal(err)
	}
	if _, err := dns.CreateZone(ctx, def.ID, "", dnssvc.ZoneInput{Name: "example.internal"}); err != nil {
		t.Fatal(err)
	}
	f.tokens["badtoken"] = auth.TokenPrefix + "AAAAAAAAAAAAAAAAAAAAAAAAAA"
	// Application web with group web-group, which selects the hosts tagged
	// role=web (there are none), and a deployment of a revision to it;
	// host agent-host, whose credential is the agent actor's, and host
	// tagged, whose tags the table sets.
	if _, err := deploys.CreateApplication(ctx, def.ID, "web", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := deploys.CreateGroup(ctx, def.ID, "web", "web-group", "", deploy.GroupSpec{TagFilters: []deploy.TagFilter{{Key: "role", Value: "web"}}}); err != nil {
		t.Fatal(err)
	}
	ri, err := deploys.RegisterRevision(ctx, def.ID, "web", bytes.NewReader(revisionZip("web")), "")
	if err != nil {
		t.Fatal(err)
	}
	d, err := deploys.Create(ctx, def.ID, deploy.CreateInput{Application: "web", Group: "web-group", Digest: ri.Digest})
	if err != nil {
		t.Fatal(err)
	}
	f.deployment, f.revision = d.ID, ri.Digest
	// Application webapp, made by owner (who has admin on it), which stays
	// CREATE_IN_PROGRESS while no job runs; reader may read it. Repository
	// bp-src holds the demo blueprint at its top, on main.
	owner, err := a.UserByName(ctx, "owner")
	if err != nil {
		t.Fatal(err)
	}
	webapp, err := apps.Create(ctx, stacksvc.Project{ID: def.ID, Name: def.Name}, appsvc.CreateInput{Name: "webapp", Blueprint: "go-service",
		Creator: owner.Name, CreatorID: owner.ID})
	if err != nil {
		t.Fatal(err)
	}
	reader, err := a.UserByName(ctx, "reader")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.SetGrant(ctx, auth.SubjectUser, reader.ID, webapp.Resource(), auth.RoleRead); err != nil {
		t.Fatal(err)
	}
	src, err := repos.Create(ctx, def.ID, def.Name, "bp-src", "")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := repos.Seed(ctx, src, "main", demoBlueprint(""), "blueprint", "Admin <admin@example.com>", "admin"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"agent-host", "tagged"} {
		_, token, err := deploys.RegisterHost(ctx, def.ID, name, nil, "admin")
		if err != nil {
			t.Fatal(err)
		}
		if name == "agent-host" {
			f.tokens["agent"] = token
		}
	}
	return f
}

// revisionZip is a revision: a zip archive with an appspec.yml and a file
// saying who it is. Writing to memory cannot fail.
func revisionZip(who string) []byte {
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	for _, f := range []struct{ name, body string }{
		{"appspec.yml", "version: 0.0\nos: linux\nfiles:\n  - source: index.html\n    destination: /srv/www\n"},
		{"index.html", who + "\n"},
	} {
		w, _ := zw.Create(f.name)
		_, _ = io.WriteString(w, f.body)
	}
	_ = zw.Close()
	return buf.Bytes()
}

// rawBody is a request body sent as it is, not as JSON.
type rawBody struct {
	contentType string
	data        []byte
}

// newRepo creates a repository with the per-repository grants of the table:
// owner admin, writer write, approver approve, reader read.
func (f *fixture) newRepo(t *testing.T) string {
	t.Helper()
	f.n++
	name := fmt.Sprintf("r%d", f.n)
	if code, body := f.do(t, "admin", "POST", "/api/v1/projects/default/repos", map[string]string{"name": name}); code != 201 {
		t.Fatalf("create repo: %d %s", code, body)
	}
	for actor, role := range map[string]string{"owner": "admin", "writer": "write", "approver": "approve", "reader": "read"} {
		if code, body := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
			map[string]string{"resource": "repo/" + name, "subject": actor, "role": role}); code != 201 {
			t.Fatalf("grant: %d %s", code, body)
		}
	}
	return name
}

func (f *fixture) do(t *testing.T, actor, method, path string, body any) (int, []byte) {
	t.Helper()
	var rd io.Reader
	contentType := ""
	switch body := body.(type) {
	case nil:
	case rawBody:
		rd, contentType = bytes.NewReader(body.data), body.contentType
	default:
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, f.srv.URL+path, rd)
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	if tok := f.tokens[actor]; tok != "" {
		if strings.HasPrefix(path, "/git/") {
			req.SetBasicAuth("anyone", tok)
		} else {
			req.Header.Set("Authorization", "Bearer "+tok)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode == 401 && resp.Header.Get("WWW-Authenticate") == "" {
		t.Errorf("%s %s as %s: 401 without WWW-Authenticate", method, path, actor)
	}
	return resp.StatusCode, b
}

// thingType is the one resource type of the fixture's stacks: deploys need
// a known type. Its provider makes nothing; it runs only where a test runs
// the job engine.
const thingType = "Slipway::Test::Thing"

type thing struct{}

func (thing) Schema() stack.Schema {
	return stack.Schema{Properties: map[string]stack.Property{"Name": {Update: stack.InPlace}}, Attributes: []string{"Arn"}}
}
func (thing) Create(context.Context, *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{}, nil
}
func (thing) Update(context.Context, *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{}, nil
}
func (thing) Delete(context.Context, *stack.Request) error { return nil }

// thingTemplate is a valid template of one resource named name.
func thingTemplate(name string) map[string]any {
	return map[string]any{"template_name": "stack.yml",
		"template": "Resources:\n  Thing:\n    Type: " + thingType + "\n    Properties:\n      Name: " + name + "\n"}
}

// newStack makes a stack shell with change set "cs" (a CREATE change set
// leaves the stack REVIEW_IN_PROGRESS, so it can be executed, deployed or
// deleted while no job runs).
func (f *fixture) newStack(t *testing.T) string {
	t.Helper()
	f.n++
	name := fmt.Sprintf("s%d", f.n)
	body := thingTemplate("x")
	body["name"] = "cs"
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/stacks/"+name+"/change-sets", body); code != 201 {
		t.Fatalf("create change set: %d %s", code, b)
	}
	return name
}

// fakeSource is a source action that needs no repository.
type fakeSource struct{}

func (fakeSource) Run(context.Context, *pipelinesvc.ActionRun) (*pipelinesvc.ActionResult, error) {
	return &pipelinesvc.ActionResult{Summary: "commit fake",
		Outputs: map[string]pipelinesvc.Artifact{"Source": {Digest: "sha256:" + strings.Repeat("0", 64), Size: 1}}}, nil
}

// approvalPipeline is the JSON declaration of a pipeline whose second stage
// is a manual approval.
func approvalPipeline(name string) json.RawMessage {
	return json.RawMessage(fmt.Sprintf(`{"Name": %q, "ArtifactStore": {"Type": "S3", "Location": "artifacts"}, "Stages": [
  {"Name": "Source", "Actions": [{"Name": "Source",
    "ActionTypeId": {"Category": "Source", "Owner": "AWS", "Provider": "CodeCommit", "Version": "1"},
    "Configuration": {"RepositoryName": "app", "BranchName": "main"}, "OutputArtifacts": [{"Name": "Source"}]}]},
  {"Name": "Approve", "Actions": [{"Name": "Approve",
    "ActionTypeId": {"Category": "Approval", "Owner": "AWS", "Provider": "Manual", "Version": "1"}}]}]}`, name))
}

// newPipeline creates an approval pipeline with the per-pipeline grants of
// the table: owner admin, writer write, approver approve, reader read.
func (f *fixture) newPipeline(t *testing.T) string {
	t.Helper()
	f.n++
	name := fmt.Sprintf("pipe%d", f.n)
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/pipelines", approvalPipeline(name)); code != 201 {
		t.Fatalf("create pipeline: %d %s", code, b)
	}
	for actor, role := range map[string]string{"owner": "admin", "writer": "write", "approver": "approve", "reader": "read"} {
		if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
			map[string]string{"resource": "pipeline/" + name, "subject": actor, "role": role}); code != 201 {
			t.Fatalf("grant: %d %s", code, b)
		}
	}
	return name
}

// newExecution starts an execution of a fresh pipeline (see newPipeline)
// and returns its ID.
func (f *fixture) newExecution(t *testing.T) string {
	t.Helper()
	code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/pipelines/"+f.newPipeline(t)+"/executions", nil)
	var e struct{ ID string }
	if err := json.Unmarshal(b, &e); code != 201 || err != nil || e.ID == "" {
		t.Fatalf("start execution: %d %s", code, b)
	}
	return e.ID
}

// access is one row of the table: a request and the status each actor gets.
type access struct {
	method, pattern string
	path            string // may hold {repo}, {stack}, {pipeline} or {execution}, replaced by a fresh one per actor, or {deployment}
	body            func(n int) any
	want            map[string]int
}

// everyone builds an expectation: def for authenticated actors, 401 for the
// anonymous and bad-token ones and for the agent (its credential is no
// user's), with exceptions.
func everyone(def int, except map[string]int) map[string]int {
	m := map[string]int{}
	for _, a := range actors {
		m[a] = def
	}
	m["anon"], m["badtoken"], m["agent"] = 401, 401, 401
	for k, v := range except {
		m[k] = v
	}
	return m
}

// projectOnly: the site admin and the team with write on the default project.
func projectOnly(ok int) map[string]int {
	return everyone(403, map[string]int{"admin": ok, "teamwriter": ok})
}

func onlyAdmin(ok int) map[string]int {
	return everyone(403, map[string]int{"admin": ok})
}

// onlyAgent: the routes that take an agent's credential and no user's.
func onlyAgent(ok int) map[string]int {
	return everyone(401, map[string]int{"agent": ok})
}

func accessTable() []access {
	named := func(prefix string) func(int) any {
		return func(n int) any { return map[string]string{"name": fmt.Sprintf("%s%d", prefix, n)} }
	}
	repoRead := everyone(200, map[string]int{"stranger": 404})
	// A pipeline's grants are those of newPipeline; teamwriter has write on
	// the project.
	pipelineRead := everyone(200, map[string]int{"stranger": 404})
	pipelineWrite := func(ok int) map[string]int {
		return everyone(403, map[string]int{"admin": ok, "owner": ok, "writer": ok, "teamwriter": ok, "stranger": 404})
	}
	const pipelines = "/api/v1/projects/default/pipelines"
	const stacks = "/api/v1/projects/default/stacks"
	const apps = "/api/v1/projects/default/applications"
	const deployments = "/api/v1/projects/default/deployments"
	const hosts = "/api/v1/projects/default/on-premises-instances"
	const appsPath = "/api/v1/projects/default/apps"
	const blueprints = "/api/v1/projects/default/blueprints"
	// Application webapp: owner has admin on it, reader read, teamwriter
	// write on the project.
	appRead := everyone(404, map[string]int{"admin": 200, "owner": 200, "reader": 200, "teamwriter": 200})
	template := func(int) any { return thingTemplate("y") }
	changeSet := func(int) any {
		b := thingTemplate("y")
		b["name"] = "cs2"
		return b
	}
	return []access{
		{"GET", "/api/v1/me", "/api/v1/me", nil, everyone(200, nil)},
		// Signing in takes a password, not a token: a wrong one is 401 for
		// anyone (a bad token is refused before the password is looked at).
		{"POST", "/api/v1/sessions", "/api/v1/sessions",
			func(int) any { return map[string]string{"name": "reader", "password": "not-the-password"} }, everyone(401, nil)},
		{"PUT", "/api/v1/users/{name}/password", "/api/v1/users/newbie/password",
			func(int) any { return map[string]string{"password": "long enough"} }, onlyAdmin(204)},
		{"GET", "/metrics", "/metrics", nil, everyone(200, nil)},
		{"GET", "/healthz", "/healthz", nil, everyone(200, map[string]int{"anon": 200, "badtoken": 200, "agent": 200})},
		{"GET", "/api/v1/openapi.json", "/api/v1/openapi.json", nil, everyone(200, map[string]int{"anon": 200, "badtoken": 200, "agent": 200})},
		{"GET", "/api/v1/projects", "/api/v1/projects", nil, everyone(200, nil)},
		{"POST", "/api/v1/projects", "/api/v1/projects", named("p"), onlyAdmin(201)},
		{"GET", "/api/v1/projects/{project}/repos", "/api/v1/projects/default/repos", nil, everyone(200, nil)},
		{"POST", "/api/v1/projects/{project}/repos", "/api/v1/projects/default/repos", named("new"),
			everyone(403, map[string]int{"admin": 201, "teamwriter": 201})},
		{"GET", "/api/v1/projects/{project}/repos/{name}", "/api/v1/projects/default/repos/{repo}", nil, repoRead},
		{"GET", "/api/v1/projects/{project}/repos/{name}/events", "/api/v1/projects/default/repos/{repo}/events", nil, repoRead},
		// Browsing: {repo} is empty (empty lists); bp-src holds commits, and
		// only the site admin and teamwriter (write on the project) may read it.
		{"GET", "/api/v1/projects/{project}/repos/{name}/branches", "/api/v1/projects/default/repos/{repo}/branches", nil, repoRead},
		{"GET", "/api/v1/projects/{project}/repos/{name}/commits", "/api/v1/projects/default/repos/{repo}/commits?ref=main&limit=5", nil, repoRead},
		{"GET", "/api/v1/projects/{project}/repos/{name}/tree", "/api/v1/projects/default/repos/{repo}/tree", nil, repoRead},
		{"GET", "/api/v1/projects/{project}/repos/{name}/commits/{sha}", "/api/v1/projects/default/repos/bp-src/commits/main", nil,
			everyone(404, map[string]int{"admin": 200, "teamwriter": 200})},
		{"GET", "/api/v1/projects/{project}/repos/{name}/blob", "/api/v1/projects/default/repos/bp-src/blob?path=blueprint.yml", nil,
			everyone(404, map[string]int{"admin": 200, "teamwriter": 200})},
		{"DELETE", "/api/v1/projects/{project}/repos/{name}", "/api/v1/projects/default/repos/{repo}", nil,
			everyone(403, map[string]int{"admin": 204, "owner": 204, "stranger": 404})},
		{"POST", "/api/v1/projects/{project}/grants", "/api/v1/projects/default/grants",
			func(int) any {
				return map[string]string{"resource": "repo/{repo}", "subject": "stranger", "role": "read"}
			},
			everyone(403, map[string]int{"admin": 201, "owner": 201, "stranger": 404})},
		// Listing a project's grants takes admin on the project (only the
		// site admin has it here); a grant that does not exist is 404 for
		// anyone (grants_test.go revokes real ones).
		{"GET", "/api/v1/projects/{project}/grants", "/api/v1/projects/default/grants", nil, onlyAdmin(200)},
		{"DELETE", "/api/v1/projects/{project}/grants/{id}", "/api/v1/projects/default/grants/nosuch", nil, everyone(404, nil)},
		{"GET", "/api/v1/projects/{project}/secrets", "/api/v1/projects/default/secrets", nil, projectOnly(200)},
		{"PUT", "/api/v1/projects/{project}/secrets/{name}", "/api/v1/projects/default/secrets/prod/db",
			func(int) any { return map[string]string{"value": "s3cret"} }, onlyAdmin(200)},
		{"DELETE", "/api/v1/projects/{project}/secrets/{name}", "/api/v1/projects/default/secrets/nosuch", nil, onlyAdmin(404)},
		{"GET", "/api/v1/projects/{project}/params", "/api/v1/projects/default/params", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/params/{name}", "/api/v1/projects/default/params/nosuch", nil, projectOnly(404)},
		{"PUT", "/api/v1/projects/{project}/params/{name}", "/api/v1/projects/default/params/app/url",
			func(int) any { return map[string]string{"value": "http://x"} }, projectOnly(200)},
		{"DELETE", "/api/v1/projects/{project}/params/{name}", "/api/v1/projects/default/params/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/build-projects", "/api/v1/projects/default/build-projects", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/build-projects", "/api/v1/projects/default/build-projects", named("bp"), projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/build-projects/{name}", "/api/v1/projects/default/build-projects/nosuch", nil, projectOnly(404)},
		{"DELETE", "/api/v1/projects/{project}/build-projects/{name}", "/api/v1/projects/default/build-projects/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/build-projects/{name}/builds", "/api/v1/projects/default/build-projects/nosuch/builds", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/build-projects/{name}/builds", "/api/v1/projects/default/build-projects/nosuch/builds",
			func(int) any { return map[string]string{"source": "r1@main"} }, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/builds/{id}", "/api/v1/projects/default/builds/nosuch:1", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/builds/{id}/stop", "/api/v1/projects/default/builds/nosuch:1/stop", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/builds/{id}/logs", "/api/v1/projects/default/builds/nosuch:1/logs?offset=0", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/builds/{id}/artifacts/{name}", "/api/v1/projects/default/builds/nosuch:1/artifacts/artifact.zip", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/stacks", stacks, nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}", stacks + "/{stack}", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}", stacks + "/nosuch", nil, projectOnly(404)},
		{"PUT", "/api/v1/projects/{project}/stacks/{name}", stacks + "/{stack}", template, projectOnly(201)},
		{"DELETE", "/api/v1/projects/{project}/stacks/{name}", stacks + "/{stack}", nil, projectOnly(202)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}/events", stacks + "/{stack}/events?after=0&limit=10", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}/resources", stacks + "/{stack}/resources", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/stacks/{name}/plan", stacks + "/{stack}/plan", template, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/stacks/{name}/signals", stacks + "/{stack}/signals",
			func(int) any { return map[string]string{"resource": "Thing", "status": "SUCCESS"} }, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}/change-sets", stacks + "/{stack}/change-sets", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/stacks/{name}/change-sets", stacks + "/{stack}/change-sets", changeSet, projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}", stacks + "/{stack}/change-sets/cs", nil, projectOnly(200)},
		{"DELETE", "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}", stacks + "/{stack}/change-sets/cs", nil, projectOnly(204)},
		{"POST", "/api/v1/projects/{project}/stacks/{name}/change-sets/{cs}/execute", stacks + "/{stack}/change-sets/cs/execute", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/exports", "/api/v1/projects/default/exports", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/templates/validate", "/api/v1/projects/default/templates/validate", template, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/pipelines", pipelines, nil, everyone(200, nil)},
		{"POST", "/api/v1/projects/{project}/pipelines", pipelines,
			func(n int) any { return approvalPipeline(fmt.Sprintf("new%d", n)) }, projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/pipelines/{name}", pipelines + "/{pipeline}", nil, pipelineRead},
		{"GET", "/api/v1/projects/{project}/pipelines/{name}", pipelines + "/nosuch", nil, everyone(404, nil)},
		{"DELETE", "/api/v1/projects/{project}/pipelines/{name}", pipelines + "/{pipeline}", nil, pipelineWrite(204)},
		{"GET", "/api/v1/projects/{project}/pipelines/{name}/executions", pipelines + "/{pipeline}/executions?limit=5", nil, pipelineRead},
		{"POST", "/api/v1/projects/{project}/pipelines/{name}/executions", pipelines + "/{pipeline}/executions", nil, pipelineWrite(201)},
		// Nothing waits at the approval (no job runs): whoever may decide
		// gets 409; write alone is not enough.
		{"POST", "/api/v1/projects/{project}/pipelines/{name}/approvals", pipelines + "/{pipeline}/approvals",
			func(int) any { return map[string]any{"stage": "Approve", "action": "Approve", "approved": true} },
			everyone(403, map[string]int{"admin": 409, "owner": 409, "approver": 409, "stranger": 404})},
		{"GET", "/api/v1/projects/{project}/pipeline-executions/{id}", "/api/v1/projects/default/pipeline-executions/{execution}", nil, pipelineRead},
		{"GET", "/api/v1/projects/{project}/pipeline-executions/{id}", "/api/v1/projects/default/pipeline-executions/nosuch", nil, everyone(404, nil)},
		{"POST", "/api/v1/projects/{project}/pipelines/{name}/transitions", pipelines + "/{pipeline}/transitions",
			func(int) any { return map[string]any{"stage": "Approve", "enabled": false, "reason": "freeze"} }, pipelineWrite(204)},
		// The execution has not failed (no job runs): whoever may retry it
		// gets 409.
		{"POST", "/api/v1/projects/{project}/pipeline-executions/{id}/retry", "/api/v1/projects/default/pipeline-executions/{execution}/retry",
			func(int) any { return map[string]string{"stage": "Source"} }, pipelineWrite(409)},
		{"POST", "/api/v1/projects/{project}/pipeline-executions/{id}/retry", "/api/v1/projects/default/pipeline-executions/nosuch/retry",
			func(int) any { return map[string]string{"stage": "Source"} }, everyone(404, nil)},
		{"POST", "/api/v1/projects/{project}/pipeline-executions/{id}/stop", "/api/v1/projects/default/pipeline-executions/{execution}/stop",
			func(int) any { return map[string]any{"abandon": true, "reason": "test"} }, pipelineWrite(200)},
		{"POST", "/api/v1/projects/{project}/pipeline-executions/{id}/stop", "/api/v1/projects/default/pipeline-executions/nosuch/stop",
			func(int) any { return map[string]any{} }, everyone(404, nil)},
		{"POST", "/api/v1/projects/{project}/grants", "/api/v1/projects/default/grants",
			func(int) any {
				return map[string]string{"resource": "pipeline/{pipeline}", "subject": "stranger", "role": "approve"}
			},
			everyone(403, map[string]int{"admin": 201, "owner": 201, "stranger": 404})},
		{"GET", "/api/v1/projects/{project}/load-balancers", "/api/v1/projects/default/load-balancers", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/load-balancers/{name}", "/api/v1/projects/default/load-balancers/web", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/load-balancers/{name}", "/api/v1/projects/default/load-balancers/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/target-groups", "/api/v1/projects/default/target-groups", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/target-groups/{name}/targets", "/api/v1/projects/default/target-groups/web-tg/targets", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/target-groups/{name}/targets", "/api/v1/projects/default/target-groups/nosuch/targets", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/target-groups/{name}/targets", "/api/v1/projects/default/target-groups/web-tg/targets",
			func(n int) any { return map[string]any{"targets": []any{map[string]any{"id": fmt.Sprintf("i-%d", n)}}} }, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/target-groups/{name}/targets", "/api/v1/projects/default/target-groups/web-tg/targets",
			func(int) any { return map[string]any{"targets": []any{map[string]any{"id": "not an id"}}} }, projectOnly(400)},
		{"POST", "/api/v1/projects/{project}/target-groups/{name}/targets", "/api/v1/projects/default/target-groups/nosuch/targets",
			func(int) any { return map[string]any{"targets": []any{map[string]any{"id": "i-1"}}} }, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/target-groups/{name}/targets/deregister", "/api/v1/projects/default/target-groups/web-tg/targets/deregister",
			func(n int) any { return map[string]any{"ids": []string{fmt.Sprintf("i-%d", n)}, "wait": true} }, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/hosted-zones", "/api/v1/projects/default/hosted-zones", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/hosted-zones/{zone}", "/api/v1/projects/default/hosted-zones/example.internal", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/hosted-zones/{zone}", "/api/v1/projects/default/hosted-zones/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/instance-groups", "/api/v1/projects/default/instance-groups", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/instance-groups/{name}", "/api/v1/projects/default/instance-groups/nosuch", nil, projectOnly(404)},
		{"PUT", "/api/v1/projects/{project}/instance-groups/{name}/desired-capacity", "/api/v1/projects/default/instance-groups/nosuch/desired-capacity",
			func(int) any { return map[string]int{"desired_capacity": 1} }, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/instances/{id}", "/api/v1/projects/default/instances/i-nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/instances/{id}/console", "/api/v1/projects/default/instances/i-nosuch/console", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/instances/{id}/terminate", "/api/v1/projects/default/instances/i-nosuch/terminate",
			func(int) any { return map[string]bool{} }, projectOnly(404)},
		// Only an instance's credential signals here; no user's token does.
		{"POST", "/api/v1/instance/signal", "/api/v1/instance/signal",
			func(int) any { return map[string]string{"status": "SUCCESS"} }, everyone(401, nil)},
		{"GET", "/api/v1/projects/{project}/applications", apps, nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/applications", apps, named("app"), projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/applications/{app}", apps + "/web", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/applications/{app}", apps + "/nosuch", nil, projectOnly(404)},
		{"DELETE", "/api/v1/projects/{project}/applications/{app}", apps + "/nosuch", nil, projectOnly(404)},
		// Its deployment is not over.
		{"DELETE", "/api/v1/projects/{project}/applications/{app}", apps + "/web", nil, projectOnly(409)},
		{"GET", "/api/v1/projects/{project}/applications/{app}/deployment-groups", apps + "/web/deployment-groups", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/applications/{app}/deployment-groups/{group}", apps + "/web/deployment-groups/web-group", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/applications/{app}/deployment-groups/{group}", apps + "/web/deployment-groups/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/applications/{app}/revisions", apps + "/web/revisions", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/applications/{app}/revisions", apps + "/web/revisions?description=table",
			func(n int) any { return rawBody{"application/zip", revisionZip(fmt.Sprint(n))} }, projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/deployment-configs", "/api/v1/projects/default/deployment-configs", nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/deployment-configs", "/api/v1/projects/default/deployment-configs",
			func(n int) any {
				return map[string]any{"name": fmt.Sprintf("cfg%d", n), "minimum_healthy_hosts": map[string]any{"type": "HOST_COUNT", "value": 1}}
			}, projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/deployments", deployments + "?application=web&group=web-group&limit=5", nil, projectOnly(200)},
		// The group's deployment is not over: a group runs one at a time.
		{"POST", "/api/v1/projects/{project}/deployments", deployments,
			func(int) any {
				return map[string]string{"application": "web", "deployment_group": "web-group", "revision": "{revision}"}
			}, projectOnly(409)},
		{"POST", "/api/v1/projects/{project}/deployments", deployments,
			func(int) any {
				return map[string]string{"application": "web", "deployment_group": "nosuch", "revision": "{revision}"}
			}, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/deployments/{id}", deployments + "/{deployment}", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/deployments/{id}", deployments + "/d-NOSUCH", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/deployments/{id}/stop", deployments + "/d-NOSUCH/stop",
			func(int) any { return map[string]bool{"rollback": false} }, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/deployments/{id}/instances", deployments + "/{deployment}/instances", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/deployments/{id}/logs", deployments + "/{deployment}/logs?instance=mi-x&after=0", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/on-premises-instances", hosts, nil, projectOnly(200)},
		{"POST", "/api/v1/projects/{project}/on-premises-instances", hosts,
			func(n int) any {
				return map[string]any{"name": fmt.Sprintf("host%d", n), "tags": map[string]string{"role": "db"}}
			}, projectOnly(201)},
		{"PUT", "/api/v1/projects/{project}/on-premises-instances/{name}/tags", hosts + "/tagged/tags",
			func(int) any { return map[string]any{"tags": map[string]string{"role": "cache"}} }, projectOnly(200)},
		{"DELETE", "/api/v1/projects/{project}/on-premises-instances/{name}", hosts + "/nosuch", nil, projectOnly(404)},
		{"GET", "/api/v1/projects/{project}/apps", appsPath, nil, everyone(200, nil)},
		{"POST", "/api/v1/projects/{project}/apps", appsPath,
			func(n int) any { return map[string]any{"name": fmt.Sprintf("app%d", n), "blueprint": "go-service"} }, projectOnly(201)},
		{"GET", "/api/v1/projects/{project}/apps/{name}", appsPath + "/webapp", nil, appRead},
		{"GET", "/api/v1/projects/{project}/apps/{name}", appsPath + "/nosuch", nil, everyone(404, nil)},
		// Its creation is under way (no job runs): whoever may delete it
		// gets 409; read alone, or write on the project, is not enough.
		{"DELETE", "/api/v1/projects/{project}/apps/{name}", appsPath + "/webapp", nil,
			everyone(404, map[string]int{"admin": 409, "owner": 409, "reader": 403, "teamwriter": 403})},
		{"DELETE", "/api/v1/projects/{project}/apps/{name}", appsPath + "/nosuch", nil, everyone(404, nil)},
		{"GET", "/api/v1/projects/{project}/blueprints", blueprints, nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/blueprints/{name}", blueprints + "/go-service", nil, projectOnly(200)},
		{"GET", "/api/v1/projects/{project}/blueprints/{name}", blueprints + "/nosuch", nil, projectOnly(404)},
		{"POST", "/api/v1/projects/{project}/blueprints", blueprints,
			func(int) any { return rawBody{"application/gzip", demoTgz(nil)} }, projectOnly(201)},
		{"POST", "/api/v1/projects/{project}/blueprints", blueprints,
			func(int) any { return map[string]string{"repo": "bp-src", "ref": "main"} }, projectOnly(201)},
		{"POST", "/api/v1/projects/{project}/blueprints", blueprints,
			func(int) any { return map[string]string{"repo": "nosuch"} }, projectOnly(404)},
		// Only an agent's credential reaches its commands; no user's token
		// does. No command exists while no job runs.
		{"GET", "/api/v1/agent/host", "/api/v1/agent/host", nil, onlyAgent(200)},
		{"GET", "/api/v1/agent/commands", "/api/v1/agent/commands?wait=0", nil, onlyAgent(204)},
		{"POST", "/api/v1/agent/commands/{id}/ack", "/api/v1/agent/commands/c-nosuch/ack", nil, onlyAgent(404)},
		{"POST", "/api/v1/agent/commands/{id}/log", "/api/v1/agent/commands/c-nosuch/log",
			func(int) any { return rawBody{"text/plain", []byte("[stdout]hello\n")} }, onlyAgent(404)},
		{"POST", "/api/v1/agent/commands/{id}/complete", "/api/v1/agent/commands/c-nosuch/complete",
			func(int) any { return map[string]any{"status": "Succeeded"} }, onlyAgent(404)},
		{"GET", "/api/v1/agent/commands/{id}/bundle", "/api/v1/agent/commands/c-nosuch/bundle", nil, onlyAgent(404)},
		{"GET", "/api/v1/users", "/api/v1/users", nil, everyone(200, nil)},
		{"POST", "/api/v1/users", "/api/v1/users", named("u"), onlyAdmin(201)},
		{"GET", "/api/v1/tokens", "/api/v1/tokens", nil, everyone(200, nil)},
		{"POST", "/api/v1/tokens", "/api/v1/tokens", func(int) any { return map[string]string{"name": "x"} }, everyone(201, nil)},
		{"POST", "/api/v1/tokens", "/api/v1/tokens", func(int) any { return map[string]string{"user": "newbie"} },
			onlyAdmin(201)},
		{"DELETE", "/api/v1/tokens/{id}", "/api/v1/tokens/nosuchtoken", nil, everyone(404, nil)},
		{"GET", "/api/v1/teams", "/api/v1/teams", nil, everyone(200, nil)},
		{"POST", "/api/v1/teams", "/api/v1/teams", named("t"), onlyAdmin(201)},
		{"POST", "/api/v1/teams/{team}/members", "/api/v1/teams/builders/members",
			func(int) any { return map[string]string{"user": "newbie"} }, onlyAdmin(200)},
		{"GET", "/api/v1/audit", "/api/v1/audit", nil, onlyAdmin(200)},
		{"GET", "/api/v1/audit", "/api/v1/audit?actor=owner&action=POST&before=1000&limit=5", nil, onlyAdmin(200)},
		{"GIT", "upload-pack", "/git/{repo}.git/info/refs?service=git-upload-pack", nil, repoRead},
		{"GIT", "upload-pack", "/git/default/{repo}.git/info/refs?service=git-upload-pack", nil, repoRead},
		{"GIT", "receive-pack", "/git/{repo}.git/info/refs?service=git-receive-pack", nil,
			everyone(200, map[string]int{"approver": 403, "reader": 403, "stranger": 404})},
		{"GIT", "missing repository", "/git/nosuchrepo.git/info/refs?service=git-upload-pack", nil, everyone(404, nil)},
	}
}

func TestAccess_EveryRouteAndActor(t *testing.T) {
	f := newFixture(t)
	n := 0
	for _, row := range accessTable() {
		for _, actor := range actors {
			n++
			t.Run(fmt.Sprintf("%s %s as %s", row.method, row.path, actor), func(t *testing.T) {
				path := row.path
				var body any
				if row.body != nil {
					body = row.body(n)
				}
				if strings.Contains(path, "{repo}") || fmt.Sprint(body) != strings.ReplaceAll(fmt.Sprint(body), "{repo}", "") {
					r := f.newRepo(t)
					path = strings.ReplaceAll(path, "{repo}", r)
					if m, ok := body.(map[string]string); ok {
						m["resource"] = strings.ReplaceAll(m["resource"], "{repo}", r)
					}
				}
				if strings.Contains(path, "{stack}") {
					path = strings.ReplaceAll(path, "{stack}", f.newStack(t))
				}
				if m, ok := body.(map[string]string); strings.Contains(path, "{pipeline}") || ok && strings.Contains(m["resource"], "{pipeline}") {
					pl := f.newPipeline(t)
					path = strings.ReplaceAll(path, "{pipeline}", pl)
					if ok {
						m["resource"] = strings.ReplaceAll(m["resource"], "{pipeline}", pl)
					}
				}
				if strings.Contains(path, "{execution}") {
					path = strings.ReplaceAll(path, "{execution}", f.newExecution(t))
				}
				path = strings.ReplaceAll(path, "{deployment}", f.deployment)
				if m, ok := body.(map[string]string); ok && m["revision"] == "{revision}" {
					m["revision"] = f.revision
				}
				method := row.method
				if method == "GIT" {
					method = "GET"
				}
				code, b := f.do(t, actor, method, path, body)
				if want := row.want[actor]; code != want {
					t.Fatalf("got %d, want %d: %s", code, want, b)
				}
				if code >= 400 && row.method != "GIT" && !strings.HasPrefix(row.path, "/healthz") {
					var e struct {
						Error struct{ Code, Message string } `json:"error"`
					}
					if err := json.Unmarshal(b, &e); err != nil || e.Error.Code == "" || e.Error.Message == "" {
						t.Fatalf("error body not in the API's error shape: %s", b)
					}
				}
			})
		}
	}
}

// TestAccess_TableCoversEveryRoute keeps the table honest: a new route
// without rows fails here.
func TestAccess_TableCoversEveryRoute(t *testing.T) {
	covered := map[string]bool{}
	for _, row := range accessTable() {
		covered[row.method+" "+row.pattern] = true
	}
	for _, r := range api.Routes((&api.Server{})) {
		if !covered[r] {
			t.Errorf("route %s has no row in the access table", r)
		}
	}
	for _, svc := range []string{"GIT upload-pack", "GIT receive-pack"} {
		if !covered[svc] {
			t.Errorf("git %s has no row in the access table", svc)
		}
	}
}

func TestOpenAPI_MatchesRoutes(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "anon", "GET", "/api/v1/openapi.json", nil)
	if code != 200 {
		t.Fatalf("openapi.json: %d", code)
	}
	var doc struct {
		OpenAPI string                                `json:"openapi"`
		Paths   map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || !strings.HasPrefix(doc.OpenAPI, "3.") {
		t.Fatalf("not an OpenAPI 3 document: %v", err)
	}
	var documented []string
	for path, ops := range doc.Paths {
		for method, op := range ops {
			if method == "parameters" {
				continue
			}
			var o struct {
				Responses map[string]any `json:"responses"`
			}
			if err := json.Unmarshal(op, &o); err != nil || len(o.Responses) == 0 {
				t.Errorf("%s %s: no responses documented", method, path)
			}
			documented = append(documented, strings.ToUpper(method)+" "+path)
		}
	}
	served := api.Routes(f.api)
	sort.Strings(documented)
	sort.Strings(served)
	if strings.Join(documented, "\n") != strings.Join(served, "\n") {
		t.Fatalf("OpenAPI document and routes differ:\ndocumented:\n%s\nserved:\n%s", strings.Join(documented, "\n"), strings.Join(served, "\n"))
	}
}

func TestAudit_RecordsStateChangesWithActorAndOutcome(t *testing.T) {
	f := newFixture(t)
	f.do(t, "reader", "POST", "/api/v1/projects", map[string]string{"name": "nope"})
	f.do(t, "admin", "POST", "/api/v1/projects", map[string]string{"name": "yes"})
	f.do(t, "admin", "GET", "/api/v1/projects", nil)
	code, b := f.do(t, "admin", "GET", "/api/v1/audit", nil)
	if code != 200 {
		t.Fatalf("audit: %d %s", code, b)
	}
	var es []auth.AuditEntry
	if err := json.Unmarshal(b, &es); err != nil {
		t.Fatal(err)
	}
	if len(es) != 2 {
		t.Fatalf("want 2 entries (GETs are not audited), got %+v", es)
	}
	if es[0].Actor != "admin" || es[0].Outcome != "success" || es[0].Status != 201 || es[0].RemoteAddr != "127.0.0.1" {
		t.Errorf("newest entry: %+v", es[0])
	}
	if es[1].Actor != "reader" || es[1].Outcome != "failure" || es[1].Status != 403 || es[1].Action != "POST /api/v1/projects" {
		t.Errorf("oldest entry: %+v", es[1])
	}
}

func TestErrors_UnknownEndpointAndBadBodyUseTheErrorShape(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path string
		body         any
		want         int
		code         string
	}{
		{"GET", "/api/v1/nope", nil, 404, "not_found"},
		{"POST", "/api/v1/projects", map[string]any{"name": "x", "extra": 1}, 400, "invalid_request"},
		{"POST", "/api/v1/projects/default/repos", map[string]string{"name": "../evil"}, 400, "invalid_request"},
		{"POST", "/api/v1/projects/default/repos", map[string]string{"name": "dup"}, 201, ""},
		{"POST", "/api/v1/projects/default/repos", map[string]string{"name": "dup"}, 409, "conflict"},
		{"GET", "/api/v1/projects/nosuch/repos", nil, 404, "not_found"},
	} {
		code, b := f.do(t, "admin", c.method, c.path, c.body)
		if code != c.want || (c.code != "" && !strings.Contains(string(b), `"code": "`+c.code+`"`)) {
			t.Errorf("%s %s: %d %s, want %d %s", c.method, c.path, code, b, c.want, c.code)
		}
	}
}

func TestSecrets_TokensNeverComeBackInListings(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "reader", "POST", "/api/v1/tokens", map[string]string{"name": "ci"})
	if code != 201 {
		t.Fatal(code)
	}
	var nt struct{ Token string }
	_ = json.Unmarshal(b, &nt)
	if nt.Token == "" {
		t.Fatal("created token not returned once")
	}
	_, list := f.do(t, "reader", "GET", "/api/v1/tokens", nil)
	if bytes.Contains(list, []byte(nt.Token)) || bytes.Contains(list, []byte(f.tokens["reader"])) {
		t.Fatalf("token listing leaks a secret: %s", list)
	}
	_, audit := f.do(t, "admin", "GET", "/api/v1/audit", nil)
	if bytes.Contains(audit, []byte(nt.Token)) {
		t.Fatal("audit log leaks a secret")
	}
}

// TestGrant_HiddenAndMissingResourcesLookTheSame: a user without a role on a
// repository cannot tell from a grant attempt whether it exists.
func TestGrant_HiddenAndMissingResourcesLookTheSame(t *testing.T) {
	f := newFixture(t)
	name := f.newRepo(t)
	_, hidden := f.do(t, "stranger", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "repo/" + name, "subject": "stranger", "role": "admin"})
	_, missing := f.do(t, "stranger", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "repo/nosuch", "subject": "stranger", "role": "admin"})
	norm := strings.ReplaceAll(string(hidden), name, "NAME")
	if want := strings.ReplaceAll(string(missing), "nosuch", "NAME"); norm != want {
		t.Fatalf("answers differ:\nhidden:  %s\nmissing: %s", hidden, missing)
	}
}

func TestSecrets_ValuesNeverComeBackThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	if code, b := f.do(t, "admin", "PUT", "/api/v1/projects/default/secrets/prod/db", map[string]string{"value": "hunter2-secret"}); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := f.do(t, "admin", "PUT", "/api/v1/projects/default/secrets/bad name", map[string]string{"value": "x"}); code != 400 {
		t.Fatalf("bad name: %d %s", code, b)
	}
	for _, path := range []string{"/api/v1/projects/default/secrets", "/api/v1/audit"} {
		code, b := f.do(t, "admin", "GET", path, nil)
		if code != 200 || bytes.Contains(b, []byte("hunter2")) {
			t.Fatalf("%s: %d %s", path, code, b)
		}
		if path == "/api/v1/projects/default/secrets" && !bytes.Contains(b, []byte(`"prod/db"`)) {
			t.Fatalf("secret name not listed: %s", b)
		}
	}
	if code, _ := f.do(t, "admin", "GET", "/api/v1/projects/default/secrets/prod/db", nil); code != 404 && code != 405 {
		t.Fatalf("a secret can be read back: %d", code)
	}
}

func TestParams_NamesWithSlashesTravelEscaped(t *testing.T) {
	f := newFixture(t)
	if code, b := f.do(t, "admin", "PUT", "/api/v1/projects/default/params/%2Fapp%2Fdb", map[string]string{"value": "v1"}); code != 200 {
		t.Fatalf("%d %s", code, b)
	}
	code, b := f.do(t, "admin", "GET", "/api/v1/projects/default/params/%2Fapp%2Fdb", nil)
	if code != 200 || !bytes.Contains(b, []byte(`"name": "/app/db"`)) {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := f.do(t, "admin", "GET", "/api/v1/projects/default/params/app/db", nil); code != 404 {
		t.Fatalf("a different name matched: %d %s", code, b)
	}
}

func TestStacks_NoEchoValuesNeverComeBackThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	tmpl := "Parameters:\n  Password:\n    Type: String\n    NoEcho: true\n    Default: hunter2-default\n" +
		"Resources:\n  Thing:\n    Type: " + thingType + "\n    Properties:\n      Name: !Ref Password\n"
	in := map[string]any{"template_name": "db.yml", "template": tmpl, "parameters": map[string]string{"Password": "hunter2-given"}}
	const path = "/api/v1/projects/default/stacks/db"
	var answers [][]byte
	ask := func(method, path string, body any, want int) {
		t.Helper()
		code, b := f.do(t, "admin", method, path, body)
		if code != want {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
		answers = append(answers, b)
	}
	ask("POST", path+"/plan", in, 200)
	ask("POST", path+"/change-sets", map[string]any{"name": "first", "template_name": "db.yml", "template": tmpl,
		"parameters": map[string]string{"Password": "hunter2-given"}}, 201)
	ask("GET", path+"/change-sets/first", nil, 200)
	ask("GET", path+"/change-sets", nil, 200)
	ask("PUT", path, in, 201)
	ask("GET", path, nil, 200)
	ask("GET", "/api/v1/projects/default/stacks", nil, 200)
	ask("GET", path+"/events", nil, 200)
	ask("GET", path+"/resources", nil, 200)
	ask("POST", "/api/v1/projects/default/templates/validate", map[string]any{"template_name": "db.yml", "template": tmpl}, 200)
	ask("GET", "/api/v1/audit", nil, 200)
	for _, b := range answers {
		if bytes.Contains(b, []byte("hunter2")) {
			t.Fatalf("a NoEcho value came back: %s", b)
		}
	}
	if !bytes.Contains(answers[5], []byte(`"value": "****"`)) {
		t.Fatalf("the NoEcho parameter is not shown masked: %s", answers[5])
	}
}

func TestStacks_DeployAnswersCreatedThenUpdatedOrNoUpdates(t *testing.T) {
	f := newFixture(t)
	const path = "/api/v1/projects/default/stacks/app"
	type result struct {
		Stack struct {
			Name, Status string
		} `json:"stack"`
		NoUpdates bool `json:"no_updates"`
	}
	deploy := func(name string, want int) result {
		t.Helper()
		code, b := f.do(t, "admin", "PUT", path, thingTemplate(name))
		var res result
		if err := json.Unmarshal(b, &res); code != want || err != nil {
			t.Fatalf("deploy %s: %d %s, want %d", name, code, b, want)
		}
		return res
	}
	if res := deploy("a", 201); res.Stack.Status != "CREATE_IN_PROGRESS" || res.NoUpdates {
		t.Fatalf("create: %+v", res)
	}
	// Until its operation ends, the stack takes no other.
	code, b := f.do(t, "admin", "PUT", path, thingTemplate("b"))
	if code != 409 || !bytes.Contains(b, []byte("is in CREATE_IN_PROGRESS state and can not be updated.")) {
		t.Fatalf("update during create: %d %s", code, b)
	}
	f.stacks.Register(f.jobs)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = f.jobs.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		_, b := f.do(t, "admin", "GET", path, nil)
		if bytes.Contains(b, []byte(`"status": "CREATE_COMPLETE"`)) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the stack was not created: %s", b)
		}
	}
	if res := deploy("a", 200); !res.NoUpdates || res.Stack.Name != "app" || res.Stack.Status != "CREATE_COMPLETE" {
		t.Fatalf("same input again: %+v", res)
	}
	// The job may have moved the update on already.
	if res := deploy("b", 200); res.NoUpdates || !strings.HasPrefix(res.Stack.Status, "UPDATE_") {
		t.Fatalf("update: %+v", res)
	}
}

func TestStacks_ErrorsUseCloudFormationsWordingAndPositions(t *testing.T) {
	f := newFixture(t)
	for _, c := range []struct {
		method, path string
		body         any
		want         int
		text         []string
	}{
		{"GET", "/api/v1/projects/default/stacks/nosuch", nil, 404, []string{`"Stack with id nosuch does not exist"`}},
		{"GET", "/api/v1/projects/default/stacks/nosuch/events", nil, 404, []string{"Stack with id nosuch does not exist"}},
		{"POST", "/api/v1/projects/default/templates/validate", map[string]string{"template_name": "bad.yml",
			"template": "Resources:\n  A:\n    Type: " + thingType + "\n    Properties:\n      Name: !GetAtt Nope.Arn\n  B:\n    Properties: {}\n"},
			400, []string{"bad.yml:5:13: Template error: instance of Fn::GetAtt references undefined resource Nope", "bad.yml:6:3:", `\n`}},
		{"POST", "/api/v1/projects/default/templates/validate", map[string]any{"template_name": "t.yml",
			"template": "Parameters:\n  Env:\n    Type: String\nResources:\n  A:\n    Type: " + thingType + "\n", "parameters": map[string]string{}},
			400, []string{"t.yml:2:3: Parameters: [Env] must have values"}},
		{"PUT", "/api/v1/projects/default/stacks/9bad", thingTemplate("a"), 400, []string{"stack name"}},
		{"PUT", "/api/v1/projects/default/stacks/other", map[string]string{"template_name": "u.yml",
			"template": "Resources:\n  A:\n    Type: AWS::Nope::Thing\n"}, 400, []string{"Unrecognized resource types: [AWS::Nope::Thing]"}},
		{"POST", "/api/v1/projects/default/stacks/nosuch/change-sets/cs/execute", nil, 404, []string{"Stack with id nosuch does not exist"}},
		{"GET", "/api/v1/projects/default/stacks/nosuch/events?after=x", nil, 400, []string{"after"}},
	} {
		code, b := f.do(t, "admin", c.method, c.path, c.body)
		if code != c.want {
			t.Errorf("%s %s: %d %s, want %d", c.method, c.path, code, b, c.want)
			continue
		}
		for _, want := range c.text {
			if !bytes.Contains(b, []byte(want)) {
				t.Errorf("%s %s: %s lacks %q", c.method, c.path, b, want)
			}
		}
	}
}

func TestStacks_ATemplateOverOneMebibyteIsTooLarge(t *testing.T) {
	f := newFixture(t)
	big := map[string]string{"template_name": "big.yml", "template": "Description: " + strings.Repeat("x", 1<<20)}
	for _, path := range []string{"/api/v1/projects/default/stacks/big", "/api/v1/projects/default/templates/validate"} {
		method := "POST"
		if strings.HasSuffix(path, "/big") {
			method = "PUT"
		}
		code, b := f.do(t, "admin", method, path, big)
		if code != 413 || !bytes.Contains(b, []byte("larger than 1 MiB")) {
			t.Fatalf("%s %s: %d %s", method, path, code, b)
		}
	}
}

// execution is what the tests read of a pipeline execution.
type execution struct {
	ID, Status, Stage, Pipeline, Reason string
	Waiting                             bool
	Trigger                             struct{ Type, By string }
	Actions                             []struct {
		Stage, Action, Status string
		Decision              *struct {
			Approved    bool
			By, Comment string
		}
	}
}

func (f *fixture) execution(t *testing.T, project, id string) execution {
	t.Helper()
	code, b := f.do(t, "admin", "GET", "/api/v1/projects/"+project+"/pipeline-executions/"+id, nil)
	var e execution
	if err := json.Unmarshal(b, &e); code != 200 || err != nil {
		t.Fatalf("execution %s: %d %s", id, code, b)
	}
	return e
}

func (f *fixture) waitExecution(t *testing.T, id, what string, cond func(execution) bool) execution {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		e := f.execution(t, "default", id)
		if cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v", what, e)
		}
	}
}

func TestPipelines_OnlyTheApproveRoleDecidesAndTheExecutionGoesOn(t *testing.T) {
	f := newFixture(t)
	f.pipes.Register(f.jobs)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = f.jobs.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	name := f.newPipeline(t)
	base := "/api/v1/projects/default/pipelines/" + name
	code, b := f.do(t, "writer", "POST", base+"/executions", nil)
	var started execution
	if err := json.Unmarshal(b, &started); code != 201 || err != nil || started.Pipeline != name ||
		started.Trigger.Type != pipelinesvc.TriggerManual || started.Trigger.By != "writer" {
		t.Fatalf("start: %d %s", code, b)
	}
	waiting := func(e execution) bool {
		for _, a := range e.Actions {
			if a.Stage == "Approve" && a.Status == pipelinesvc.InProgress {
				return true
			}
		}
		return false
	}
	f.waitExecution(t, started.ID, "the approval", waiting)

	decide := map[string]any{"stage": "Approve", "action": "Approve", "approved": true, "comment": "looks good"}
	for _, actor := range []string{"writer", "teamwriter", "reader"} {
		code, b := f.do(t, actor, "POST", base+"/approvals", decide)
		if want := "approving needs the approve role on pipeline " + name + " or its project"; code != 403 || !bytes.Contains(b, []byte(want)) {
			t.Fatalf("%s decided: %d %s", actor, code, b)
		}
	}
	for _, bad := range []map[string]any{{"stage": "Approve", "action": "Approve"}, {"stage": "Approve", "approved": true},
		{"stage": "Approve", "action": "Approve", "approved": true, "comment": strings.Repeat("x", 513)}} {
		if code, b := f.do(t, "approver", "POST", base+"/approvals", bad); code != 400 {
			t.Fatalf("%v: %d %s", bad, code, b)
		}
	}
	if code, b := f.do(t, "approver", "POST", base+"/approvals", map[string]any{"stage": "Source", "action": "Source", "approved": true}); code != 400 ||
		!bytes.Contains(b, []byte("has no approval action Source in stage Source")) {
		t.Fatalf("not an approval: %d %s", code, b)
	}
	code, b = f.do(t, "approver", "POST", base+"/approvals", decide)
	var decided struct {
		Status   string
		Decision struct {
			Approved    bool
			By, Comment string
		}
	}
	if err := json.Unmarshal(b, &decided); code != 200 || err != nil || decided.Status != pipelinesvc.Succeeded ||
		decided.Decision != (struct {
			Approved    bool
			By, Comment string
		}{true, "approver", "looks good"}) {
		t.Fatalf("approve: %d %s", code, b)
	}
	e := f.waitExecution(t, started.ID, "the end", func(e execution) bool { return e.Status != pipelinesvc.InProgress })
	if e.Status != pipelinesvc.Succeeded {
		t.Fatalf("execution ended %+v", e)
	}
	// Decided once: nothing waits any more.
	if code, b := f.do(t, "approver", "POST", base+"/approvals", decide); code != 409 || !bytes.Contains(b, []byte("waits for approval Approve/Approve")) {
		t.Fatalf("second decision: %d %s", code, b)
	}

	// A rejection ends the execution Failed.
	code, b = f.do(t, "owner", "POST", base+"/executions", nil)
	if err := json.Unmarshal(b, &started); code != 201 || err != nil {
		t.Fatalf("start: %d %s", code, b)
	}
	f.waitExecution(t, started.ID, "the approval", waiting)
	if code, b := f.do(t, "owner", "POST", base+"/approvals", map[string]any{"stage": "Approve", "action": "Approve",
		"approved": false, "execution_id": started.ID}); code != 200 {
		t.Fatalf("reject: %d %s", code, b)
	}
	e = f.waitExecution(t, started.ID, "the end", func(e execution) bool { return e.Status != pipelinesvc.InProgress })
	if e.Status != pipelinesvc.Failed || e.Stage != "Approve" {
		t.Fatalf("rejected execution: %+v", e)
	}
}

func TestPipelines_DeclarationProblemsComeAllAtOnceAndOtherProjectsStayHidden(t *testing.T) {
	f := newFixture(t)
	// The body travels compacted, on one line.
	code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/pipelines",
		json.RawMessage(`{"Name": "bad name", "Stages": [{"Name": "Source", "Actions": []}]}`))
	var e struct {
		Error struct{ Code, Message string } `json:"error"`
	}
	if err := json.Unmarshal(b, &e); code != 400 || err != nil || e.Error.Code != "invalid_request" ||
		!strings.Contains(e.Error.Message, `request body:1:9: the pipeline name "bad name" contains a space`) ||
		strings.Count(e.Error.Message, "\n") != 3 {
		t.Fatalf("bad declaration: %d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/pipelines", approvalPipeline("twice")); code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/pipelines", approvalPipeline("twice")); code != 409 {
		t.Fatalf("the same name twice: %d %s", code, b)
	}

	if code, b := f.do(t, "admin", "POST", "/api/v1/projects", map[string]string{"name": "other"}); code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/other/pipelines", approvalPipeline("twice")); code != 201 {
		t.Fatalf("the same name in another project: %d %s", code, b)
	}
	code, b = f.do(t, "admin", "POST", "/api/v1/projects/other/pipelines/twice/executions", nil)
	var started execution
	if err := json.Unmarshal(b, &started); code != 201 || err != nil {
		t.Fatalf("start: %d %s", code, b)
	}
	if got := f.execution(t, "other", started.ID); got.Pipeline != "twice" {
		t.Fatalf("execution: %+v", got)
	}
	code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/pipeline-executions/"+started.ID, nil)
	if code != 404 || !bytes.Contains(b, []byte("pipeline execution "+started.ID+" not found")) {
		t.Fatalf("another project's execution: %d %s", code, b)
	}
}

func TestPipelines_StopAndTransitionsNameTheCallerAndCheckTheirBodies(t *testing.T) {
	f := newFixture(t)
	f.pipes.Register(f.jobs)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = f.jobs.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	name := f.newPipeline(t)
	base := "/api/v1/projects/default/pipelines/" + name
	for _, bad := range []struct {
		body any
		want string
	}{
		{map[string]any{"enabled": false, "reason": "x"}, "stage: name the stage"},
		{map[string]any{"stage": "Approve", "reason": "x"}, "enabled: say false"},
		{map[string]any{"stage": "Approve", "enabled": false}, "give a reason for disabling the transition into Approve"},
		{map[string]any{"stage": "Nosuch", "enabled": false, "reason": "x"}, "pipeline " + name + " has no stage Nosuch"},
		{map[string]any{"stage": "Approve", "enabled": false, "reason": strings.Repeat("x", 301)}, "the most is 300"},
	} {
		if code, b := f.do(t, "writer", "POST", base+"/transitions", bad.body); code != 400 || !bytes.Contains(b, []byte(bad.want)) {
			t.Fatalf("%v: %d %s", bad.body, code, b)
		}
	}
	if code, b := f.do(t, "writer", "POST", base+"/transitions", map[string]any{"stage": "Approve", "enabled": false, "reason": "freeze"}); code != 204 {
		t.Fatalf("disable: %d %s", code, b)
	}
	var pl struct {
		Disabled map[string]string `json:"disabled_transitions"`
	}
	if code, b := f.do(t, "reader", "GET", base, nil); code != 200 || json.Unmarshal(b, &pl) != nil || pl.Disabled["Approve"] != "freeze" {
		t.Fatalf("disabled pipeline: %d %s", code, b)
	}

	code, b := f.do(t, "writer", "POST", base+"/executions", nil)
	var started execution
	if err := json.Unmarshal(b, &started); code != 201 || err != nil {
		t.Fatalf("start: %d %s", code, b)
	}
	f.waitExecution(t, started.ID, "the disabled transition", func(e execution) bool { return e.Stage == "Approve" && e.Waiting })
	at := "/api/v1/projects/default/pipeline-executions/" + started.ID
	if code, b := f.do(t, "writer", "POST", at+"/retry", map[string]string{"stage": "Approve"}); code != 409 ||
		!bytes.Contains(b, []byte("only a failed stage can be retried")) {
		t.Fatalf("retry of a waiting execution: %d %s", code, b)
	}
	if code, b := f.do(t, "writer", "POST", at+"/retry", map[string]string{}); code != 400 {
		t.Fatalf("retry without a stage: %d %s", code, b)
	}
	if code, b := f.do(t, "writer", "POST", at+"/stop", map[string]string{"reason": strings.Repeat("x", 201)}); code != 400 {
		t.Fatalf("a long reason: %d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects", map[string]string{"name": "other"}); code != 201 {
		t.Fatalf("%d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/other/pipeline-executions/"+started.ID+"/stop", map[string]any{}); code != 404 ||
		!bytes.Contains(b, []byte("pipeline execution "+started.ID+" not found")) {
		t.Fatalf("stop through another project: %d %s", code, b)
	}
	if code, b := f.do(t, "writer", "POST", at+"/stop", map[string]any{"reason": "wrong commit"}); code != 200 {
		t.Fatalf("stop: %d %s", code, b)
	}
	e := f.waitExecution(t, started.ID, "the end", func(e execution) bool { return e.Status != pipelinesvc.InProgress && e.Status != pipelinesvc.Stopping })
	if e.Status != pipelinesvc.Stopped || e.Reason != "stopped by writer: wrong commit" {
		t.Fatalf("stopped execution: %+v", e)
	}
	if code, b := f.do(t, "writer", "POST", at+"/stop", map[string]any{}); code != 409 || !bytes.Contains(b, []byte("not in progress")) {
		t.Fatalf("second stop: %d %s", code, b)
	}

	if code, b := f.do(t, "writer", "POST", base+"/transitions", map[string]any{"stage": "Approve", "enabled": true}); code != 204 {
		t.Fatalf("enable: %d %s", code, b)
	}
	// Unmarshal merges into a map: read into an empty one.
	pl.Disabled = nil
	if code, b := f.do(t, "reader", "GET", base, nil); code != 200 || json.Unmarshal(b, &pl) != nil || len(pl.Disabled) != 0 {
		t.Fatalf("enabled pipeline: %d %s", code, b)
	}
}

func TestLoadBalancersAndDNS_ShowThePortMappingAndTakeRegistrations(t *testing.T) {
	f := newFixture(t)
	code, b := f.do(t, "admin", "GET", "/api/v1/projects/default/load-balancers", nil)
	var lbs []struct {
		Name      string `json:"name"`
		DNSName   string `json:"dns_name"`
		Listeners []struct {
			Port         int    `json:"port"`
			LocalAddress string `json:"local_address"`
		} `json:"listeners"`
	}
	if err := json.Unmarshal(b, &lbs); code != 200 || err != nil || len(lbs) != 1 || len(lbs[0].Listeners) != 1 {
		t.Fatalf("load balancers: %d %s", code, b)
	}
	l := lbs[0]
	_, port, _ := strings.Cut(l.Listeners[0].LocalAddress, "127.0.0.1:")
	if l.Name != "web" || l.Listeners[0].Port != 80 || port == "" || port == "0" || l.DNSName != "web.lb.localhost:"+port {
		t.Errorf("load balancer %+v", l)
	}
	code, b = f.do(t, "admin", "POST", "/api/v1/projects/default/target-groups/web-tg/targets",
		map[string]any{"targets": []any{map[string]any{"id": "i-9"}, map[string]any{"id": "i-8", "port": 9000}}})
	var th []struct {
		ID    string `json:"id"`
		Port  int    `json:"port"`
		State string `json:"state"`
	}
	if err := json.Unmarshal(b, &th); code != 200 || err != nil || len(th) != 2 ||
		th[0].ID != "i-8" || th[0].Port != 9000 || th[1].ID != "i-9" || th[1].Port != 8000 {
		t.Fatalf("register: %d %s", code, b)
	}
	code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/load-balancers/web", nil)
	if code != 200 || !strings.Contains(string(b), `"rules": []`) || !strings.Contains(string(b), `"id": "i-9"`) {
		t.Errorf("load balancer detail: %d %s", code, b)
	}
	code, b = f.do(t, "admin", "GET", "/api/v1/projects/default/hosted-zones", nil)
	var zones struct {
		DNSAddress  string `json:"dns_address"`
		HostedZones []struct {
			Name string `json:"name"`
		} `json:"hosted_zones"`
	}
	if err := json.Unmarshal(b, &zones); code != 200 || err != nil || !strings.HasPrefix(zones.DNSAddress, "127.0.0.1:") ||
		len(zones.HostedZones) != 1 || zones.HostedZones[0].Name != "example.internal." {
		t.Errorf("hosted zones: %d %s", code, b)
	}
}

// agentPoll long-polls for a command with an agent's credential, from any
// goroutine.
func (f *fixture) agentPoll(token string, wait int) (int, []byte, error) {
	req, _ := http.NewRequest("GET", fmt.Sprintf("%s/api/v1/agent/commands?wait=%d", f.srv.URL, wait), nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, b, err
}

// registerHost registers an on-premises host tagged role=role through the
// API and makes its credential the token of actor name.
func (f *fixture) registerHost(t *testing.T, name, role string) string {
	t.Helper()
	code, b := f.do(t, "teamwriter", "POST", "/api/v1/projects/default/on-premises-instances",
		map[string]any{"name": name, "tags": map[string]string{"role": role}})
	var reg struct {
		Host struct {
			ID   string            `json:"id"`
			Tags map[string]string `json:"tags"`
		} `json:"host"`
		Token string `json:"token"`
	}
	if err := json.Unmarshal(b, &reg); code != 201 || err != nil || !strings.HasPrefix(reg.Token, deploy.HostTokenPrefix) || reg.Host.Tags["role"] != role {
		t.Fatalf("register %s: %d %s", name, code, b)
	}
	f.tokens[name] = reg.Token
	return reg.Host.ID
}

func TestDeploy_AnAgentLongPollsItsHostsCommandsAndNoOtherHostsOnes(t *testing.T) {
	f := newFixture(t)
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() { _ = f.jobs.Run(ctx); close(stopped) }()
	t.Cleanup(func() { cancel(); <-stopped })
	def, err := f.auth.Project(ctx, auth.DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	shop := f.registerHost(t, "shop-1", "shop")
	f.registerHost(t, "db-1", "db")
	if code, b := f.do(t, "teamwriter", "POST", "/api/v1/projects/default/applications", map[string]string{"name": "shop"}); code != 201 {
		t.Fatalf("create application: %d %s", code, b)
	}
	if _, err := f.deploys.CreateGroup(ctx, def.ID, "shop", "prod", "", deploy.GroupSpec{TagFilters: []deploy.TagFilter{{Key: "role", Value: "shop"}}}); err != nil {
		t.Fatal(err)
	}
	archive := revisionZip("shop v1")
	code, b := f.do(t, "teamwriter", "POST", "/api/v1/projects/default/applications/shop/revisions?description=v1", rawBody{"application/zip", archive})
	var rev struct {
		Digest, Description string
		BundleType          string `json:"bundle_type"`
	}
	if err := json.Unmarshal(b, &rev); code != 201 || err != nil || rev.BundleType != "zip" || rev.Description != "v1" {
		t.Fatalf("upload revision: %d %s", code, b)
	}
	if code, b, err := f.agentPoll(f.tokens["shop-1"], 1); err != nil || code != 204 {
		t.Fatalf("poll with nothing to do: %d %s %v", code, b, err)
	}

	type answer struct {
		code int
		body []byte
		err  error
	}
	polled := make(chan answer, 1)
	go func() {
		code, b, err := f.agentPoll(f.tokens["shop-1"], 600) // the server's bound applies
		polled <- answer{code, b, err}
	}()
	code, b = f.do(t, "teamwriter", "POST", "/api/v1/projects/default/deployments",
		map[string]any{"application": "shop", "deployment_group": "prod", "revision": rev.Digest, "description": "first"})
	var d struct {
		ID, Status string
		CreatedBy  string `json:"created_by"`
	}
	if err := json.Unmarshal(b, &d); code != 201 || err != nil || d.Status != deploy.Created || d.CreatedBy != "teamwriter" {
		t.Fatalf("create deployment: %d %s", code, b)
	}
	got := <-polled
	var cmd struct {
		ID       string `json:"id"`
		Event    string `json:"event"`
		Deploy   string `json:"deployment_id"`
		Revision struct{ Digest string }
	}
	if err := json.Unmarshal(got.body, &cmd); got.err != nil || got.code != 200 || err != nil || cmd.ID == "" || cmd.Event == "" ||
		cmd.Deploy != d.ID || cmd.Revision.Digest != rev.Digest {
		t.Fatalf("long poll: %d %s %v", got.code, got.body, got.err)
	}

	at := "/api/v1/agent/commands/" + cmd.ID
	for _, r := range []struct {
		method, path string
		body         any
	}{
		{"POST", at + "/ack", nil},
		{"POST", at + "/log", rawBody{"text/plain", []byte("[stdout]not mine\n")}},
		{"POST", at + "/complete", map[string]any{"status": "Failed", "diagnostics": map[string]string{"error_code": "ScriptFailed", "message": "no"}}},
		{"GET", at + "/bundle", nil},
	} {
		if code, b := f.do(t, "db-1", r.method, r.path, r.body); code != 404 {
			t.Fatalf("%s %s by another host: %d %s", r.method, r.path, code, b)
		}
	}
	if code, b := f.do(t, "shop-1", "POST", at+"/ack", nil); code != 200 || !bytes.Contains(b, []byte(`"status": "InProgress"`)) {
		t.Fatalf("ack: %d %s", code, b)
	}
	if code, b := f.do(t, "shop-1", "GET", at+"/bundle", nil); code != 200 || !bytes.Equal(b, archive) {
		t.Fatalf("bundle: %d, %d bytes", code, len(b))
	}
	for _, chunk := range []string{"[stdout]hello\n", ""} {
		if code, b := f.do(t, "shop-1", "POST", at+"/log", rawBody{"text/plain", []byte(chunk)}); code != 204 {
			t.Fatalf("log %q: %d %s", chunk, code, b)
		}
	}
	code, b = f.do(t, "reader", "GET", "/api/v1/projects/default/deployments/"+d.ID+"/logs?instance="+shop, nil)
	if code != 403 {
		t.Fatalf("logs without read on the project: %d %s", code, b)
	}
	code, b = f.do(t, "teamwriter", "GET", "/api/v1/projects/default/deployments/"+d.ID+"/logs?instance="+shop, nil)
	var logs struct {
		Status string `json:"deployment_status"`
		Chunks []struct {
			Seq   int64
			Event string
			Text  string
		}
	}
	if err := json.Unmarshal(b, &logs); code != 200 || err != nil || len(logs.Chunks) != 1 || logs.Chunks[0].Text != "[stdout]hello\n" ||
		logs.Chunks[0].Event != cmd.Event || logs.Status != deploy.InProgress {
		t.Fatalf("deployment logs: %d %s", code, b)
	}
	outcome := map[string]any{"status": "Succeeded", "diagnostics": map[string]string{"error_code": "Success", "message": "Succeeded"}}
	if code, b := f.do(t, "shop-1", "POST", at+"/complete", outcome); code != 204 {
		t.Fatalf("complete: %d %s", code, b)
	}
	if code, b := f.do(t, "shop-1", "POST", at+"/complete", outcome); code != 409 || !bytes.Contains(b, []byte("has ended already")) {
		t.Fatalf("complete twice: %d %s", code, b)
	}

	// Completions are audited as the host's agent; polls, acks and logs
	// are not, and no credential is written down.
	_, audit := f.do(t, "admin", "GET", "/api/v1/audit?limit=500", nil)
	var es []auth.AuditEntry
	if err := json.Unmarshal(audit, &es); err != nil {
		t.Fatal(err)
	}
	var completes []int
	for _, e := range es {
		if strings.HasPrefix(e.Action, "POST /api/v1/agent/commands/{id}/") && e.Action != "POST /api/v1/agent/commands/{id}/complete" {
			t.Errorf("audited %s", e.Action)
		}
		if e.Action == "POST /api/v1/agent/commands/{id}/complete" && e.Actor == "agent:"+shop {
			completes = append(completes, e.Status)
		}
	}
	if fmt.Sprint(completes) != "[409 204]" {
		t.Errorf("audited completions of %s: %v", shop, completes)
	}
	for _, tok := range []string{f.tokens["shop-1"], f.tokens["db-1"]} {
		if bytes.Contains(audit, []byte(tok)) {
			t.Fatal("the audit log holds an agent's credential")
		}
	}

	// An agent's credential is nobody's on user routes; a revoked host's
	// is nothing.
	if code, b := f.do(t, "db-1", "GET", "/api/v1/projects/default/applications", nil); code != 401 {
		t.Fatalf("an agent credential on a user route: %d %s", code, b)
	}
	if code, b := f.do(t, "teamwriter", "DELETE", "/api/v1/projects/default/on-premises-instances/shop-1", nil); code != 204 {
		t.Fatalf("revoke: %d %s", code, b)
	}
	for _, path := range []string{"/api/v1/agent/commands?wait=0", "/api/v1/agent/host", at + "/bundle"} {
		if code, b := f.do(t, "shop-1", "GET", path, nil); code != 401 || !bytes.Contains(b, []byte("takes a deployment agent's credential")) {
			t.Fatalf("%s with a revoked host's credential: %d %s", path, code, b)
		}
	}
	if code, b := f.do(t, "db-1", "GET", "/api/v1/agent/host", nil); code != 200 || !bytes.Contains(b, []byte(`"name": "db-1"`)) {
		t.Fatalf("the other host: %d %s", code, b)
	}
}

func TestDeploy_ErrorsSayWhatIsWrongAndWhatToDo(t *testing.T) {
	f := newFixture(t)
	const p = "/api/v1/projects/default"
	for _, c := range []struct {
		method, path string
		body         any
		want         int
		text         string
	}{
		{"POST", p + "/applications", map[string]string{"name": "web"}, 409, `"application web already exists"`},
		{"POST", p + "/applications", map[string]string{"name": "bad name"}, 400, `application name \"bad name\"`},
		{"GET", p + "/applications/nosuch", nil, 404, `"application nosuch not found"`},
		{"DELETE", p + "/applications/web", nil, 409, `"application web has a deployment in progress; stop it first (slipway deploy stop)"`},
		{"POST", p + "/deployments", map[string]string{"application": "web", "deployment_group": "web-group", "revision": f.revision}, 409,
			"already has an active deployment '" + f.deployment + "'; wait for it or stop it (slipway deploy stop " + f.deployment + `)"`},
		{"POST", p + "/deployments", map[string]string{"application": "web", "deployment_group": "web-group", "revision": "sha256:" + strings.Repeat("0", 64)}, 404,
			"is not a revision of application web: register it first"},
		{"POST", p + "/deployments", map[string]string{"application": "web", "deployment_group": "web-group"}, 400, "revision: give the digest"},
		{"POST", p + "/deployments", map[string]any{"application": "web", "deployment_group": "web-group", "revision": f.revision,
			"auto_rollback": map[string]any{"enabled": true}}, 400, "auto_rollback is enabled with no events"},
		{"POST", p + "/applications/web/revisions", map[string]string{"archive": "no"}, 415, "with Content-Type application/zip"},
		{"POST", p + "/applications/web/revisions", rawBody{"application/zip", []byte("not an archive at all")}, 400, "not a zip, tar or tgz archive"},
		{"GET", p + "/deployments/" + f.deployment + "/logs", nil, 400, "instance: name the instance"},
		{"POST", p + "/on-premises-instances", map[string]string{"name": "agent-host"}, 409, "is registered already; revoke it first (slipway onprem revoke agent-host)\""},
		{"POST", p + "/on-premises-instances", map[string]any{"name": "x", "tags": map[string]string{"": "v"}}, 400, "every tag needs a key"},
		{"POST", p + "/deployment-configs", map[string]any{"name": "CodeDeployDefault.AllAtOnce", "minimum_healthy_hosts": map[string]any{"type": "HOST_COUNT", "value": 0}}, 409,
			`"deployment configuration CodeDeployDefault.AllAtOnce is predefined"`},
		{"POST", p + "/deployment-configs", map[string]any{"name": "most", "minimum_healthy_hosts": map[string]any{"type": "FLEET_PERCENT", "value": 100}}, 400,
			"FLEET_PERCENT must be from 0 to 99"},
		{"GET", "/api/v1/agent/commands", nil, 401, "takes a deployment agent's credential"},
	} {
		code, b := f.do(t, "admin", c.method, c.path, c.body)
		if code != c.want || !bytes.Contains(b, []byte(c.text)) {
			t.Errorf("%s %s: %d %s, want %d and %q", c.method, c.path, code, b, c.want, c.text)
		}
	}
}

// TestUploads_ArchivesMayBeLargerThanJSONBodies: revision and build source
// uploads take up to 1 GiB, while JSON stays bounded at 1 MiB.
func TestUploads_ArchivesMayBeLargerThanJSONBodies(t *testing.T) {
	f := newFixture(t)
	var buf bytes.Buffer
	zw := zip.NewWriter(&buf)
	w, _ := zw.CreateHeader(&zip.FileHeader{Name: "appspec.yml", Method: zip.Store})
	_, _ = io.WriteString(w, "version: 0.0\nos: linux\n")
	// Stored random bytes do not shrink: the archive is over 2 MiB.
	w, _ = zw.CreateHeader(&zip.FileHeader{Name: "blob", Method: zip.Store})
	blob := make([]byte, 2<<20)
	_, _ = rand.Read(blob)
	_, _ = w.Write(blob)
	_ = zw.Close()
	big := rawBody{"application/zip", buf.Bytes()}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/applications/web/revisions", big); code != 201 {
		t.Fatalf("revision upload: %d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/build-projects", map[string]string{"name": "big"}); code != 201 {
		t.Fatalf("build project: %d %s", code, b)
	}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/build-projects/big/builds", big); code != 201 {
		t.Fatalf("build upload: %d %s", code, b)
	}
	huge := map[string]string{"source": strings.Repeat("x", 2<<20)}
	if code, b := f.do(t, "admin", "POST", "/api/v1/projects/default/build-projects/big/builds", huge); code != 400 || !bytes.Contains(b, []byte("request body too large")) {
		t.Fatalf("a JSON body over 1 MiB: %d %.200s", code, b)
	}
}
