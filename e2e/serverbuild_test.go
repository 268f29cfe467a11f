package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

type serverBuild struct {
	ID     string `json:"id"`
	Number int64  `json:"number"`
	Status string `json:"status"`
	Commit string `json:"commit"`
	Phases []struct {
		Name, Status string
	} `json:"phases"`
	Exported  map[string]string `json:"exported"`
	Artifacts []struct {
		Identifier string `json:"identifier"`
		Name       string `json:"name"`
		Digest     string `json:"digest"`
		Size       int64  `json:"size"`
	} `json:"artifacts"`
}

// pushFiles commits files to a fresh clone of repo and pushes them to main;
// it returns the commit.
func pushFiles(t testing.TB, s *server, repo string, files map[string]string) string {
	t.Helper()
	work := t.TempDir()
	mustGit(t, work, "clone", s.gitURL(s.token, repo+".git"), "w")
	dir := filepath.Join(work, "w")
	for name, body := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	mustGit(t, dir, "add", "-A")
	mustGit(t, dir, "commit", "-q", "-m", "change")
	mustGit(t, dir, "push", "-q", "origin", "HEAD:refs/heads/main")
	return strings.TrimSpace(mustGit(t, dir, "rev-parse", "HEAD"))
}

// logsFollow runs `slipway logs ID -f` and returns its output and exit code.
func logsFollow(t *testing.T, s *server, id string) (string, int) {
	t.Helper()
	out, errs, err := s.cli(s.token, "logs", id, "-f")
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return out + errs, code
}

func TestServerBuild_RunsThePushedBuildspecWithParamsAndMaskedSecretsAndStoresTheArtifact(t *testing.T) {
	s := startServer(t)
	s.mustCLI(s.token, nil, "repo", "create", "app")
	s.mustCLI(s.token, nil, "param", "set", "/app/greeting", "hello-from-param")
	cmd := exec.Command(binary, "secret", "set", "db-password")
	cmd.Env = append(gitEnv(t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+s.token)
	cmd.Stdin = strings.NewReader("hunter2-very-secret\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("secret set: %v\n%s", err, out)
	}
	dbCheck := "true"
	if _, err := exec.LookPath("bwrap"); err == nil {
		dbCheck = "test ! -e " + filepath.Join(s.data, "slipway.db")
	}
	commit := pushFiles(t, s, "app", map[string]string{
		"buildspec.yml": `version: 0.2
env:
  variables:
    WHO: world
  parameter-store:
    GREETING: /app/greeting
  secrets-manager:
    PASSWORD: db-password
  exported-variables:
    - RESULT
phases:
  build:
    commands:
      - echo "building for $WHO with $GREETING"
      - echo "the password is $PASSWORD"
      - test "$GREETING" = hello-from-param
      - ` + dbCheck + `
      - mkdir -p out && echo built > out/result.txt
      - export RESULT=done
artifacts:
  files:
    - out/**/*
`,
		"README": "hi\n",
	})

	var bp struct {
		Name             string `json:"name"`
		TimeoutInMinutes int    `json:"timeout_in_minutes"`
	}
	s.mustCLI(s.token, &bp, "build", "project", "create", "web", "--description", "e2e", "--env", "STAGE=test")
	if bp.Name != "web" || bp.TimeoutInMinutes != 60 {
		t.Fatalf("build project: %+v", bp)
	}
	id := strings.TrimSpace(s.mustCLI(s.token, nil, "build", "start", "web", "--source", "app@main"))
	if !strings.HasPrefix(id, "web:") {
		t.Fatalf("build id %q", id)
	}
	out, code := logsFollow(t, s, id)
	if code != 0 {
		t.Fatalf("logs -f exited %d\n%s", code, out)
	}
	for _, want := range []string{"building for world with ***", "the password is ***", "Entering phase BUILD"} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q\n%s", want, out)
		}
	}
	if strings.Contains(out, "hunter2") {
		t.Fatalf("the secret is in the log\n%s", out)
	}

	var b serverBuild
	s.mustCLI(s.token, &b, "build", "get", id)
	if b.Status != "SUCCEEDED" || b.Commit != commit || b.Number != 1 || b.Exported["RESULT"] != "done" {
		t.Fatalf("build: %+v", b)
	}
	phases := map[string]string{}
	for _, p := range b.Phases {
		phases[p.Name] = p.Status
	}
	if phases["BUILD"] != "SUCCEEDED" || phases["UPLOAD_ARTIFACTS"] != "SUCCEEDED" {
		t.Fatalf("phases: %+v", b.Phases)
	}
	if len(b.Artifacts) != 1 || !strings.HasPrefix(b.Artifacts[0].Digest, "sha256:") || b.Artifacts[0].Size == 0 {
		t.Fatalf("artifacts: %+v", b.Artifacts)
	}
	hex := strings.TrimPrefix(b.Artifacts[0].Digest, "sha256:")
	if _, err := os.Stat(filepath.Join(s.data, "artifacts", "sha256", hex[:2], hex)); err != nil {
		t.Errorf("artifact not in the store: %v", err)
	}

	// A failing build makes logs -f fail.
	pushFiles(t, s, "app", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo about to fail\n      - exit 3\n"})
	id2 := strings.TrimSpace(s.mustCLI(s.token, nil, "build", "start", "web", "--source", "app"))
	out, code = logsFollow(t, s, id2)
	if code == 0 || !strings.Contains(out, "about to fail") {
		t.Fatalf("failing build: logs -f exited %d\n%s", code, out)
	}
	var list []serverBuild
	s.mustCLI(s.token, &list, "build", "list", "web")
	if len(list) != 2 || list[0].ID != id2 || list[0].Status != "FAILED" || list[1].ID != id {
		t.Fatalf("build list: %+v", list)
	}

	// A malformed buildspec fails the build with file:line:col in the log.
	pushFiles(t, s, "app", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  biuld:\n    commands:\n      - echo x\n"})
	id3 := strings.TrimSpace(s.mustCLI(s.token, nil, "build", "start", "web", "--source", "app@main"))
	out, code = logsFollow(t, s, id3)
	if code == 0 || !strings.Contains(out, "buildspec.yml:3:") {
		t.Fatalf("malformed buildspec: logs -f exited %d\n%s", code, out)
	}
}

func TestServerBuild_StopEndsARunningBuildStopped(t *testing.T) {
	s := startServer(t)
	s.mustCLI(s.token, nil, "repo", "create", "slow")
	pushFiles(t, s, "slow", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - echo started\n      - sleep 60\n"})
	s.mustCLI(s.token, nil, "build", "project", "create", "slow-build")
	id := strings.TrimSpace(s.mustCLI(s.token, nil, "build", "start", "slow-build", "--source", "slow@main"))
	waitFor(t, "the build to start its commands", func() bool {
		out, _, _ := s.cli(s.token, "logs", id)
		return strings.Contains(out, "started")
	})
	var b serverBuild
	s.mustCLI(s.token, &b, "build", "stop", id)
	out, code := logsFollow(t, s, id)
	if code == 0 {
		t.Fatalf("logs -f of a stopped build exited 0\n%s", out)
	}
	s.mustCLI(s.token, &b, "build", "get", id)
	if b.Status != "STOPPED" {
		t.Fatalf("status %s\n%s", b.Status, out)
	}
}

func TestServerBuild_FromALocalDirectoryWithCacheAndSecondaryArtifacts(t *testing.T) {
	s := startServer(t)
	dir := t.TempDir()
	spec := `version: 0.2
phases:
  build:
    commands:
      - if [ -f "$HOME/.cache/tool/state" ]; then echo "cache was $(cat "$HOME/.cache/tool/state")"; fi
      - mkdir -p "$HOME/.cache/tool" && echo "warm-$CODEBUILD_BUILD_NUMBER" > "$HOME/.cache/tool/state"
      - test ! -e .git && test -f src/main.go
      - mkdir -p out docs && echo bin > out/app && chmod +x out/app && echo doc > docs/readme.md
artifacts:
  files: [out/app]
  secondary-artifacts:
    Docs:
      files: ['docs/**/*']
      name: docs.zip
cache:
  paths: ['/root/.cache/tool/**/*']
`
	for name, body := range map[string]string{"buildspec.yml": spec, ".git/config": "not for the build", "src/main.go": "package main"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, name)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	s.mustCLI(s.token, nil, "build", "project", "create", "local-src", "--cache", "LOCAL")
	build := func() (serverBuild, string) {
		id := strings.TrimSpace(s.mustCLI(s.token, nil, "build", "start", "local-src", "--source", dir))
		out, code := logsFollow(t, s, id)
		var b serverBuild
		s.mustCLI(s.token, &b, "build", "get", id)
		if code != 0 || b.Status != "SUCCEEDED" {
			t.Fatalf("build %s: %s (exit %d)\n%s", id, b.Status, code, out)
		}
		return b, out
	}
	first, log1 := build()
	if strings.Contains(log1, "cache was warm") {
		t.Fatalf("the first build found a cache:\n%s", log1)
	}
	if !strings.HasPrefix(first.Commit, "sha256:") {
		t.Errorf("an uploaded source resolves to its digest, got %q", first.Commit)
	}
	if len(first.Artifacts) != 2 || first.Artifacts[0].Name != "artifact.zip" || first.Artifacts[1].Name != "docs.zip" ||
		first.Artifacts[1].Identifier != "Docs" {
		t.Fatalf("artifacts %+v", first.Artifacts)
	}
	_, log2 := build()
	if !strings.Contains(log2, "cache was warm-1") {
		t.Fatalf("the second build did not find the first one's cache:\n%s", log2)
	}
	// A digest cannot be named as a source: it proves nothing about who may read it.
	_, errs, err := s.cli(s.token, "build", "start", "local-src", "--source", first.Commit)
	if err == nil || !strings.Contains(errs, "upload the source as a zip body") {
		t.Fatalf("a digest source was accepted: %v %s", err, errs)
	}
}
