package client

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"time"
)

// RepoBranch is a branch of a repository and the commit at its tip.
type RepoBranch struct {
	Name    string    `json:"name"`
	Commit  string    `json:"commit"`
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Date    time.Time `json:"date"`
	// Default marks the branch a clone checks out.
	Default bool `json:"default"`
}

// RepoCommit is one commit.
type RepoCommit struct {
	ID             string    `json:"id"`
	Parents        []string  `json:"parents"`
	Author         string    `json:"author"`
	AuthorEmail    string    `json:"author_email"`
	AuthorDate     time.Time `json:"author_date"`
	Committer      string    `json:"committer"`
	CommitterEmail string    `json:"committer_email"`
	CommitDate     time.Time `json:"commit_date"`
	Subject        string    `json:"subject"`
	// Message is the whole message; listings leave it out.
	Message string `json:"message,omitempty"`
}

// RepoCommitPage is a page of history, newest first.
type RepoCommitPage struct {
	// Commit is what the ref resolved to; empty for an empty repository.
	Commit  string       `json:"commit"`
	Commits []RepoCommit `json:"commits"`
	// More says older commits follow.
	More bool `json:"more"`
}

// RepoChangedFile is a file a commit changed, with line counts against
// its first parent.
type RepoChangedFile struct {
	Path string `json:"path"`
	// OldPath is set for a rename.
	OldPath string `json:"old_path,omitempty"`
	Added   int    `json:"added"`
	Deleted int    `json:"deleted"`
	Binary  bool   `json:"binary"`
}

// RepoCommitDetail is a commit with its whole message and changed files.
type RepoCommitDetail struct {
	RepoCommit
	Files          []RepoChangedFile `json:"files"`
	FilesTruncated bool              `json:"files_truncated"`
}

// Types of RepoTreeEntry.
const (
	RepoBlobType   = "blob"
	RepoTreeType   = "tree"
	RepoCommitType = "commit" // a submodule
)

// RepoTreeEntry is an entry of a directory.
type RepoTreeEntry struct {
	Name string `json:"name"`
	// Path is from the top of the repository.
	Path string `json:"path"`
	Type string `json:"type"`
	Mode string `json:"mode"`
	ID   string `json:"id"`
	Size int64  `json:"size"`
}

// RepoTree is a directory of a commit: directories first, then by name.
type RepoTree struct {
	// Commit is what the ref resolved to; empty for an empty repository.
	Commit    string          `json:"commit"`
	Path      string          `json:"path"`
	Entries   []RepoTreeEntry `json:"entries"`
	Truncated bool            `json:"truncated"`
}

// RepoBlob is a file of a commit. Content holds at most its first MiB
// (Truncated says when there is more).
type RepoBlob struct {
	Commit    string `json:"commit"`
	Path      string `json:"path"`
	Mode      string `json:"mode"`
	ID        string `json:"id"`
	Size      int64  `json:"size"`
	Binary    bool   `json:"binary"`
	Truncated bool   `json:"truncated"`
	Content   []byte `json:"-"`
}

func repoPath(project, name, suffix string) string {
	return "/api/v1/projects/" + esc(project) + "/repos/" + esc(name) + suffix
}

// repoQuery encodes the parameters that are set.
func repoQuery(kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return ""
	}
	return "?" + q.Encode()
}

// RepoBranches lists a repository's branches, the most recently committed
// first.
func (c *Client) RepoBranches(ctx context.Context, project, name string) ([]RepoBranch, error) {
	var bs []RepoBranch
	return bs, c.Do(ctx, "GET", repoPath(project, name, "/branches"), nil, &bs)
}

// RepoCommits lists the history of ref ("" for the default branch), only
// the commits that changed path when it is not "": limit commits (0 for
// the server's default) after skip.
func (c *Client) RepoCommits(ctx context.Context, project, name, ref, path string, limit, skip int) (*RepoCommitPage, error) {
	var p RepoCommitPage
	q := repoQuery("ref", ref, "path", path, "limit", repoCount(limit), "skip", repoCount(skip))
	return &p, c.Do(ctx, "GET", repoPath(project, name, "/commits"+q), nil, &p)
}

func repoCount(n int) string {
	if n <= 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// RepoCommit returns one commit (an id, abbreviated or not, a branch or a
// tag) with its message and changed files.
func (c *Client) RepoCommit(ctx context.Context, project, name, sha string) (*RepoCommitDetail, error) {
	var d RepoCommitDetail
	return &d, c.Do(ctx, "GET", repoPath(project, name, "/commits/"+esc(sha)), nil, &d)
}

// RepoTree lists the directory path ("" for the top) of ref ("" for the
// default branch).
func (c *Client) RepoTree(ctx context.Context, project, name, ref, path string) (*RepoTree, error) {
	var t RepoTree
	return &t, c.Do(ctx, "GET", repoPath(project, name, "/tree"+repoQuery("ref", ref, "path", path)), nil, &t)
}

// RepoBlob returns the file path of ref ("" for the default branch) with
// up to its first MiB.
func (c *Client) RepoBlob(ctx context.Context, project, name, ref, path string) (*RepoBlob, error) {
	var v struct {
		RepoBlob
		Encoding string `json:"encoding"`
		Content  string `json:"content"`
	}
	if err := c.Do(ctx, "GET", repoPath(project, name, "/blob"+repoQuery("ref", ref, "path", path)), nil, &v); err != nil {
		return nil, err
	}
	b := v.RepoBlob
	switch v.Encoding {
	case "text":
		b.Content = []byte(v.Content)
	case "base64":
		data, err := base64.StdEncoding.DecodeString(v.Content)
		if err != nil {
			return nil, fmt.Errorf("file %s: decode content: %w", path, err)
		}
		b.Content = data
	default:
		return nil, fmt.Errorf("file %s: unknown content encoding %q", path, v.Encoding)
	}
	return &b, nil
}

// RepoFile is a repository's file being downloaded: its body, which the
// caller closes, and what the server said of it.
type RepoFile struct {
	Body io.ReadCloser
	// Name is the file name the server suggests.
	Name string
	// Size is the length, or -1 when the server did not say.
	Size int64
}

// RepoRaw opens all the bytes of the file path of ref ("" for the default
// branch); the download is streamed and bounded by ctx only.
func (c *Client) RepoRaw(ctx context.Context, project, name, ref, path string) (*RepoFile, error) {
	p := repoPath(project, name, "/blob"+repoQuery("ref", ref, "path", path, "raw", "1"))
	resp, err := c.download(ctx, p)
	if err != nil {
		return nil, err
	}
	f := &RepoFile{Body: resp.Body, Size: resp.ContentLength}
	if _, params, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		f.Name = params["filename"]
	}
	return f, nil
}
