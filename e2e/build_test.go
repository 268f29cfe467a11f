package e2e

import (
	"archive/zip"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
)

// buildRun runs `slipway build run` and returns its output and exit code.
func buildRun(t *testing.T, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"build", "run"}, args...)...)
	// The machine's Go build cache keeps the sample's compile quick.
	cmd.Env = append(gitEnv(t), "GOCACHE="+goCache(t), "GOFLAGS=-mod=mod", "GOTOOLCHAIN=local")
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), code
}

func TestBuildRun_TheSamplesBuildspecBuildsAGoServiceIntoTheExpectedArtifact(t *testing.T) {
	if testing.Short() {
		t.Skip("compiles a Go program")
	}
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain on PATH")
	}
	zipPath := filepath.Join(t.TempDir(), "Built.zip")
	out, code := buildRun(t, "testdata/goservice", "--artifact", zipPath)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"==> INSTALL", "==> PRE_BUILD", "==> BUILD", "==> UPLOAD_ARTIFACTS", "Build SUCCEEDED", "Running command go test ./..."} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q\n%s", want, out)
		}
	}
	zr, err := zip.OpenReader(zipPath)
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	var names []string
	modes := map[string]os.FileMode{}
	for _, f := range zr.File {
		names = append(names, f.Name)
		modes[f.Name] = f.Mode()
	}
	sort.Strings(names)
	want := []string{"app", "appspec.yml", "buildspec.yml", "cloudformation/infrastructure.yml",
		"codedeploy/ApplicationStop.sh", "config/production.conf", "config/staging.conf"}
	if strings.Join(names, " ") != strings.Join(want, " ") {
		t.Fatalf("artifact holds\n%v\nwant\n%v", names, want)
	}
	if modes["app"]&0o111 == 0 || modes["codedeploy/ApplicationStop.sh"]&0o111 == 0 {
		t.Fatalf("executables lost their mode: %v", modes)
	}
	// The build ran on a copy: the source tree is untouched.
	if _, err := os.Stat("testdata/goservice/app"); err == nil {
		t.Fatal("the build wrote into the source directory")
	}
}

func TestBuildRun_AFailingBuildExitsNonZeroAndAMalformedBuildspecRunsNothing(t *testing.T) {
	dir := t.TempDir()
	write := func(spec string) {
		if err := os.WriteFile(filepath.Join(dir, "buildspec.yml"), []byte(spec), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("version: 0.2\nphases:\n  build:\n    commands:\n      - echo building\n      - exit 4\n")
	out, code := buildRun(t, dir)
	if code == 0 || !strings.Contains(out, "Build FAILED") || !strings.Contains(out, "exit status 4") {
		t.Fatalf("failing build: exit %d\n%s", code, out)
	}
	write("version: 0.2\nphase:\n  build:\n    commands:\n      - touch ran\n")
	out, code = buildRun(t, dir)
	if code == 0 || !strings.Contains(out, "buildspec.yml:2:1:") || !strings.Contains(out, `did you mean "phases"`) {
		t.Fatalf("malformed buildspec: exit %d\n%s", code, out)
	}
	if strings.Contains(out, "Entering phase") {
		t.Fatalf("commands ran despite a malformed buildspec:\n%s", out)
	}
	// No file matches the artifact paths: UPLOAD_ARTIFACTS fails with the AWS wording.
	write("version: 0.2\nphases:\n  build:\n    commands:\n      - \"true\"\nartifacts:\n  files:\n    - dist/**/*\n")
	out, code = buildRun(t, dir, "--artifact", filepath.Join(t.TempDir(), "a.zip"))
	if code == 0 || !strings.Contains(out, "CLIENT_ERROR Message: no matching artifact paths found") {
		t.Fatalf("no artifact files: exit %d\n%s", code, out)
	}
	// --env overrides the buildspec.
	write("version: 0.2\nenv:\n  variables:\n    GREETING: spec\nphases:\n  build:\n    commands:\n      - test \"$GREETING\" = flag\n")
	if out, code := buildRun(t, dir, "--env", "GREETING=flag"); code != 0 {
		t.Fatalf("--env: exit %d\n%s", code, out)
	}
}
