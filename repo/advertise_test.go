package repo

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/slipway/slipway/store/storetest"
)

// TestNativeAdvertisementMatchesGitInEveryRefState compares the advertisement
// written without git with git's own, byte for byte, as a repository goes
// through the ref states git can leave it in.
func TestNativeAdvertisementMatchesGitInEveryRefState(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	dir := f.serverDir("app")
	ctx := context.Background()
	check := func(state string) {
		t.Helper()
		for _, protocol := range []string{"", "version=2"} {
			if !nativeAdvertisement(dir, protocol) {
				t.Fatalf("%s: native advertisement not used for protocol %q", state, protocol)
			}
			want, err := f.svc.command(ctx, protocol, gitArgs("receive-pack", dir, "--advertise-refs")...).Output()
			if err != nil {
				t.Fatal(err)
			}
			got, err := f.svc.receivePackAdvertisement(ctx, dir)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != string(want) {
				t.Fatalf("%s, protocol %q:\n got %q\nwant %q", state, protocol, got, want)
			}
		}
	}
	check("empty repository")

	work := clone(t, f.url("app"))
	commitFile(t, work, "a.txt", "a\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	check("one branch")

	git(t, work, "tag", "-a", "-m", "release", "v1")
	git(t, work, "tag", "light")
	commitFile(t, work, "b.txt", "b\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/feature/x", "HEAD:refs/heads/zeta", "--tags")
	check("branches and tags")

	git(t, dir, "pack-refs", "--all")
	check("packed refs with peeled tags")

	commitFile(t, work, "c.txt", "c\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	check("a loose ref overriding a packed one")

	git(t, dir, "symbolic-ref", "refs/heads/alias", "refs/heads/main")
	git(t, dir, "symbolic-ref", "refs/heads/dangling", "refs/heads/nothing")
	check("symbolic refs, one dangling")

	if err := os.WriteFile(filepath.Join(dir, "refs", "heads", "main.lock"), []byte("junk\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	check("a ref lock file left by a push in flight")

	git(t, work, "push", "-q", "origin", ":refs/heads/zeta", ":refs/tags/light")
	check("deleted refs")

	// upload-pack's v2 advertisement lists capabilities only.
	want, err := f.svc.command(ctx, "version=2", gitArgs("upload-pack", dir, "--advertise-refs")...).Output()
	if err != nil {
		t.Fatal(err)
	}
	got, err := f.svc.uploadPackV2Advertisement(ctx)
	if err != nil || string(got) != string(want) {
		t.Fatalf("upload-pack v2 advertisement: %v\n got %q\nwant %q", err, got, want)
	}
}

func TestNativeAdvertisementStepsAsideForAlternatesAndProtocolV1(t *testing.T) {
	dir := t.TempDir()
	if !nativeAdvertisement(dir, "") {
		t.Fatal("plain repository not served natively")
	}
	if nativeAdvertisement(dir, "version=1") {
		t.Fatal("protocol v1 needs git's own 'version 1' line")
	}
	if err := os.MkdirAll(filepath.Join(dir, "objects", "info"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "objects", "info", "alternates"), []byte("/elsewhere\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if nativeAdvertisement(dir, "") {
		t.Fatal("a repository with alternates needs git's .have lines")
	}
}
