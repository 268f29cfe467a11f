package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// browseRepo is a repository pushed with the real git client: main with
// five commits (the last a rename), a branch feature one commit ahead of
// main's third, and a tag v1.
type browseRepo struct {
	f       *fixture
	rp      *Repository
	commits []string // main's, oldest first
	feature string
}

// commitAt writes files (a nil content removes the file) and commits them
// with a fixed date, so that the order of the history does not depend on
// the clock.
func commitAt(t *testing.T, dir string, at int, msg string, files map[string]*string) string {
	t.Helper()
	for name, content := range files {
		full := filepath.Join(dir, name)
		if content == nil {
			git(t, dir, "rm", "-q", name)
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(full, []byte(*content), 0o644); err != nil {
			t.Fatal(err)
		}
		git(t, dir, "add", name)
	}
	date := fmt.Sprintf("@%d +0000", 1_700_000_000+at*60)
	env := gitEnv(dir, "GIT_AUTHOR_DATE="+date, "GIT_COMMITTER_DATE="+date)
	if out, err := tryGit(dir, env, "commit", "-q", "-m", msg); err != nil {
		t.Fatalf("commit: %v\n%s", err, out)
	}
	return git(t, dir, "rev-parse", "HEAD")
}

func text(s string) *string { return &s }

func newBrowseRepo(t *testing.T) *browseRepo {
	t.Helper()
	f := newFixture(t, storetest.SQLite(t), nil)
	b := &browseRepo{f: f, rp: f.create(t, "src")}
	work := clone(t, f.url("src"))
	b.commits = append(b.commits,
		commitAt(t, work, 1, "Add the README\n\nIt says hello.\nTwice.", map[string]*string{"README.md": text("hello\nhello\n")}),
		commitAt(t, work, 2, "Add code", map[string]*string{
			"src/app/main.go": text("package main\n"), "page.html": text("<script>alert(1)</script>\n"),
			"logo.bin": text("PNG\x00\x01\x02binary"),
		}),
		commitAt(t, work, 3, "Change main.go", map[string]*string{"src/app/main.go": text("package main\n\nfunc main() {}\n")}),
	)
	git(t, work, "tag", "v1")
	git(t, work, "checkout", "-q", "-b", "feature")
	b.feature = commitAt(t, work, 10, "Feature work", map[string]*string{"feature.txt": text("new\n")})
	git(t, work, "checkout", "-q", "main")
	b.commits = append(b.commits,
		commitAt(t, work, 4, "Grow the README", map[string]*string{"README.md": text("hello\nworld\nagain\n")}),
	)
	git(t, work, "mv", "page.html", "index.html")
	b.commits = append(b.commits, commitAt(t, work, 5, "Rename the page", nil))
	git(t, work, "push", "-q", "origin", "main", "feature", "v1")
	return b
}

func TestBrowse_AnEmptyRepositoryAnswersEmptyListsNotErrors(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	rp := f.create(t, "empty")
	ctx := context.Background()
	branches, err := f.svc.Branches(ctx, rp)
	if err != nil || branches == nil || len(branches) != 0 {
		t.Fatalf("branches: %#v %v", branches, err)
	}
	for _, ref := range []string{"", "main"} {
		page, err := f.svc.Commits(ctx, rp, ref, "", 0, 0)
		if err != nil || page.Commits == nil || len(page.Commits) != 0 || page.More || page.Commit != "" {
			t.Fatalf("commits of %q: %#v %v", ref, page, err)
		}
		tree, err := f.svc.Tree(ctx, rp, ref, "")
		if err != nil || tree.Entries == nil || len(tree.Entries) != 0 {
			t.Fatalf("tree of %q: %#v %v", ref, tree, err)
		}
	}
	if _, err := f.svc.Tree(ctx, rp, "", "src"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a directory of an empty repository: %v, want not found", err)
	}
	if _, err := f.svc.Blob(ctx, rp, "", "README.md", 100); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a file of an empty repository: %v, want not found", err)
	}
	if _, err := f.svc.Commit(ctx, rp, "main"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("a commit of an empty repository: %v, want not found", err)
	}
}

func TestBrowse_BranchesNameTheirTipAndMarkTheDefault(t *testing.T) {
	b := newBrowseRepo(t)
	got, err := b.f.svc.Branches(context.Background(), b.rp)
	if err != nil {
		t.Fatal(err)
	}
	// feature was committed last.
	if len(got) != 2 || got[0].Name != "feature" || got[1].Name != "main" {
		t.Fatalf("branches %#v", got)
	}
	feature, main := got[0], got[1]
	if feature.Default || !main.Default {
		t.Errorf("default: feature %v, main %v", feature.Default, main.Default)
	}
	if main.Commit != b.commits[4] || main.Subject != "Rename the page" || main.Author != "Test Author" ||
		!main.Date.Equal(time.Unix(1_700_000_000+5*60, 0)) {
		t.Errorf("main %#v", main)
	}
	if feature.Commit != b.feature || feature.Subject != "Feature work" {
		t.Errorf("feature %#v", feature)
	}
}

func TestBrowse_CommitsPageThroughTheHistoryOfARefOrAPath(t *testing.T) {
	b := newBrowseRepo(t)
	ctx := context.Background()
	ids := func(p *CommitPage) []string {
		var out []string
		for _, c := range p.Commits {
			out = append(out, c.ID)
		}
		return out
	}
	want := func(idx ...int) string {
		var out []string
		for _, i := range idx {
			out = append(out, b.commits[i])
		}
		return strings.Join(out, " ")
	}

	page, err := b.f.svc.Commits(ctx, b.rp, "", "", 2, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(page), " "); got != want(4, 3) || !page.More || page.Commit != b.commits[4] {
		t.Fatalf("first page: %s more=%v commit=%s", got, page.More, page.Commit)
	}
	c := page.Commits[1]
	if c.Subject != "Grow the README" || c.Message != "" || c.Author != "Test Author" || c.AuthorEmail != "author@example.com" ||
		c.Committer != "Test Committer" || len(c.Parents) != 1 || c.Parents[0] != b.commits[2] {
		t.Errorf("listed commit %#v", c)
	}
	page, err = b.f.svc.Commits(ctx, b.rp, "main", "", 2, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(page), " "); got != want(0) || page.More {
		t.Fatalf("last page: %s more=%v", got, page.More)
	}
	if len(page.Commits[0].Parents) != 0 || page.Commits[0].Parents == nil {
		t.Errorf("a root commit's parents: %#v", page.Commits[0].Parents)
	}

	// A path's history: only the commits that changed it.
	page, err = b.f.svc.Commits(ctx, b.rp, "v1", "src", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(ids(page), " "); got != want(2, 1) || page.More {
		t.Fatalf("history of src at v1: %s", got)
	}
	page, err = b.f.svc.Commits(ctx, b.rp, b.feature[:10], "feature.txt", 0, 0)
	if err != nil || len(page.Commits) != 1 || page.Commits[0].ID != b.feature {
		t.Fatalf("history of feature.txt at an abbreviated id: %#v %v", page, err)
	}
	// Pathspec magic is no magic: ":(glob)*" names a file that is not there.
	page, err = b.f.svc.Commits(ctx, b.rp, "", ":(glob)*", 0, 0)
	if err != nil || len(page.Commits) != 0 {
		t.Fatalf("a magic pathspec: %d commits, %v", len(page.Commits), err)
	}
}

func TestBrowse_ACommitHasItsMessageAndChangedFiles(t *testing.T) {
	b := newBrowseRepo(t)
	ctx := context.Background()
	d, err := b.f.svc.Commit(ctx, b.rp, b.commits[0])
	if err != nil {
		t.Fatal(err)
	}
	if d.Message != "Add the README\n\nIt says hello.\nTwice." || d.Subject != "Add the README" || len(d.Parents) != 0 {
		t.Errorf("root commit %#v", d.Commit)
	}
	if len(d.Files) != 1 || d.Files[0] != (ChangedFile{Path: "README.md", Added: 2}) {
		t.Errorf("root commit's files %#v", d.Files)
	}

	d, err = b.f.svc.Commit(ctx, b.rp, b.commits[3][:12])
	if err != nil {
		t.Fatal(err)
	}
	if d.ID != b.commits[3] || len(d.Files) != 1 || d.Files[0] != (ChangedFile{Path: "README.md", Added: 2, Deleted: 1}) {
		t.Errorf("commit %s: %#v", d.ID, d.Files)
	}

	d, err = b.f.svc.Commit(ctx, b.rp, b.commits[1])
	if err != nil {
		t.Fatal(err)
	}
	files := map[string]ChangedFile{}
	for _, f := range d.Files {
		files[f.Path] = f
	}
	if len(files) != 3 || !files["logo.bin"].Binary || files["src/app/main.go"].Added != 1 || files["page.html"].Added != 1 {
		t.Errorf("files of %s: %#v", b.commits[1], d.Files)
	}

	d, err = b.f.svc.Commit(ctx, b.rp, "main")
	if err != nil {
		t.Fatal(err)
	}
	if len(d.Files) != 1 || d.Files[0] != (ChangedFile{Path: "index.html", OldPath: "page.html"}) {
		t.Errorf("the rename: %#v", d.Files)
	}

	if _, err := b.f.svc.Commit(ctx, b.rp, strings.Repeat("0", 40)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown commit: %v, want not found", err)
	}
}

func TestBrowse_TreesListDirectoriesFirstAndFilesWithTheirSize(t *testing.T) {
	b := newBrowseRepo(t)
	ctx := context.Background()
	tree, err := b.f.svc.Tree(ctx, b.rp, "", "")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range tree.Entries {
		names = append(names, e.Type+":"+e.Name)
	}
	if got := strings.Join(names, " "); got != "tree:src blob:README.md blob:index.html blob:logo.bin" || tree.Commit != b.commits[4] || tree.Path != "" {
		t.Fatalf("top: %s (%s %q)", got, tree.Commit, tree.Path)
	}
	if e := tree.Entries[1]; e.Path != "README.md" || e.Size != int64(len("hello\nworld\nagain\n")) || e.Mode != "100644" || len(e.ID) != 40 {
		t.Errorf("README.md %#v", e)
	}

	tree, err = b.f.svc.Tree(ctx, b.rp, "v1", "src/app")
	if err != nil {
		t.Fatal(err)
	}
	if len(tree.Entries) != 1 || tree.Entries[0] != (TreeEntry{Name: "main.go", Path: "src/app/main.go", Type: TypeBlob, Mode: "100644",
		ID: tree.Entries[0].ID, Size: int64(len("package main\n\nfunc main() {}\n"))}) {
		t.Errorf("src/app at v1: %#v", tree.Entries)
	}

	for _, p := range []string{"README.md", "nosuch", "src/nosuch"} {
		if _, err := b.f.svc.Tree(ctx, b.rp, "", p); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("tree %s: %v, want not found", p, err)
		}
	}
	if _, err := b.f.svc.Tree(ctx, b.rp, "nosuch", ""); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("an unknown ref: %v, want not found", err)
	}
}

func TestBrowse_BlobsComeWithTheirSizeBinaryAndTruncatedFlags(t *testing.T) {
	b := newBrowseRepo(t)
	ctx := context.Background()
	blob, err := b.f.svc.Blob(ctx, b.rp, "", "index.html", 1<<20)
	if err != nil {
		t.Fatal(err)
	}
	if string(blob.Content) != "<script>alert(1)</script>\n" || blob.Binary || blob.Truncated || blob.Size != int64(len(blob.Content)) ||
		blob.Commit != b.commits[4] || blob.Path != "index.html" {
		t.Errorf("index.html %#v", blob)
	}
	blob, err = b.f.svc.Blob(ctx, b.rp, "v1", "src/app/main.go", 5)
	if err != nil {
		t.Fatal(err)
	}
	if string(blob.Content) != "packa" || !blob.Truncated || blob.Size != int64(len("package main\n\nfunc main() {}\n")) {
		t.Errorf("truncated main.go %#v", blob)
	}
	blob, err = b.f.svc.Blob(ctx, b.rp, "main", "logo.bin", 1<<20)
	if err != nil || !blob.Binary || string(blob.Content) != "PNG\x00\x01\x02binary" {
		t.Errorf("logo.bin %#v %v", blob, err)
	}

	// The whole content streams.
	meta, rc, err := b.f.svc.OpenBlob(ctx, b.rp, "feature", "feature.txt")
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(rc)
	if cerr := rc.Close(); err != nil || cerr != nil || string(all) != "new\n" || meta.Size != 4 {
		t.Errorf("open feature.txt: %q %v %v %#v", all, err, cerr, meta)
	}
	// Closing before the end stops git and is no error.
	_, rc, err = b.f.svc.OpenBlob(ctx, b.rp, "", "README.md")
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("close unread: %v", err)
	}

	for _, p := range []string{"src", "nosuch.txt", "page.html"} {
		if _, err := b.f.svc.Blob(ctx, b.rp, "", p, 100); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("blob %s: %v, want not found", p, err)
		}
	}
}

func TestBrowse_RefsAndPathsThatAreNotPlainNamesAreRefused(t *testing.T) {
	b := newBrowseRepo(t)
	ctx := context.Background()
	for _, ref := range []string{"-h", "--output=/tmp/x", "main..feature", "main...feature", "HEAD:README.md", "main\nfeature", "a b", strings.Repeat("x", 300)} {
		if _, err := b.f.svc.Tree(ctx, b.rp, ref, ""); !errors.Is(err, ErrInvalid) {
			t.Errorf("ref %q: %v, want invalid", ref, err)
		}
		if _, err := b.f.svc.Commits(ctx, b.rp, ref, "", 0, 0); !errors.Is(err, ErrInvalid) {
			t.Errorf("commits of ref %q: %v, want invalid", ref, err)
		}
	}
	for _, p := range []string{"../README.md", "/etc/passwd", "src/../README.md", "src//app", "./src", "src/", "a\x00b"} {
		if _, err := b.f.svc.Tree(ctx, b.rp, "", p); !errors.Is(err, ErrInvalid) {
			t.Errorf("tree %q: %v, want invalid", p, err)
		}
		if _, err := b.f.svc.Blob(ctx, b.rp, "", p, 10); !errors.Is(err, ErrInvalid) {
			t.Errorf("blob %q: %v, want invalid", p, err)
		}
	}
	if _, err := b.f.svc.Blob(ctx, b.rp, "", "", 10); !errors.Is(err, ErrInvalid) {
		t.Errorf("a blob without a path: %v, want invalid", err)
	}
	// Names that merely look odd are fine.
	for _, ref := range []string{"HEAD", "v1", "main~1", "main^", "refs/heads/feature"} {
		if _, err := b.f.svc.Tree(ctx, b.rp, ref, ""); err != nil {
			t.Errorf("ref %q: %v", ref, err)
		}
	}
}
