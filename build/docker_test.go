package build

import (
	"archive/tar"
	"bytes"
	"context"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	buildtypes "github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"github.com/slipway/slipway/buildspec"
)

// The tests below run against a real Docker engine: the one DOCKER_HOST
// names (.ci/dockerd starts a private one in CI), or the default socket.
// Where none answers they skip, unless SLIPWAY_REQUIRE_DOCKER=1.

// testImage is the build image of the tests: FROM scratch with Debian's
// busybox-static, since no registry is reachable in CI.
const testImage = "slipway-test-busybox:latest"

var dockerTest struct {
	once sync.Once
	c    *client.Client
	skip string // why there is no engine to test against
	err  error  // the engine answers but the test image cannot be built
}

// testDocker returns a Docker executor for the test image, building the
// image once per test binary, or skips the test saying why it cannot run.
func testDocker(t testing.TB) *Docker {
	t.Helper()
	dockerTest.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
		defer cancel()
		c, err := DockerAvailable(ctx)
		if err != nil {
			dockerTest.skip = err.Error()
			return
		}
		busybox, err := staticBusybox()
		if err != nil {
			dockerTest.skip = err.Error()
			return
		}
		dockerTest.c = c
		dockerTest.err = buildTestImage(ctx, c, busybox)
	})
	if dockerTest.skip != "" {
		if os.Getenv("SLIPWAY_REQUIRE_DOCKER") == "1" {
			t.Fatalf("SLIPWAY_REQUIRE_DOCKER=1 but %s", dockerTest.skip)
		}
		t.Skip(dockerTest.skip)
	}
	if dockerTest.err != nil {
		t.Fatal(dockerTest.err)
	}
	return &Docker{Client: dockerTest.c, Image: testImage, Dir: t.TempDir()}
}

// staticBusybox returns the busybox binary of Debian's busybox-static: a
// dynamically linked one (Debian's busybox) cannot run in an empty image.
func staticBusybox() ([]byte, error) {
	const p = "/bin/busybox"
	f, err := elf.Open(p)
	if err != nil {
		return nil, fmt.Errorf("no test image: %v (apt-get install busybox-static)", err)
	}
	defer f.Close()
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return nil, fmt.Errorf("no test image: %s is dynamically linked (apt-get install busybox-static)", p)
		}
	}
	return os.ReadFile(p)
}

// buildTestImage builds testImage through the engine's API: the busybox
// binary, then its applets as links (RUN needs the binary in the image).
func buildTestImage(ctx context.Context, c *client.Client, busybox []byte) error {
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, f := range []struct {
		name string
		mode int64
		data []byte
	}{
		{"Dockerfile", 0o644, []byte("FROM scratch\nCOPY busybox /bin/busybox\nRUN [\"/bin/busybox\", \"--install\", \"-s\", \"/bin\"]\n")},
		{"busybox", 0o755, busybox},
	} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
			return err
		}
		if _, err := tw.Write(f.data); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	res, err := c.ImageBuild(ctx, &tarball, client.ImageBuildOptions{
		Tags: []string{testImage}, Remove: true, ForceRemove: true,
		NetworkMode: "none", Version: buildtypes.BuilderV1,
	})
	if err != nil {
		return fmt.Errorf("build the test image: %w", err)
	}
	defer res.Body.Close()
	// The build's progress; a failed step is an error message in it.
	var progress strings.Builder
	dec := json.NewDecoder(res.Body)
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("build the test image: %w\n%s", err, progress.String())
		}
		progress.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("build the test image: %s\n%s", m.Error, progress.String())
		}
	}
}

// recordingDocker keeps the workspace the build ran in, checks what the
// test wants before the runner cleans up, and keeps Cleanup's error (the
// runner discards it).
type recordingDocker struct {
	*Docker
	ws            *Workspace
	beforeCleanup func(*Workspace)
	cleanupErr    error
}

func (r *recordingDocker) Prepare(ctx context.Context, src string) (*Workspace, error) {
	ws, err := r.Docker.Prepare(ctx, src)
	r.ws = ws
	return ws, err
}

func (r *recordingDocker) Cleanup(ctx context.Context, ws *Workspace) error {
	if r.beforeCleanup != nil {
		r.beforeCleanup(ws)
	}
	r.cleanupErr = r.Docker.Cleanup(ctx, ws)
	return r.cleanupErr
}

// dockerRun runs spec in a container, as run does locally.
func dockerRun(t *testing.T, r *recordingDocker, spec *buildspec.Spec, files map[string]string, tweak func(*Options)) (*Result, string) {
	t.Helper()
	return run(t, spec, files, func(o *Options) {
		o.Executor = r
		// The image's PATH, not this machine's.
		o.BaseEnv = []string{"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"}
		if tweak != nil {
			tweak(o)
		}
	})
}

// assertCleanedUp checks that the build left neither a container nor a
// workspace behind.
func assertCleanedUp(t *testing.T, r *recordingDocker) {
	t.Helper()
	if r.ws == nil {
		t.Fatal("the build never had a workspace")
	}
	if r.cleanupErr != nil {
		t.Errorf("cleanup: %v", r.cleanupErr)
	}
	list, err := r.Client.ContainerList(context.Background(), client.ContainerListOptions{All: true,
		Filters: make(client.Filters).Add("label", dockerWorkspaceLabel+"="+r.ws.Root)})
	if err != nil {
		t.Fatal(err)
	}
	if len(list.Items) > 0 {
		t.Errorf("the build's container is still there: %s (%s)", list.Items[0].Names, list.Items[0].State)
	}
	if _, err := os.Stat(r.ws.Root); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the workspace %s is still there: %v", r.ws.Root, err)
	}
}

func TestDocker_Version02BuildRunsInTheContainerAndCarriesDirectoryAndExports(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	spec := &buildspec.Spec{Version: "0.2",
		Install: phase("install", "mkdir -p sub && cd sub", "export X=from-install"),
		Build: phase("build",
			`test "$(basename "$(pwd)")" = sub && test "$X" = from-install`,
			`test "$(cat "$CODEBUILD_SRC_DIR/input.txt")" = hello`,
			// Only the test image has busybox as its shell and no os-release.
			`test ! -e /etc/os-release && test "$(readlink /bin/sh)" = /bin/busybox`,
			`echo "hostname=$(hostname)"; echo "to stderr" >&2`,
			// A process left behind does not hold the build up.
			"sleep 600 &"),
		PostBuild: phase("post_build", `echo "post_build sees $X in $(basename "$PWD")"`),
	}
	start := time.Now()
	res, log := dockerRun(t, r, spec, map[string]string{"input.txt": "hello"}, nil)
	if res.Status != Succeeded {
		t.Fatalf("status %s: %s\n%s", res.Status, statuses(res), log)
	}
	if elapsed := time.Since(start); elapsed > 30*time.Second {
		t.Errorf("the build took %s", elapsed)
	}
	for _, want := range []string{"Isolation: Docker container from image " + testImage + " (network none)",
		"to stderr", "post_build sees from-install in sub"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q\n%s", want, log)
		}
	}
	host, _ := os.Hostname()
	if !strings.Contains(log, "hostname=") || strings.Contains(log, "hostname="+host+"\n") {
		t.Errorf("the build did not run in a container of its own (host %q):\n%s", host, log)
	}
	assertCleanedUp(t, r)
}

func TestDocker_AFailingCommandFailsTheBuild(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "echo oops >&2; exit 3", "echo never")}
	res, log := dockerRun(t, r, spec, nil, nil)
	if res.Status != Failed {
		t.Fatalf("status %s\n%s", res.Status, log)
	}
	for _, want := range []string{"oops", "COMMAND_EXECUTION_ERROR Message: Error while executing command: echo oops >&2; exit 3. Reason: exit status 3"} {
		if !strings.Contains(log, want) {
			t.Errorf("log lacks %q\n%s", want, log)
		}
	}
	if strings.Contains(log, "Running command echo never") {
		t.Errorf("the build went on after the failure:\n%s", log)
	}
	assertCleanedUp(t, r)
}

func TestDocker_TimeoutKillsEveryProcessOfTheBuild(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	// The background child proves it is alive by counting into a file.
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build",
		"(i=0; while :; do i=$((i+1)); echo $i > ../alive; sleep 0.05; done) & sleep 600")}
	r.beforeCleanup = func(ws *Workspace) {
		got, err := r.Client.ContainerInspect(context.Background(), containerName(ws), client.ContainerInspectOptions{})
		if err != nil {
			t.Errorf("inspect the build container: %v", err)
		} else if got.Container.State.Running {
			t.Error("the build container still runs after the timeout")
		}
		alive := filepath.Join(ws.Root, "alive")
		before, err := os.ReadFile(alive)
		if err != nil {
			t.Errorf("the background child never ran: %v", err)
			return
		}
		time.Sleep(300 * time.Millisecond)
		if after, _ := os.ReadFile(alive); !bytes.Equal(before, after) {
			t.Error("the background child survived the timeout")
		}
	}
	start := time.Now()
	res, log := dockerRun(t, r, spec, nil, func(o *Options) { o.Timeout = 4 * time.Second })
	if res.Status != TimedOut {
		t.Fatalf("status %s: %s\n%s", res.Status, statuses(res), log)
	}
	if time.Since(start) > 30*time.Second {
		t.Error("the build waited for its commands instead of killing them")
	}
	assertCleanedUp(t, r)
}

func TestDocker_StopEndsTheBuildStopped(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "sleep 600")}
	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	started := make(chan struct{})
	var once sync.Once
	done := make(chan *Result)
	go func() {
		done <- Run(ctx, Options{Executor: r, Spec: spec, SrcDir: t.TempDir(),
			OnPhase: func(p PhaseReport) {
				if p.Name == PhaseBuild && p.Status == InProgress {
					once.Do(func() { close(started) })
				}
			}})
	}()
	select {
	case <-started:
	case res := <-done:
		t.Fatalf("the build ended before BUILD: %s", statuses(res))
	}
	time.Sleep(200 * time.Millisecond) // let sleep start in the container
	stopped := time.Now()
	cancel(ErrStopped)
	res := <-done
	if res.Status != Stopped {
		t.Fatalf("status %s: %s", res.Status, statuses(res))
	}
	if d := time.Since(stopped); d > 15*time.Second {
		t.Errorf("the stop took %s", d)
	}
	assertCleanedUp(t, r)
}

func TestDocker_TheBuildSeesOnlyItsOwnWorkspace(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	// The server's layout: its database next to the builds' workspaces.
	data := t.TempDir()
	r.Dir = filepath.Join(data, "workspaces")
	other := filepath.Join(r.Dir, "build-other")
	if err := os.MkdirAll(other, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{filepath.Join(data, "slipway.db"), filepath.Join(other, "secret")} {
		if err := os.WriteFile(f, []byte("data"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	here, err := filepath.Abs("docker_test.go")
	if err != nil {
		t.Fatal(err)
	}
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build",
		"test ! -e "+shellQuote(filepath.Join(data, "slipway.db")),
		"test ! -e "+shellQuote(filepath.Join(other, "secret")),
		"test ! -e "+shellQuote(here),
		// The directories above the workspace hold nothing but the way to it.
		`test "$(ls `+shellQuote(data)+`)" = workspaces`,
		`test "$(ls `+shellQuote(r.Dir)+`)" = "$(basename "$(dirname "$CODEBUILD_SRC_DIR")")"`,
	)}
	res, log := dockerRun(t, r, spec, nil, nil)
	if res.Status != Succeeded {
		t.Fatalf("status %s\n%s", res.Status, log)
	}
	assertCleanedUp(t, r)
}

func TestDocker_ArtifactsMadeInTheContainerArePackedOnTheHost(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	spec := &buildspec.Spec{Version: "0.2",
		Build:     phase("build", "mkdir -p out/deep && echo built > out/deep/app.txt && chmod 600 out/deep/app.txt"),
		Artifacts: &buildspec.Artifacts{Files: []string{"out/**/*"}},
	}
	var archive bytes.Buffer
	var names []string
	res, log := dockerRun(t, r, spec, nil, func(o *Options) {
		o.Upload = func(_ context.Context, ws *Workspace, _ string, a *buildspec.Artifacts) (err error) {
			names, err = Pack(&archive, ws.SrcDir, a)
			return err
		}
	})
	if res.Status != Succeeded {
		t.Fatalf("status %s: %s\n%s", res.Status, statuses(res), log)
	}
	if !slices.Equal(names, []string{"out/deep/app.txt"}) {
		t.Fatalf("packed %q", names)
	}
	files := packTestRead(t, archive.Bytes(), names)
	if got := packTestContent(t, files["out/deep/app.txt"]); got != "built\n" {
		t.Fatalf("artifact holds %q", got)
	}
	assertCleanedUp(t, r)
}

func TestDocker_CleanupRemovesWhatTheBuildMadeAsRootThroughTheEngine(t *testing.T) {
	// A server that is not root cannot delete what root made in the
	// container: Cleanup then deletes it in a container. Here the test
	// calls that path itself, as it may run as root.
	d := testDocker(t)
	ctx := context.Background()
	ws, err := d.Prepare(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	code, err := d.Run(ctx, ws, Command{Dir: ws.SrcDir,
		Script: "mkdir -p a/b ../c && touch a/b/f .hidden ..dots ../c/f && chmod 500 a/b ../c"}, &out)
	if err != nil || code != 0 {
		t.Fatalf("code %d, %v: %s", code, err, out.String())
	}
	if err := d.remove(ctx, containerName(ws)); err != nil {
		t.Fatal(err)
	}
	if err := d.removeAsRoot(ctx, ws); err != nil {
		t.Fatal(err)
	}
	assertCleanedUp(t, &recordingDocker{Docker: d, ws: ws})
}

func TestDocker_AMissingImageIsAClearError(t *testing.T) {
	d := testDocker(t)
	d.Image = "slipway-test-no-such-image:latest"
	_, err := d.Prepare(context.Background(), t.TempDir())
	if err == nil || !strings.Contains(err.Error(), "is not on the Docker engine") {
		t.Fatalf("error %v", err)
	}
	if entries, _ := os.ReadDir(d.Dir); len(entries) > 0 {
		t.Errorf("a failed Prepare left %s in %s", entries[0].Name(), d.Dir)
	}
}

func TestDockerAvailable_SaysWhyNoEngineAnswers(t *testing.T) {
	host := "unix://" + filepath.Join(t.TempDir(), "docker.sock")
	t.Setenv("DOCKER_HOST", host)
	c, err := DockerAvailable(context.Background())
	if err == nil {
		c.Close()
		t.Fatal("an engine answered on a socket that does not exist")
	}
	if !strings.Contains(err.Error(), "no Docker engine answers at "+host) {
		t.Fatalf("error %v", err)
	}
}

func TestDocker_AShellTheImageLacksFailsTheBuildSayingWhy(t *testing.T) {
	r := &recordingDocker{Docker: testDocker(t)}
	spec := &buildspec.Spec{Version: "0.2", Env: buildspec.Env{Shell: "bash"}, Build: phase("build", "true")}
	res, log := dockerRun(t, r, spec, nil, nil)
	if res.Status != Failed || !strings.Contains(log, `"bash"`) || !strings.Contains(log, "not found") {
		t.Fatalf("status %s\n%s", res.Status, log)
	}
	assertCleanedUp(t, r)
}

// BenchmarkDocker_TrueBuild measures what a container adds to a build: a
// build of one `true` command, from Prepare to Cleanup.
func BenchmarkDocker_TrueBuild(b *testing.B) {
	d := testDocker(b)
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "true")}
	src := b.TempDir()
	for b.Loop() {
		res := Run(context.Background(), Options{Executor: d, Spec: spec, SrcDir: src})
		if res.Status != Succeeded {
			b.Fatalf("status %s: %s", res.Status, statuses(res))
		}
	}
}
