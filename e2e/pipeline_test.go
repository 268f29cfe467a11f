package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// releasePipeline builds the pushed source, waits for an approval, then
// builds again ("ships") from what the first build made.
const releasePipeline = `Name: release
ArtifactStore: {Type: S3, Location: release-artifacts}
Stages:
  - Name: Source
    Actions:
      - Name: Source
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Source}]
  - Name: Build
    Actions:
      - Name: Build
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: app-build}
        InputArtifacts: [{Name: Source}]
        OutputArtifacts: [{Name: Built}]
  - Name: Approve
    Actions:
      - Name: Approve
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
  - Name: Ship
    Actions:
      - Name: Ship
        ActionTypeId: {Category: Build, Owner: AWS, Provider: CodeBuild, Version: "1"}
        Configuration: {ProjectName: app-build}
        InputArtifacts: [{Name: Built}]
`

// shellBuildspec runs command and keeps the whole tree as the artifact, so
// that the Ship build finds the buildspec in what Build made.
func shellBuildspec(command string) string {
	return "version: 0.2\nphases:\n  build:\n    commands:\n      - " + command + "\nartifacts:\n  files: ['**/*']\n"
}

type pipelineExecution struct {
	ID        string `json:"id"`
	Pipeline  string `json:"pipeline"`
	Status    string `json:"status"`
	Reason    string `json:"reason"`
	Stage     string `json:"stage"`
	Artifacts map[string]struct {
		Digest string `json:"digest"`
		Size   int64  `json:"size"`
	} `json:"artifacts"`
	Trigger struct {
		Type   string `json:"type"`
		By     string `json:"by"`
		Commit string `json:"commit"`
	} `json:"trigger"`
	Revisions []struct {
		Repository, Branch, Commit string
	} `json:"revisions"`
	Actions []actionExecution `json:"actions"`
}

type actionExecution struct {
	Stage      string `json:"stage"`
	Action     string `json:"action"`
	Status     string `json:"status"`
	Summary    string `json:"summary"`
	Error      string `json:"error"`
	ExternalID string `json:"external_id"`
	Decision   *struct {
		Approved bool   `json:"approved"`
		By       string `json:"by"`
		Comment  string `json:"comment"`
	} `json:"decision"`
}

func (e *pipelineExecution) action(stage string) *actionExecution {
	for i := range e.Actions {
		if e.Actions[i].Stage == stage {
			return &e.Actions[i]
		}
	}
	return nil
}

// pipelineDeadline bounds a whole execution: several real builds on a
// shared machine, each step picked up by the job engine.
const pipelineDeadline = 3 * time.Minute

// waitExecution polls `pipeline execution ID` until cond holds; waitFor's
// 30 s is too short for a few builds on a loaded machine.
func waitExecution(t *testing.T, s *server, id, what string, cond func(*pipelineExecution) bool) *pipelineExecution {
	t.Helper()
	deadline := time.Now().Add(pipelineDeadline)
	for {
		var e pipelineExecution
		s.mustCLI(s.token, &e, "pipeline", "execution", id)
		if cond(&e) {
			return &e
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s: %+v\n%s", what, e, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// firstExecution waits for a push to start an execution of a pipeline.
func firstExecution(t *testing.T, s *server, pipeline string) string {
	t.Helper()
	var id string
	waitFor(t, "the push to start an execution of "+pipeline, func() bool {
		var es []pipelineExecution
		s.mustCLI(s.token, &es, "pipeline", "executions", pipeline)
		if len(es) > 0 {
			id = es[0].ID
		}
		return id != ""
	})
	return id
}

func ended(e *pipelineExecution) bool { return e.Status != "InProgress" }

// newUser makes a user and returns its token.
func newUser(s *server, name string) string {
	s.mustCLI(s.token, nil, "user", "create", name)
	var tok struct{ Token string }
	s.mustCLI(s.token, &tok, "token", "create", "--user", name)
	return tok.Token
}

// setUpRelease makes the repository, the build project and the pipeline
// (from a file, with the CLI).
func setUpRelease(t *testing.T, s *server) {
	t.Helper()
	s.mustCLI(s.token, nil, "repo", "create", "app")
	s.mustCLI(s.token, nil, "build", "project", "create", "app-build")
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, []byte(releasePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	out := s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)
	if !strings.Contains(out, "Source → Build → Approve → Ship") || !strings.Contains(out, "A push to main of app starts it") {
		t.Fatalf("pipeline create said:\n%s", out)
	}
}

func TestPipeline_APushBuildsWaitsForTheApproveRoleAndShipsTheBuiltArtifact(t *testing.T) {
	s := startServer(t)
	// A broken declaration is refused here, every problem at its place.
	broken := filepath.Join(t.TempDir(), "broken.yml")
	if err := os.WriteFile(broken, []byte("Name: release\nStages:\n  - Name: Source\n    Actions: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errs, err := s.cli(s.token, "pipeline", "create", "--file", broken)
	if err == nil || !strings.Contains(errs, broken+":1:1: missing ArtifactStore") || !strings.Contains(errs, broken+":4:") {
		t.Fatalf("broken declaration: %v\n%s", err, errs)
	}

	setUpRelease(t, s)
	carol, dave := newUser(s, "carol"), newUser(s, "dave")
	s.mustCLI(s.token, nil, "grant", "project", "carol", "write")
	s.mustCLI(s.token, nil, "grant", "pipeline/release", "dave", "approve")

	// The push alone starts the execution.
	commit := pushFiles(t, s, "app", map[string]string{"buildspec.yml": shellBuildspec("cat version.txt"), "version.txt": "1.2.3\n"})
	id := firstExecution(t, s, "release")
	e := waitExecution(t, s, id, "the approval", func(e *pipelineExecution) bool {
		a := e.action("Approve")
		return ended(e) || a != nil && a.Status == "InProgress"
	})
	if e.Status != "InProgress" || e.Trigger.Type != "CloudWatchEvent" || e.Trigger.Commit != commit ||
		len(e.Revisions) != 1 || e.Revisions[0].Commit != commit {
		t.Fatalf("execution at the approval: %+v", e)
	}
	table := s.mustCLI(s.token, nil, "pipeline", "execution", id)
	for _, want := range []string{"commit " + commit, "waiting for approval: slipway approve release Approve Approve --execution " + id,
		"slipway logs " + e.action("Build").ExternalID} {
		if !strings.Contains(table, want) {
			t.Errorf("pipeline execution lacks %q:\n%s", want, table)
		}
	}

	// Write on the project is not enough to decide.
	_, errs, err = s.cli(carol, "approve", "release", "Approve", "Approve")
	if err == nil || !strings.Contains(errs, "approving needs the approve role on pipeline release or its project") {
		t.Fatalf("carol approved: %v\n%s", err, errs)
	}
	var decided actionExecution
	s.mustCLI(dave, &decided, "approve", "release", "Approve", "Approve", "--comment", "ship it")
	if decided.Status != "Succeeded" || decided.Decision == nil || decided.Decision.By != "dave" || decided.Decision.Comment != "ship it" {
		t.Fatalf("decision: %+v", decided)
	}

	e = waitExecution(t, s, id, "the end", ended)
	if e.Status != "Succeeded" {
		t.Fatalf("execution ended %s: %s\n%s", e.Status, e.Reason, s.mustCLI(s.token, nil, "pipeline", "execution", id))
	}
	built := e.Artifacts["Built"]
	if !strings.HasPrefix(built.Digest, "sha256:") || built.Size == 0 {
		t.Fatalf("artifacts: %+v", e.Artifacts)
	}
	ship := e.action("Ship")
	if ship == nil || ship.Status != "Succeeded" || ship.ExternalID == "" {
		t.Fatalf("ship: %+v", e.Actions)
	}
	var b struct{ Status, Source string }
	s.mustCLI(s.token, &b, "build", "get", ship.ExternalID)
	if b.Status != "SUCCEEDED" || b.Source != built.Digest {
		t.Fatalf("the Ship build ran on %q (%s), want the Built artifact %s", b.Source, b.Status, built.Digest)
	}
	if log, _, _ := s.cli(s.token, "logs", ship.ExternalID); !strings.Contains(log, "1.2.3") {
		t.Errorf("the Ship build did not read version.txt from the Built artifact:\n%s", log)
	}
	table = s.mustCLI(s.token, nil, "pipeline", "execution", id)
	for _, want := range []string{`approved by dave: "ship it"`, "Artifact:", built.Digest, "Succeeded"} {
		if !strings.Contains(table, want) {
			t.Errorf("pipeline execution lacks %q:\n%s", want, table)
		}
	}
}

func TestPipeline_AFailingBuildEndsTheExecutionFailedBeforeTheApproval(t *testing.T) {
	s := startServer(t)
	setUpRelease(t, s)
	pushFiles(t, s, "app", map[string]string{"buildspec.yml": shellBuildspec("echo about to fail && exit 3")})
	id := firstExecution(t, s, "release")
	e := waitExecution(t, s, id, "the end", ended)
	build := e.action("Build")
	if e.Status != "Failed" || e.Stage != "Build" || e.action("Approve") != nil || build == nil || build.Status != "Failed" ||
		!strings.Contains(build.Error, "slipway logs "+build.ExternalID) {
		t.Fatalf("execution: %+v", e)
	}
	if log, _, _ := s.cli(s.token, "logs", build.ExternalID); !strings.Contains(log, "about to fail") {
		t.Errorf("build log:\n%s", log)
	}

	// Started by hand, it fails the same way, and names who started it.
	started := strings.TrimSpace(s.mustCLI(s.token, nil, "pipeline", "start", "release"))
	e = waitExecution(t, s, started, "the end", ended)
	if e.Status != "Failed" || e.Trigger.Type != "StartPipelineExecution" || e.Trigger.By != "admin" {
		t.Fatalf("started by hand: %+v", e)
	}
	if out := s.mustCLI(s.token, nil, "pipeline", "executions", "release"); !strings.Contains(out, "started by admin") ||
		!strings.Contains(out, "push to main of app by") {
		t.Fatalf("pipeline executions:\n%s", out)
	}

	// Deleting asks first; with no terminal to ask on, it refuses, even
	// with a yes piped in.
	cmd := exec.Command(binary, "pipeline", "delete", "release")
	cmd.Env = append(gitEnv(t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+s.token)
	cmd.Stdin = strings.NewReader("y\n")
	if out, err := cmd.CombinedOutput(); err == nil || !strings.Contains(string(out), "add --yes") {
		t.Fatalf("delete without --yes: %v\n%s", err, out)
	}
	s.mustCLI(s.token, nil, "pipeline", "delete", "release", "--yes")
	var left []struct{ Name string }
	if s.mustCLI(s.token, &left, "pipeline", "list"); len(left) != 0 {
		t.Fatalf("pipelines left: %+v", left)
	}
}
