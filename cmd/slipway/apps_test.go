package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/client"
)

func TestParseParams_ValuesMayHoldEqualsAndCommas(t *testing.T) {
	got, err := parseParams([]string{"Branch=main", "GoCache=", "Flags=a=b,c"})
	if want := map[string]string{"Branch": "main", "GoCache": "", "Flags": "a=b,c"}; err != nil || !reflect.DeepEqual(got, want) {
		t.Errorf("parseParams = %v, %v; want %v", got, err, want)
	}
	for _, words := range [][]string{{"Branch"}, {"=main"}, {"A=1", "A=2"}} {
		if _, err := parseParams(words); err == nil {
			t.Errorf("parseParams(%q) accepted", words)
		}
	}
}

// untar lists a gzipped tar's entries with the contents of its files.
func untar(t *testing.T, data []byte) map[string]string {
	t.Helper()
	zr, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(zr)
	out := map[string]string{}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(tr)
		out[h.Name] = string(b)
	}
}

// blueprintDir makes a blueprint directory with a .git directory and a
// .git file in a subdirectory (a submodule's).
func blueprintDir(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, d := range []string{".git/objects", "app/vendor"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	writeFile(t, dir, "blueprint.yml", "name: demo\n")
	writeFile(t, dir, "app/main.go", "package main\n")
	writeFile(t, dir, ".git/HEAD", "ref: refs/heads/main\n")
	writeFile(t, dir, "app/vendor/.git", "gitdir: ../../.git/modules/vendor\n")
	if err := os.Symlink("main.go", filepath.Join(dir, "app/link.go")); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestPackBlueprint_PacksTheDirectoryWithoutGit(t *testing.T) {
	dir := blueprintDir(t)
	var buf bytes.Buffer
	if err := packBlueprint(&buf, dir); err != nil {
		t.Fatal(err)
	}
	got := untar(t, buf.Bytes())
	want := map[string]string{"blueprint.yml": "name: demo\n", "app/": "", "app/main.go": "package main\n", "app/link.go": "", "app/vendor/": ""}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("packed %v, want %v", got, want)
	}
}

// fakeApps answers App with apps in turn (the last one again and again)
// and GetPipelineExecution with exec.
type fakeApps struct {
	apps  []client.App
	exec  *client.PipelineExecution
	calls int
	// onCall runs before each App call with its number (from 1).
	onCall func(n int)
	// gone: App answers not found from this call on (0: never).
	gone int
}

func (f *fakeApps) App(ctx context.Context, _, _ string) (*client.App, error) {
	f.calls++
	if f.onCall != nil {
		f.onCall(f.calls)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if f.gone > 0 && f.calls >= f.gone {
		return nil, &client.Error{Status: 404, Code: "not_found", Message: "application hello not found"}
	}
	a := f.apps[min(f.calls, len(f.apps))-1]
	return &a, nil
}

func (f *fakeApps) GetPipelineExecution(context.Context, string, string) (*client.PipelineExecution, error) {
	if f.exec == nil {
		return nil, &client.Error{Status: 404, Message: "pipeline execution not found"}
	}
	return f.exec, nil
}

// appAt is application hello in status, once made: its clone URL and
// pipeline, its environments staging and production, and latest as its
// newest execution.
func appAt(status string, latest *client.AppExecution, staging client.AppEnvironment) client.App {
	a := client.App{Name: "hello", Blueprint: "go-service", Status: status, PipelineStack: "hello-pipeline", LatestExecution: latest}
	if status != client.AppCreateInProgress {
		a.CloneURL, a.Pipeline, a.Repository = "http://127.0.0.1:8080/git/hello.git", "hello", "hello"
		staging.Name, staging.Stack, staging.Stage = "staging", "hello-staging", "Staging"
		a.Environments = []client.AppEnvironment{staging, {Name: "production", Stack: "hello-production", Status: "NOT_CREATED", Stage: "Production"}}
	}
	return a
}

func latestAt(stage, status string) *client.AppExecution {
	return &client.AppExecution{ID: "e2", Stage: stage, Status: status, Trigger: "CloudWatchEvent"}
}

func TestAppFollower_PrintsEachChangeUntilStagingIsLiveAndNamesTheApproval(t *testing.T) {
	notCreated := client.AppEnvironment{Status: "NOT_CREATED"}
	live := client.AppEnvironment{Status: "CREATE_COMPLETE", URL: "http://hello-staging.example.internal", Revision: "0123456789abcdef"}
	r := &fakeApps{
		apps: []client.App{
			appAt(client.AppCreateInProgress, nil, notCreated),
			appAt(client.AppCreateInProgress, nil, notCreated),
			// The execution making the pipeline started fails on the empty
			// repository: it is no failure of the application.
			appAt(client.AppCreateComplete, &client.AppExecution{ID: "e1", Stage: "Source", Status: "Failed", Trigger: "CreatePipeline"}, notCreated),
			appAt(client.AppCreateComplete, latestAt("Source", "InProgress"), notCreated),
			appAt(client.AppCreateComplete, latestAt("Build", "InProgress"), notCreated),
			appAt(client.AppCreateComplete, latestAt("Build", "InProgress"), notCreated),
			appAt(client.AppCreateComplete, latestAt("Staging", "InProgress"), notCreated),
			// Past staging, not at the approval yet.
			appAt(client.AppCreateComplete, latestAt("Approve", "InProgress"), live),
		},
		exec: &client.PipelineExecution{ID: "e2", Status: "InProgress", Actions: []client.ActionExecution{
			{Stage: "Build", Action: "Build", Status: "Succeeded", Category: "Build"},
			{Stage: "Approve", Action: "Promote", Status: "InProgress", Category: "Approval"},
		}},
	}
	var out bytes.Buffer
	f := &appFollower{r: r, project: "default", name: "hello", out: &out}
	if err := f.follow(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"Application hello: CREATE_IN_PROGRESS, creating its pipeline stack hello-pipeline (repository, build project, deployment application, pipeline)...",
		"Application hello: CREATE_COMPLETE, its repository holds the go-service blueprint's starter content",
		"Clone:  git clone http://127.0.0.1:8080/git/hello.git",
		"Watch:  slipway pipeline executions hello  (or slipway app get hello)",
		"Pipeline execution e2: Source InProgress",
		"Pipeline execution e2: Build InProgress",
		"Pipeline execution e2: Staging InProgress",
		"Pipeline execution e2: Approve InProgress",
		"staging is live: http://hello-staging.example.internal (commit 0123456789ab)",
		"Waiting for approval: slipway approve hello Approve Promote",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if r.calls != len(r.apps) {
		t.Errorf("read the application %d times, want %d", r.calls, len(r.apps))
	}
}

// slipway up watches its sample for as long as it runs: each execution's
// stages, each environment's new revision, each approval that waits and
// each failure, once.
func TestAppFollower_WatchFollowsEveryExecutionUntilItsContextEnds(t *testing.T) {
	live := func(rev string) client.AppEnvironment {
		return client.AppEnvironment{Status: "CREATE_COMPLETE", URL: "http://staging.test", Revision: rev}
	}
	at := func(id, stage, status string, staging client.AppEnvironment) client.App {
		return appAt(client.AppCreateComplete, &client.AppExecution{ID: id, Stage: stage, Status: status, Trigger: "CloudWatchEvent"}, staging)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &fakeApps{
		apps: []client.App{
			at("e2", "Approve", "InProgress", live("aaaaaaaaaaaaaaaa")),
			at("e2", "Approve", "InProgress", live("aaaaaaaaaaaaaaaa")),
			at("e3", "Build", "Failed", live("aaaaaaaaaaaaaaaa")),
			at("e3", "Build", "Failed", live("aaaaaaaaaaaaaaaa")),
			at("e4", "Approve", "InProgress", live("bbbbbbbbbbbbbbbb")),
		},
		exec: &client.PipelineExecution{ID: "eX", Status: "InProgress", Actions: []client.ActionExecution{
			{Stage: "Build", Action: "Build", Status: "Failed", Category: "Build", Error: "go vet: main.go:3: bad"},
			{Stage: "Approve", Action: "Promote", Status: "InProgress", Category: "Approval"},
		}},
		onCall: func(n int) {
			if n == 8 {
				cancel()
			}
		},
	}
	var out bytes.Buffer
	err := (&appFollower{r: r, project: "default", name: "hello", out: &out, watch: true}).follow(ctx)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 130 {
		t.Errorf("watching ended with %v, want the exit of an interrupted follow", err)
	}
	want := []string{
		"Application hello: CREATE_COMPLETE, its repository holds the go-service blueprint's starter content",
		"Clone:  git clone http://127.0.0.1:8080/git/hello.git",
		"Watch:  slipway pipeline executions hello  (or slipway app get hello)",
		"Pipeline execution e2: Approve InProgress",
		"staging is live: http://staging.test (commit aaaaaaaaaaaa)",
		"Waiting for approval: slipway approve hello Approve Promote",
		"Pipeline execution e3: Build Failed",
		"Pipeline execution e3 ended Failed: Build/Build failed: go vet: main.go:3: bad",
		"Pipeline execution e4: Approve InProgress",
		"staging is live: http://staging.test (commit bbbbbbbbbbbb)",
		"Waiting for approval: slipway approve hello Approve Promote",
	}
	if got := strings.Split(strings.TrimSpace(out.String()), "\n"); !slices.Equal(got, want) {
		t.Errorf("printed:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestAppFollower_PictureMarksEachStage(t *testing.T) {
	stages := []string{"Source", "Build", "Staging", "Approvals", "Production"}
	for _, c := range []struct {
		e     client.AppExecution
		color bool
		want  string
	}{
		{client.AppExecution{ID: "e1", Stage: "Staging", Status: "InProgress", Commit: "0123456789abcdef"}, false,
			"Pipeline execution e1 (commit 0123456789ab): Source ✓  Build ✓  Staging …  Approvals ·  Production ·"},
		{client.AppExecution{ID: "e1", Stage: "Build", Status: "Failed"}, false,
			"Pipeline execution e1: Source ✓  Build ✗  Staging ·  Approvals ·  Production ·"},
		{client.AppExecution{ID: "e1", Stage: "Approvals", Status: "Stopped"}, false,
			"Pipeline execution e1: Source ✓  Build ✓  Staging ✓  Approvals ■  Production ·"},
		{client.AppExecution{ID: "e1", Stage: "Production", Status: "Succeeded"}, false,
			"Pipeline execution e1: Source ✓  Build ✓  Staging ✓  Approvals ✓  Production ✓"},
		{client.AppExecution{ID: "e1", Stage: "Build", Status: "InProgress"}, true,
			"Pipeline execution e1: \x1b[32mSource ✓\x1b[0m  \x1b[33mBuild …\x1b[0m  Staging ·  Approvals ·  Production ·"},
		{client.AppExecution{ID: "e1", Stage: "Elsewhere", Status: "InProgress"}, false, "Pipeline execution e1: Elsewhere InProgress"},
	} {
		if got := (&appFollower{color: c.color}).picture(stages, &c.e); got != c.want {
			t.Errorf("picture(%+v) =\n%q, want\n%q", c.e, got, c.want)
		}
	}
}

func TestAppFollower_FailuresBeforeTheFirstEnvironmentIsLiveExitNonZeroWithTheReason(t *testing.T) {
	notCreated := client.AppEnvironment{Status: "NOT_CREATED"}
	for _, c := range []struct {
		name string
		r    *fakeApps
		want string
	}{
		{"creation", &fakeApps{apps: []client.App{func() client.App {
			a := appAt(client.AppCreateFailed, nil, notCreated)
			a.StatusReason = "the pipeline stack hello-pipeline is ROLLBACK_COMPLETE: bad"
			return a
		}()}}, "application hello CREATE_FAILED: the pipeline stack hello-pipeline is ROLLBACK_COMPLETE: bad"},
		{"execution", &fakeApps{apps: []client.App{appAt(client.AppCreateComplete, latestAt("Build", "Failed"), notCreated)},
			exec: &client.PipelineExecution{ID: "e2", Status: "Failed", Actions: []client.ActionExecution{
				{Stage: "Build", Action: "Build", Status: "Failed", Error: "build hello:1 FAILED in phase BUILD:\n go test: exit status 1"}}}},
			"pipeline execution e2 of application hello ended Failed before staging was live: Build/Build failed: build hello:1 FAILED in phase BUILD: go test: exit status 1"},
		{"deleted meanwhile", &fakeApps{apps: []client.App{appAt(client.AppDeleteInProgress, nil, notCreated)}}, "application hello is DELETE_IN_PROGRESS"},
	} {
		var out bytes.Buffer
		err := (&appFollower{r: c.r, project: "default", name: "hello", out: &out}).follow(context.Background())
		var ee *exitError
		if !errors.As(err, &ee) || ee.code != 1 || !strings.Contains(ee.msg, c.want) {
			t.Errorf("%s: %v, want exit 1 with %q", c.name, err, c.want)
		}
	}
}

func TestAppFollower_CancellingStopsFollowingNotTheApplication(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := &fakeApps{apps: []client.App{appAt(client.AppCreateInProgress, nil, client.AppEnvironment{})},
		onCall: func(n int) {
			if n == 3 {
				cancel()
			}
		}}
	var out bytes.Buffer
	err := (&appFollower{r: r, project: "team-a", name: "hello", out: &out}).follow(ctx)
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 130 || !strings.Contains(ee.msg, "slipway app get hello -p team-a") {
		t.Errorf("cancelled: %v", err)
	}
	if strings.Count(out.String(), "\n") != 1 {
		t.Errorf("printed %q", out.String())
	}
}

func TestWaitAppDeleted_EndsWhenTheApplicationIsGoneOrItsDeletionFailed(t *testing.T) {
	var out bytes.Buffer
	r := &fakeApps{apps: []client.App{appAt(client.AppDeleteInProgress, nil, client.AppEnvironment{})}, gone: 3}
	if err := waitAppDeleted(context.Background(), r, "default", "hello", &out, 0); err != nil || out.String() != "Application hello deleted\n" {
		t.Errorf("deleted: %v %q", err, out.String())
	}
	failed := appAt(client.AppDeleteFailed, nil, client.AppEnvironment{})
	failed.StatusReason = "stack hello-staging: DELETE_FAILED"
	r = &fakeApps{apps: []client.App{appAt(client.AppDeleteInProgress, nil, client.AppEnvironment{}), failed}}
	err := waitAppDeleted(context.Background(), r, "default", "hello", &out, 0)
	var ee *exitError
	if !errors.As(err, &ee) || !strings.Contains(ee.msg, "application hello DELETE_FAILED: stack hello-staging: DELETE_FAILED") {
		t.Errorf("failed: %v", err)
	}
}

// appServer answers GET and DELETE of application hello (404 once
// deleted, with wait) and POST of blueprints, recording the requests.
type appServer struct {
	mu       sync.Mutex
	requests []string
	deleted  bool
	uploaded []byte
	ctype    string
}

func (s *appServer) start(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.requests = append(s.requests, r.Method+" "+r.URL.Path)
		w.Header().Set("Content-Type", "application/json")
		a := appAt(client.AppCreateComplete, nil, client.AppEnvironment{Status: "CREATE_COMPLETE"})
		switch {
		case r.Method == "GET" && r.URL.Path == "/api/v1/projects/default/apps/hello":
			if s.deleted {
				w.WriteHeader(404)
				_, _ = io.WriteString(w, `{"error": {"code": "not_found", "message": "application hello not found"}}`)
				return
			}
		case r.Method == "DELETE" && r.URL.Path == "/api/v1/projects/default/apps/hello":
			s.deleted = true
			a.Status = client.AppDeleteInProgress
			w.WriteHeader(202)
		case r.Method == "POST" && r.URL.Path == "/api/v1/projects/default/blueprints":
			s.ctype = r.Header.Get("Content-Type")
			s.uploaded, _ = io.ReadAll(r.Body)
			w.WriteHeader(201)
			_ = json.NewEncoder(w).Encode(client.Blueprint{Name: "demo", Source: "directory"})
			return
		default:
			w.WriteHeader(404)
			_, _ = io.WriteString(w, `{"error": {"code": "not_found", "message": "no such API endpoint"}}`)
			return
		}
		_ = json.NewEncoder(w).Encode(a)
	}))
	t.Cleanup(srv.Close)
	return srv
}

// runIn runs the CLI with args and stdin.
func runIn(t *testing.T, stdin string, args ...string) (string, error) {
	t.Helper()
	root := newRoot()
	var out bytes.Buffer
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetIn(strings.NewReader(stdin))
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestAppDelete_AsksFirstAndOnlyYesDeletes(t *testing.T) {
	for _, answer := range []string{"", "n\n", "no\n", "yess\n", "\n"} {
		s := &appServer{}
		srv := s.start(t)
		out, err := runIn(t, answer, "--url", srv.URL, "--token", "t", "app", "delete", "hello")
		var ee *exitError
		if !errors.As(err, &ee) || ee.code == 0 || !strings.Contains(ee.msg, "nothing was deleted") || s.deleted {
			t.Errorf("answer %q: %v, deleted %v", answer, err, s.deleted)
		}
		if want := "Delete application hello: its environments (stacks hello-staging, hello-production) and its pipeline stack hello-pipeline, repository hello and pipeline hello? [y/N] "; out != want {
			t.Errorf("asked %q, want %q", out, want)
		}
	}
	for _, answer := range []string{"y\n", "YES\n", "y"} {
		s := &appServer{}
		srv := s.start(t)
		out, err := runIn(t, answer, "--url", srv.URL, "--token", "t", "app", "delete", "hello")
		if err != nil || !s.deleted || !strings.Contains(out, "Deleting application hello (DELETE_IN_PROGRESS)") || !strings.Contains(out, "slipway app get hello") {
			t.Errorf("answer %q: %v %q", answer, err, out)
		}
	}
	s := &appServer{}
	srv := s.start(t)
	out, err := runIn(t, "", "--url", srv.URL, "--token", "t", "app", "delete", "hello", "--yes", "--wait")
	if err != nil || !strings.HasSuffix(out, "Application hello deleted\n") || s.requests[0] != "DELETE /api/v1/projects/default/apps/hello" {
		t.Errorf("--yes --wait: %v %q %v", err, out, s.requests)
	}
}

func TestBlueprintAdd_UploadsTheDirectoryAsATgzWithoutGit(t *testing.T) {
	s := &appServer{}
	srv := s.start(t)
	out, err := runIn(t, "", "--url", srv.URL, "--token", "t", "blueprint", "add", blueprintDir(t))
	if err != nil || !strings.Contains(out, "Added blueprint demo (directory)") {
		t.Fatalf("add: %v %q", err, out)
	}
	got := untar(t, s.uploaded)
	if _, ok := got["blueprint.yml"]; !ok || len(got) != 5 || s.ctype != "application/octet-stream" {
		t.Errorf("uploaded %s: %v", s.ctype, got)
	}
	for _, args := range [][]string{{"blueprint", "add"}, {"blueprint", "add", ".", "--repo", "r"}, {"blueprint", "add", ".", "--ref", "main"},
		{"blueprint", "add", t.TempDir()}} {
		if _, err := runIn(t, "", append([]string{"--url", srv.URL, "--token", "t"}, args...)...); err == nil {
			t.Errorf("%v accepted", args)
		}
	}
}
