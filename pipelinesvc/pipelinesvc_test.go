package pipelinesvc

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

type fixture struct {
	s      *Service
	repos  *repo.Service
	builds *buildsvc.Service
	bus    *events.Bus
	stacks *stacksvc.Service
	db     *store.DB
	root   string
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	bus := events.New(db, log)
	engine := jobs.New(db, jobs.Options{Logger: log, PollInterval: 50 * time.Millisecond})
	f := &fixture{bus: bus, db: db, root: filepath.Join(dir, "repos")}
	f.repos = repo.NewService(db, f.root, bus, log, nil)
	arts, err := artifact.NewFS(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	secrets, err := secret.NewService(db, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	f.builds = buildsvc.NewService(db, buildsvc.Config{Jobs: engine, Repos: f.repos, Secrets: secrets, Artifacts: arts,
		WorkDir: filepath.Join(dir, "builds"), Log: log})
	f.builds.Register(engine)
	reg := stack.NewRegistry()
	reg.Register("Custom::Network", network{})
	f.stacks = stacksvc.New(db, stacksvc.Config{Jobs: engine, Engine: &stack.Engine{Registry: reg}, Log: log})
	f.stacks.Register(engine)
	f.s = New(db, Config{Jobs: engine, Repos: f.repos, Log: log, Providers: map[string]ActionProvider{
		pipeline.CodeCommit:     &CodeCommitSource{Repos: f.repos, Artifacts: arts, WorkDir: filepath.Join(dir, "sources")},
		pipeline.CodeBuild:      &CodeBuildAction{Builds: f.builds, Poll: 20 * time.Millisecond},
		pipeline.CloudFormation: &CloudFormationAction{Stacks: f.stacks, Artifacts: arts, WorkDir: filepath.Join(dir, "cfn"), Poll: 20 * time.Millisecond},
	}})
	f.s.Register(engine)
	done := make(chan struct{}, 3)
	go func() { _ = engine.Run(ctx); done <- struct{}{} }()
	go func() { _ = bus.Run(ctx); done <- struct{}{} }()
	go func() { _ = f.s.WatchPushes(ctx, bus); done <- struct{}{} }()
	<-bus.Ready()
	t.Cleanup(func() { cancel(); <-done; <-done; <-done })
	return f
}

// commit writes files to the repository's main branch straight through the
// file system (no push event) and returns the commit.
func (f *fixture) commit(t *testing.T, name string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	run := func(dir string, args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	bare := filepath.Join(f.root, "p1", name+".git")
	run(work, "clone", "-q", bare, "w")
	w := filepath.Join(work, "w")
	for n, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(w, n)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(w, n), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run(w, "add", "-A")
	run(w, "commit", "-q", "-m", "change")
	run(w, "push", "-q", "origin", "HEAD:refs/heads/main")
	return run(w, "rev-parse", "HEAD")
}

const declaration = `
Name: app
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Source}]
        Namespace: SourceVariables
  - Name: Build
    Actions:
      - Name: Build
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: app-build}
        InputArtifacts: [{Name: Source}]
        OutputArtifacts: [{Name: Built}]
        Namespace: BuildVariables
  - Name: Approve
    Actions:
      - Name: Gate
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
  - Name: Ship
    Actions:
      - Name: Ship
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration:
          ProjectName: app-build
          EnvironmentVariables: '[{"name": "SHIPPER", "value": "#{SourceVariables.BranchName}-shipper", "type": "PLAINTEXT"}]'
        InputArtifacts: [{Name: Built}]
        Namespace: ShipVariables
`

const buildspecOK = `version: 0.2
env:
  exported-variables: [WHO, SHIPPER]
phases:
  build:
    commands:
      - export WHO=builder
      - cat version.txt
artifacts:
  files: ['**/*']
`

func (f *fixture) create(t *testing.T, body string) *Pipeline {
	t.Helper()
	d, err := pipeline.Parse("pipeline.yml", []byte(body))
	if err != nil {
		t.Fatal(err)
	}
	p, err := f.s.Create(context.Background(), "p1", d)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitFor polls an execution until cond holds.
func (f *fixture) waitFor(t *testing.T, id, what string, cond func(e *Execution) bool) *Execution {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		e, err := f.s.Execution(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if cond(e) {
			return e
		}
		if time.Now().After(deadline) {
			rows, _ := f.db.QueryContext(context.Background(), `SELECT stage, holder, waiter FROM pipeline_stages`)
			for rows.Next() {
				var a, b, c string
				_ = rows.Scan(&a, &b, &c)
				t.Logf("stage %s holder %s waiter %s", a, b, c)
			}
			rows.Close()
			rows, _ = f.db.QueryContext(context.Background(), `SELECT id, status, stage, waiting, started_at FROM pipeline_executions`)
			for rows.Next() {
				var a, b, c string
				var w, st int64
				_ = rows.Scan(&a, &b, &c, &w, &st)
				t.Logf("exec %s %s %s %d %d", a, b, c, w, st)
			}
			rows.Close()
			t.Fatalf("execution %s never %s: %s %q at %s (waiting %v) %+v", id, what, e.Status, e.Reason, e.Stage, e.Waiting, e.Actions)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func atGate(e *Execution) bool {
	a, ok := latest(e.Actions, "Approve")["Gate"]
	return ok && a.Status == InProgress
}

func ended(e *Execution) bool { return terminal(e.Status) }

func TestExecutions_RunStagesInOrderWaitForApprovalAndSupersedeWaitingOnes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		if _, err := f.repos.Create(ctx, "p1", "p1", "app", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.builds.CreateProject(ctx, "p1", "app-build", buildsvc.Settings{}); err != nil {
			t.Fatal(err)
		}
		commit := f.commit(t, "app", map[string]string{"buildspec.yml": buildspecOK, "version.txt": "v1"})
		p := f.create(t, declaration)
		first, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e1 := f.waitFor(t, first.ID, "reached the approval", atGate)
		if e1.Variables["SourceVariables"]["CommitId"] != commit || e1.Variables["BuildVariables"]["WHO"] != "builder" {
			t.Fatalf("variables %+v", e1.Variables)
		}
		if e1.Artifacts["Source"].Digest == "" || e1.Artifacts["Built"].Digest == "" || len(e1.Revisions) != 1 || e1.Revisions[0].Commit != commit {
			t.Fatalf("artifacts %+v revisions %+v", e1.Artifacts, e1.Revisions)
		}
		// Two more executions: the second waits in front of Approve, the
		// third overtakes it there.
		second, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "bob"}, "")
		if err != nil {
			t.Fatal(err)
		}
		f.waitFor(t, second.ID, "waited for Approve", func(e *Execution) bool { return e.Waiting && e.Stage == "Approve" })
		third, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "carol"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e2 := f.waitFor(t, second.ID, "was superseded", ended)
		if e2.Status != Superseded {
			t.Fatalf("second: %s %s", e2.Status, e2.Reason)
		}
		f.waitFor(t, third.ID, "waited for Approve", func(e *Execution) bool { return e.Waiting && e.Stage == "Approve" })

		if _, err := f.s.Decide(ctx, p, "Approve", "Gate", "", true, "dave", "ship it"); err != nil {
			t.Fatal(err)
		}
		e1 = f.waitFor(t, first.ID, "ended", ended)
		if e1.Status != Succeeded {
			t.Fatalf("first: %s %s", e1.Status, e1.Reason)
		}
		gate := latest(e1.Actions, "Approve")["Gate"]
		if gate.Decision == nil || gate.Decision.By != "dave" || gate.Decision.Comment != "ship it" {
			t.Fatalf("decision %+v", gate.Decision)
		}
		// The action's environment variables reach its build.
		if e1.Variables["ShipVariables"]["SHIPPER"] != "main-shipper" {
			t.Fatalf("ship variables %+v", e1.Variables["ShipVariables"])
		}
		// Ship built the very bytes Build made.
		ship := latest(e1.Actions, "Ship")["Ship"]
		b, err := f.builds.Get(ctx, "p1", ship.ExternalID)
		if err != nil || b.Source != e1.Artifacts["Built"].Digest {
			t.Fatalf("ship built %+v (%v), want source %s", b, err, e1.Artifacts["Built"].Digest)
		}
		// The third takes the gate once the first has left it; a rejection fails it.
		f.waitFor(t, third.ID, "reached the approval", atGate)
		if _, err := f.s.Decide(ctx, p, "Approve", "Gate", "", false, "dave", "not today"); err != nil {
			t.Fatal(err)
		}
		e3 := f.waitFor(t, third.ID, "ended", ended)
		if e3.Status != Failed || !strings.Contains(e3.Reason, "rejected by dave: not today") {
			t.Fatalf("third: %s %q", e3.Status, e3.Reason)
		}
		if _, err := f.s.Decide(ctx, p, "Approve", "Gate", "", true, "dave", ""); err == nil || !strings.Contains(err.Error(), "no execution") {
			t.Fatalf("a decision with nothing waiting: %v", err)
		}
		// A pipeline can refuse the author's own approval.
		strict := f.create(t, strings.Replace(strings.Replace(declaration, "Name: app\n", "Name: strict\nTags: [{Key: slipway:approver-not-author, Value: \"true\"}]\n", 1),
			"ProjectName: app-build}", "ProjectName: app-build}", 1))
		sx, err := f.s.Start(ctx, strict, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		f.waitFor(t, sx.ID, "reached the approval", atGate)
		if _, err := f.s.Decide(ctx, strict, "Approve", "Gate", "", true, "alice", ""); !errors.Is(err, ErrNotAllowed) {
			t.Fatalf("the author approved her own change: %v", err)
		}
		if _, err := f.s.Decide(ctx, strict, "Approve", "Gate", "", true, "bob", ""); err != nil {
			t.Fatal(err)
		}
	})
}

func TestExecutions_AFailingBuildFailsTheExecutionAndNothingAfterItRuns(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		if _, err := f.repos.Create(ctx, "p1", "p1", "app", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := f.builds.CreateProject(ctx, "p1", "app-build", buildsvc.Settings{}); err != nil {
			t.Fatal(err)
		}
		f.commit(t, "app", map[string]string{"buildspec.yml": strings.Replace(buildspecOK, "cat version.txt", "exit 3", 1)})
		p := f.create(t, declaration)
		x, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e := f.waitFor(t, x.ID, "ended", ended)
		if e.Status != Failed || e.Stage != "Build" || !strings.Contains(e.Reason, "action Build of stage Build failed") {
			t.Fatalf("%s at %s: %q", e.Status, e.Stage, e.Reason)
		}
		if _, ok := latest(e.Actions, "Approve")["Gate"]; ok {
			t.Fatal("the approval was reached after a failed build")
		}
	})
}

func TestTriggers_APushStartsAnExecutionOnceWithThePushedCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		rp, err := f.repos.Create(ctx, "p1", "p1", "app", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.builds.CreateProject(ctx, "p1", "app-build", buildsvc.Settings{}); err != nil {
			t.Fatal(err)
		}
		old := f.commit(t, "app", map[string]string{"buildspec.yml": buildspecOK, "version.txt": "v1"})
		pushed := f.commit(t, "app", map[string]string{"version.txt": "v2"})
		p := f.create(t, declaration)
		// The push event the repository service publishes for a push.
		payload := repo.PushPayload{RepositoryID: rp.ID, ProjectID: "p1", Repository: "app", Ref: "refs/heads/main", Old: old, New: pushed, Pusher: "erin"}
		if err := db.Tx(ctx, func(tx *store.Tx) error { return f.bus.Publish(ctx, tx, repo.TopicPush, payload) }); err != nil {
			t.Fatal(err)
		}
		var ex []Execution
		deadline := time.Now().Add(30 * time.Second)
		for len(ex) == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
			if ex, err = f.s.Executions(ctx, p, 10); err != nil {
				t.Fatal(err)
			}
		}
		if len(ex) != 1 || ex[0].Trigger.Type != TriggerPush || ex[0].Trigger.By != "erin" {
			t.Fatalf("executions %+v", ex)
		}
		e := f.waitFor(t, ex[0].ID, "reached the approval", atGate)
		if e.Revisions[0].Commit != pushed {
			t.Fatalf("built %s, pushed %s", e.Revisions[0].Commit, pushed)
		}
		// Another process handling the same event starts nothing more.
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM pipeline_executions WHERE dedupe IS NOT NULL`).Scan(&n); err != nil || n != 1 {
			t.Fatalf("%d executions from the push (%v)", n, err)
		}
		var key string
		if err := db.QueryRowContext(ctx, `SELECT dedupe FROM pipeline_executions`).Scan(&key); err != nil {
			t.Fatal(err)
		}
		again, err := f.s.Start(ctx, p, Trigger{Type: TriggerPush}, key)
		if err != nil || again != nil {
			t.Fatalf("a second start of the same push: %+v %v", again, err)
		}
	})
}

func TestExecutions_QueuedModeLetsEveryExecutionThroughInOrder(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.s.cfg.Providers = map[string]ActionProvider{pipeline.CodeCommit: noop{}}
		p := f.create(t, `
Name: queued
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
PipelineType: V2
ExecutionMode: QUEUED
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Src}]
  - Name: Approve
    Actions:
      - Name: Gate
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
`)
		var ids []string
		for i := 0; i < 3; i++ {
			e, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
			if err != nil {
				t.Fatal(err)
			}
			ids = append(ids, e.ID)
			time.Sleep(5 * time.Millisecond) // distinct start times
		}
		for i, id := range ids {
			f.waitFor(t, id, "reached the approval", atGate)
			for _, later := range ids[i+1:] {
				if e, _ := f.s.Execution(ctx, later); e.Status != InProgress {
					t.Fatalf("queued execution %s ended %s: %s", later, e.Status, e.Reason)
				}
			}
			if _, err := f.s.Decide(ctx, p, "Approve", "Gate", id, true, "dave", ""); err != nil {
				t.Fatal(err)
			}
			if e := f.waitFor(t, id, "ended", ended); e.Status != Succeeded {
				t.Fatalf("%s: %s %s", id, e.Status, e.Reason)
			}
		}
	})
}

// network is a stack resource for the tests: it only gets a physical ID.
type network struct{}

func (network) Schema() stack.Schema {
	return stack.Schema{Properties: map[string]stack.Property{"CidrBlock": {Required: true}, "Tags": {}}, Attributes: []string{"CidrBlock"}}
}

func (network) Create(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{PhysicalID: "net-" + r.Token, Attrs: map[string]any{"CidrBlock": r.Properties["CidrBlock"]}}, nil
}

func (network) Update(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	return &stack.Outcome{Attrs: map[string]any{"CidrBlock": r.Properties["CidrBlock"]}}, nil
}

func (network) Delete(context.Context, *stack.Request) error { return nil }
