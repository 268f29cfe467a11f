package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os/exec"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// Browsing reads a repository through git's plumbing, one process per
// question, with bounded output: nothing here writes to a repository.

// ErrInvalid is wrapped by the browsing errors of a malformed ref or path
// (the caller's mistake, not a missing object). Missing refs and paths wrap
// store.ErrNotFound instead.
var ErrInvalid = errors.New("invalid")

// Limits of browsing.
const (
	// DefaultCommits and MaxCommits bound a page of Commits.
	DefaultCommits = 30
	MaxCommits     = 200
	// MaxTreeEntries is the most entries Tree lists of one directory.
	MaxTreeEntries = 5000
	// MaxBranches is the most branches Branches lists.
	MaxBranches = 1000
	// MaxChangedFiles is the most files Commit lists.
	MaxChangedFiles = 1000
	// binarySniff is how much of a file is looked at for a NUL byte, as
	// git does to tell binary files.
	binarySniff = 8 << 10
	// maxPlumbing bounds what one plumbing command may print; a listing
	// beyond it is cut short rather than read into memory.
	maxPlumbing = 8 << 20
)

// Branch is a branch and the commit at its tip.
type Branch struct {
	Name    string    `json:"name"`
	Commit  string    `json:"commit"`
	Subject string    `json:"subject"`
	Author  string    `json:"author"`
	Date    time.Time `json:"date"`
	// Default marks the branch HEAD names: what a clone checks out.
	Default bool `json:"default"`
}

// Commit is one commit.
type Commit struct {
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

// CommitPage is a page of a branch's (or a file's) history, newest first.
type CommitPage struct {
	// Commit is what the ref resolved to; empty for an empty repository.
	Commit  string   `json:"commit"`
	Commits []Commit `json:"commits"`
	// More says older commits follow the page.
	More bool `json:"more"`
}

// ChangedFile is a file a commit changed, with its line counts against the
// first parent (or against nothing, for a root commit).
type ChangedFile struct {
	Path string `json:"path"`
	// OldPath is set when the file was renamed from there.
	OldPath string `json:"old_path,omitempty"`
	Added   int    `json:"added"`
	Deleted int    `json:"deleted"`
	// Binary files have no line counts.
	Binary bool `json:"binary"`
}

// CommitDetail is a commit with its message and changed files.
type CommitDetail struct {
	Commit
	Files []ChangedFile `json:"files"`
	// FilesTruncated says more files changed than Files lists.
	FilesTruncated bool `json:"files_truncated"`
}

// Entry types of a tree.
const (
	TypeBlob   = "blob"
	TypeTree   = "tree"
	TypeCommit = "commit" // a submodule
)

// TreeEntry is one entry of a directory.
type TreeEntry struct {
	Name string `json:"name"`
	// Path is the entry's path from the top of the repository.
	Path string `json:"path"`
	// Type is TypeBlob, TypeTree or TypeCommit.
	Type string `json:"type"`
	// Mode is git's: 100644, 100755, 120000 (a symbolic link), 040000,
	// 160000.
	Mode string `json:"mode"`
	ID   string `json:"id"`
	// Size is a blob's size in bytes; 0 for other types.
	Size int64 `json:"size"`
}

// Tree is a directory of a commit.
type Tree struct {
	// Commit is what the ref resolved to; empty for an empty repository.
	Commit string `json:"commit"`
	// Path is the directory, "" for the top.
	Path    string      `json:"path"`
	Entries []TreeEntry `json:"entries"`
	// Truncated says the directory has more than MaxTreeEntries entries.
	Truncated bool `json:"truncated"`
}

// Blob is a file of a commit.
type Blob struct {
	Commit string `json:"commit"`
	Path   string `json:"path"`
	Mode   string `json:"mode"`
	ID     string `json:"id"`
	Size   int64  `json:"size"`
	// Binary says the file holds a NUL byte in its first 8 KiB.
	Binary bool `json:"binary"`
	// Truncated says Content holds only the first bytes of the file.
	Truncated bool   `json:"truncated"`
	Content   []byte `json:"-"`
}

// validateRef checks a ref as browsing takes it: a branch, tag or commit
// name that cannot be read as an option, a range or a path inside a tree.
// "" means HEAD, the default branch.
func validateRef(ref string) error {
	bad := func(why string) error {
		return fmt.Errorf("%w ref %q: %s; give a branch, a tag or a commit id", ErrInvalid, ref, why)
	}
	switch {
	case len(ref) > 256:
		return bad("too long")
	case strings.HasPrefix(ref, "-"):
		return bad(`starts with "-"`)
	case strings.Contains(ref, ".."):
		return bad(`contains ".."`)
	case strings.ContainsAny(ref, ":\\ ?*["):
		return bad("contains a character refs cannot hold")
	}
	for _, c := range ref {
		if c < 0x20 || c == 0x7f {
			return bad("contains a control character")
		}
	}
	return nil
}

// cleanPath checks a path inside a tree: relative, clean, no "..". "" and
// "." are the top.
func cleanPath(p string) (string, error) {
	if p == "" || p == "." {
		return "", nil
	}
	if len(p) > 4096 || !fs.ValidPath(p) || strings.ContainsRune(p, 0) {
		return "", fmt.Errorf("%w path %q: give a relative path without \".\" or \"..\" elements, like src/main.go", ErrInvalid, p)
	}
	return p, nil
}

// browse runs one git plumbing command in dir, returning at most limit
// bytes of its output; cut says the output went on. Paths after "--" are
// literal, never pathspec magic.
func (s *Service) browse(ctx context.Context, dir string, limit int, args ...string) (out []byte, cut bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := s.command(ctx, "", append([]string{"--git-dir=" + dir}, args...)...)
	cmd.Env = append(cmd.Env, "GIT_LITERAL_PATHSPECS=1", "GIT_NO_REPLACE_OBJECTS=1")
	var stderr capped
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		return nil, false, fmt.Errorf("git %s: %w", args[0], err)
	}
	if err := cmd.Start(); err != nil {
		return nil, false, fmt.Errorf("git %s: %w", args[0], err)
	}
	out, rerr := io.ReadAll(io.LimitReader(pipe, int64(limit)+1))
	if len(out) > limit {
		// Enough: stop git rather than read the rest.
		out, cut = out[:limit], true
		cancel()
	}
	werr := cmd.Wait()
	switch {
	case cut:
		return out, true, nil
	case rerr != nil:
		return nil, false, fmt.Errorf("git %s: read output: %w", args[0], rerr)
	case werr != nil:
		return nil, false, &gitError{args: args[0], err: werr, stderr: stderr.String()}
	}
	return out, false, nil
}

// gitError is a plumbing command that failed, with what it said.
type gitError struct {
	args   string
	err    error
	stderr string
}

func (e *gitError) Error() string { return fmt.Sprintf("git %s: %v: %s", e.args, e.err, e.stderr) }

// exitCode is the exit status of a failed plumbing command, or -1.
func exitCode(err error) int {
	var ge *gitError
	var ee *exec.ExitError
	if errors.As(err, &ge) && errors.As(ge.err, &ee) {
		return ee.ExitCode()
	}
	return -1
}

// resolve turns ref ("" for HEAD) into a full commit id. empty is true, with
// no error, when the ref does not resolve and the repository holds no refs
// at all: an empty repository has no history to show rather than a missing
// one.
func (s *Service) resolve(ctx context.Context, rp *Repository, dir, ref string) (commit string, empty bool, err error) {
	if err := validateRef(ref); err != nil {
		return "", false, err
	}
	name := ref
	if name == "" {
		name = "HEAD"
	}
	out, _, err := s.browse(ctx, dir, 1024, "rev-parse", "--verify", "--quiet", "--end-of-options", name+"^{commit}")
	if err == nil {
		id := strings.TrimSpace(string(out))
		if !isObjectID(id) {
			return "", false, fmt.Errorf("resolve %s in %s: git answered %q", name, rp.Name, id)
		}
		return id, false, nil
	}
	if exitCode(err) != 1 {
		return "", false, fmt.Errorf("resolve %s in %s: %w", name, rp.Name, err)
	}
	refs, _, err := s.browse(ctx, dir, 1024, "for-each-ref", "--count=1", "--format=%(refname)")
	if err != nil {
		return "", false, fmt.Errorf("list refs of %s: %w", rp.Name, err)
	}
	if len(bytes.TrimSpace(refs)) == 0 {
		return "", true, nil
	}
	if ref == "" {
		return "", false, fmt.Errorf("repository %s: its default branch has no commits: %w", rp.Name, store.ErrNotFound)
	}
	return "", false, fmt.Errorf("%q is not a branch, tag or commit of repository %s: %w", ref, rp.Name, store.ErrNotFound)
}

// Branches lists the repository's branches, the most recently committed
// first; the one HEAD names is marked Default. An empty repository has
// none.
func (s *Service) Branches(ctx context.Context, rp *Repository) ([]Branch, error) {
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return nil, err
	}
	head, _, err := s.browse(ctx, dir, 1024, "symbolic-ref", "--quiet", "HEAD")
	if err != nil && exitCode(err) != 1 {
		return nil, fmt.Errorf("branches of %s: %w", rp.Name, err)
	}
	def := strings.TrimPrefix(strings.TrimSpace(string(head)), "refs/heads/")
	out, _, err := s.browse(ctx, dir, maxPlumbing, "for-each-ref", "--sort=-committerdate",
		"--count="+strconv.Itoa(MaxBranches),
		"--format=%(refname:strip=2)%00%(objectname)%00%(subject)%00%(authorname)%00%(committerdate:unix)%1e",
		"refs/heads/")
	if err != nil {
		return nil, fmt.Errorf("branches of %s: %w", rp.Name, err)
	}
	out2 := []Branch{}
	for rec := range strings.SplitSeq(string(out), "\x1e") {
		rec = strings.TrimPrefix(rec, "\n")
		f := strings.Split(rec, "\x00")
		if len(f) != 5 {
			continue
		}
		out2 = append(out2, Branch{Name: f[0], Commit: f[1], Subject: f[2], Author: f[3], Date: unixTime(f[4]), Default: f[0] == def})
	}
	return out2, nil
}

func unixTime(s string) time.Time {
	n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
	if err != nil {
		return time.Time{}
	}
	return time.Unix(n, 0).UTC()
}

// commitFormat is git log's format of a Commit, fields separated by NUL;
// %B (the message) comes last, as it may hold anything but NUL.
const commitFormat = "%H%x00%P%x00%an%x00%ae%x00%at%x00%cn%x00%ce%x00%ct%x00%s%x00%B"

// parseCommit reads one record of commitFormat.
func parseCommit(rec string) (Commit, bool) {
	f := strings.SplitN(rec, "\x00", 10)
	if len(f) != 10 || !isObjectID(f[0]) {
		return Commit{}, false
	}
	c := Commit{ID: f[0], Parents: strings.Fields(f[1]), Author: f[2], AuthorEmail: f[3], AuthorDate: unixTime(f[4]),
		Committer: f[5], CommitterEmail: f[6], CommitDate: unixTime(f[7]), Subject: f[8],
		Message: strings.TrimRight(f[9], "\n")}
	if c.Parents == nil {
		c.Parents = []string{}
	}
	return c, true
}

// Commits lists the history of ref ("" for HEAD), newest first, limited to
// the commits that changed path when it is not "": limit commits (at most
// MaxCommits) after skipping skip. An empty repository has none.
func (s *Service) Commits(ctx context.Context, rp *Repository, ref, path string, limit, skip int) (*CommitPage, error) {
	switch {
	case limit <= 0:
		limit = DefaultCommits
	case limit > MaxCommits:
		limit = MaxCommits
	}
	skip = max(skip, 0)
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return nil, err
	}
	commit, empty, err := s.resolve(ctx, rp, dir, ref)
	if err != nil || empty {
		return &CommitPage{Commits: []Commit{}}, err
	}
	// One more than asked says whether a next page exists. Records end
	// in RS; the message is left out of listings.
	args := []string{"log", "--no-color", "--format=" + strings.TrimSuffix(commitFormat, "%B") + "%x1e",
		"-n", strconv.Itoa(limit + 1), "--skip=" + strconv.Itoa(skip), commit}
	if p != "" {
		args = append(args, "--", p)
	}
	out, _, err := s.browse(ctx, dir, maxPlumbing, args...)
	if err != nil {
		return nil, fmt.Errorf("history of %s: %w", rp.Name, err)
	}
	page := &CommitPage{Commit: commit, Commits: []Commit{}}
	for rec := range strings.SplitSeq(string(out), "\x1e") {
		c, ok := parseCommit(strings.TrimPrefix(rec, "\n"))
		if !ok {
			continue
		}
		if len(page.Commits) == limit {
			page.More = true
			break
		}
		page.Commits = append(page.Commits, c)
	}
	return page, nil
}

// Commit returns one commit (ref names it: an id, a branch or a tag) with
// its whole message and the files it changed against its first parent.
func (s *Service) Commit(ctx context.Context, rp *Repository, ref string) (*CommitDetail, error) {
	if ref == "" {
		return nil, fmt.Errorf("%w commit: give a commit id", ErrInvalid)
	}
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return nil, err
	}
	id, empty, err := s.resolve(ctx, rp, dir, ref)
	if err != nil {
		return nil, err
	}
	if empty {
		return nil, fmt.Errorf("%q is not a commit of repository %s, which is empty: %w", ref, rp.Name, store.ErrNotFound)
	}
	out, _, err := s.browse(ctx, dir, maxPlumbing, "show", "-s", "--no-color", "--format="+commitFormat, id)
	if err != nil {
		return nil, fmt.Errorf("commit %s of %s: %w", id, rp.Name, err)
	}
	c, ok := parseCommit(string(out))
	if !ok {
		return nil, fmt.Errorf("commit %s of %s: cannot read git's answer", id, rp.Name)
	}
	d := &CommitDetail{Commit: c, Files: []ChangedFile{}}
	stat, cut, err := s.browse(ctx, dir, maxPlumbing, "show", "--no-color", "--format=", "--numstat", "-z", "-M",
		"--diff-merges=first-parent", id)
	if err != nil {
		return nil, fmt.Errorf("files of commit %s of %s: %w", id, rp.Name, err)
	}
	d.Files, d.FilesTruncated = parseNumstat(string(stat))
	d.FilesTruncated = d.FilesTruncated || cut
	return d, nil
}

// parseNumstat reads `git show --numstat -z`: "ADDED\tDELETED\tPATH\0", or
// for a rename "ADDED\tDELETED\t\0OLD\0NEW\0"; binary files count "-".
// It keeps MaxChangedFiles files; more says there were others.
func parseNumstat(out string) (files []ChangedFile, more bool) {
	files = []ChangedFile{}
	fields := strings.Split(out, "\x00")
	for i := 0; i < len(fields); i++ {
		rec := strings.TrimLeft(fields[i], "\n")
		if rec == "" {
			continue
		}
		parts := strings.SplitN(rec, "\t", 3)
		if len(parts) != 3 {
			continue
		}
		f := ChangedFile{Path: parts[2]}
		if f.Path == "" {
			// A rename: the old and new paths follow.
			if i+2 >= len(fields) {
				break
			}
			f.OldPath, f.Path = fields[i+1], fields[i+2]
			i += 2
		}
		if parts[0] == "-" && parts[1] == "-" {
			f.Binary = true
		} else {
			f.Added, _ = strconv.Atoi(parts[0])
			f.Deleted, _ = strconv.Atoi(parts[1])
		}
		if len(files) == MaxChangedFiles {
			return files, true
		}
		files = append(files, f)
	}
	return files, false
}

// entry finds path in commit's tree: nil, with no error, when it is not
// there.
func (s *Service) entry(ctx context.Context, dir, commit, path string) (*TreeEntry, error) {
	out, _, err := s.browse(ctx, dir, 64<<10, "ls-tree", "-z", "-l", "--full-tree", commit, "--", path)
	if err != nil {
		return nil, err
	}
	entries := parseLsTree(string(out), "")
	for i := range entries {
		if entries[i].Path == path {
			return &entries[i], nil
		}
	}
	return nil, nil
}

// parseLsTree reads `git ls-tree -z -l`: "MODE TYPE ID SIZE\tNAME\0".
// Names are joined to under.
func parseLsTree(out, under string) []TreeEntry {
	var entries []TreeEntry
	for rec := range strings.SplitSeq(out, "\x00") {
		meta, name, ok := strings.Cut(rec, "\t")
		if !ok {
			continue
		}
		f := strings.Fields(meta)
		if len(f) != 4 {
			continue
		}
		e := TreeEntry{Mode: f[0], Type: f[1], ID: f[2], Name: name, Path: name}
		if under != "" {
			e.Path = under + "/" + name
		}
		if i := strings.LastIndexByte(name, '/'); i >= 0 {
			e.Name = name[i+1:]
		}
		e.Size, _ = strconv.ParseInt(f[3], 10, 64) // "-" for trees and submodules
		entries = append(entries, e)
	}
	return entries
}

// Tree lists the directory path ("" for the top) of ref ("" for HEAD):
// directories first, then by name. An empty repository has an empty top.
func (s *Service) Tree(ctx context.Context, rp *Repository, ref, path string) (*Tree, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, err
	}
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return nil, err
	}
	commit, empty, err := s.resolve(ctx, rp, dir, ref)
	if err != nil {
		return nil, err
	}
	if empty {
		if p != "" {
			return nil, fmt.Errorf("repository %s is empty: it has no %s: %w", rp.Name, p, store.ErrNotFound)
		}
		return &Tree{Entries: []TreeEntry{}}, nil
	}
	treeish := commit
	if p != "" {
		e, err := s.entry(ctx, dir, commit, p)
		if err != nil {
			return nil, fmt.Errorf("tree %s of %s: %w", p, rp.Name, err)
		}
		if e == nil || e.Type != TypeTree {
			return nil, fmt.Errorf("%s has no directory %s at %s: %w", rp.Name, p, short(commit), store.ErrNotFound)
		}
		treeish = e.ID
	}
	out, cut, err := s.browse(ctx, dir, maxPlumbing, "ls-tree", "-z", "-l", treeish)
	if err != nil {
		return nil, fmt.Errorf("tree %s of %s: %w", p, rp.Name, err)
	}
	if cut {
		// The last record may be partial.
		if i := bytes.LastIndexByte(out, 0); i >= 0 {
			out = out[:i]
		}
	}
	t := &Tree{Commit: commit, Path: p, Entries: parseLsTree(string(out), p), Truncated: cut}
	if t.Entries == nil {
		t.Entries = []TreeEntry{}
	}
	sort.SliceStable(t.Entries, func(i, j int) bool {
		di, dj := t.Entries[i].Type == TypeTree, t.Entries[j].Type == TypeTree
		if di != dj {
			return di
		}
		return t.Entries[i].Name < t.Entries[j].Name
	})
	if len(t.Entries) > MaxTreeEntries {
		t.Entries, t.Truncated = t.Entries[:MaxTreeEntries], true
	}
	return t, nil
}

func short(id string) string { return id[:min(len(id), 12)] }

// OpenBlob finds the file path of ref ("" for HEAD) and opens its content;
// the caller reads it and must close it. The Blob has no Content and no
// Binary flag: the reader is the content.
func (s *Service) OpenBlob(ctx context.Context, rp *Repository, ref, path string) (*Blob, io.ReadCloser, error) {
	p, err := cleanPath(path)
	if err != nil {
		return nil, nil, err
	}
	if p == "" {
		return nil, nil, fmt.Errorf("%w path: give the path of a file", ErrInvalid)
	}
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return nil, nil, err
	}
	commit, empty, err := s.resolve(ctx, rp, dir, ref)
	if err != nil {
		return nil, nil, err
	}
	if empty {
		return nil, nil, fmt.Errorf("repository %s is empty: it has no %s: %w", rp.Name, p, store.ErrNotFound)
	}
	e, err := s.entry(ctx, dir, commit, p)
	if err != nil {
		return nil, nil, fmt.Errorf("file %s of %s: %w", p, rp.Name, err)
	}
	if e == nil || e.Type != TypeBlob {
		return nil, nil, fmt.Errorf("%s has no file %s at %s: %w", rp.Name, p, short(commit), store.ErrNotFound)
	}
	b := &Blob{Commit: commit, Path: p, Mode: e.Mode, ID: e.ID, Size: e.Size}
	ctx, cancel := context.WithCancel(ctx)
	cmd := s.command(ctx, "", "--git-dir="+dir, "cat-file", "blob", e.ID)
	var stderr capped
	cmd.Stderr = &stderr
	pipe, err := cmd.StdoutPipe()
	if err == nil {
		err = cmd.Start()
	}
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("file %s of %s: git cat-file: %w", p, rp.Name, err)
	}
	return b, &blobReader{r: pipe, cmd: cmd, cancel: cancel, stderr: &stderr}, nil
}

// blobReader is git cat-file's output; Close stops git if the content was
// not read to its end.
type blobReader struct {
	r      io.Reader
	cmd    *exec.Cmd
	cancel context.CancelFunc
	stderr *capped
	eof    bool
}

func (b *blobReader) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *blobReader) Close() error {
	if !b.eof {
		b.cancel()
	}
	err := b.cmd.Wait()
	b.cancel()
	if b.eof && err != nil {
		return fmt.Errorf("git cat-file: %w: %s", err, b.stderr.String())
	}
	return nil
}

// Blob returns the file path of ref ("" for HEAD) with at most limit bytes
// of its content (Truncated says when there was more), and whether it is
// binary: a NUL byte in its first 8 KiB.
func (s *Service) Blob(ctx context.Context, rp *Repository, ref, path string, limit int64) (*Blob, error) {
	b, rc, err := s.OpenBlob(ctx, rp, ref, path)
	if err != nil {
		return nil, err
	}
	content, rerr := io.ReadAll(io.LimitReader(rc, limit))
	// Close reports git's failure only when the content was read to its end.
	cerr := rc.Close()
	if rerr == nil {
		rerr = cerr
	}
	if rerr != nil {
		return nil, fmt.Errorf("file %s of %s: %w", b.Path, rp.Name, rerr)
	}
	b.Content = content
	b.Truncated = b.Size > int64(len(content))
	b.Binary = bytes.IndexByte(content[:min(len(content), binarySniff)], 0) >= 0
	return b, nil
}
