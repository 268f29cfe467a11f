package build

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/buildspec"
)

func cmds(lines ...string) []buildspec.Command {
	var out []buildspec.Command
	for _, l := range lines {
		out = append(out, buildspec.Command{Text: l})
	}
	return out
}

func phase(name string, lines ...string) *buildspec.Phase {
	return &buildspec.Phase{Name: name, Commands: cmds(lines...)}
}

// safeBuffer is a log the test reads while a build may still write.
type safeBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *safeBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// run runs spec over a source tree holding the given files.
func run(t *testing.T, spec *buildspec.Spec, files map[string]string, tweak func(*Options)) (*Result, string) {
	t.Helper()
	src := t.TempDir()
	for name, content := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	var log safeBuffer
	o := Options{Executor: &Local{Dir: t.TempDir(), KillGrace: 200 * time.Millisecond}, Spec: spec, SrcDir: src,
		BaseEnv: []string{"PATH=" + os.Getenv("PATH")}, Log: &log, BuildID: "proj:1", BuildNumber: 1, Initiator: "tester"}
	if tweak != nil {
		tweak(&o)
	}
	res := Run(context.Background(), o)
	return res, log.String()
}

func statuses(res *Result) string {
	var parts []string
	for _, p := range res.Phases {
		parts = append(parts, p.Name+"="+string(p.Status))
	}
	return strings.Join(parts, " ")
}

func TestRun_Version01RunsEveryCommandInAFreshShell(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.1", Build: phase("build",
		"mkdir -p sub && cd sub && export X=1",
		`test "$(pwd)" = "$CODEBUILD_SRC_DIR" && test -z "$X"`)}
	res, log := run(t, spec, nil, nil)
	if res.Status != Succeeded {
		t.Fatalf("status %s\n%s", res.Status, log)
	}
}

func TestRun_Version02CarriesDirectoryAndExportsAcrossCommandsAndPhases(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2",
		Install:   phase("install", "mkdir -p sub && cd sub", "export X=from-install"),
		Build:     phase("build", `test "$(basename "$(pwd)")" = sub && test "$X" = from-install`, "export Y=2; exit 0"),
		PostBuild: phase("post_build", `test "$Y" = 2`),
	}
	res, log := run(t, spec, nil, nil)
	if res.Status != Succeeded {
		t.Fatalf("status %s: %s\n%s", res.Status, statuses(res), log)
	}
}

func TestRun_DefaultShellIsShAndEnvShellSelectsBash(t *testing.T) {
	sh := &buildspec.Spec{Version: "0.2", Build: phase("build", `test -z "$BASH_VERSION"`)}
	if res, log := run(t, sh, nil, nil); res.Status != Succeeded {
		t.Fatalf("default shell is not sh: %s\n%s", res.Status, log)
	}
	bash := &buildspec.Spec{Version: "0.2", Env: buildspec.Env{Shell: "bash"}, Build: phase("build", `test -n "$BASH_VERSION"`, `[[ -n "$BASH_VERSION" ]]`)}
	if res, log := run(t, bash, nil, nil); res.Status != Succeeded {
		t.Fatalf("bash not selected: %s\n%s", res.Status, log)
	}
}

func TestRun_TransitionTable(t *testing.T) {
	mark := func(name string) string { return "touch $CODEBUILD_SRC_DIR/../ran-" + name }
	cases := []struct {
		name    string
		spec    *buildspec.Spec
		ran     []string
		notRan  []string
		upload  bool
		outcome Status
	}{
		{
			name: "a failed install skips to FINALIZING",
			spec: &buildspec.Spec{Version: "0.2", Install: phase("install", "false"),
				PreBuild: phase("pre_build", mark("pre")), Build: phase("build", mark("build")), PostBuild: phase("post_build", mark("post")),
				Artifacts: &buildspec.Artifacts{Files: []string{"**/*"}}},
			notRan: []string{"pre", "build", "post"}, outcome: Failed,
		},
		{
			name: "a failed pre_build skips to FINALIZING",
			spec: &buildspec.Spec{Version: "0.2", PreBuild: phase("pre_build", "false"),
				Build: phase("build", mark("build")), PostBuild: phase("post_build", mark("post")),
				Artifacts: &buildspec.Artifacts{Files: []string{"**/*"}}},
			notRan: []string{"build", "post"}, outcome: Failed,
		},
		{
			name: "a failed build still runs post_build, with CODEBUILD_BUILD_SUCCEEDING=0, and uploads",
			spec: &buildspec.Spec{Version: "0.2", Build: phase("build", "false", mark("after-false")),
				PostBuild: phase("post_build", `test "$CODEBUILD_BUILD_SUCCEEDING" = 0 && `+mark("post")),
				Artifacts: &buildspec.Artifacts{Files: []string{"**/*"}}},
			ran: []string{"post"}, notRan: []string{"after-false"}, upload: true, outcome: Failed,
		},
		{
			name: "a failed post_build still uploads",
			spec: &buildspec.Spec{Version: "0.2", Build: phase("build", `test "$CODEBUILD_BUILD_SUCCEEDING" = 1`),
				PostBuild: phase("post_build", "false"), Artifacts: &buildspec.Artifacts{Files: []string{"**/*"}}},
			upload: true, outcome: Failed,
		},
		{
			name: "on-failure CONTINUE goes on to the next phase",
			spec: &buildspec.Spec{Version: "0.2",
				Install: &buildspec.Phase{Name: "install", OnFailure: buildspec.OnFailureContinue, Commands: cmds("false")},
				Build:   phase("build", mark("build"))},
			ran: []string{"build"}, outcome: Failed,
		},
		{
			name: "on-failure ABORT of build skips post_build",
			spec: &buildspec.Spec{Version: "0.2",
				Build:     &buildspec.Phase{Name: "build", OnFailure: buildspec.OnFailureAbort, Commands: cmds("false")},
				PostBuild: phase("post_build", mark("post")), Artifacts: &buildspec.Artifacts{Files: []string{"**/*"}}},
			notRan: []string{"post"}, outcome: Failed,
		},
		{
			name: "finally runs after a failed command and its failure fails the phase",
			spec: &buildspec.Spec{Version: "0.2",
				Build: &buildspec.Phase{Name: "build", Commands: cmds(mark("cmd")), Finally: cmds(mark("finally"), "false")}},
			ran: []string{"cmd", "finally"}, outcome: Failed,
		},
		{
			name: "finally runs when commands fail",
			spec: &buildspec.Spec{Version: "0.2",
				PreBuild: &buildspec.Phase{Name: "pre_build", Commands: cmds("false"), Finally: cmds(mark("finally"))}},
			ran: []string{"finally"}, outcome: Failed,
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			uploaded := false
			var root string
			res, log := run(t, c.spec, nil, func(o *Options) {
				o.Upload = func(ctx context.Context, ws *Workspace, id string, a *buildspec.Artifacts) error {
					uploaded = true
					return nil
				}
				o.OnPhase = func(p PhaseReport) {}
				o.Executor = &recordingLocal{Local: Local{Dir: t.TempDir()}, root: &root}
			})
			if res.Status != c.outcome {
				t.Fatalf("status %s, want %s: %s\n%s", res.Status, c.outcome, statuses(res), log)
			}
			for _, m := range c.ran {
				if _, err := os.Stat(filepath.Join(root, "ran-"+m)); err != nil {
					t.Errorf("%s did not run\n%s", m, log)
				}
			}
			for _, m := range c.notRan {
				if _, err := os.Stat(filepath.Join(root, "ran-"+m)); err == nil {
					t.Errorf("%s ran\n%s", m, log)
				}
			}
			if uploaded != c.upload {
				t.Errorf("uploaded %v, want %v: %s", uploaded, c.upload, statuses(res))
			}
			if last := res.Phases[len(res.Phases)-1]; last.Name != PhaseCompleted {
				t.Errorf("last phase %s", last.Name)
			}
			if !strings.Contains(log, "Phase complete: FINALIZING State: SUCCEEDED") {
				t.Errorf("no FINALIZING in\n%s", log)
			}
		})
	}
}

// recordingLocal is the local executor that remembers the workspace root,
// so tests can look at marker files after the build cleaned up... it keeps
// the workspace instead.
type recordingLocal struct {
	Local
	root *string
}

func (l *recordingLocal) Prepare(ctx context.Context, src string) (*Workspace, error) {
	ws, err := l.Local.Prepare(ctx, src)
	if err == nil {
		*l.root = ws.Root
	}
	return ws, err
}

func (l *recordingLocal) Cleanup(context.Context, *Workspace) error { return nil }

func TestRun_FailureLogUsesCodeBuildWording(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "exit 3")}
	res, log := run(t, spec, nil, nil)
	for _, want := range []string{"Entering phase BUILD", "Running command exit 3", "Command did not exit successfully exit 3 exit status 3",
		"Phase context status code: COMMAND_EXECUTION_ERROR Message: Error while executing command: exit 3. Reason: exit status 3",
		"Phase complete: BUILD State: FAILED"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q\n%s", want, log)
		}
	}
	if res.Status != Failed {
		t.Fatal(res.Status)
	}
}

func TestRun_EnvironmentPrecedenceAndBuiltInVariables(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2",
		Env: buildspec.Env{Variables: []buildspec.Var{{Name: "A", Value: "spec"}, {Name: "B", Value: "$PATH:/x"}},
			ExportedVariables: []string{"OUT", "A"}},
		Build: phase("build",
			`test "$A" = override`,
			`test "$B" = '$PATH:/x'`, // taken literally
			`test "$CODEBUILD_BUILD_ID" = proj:1 && test "$CODEBUILD_BUILD_NUMBER" = 1 && test "$CODEBUILD_INITIATOR" = tester`,
			`test "$CODEBUILD_RESOLVED_SOURCE_VERSION" = abc123 && test -n "$CODEBUILD_START_TIME" && test -d "$CODEBUILD_SRC_DIR"`,
			`test -z "$SLIPWAY_SERVER_SECRET"`,
			`export OUT="hello world"`)}
	t.Setenv("SLIPWAY_SERVER_SECRET", "leak")
	res, log := run(t, spec, nil, func(o *Options) {
		o.Env = []buildspec.Var{{Name: "A", Value: "override"}}
		o.SourceVersion = "abc123"
	})
	if res.Status != Succeeded {
		t.Fatalf("%s\n%s", res.Status, log)
	}
	if res.Exported["OUT"] != "hello world" || res.Exported["A"] != "override" {
		t.Fatalf("exported %v", res.Exported)
	}
}

func TestRun_SecretsAreMaskedInTheLog(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2",
		Env: buildspec.Env{SecretsManager: []buildspec.Var{{Name: "TOKEN", Value: "prod/token"}},
			ParameterStore: []buildspec.Var{{Name: "PARAM", Value: "/app/param"}}},
		Build: phase("build", `echo "token=$TOKEN"`, `printf 'half:%s' "$PARAM" | head -c 9; printf '%s\n' "$(echo "$PARAM" | cut -c4-)"`)}
	res, log := run(t, spec, nil, func(o *Options) {
		o.Resolve = func(_ context.Context, kind, ref string) (string, error) {
			if kind == "secrets-manager" && ref == "prod/token" {
				return "s3cr3t-value", nil
			}
			if kind == "parameter-store" && ref == "/app/param" {
				return "paramvalue", nil
			}
			return "", errors.New("no such value")
		}
	})
	if res.Status != Succeeded {
		t.Fatalf("%s\n%s", res.Status, log)
	}
	if strings.Contains(log, "s3cr3t-value") || !strings.Contains(log, "token=***") {
		t.Fatalf("secret not masked:\n%s", log)
	}
}

func TestMaskWriter_CatchesASecretSplitAcrossWrites(t *testing.T) {
	var out bytes.Buffer
	m := newMaskWriter(&out, []string{"topsecret", "top"})
	for _, piece := range []string{"a top", "sec", "ret b\nc to", "p d\n", "tail topsecret"} {
		m.Write([]byte(piece))
	}
	m.Flush()
	if got, want := out.String(), "a *** b\nc *** d\ntail ***"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestRun_TimeoutKillsTheWholeProcessGroup(t *testing.T) {
	// The background child proves it is alive by touching a file; in a PID
	// namespace its pid means nothing outside, so watch the file instead.
	child := "(while true; do date +%s%N > ../alive; sleep 0.05; done) & sleep 60"
	specs := map[string]*buildspec.Spec{
		"in commands": {Version: "0.2", Build: phase("build", child)},
		// A finally block is killed the same way: its commands are no
		// more allowed to outlive the build than the phase's own.
		"in finally": {Version: "0.2", Build: &buildspec.Phase{Name: "build", Commands: cmds("true"), Finally: cmds(child)}},
	}
	for where, spec := range specs {
		for _, sandbox := range []bool{false, true} {
			t.Run(where+"/"+map[bool]string{false: "plain", true: "sandbox"}[sandbox], func(t *testing.T) {
				var root string
				local := &recordingLocal{Local: Local{Dir: t.TempDir(), KillGrace: 100 * time.Millisecond, NoSandbox: !sandbox}, root: &root}
				if sandbox && local.sandbox() == "" {
					t.Skip("bubblewrap is not installed or cannot run here")
				}
				start := time.Now()
				res, log := run(t, spec, nil, func(o *Options) {
					o.Timeout = 500 * time.Millisecond
					o.Executor = local
				})
				if res.Status != TimedOut {
					t.Fatalf("status %s\n%s", res.Status, log)
				}
				if time.Since(start) > 20*time.Second {
					t.Fatal("the build waited for its commands instead of killing them")
				}
				alive := filepath.Join(root, "alive")
				before, err := os.ReadFile(alive)
				if err != nil {
					t.Fatalf("the background child never ran: %v\n%s", err, log)
				}
				time.Sleep(300 * time.Millisecond)
				if after, _ := os.ReadFile(alive); !bytes.Equal(before, after) {
					t.Fatal("the background child survived the timeout")
				}
			})
		}
	}
}

func TestLocal_SandboxHidesDirectoriesAndGivesTheBuildItsOwnTmp(t *testing.T) {
	secret := t.TempDir()
	if err := os.WriteFile(filepath.Join(secret, "slipway.db"), []byte("data"), 0o600); err != nil {
		t.Fatal(err)
	}
	local := &Local{Dir: t.TempDir(), Hide: []string{secret}}
	if local.sandbox() == "" {
		t.Skip("bubblewrap is not installed or cannot run here: apt-get install bubblewrap")
	}
	marker := filepath.Join(os.TempDir(), "slipway-sandbox-"+strconv.Itoa(os.Getpid()))
	defer os.Remove(marker)
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build",
		"test ! -e "+shellQuote(filepath.Join(secret, "slipway.db")),
		"touch "+shellQuote(marker),
		"test $$ -lt 10", // the shell is among the first processes of its own PID namespace
	)}
	res, log := run(t, spec, nil, func(o *Options) { o.Executor = local })
	if res.Status != Succeeded {
		t.Fatalf("%s\n%s", res.Status, log)
	}
	if !strings.Contains(log, "Isolation: bubblewrap sandbox") {
		t.Errorf("the log does not say which isolation was used:\n%s", log)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Fatal("the build wrote to the machine's /tmp")
	}
}

func TestRun_StopEndsTheBuildStopped(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "sleep 60")}
	ctx, cancel := context.WithCancelCause(context.Background())
	started := make(chan struct{})
	var once sync.Once
	done := make(chan *Result)
	go func() {
		done <- Run(ctx, Options{Executor: &Local{Dir: t.TempDir(), KillGrace: 100 * time.Millisecond}, Spec: spec, SrcDir: t.TempDir(),
			OnPhase: func(p PhaseReport) {
				if p.Name == PhaseBuild && p.Status == InProgress {
					once.Do(func() { close(started) })
				}
			}})
	}()
	<-started
	cancel(ErrStopped)
	res := <-done
	if res.Status != Stopped {
		t.Fatalf("status %s: %s", res.Status, statuses(res))
	}
}
