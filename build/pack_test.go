package build

import (
	"archive/zip"
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/buildspec"
)

// packTestTree creates files (path → content) under a fresh "src" directory
// and returns it; its parent is free for things "outside" it.
func packTestTree(t testing.TB, files map[string]string) string {
	t.Helper()
	src := filepath.Join(t.TempDir(), "src")
	if err := os.Mkdir(src, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range files {
		p := filepath.Join(src, filepath.FromSlash(name))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

func packTestSymlink(t testing.TB, target, link string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(link), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
}

// packTestRead opens an archive and checks that its entries are the names
// Pack returned, in that order.
func packTestRead(t testing.TB, data []byte, names []string) map[string]*zip.File {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
	if err != nil {
		t.Fatalf("reading the archive: %v", err)
	}
	var got []string
	files := map[string]*zip.File{}
	for _, f := range zr.File {
		got = append(got, f.Name)
		files[f.Name] = f
	}
	if !slices.Equal(got, names) {
		t.Fatalf("archive entries %q, Pack returned %q", got, names)
	}
	return files
}

func packTestContent(t testing.TB, f *zip.File) string {
	t.Helper()
	rc, err := f.Open()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("%s: %v", f.Name, err)
	}
	return string(b)
}

// The public sample's tree: the built binary, its specs, and directories
// with files nested below the level the sample's globs select.
var packSampleTree = map[string]string{
	"app":                               "binary",
	"appspec.yml":                       "version: 0.0",
	"buildspec.yml":                     "version: 0.1",
	"main.go":                           "package main",
	"main_test.go":                      "package main",
	"README.md":                         "# sample",
	".gitignore":                        "app",
	"config/staging.conf":               `{"Parameters": {}}`,
	"config/production.conf":            `{"Parameters": {}}`,
	"config/old/legacy.conf":            "old",
	"codedeploy/start.sh":               "#!/bin/sh",
	"codedeploy/stop.sh":                "",
	"codedeploy/lib/helper.sh":          "helper",
	"cloudformation/infrastructure.yml": "Resources: {}",
	"cloudformation/pipeline.yml":       "Resources: {}",
	"build-a/top.txt":                   "a",
	"build-a/out/a.txt":                 "a",
	"build-b/top2.txt":                  "b",
	"build-b/out/b.txt":                 "b",
	"vendor/x/y.go":                     "package x",
}

func TestPack_TheSampleArtifactListSelectsExactlyTheSampleFiles(t *testing.T) {
	src := packTestTree(t, packSampleTree)
	spec := &buildspec.Artifacts{Files: []string{"app", "appspec.yml", "buildspec.yml", "config/*", "codedeploy/*", "cloudformation/*"}}
	var buf bytes.Buffer
	names, err := Pack(&buf, src, spec)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"app", "appspec.yml", "buildspec.yml",
		"cloudformation/infrastructure.yml", "cloudformation/pipeline.yml",
		"codedeploy/start.sh", "codedeploy/stop.sh",
		"config/production.conf", "config/staging.conf",
	}
	if !slices.Equal(names, want) {
		t.Fatalf("Pack = %q\nwant   %q", names, want)
	}
	files := packTestRead(t, buf.Bytes(), names)
	for _, name := range names {
		if got := packTestContent(t, files[name]); got != packSampleTree[name] {
			t.Errorf("%s holds %q, want %q", name, got, packSampleTree[name])
		}
	}
}

func TestPack_SelectsFilesAsCodeBuildDoes(t *testing.T) {
	all := slices.Sorted(func(yield func(string) bool) {
		for name := range packSampleTree {
			if !yield(name) {
				return
			}
		}
	})
	for _, tc := range []struct {
		name string
		spec buildspec.Artifacts
		want []string
	}{
		{"**/* selects every file at every depth, dotfiles too",
			buildspec.Artifacts{Files: []string{"**/*"}}, all},
		{"** alone selects every file too",
			buildspec.Artifacts{Files: []string{"**"}}, all},
		{"dir/**/* selects the files under dir at any depth",
			buildspec.Artifacts{Files: []string{"config/**/*"}},
			[]string{"config/old/legacy.conf", "config/production.conf", "config/staging.conf"}},
		{"dir/* selects only the files directly in dir",
			buildspec.Artifacts{Files: []string{"codedeploy/*"}},
			[]string{"codedeploy/start.sh", "codedeploy/stop.sh"}},
		{"a top-level glob matches no nested file",
			buildspec.Artifacts{Files: []string{"*.go"}},
			[]string{"main.go", "main_test.go"}},
		{"**/ in front matches at any depth",
			buildspec.Artifacts{Files: []string{"**/*.conf"}},
			[]string{"config/old/legacy.conf", "config/production.conf", "config/staging.conf"}},
		{"** in the middle matches any number of directories, none too",
			buildspec.Artifacts{Files: []string{"build-a/**/*.txt"}},
			[]string{"build-a/out/a.txt", "build-a/top.txt"}},
		{"a file name and a path",
			buildspec.Artifacts{Files: []string{"app", "cloudformation/pipeline.yml"}},
			[]string{"app", "cloudformation/pipeline.yml"}},
		{"overlapping patterns give each file once",
			buildspec.Artifacts{Files: []string{"config/*", "config/staging.conf", "**/staging.conf"}},
			[]string{"config/production.conf", "config/staging.conf"}},
		{"character classes and ?",
			buildspec.Artifacts{Files: []string{"[ab]pp*", "main_tes?.go"}},
			[]string{"app", "appspec.yml", "main_test.go"}},
		{"./ and a trailing slash are tidied",
			buildspec.Artifacts{Files: []string{"./config/*"}, BaseDirectory: "./"},
			[]string{"config/production.conf", "config/staging.conf"}},
		{"base-directory puts its contents, not itself, at the root",
			buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "config"},
			[]string{"old/legacy.conf", "production.conf", "staging.conf"}},
		{"files are relative to base-directory",
			buildspec.Artifacts{Files: []string{"*"}, BaseDirectory: "config/"},
			[]string{"production.conf", "staging.conf"}},
		{"a base-directory glob merges the contents of every directory it matches",
			buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "build-*"},
			[]string{"out/a.txt", "out/b.txt", "top.txt", "top2.txt"}},
		{"discard-paths flattens to the root",
			buildspec.Artifacts{Files: []string{"config/*", "codedeploy/**/*"}, DiscardPaths: true},
			[]string{"helper.sh", "production.conf", "staging.conf", "start.sh", "stop.sh"}},
		{"discard-paths with base-directory",
			buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "config", DiscardPaths: true},
			[]string{"legacy.conf", "production.conf", "staging.conf"}},
		{"exclude-paths drop matching files",
			buildspec.Artifacts{Files: []string{"*"}, ExcludePaths: []string{"*.go", "README.md", ".*"}},
			[]string{"app", "appspec.yml", "buildspec.yml"}},
		{"an exclude-paths entry naming a directory drops everything in it",
			buildspec.Artifacts{Files: []string{"**/*"}, ExcludePaths: []string{"vendor", "build-*", "config/old", "cloudformation/**/*", "*.*", "app"}},
			[]string{"codedeploy/lib/helper.sh", "codedeploy/start.sh", "codedeploy/stop.sh", "config/production.conf", "config/staging.conf"}},
		{"exclude-paths are relative to base-directory",
			buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "build-*", ExcludePaths: []string{"out/b.txt", "top.txt"}},
			[]string{"out/a.txt", "top2.txt"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := packTestTree(t, packSampleTree)
			var buf bytes.Buffer
			names, err := Pack(&buf, src, &tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(names, tc.want) {
				t.Fatalf("Pack = %q\nwant   %q", names, tc.want)
			}
			packTestRead(t, buf.Bytes(), names)
		})
	}
}

func TestPack_NothingSelectedIsCodeBuildsNoMatchingArtifactPathsError(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spec     buildspec.Artifacts
		wantText string
	}{
		{"no file matches", buildspec.Artifacts{Files: []string{"dist/**/*", "*.jar"}}, `files ["dist/**/*" "*.jar"] select no file`},
		{"a bare directory name selects nothing and says what would",
			buildspec.Artifacts{Files: []string{"config"}}, `"config" matches a directory, and patterns select files: "config/**/*" selects the files in it`},
		{"a pattern matching only directories", buildspec.Artifacts{Files: []string{"build-*"}}, `"build-*/**/*"`},
		{"base-directory matches nothing", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "dist"}, `base-directory "dist" matches no directory`},
		{"base-directory names a file", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "app"}, `base-directory "app" matches no directory`},
		{"everything excluded", buildspec.Artifacts{Files: []string{"config/*"}, ExcludePaths: []string{"**/*.conf"}}, "select no file not excluded"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := packTestTree(t, packSampleTree)
			var buf bytes.Buffer
			names, err := Pack(&buf, src, &tc.spec)
			if !errors.Is(err, ErrNoMatchingArtifactPaths) {
				t.Fatalf("Pack = %q, %v; want ErrNoMatchingArtifactPaths", names, err)
			}
			if msg := err.Error(); !strings.Contains(msg, "no matching artifact paths found") || !strings.Contains(msg, tc.wantText) {
				t.Fatalf("error %q does not say %q", msg, tc.wantText)
			}
		})
	}
}

func TestPack_BadSpecsAreRefusedBeforeAnythingIsRead(t *testing.T) {
	src := packTestTree(t, packSampleTree)
	for _, tc := range []struct {
		name     string
		spec     *buildspec.Artifacts
		wantText string
	}{
		{"no artifacts block", nil, "no artifacts block"},
		{"no files", &buildspec.Artifacts{}, "artifacts.files is required"},
		{"an empty pattern", &buildspec.Artifacts{Files: []string{""}}, "files: empty path"},
		{"a malformed glob", &buildspec.Artifacts{Files: []string{"config/[a"}}, `files "config/[a"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Pack(io.Discard, src, tc.spec)
			if err == nil || !strings.Contains(err.Error(), tc.wantText) {
				t.Fatalf("Pack: %v; want an error saying %q", err, tc.wantText)
			}
		})
	}
}

// packTestFIFO makes a FIFO at p and returns a function saying whether
// anything opened it: reading a file outside the source directory would
// have to open it first.
func packTestFIFO(t *testing.T, p string) (opened func() bool) {
	t.Helper()
	if err := syscall.Mkfifo(p, 0o644); err != nil {
		t.Fatal(err)
	}
	ch := make(chan struct{})
	go func() {
		// Blocks until a reader opens the FIFO.
		if f, err := os.OpenFile(p, os.O_WRONLY, 0); err == nil {
			f.Close()
		}
		close(ch)
	}()
	t.Cleanup(func() {
		// Release the writer if nothing opened the FIFO.
		if f, err := os.OpenFile(p, os.O_RDONLY|syscall.O_NONBLOCK, 0); err == nil {
			<-ch
			f.Close()
		}
	})
	return func() bool {
		select {
		case <-ch:
			return true
		case <-time.After(50 * time.Millisecond):
			return false
		}
	}
}

func TestPack_NothingOutsideTheSourceDirectoryIsRead(t *testing.T) {
	for _, tc := range []struct {
		name     string
		spec     buildspec.Artifacts
		links    map[string]string // link → target; "OUT" stands for the outside directory
		wantText string
	}{
		{"a ../ pattern", buildspec.Artifacts{Files: []string{"../outside.fifo"}}, nil, `files "../outside.fifo" leaves the source directory`},
		{"a pattern that climbs out in the middle", buildspec.Artifacts{Files: []string{"config/../../outside.fifo"}}, nil, `leaves the source directory`},
		{"an absolute pattern", buildspec.Artifacts{Files: []string{"OUT/outside.fifo"}}, nil, `is an absolute path`},
		{"/etc/passwd", buildspec.Artifacts{Files: []string{"/etc/passwd"}}, nil, `files "/etc/passwd" is an absolute path`},
		{"an exclude-paths climbing out", buildspec.Artifacts{Files: []string{"*"}, ExcludePaths: []string{"../x"}}, nil, `exclude-paths "../x" leaves`},
		{"base-directory ..", buildspec.Artifacts{Files: []string{"outside.fifo"}, BaseDirectory: ".."}, nil, `base-directory ".." leaves the source directory`},
		{"base-directory ../x", buildspec.Artifacts{Files: []string{"**/*"}, BaseDirectory: "../src"}, nil, `base-directory "../src" leaves`},
		{"an absolute base-directory", buildspec.Artifacts{Files: []string{"*"}, BaseDirectory: "OUT"}, nil, `base-directory "OUT" is an absolute path`},
		{"a symlink to a file outside", buildspec.Artifacts{Files: []string{"link"}},
			map[string]string{"link": "../outside.fifo"}, `symlink link -> ../outside.fifo points outside the source directory`},
		{"an absolute symlink outside", buildspec.Artifacts{Files: []string{"**/*"}},
			map[string]string{"config/link": "OUT/outside.fifo"}, `symlink config/link -> OUT/outside.fifo points outside`},
		{"a symlink to /etc/passwd", buildspec.Artifacts{Files: []string{"**/*"}},
			map[string]string{"passwd": "/etc/passwd"}, `symlink passwd -> /etc/passwd points outside the source directory`},
		{"a chain of symlinks leading out", buildspec.Artifacts{Files: []string{"first"}},
			map[string]string{"first": "config/second", "config/second": "../../outside.fifo"}, `symlink config/second -> ../../outside.fifo points outside`},
		{"a symlinked directory outside", buildspec.Artifacts{Files: []string{"dir/**/*"}},
			map[string]string{"dir": ".."}, `symlink dir -> .. points outside`},
		{"a symlinked base-directory outside", buildspec.Artifacts{Files: []string{"*"}, BaseDirectory: "dist"},
			map[string]string{"dist": "OUT"}, `symlink dist -> OUT points outside`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := packTestTree(t, packSampleTree)
			out := filepath.Dir(src)
			opened := packTestFIFO(t, filepath.Join(out, "outside.fifo"))
			if err := os.WriteFile(filepath.Join(out, "secret"), []byte("TOP-SECRET"), 0o600); err != nil {
				t.Fatal(err)
			}
			for link, target := range tc.links {
				packTestSymlink(t, strings.ReplaceAll(target, "OUT", out), filepath.Join(src, link))
			}
			spec := tc.spec
			spec.Files = slices.Clone(spec.Files)
			for i := range spec.Files {
				spec.Files[i] = strings.ReplaceAll(spec.Files[i], "OUT", out)
			}
			spec.BaseDirectory = strings.ReplaceAll(spec.BaseDirectory, "OUT", out)
			wantText := strings.ReplaceAll(tc.wantText, "OUT", out)

			var buf bytes.Buffer
			names, err := Pack(&buf, src, &spec)
			if err == nil || !strings.Contains(err.Error(), wantText) {
				t.Fatalf("Pack = %q, %v; want an error saying %q", names, err, wantText)
			}
			if buf.Len() != 0 {
				t.Errorf("Pack wrote %d bytes before failing", buf.Len())
			}
			if opened() {
				t.Error("Pack opened a file outside the source directory")
			}
		})
	}
}

func TestPack_SymlinksInsideAreFollowedUnlessEnableSymlinks(t *testing.T) {
	src := packTestTree(t, map[string]string{
		"releases/v2/app":      "v2 binary",
		"releases/v2/lib/x.so": "lib",
	})
	packTestSymlink(t, "releases/v2/app", filepath.Join(src, "app"))
	packTestSymlink(t, "releases/v2", filepath.Join(src, "current"))
	packTestSymlink(t, filepath.Join(src, "releases/v2/app"), filepath.Join(src, "bin/abs-app"))
	packTestSymlink(t, "missing", filepath.Join(src, "unrelated-dangling")) // never selected, never an error

	t.Run("followed", func(t *testing.T) {
		var buf bytes.Buffer
		names, err := Pack(&buf, src, &buildspec.Artifacts{Files: []string{"app", "current/**/*", "bin/*"}})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"app", "bin/abs-app", "current/app", "current/lib/x.so"}
		if !slices.Equal(names, want) {
			t.Fatalf("Pack = %q, want %q", names, want)
		}
		files := packTestRead(t, buf.Bytes(), names)
		for _, name := range []string{"app", "bin/abs-app", "current/app"} {
			if f := files[name]; f.Mode().Type() != 0 || packTestContent(t, f) != "v2 binary" {
				t.Errorf("%s: mode %v, content %q; want the file's content", name, f.Mode(), packTestContent(t, f))
			}
		}
	})

	t.Run("stored as links", func(t *testing.T) {
		var buf bytes.Buffer
		names, err := Pack(&buf, src, &buildspec.Artifacts{Files: []string{"app", "current", "bin/*"}, EnableSymlinks: true})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{"app", "bin/abs-app", "current"}
		if !slices.Equal(names, want) {
			t.Fatalf("Pack = %q, want %q", names, want)
		}
		files := packTestRead(t, buf.Bytes(), names)
		for name, target := range map[string]string{
			"app":         "releases/v2/app",
			"current":     "releases/v2",
			"bin/abs-app": "../releases/v2/app", // absolute inside: made relative
		} {
			f := files[name]
			if f.Mode()&os.ModeSymlink == 0 || packTestContent(t, f) != target {
				t.Errorf("%s: mode %v, target %q; want a symlink to %q", name, f.Mode(), packTestContent(t, f), target)
			}
		}
	})

	t.Run("a kept link must stay inside the artifact", func(t *testing.T) {
		_, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"*"}, BaseDirectory: "bin", EnableSymlinks: true})
		if err == nil || !strings.Contains(err.Error(), "symlink bin/abs-app -> ../releases/v2/app points outside the artifact") {
			t.Fatalf("Pack: %v; want the link refused", err)
		}
	})

	t.Run("a selected dangling link is an error naming it", func(t *testing.T) {
		_, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"unrelated-*"}})
		if err == nil || !strings.Contains(err.Error(), "unrelated-dangling") {
			t.Fatalf("Pack: %v; want an error naming the link", err)
		}
	})
}

func TestPack_ASymlinkLoopIsAnErrorNotAnEndlessWalk(t *testing.T) {
	src := packTestTree(t, map[string]string{"a/file": "x"})
	packTestSymlink(t, "..", filepath.Join(src, "a/up"))
	_, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"**/*"}})
	if err == nil || !strings.Contains(err.Error(), "a/up: symlink loop") {
		t.Fatalf("Pack: %v; want a symlink loop error", err)
	}
	// Not walked through, the link is harmless; kept as a link, it is stored.
	if names, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"a/file"}}); err != nil || !slices.Equal(names, []string{"a/file"}) {
		t.Fatalf("Pack = %q, %v", names, err)
	}
	if names, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"**/*"}, EnableSymlinks: true}); err != nil || !slices.Equal(names, []string{"a/file", "a/up"}) {
		t.Fatalf("Pack = %q, %v", names, err)
	}
}

func TestPack_TwoFilesForOneArchivePathIsAnError(t *testing.T) {
	src := packTestTree(t, packSampleTree)
	_, err := Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"build-*/out/*", "build-a/*"}, DiscardPaths: true})
	if err != nil {
		t.Fatalf("distinct names: %v", err)
	}
	if err := os.WriteFile(filepath.Join(src, "codedeploy/lib/start.sh"), []byte("other"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = Pack(io.Discard, src, &buildspec.Artifacts{Files: []string{"codedeploy/**/*"}, DiscardPaths: true})
	if err == nil || !strings.Contains(err.Error(), "codedeploy/lib/start.sh and codedeploy/start.sh would both be stored as start.sh") {
		t.Fatalf("Pack: %v; want a collision error", err)
	}
}

func TestPack_KeepsModesAndModificationTimes(t *testing.T) {
	random := make([]byte, 200<<10)
	rand.NewChaCha8([32]byte{}).Read(random)
	src := packTestTree(t, map[string]string{
		"app":           strings.Repeat("binary ", 30_000),                // large, deflated
		"blob.bin":      string(random),                                   // large, stored
		"run.sh":        "#!/bin/sh\n" + strings.Repeat("echo hi\n", 100), // small, deflated
		"key.bin":       string(random[:100]),                             // small, stored
		"readonly.conf": "x=1",
		"empty":         "",
		"ünïcode/ß.txt": "utf-8 name",
	})
	modes := map[string]os.FileMode{
		"app": 0o755, "blob.bin": 0o700, "run.sh": 0o750, "key.bin": 0o600,
		"readonly.conf": 0o444, "empty": 0o644, "ünïcode/ß.txt": 0o640,
	}
	mtime := time.Date(2024, 2, 29, 13, 14, 16, 0, time.UTC)
	for name, mode := range modes {
		p := filepath.Join(src, name)
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, mtime, mtime); err != nil {
			t.Fatal(err)
		}
	}
	var buf bytes.Buffer
	names, err := Pack(&buf, src, &buildspec.Artifacts{Files: []string{"**/*"}})
	if err != nil {
		t.Fatal(err)
	}
	files := packTestRead(t, buf.Bytes(), names)
	wantMethod := map[string]uint16{
		"app": zip.Deflate, "blob.bin": zip.Store, "run.sh": zip.Deflate, "key.bin": zip.Store,
		"readonly.conf": zip.Store, "empty": zip.Store, "ünïcode/ß.txt": zip.Store,
	}
	for name, mode := range modes {
		f := files[name]
		if f == nil {
			t.Errorf("%s missing", name)
			continue
		}
		if f.Mode() != mode {
			t.Errorf("%s: mode %v, want %v", name, f.Mode(), mode)
		}
		if !f.Modified.Equal(mtime) {
			t.Errorf("%s: modified %v, want %v", name, f.Modified, mtime)
		}
		if f.Method != wantMethod[name] {
			t.Errorf("%s: method %d, want %d", name, f.Method, wantMethod[name])
		}
		want, _ := os.ReadFile(filepath.Join(src, name))
		if got := packTestContent(t, f); got != string(want) {
			t.Errorf("%s: content differs (%d bytes, want %d)", name, len(got), len(want))
		}
	}

	// What unzip makes of it: the same bytes, the executable bit, the times.
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("unzip is not installed; apt-get install -y unzip")
	}
	archive := filepath.Join(t.TempDir(), "a.zip")
	if err := os.WriteFile(archive, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	dest := t.TempDir()
	if out, err := exec.Command("unzip", "-q", archive, "-d", dest).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v\n%s", err, out)
	}
	for name := range modes {
		fi, err := os.Stat(filepath.Join(dest, name))
		if err != nil {
			t.Errorf("unzipped: %v", err)
			continue
		}
		if name == "app" && fi.Mode()&0o111 == 0 {
			t.Errorf("unzipped app is not executable: %v", fi.Mode())
		}
		if !fi.ModTime().Equal(mtime) {
			t.Errorf("unzipped %s: modified %v, want %v", name, fi.ModTime(), mtime)
		}
	}
}

func TestPack_TheArchiveUnzipsWithLinksAndPassesUnzipsTest(t *testing.T) {
	if _, err := exec.LookPath("unzip"); err != nil {
		t.Skip("unzip is not installed; apt-get install -y unzip")
	}
	src := packTestTree(t, packSampleTree)
	packTestSymlink(t, "config/staging.conf", filepath.Join(src, "current.conf"))
	archive := filepath.Join(t.TempDir(), "a.zip")
	f, err := os.Create(archive)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(f, src, &buildspec.Artifacts{Files: []string{"**/*"}, EnableSymlinks: true}); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("unzip", "-t", archive).CombinedOutput(); err != nil {
		t.Fatalf("unzip -t: %v\n%s", err, out)
	}
	dest := t.TempDir()
	if out, err := exec.Command("unzip", "-q", archive, "-d", dest).CombinedOutput(); err != nil {
		t.Fatalf("unzip: %v\n%s", err, out)
	}
	if target, err := os.Readlink(filepath.Join(dest, "current.conf")); err != nil || target != "config/staging.conf" {
		t.Fatalf("unzipped current.conf: %q, %v; want a symlink to config/staging.conf", target, err)
	}
}

func TestPack_TheSameTreeGivesTheSameBytes(t *testing.T) {
	src := packTestTree(t, packSampleTree)
	var a, b bytes.Buffer
	spec := &buildspec.Artifacts{Files: []string{"**/*"}}
	if _, err := Pack(&a, src, spec); err != nil {
		t.Fatal(err)
	}
	if _, err := Pack(&b, src, spec); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("two packs of one tree differ")
	}
}

func TestPack_MatchTreatsDoubleStarAsAnyNumberOfDirectories(t *testing.T) {
	for _, tc := range []struct {
		pat, path string
		match     bool
		below     bool // could something under path (as a directory) match
	}{
		{"**/*", "a", true, true},
		{"**/*", "a/b/c", true, true},
		{"a/*", "a/b", true, false},
		{"a/*", "a/b/c", false, false},
		{"a/*", "b", false, false},
		{"a/*", "a", false, true},
		{"a/**/*", "a", false, true},
		{"a/**/*", "a/b", true, true},
		{"a/**/*", "a/b/c/d", true, true},
		{"a/**/*", "b/c", false, false},
		{"a/**/c", "a/c", true, true},
		{"a/**/c", "a/x/y/c", true, true},
		{"a/**/c", "a/x/y/d", false, true},
		{"**", "x/y", true, true},
		{"*.go", "a.go", true, false},
		{"*.go", "d/a.go", false, false},
		{"b*/out/*", "build-a/out/x", true, false},
		{"b*/out/*", "build-a", false, true},
		{"b*/out/*", "config", false, false},
	} {
		t.Run(fmt.Sprintf("%s~%s", tc.pat, tc.path), func(t *testing.T) {
			pat, p := strings.Split(tc.pat, "/"), strings.Split(tc.path, "/")
			if got := packMatch(pat, p); got != tc.match {
				t.Errorf("packMatch = %v, want %v", got, tc.match)
			}
			if got := packMatchBelow(pat, p); got != tc.below {
				t.Errorf("packMatchBelow = %v, want %v", got, tc.below)
			}
		})
	}
}

// BenchmarkPack_1000Files100MB packs 1,000 files of random (incompressible)
// data, 100 MB in all, with Pack and with "zip -q -r" on the same tree, each
// into a file, and reports both times and their ratio.
func BenchmarkPack_1000Files100MB(b *testing.B) {
	packBenchAgainstZip(b, func(rng *rand.ChaCha8, buf []byte) { rng.Read(buf) })
}

// BenchmarkPack_1000Files100MBText is the same with compressible text
// (random words), where both deflate everything.
func BenchmarkPack_1000Files100MBText(b *testing.B) {
	words := strings.Fields("the quick brown fox jumps over a lazy dog build deploy stack artifact pipeline stage " +
		"func return error nil if for range package import type struct interface string int bool")
	packBenchAgainstZip(b, func(rng *rand.ChaCha8, buf []byte) {
		r := rand.New(rng)
		for i := 0; i < len(buf); {
			i += copy(buf[i:], words[r.IntN(len(words))]+" ")
		}
	})
}

func packBenchAgainstZip(b *testing.B, fill func(*rand.ChaCha8, []byte)) {
	const files, total = 1000, 100_000_000
	src := filepath.Join(b.TempDir(), "src")
	rng := rand.NewChaCha8([32]byte{1})
	buf := make([]byte, total/files)
	for i := range files {
		p := filepath.Join(src, fmt.Sprintf("d%02d", i%20), fmt.Sprintf("f%04d.bin", i))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		fill(rng, buf)
		if err := os.WriteFile(p, buf, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	out := b.TempDir()
	zipPath, err := exec.LookPath("zip")
	if err != nil {
		b.Log("zip is not installed (apt-get install -y zip): measuring Pack alone")
	}

	var packTime, zipTime time.Duration
	var packSize, zipSize int64
	runs := 0
	for b.Loop() {
		runs++
		start := time.Now()
		f, err := os.Create(filepath.Join(out, "pack.zip"))
		if err != nil {
			b.Fatal(err)
		}
		if _, err := Pack(f, src, &buildspec.Artifacts{Files: []string{"**/*"}}); err != nil {
			b.Fatal(err)
		}
		if err := f.Close(); err != nil {
			b.Fatal(err)
		}
		packTime += time.Since(start)
		fi, _ := os.Stat(f.Name())
		packSize = fi.Size()

		if zipPath != "" {
			dest := filepath.Join(out, "zip.zip")
			_ = os.Remove(dest) // zip -r would otherwise update the old archive
			start = time.Now()
			cmd := exec.Command(zipPath, "-q", "-r", dest, ".")
			cmd.Dir = src
			if o, err := cmd.CombinedOutput(); err != nil {
				b.Fatalf("zip: %v\n%s", err, o)
			}
			zipTime += time.Since(start)
			fi, _ := os.Stat(dest)
			zipSize = fi.Size()
		}
	}
	b.ReportMetric(packTime.Seconds()/float64(runs), "pack-s/op")
	b.ReportMetric(float64(total)/1e6/(packTime.Seconds()/float64(runs)), "pack-MB/s")
	b.ReportMetric(float64(packSize)/1e6, "pack-archive-MB")
	if zipPath != "" {
		b.ReportMetric(zipTime.Seconds()/float64(runs), "zip-s/op")
		b.ReportMetric(float64(zipSize)/1e6, "zip-archive-MB")
		b.ReportMetric(packTime.Seconds()/zipTime.Seconds(), "pack/zip")
	}
}
