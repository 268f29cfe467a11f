package web

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// repoFake answers the repository routes of the fake API for projects
// default and team: repository site (branches main, the default, and
// dev), empty (no branches), nohead (whose HEAD names no branch it has)
// and broken (whose branches fail).
type repoFake struct {
	mu   sync.Mutex
	seen []string // the request URIs of the browsing routes
}

func (rf *repoFake) saw(r *http.Request) {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	rf.seen = append(rf.seen, r.URL.RequestURI())
}

func (rf *repoFake) requests() []string {
	rf.mu.Lock()
	defer rf.mu.Unlock()
	return append([]string(nil), rf.seen...)
}

// repoCommitID is the fake's commit number n.
func repoCommitID(n int) string { return fmt.Sprintf("%040x", 0xc0ffee000+n) }

var repoFakeDate = time.Date(2026, 3, 4, 5, 6, 0, 0, time.UTC)

func (rf *repoFake) routes(mux *http.ServeMux, _ *fakeAPI, authed func(http.HandlerFunc) http.HandlerFunc) {
	const base = "GET /api/v1/projects/{project}/repos"
	known := func(w http.ResponseWriter, r *http.Request) bool {
		rf.saw(r)
		switch r.PathValue("name") {
		case "site", "empty", "broken", "nohead":
			return true
		}
		apiError(w, 404, "not_found", "repository "+r.PathValue("name")+" not found")
		return false
	}
	repoOf := func(r *http.Request, name string) client.Repository {
		return client.Repository{Name: name, Project: r.PathValue("project"), Description: "The <b>web</b> site",
			CloneURL: "http://127.0.0.1:8080/git/" + r.PathValue("project") + "/" + name + ".git"}
	}
	mux.HandleFunc(base, authed(func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, 200, []client.Repository{repoOf(r, "broken"), repoOf(r, "empty"), repoOf(r, "site")})
	}))
	mux.HandleFunc(base+"/{name}", authed(func(w http.ResponseWriter, r *http.Request) {
		if known(w, r) {
			writeJSON(w, 200, repoOf(r, r.PathValue("name")))
		}
	}))
	mux.HandleFunc(base+"/{name}/events", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		if r.PathValue("name") != "site" {
			writeJSON(w, 200, []client.PushEvent{})
			return
		}
		writeJSON(w, 200, []client.PushEvent{{Ref: "refs/heads/main", NewCommit: repoCommitID(1), Pusher: "bob", At: repoFakeDate}})
	}))
	mux.HandleFunc(base+"/{name}/branches", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		switch r.PathValue("name") {
		case "broken":
			apiError(w, 500, "internal", "internal error")
		case "empty":
			writeJSON(w, 200, []client.RepoBranch{})
		case "nohead":
			writeJSON(w, 200, []client.RepoBranch{{Name: "master", Commit: repoCommitID(5), Subject: "Only", Date: repoFakeDate}})
		default:
			writeJSON(w, 200, []client.RepoBranch{
				{Name: "dev", Commit: repoCommitID(9), Subject: "Try <things>", Author: "Dee", Date: repoFakeDate},
				{Name: "main", Commit: repoCommitID(1), Subject: "Latest", Author: "Ann", Date: repoFakeDate, Default: true},
			})
		}
	}))
	mux.HandleFunc(base+"/{name}/tree", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		switch p, ref := r.URL.Query().Get("path"), r.URL.Query().Get("ref"); {
		case ref == "nosuch":
			apiError(w, 404, "not_found", `"nosuch" is not a branch, tag or commit of repository site`)
		case p == "":
			writeJSON(w, 200, client.RepoTree{Commit: repoCommitID(1), Entries: []client.RepoTreeEntry{
				{Name: "src", Path: "src", Type: "tree", Mode: "040000"},
				{Name: "vendor", Path: "vendor", Type: "commit", Mode: "160000"},
				{Name: "README.md", Path: "README.md", Type: "blob", Mode: "100644", Size: 40},
				{Name: "current", Path: "current", Type: "blob", Mode: "120000", Size: 7},
				{Name: "logo.png", Path: "logo.png", Type: "blob", Mode: "100644", Size: 3 << 20},
			}})
		case p == "src/app":
			writeJSON(w, 200, client.RepoTree{Commit: repoCommitID(9), Path: "src/app", Entries: []client.RepoTreeEntry{
				{Name: "<main>.go", Path: "src/app/<main>.go", Type: "blob", Mode: "100644", Size: 2048},
			}})
		default:
			apiError(w, 404, "not_found", "site has no directory "+p)
		}
	}))
	mux.HandleFunc(base+"/{name}/blob", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		q := r.URL.Query()
		if q.Get("raw") == "1" {
			if q.Get("path") != "logo.png" {
				apiError(w, 404, "not_found", "site has no file "+q.Get("path"))
				return
			}
			w.Header().Set("Content-Type", "application/octet-stream")
			w.Header().Set("Content-Disposition", "attachment; filename=logo.png")
			_, _ = w.Write([]byte("\x89PNG\x00raw"))
			return
		}
		b := struct {
			client.RepoBlob
			Encoding string `json:"encoding"`
			Content  string `json:"content"`
		}{Encoding: "text"}
		b.Commit, b.Path, b.Mode = repoCommitID(1), q.Get("path"), "100644"
		switch q.Get("path") {
		case "README.md":
			b.Content = "# Site\n<script>alert('readme')</script>\n"
		case "page.html":
			b.Content = "<script>alert(1)</script>\r\nsecond line\n\nfourth\n"
		case "logo.png":
			b.Binary, b.Encoding, b.Content = true, "base64", base64.StdEncoding.EncodeToString([]byte("\x89PNG\x00"))
		case "big.txt":
			b.Truncated, b.Content = true, "first\nsecond"
		default:
			apiError(w, 404, "not_found", "site has no file "+q.Get("path"))
			return
		}
		b.Size = int64(len(b.Content))
		writeJSON(w, 200, b)
	}))
	mux.HandleFunc(base+"/{name}/commits", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		q := r.URL.Query()
		skip, _ := strconv.Atoi(q.Get("skip"))
		limit, _ := strconv.Atoi(q.Get("limit"))
		// 75 commits in all.
		page := client.RepoCommitPage{Commit: repoCommitID(1), Commits: []client.RepoCommit{}}
		for n := skip + 1; n <= min(skip+limit, 75); n++ {
			page.Commits = append(page.Commits, client.RepoCommit{ID: repoCommitID(n), Subject: fmt.Sprintf("Change <%d>", n),
				Author: "Ann", AuthorDate: repoFakeDate})
		}
		page.More = skip+limit < 75
		writeJSON(w, 200, page)
	}))
	mux.HandleFunc(base+"/{name}/commits/{sha}", authed(func(w http.ResponseWriter, r *http.Request) {
		if !known(w, r) {
			return
		}
		if r.PathValue("sha") != repoCommitID(2) {
			apiError(w, 404, "not_found", fmt.Sprintf("%q is not a branch, tag or commit of repository site", r.PathValue("sha")))
			return
		}
		writeJSON(w, 200, client.RepoCommitDetail{
			RepoCommit: client.RepoCommit{ID: repoCommitID(2), Parents: []string{repoCommitID(3), repoCommitID(4)},
				Author: "Ann", AuthorEmail: "ann@example.com", AuthorDate: repoFakeDate, Committer: "Ann",
				Subject: "Merge <stuff>", Message: "Merge <stuff>\n\nBody with <script>x</script>."},
			Files: []client.RepoChangedFile{
				{Path: "a.go", Added: 3, Deleted: 1},
				{Path: "new.txt", OldPath: "old.txt"},
				{Path: "logo.png", Binary: true},
			},
		})
	}))
}

func repoSetup(t *testing.T) (*repoFake, string) {
	t.Helper()
	rf := &repoFake{}
	_, srv := setup(t, Config{}, rf.routes)
	return rf, srv.URL
}

// repoGet fetches a console page signed in and checks its status.
func repoGet(t *testing.T, u string, want int) (*http.Response, string) {
	t.Helper()
	resp, body := do(t, "GET", u, nil, nil, true)
	if resp.StatusCode != want {
		t.Fatalf("GET %s: %d, want %d:\n%s", u, resp.StatusCode, want, body)
	}
	return resp, body
}

func TestRepos_ListShowsDefaultBranchCloneURLAndLastPush(t *testing.T) {
	_, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos", 200)
	mustContain(t, "/repos", body,
		`<a href="/repos" aria-current="page">Repositories</a>`,
		`<tr data-repo="site">`, `<a href="/repos/site">site</a>`,
		`<td data-default-branch="main">main</td>`,
		`<code class="repo-clone-url">http://127.0.0.1:8080/git/default/site.git</code>`,
		`bob to refs/heads/main <code>`+short(repoCommitID(1))+`</code>`,
		`The &lt;b&gt;web&lt;/b&gt; site`,
		// A repository whose branches cannot be read still shows, saying so.
		`<tr data-repo="broken">`, "Its branches and pushes cannot be read now.",
		`<td data-default-branch="">—</td>`,
		`<th scope="col">Repository</th>`)

	_, body = repoGet(t, srv+"/repos?project=team", 200)
	mustContain(t, "/repos?project=team", body, `<a href="/repos/site?project=team">site</a>`, `value="team"`)
}

func TestRepo_PageShowsCloneURLBranchesFilesReadmeAndCommits(t *testing.T) {
	rf, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/site", 200)
	mustContain(t, "/repos/site", body,
		`<h1 id="repo-name">site</h1>`,
		`<label for="clone-url">Clone URL</label>`,
		`<input id="clone-url" type="text" readonly value="http://127.0.0.1:8080/git/default/site.git"`,
		`<form id="ref-form" class="inline" method="get" action="/repos/site">`,
		`<label for="ref">Branch</label>`,
		`<option value="main" selected>main (default)</option>`, `<option value="dev">dev</option>`,
		// The files: directories and files link to their pages, submodules to nothing.
		`<tr data-entry="src" data-kind="dir">`, `<a href="/repos/site/tree?path=src">src</a>`,
		`<a href="/repos/site/blob?path=README.md">README.md</a>`,
		`<tr data-entry="vendor" data-kind="submodule">`, `vendor <span class="muted">(submodule)</span>`,
		`<tr data-entry="current" data-kind="link">`,
		`<td class="repo-num">3.0 MiB</td>`,
		// The README as text, escaped.
		`<section id="readme"`, `<pre class="repo-pre repo-readme"># Site
&lt;script&gt;alert(&#39;readme&#39;)&lt;/script&gt;`,
		// Recent commits, and a link to all of them.
		`<table id="commits"`, `<tr data-commit="`+repoCommitID(1)+`">`,
		`<a href="/repos/site/commits/`+repoCommitID(1)+`">Change &lt;1&gt;</a>`,
		`<a id="all-commits" href="/repos/site/commits">All commits</a>`,
		// The branches.
		`<tr data-branch="main" data-default="true">`, `<a href="/repos/site?ref=dev">dev</a>`, `Try &lt;things&gt;`,
		`<script src="/static/repos.js?v=`)
	mustNotContain(t, "/repos/site", body, "<script>alert", `id="repo-empty"`)
	if !strings.Contains(strings.Join(rf.requests(), "\n"), "/commits?limit=10") {
		t.Errorf("the recent commits were not asked for ten: %v", rf.requests())
	}

	// Another branch: every link keeps it, and the form selects it.
	_, body = repoGet(t, srv+"/repos/site?ref=dev&project=team", 200)
	mustContain(t, "/repos/site?ref=dev", body,
		`<option value="dev" selected>dev</option>`,
		`<input type="hidden" name="project" value="team">`,
		`<a href="/repos/site/tree?path=src&amp;project=team&amp;ref=dev">src</a>`,
		`<a id="tab-commits" href="/repos/site/commits?project=team&amp;ref=dev">`)

	// A tag or commit that is no branch is shown as the selected choice.
	_, body = repoGet(t, srv+"/repos/site?ref=v1.0", 200)
	mustContain(t, "ref=v1.0", body, `<option value="v1.0" selected>v1.0</option>`, `<option value="main">main (default)</option>`)
}

func TestRepo_AnEmptyRepositorySaysHowToPush(t *testing.T) {
	rf, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/empty", 200)
	mustContain(t, "/repos/empty", body, `<section id="repo-empty"`, `git clone http://127.0.0.1:8080/git/default/empty.git`,
		`<input id="clone-url"`)
	mustNotContain(t, "/repos/empty", body, `id="ref-form"`, `id="tree"`)
	for _, u := range rf.requests() {
		if strings.Contains(u, "/tree") || strings.Contains(u, "/commits") {
			t.Errorf("an empty repository's page asked for %s", u)
		}
	}
}

func TestRepo_WithoutADefaultBranchTheMostRecentOneShows(t *testing.T) {
	rf, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/nohead", 200)
	mustContain(t, "/repos/nohead", body, `<option value="master" selected>master</option>`,
		`<a href="/repos/nohead/tree?path=src&amp;ref=master">src</a>`)
	want := "/api/v1/projects/default/repos/nohead/tree?ref=master"
	if !strings.Contains(strings.Join(rf.requests(), "\n"), want) {
		t.Errorf("the API was not asked %s: %v", want, rf.requests())
	}
}

func TestRepo_TreeHasBreadcrumbsAndKeepsTheRef(t *testing.T) {
	_, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/site/tree?ref=dev&path=src/app", 200)
	mustContain(t, "tree src/app", body,
		`<nav class="repo-crumbs" aria-label="Breadcrumb">`,
		`<li><a href="/repos/site?ref=dev">site</a></li>`,
		`<li><a href="/repos/site/tree?path=src&amp;ref=dev">src</a></li>`,
		`<li><span aria-current="page">app</span></li>`,
		`<a href="/repos/site/blob?path=src%2Fapp%2F%3Cmain%3E.go&amp;ref=dev">&lt;main&gt;.go</a>`,
		`<td class="repo-num">2.0 KiB</td>`,
		`<form id="ref-form" class="inline" method="get" action="/repos/site/tree">`,
		`<input type="hidden" name="path" value="src/app">`,
		`<a id="history" href="/repos/site/commits?path=src%2Fapp&amp;ref=dev">`,
		`<title>src/app · site · Slipway</title>`)

	// The API's refusal shows with its message and status.
	_, body = repoGet(t, srv+"/repos/site/tree?ref=nosuch", 404)
	mustContain(t, "tree of an unknown ref", body, "&#34;nosuch&#34; is not a branch, tag or commit of repository site")
	_, body = repoGet(t, srv+"/repos/secret", 404)
	mustContain(t, "an unknown repository", body, "repository secret not found")
}

func TestRepo_FilesShowNumberedEscapedLines(t *testing.T) {
	_, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/site/blob?path=page.html", 200)
	mustContain(t, "page.html", body,
		`<table id="blob" class="repo-code" data-path="page.html" data-commit="`+repoCommitID(1)+`">`,
		`<tr><th scope="row" class="repo-ln"><a id="L1" href="#L1">1</a></th><td class="repo-line">&lt;script&gt;alert(1)&lt;/script&gt;</td></tr>`,
		`<a id="L2" href="#L2">2</a></th><td class="repo-line">second line</td>`,
		`<a id="L3" href="#L3">3</a></th><td class="repo-line"></td>`,
		`<a id="L4" href="#L4">4</a></th><td class="repo-line">fourth</td>`,
		`<a id="download" href="/repos/site/raw?path=page.html" download>Download</a>`,
		`<li><a href="/repos/site">site</a></li>`, `<li><span aria-current="page">page.html</span></li>`)
	mustNotContain(t, "page.html", body, "<script>alert", `id="L5"`, `id="binary"`)

	_, body = repoGet(t, srv+"/repos/site/blob?path=logo.png", 200)
	mustContain(t, "logo.png", body, `<p class="notice" id="binary">`, `<a href="/repos/site/raw?path=logo.png" download>Download it</a>`)
	mustNotContain(t, "logo.png", body, `id="L1"`, "PNG")

	_, body = repoGet(t, srv+"/repos/site/blob?path=big.txt", 200)
	mustContain(t, "big.txt", body, `<p class="notice" id="truncated">`, `<a id="L2" href="#L2">2</a></th><td class="repo-line">second</td>`)

	_, body = repoGet(t, srv+"/repos/site/blob?path=nosuch", 404)
	mustContain(t, "a missing file", body, "site has no file nosuch")
}

func TestRepo_RawStreamsTheFileAsADownload(t *testing.T) {
	rf, srv := repoSetup(t)
	resp, body := repoGet(t, srv+"/repos/site/raw?path=logo.png&ref=dev", 200)
	if body != "\x89PNG\x00raw" {
		t.Errorf("body %q", body)
	}
	h := resp.Header
	if h.Get("Content-Type") != "application/octet-stream" || h.Get("Content-Disposition") != "attachment; filename=logo.png" ||
		h.Get("X-Content-Type-Options") != "nosniff" {
		t.Errorf("headers %v", h)
	}
	want := "/api/v1/projects/default/repos/site/blob?path=logo.png&raw=1&ref=dev"
	if !strings.Contains(strings.Join(rf.requests(), "\n"), want) {
		t.Errorf("the API was not asked %s: %v", want, rf.requests())
	}
	_, body = repoGet(t, srv+"/repos/site/raw?path=nosuch", 404)
	mustContain(t, "a missing download", body, "site has no file nosuch")
}

func TestRepo_CommitsPageThroughTheHistory(t *testing.T) {
	rf, srv := repoSetup(t)
	_, body := repoGet(t, srv+"/repos/site/commits", 200)
	mustContain(t, "commits", body,
		`<a id="tab-commits" href="/repos/site/commits" aria-current="true">Commits</a>`,
		`<tr data-commit="`+repoCommitID(30)+`">`,
		`<a id="older" href="/repos/site/commits?skip=30" rel="next">Older</a>`,
		"Commits 1 to 30")
	mustNotContain(t, "commits", body, `id="newer"`, `data-commit="`+repoCommitID(31)+`"`)

	_, body = repoGet(t, srv+"/repos/site/commits?skip=60&path=src&ref=dev", 200)
	mustContain(t, "the last page", body,
		`<tr data-commit="`+repoCommitID(75)+`">`,
		`<a id="newer" href="/repos/site/commits?path=src&amp;ref=dev&amp;skip=30" rel="prev">Newer</a>`,
		`History of <a href="/repos/site/tree?path=src&amp;ref=dev"><code>src</code></a>`,
		"Commits 61 to 75", `<input type="hidden" name="path" value="src">`)
	mustNotContain(t, "the last page", body, `id="older"`)
	want := "/api/v1/projects/default/repos/site/commits?limit=30&path=src&ref=dev&skip=60"
	if !strings.Contains(strings.Join(rf.requests(), "\n"), want) {
		t.Errorf("the API was not asked %s: %v", want, rf.requests())
	}

	_, body = repoGet(t, srv+"/repos/site/commits?skip=-1", 400)
	mustContain(t, "a bad skip", body, "skip must be a whole number")
}

func TestRepo_ACommitShowsItsMessageParentsAndFiles(t *testing.T) {
	_, srv := repoSetup(t)
	id := repoCommitID(2)
	_, body := repoGet(t, srv+"/repos/site/commits/"+id, 200)
	mustContain(t, "commit", body,
		`<article id="commit" data-commit="`+id+`">`,
		`<h2 id="commit-subject">Merge &lt;stuff&gt;</h2>`,
		`<pre class="repo-pre" id="commit-message">Body with &lt;script&gt;x&lt;/script&gt;.</pre>`,
		`<code id="commit-id">`+id+`</code>`,
		`<dt>Parents</dt>`, `<a href="/repos/site/commits/`+repoCommitID(3)+`"><code>`+short(repoCommitID(3))+`</code></a>`,
		`<a id="browse" href="/repos/site/tree?ref=`+id+`">`,
		`<tr data-file="a.go">`, `<a href="/repos/site/blob?path=a.go&amp;ref=`+id+`">a.go</a>`,
		`<td class="repo-num repo-added">+3</td>`, `<td class="repo-num repo-deleted">−1</td>`,
		`renamed from old.txt`, `<span class="muted">binary</span>`,
		`<title>`+short(id)+` · site · Slipway</title>`)
	mustNotContain(t, "commit", body, "<script>x")

	_, body = repoGet(t, srv+"/repos/site/commits/"+strings.Repeat("0", 40), 404)
	mustContain(t, "an unknown commit", body, "is not a branch, tag or commit of repository site")
}

func TestRepo_PagesNeedASession(t *testing.T) {
	_, srv := repoSetup(t)
	for path, want := range map[string]string{
		"/repos":                         "/login?next=%2Frepos",
		"/repos/site/blob?path=a.go":     "/login?next=%2Frepos%2Fsite%2Fblob%3Fpath%3Da.go",
		"/repos/site/raw?path=logo.png":  "/login?next=%2Frepos%2Fsite%2Fraw%3Fpath%3Dlogo.png",
		"/repos/site/commits/" + "abc12": "/login?next=%2Frepos%2Fsite%2Fcommits%2Fabc12",
	} {
		resp, _ := do(t, "GET", srv+path, nil, nil, false)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != want {
			t.Errorf("GET %s: %d to %q, want 303 to %q", path, resp.StatusCode, resp.Header.Get("Location"), want)
		}
	}
}

func TestRepoHref_EscapesNamesAndLeavesTheDefaultProjectOut(t *testing.T) {
	for _, tc := range []struct{ got, want string }{
		{repoHref("default", "site", ""), "/repos/site"},
		{repoHref("team", "a b", "/tree", "path", "x/y z", "ref", ""), "/repos/a%20b/tree?path=x%2Fy+z&project=team"},
		{repoHref("", "site", "/raw", "ref", "v1", "path", "a&b"), "/repos/site/raw?path=a%26b&ref=v1"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
	if _, err := url.Parse(repoHref("team", "site", "/blob", "path", "%zz")); err != nil {
		t.Errorf("a path with %% makes a bad URL: %v", err)
	}
}
