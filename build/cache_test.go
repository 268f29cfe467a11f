package build

import (
	"archive/zip"
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/slipway/slipway/buildspec"
	"github.com/slipway/slipway/unpack"
)

func TestRun_CachePathsAreRestoredIntoTheNextBuildOfTheSameProjectOnly(t *testing.T) {
	// The first build of a project fills the cache (a file in the source
	// tree and one in the home directory, as Go's module and build caches
	// are); the second finds both; a build of another project finds none.
	spec := &buildspec.Spec{Version: "0.2",
		Build: phase("build",
			`if [ -f .deps/lib.txt ]; then echo "src cache: $(cat .deps/lib.txt)"; else mkdir -p .deps && echo warm > .deps/lib.txt && chmod 0750 .deps/lib.txt; fi`,
			`if [ -f "$HOME/.cache/go-build/x" ]; then echo "home cache: $(cat "$HOME/.cache/go-build/x")"; else mkdir -p "$HOME/.cache/go-build" && echo hot > "$HOME/.cache/go-build/x"; fi`),
		Cache: &buildspec.Cache{Paths: []string{".deps/**/*", "/root/.cache/go-build/**/*", "/var/cache/elsewhere/**/*"}}}
	cacheA := &DirCache{Dir: filepath.Join(t.TempDir(), "project-a")}
	cacheB := &DirCache{Dir: filepath.Join(t.TempDir(), "project-b")}
	build := func(c *DirCache) string {
		res, log := run(t, spec, map[string]string{"main.go": "package main"}, func(o *Options) { o.Cache = c })
		if res.Status != Succeeded {
			t.Fatalf("%s: %s\n%s", res.Status, statuses(res), log)
		}
		return log
	}
	first := build(cacheA)
	if strings.Contains(first, "src cache: warm") || !strings.Contains(first, "No cache saved yet") {
		t.Fatalf("the first build found a cache:\n%s", first)
	}
	if !strings.Contains(first, "Cache path /var/cache/elsewhere/**/* is outside the source and home directories") {
		t.Errorf("the log does not say which path was not cached:\n%s", first)
	}
	second := build(cacheA)
	for _, want := range []string{"src cache: warm", "home cache: hot", "Restored the cache of the previous build"} {
		if !strings.Contains(second, want) {
			t.Errorf("the second build's log lacks %q:\n%s", want, second)
		}
	}
	other := build(cacheB)
	if strings.Contains(other, "cache: warm") || strings.Contains(other, "cache: hot") {
		t.Fatalf("another project's build saw this project's cache:\n%s", other)
	}
	// The mode of a cached file survives the round trip.
	zr, err := zip.OpenReader(filepath.Join(cacheA.Dir, "src.zip"))
	if err != nil {
		t.Fatal(err)
	}
	defer zr.Close()
	if len(zr.File) != 1 || zr.File[0].Name != ".deps/lib.txt" || zr.File[0].Mode().Perm() != 0o750 {
		t.Fatalf("cached source files: %v", zr.File)
	}
}

func TestRun_ABuildWithoutHOMEGetsOneInsideItsWorkspace(t *testing.T) {
	var root string
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", `echo "home=$HOME"`, `touch "$HOME/written"`)}
	res, log := run(t, spec, nil, func(o *Options) {
		o.Executor = &recordingLocal{Local: Local{Dir: t.TempDir()}, root: &root}
	})
	if res.Status != Succeeded {
		t.Fatalf("%s\n%s", res.Status, log)
	}
	if !strings.Contains(log, "home="+filepath.Join(root, "home")) {
		t.Fatalf("HOME is not the workspace's home:\n%s", log)
	}
	if _, err := os.Stat(filepath.Join(root, "home", "written")); err != nil {
		t.Fatal(err)
	}
}

func TestRun_SecondaryArtifactsAreUploadedAfterThePrimaryByIdentifier(t *testing.T) {
	spec := &buildspec.Spec{Version: "0.2", Build: phase("build", "echo app > app", "mkdir docs && echo doc > docs/a.md"),
		Artifacts: &buildspec.Artifacts{Files: []string{"app"}, Secondary: map[string]*buildspec.Artifacts{
			"Docs":  {Files: []string{"docs/**/*"}, DiscardPaths: true},
			"Bin":   {Files: []string{"app"}, Name: "bin.zip"},
			"Empty": {Files: []string{"nothing/*"}},
		}}}
	var got []string
	res, log := run(t, spec, nil, func(o *Options) {
		o.Upload = func(ctx context.Context, ws *Workspace, id string, a *buildspec.Artifacts) error {
			var buf bytes.Buffer
			files, err := Pack(&buf, ws.SrcDir, a)
			got = append(got, id+"="+strings.Join(files, ","))
			return err
		}
	})
	want := []string{"=app", "Bin=app", "Docs=a.md", "Empty="}
	if !slices.Equal(got, want) {
		t.Fatalf("uploads %q, want %q\n%s", got, want, log)
	}
	// A secondary artifact that selects nothing fails the build, as the primary does.
	if res.Status != Failed || !strings.Contains(log, "secondary artifact Empty") {
		t.Fatalf("status %s\n%s", res.Status, log)
	}
}

func TestPack_UnpacksToWhatWasPackedWithModesAndLinks(t *testing.T) {
	// The cache is restored by unpack.Zip; what Pack writes must come back
	// from it unchanged.
	src := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(src, "bin"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "bin", "app"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(t, os.WriteFile(filepath.Join(src, "config.txt"), []byte("x=1"), 0o600))
	must(t, os.Symlink("bin/app", filepath.Join(src, "run")))
	var buf bytes.Buffer
	if _, err := Pack(&buf, src, &buildspec.Artifacts{Files: []string{"**/*"}, EnableSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if err := unpack.Zip(context.Background(), bytes.NewReader(buf.Bytes()), int64(buf.Len()), dest); err != nil {
		t.Fatal(err)
	}
	for name, mode := range map[string]fs.FileMode{"bin/app": 0o755, "config.txt": 0o600} {
		fi, err := os.Stat(filepath.Join(dest, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", name, fi, err, mode)
		}
	}
	if target, err := os.Readlink(filepath.Join(dest, "run")); err != nil || target != "bin/app" {
		t.Errorf("link: %q %v", target, err)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
