package agent

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLayout_PathsAreCodeDeploysAndRefuseIDsThatLeaveTheRoot(t *testing.T) {
	l := Layout{Root: "/opt/codedeploy-agent/deployment-root"}
	for got, want := range map[string]string{
		l.DeploymentDir("dg-1", "d-1"): "/opt/codedeploy-agent/deployment-root/dg-1/d-1",
		l.Bundle("dg-1", "d-1"):        "/opt/codedeploy-agent/deployment-root/dg-1/d-1/bundle.tar",
		l.Archive("dg-1", "d-1"):       "/opt/codedeploy-agent/deployment-root/dg-1/d-1/deployment-archive",
		l.ScriptsLog("dg-1", "d-1"):    "/opt/codedeploy-agent/deployment-root/dg-1/d-1/logs/scripts.log",
	} {
		if got != want {
			t.Errorf("%s, want %s", got, want)
		}
	}
	for _, bad := range []string{"", ".", "..", "../dg", "a/b", "/abs", "a..b"} {
		if CheckID(bad) == nil {
			t.Errorf("CheckID(%q) accepted it", bad)
		}
		if p := l.Archive("dg-1", bad) + l.Bundle(bad, "d-1") + l.DeploymentDir(bad, bad) + l.ScriptsLog("dg-1", bad); p != "" {
			t.Errorf("%q gave the path %q", bad, p)
		}
		if _, err := l.LastSuccessful(bad); err == nil {
			t.Errorf("LastSuccessful(%q) accepted it", bad)
		}
		if err := l.SetMostRecent(bad, "/x"); err == nil {
			t.Errorf("SetMostRecent(%q) accepted it", bad)
		}
		if err := l.Prune(bad, 5); err == nil {
			t.Errorf("Prune(%q) accepted it", bad)
		}
		if _, err := l.UnpackBundle(context.Background(), "dg-1", bad); err == nil {
			t.Errorf("UnpackBundle(%q) accepted it", bad)
		}
	}
}

func TestLayout_LastSuccessfulAndMostRecentRoundTrip(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	for _, get := range []func(string) (string, error){l.LastSuccessful, l.MostRecent} {
		if dir, err := get("dg-1"); dir != "" || err != nil {
			t.Fatalf("before any install: %q %v", dir, err)
		}
	}
	d1, d2 := l.DeploymentDir("dg-1", "d-1"), l.DeploymentDir("dg-1", "d-2")
	fatalIf(t, l.SetLastSuccessful("dg-1", d1))
	fatalIf(t, l.SetMostRecent("dg-1", d1))
	fatalIf(t, l.SetMostRecent("dg-1", d2))
	if dir, err := l.LastSuccessful("dg-1"); dir != d1 || err != nil {
		t.Errorf("last successful %q %v, want %s", dir, err, d1)
	}
	if dir, err := l.MostRecent("dg-1"); dir != d2 || err != nil {
		t.Errorf("most recent %q %v, want %s", dir, err, d2)
	}
	if dir, err := l.MostRecent("dg-2"); dir != "" || err != nil {
		t.Errorf("another group: %q %v", dir, err)
	}
	entries, err := os.ReadDir(filepath.Join(l.Root, "deployment-instructions"))
	fatalIf(t, err)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if want := []string{"dg-1_last_successful_install", "dg-1_most_recent_install"}; !slices.Equal(names, want) {
		t.Errorf("deployment-instructions holds %q, want %q (no temporary files)", names, want)
	}
}

func TestLayout_PruneKeepsTheNewestAndNeverTheLastSuccessfulOrMostRecent(t *testing.T) {
	// The deployments from oldest to newest; their names sort otherwise,
	// so the order can only come from the times.
	byAge := []string{"d-5", "d-2", "d-6", "d-0", "d-3", "d-1", "d-4"}
	cases := []struct {
		name       string
		max        int
		last, most int // indexes into byAge of the pointed-to deployments, -1 for none
		kept       []int
	}{
		{"newest five", 5, -1, -1, []int{2, 3, 4, 5, 6}},
		{"zero means five", 0, -1, -1, []int{2, 3, 4, 5, 6}},
		{"the oldest is the last successful", 5, 0, 6, []int{0, 3, 4, 5, 6}},
		{"two kept, both pointed to", 2, 1, 3, []int{1, 3}},
		{"fewer than max", 10, 0, 6, []int{0, 1, 2, 3, 4, 5, 6}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			l := Layout{Root: t.TempDir()}
			base := time.Now().Add(-time.Hour)
			for i, id := range byAge {
				dir := l.DeploymentDir("dg-1", id)
				fatalIf(t, os.MkdirAll(filepath.Join(dir, "deployment-archive"), 0o755))
				when := base.Add(time.Duration(i) * time.Minute)
				fatalIf(t, os.Chtimes(dir, when, when))
			}
			if c.last >= 0 {
				fatalIf(t, l.SetLastSuccessful("dg-1", l.DeploymentDir("dg-1", byAge[c.last])))
			}
			if c.most >= 0 {
				fatalIf(t, l.SetMostRecent("dg-1", l.DeploymentDir("dg-1", byAge[c.most])))
			}
			fatalIf(t, l.Prune("dg-1", c.max))
			entries, err := os.ReadDir(filepath.Join(l.Root, "dg-1"))
			fatalIf(t, err)
			var got, want []string
			for _, e := range entries {
				got = append(got, e.Name())
			}
			for _, i := range c.kept {
				want = append(want, byAge[i])
			}
			slices.Sort(want)
			if !slices.Equal(got, want) {
				t.Errorf("kept %q, want %q", got, want)
			}
		})
	}
	if err := (Layout{Root: t.TempDir()}).Prune("dg-new", 5); err != nil {
		t.Errorf("a group with no deployments yet: %v", err)
	}
}

// bundleEntry is a file of a test bundle; a name ending in / is a directory.
type bundleEntry struct{ name, body string }

func makeBundle(t *testing.T, format string, entries []bundleEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	switch format {
	case "zip":
		zw := zip.NewWriter(&buf)
		for _, e := range entries {
			w, err := zw.Create(e.name)
			fatalIf(t, err)
			_, err = w.Write([]byte(e.body))
			fatalIf(t, err)
		}
		fatalIf(t, zw.Close())
	case "tar", "tgz":
		var tbuf bytes.Buffer
		tw := tar.NewWriter(&tbuf)
		for _, e := range entries {
			h := &tar.Header{Name: e.name, Mode: 0o644, Typeflag: tar.TypeReg, Size: int64(len(e.body))}
			if strings.HasSuffix(e.name, "/") {
				h.Mode, h.Typeflag, h.Size = 0o755, tar.TypeDir, 0
			}
			fatalIf(t, tw.WriteHeader(h))
			_, err := tw.Write([]byte(e.body))
			fatalIf(t, err)
		}
		fatalIf(t, tw.Close())
		if format == "tar" {
			return tbuf.Bytes()
		}
		zw := gzip.NewWriter(&buf)
		_, err := zw.Write(tbuf.Bytes())
		fatalIf(t, err)
		fatalIf(t, zw.Close())
	}
	return buf.Bytes()
}

func TestLayout_UnpackBundleStripsASingleTopDirectoryHoldingTheAppSpec(t *testing.T) {
	cases := []struct {
		name    string
		entries []bundleEntry
		want    []string // the archive's top level
	}{
		{"flat", []bundleEntry{{"appspec.yml", "version: 0.0"}, {"app/x", "x"}}, []string{"app", "appspec.yml"}},
		{"one directory with appspec.yml", []bundleEntry{{"myapp/", ""}, {"myapp/appspec.yml", "version: 0.0"}, {"myapp/app/x", "x"}}, []string{"app", "appspec.yml"}},
		{"one directory with appspec.yaml", []bundleEntry{{"myapp/appspec.yaml", "version: 0.0"}, {"myapp/scripts/s.sh", "s"}}, []string{"appspec.yaml", "scripts"}},
		{"one directory without an appspec", []bundleEntry{{"myapp/", ""}, {"myapp/app/x", "x"}}, []string{"myapp"}},
		{"the appspec deeper down", []bundleEntry{{"myapp/sub/appspec.yml", "version: 0.0"}}, []string{"myapp"}},
		{"two directories", []bundleEntry{{"a/appspec.yml", "version: 0.0"}, {"b/x", "x"}}, []string{"a", "b"}},
	}
	for _, format := range []string{"zip", "tar", "tgz"} {
		for _, c := range cases {
			t.Run(format+"/"+c.name, func(t *testing.T) {
				l := Layout{Root: t.TempDir()}
				bundle := l.Bundle("dg-1", "d-1")
				fatalIf(t, os.MkdirAll(filepath.Dir(bundle), 0o755))
				fatalIf(t, os.WriteFile(bundle, makeBundle(t, format, c.entries), 0o644))
				// A retried unpack starts over: nothing of the last one stays.
				stale := filepath.Join(l.Archive("dg-1", "d-1"), "stale")
				writeTree(t, filepath.Dir(stale), map[string]string{"stale": "s"})
				archive, err := l.UnpackBundle(context.Background(), "dg-1", "d-1")
				if err != nil {
					t.Fatal(err)
				}
				if archive != l.Archive("dg-1", "d-1") {
					t.Errorf("archive %s, want %s", archive, l.Archive("dg-1", "d-1"))
				}
				entries, err := os.ReadDir(archive)
				fatalIf(t, err)
				var got []string
				for _, e := range entries {
					got = append(got, e.Name())
				}
				if !slices.Equal(got, c.want) {
					t.Errorf("archive holds %q, want %q", got, c.want)
				}
				if exists(filepath.Join(l.DeploymentDir("dg-1", "d-1"), "deployment-archive-temp")) {
					t.Error("the temporary directory of the strip is left")
				}
			})
		}
	}
}

func TestLayout_UnpackBundleRefusesWhatIsNotAnArchive(t *testing.T) {
	l := Layout{Root: t.TempDir()}
	bundle := l.Bundle("dg-1", "d-1")
	writeTree(t, filepath.Dir(bundle), map[string]string{"bundle.tar": "version: 0.0\n"})
	if _, err := l.UnpackBundle(context.Background(), "dg-1", "d-1"); err == nil || !strings.Contains(err.Error(), "not a zip, tar or tgz archive") {
		t.Errorf("err %v", err)
	}
}
