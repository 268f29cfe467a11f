package api_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pushRepo clones the new repository name over the server's Git HTTP as
// admin, lets fill write and commit in the work tree, and pushes every
// branch.
func (f *fixture) pushRepo(t *testing.T, name string, fill func(run func(args ...string) string, write func(name string, data []byte))) {
	t.Helper()
	if code, body := f.do(t, "admin", "POST", "/api/v1/projects/default/repos", map[string]string{"name": name}); code != 201 {
		t.Fatalf("create repo: %d %s", code, body)
	}
	u, _ := url.Parse(f.srv.URL + "/git/" + name + ".git")
	u.User = url.UserPassword("admin", f.tokens["admin"])
	home := t.TempDir()
	work := filepath.Join(home, "work")
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		if args[0] == "clone" {
			cmd.Dir = home
		}
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home, "GIT_CONFIG_GLOBAL=/dev/null", "GIT_CONFIG_NOSYSTEM=1",
			"GIT_AUTHOR_NAME=Ann Author", "GIT_AUTHOR_EMAIL=ann@example.com", "GIT_COMMITTER_NAME=Ann Author",
			"GIT_COMMITTER_EMAIL=ann@example.com", "GIT_TERMINAL_PROMPT=0", "LC_ALL=C"}
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	write := func(name string, data []byte) {
		t.Helper()
		p := filepath.Join(work, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	run("clone", "-q", u.String(), "work")
	run("checkout", "-q", "-b", "main")
	fill(run, write)
	run("push", "-q", "origin", "--all")
}

func TestBrowse_APushedRepositoryReadsThroughTheAPI(t *testing.T) {
	f := newFixture(t)
	big := bytes.Repeat([]byte("0123456789abcde\n"), 70_000) // 1.1 MB
	var first, second string
	f.pushRepo(t, "site", func(run func(...string) string, write func(string, []byte)) {
		write("README.md", []byte("# Site\n"))
		write("docs/page.html", []byte("<script>alert(1)</script>\n"))
		write("logo.png", []byte("\x89PNG\r\n\x1a\n\x00\x00binary"))
		write("latin1.txt", []byte("caf\xe9\n"))
		run("add", ".")
		run("commit", "-q", "-m", "First\n\nWith a body.")
		first = run("rev-parse", "HEAD")
		write("big.txt", big)
		write("README.md", []byte("# Site\n\nMore.\n"))
		run("add", ".")
		run("commit", "-q", "-m", "Second")
		second = run("rev-parse", "HEAD")
		run("branch", "old", first)
	})
	get := func(path string, out any) {
		t.Helper()
		code, b := f.do(t, "reader", "GET", "/api/v1/projects/default/repos/site"+path, nil)
		if code != 200 {
			t.Fatalf("GET %s: %d %s", path, code, b)
		}
		if err := json.Unmarshal(b, out); err != nil {
			t.Fatalf("GET %s: %v: %s", path, err, b)
		}
	}
	// reader reads the repository through a read grant on it.
	if code, body := f.do(t, "admin", "POST", "/api/v1/projects/default/grants",
		map[string]string{"resource": "repo/site", "subject": "reader", "role": "read"}); code != 201 {
		t.Fatalf("grant: %d %s", code, body)
	}

	var branches []struct {
		Name, Commit string
		Default      bool
	}
	get("/branches", &branches)
	if len(branches) != 2 {
		t.Fatalf("branches %+v", branches)
	}
	for _, b := range branches {
		want := map[string]string{"main": second, "old": first}[b.Name]
		if b.Commit != want || b.Default != (b.Name == "main") {
			t.Errorf("branch %+v, want commit %s", b, want)
		}
	}

	var page struct {
		Commit  string
		Commits []struct{ ID, Subject, Message string }
		More    bool
	}
	get("/commits?limit=1", &page)
	if page.Commit != second || len(page.Commits) != 1 || page.Commits[0].ID != second || page.Commits[0].Subject != "Second" || !page.More {
		t.Errorf("first page %+v", page)
	}
	get("/commits?limit=1&skip=1", &page)
	if len(page.Commits) != 1 || page.Commits[0].ID != first || page.More {
		t.Errorf("second page %+v", page)
	}
	get("/commits?path=docs", &page)
	if len(page.Commits) != 1 || page.Commits[0].ID != first {
		t.Errorf("history of docs %+v", page)
	}

	var commit struct {
		ID, Message string
		Parents     []string
		Files       []struct {
			Path           string
			Added, Deleted int
			Binary         bool
		}
	}
	get("/commits/"+second[:8], &commit)
	if commit.ID != second || commit.Message != "Second" || len(commit.Parents) != 1 || commit.Parents[0] != first || len(commit.Files) != 2 {
		t.Fatalf("commit %+v", commit)
	}
	for _, fl := range commit.Files {
		if fl.Path == "README.md" && (fl.Added != 2 || fl.Deleted != 0) || fl.Path == "big.txt" && fl.Added != 70_000 {
			t.Errorf("changed file %+v", fl)
		}
	}

	var tree struct {
		Commit  string
		Entries []struct{ Name, Path, Type string }
	}
	get("/tree?ref=old", &tree)
	var names []string
	for _, e := range tree.Entries {
		names = append(names, e.Name)
	}
	if tree.Commit != first || strings.Join(names, " ") != "docs README.md latin1.txt logo.png" || tree.Entries[0].Type != "tree" {
		t.Errorf("top of old: %s %+v", tree.Commit, tree.Entries)
	}
	get("/tree?path=docs", &tree)
	if len(tree.Entries) != 1 || tree.Entries[0].Path != "docs/page.html" {
		t.Errorf("docs %+v", tree.Entries)
	}

	type blob struct {
		Size              int64
		Binary, Truncated bool
		Encoding, Content string
	}
	var b blob
	get("/blob?path=docs/page.html", &b)
	if b.Encoding != "text" || b.Content != "<script>alert(1)</script>\n" || b.Binary || b.Truncated {
		t.Errorf("page.html %+v", b)
	}
	get("/blob?path=logo.png&ref="+first, &b)
	raw, _ := base64.StdEncoding.DecodeString(b.Content)
	if b.Encoding != "base64" || !b.Binary || string(raw) != "\x89PNG\r\n\x1a\n\x00\x00binary" {
		t.Errorf("logo.png %+v", b)
	}
	get("/blob?path=latin1.txt", &b)
	raw, _ = base64.StdEncoding.DecodeString(b.Content)
	if b.Encoding != "base64" || b.Binary || string(raw) != "caf\xe9\n" {
		t.Errorf("latin1.txt %+v", b)
	}
	get("/blob?path=big.txt", &b)
	if b.Encoding != "text" || !b.Truncated || len(b.Content) != 1<<20 || b.Size != int64(len(big)) {
		t.Errorf("big.txt: %d bytes of %d, truncated %v", len(b.Content), b.Size, b.Truncated)
	}

	// raw=1: every byte, as a download.
	req, _ := http.NewRequest("GET", f.srv.URL+"/api/v1/projects/default/repos/site/blob?path=big.txt&raw=1", nil)
	req.Header.Set("Authorization", "Bearer "+f.tokens["reader"])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	all, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || resp.StatusCode != 200 || !bytes.Equal(all, big) {
		t.Fatalf("raw big.txt: %d, %d bytes, %v", resp.StatusCode, len(all), err)
	}
	h := resp.Header
	if h.Get("Content-Type") != "application/octet-stream" || h.Get("X-Content-Type-Options") != "nosniff" ||
		h.Get("Content-Disposition") != "attachment; filename=big.txt" {
		t.Errorf("raw headers %v", h)
	}

	// Mistakes are 400, missing things 404, both with a message.
	for path, want := range map[string]int{
		"/tree?ref=--output=x":                400,
		"/tree?path=../etc":                   400,
		"/blob?path=/etc/passwd":              400,
		"/commits?ref=main..old":              400,
		"/commits?limit=-1":                   400,
		"/tree?ref=nosuch":                    404,
		"/tree?path=README.md":                404,
		"/blob?path=docs":                     404,
		"/blob?path=nosuch&raw=1":             404,
		"/commits/" + strings.Repeat("f", 40): 404,
	} {
		code, body := f.do(t, "reader", "GET", "/api/v1/projects/default/repos/site"+path, nil)
		var e struct {
			Error struct{ Code, Message string } `json:"error"`
		}
		if code != want || json.Unmarshal(body, &e) != nil || e.Error.Message == "" {
			t.Errorf("%s: %d %s, want %d", path, code, body, want)
		}
	}
	code, body := f.do(t, "reader", "GET", "/api/v1/projects/default/repos/site/tree?ref=nosuch", nil)
	if code != 404 || !strings.Contains(string(body), `\"nosuch\" is not a branch, tag or commit`) {
		t.Errorf("unknown ref: %d %s", code, body)
	}
}
