package web

import (
	"cmp"
	"context"
	"net/http"
	"net/url"
	"path"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/slipway/slipway/client"
)

// repoCommitsPage is how many commits a page of history shows; the
// repository's own page shows repoRecentCommits.
const (
	repoCommitsPage   = 30
	repoRecentCommits = 10
)

// repoRoutes registers the repos pages.
func (c *Console) repoRoutes(mux *http.ServeMux) {
	mux.Handle("GET /repos", c.authed(c.repos))
	mux.Handle("GET /repos/{name}", c.authed(c.repo))
	mux.Handle("GET /repos/{name}/tree", c.authed(c.repoTree))
	mux.Handle("GET /repos/{name}/blob", c.authed(c.repoBlob))
	mux.Handle("GET /repos/{name}/raw", c.authed(c.repoRaw))
	mux.Handle("GET /repos/{name}/commits", c.authed(c.repoCommits))
	mux.Handle("GET /repos/{name}/commits/{sha}", c.authed(c.repoCommit))
}

// repoHref is a page of the repository (suffix below /repos/NAME) with
// the query parameters that are set, the project when it is not the
// default one.
func repoHref(project, name, suffix string, kv ...string) string {
	q := url.Values{}
	if project != "" && project != defaultProject {
		q.Set("project", project)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	u := "/repos/" + url.PathEscape(name) + suffix
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	return u
}

// repoListRow is a repository of the list.
type repoListRow struct {
	Name, Description, CloneURL, URL string
	DefaultBranch                    string
	LastPush                         *client.PushEvent
	// Err says what could not be read of it.
	Err string
}

type repoListView struct {
	Project string
	Repos   []repoListRow
}

// repos lists a project's repositories with their default branch and
// last push, each read a few at a time.
func (c *Console) repos(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project := projectOf(r)
	list, err := s.api.ListRepos(ctx, project)
	if err != nil {
		return err
	}
	rows := make([]repoListRow, len(list))
	errs := make([]error, len(list))
	sem := make(chan struct{}, 6)
	var wg sync.WaitGroup
	for i, rp := range list {
		rows[i] = repoListRow{Name: rp.Name, Description: rp.Description, CloneURL: rp.CloneURL, URL: repoHref(project, rp.Name, "")}
		wg.Go(func() {
			sem <- struct{}{}
			defer func() { <-sem }()
			branches, err := s.api.RepoBranches(ctx, project, rp.Name)
			if err != nil {
				errs[i] = err
				return
			}
			for _, b := range branches {
				if b.Default {
					rows[i].DefaultBranch = b.Name
				}
			}
			evs, err := s.api.RepoEvents(ctx, project, rp.Name, 1)
			if err != nil {
				errs[i] = err
				return
			}
			if len(evs) > 0 {
				rows[i].LastPush = &evs[0]
			}
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		if status, _ := apiStatus(err); status == http.StatusUnauthorized {
			return err
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		c.log.Warn("web: cannot read a repository", "project", project, "repo", rows[i].Name, "err", err)
		rows[i].Err = "Its branches and pushes cannot be read now."
	}
	c.render(w, r, s, http.StatusOK, "repos", &pageData{Title: "Repositories", Nav: "repos", Project: project,
		Body: &repoListView{Project: project, Repos: rows}})
	return nil
}

// repoHeadView is the head of every page of a repository: its name, clone
// URL, the branch selector and the tabs. It is rendered once, by the
// repo-head template, into repoFrame.Head.
type repoHeadView struct {
	Name, Project, Description, CloneURL string
	// Tab is "code" or "commits": the tab marked current.
	Tab                 string
	CodeURL, CommitsURL string
	// FormAction and Hidden make the branch selector a GET form back to
	// the same page.
	FormAction string
	Hidden     []repoHidden
	Refs       []repoRefOption
}

type repoHidden struct{ Name, Value string }

type repoRefOption struct {
	Name     string
	Selected bool
	// Note is "default" for the default branch.
	Note string
}

// repoFrame is what every repository page's view starts with.
type repoFrame struct {
	Head     *repoHeadView
	Name     string
	Project  string
	CloneURL string
	// Ref is the ref shown: the one asked for, "" for the default branch
	// (or the most recent one when HEAD names no branch); RefLabel is what
	// it is called on the page.
	Ref      string
	RefLabel string
	Branches []repoBranchRow
}

// repoBranchRow is a branch with its page.
type repoBranchRow struct {
	client.RepoBranch
	URL string
}

// repoFrame reads the repository and its branches and renders the head.
// formPath is the page's path below /repos/NAME, hidden its other query
// parameters (kept when the branch changes).
func (c *Console) repoFrame(ctx context.Context, s *session, project, name, ref, tab, formPath string, hidden ...string) (*repoFrame, error) {
	rp, err := s.api.GetRepo(ctx, project, name)
	if err != nil {
		return nil, err
	}
	branches, err := s.api.RepoBranches(ctx, project, name)
	if err != nil {
		return nil, err
	}
	if ref == "" && len(branches) > 0 && !slices.ContainsFunc(branches, func(b client.RepoBranch) bool { return b.Default }) {
		// HEAD names a branch nobody pushed (say main, when only master
		// was): show the most recent branch rather than nothing.
		ref = branches[0].Name
	}
	f := &repoFrame{Name: rp.Name, Project: project, CloneURL: rp.CloneURL, Ref: ref, RefLabel: ref}
	h := &repoHeadView{Name: rp.Name, Project: project, Description: rp.Description, CloneURL: rp.CloneURL, Tab: tab,
		CodeURL: repoHref(project, name, "", "ref", ref), CommitsURL: repoHref(project, name, "/commits", "ref", ref),
		FormAction: "/repos/" + url.PathEscape(name) + formPath}
	if project != defaultProject {
		h.Hidden = append(h.Hidden, repoHidden{"project", project})
	}
	for i := 0; i+1 < len(hidden); i += 2 {
		if hidden[i+1] != "" {
			h.Hidden = append(h.Hidden, repoHidden{hidden[i], hidden[i+1]})
		}
	}
	found := false
	for _, b := range branches {
		f.Branches = append(f.Branches, repoBranchRow{RepoBranch: b, URL: repoHref(project, name, "", "ref", b.Name)})
		o := repoRefOption{Name: b.Name, Selected: b.Name == ref || ref == "" && b.Default}
		if b.Default {
			o.Note = "default"
			if ref == "" {
				f.RefLabel = b.Name
			}
		}
		found = found || o.Selected
		h.Refs = append(h.Refs, o)
	}
	if ref != "" && !found {
		// A tag or a commit: shown as the selected choice.
		h.Refs = append([]repoRefOption{{Name: ref, Selected: true}}, h.Refs...)
	}
	f.Head = h
	return f, nil
}

// repoEntriesPart is the data of the repo-entries part: a directory.
type repoEntriesPart struct {
	Caption   string
	Entries   []repoEntryRow
	Truncated bool
}

// repoCommitsPart is the data of the repo-commit-list part.
type repoCommitsPart struct {
	Caption string
	Commits []repoCommitRow
}

// repoEntryRow is an entry of a directory listing.
type repoEntryRow struct {
	Name string
	// Kind is dir, file, link or submodule; KindLabel says it in words.
	Kind, KindLabel string
	// URL is empty for a submodule, which is in another repository.
	URL  string
	Size string
}

func repoEntries(project, name, ref string, entries []client.RepoTreeEntry) []repoEntryRow {
	rows := make([]repoEntryRow, 0, len(entries))
	for _, e := range entries {
		row := repoEntryRow{Name: e.Name}
		switch {
		case e.Type == client.RepoTreeType:
			row.Kind, row.URL = "dir", repoHref(project, name, "/tree", "ref", ref, "path", e.Path)
		case e.Type == client.RepoCommitType:
			row.Kind = "submodule"
		default:
			row.Kind, row.URL, row.Size = "file", repoHref(project, name, "/blob", "ref", ref, "path", e.Path), byteSize(e.Size)
			if e.Mode == "120000" {
				row.Kind = "link"
			}
		}
		row.KindLabel = map[string]string{"dir": "directory", "file": "file", "link": "symbolic link", "submodule": "submodule"}[row.Kind]
		rows = append(rows, row)
	}
	return rows
}

// repoCommitRow is a commit of a listing.
type repoCommitRow struct {
	ID, Short, Subject, Author, URL string
	Date                            time.Time
}

func repoCommitRows(project, name string, cs []client.RepoCommit) []repoCommitRow {
	rows := make([]repoCommitRow, 0, len(cs))
	for _, cm := range cs {
		rows = append(rows, repoCommitRow{ID: cm.ID, Short: short(cm.ID), Subject: cm.Subject, Author: cm.Author,
			Date: cm.AuthorDate, URL: repoHref(project, name, "/commits/"+url.PathEscape(cm.ID))})
	}
	return rows
}

// repoReadme is the README shown on a repository's page.
type repoReadme struct {
	Name, Text, URL string
	Truncated       bool
}

// repoView is a repository's page.
type repoView struct {
	*repoFrame
	// Files and Commits are the top directory and recent commits.
	Files      *repoEntriesPart
	Readme     *repoReadme
	Commits    *repoCommitsPart
	CommitsURL string
	More       bool
	// Note says what could not be shown.
	Note string
}

// repoIsReadme says whether a file of the top directory is the README.
func repoIsReadme(name string) bool {
	base := strings.ToLower(name)
	if i := strings.IndexByte(base, '.'); i >= 0 {
		base = base[:i]
	}
	return base == "readme"
}

// repo is a repository's page: clone URL, branches, the top directory,
// the README and the recent commits.
func (c *Console) repo(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, name, ref := projectOf(r), r.PathValue("name"), r.FormValue("ref")
	f, err := c.repoFrame(ctx, s, project, name, ref, "code", "")
	if err != nil {
		return err
	}
	ref = f.Ref
	v := &repoView{repoFrame: f, CommitsURL: repoHref(project, name, "/commits", "ref", ref)}
	if len(f.Branches) > 0 || ref != "" {
		tree, err := s.api.RepoTree(ctx, project, name, ref, "")
		if err != nil {
			return err
		}
		v.Files = &repoEntriesPart{Caption: "Files at " + f.RefLabel,
			Entries: repoEntries(project, name, ref, tree.Entries), Truncated: tree.Truncated}
		for _, e := range tree.Entries {
			if e.Type != client.RepoBlobType || !repoIsReadme(e.Name) {
				continue
			}
			b, err := s.api.RepoBlob(ctx, project, name, ref, e.Path)
			switch status, _ := apiStatus(err); {
			case err == nil && !b.Binary:
				v.Readme = &repoReadme{Name: e.Name, Text: string(b.Content), Truncated: b.Truncated,
					URL: repoHref(project, name, "/blob", "ref", ref, "path", e.Path)}
			case err == nil:
			case status == http.StatusUnauthorized:
				return err
			default:
				c.log.Warn("web: cannot read a README", "project", project, "repo", name, "path", e.Path, "err", err)
				v.Note = "The README cannot be read now."
			}
			break
		}
		page, err := s.api.RepoCommits(ctx, project, name, ref, "", repoRecentCommits, 0)
		if err != nil {
			return err
		}
		v.More = page.More
		v.Commits = &repoCommitsPart{Caption: "Recent commits on " + f.RefLabel,
			Commits: repoCommitRows(project, name, page.Commits)}
	}
	c.render(w, r, s, http.StatusOK, "repo", &pageData{Title: f.Name, Nav: "repos", Project: project, Scripts: []string{"repos.js"}, Body: v})
	return nil
}

// repoCrumb is one step of the breadcrumbs; the last has no URL.
type repoCrumb struct{ Name, URL string }

func repoCrumbs(project, name, ref, p string) []repoCrumb {
	crumbs := []repoCrumb{{Name: name, URL: repoHref(project, name, "", "ref", ref)}}
	if p == "" {
		crumbs[0].URL = ""
		return crumbs
	}
	parts := strings.Split(p, "/")
	for i, part := range parts {
		cr := repoCrumb{Name: part}
		if i < len(parts)-1 {
			cr.URL = repoHref(project, name, "/tree", "ref", ref, "path", strings.Join(parts[:i+1], "/"))
		}
		crumbs = append(crumbs, cr)
	}
	return crumbs
}

// repoTreeView is a directory's page.
type repoTreeView struct {
	*repoFrame
	Path       string
	Crumbs     []repoCrumb
	Files      *repoEntriesPart
	HistoryURL string
}

func (c *Console) repoTree(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, name, ref, p := projectOf(r), r.PathValue("name"), r.FormValue("ref"), strings.Trim(r.FormValue("path"), "/")
	f, err := c.repoFrame(ctx, s, project, name, ref, "code", "/tree", "path", p)
	if err != nil {
		return err
	}
	ref = f.Ref
	tree, err := s.api.RepoTree(ctx, project, name, ref, p)
	if err != nil {
		return err
	}
	v := &repoTreeView{repoFrame: f, Path: tree.Path, Crumbs: repoCrumbs(project, name, ref, tree.Path),
		HistoryURL: repoHref(project, name, "/commits", "ref", ref, "path", tree.Path)}
	v.Files = &repoEntriesPart{Caption: "Files of " + tree.Path + " at " + f.RefLabel,
		Entries: repoEntries(project, name, ref, tree.Entries), Truncated: tree.Truncated}
	title := name
	if tree.Path != "" {
		title = tree.Path + " · " + name
	}
	c.render(w, r, s, http.StatusOK, "repo-tree", &pageData{Title: title, Nav: "repos", Project: project, Scripts: []string{"repos.js"}, Body: v})
	return nil
}

// repoLine is a line of a file.
type repoLine struct {
	N    int
	Text string
}

// repoBlobView is a file's page.
type repoBlobView struct {
	*repoFrame
	Path       string
	Crumbs     []repoCrumb
	Size       string
	Binary     bool
	Truncated  bool
	Lines      []repoLine
	RawURL     string
	HistoryURL string
	Commit     string
}

func (c *Console) repoBlob(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, name, ref, p := projectOf(r), r.PathValue("name"), r.FormValue("ref"), r.FormValue("path")
	f, err := c.repoFrame(ctx, s, project, name, ref, "code", "/blob", "path", p)
	if err != nil {
		return err
	}
	ref = f.Ref
	b, err := s.api.RepoBlob(ctx, project, name, ref, p)
	if err != nil {
		return err
	}
	v := &repoBlobView{repoFrame: f, Path: b.Path, Crumbs: repoCrumbs(project, name, ref, b.Path), Size: byteSize(b.Size),
		Binary: b.Binary, Truncated: b.Truncated, Commit: b.Commit,
		RawURL:     repoHref(project, name, "/raw", "ref", ref, "path", b.Path),
		HistoryURL: repoHref(project, name, "/commits", "ref", ref, "path", b.Path)}
	if !b.Binary {
		text := strings.TrimSuffix(string(b.Content), "\n")
		if len(b.Content) > 0 {
			for i, line := range strings.Split(text, "\n") {
				v.Lines = append(v.Lines, repoLine{N: i + 1, Text: strings.TrimSuffix(line, "\r")})
			}
		}
	}
	c.render(w, r, s, http.StatusOK, "repo-blob", &pageData{Title: path.Base(b.Path) + " · " + name, Nav: "repos", Project: project,
		Scripts: []string{"repos.js"}, Body: v})
	return nil
}

// repoRaw streams a file's bytes as a download: the API's raw answer, as
// an attachment no browser renders.
func (c *Console) repoRaw(w http.ResponseWriter, r *http.Request, s *session) error {
	project, name, ref, p := projectOf(r), r.PathValue("name"), r.FormValue("ref"), r.FormValue("path")
	file, err := s.api.RepoRaw(r.Context(), project, name, ref, p)
	if err != nil {
		return err
	}
	defer file.Body.Close()
	c.download(w, r, file.Body, cmp.Or(file.Name, path.Base(p)), "application/octet-stream", file.Size, nil)
	return nil
}

// repoCommitsView is a page of history.
type repoCommitsView struct {
	*repoFrame
	// Path is the file or directory whose history this is, if any.
	Path               string
	PathURL            string
	List               *repoCommitsPart
	Count              int
	NewerURL, OlderURL string
	First, Last        int
}

func (c *Console) repoCommits(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, name, ref, p := projectOf(r), r.PathValue("name"), r.FormValue("ref"), r.FormValue("path")
	skip := 0
	if v := r.FormValue("skip"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			c.errorPage(w, r, s, http.StatusBadRequest, "skip must be a whole number, 0 or more.")
			return nil
		}
		skip = n
	}
	f, err := c.repoFrame(ctx, s, project, name, ref, "commits", "/commits", "path", p)
	if err != nil {
		return err
	}
	ref = f.Ref
	page, err := s.api.RepoCommits(ctx, project, name, ref, p, repoCommitsPage, skip)
	if err != nil {
		return err
	}
	v := &repoCommitsView{repoFrame: f, Path: p, Count: len(page.Commits), First: skip + 1, Last: skip + len(page.Commits)}
	caption := "Commits on " + f.RefLabel
	if p != "" {
		caption = "Commits on " + f.RefLabel + " that changed " + p
	}
	v.List = &repoCommitsPart{Caption: caption, Commits: repoCommitRows(project, name, page.Commits)}
	if p != "" {
		v.PathURL = repoHref(project, name, "/tree", "ref", ref, "path", p)
	}
	if skip > 0 {
		newer := max(skip-repoCommitsPage, 0)
		v.NewerURL = repoHref(project, name, "/commits", "ref", ref, "path", p, "skip", repoSkip(newer))
	}
	if page.More {
		v.OlderURL = repoHref(project, name, "/commits", "ref", ref, "path", p, "skip", repoSkip(skip+len(page.Commits)))
	}
	title := "Commits · " + name
	if p != "" {
		title = "History of " + p + " · " + name
	}
	c.render(w, r, s, http.StatusOK, "repo-commits", &pageData{Title: title, Nav: "repos", Project: project, Scripts: []string{"repos.js"}, Body: v})
	return nil
}

// repoSkip is a skip parameter, left out when 0.
func repoSkip(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// repoFileRow is a file a commit changed.
type repoFileRow struct {
	client.RepoChangedFile
	URL string
}

// repoCommitView is a commit's page.
type repoCommitView struct {
	*repoFrame
	Commit  *client.RepoCommitDetail
	Short   string
	Body    string
	Parents []repoCommitRow
	Files   []repoFileRow
	TreeURL string
	// Added and Deleted total the line counts.
	Added, Deleted int
}

func (c *Console) repoCommit(w http.ResponseWriter, r *http.Request, s *session) error {
	ctx := r.Context()
	project, name, sha := projectOf(r), r.PathValue("name"), r.PathValue("sha")
	f, err := c.repoFrame(ctx, s, project, name, "", "commits", "/commits")
	if err != nil {
		return err
	}
	cm, err := s.api.RepoCommit(ctx, project, name, sha)
	if err != nil {
		return err
	}
	_, body, _ := strings.Cut(cm.Message, "\n")
	v := &repoCommitView{repoFrame: f, Commit: cm, Short: short(cm.ID), Body: strings.TrimSpace(body),
		TreeURL: repoHref(project, name, "/tree", "ref", cm.ID)}
	for _, p := range cm.Parents {
		v.Parents = append(v.Parents, repoCommitRow{ID: p, Short: short(p), URL: repoHref(project, name, "/commits/"+url.PathEscape(p))})
	}
	for _, fl := range cm.Files {
		v.Files = append(v.Files, repoFileRow{RepoChangedFile: fl, URL: repoHref(project, name, "/blob", "ref", cm.ID, "path", fl.Path)})
		v.Added += fl.Added
		v.Deleted += fl.Deleted
	}
	c.render(w, r, s, http.StatusOK, "repo-commit", &pageData{Title: short(cm.ID) + " · " + name, Nav: "repos", Project: project,
		Scripts: []string{"repos.js"}, Body: v})
	return nil
}
