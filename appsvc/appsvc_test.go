package appsvc_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/slipway/slipway/appsvc"
	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/auth"
	"github.com/slipway/slipway/bucket"
	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/pipelinesvc"
	"github.com/slipway/slipway/providers"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/stacksvc"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// world is the services an application is made with, running.
type world struct {
	apps   *appsvc.Service
	auth   *auth.Service
	stacks *stacksvc.Service
	repos  *repo.Service
	pipes  *pipelinesvc.Service
	pr     stacksvc.Project
	admin  *auth.User
}

func newWorld(t *testing.T) *world {
	t.Helper()
	ctx := context.Background()
	db := storetest.SQLite(t)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	a := auth.NewService(db)
	if _, err := a.Bootstrap(ctx, filepath.Join(dir, "admin-token")); err != nil {
		t.Fatal(err)
	}
	bus := events.New(db, log)
	engine := jobs.New(db, jobs.Options{Logger: log, ShutdownGrace: time.Second})
	repos := repo.NewService(db, filepath.Join(dir, "repos"), bus, log, nil)
	arts, err := artifact.NewFS(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	reg := stack.NewRegistry()
	stacks := stacksvc.New(db, stacksvc.Config{Jobs: engine, Engine: &stack.Engine{Registry: reg}, Log: log,
		ProjectName: func(ctx context.Context, id string) (string, error) {
			p, err := a.ProjectByID(ctx, id)
			if err != nil {
				return "", err
			}
			return p.Name, nil
		}})
	stacks.Register(engine)
	work := filepath.Join(dir, "work")
	pipes := pipelinesvc.New(db, pipelinesvc.Config{Jobs: engine, Repos: repos, Log: log, Providers: map[string]pipelinesvc.ActionProvider{
		pipeline.CodeCommit:     &pipelinesvc.CodeCommitSource{Repos: repos, Artifacts: arts, WorkDir: work},
		pipeline.CloudFormation: &pipelinesvc.CloudFormationAction{Stacks: stacks, Artifacts: arts, WorkDir: work, Poll: 20 * time.Millisecond},
	}})
	pipes.Register(engine)
	providers.Register(reg, providers.Deps{Repos: repos, Buckets: bucket.NewService(db), Pipelines: pipes,
		BaseURL: func() string { return "http://slipway.test" }})
	apps, err := appsvc.New(appsvc.Config{DB: db, Jobs: engine, Stacks: stacks, Pipelines: pipes, Repos: repos, Auth: a,
		Artifacts: arts, BlueprintDir: filepath.Join(dir, "blueprints"), WorkDir: work, Log: log, Poll: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	apps.Register(engine)
	runCtx, stop := context.WithCancel(ctx)
	ran := make(chan struct{}, 3)
	for _, run := range []func(context.Context) error{bus.Run, engine.Run, func(ctx context.Context) error { return pipes.WatchPushes(ctx, bus) }} {
		go func() {
			_ = run(runCtx)
			ran <- struct{}{}
		}()
	}
	t.Cleanup(func() {
		stop()
		for range 3 {
			<-ran
		}
	})
	def, err := a.Project(ctx, auth.DefaultProject)
	if err != nil {
		t.Fatal(err)
	}
	admin, err := a.UserByName(ctx, auth.AdminUser)
	if err != nil {
		t.Fatal(err)
	}
	return &world{apps: apps, auth: a, stacks: stacks, repos: repos, pipes: pipes, pr: stacksvc.Project{ID: def.ID, Name: def.Name}, admin: admin}
}

// tiny is a blueprint made of the resources this test's world has: a
// repository, and a pipeline that deploys the staging stack straight from
// the source, then waits for an approval.
var tiny = map[string]string{
	"tiny/blueprint.yml": `name: tiny
description: A repository, and a pipeline deploying one environment from it.
pipeline: pipeline.yml
content: app
parameters:
  - name: ApplicationName
    description: The name.
    pattern: "[a-z][a-z0-9-]*"
  - name: Branch
    description: The branch.
    default: main
`,
	"tiny/pipeline.yml": `Parameters:
  ApplicationName: {Type: String}
  Branch: {Type: String, Default: main}
Resources:
  Repository:
    Type: AWS::CodeCommit::Repository
    Properties: {RepositoryName: !Ref ApplicationName}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !Ref ApplicationName
      RoleArn: arn:aws:iam::123456789012:role/pipeline
      ArtifactStore: {Type: S3, Location: artifacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Source
              ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
              Configuration: {RepositoryName: !GetAtt Repository.Name, BranchName: !Ref Branch}
              OutputArtifacts: [{Name: Src}]
        - Name: Staging
          Actions:
            - Name: Infra
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: CloudFormation, Version: "1"}
              InputArtifacts: [{Name: Src}]
              Configuration:
                ActionMode: CREATE_UPDATE
                RoleArn: arn:aws:iam::123456789012:role/stacks
                StackName: !Sub ${ApplicationName}-staging
                TemplatePath: Src::infra.yml
                ParameterOverrides: !Sub '{"ApplicationName": "${ApplicationName}"}'
        - Name: Approvals
          Actions:
            - Name: Gate
              ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
`,
	"tiny/app/infra.yml": `Parameters:
  ApplicationName: {Type: String}
Resources:
  Bucket: {Type: AWS::S3::Bucket}
Outputs:
  URL: {Value: !Sub "http://${ApplicationName}-staging.test/"}
`,
	"tiny/app/deploy.sh":     "#!/bin/sh\necho deploying\n",
	"tiny/app/appspec.yml":   "version: 0.0\nos: linux\n",
	"tiny/app/buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo build\n",
}

// tgz packs files below the directory top as a gzipped tar.
func tgz(t *testing.T, files map[string]string) *bytes.Buffer {
	t.Helper()
	fsys := fstest.MapFS{}
	for name, text := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(text), Mode: 0o644}
	}
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.AddFS(fsys); err != nil {
		t.Fatal(err)
	}
	if err := errors.Join(tw.Close(), zw.Close()); err != nil {
		t.Fatal(err)
	}
	return &buf
}

func (w *world) waitApp(t *testing.T, name, what string, done func(*appsvc.App, error) bool) *appsvc.App {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		a, err := w.apps.Get(context.Background(), w.pr.ID, name)
		if done(a, err) {
			return a
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v %v", what, a, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestApp_CreateMakesThePipelineStackSeedsTheRepositoryGrantsRolesAndTheFirstPushDeploysStaging(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	bi, err := w.apps.AddBlueprint(ctx, w.pr.ID, tgz(t, tiny), "admin")
	if err != nil {
		t.Fatal(err)
	}
	if bi.Name != "tiny" || bi.Source != "directory" || !strings.HasPrefix(bi.Digest, "sha256:") ||
		strings.Join(bi.Files, ",") != "appspec.yml,buildspec.yml,deploy.sh,infra.yml" {
		t.Fatalf("added blueprint: %+v", bi)
	}
	team, err := w.auth.CreateTeam(ctx, "web")
	if err != nil {
		t.Fatal(err)
	}
	member, _ := w.auth.CreateUser(ctx, "member", "", false)
	if err := w.auth.AddMember(ctx, team.ID, member.ID); err != nil {
		t.Fatal(err)
	}
	approver, _ := w.auth.CreateUser(ctx, "carol", "", false)

	a, err := w.apps.Create(ctx, w.pr, appsvc.CreateInput{Name: "shop", Blueprint: "tiny", Owner: "web", Approvers: []string{"carol"},
		Creator: "admin", CreatorID: w.admin.ID})
	if err != nil {
		t.Fatal(err)
	}
	if a.Status != appsvc.CreateInProgress || a.Parameters["ApplicationName"] != "shop" || a.Parameters["Branch"] != "main" {
		t.Fatalf("created: %+v", a)
	}
	a = w.waitApp(t, "shop", "the application to be made", func(a *appsvc.App, err error) bool {
		return err == nil && a.Status != appsvc.CreateInProgress
	})
	if a.Status != appsvc.CreateComplete || a.Repository != "shop" || a.Pipeline != "shop" ||
		a.CloneURL != "http://slipway.test/git/default/shop.git" {
		t.Fatalf("made: %+v", a)
	}

	// The starter content is the repository's first commit, and its push
	// ships it to staging; the execution then waits at the gate.
	a = w.waitApp(t, "shop", "staging to run the first commit", func(a *appsvc.App, err error) bool {
		return err == nil && len(a.Environments) == 1 && a.Environments[0].Revision != ""
	})
	env := a.Environments[0]
	rp, err := w.repos.Get(ctx, w.pr.ID, "shop")
	if err != nil {
		t.Fatal(err)
	}
	events, err := w.repos.PushEvents(ctx, rp.ID, 10)
	if err != nil || len(events) != 1 {
		t.Fatalf("push events %+v %v", events, err)
	}
	if env.Name != "staging" || env.Stack != "shop-staging" || env.Stage != "Staging" || env.Status != stack.CreateComplete ||
		env.URL != "http://shop-staging.test/" || env.Revision != events[0].NewCommit {
		t.Errorf("staging: %+v, want the seeded commit %s", env, events[0].NewCommit)
	}
	if a.LatestExecution == nil || a.LatestExecution.Status != pipelinesvc.InProgress || a.LatestExecution.Stage != "Approvals" {
		t.Errorf("latest execution: %+v", a.LatestExecution)
	}
	// As on AWS, making the pipeline started an execution on the empty
	// repository, which ended at its source before the seed.
	p, err := w.pipes.Get(ctx, w.pr.ID, "shop")
	if err != nil {
		t.Fatal(err)
	}
	es, err := w.pipes.Executions(ctx, p, 10)
	if err != nil || len(es) != 2 || es[1].Trigger.Type != pipelinesvc.TriggerCreate || es[1].Status != pipelinesvc.Failed {
		t.Errorf("executions: %+v %v", es, err)
	}

	// The owner team writes to the repository and the pipeline; the
	// approver approves and cannot push.
	repoRes := auth.Resource{Kind: "repo", ID: rp.ID, ProjectID: rp.ProjectID}
	pipeRes := auth.Resource{Kind: "pipeline", ID: p.ID, ProjectID: p.ProjectID}
	memberP, err := principal(ctx, w.auth, "member")
	if err != nil {
		t.Fatal(err)
	}
	carolP, err := principal(ctx, w.auth, approver.Name)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		who  *auth.Principal
		act  auth.Action
		res  auth.Resource
		want bool
	}{
		{memberP, auth.Write, repoRes, true}, {memberP, auth.Write, pipeRes, true}, {memberP, auth.Admin, a.Resource(), true},
		{carolP, auth.Approve, pipeRes, true}, {carolP, auth.Write, repoRes, false}, {carolP, auth.Approve, repoRes, false},
	} {
		if got, err := w.auth.Can(ctx, c.who, c.act, c.res); err != nil || got != c.want {
			t.Errorf("%s may %s %s: %v %v, want %v", c.who.Name, c.act, c.res.Kind, got, err, c.want)
		}
	}

	// Deleting takes the environment first, then the pipeline stack and
	// everything it made.
	if _, err := w.apps.Delete(ctx, w.pr.ID, "shop"); err != nil {
		t.Fatal(err)
	}
	w.waitApp(t, "shop", "the application to be deleted", func(a *appsvc.App, err error) bool {
		return errors.Is(err, store.ErrNotFound)
	})
	for _, name := range []string{"shop-staging", "shop-pipeline"} {
		if _, err := w.stacks.Get(ctx, w.pr.ID, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("stack %s after the delete: %v", name, err)
		}
	}
	if _, err := w.repos.Get(ctx, w.pr.ID, "shop"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("repository after the delete: %v", err)
	}
}

// principal is what the API makes of a user's token.
func principal(ctx context.Context, a *auth.Service, name string) (*auth.Principal, error) {
	u, err := a.UserByName(ctx, name)
	if err != nil {
		return nil, err
	}
	tok, _, err := a.CreateToken(ctx, u.ID, "test")
	if err != nil {
		return nil, err
	}
	return a.Authenticate(ctx, tok)
}

func TestApp_APreviewIsDeletedWhenItsTimeRunsOut(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	if _, err := w.apps.AddBlueprint(ctx, w.pr.ID, tgz(t, tiny), "admin"); err != nil {
		t.Fatal(err)
	}
	a, err := w.apps.Create(ctx, w.pr, appsvc.CreateInput{Name: "pr-7", Blueprint: "tiny", TTL: 3 * time.Second, Creator: "admin"})
	if err != nil {
		t.Fatal(err)
	}
	if a.ExpiresAt.IsZero() || a.ExpiresAt.Sub(a.CreatedAt) != 3*time.Second {
		t.Fatalf("preview: %+v", a)
	}
	w.waitApp(t, "pr-7", "the preview to be made and deployed", func(a *appsvc.App, err error) bool {
		return err == nil && len(a.Environments) == 1 && a.Environments[0].Revision != ""
	})
	w.waitApp(t, "pr-7", "the preview to be deleted once expired", func(a *appsvc.App, err error) bool {
		return errors.Is(err, store.ErrNotFound)
	})
	if time.Now().Before(a.ExpiresAt) {
		t.Errorf("deleted before it expired at %s", a.ExpiresAt)
	}
	for _, name := range []string{"pr-7-staging", "pr-7-pipeline"} {
		if _, err := w.stacks.Get(ctx, w.pr.ID, name); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("stack %s after the preview expired: %v", name, err)
		}
	}
}

func TestApp_CreateRefusesWhatItCannotMake(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	for _, c := range []struct {
		in   appsvc.CreateInput
		want string
	}{
		{appsvc.CreateInput{Name: "x", Blueprint: "nosuch"}, `no blueprint "nosuch"`},
		{appsvc.CreateInput{Name: "Bad_Name", Blueprint: "go-service"}, "parameter ApplicationName"},
		{appsvc.CreateInput{Name: "ok", Blueprint: "go-service", Parameters: map[string]string{"Brnch": "x"}}, `no parameter "Brnch" (did you mean "Branch"?)`},
		{appsvc.CreateInput{Name: "ok", Blueprint: "go-service", Parameters: map[string]string{"ApplicationName": "other"}}, "the application's name is its ApplicationName"},
		{appsvc.CreateInput{Name: "ok", Blueprint: "go-service", Owner: "ghosts"}, `no team "ghosts"`},
		{appsvc.CreateInput{Name: "ok", Blueprint: "go-service", Approvers: []string{"nobody"}}, `no user "nobody"`},
		{appsvc.CreateInput{Name: "ok", Blueprint: "go-service", TTL: -time.Hour}, "must be positive"},
	} {
		_, err := w.apps.Create(ctx, w.pr, c.in)
		if !errors.Is(err, appsvc.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Create(%+v) = %v, want ErrInvalid saying %q", c.in, err, c.want)
		}
	}
	if _, err := w.apps.Create(ctx, w.pr, appsvc.CreateInput{Name: "twice", Blueprint: "go-service"}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.apps.Create(ctx, w.pr, appsvc.CreateInput{Name: "twice", Blueprint: "go-service"}); !errors.Is(err, store.ErrConflict) {
		t.Errorf("a second application of the same name: %v", err)
	}
}

func TestBlueprint_AddRefusesWhatIsNoBlueprintAndNamesTheLine(t *testing.T) {
	ctx := context.Background()
	w := newWorld(t)
	broken := map[string]string{}
	for k, v := range tiny {
		broken[k] = v
	}
	broken["tiny/blueprint.yml"] = strings.Replace(tiny["tiny/blueprint.yml"], "pipeline: pipeline.yml", "pipeline: [oops]", 1)
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"no blueprint.yml", map[string]string{"x/readme": "hi"}, "no blueprint.yml"},
		{"broken blueprint.yml", broken, "blueprint.yml:3:"},
		{"a built-in's name", map[string]string{"b/blueprint.yml": strings.Replace(tiny["tiny/blueprint.yml"], "name: tiny", "name: go-service", 1),
			"b/pipeline.yml": tiny["tiny/pipeline.yml"], "b/app/infra.yml": tiny["tiny/app/infra.yml"],
			"b/app/appspec.yml": tiny["tiny/app/appspec.yml"], "b/app/buildspec.yml": tiny["tiny/app/buildspec.yml"]}, "built-in blueprint's name"},
	} {
		_, err := w.apps.AddBlueprint(ctx, w.pr.ID, tgz(t, c.files), "admin")
		if !errors.Is(err, appsvc.ErrInvalid) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: %v, want ErrInvalid saying %q", c.name, err, c.want)
		}
	}
	bs, err := w.apps.Blueprints(ctx, w.pr.ID)
	if err != nil || len(bs) != 1 || bs[0].Name != "go-service" || bs[0].Source != appsvc.Builtin {
		t.Errorf("blueprints after refused adds: %+v %v", bs, err)
	}
}
