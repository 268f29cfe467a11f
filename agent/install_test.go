package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"io/fs"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/slipway/slipway/appspec"
)

// writeTree writes files (path → content) below root; a content of
// "-> target" makes a link to target instead.
func writeTree(t *testing.T, root string, files map[string]string) {
	t.Helper()
	for name, content := range files {
		p := filepath.Join(root, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if target, ok := strings.CutPrefix(content, "-> "); ok {
			if err := os.Symlink(target, p); err != nil {
				t.Fatal(err)
			}
			continue
		}
		// Chmod too: the mode WriteFile gives depends on the umask.
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(p, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func fatalIf(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// newRevision writes an unpacked revision and returns its root.
func newRevision(t *testing.T, files map[string]string) string {
	t.Helper()
	root := t.TempDir()
	writeTree(t, root, files)
	return root
}

// newInstaller installs below a fresh prefix, with a fresh layout.
func newInstaller(t *testing.T) *Installer {
	t.Helper()
	return &Installer{Layout: Layout{Root: t.TempDir()}, Prefix: t.TempDir()}
}

func files(pairs ...string) []appspec.File {
	var out []appspec.File
	for i := 0; i+1 < len(pairs); i += 2 {
		out = append(out, appspec.File{Source: pairs[i], Destination: pairs[i+1]})
	}
	return out
}

func readFile(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// cleanupRecord returns the lines of the group's cleanup record.
func cleanupRecord(t *testing.T, in *Installer, groupID string) []string {
	t.Helper()
	p, err := in.Layout.instructions(groupID, "-cleanup")
	if err != nil {
		t.Fatal(err)
	}
	return strings.Fields(readFile(t, p))
}

func exists(p string) bool {
	_, err := os.Lstat(p)
	return err == nil
}

func TestInstall_SampleShapeCopiesDirectoryContentsWithModesAndTimes(t *testing.T) {
	rev := newRevision(t, map[string]string{
		"appspec.yml":         "version: 0.0\n",
		"app/server":          "#!/bin/sh\nexec ./run\n",
		"app/static/index.js": "ok",
		"config/app.conf":     "port=8080",
	})
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	fatalIf(t, os.Chmod(filepath.Join(rev, "app/server"), 0o755))
	fatalIf(t, os.Chmod(filepath.Join(rev, "config/app.conf"), 0o600))
	fatalIf(t, os.Chtimes(filepath.Join(rev, "app/server"), old, old))
	in := newInstaller(t)
	var log bytes.Buffer
	spec := &appspec.Spec{Files: files("/app", "/opt/app", "config/", "/opt/app/config")}
	if err := in.Install(context.Background(), "dg-1", rev, spec, "", &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	opt := filepath.Join(in.Prefix, "opt")
	for name, mode := range map[string]fs.FileMode{"app/server": 0o755, "app/static/index.js": 0o644, "app/config/app.conf": 0o600} {
		fi, err := os.Stat(filepath.Join(opt, name))
		if err != nil || fi.Mode().Perm() != mode {
			t.Errorf("%s: %v %v, want mode %v", name, fi, err, mode)
		}
	}
	if fi, _ := os.Stat(filepath.Join(opt, "app/server")); !fi.ModTime().Equal(old) {
		t.Errorf("modification time %v, want %v", fi.ModTime(), old)
	}
	if exists(filepath.Join(opt, "app/app")) || exists(filepath.Join(opt, "app/appspec.yml")) {
		t.Error("a directory source's own name (or something beside it) was installed")
	}
	want := []string{opt, opt + "/app", opt + "/app/server", opt + "/app/static", opt + "/app/static/index.js", opt + "/app/config", opt + "/app/config/app.conf"}
	if got := cleanupRecord(t, in, "dg-1"); !slices.Equal(got, want) {
		t.Errorf("cleanup record\n%q\nwant\n%q", got, want)
	}
	var plan struct {
		Instructions []map[string]string `json:"instructions"`
	}
	fatalIf(t, json.Unmarshal([]byte(readFile(t, filepath.Join(in.Layout.Root, "deployment-instructions/dg-1-install.json"))), &plan))
	if len(plan.Instructions) != 7 || plan.Instructions[2]["type"] != "copy" ||
		plan.Instructions[2]["source"] != filepath.Join(rev, "app/server") || plan.Instructions[2]["destination"] != opt+"/app/server" {
		t.Errorf("install.json: %v", plan.Instructions)
	}
	if !strings.Contains(log.String(), "[install] copy app/server to "+opt+"/app/server\n") {
		t.Errorf("log:\n%s", log.String())
	}
}

func TestInstall_FileSourcesGoIntoTheDestinationAndSlashIsTheWholeRevision(t *testing.T) {
	rev := newRevision(t, map[string]string{"appspec.yml": "version: 0.0\n", "bin/tool": "t", "README": "r"})
	in := newInstaller(t)
	spec := &appspec.Spec{Files: files("bin/tool", "/usr/local/bin", "/", "/srv/all")}
	if err := in.Install(context.Background(), "dg-1", rev, spec, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"usr/local/bin/tool", "srv/all/appspec.yml", "srv/all/bin/tool", "srv/all/README"} {
		if !exists(filepath.Join(in.Prefix, p)) {
			t.Errorf("%s was not installed", p)
		}
	}
}

func TestInstall_DisallowFailsOnAForeignFileBeforeCopyingAnything(t *testing.T) {
	rev := newRevision(t, map[string]string{"app/a": "a", "app/b": "b"})
	in := newInstaller(t)
	writeTree(t, in.Prefix, map[string]string{"opt/app/b": "someone else's"})
	spec := &appspec.Spec{Files: files("/app", "/opt/app")}
	err := in.Install(context.Background(), "dg-1", rev, spec, appspec.DisallowExisting, &bytes.Buffer{})
	want := "The deployment failed because a specified file already exists at this location: " + filepath.Join(in.Prefix, "opt/app/b")
	if err == nil || err.Error() != want {
		t.Fatalf("err %v\nwant %s", err, want)
	}
	if exists(filepath.Join(in.Prefix, "opt/app/a")) {
		t.Error("a file was copied before the check failed")
	}
	if got := readFile(t, filepath.Join(in.Prefix, "opt/app/b")); got != "someone else's" {
		t.Errorf("the foreign file now holds %q", got)
	}
}

func TestInstall_ANewRevisionReplacesTheLastInstallsFilesWithoutTrippingDisallow(t *testing.T) {
	in := newInstaller(t)
	spec := &appspec.Spec{Files: files("/", "/opt/app")}
	first := newRevision(t, map[string]string{"kept": "v1", "gone": "v1", "olddir/x": "v1", "shared/old": "v1"})
	if err := in.Install(context.Background(), "dg-1", first, spec, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	app := filepath.Join(in.Prefix, "opt/app")
	// Something not installed by the agent lands in an installed directory.
	writeTree(t, app, map[string]string{"shared/log.txt": "written by the app"})
	second := newRevision(t, map[string]string{"kept": "v2", "new/y": "v2"})
	var log bytes.Buffer
	if err := in.Install(context.Background(), "dg-1", second, spec, appspec.DisallowExisting, &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	if got := readFile(t, filepath.Join(app, "kept")); got != "v2" {
		t.Errorf("kept holds %q", got)
	}
	for _, p := range []string{"gone", "olddir", "shared/old"} {
		if exists(filepath.Join(app, p)) {
			t.Errorf("%s of the first revision is still there", p)
		}
	}
	if !exists(filepath.Join(app, "new/y")) || readFile(t, filepath.Join(app, "shared/log.txt")) != "written by the app" {
		t.Error("the new file is missing or the foreign one went")
	}
	if !strings.Contains(log.String(), "(3 directories kept: not empty)") {
		t.Errorf("log:\n%s", log.String())
	}
	// The directory kept for the foreign file is not the second install's.
	if slices.Contains(cleanupRecord(t, in, "dg-1"), filepath.Join(app, "shared")) {
		t.Error("the kept directory was recorded as made by the second install")
	}
}

func TestInstall_OverwriteAndRetain(t *testing.T) {
	for _, c := range []struct {
		name             string
		spec, deployment appspec.FileExistsBehavior
		want             string
		recorded         bool
	}{
		{"overwrite", "", appspec.OverwriteExisting, "new", true},
		{"retain", "", appspec.RetainExisting, "foreign", false},
		{"the appspec's setting wins", appspec.OverwriteExisting, appspec.RetainExisting, "new", true},
	} {
		t.Run(c.name, func(t *testing.T) {
			rev := newRevision(t, map[string]string{"app/f": "new", "app/g": "new"})
			in := newInstaller(t)
			writeTree(t, in.Prefix, map[string]string{"opt/app/f": "foreign"})
			spec := &appspec.Spec{Files: files("/app", "/opt/app"), FileExistsBehavior: c.spec}
			if err := in.Install(context.Background(), "dg-1", rev, spec, c.deployment, &bytes.Buffer{}); err != nil {
				t.Fatal(err)
			}
			f := filepath.Join(in.Prefix, "opt/app/f")
			if got := readFile(t, f); got != c.want {
				t.Errorf("f holds %q, want %q", got, c.want)
			}
			if got := readFile(t, filepath.Join(in.Prefix, "opt/app/g")); got != "new" {
				t.Errorf("g holds %q", got)
			}
			// Only what the install wrote is the next install's to remove.
			if got := slices.Contains(cleanupRecord(t, in, "dg-1"), f); got != c.recorded {
				t.Errorf("f in the cleanup record: %v, want %v", got, c.recorded)
			}
		})
	}
}

func TestInstall_LinksAreMadeAsLinks(t *testing.T) {
	rev := newRevision(t, map[string]string{"app/releases/1/bin": "b", "app/current": "-> releases/1", "app/etc": "-> /etc/app"})
	in := newInstaller(t)
	if err := in.Install(context.Background(), "dg-1", rev, &appspec.Spec{Files: files("/app", "/opt/app")}, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"current": "releases/1", "etc": "/etc/app"} {
		if got, err := os.Readlink(filepath.Join(in.Prefix, "opt/app", name)); err != nil || got != want {
			t.Errorf("%s: %q %v, want a link to %s", name, got, err, want)
		}
	}
}

// owner returns a user and group to give files to: nobody where there is
// one, else whoever runs the test.
func owner(t *testing.T) (name, group string, uid, gid int) {
	t.Helper()
	u, err := user.Lookup("nobody")
	if err != nil {
		if u, err = user.Current(); err != nil {
			t.Skip("no user to look up:", err)
		}
	}
	g, err := user.LookupGroupId(u.Gid)
	if err != nil {
		t.Skip("no group to look up:", err)
	}
	uid, _ = strconv.Atoi(u.Uid)
	gid, _ = strconv.Atoi(u.Gid)
	return u.Username, g.Name, uid, gid
}

type chownCall struct {
	path     string
	uid, gid int
}

// recordingChown records every owner change, and makes it when the test
// runs as root, which may.
func recordingChown(calls *[]chownCall) func(string, int, int) error {
	return func(p string, uid, gid int) error {
		*calls = append(*calls, chownCall{p, uid, gid})
		if os.Geteuid() == 0 {
			return os.Lchown(p, uid, gid)
		}
		return nil
	}
}

func mode(m fs.FileMode) *fs.FileMode { return &m }

func TestInstall_PermissionsApplyOnlyToWhatThisInstallMadeByPatternExceptAndType(t *testing.T) {
	name, group, uid, gid := owner(t)
	rev := newRevision(t, map[string]string{
		"bin/run.sh": "r", "bin/skip.sh": "s", "bin/notes.txt": "n", "bin/sub/deep.sh": "d",
		"data/cache/x": "x", "data/file.txt": "f",
		"config.yml": "c",
	})
	in := newInstaller(t)
	var calls []chownCall
	in.Chown = recordingChown(&calls)
	writeTree(t, in.Prefix, map[string]string{"opt/app/bin/foreign.sh": "not ours"})
	app := filepath.Join(in.Prefix, "opt/app")
	spec := &appspec.Spec{
		Files: files("/", "/opt/app"),
		Permissions: []appspec.Permission{
			{Object: "/opt/app/bin", Pattern: "*.sh", Except: []string{"skip*"}, Type: []string{appspec.ObjectFile}, Mode: mode(0o700)},
			{Object: "/opt/app/data", Pattern: "**", Type: []string{appspec.ObjectDirectory}, Mode: mode(0o770), Owner: name},
			{Object: "/opt/app/config.yml", Pattern: "**", Type: []string{appspec.ObjectFile, appspec.ObjectDirectory}, Mode: mode(0o640), Owner: name, Group: group},
			{Object: "/opt/app/data", Pattern: "**", Type: []string{appspec.ObjectFile}, Context: &appspec.Context{Type: "httpd_sys_content_t"}},
		},
	}
	var log bytes.Buffer
	if err := in.Install(context.Background(), "dg-1", rev, spec, "", &log); err != nil {
		t.Fatalf("%v\n%s", err, log.String())
	}
	for p, want := range map[string]fs.FileMode{
		"bin/run.sh": 0o700, "bin/skip.sh": 0o644, "bin/notes.txt": 0o644, "bin/sub/deep.sh": 0o644, "bin/foreign.sh": 0o644,
		"data/cache": 0o770, "data/file.txt": 0o644,
		"config.yml": 0o640,
	} {
		fi, err := os.Stat(filepath.Join(app, p))
		if err != nil || fi.Mode().Perm() != want {
			t.Errorf("%s: %v %v, want mode %v", p, fi, err, want)
		}
	}
	// A directory made by the install keeps the mode mkdir gave it, as
	// bin/sub, which no permission names, does.
	data, err1 := os.Stat(filepath.Join(app, "data"))
	sub, err2 := os.Stat(filepath.Join(app, "bin/sub"))
	if err1 != nil || err2 != nil || data.Mode() != sub.Mode() {
		t.Errorf("the permission of data's contents changed data itself: %v %v, %v %v", data, err1, sub, err2)
	}
	want := []chownCall{{filepath.Join(app, "data/cache"), uid, -1}, {filepath.Join(app, "config.yml"), uid, gid}}
	if !slices.Equal(calls, want) {
		t.Errorf("owner changes %v, want %v", calls, want)
	}
	if os.Geteuid() == 0 {
		if fi, err := os.Stat(filepath.Join(app, "config.yml")); err != nil || fi.Sys().(*syscall.Stat_t).Uid != uint32(uid) {
			t.Errorf("config.yml: %v %v, want owner %d", fi, err, uid)
		}
	}
	if !strings.Contains(log.String(), "SELinux context httpd_sys_content_t skipped") {
		t.Errorf("the skipped context is not in the log:\n%s", log.String())
	}
}

func TestInstall_RefusesBeforeCopyingAnything(t *testing.T) {
	rev := newRevision(t, map[string]string{"a/f": "1", "b/f": "2", "app/x": "x", "escape": "-> /etc", "file": "f"})
	cases := []struct {
		name string
		spec appspec.Spec
		want string
	}{
		{"two sources, one destination", appspec.Spec{Files: files("/app", "/opt/app", "a/f", "/opt/dup", "b/f", "/opt/dup")},
			"The deployment failed because the application specification file specifies two source files named b/f and a/f for the same destination"},
		{"a file where a directory is made", appspec.Spec{Files: files("/app", "/opt/app", "file", "/opt", "/app", "/opt/file")},
			"where it also installs the file file"},
		{"a source out of the revision", appspec.Spec{Files: files("/app", "/opt/app", "../etc/passwd", "/opt/x")},
			`source "../etc/passwd" leads out of the revision`},
		{"a source through a link out of the revision", appspec.Spec{Files: files("/app", "/opt/app", "escape/passwd", "/opt/x")},
			"source escape/passwd: "},
		{"a missing source", appspec.Spec{Files: files("/app", "/opt/app", "nothing", "/opt/x")},
			"source nothing does not exist in the revision"},
		{"a path set by two permissions", appspec.Spec{Files: files("/app", "/opt/app"), Permissions: []appspec.Permission{
			{Object: "/opt/app", Mode: mode(0o700)}, {Object: "/opt/app/x", Mode: mode(0o600)}}},
			"the permissions setting for (PREFIX/opt/app/x) is specified more than once"},
		{"a pattern on a file", appspec.Spec{Files: files("/app", "/opt/app"), Permissions: []appspec.Permission{
			{Object: "/opt/app/x", Pattern: "*.sh", Mode: mode(0o700)}}},
			"includes an object (/opt/app/x) with an invalid pattern (*.sh)"},
		{"a default ACL on a file", appspec.Spec{Files: files("/app", "/opt/app"), Permissions: []appspec.Permission{
			{Object: "/opt/app/x", ACLs: []string{"d:u:nobody:r"}}}},
			"-d parameter has been specified to apply an acl setting to a file"},
		{"an unknown owner", appspec.Spec{Files: files("/app", "/opt/app"), Permissions: []appspec.Permission{
			{Object: "/opt/app/x", Owner: "no-such-user-here"}}},
			"permissions for /opt/app/x: owner: "},
	}
	if _, err := exec.LookPath("setfacl"); err != nil {
		cases = append(cases, struct {
			name string
			spec appspec.Spec
			want string
		}{"acls without setfacl", appspec.Spec{Files: files("/app", "/opt/app"), Permissions: []appspec.Permission{
			{Object: "/opt/app", ACLs: []string{"u:nobody:r"}}}},
			"permissions for /opt/app set acls, but setfacl is not installed on this host"})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			in := newInstaller(t)
			err := in.Install(context.Background(), "dg-1", rev, &c.spec, "", &bytes.Buffer{})
			if want := strings.ReplaceAll(c.want, "PREFIX", in.Prefix); err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("err %v, want one with %q", err, want)
			}
			if entries, _ := os.ReadDir(in.Prefix); len(entries) != 0 {
				t.Errorf("something was installed: %v", entries)
			}
		})
	}
}

// hookWriter is a log that calls on with every line written to it.
type hookWriter struct {
	bytes.Buffer
	on func(line string)
}

func (w *hookWriter) Write(b []byte) (int, error) {
	w.on(string(b))
	return w.Buffer.Write(b)
}

func TestInstall_TheCleanupRecordIsWrittenAsFilesAreMade(t *testing.T) {
	// The third file fails halfway through the install (a file that is not
	// the agent's appears at its destination). The record on disk lists
	// exactly what was made before, so the next install removes those and
	// nothing else.
	rev := newRevision(t, map[string]string{"files/f1": "1", "files/f2": "2", "files/f3": "3", "files/f4": "4"})
	in := newInstaller(t)
	dir := filepath.Join(in.Prefix, "opt/crash")
	log := &hookWriter{on: func(line string) {
		if strings.HasPrefix(line, "[install] copy files/f2 ") {
			writeTree(t, dir, map[string]string{"f3": "foreign"})
		}
	}}
	err := in.Install(context.Background(), "dg-1", rev, &appspec.Spec{Files: files("/files", "/opt/crash")}, "", log)
	if want := "The deployment failed because a specified file already exists at this location: " + dir + "/f3"; err == nil || err.Error() != want {
		t.Fatalf("err %v, want %s", err, want)
	}
	want := []string{filepath.Dir(dir), dir, dir + "/f1", dir + "/f2"}
	if got := cleanupRecord(t, in, "dg-1"); !slices.Equal(got, want) {
		t.Fatalf("cleanup record %q, want %q", got, want)
	}
	if exists(dir + "/f4") {
		t.Error("the install went on after the failure")
	}
	// A half-written last line (the agent stopped while writing it) is not
	// a path to delete.
	record, _ := in.Layout.instructions("dg-1", "-cleanup")
	f, err := os.OpenFile(record, os.O_WRONLY|os.O_APPEND, 0)
	fatalIf(t, err)
	_, err = f.WriteString(dir + "/f")
	fatalIf(t, err)
	fatalIf(t, f.Close())
	if err := in.Install(context.Background(), "dg-1", newRevision(t, map[string]string{"other": "o"}), &appspec.Spec{Files: files("/", "/opt/other")}, "", &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if exists(dir+"/f1") || exists(dir+"/f2") || readFile(t, dir+"/f3") != "foreign" {
		t.Error("the replay did not remove exactly what the failed install made")
	}
}

func TestBeneath_MatchesAsTheAgentsSimpleGlobsDo(t *testing.T) {
	for _, c := range []struct {
		p, pattern string
		except     []string
		want       bool
	}{
		{"/opt/app/a.sh", "**", nil, true},
		{"/opt/app/sub/a.sh", "**", nil, true},
		{"/opt/app", "**", nil, false}, // the object itself
		{"/opt/application/a.sh", "**", nil, false},
		{"/opt/app/a.sh", "*.sh", nil, true},
		{"/opt/app/sub/a.sh", "*.sh", nil, false}, // a pattern names entries directly inside
		{"/opt/app/a.shx", "*.sh", nil, false},
		{"/opt/app/a.sh", "a*b*.sh", nil, false},
		{"/opt/app/axxbyy.sh", "a*b*.sh", nil, true},
		{"/opt/app/a?.sh", "a?.sh", nil, true}, // ? is itself
		{"/opt/app/ab.sh", "a?.sh", nil, false},
		{"/opt/app/a.sh", "**", []string{"*.sh"}, false},
		{"/opt/app/sub/a.sh", "**", []string{"*.sh"}, true}, // so is an except
		{"/opt/app/a.sh", "*", []string{"b*"}, true},
	} {
		if got := beneath("/opt/app/", c.p, c.pattern, c.except); got != c.want {
			t.Errorf("beneath(/opt/app, %s, %q, %q) = %v, want %v", c.p, c.pattern, c.except, got, c.want)
		}
	}
}
