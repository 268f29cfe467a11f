package repo

import (
	"archive/tar"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/store/storetest"
)

func TestExport_WritesTheTreeOfABranchTagOrCommitAndRefusesOptionLikeRefs(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	rp := f.create(t, "src")
	work := clone(t, f.url("src"))
	if err := os.MkdirAll(filepath.Join(work, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	first := commitFile(t, work, "sub/a.txt", "one\n")
	git(t, work, "tag", "v1")
	if err := os.Symlink("sub/a.txt", filepath.Join(work, "link")); err != nil {
		t.Fatal(err)
	}
	git(t, work, "add", "link")
	second := commitFile(t, work, "b.sh", "#!/bin/sh\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main", "v1")

	dest := t.TempDir()
	commit, err := f.svc.Export(context.Background(), rp, "main", dest)
	if err != nil || commit != second {
		t.Fatalf("export main: %s %v", commit, err)
	}
	if b, err := os.ReadFile(filepath.Join(dest, "sub/a.txt")); err != nil || string(b) != "one\n" {
		t.Fatalf("sub/a.txt: %q %v", b, err)
	}
	if l, err := os.Readlink(filepath.Join(dest, "link")); err != nil || l != "sub/a.txt" {
		t.Fatalf("link: %q %v", l, err)
	}
	for _, ref := range []string{"v1", first, first[:10]} {
		dest := t.TempDir()
		commit, err := f.svc.Export(context.Background(), rp, ref, dest)
		if err != nil || commit != first {
			t.Fatalf("export %s: %s %v", ref, commit, err)
		}
		if _, err := os.Stat(filepath.Join(dest, "b.sh")); !os.IsNotExist(err) {
			t.Fatalf("export %s holds a later file: %v", ref, err)
		}
	}
	for _, ref := range []string{"--output=/tmp/x", "-h", "nosuch", ""} {
		if _, err := f.svc.Export(context.Background(), rp, ref, t.TempDir()); err == nil {
			t.Errorf("ref %q was accepted", ref)
		}
	}
}

func TestUntar_RefusesEntriesThatEscapeOrGoThroughALink(t *testing.T) {
	mk := func(entries ...tar.Header) []byte {
		var b bytes.Buffer
		tw := tar.NewWriter(&b)
		for _, h := range entries {
			h.Mode = 0o644
			if err := tw.WriteHeader(&h); err != nil {
				t.Fatal(err)
			}
		}
		tw.Close()
		return b.Bytes()
	}
	outside := t.TempDir()
	cases := map[string][]byte{
		"dot-dot":  mk(tar.Header{Name: "../evil", Typeflag: tar.TypeReg}),
		"absolute": mk(tar.Header{Name: "/tmp/evil", Typeflag: tar.TypeReg}),
		"through a link": mk(tar.Header{Name: "l", Typeflag: tar.TypeSymlink, Linkname: outside},
			tar.Header{Name: "l/evil", Typeflag: tar.TypeReg}),
	}
	for name, data := range cases {
		_, err := untar(bytes.NewReader(data), t.TempDir())
		if err == nil || !strings.Contains(err.Error(), "evil") {
			t.Errorf("%s: %v", name, err)
		}
	}
	if entries, _ := os.ReadDir(outside); len(entries) != 0 {
		t.Fatalf("something was written outside: %v", entries)
	}
}

func TestChangedFiles_ListsWhatAPushChanged(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	rp := f.create(t, "src")
	work := clone(t, f.url("src"))
	if err := os.MkdirAll(filepath.Join(work, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	commitFile(t, work, "sub/a.txt", "one\n")
	first := commitFile(t, work, "b.txt", "b\n")
	second := commitFile(t, work, "sub/a.txt", "two\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	ctx := context.Background()
	got, err := f.svc.ChangedFiles(ctx, rp, first, second)
	if err != nil || strings.Join(got, ",") != "sub/a.txt" {
		t.Fatalf("changed %v %v", got, err)
	}
	all, err := f.svc.ChangedFiles(ctx, rp, strings.Repeat("0", 40), second)
	if err != nil || strings.Join(all, ",") != "b.txt,sub/a.txt" {
		t.Fatalf("a new branch: %v %v", all, err)
	}
	if _, err := f.svc.ChangedFiles(ctx, rp, "--output=/tmp/x", second); err == nil {
		t.Fatal("an option was taken for a commit")
	}
}
