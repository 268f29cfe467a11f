// Package repo hosts Git repositories: their rows in the database, the bare
// repositories on disk (root/<project>/<name>.git) and Git's smart HTTP
// protocol, served by the real git programs. Pushes are recorded as push
// events, and published on the event bus, without git hooks: the ref update
// commands are read from the request as it streams into git.
package repo

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/store"
)

// Repository is a hosted Git repository.
type Repository struct {
	ID          string    `json:"id"`
	ProjectID   string    `json:"project_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	CreatedAt   time.Time `json:"created_at"`
	// ManagedBy is set when a stack made the repository: the idempotency
	// token of the stack resource, so a resumed create finds it.
	ManagedBy string `json:"managed_by,omitempty"`

	// path is the bare repository relative to the service's root, as stored.
	path string
}

// PushEvent is one ref update accepted by a push.
type PushEvent struct {
	ID           int64     `json:"id"`
	RepositoryID string    `json:"repository_id"`
	Ref          string    `json:"ref"`
	OldCommit    string    `json:"old_commit"`
	NewCommit    string    `json:"new_commit"`
	Pusher       string    `json:"pusher"`
	At           time.Time `json:"at"`
}

// TopicPush is the event bus topic of pushes; its payload is a PushPayload.
const TopicPush = "push"

// PushPayload is the payload of a TopicPush event: one updated ref. New is
// all zeros when the ref was deleted, Old when it was created.
type PushPayload struct {
	RepositoryID string `json:"repository_id"`
	ProjectID    string `json:"project_id"`
	Repository   string `json:"repository"`
	Ref          string `json:"ref"`
	Old          string `json:"old"`
	New          string `json:"new"`
	Pusher       string `json:"pusher"`
}

// Service manages repositories. It is safe for concurrent use; pushes to
// different repositories never wait for each other, and concurrent pushes to
// one repository are ordered by git's own ref locks.
type Service struct {
	db      *store.DB
	root    string
	bus     *events.Bus
	log     *slog.Logger
	metrics *Metrics
	git     string // the git program
	path    string // PATH given to git
	adv     advertiser
}

// NewService returns a Service keeping bare repositories under root (for
// example DATA/repos). bus may be nil (no events are published) and so may m
// (no metrics).
func NewService(db *store.DB, root string, bus *events.Bus, log *slog.Logger, m *Metrics) *Service {
	if log == nil {
		log = slog.Default()
	}
	if abs, err := filepath.Abs(root); err == nil {
		root = abs
	}
	git, err := exec.LookPath("git")
	if err != nil {
		// Reported by the first operation that needs it.
		git = "git"
	}
	path := os.Getenv("PATH")
	if path == "" {
		path = "/usr/local/bin:/usr/bin:/bin"
	}
	return &Service{db: db, root: filepath.Clean(root), bus: bus, log: log, metrics: m, git: git, path: path}
}

// MaxNameLen is the longest repository name.
const MaxNameLen = 100

// ValidateName checks a repository name: 1 to 100 letters, digits, '.', '_'
// or '-', not ".", without "..", and not ending in ".git" (the directory on
// disk gets that suffix, and clone URLs accept the name with or without it).
func ValidateName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("invalid repository name %q: %s; use 1 to %d letters, digits, '.', '_' or '-', not \".\", without \"..\" and not ending in \".git\"",
			name, why, MaxNameLen)
	}
	switch {
	case name == "":
		return bad("empty")
	case len(name) > MaxNameLen:
		return bad(fmt.Sprintf("%d characters", len(name)))
	case name == ".":
		return bad(`"." is not a name`)
	case strings.Contains(name, ".."):
		return bad(`contains ".."`)
	case strings.HasSuffix(strings.ToLower(name), ".git"):
		return bad(`ends in ".git"`)
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return bad(fmt.Sprintf("contains %q", c))
		}
	}
	return nil
}

// relPath is where a repository lives below the root. The project name
// comes from the projects service; it still must be one plain path element.
func relPath(projectName, name string) (string, error) {
	if err := ValidateName(name); err != nil {
		return "", err
	}
	if projectName == "" || projectName == "." || projectName == ".." ||
		strings.ContainsAny(projectName, "/\\\x00") || !filepath.IsLocal(projectName) {
		return "", fmt.Errorf("project name %q cannot be a directory name", projectName)
	}
	return filepath.Join(projectName, name+".git"), nil
}

// dir turns a stored relative path into an absolute one, refusing anything
// that would leave the root.
func (s *Service) dir(rel string) (string, error) {
	if rel == "" || !filepath.IsLocal(rel) {
		return "", fmt.Errorf("repository path %q is not below the root", rel)
	}
	full := filepath.Join(s.root, rel)
	back, err := filepath.Rel(s.root, full)
	if err != nil || !filepath.IsLocal(back) {
		return "", fmt.Errorf("repository path %q is not below the root", rel)
	}
	return full, nil
}

// Create creates a repository: its row and its bare repository. It returns
// an error wrapping store.ErrConflict if the project already has one of that
// name. The repository is initialised in a temporary directory and moved
// into place inside the transaction that inserts the row, so a failure of
// either leaves neither behind.
func (s *Service) Create(ctx context.Context, projectID, projectName, name, description string) (*Repository, error) {
	return s.CreateManaged(ctx, projectID, projectName, name, description, "")
}

// CreateManaged is Create for a repository that managedBy (a stack
// resource's idempotency token) owns. If the project already has a
// repository of that name made by the same managedBy, it is returned as it
// is: a create resumed after a crash finds what its first attempt made. Any
// other repository of that name is a conflict, as for Create. An empty
// managedBy is Create.
func (s *Service) CreateManaged(ctx context.Context, projectID, projectName, name, description, managedBy string) (*Repository, error) {
	rel, err := relPath(projectName, name)
	if err != nil {
		return nil, err
	}
	full, err := s.dir(rel)
	if err != nil {
		return nil, err
	}
	// Fail fast, before any git work, on the common conflict; a resumed
	// create stops here too, with what its first attempt made.
	if r, err := s.Get(ctx, projectID, name); err == nil {
		if managedBy != "" && r.ManagedBy == managedBy {
			return r, nil
		}
		return nil, fmt.Errorf("create repository %s/%s: %w", projectName, name, store.ErrConflict)
	} else if !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	parent := filepath.Dir(full)
	if err := os.MkdirAll(parent, 0o700); err != nil {
		return nil, fmt.Errorf("create repository %s/%s: %w", projectName, name, err)
	}
	// The temporary name never ends in ".git", so it cannot be a repository.
	tmp, err := os.MkdirTemp(parent, ".tmp-")
	if err != nil {
		return nil, fmt.Errorf("create repository %s/%s: %w", projectName, name, err)
	}
	defer os.RemoveAll(tmp) // a no-op once moved into place
	if err := s.initBare(ctx, tmp); err != nil {
		return nil, fmt.Errorf("create repository %s/%s: %w", projectName, name, err)
	}
	r := &Repository{
		ID: store.NewID(), ProjectID: projectID, Name: name, Description: description, ManagedBy: managedBy,
		CreatedAt: store.Time(store.Millis(time.Now())), path: rel,
	}
	moved := false
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		if _, err := tx.ExecContext(ctx,
			"INSERT INTO repositories (id, project_id, name, description, managed_by, path, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
			r.ID, r.ProjectID, r.Name, r.Description, r.ManagedBy, r.path, store.Millis(r.CreatedAt)); err != nil {
			return err
		}
		// Fails if a non-empty directory is in the way (say, one left by a
		// renamed project), which rolls the row back.
		if err := os.Rename(tmp, full); err != nil {
			return fmt.Errorf("move into place: %w", err)
		}
		moved = true
		return nil
	})
	if err != nil {
		if moved {
			if rmErr := os.RemoveAll(full); rmErr != nil {
				s.log.Error("repo: remove repository after failed create", "path", full, "err", rmErr)
			}
		}
		return nil, fmt.Errorf("create repository %s/%s: %w", projectName, name, err)
	}
	return r, nil
}

// initBare runs git init and sets the configuration every hosted repository
// has.
func (s *Service) initBare(ctx context.Context, dir string) error {
	// No templates: no sample hooks, nothing we do not use.
	if out, err := s.command(ctx, "", "init", "--bare", "--quiet", "--template=", "--initial-branch=main", dir).CombinedOutput(); err != nil {
		return fmt.Errorf("git init: %w: %s", err, strings.TrimSpace(string(out)))
	}
	for _, kv := range [][2]string{
		{"receive.denyNonFastForwards", "false"},
		{"uploadpack.allowFilter", "true"},
		{"uploadpack.allowAnySHA1InWant", "false"},
		// Housekeeping runs from the Maintain periodic job, not in every
		// push's response path (git would start gc --auto each time).
		{"receive.autogc", "false"},
		// A push's connectivity check asks the repository's alternates for
		// their refs; during a push the only alternate is the repository
		// itself (git's quarantine), whose refs the check already has. `true`
		// answers "none" without starting git for-each-ref on every push.
		// Hosted repositories have no other alternates.
		{"core.alternateRefsCommand", "true"},
	} {
		if out, err := s.command(ctx, "", "config", "--file", filepath.Join(dir, "config"), kv[0], kv[1]).CombinedOutput(); err != nil {
			return fmt.Errorf("git config %s: %w: %s", kv[0], err, strings.TrimSpace(string(out)))
		}
	}
	return nil
}

// Maintain runs git's own housekeeping (`git gc --auto`: pack loose
// objects, consolidate packs, pack refs) in every repository. It is cheap
// where there is nothing to do; the server runs it as a periodic job.
func (s *Service) Maintain(ctx context.Context) error {
	if err := s.FinishDeletes(ctx); err != nil {
		return err
	}
	rows, err := s.db.QueryContext(ctx, "SELECT path FROM repositories ORDER BY id")
	if err != nil {
		return fmt.Errorf("maintain repositories: %w", err)
	}
	var paths []string
	for rows.Next() {
		var p string
		if err := rows.Scan(&p); err != nil {
			rows.Close()
			return fmt.Errorf("maintain repositories: %w", err)
		}
		paths = append(paths, p)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("maintain repositories: %w", err)
	}
	var errs []error
	for _, rel := range paths {
		dir, err := s.dir(rel)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		// Not detached: the job owns the work, so its duration and errors are real.
		if out, err := s.command(ctx, "", "-C", dir, "-c", "gc.autoDetach=false", "gc", "--auto", "--quiet").CombinedOutput(); err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			errs = append(errs, fmt.Errorf("git gc in %s: %w: %s", rel, err, strings.TrimSpace(string(out))))
		}
	}
	return errors.Join(errs...)
}

// FinishDeletes settles deletes that a crash interrupted; the server calls it
// at start-up, and Maintain calls it each time. Delete moves a
// repository aside to ".deleted-ID" before it deletes the row: if the row is
// gone the delete committed and the directory is removed; if the row is still
// there the delete did not happen and the directory goes back.
func (s *Service) FinishDeletes(ctx context.Context) error {
	aside, err := filepath.Glob(filepath.Join(s.root, "*", ".deleted-*"))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range aside {
		id := strings.TrimPrefix(filepath.Base(dir), ".deleted-")
		var rel string
		err := store.Scan(s.db.QueryRowContext(ctx, "SELECT path FROM repositories WHERE id = ?", id), &rel)
		switch {
		case errors.Is(err, store.ErrNotFound):
			errs = append(errs, os.RemoveAll(dir))
		case err != nil:
			errs = append(errs, err)
		default:
			full, err := s.dir(rel)
			if err == nil {
				err = os.Rename(dir, full)
			}
			if err != nil {
				errs = append(errs, fmt.Errorf("restore repository %s after an interrupted delete: %w", id, err))
			} else {
				s.log.Info("repo: restored a repository whose delete was interrupted", "repository", id)
			}
		}
	}
	return errors.Join(errs...)
}

const repoColumns = "id, project_id, name, description, managed_by, path, created_at"

// Get returns the project's repository called name, or an error wrapping
// store.ErrNotFound.
func (s *Service) Get(ctx context.Context, projectID, name string) (*Repository, error) {
	var r Repository
	var created int64
	err := store.Scan(s.db.QueryRowContext(ctx,
		"SELECT "+repoColumns+" FROM repositories WHERE project_id = ? AND name = ?", projectID, name),
		&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.ManagedBy, &r.path, &created)
	if err != nil {
		return nil, fmt.Errorf("repository %s: %w", name, err)
	}
	r.CreatedAt = store.Time(created)
	return &r, nil
}

// List returns the project's repositories by name.
func (s *Service) List(ctx context.Context, projectID string) ([]Repository, error) {
	rows, err := s.db.QueryContext(ctx,
		"SELECT "+repoColumns+" FROM repositories WHERE project_id = ? ORDER BY name", projectID)
	if err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	defer rows.Close()
	var out []Repository
	for rows.Next() {
		var r Repository
		var created int64
		if err := rows.Scan(&r.ID, &r.ProjectID, &r.Name, &r.Description, &r.ManagedBy, &r.path, &created); err != nil {
			return nil, fmt.Errorf("list repositories: %w", err)
		}
		r.CreatedAt = store.Time(created)
		out = append(out, r)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list repositories: %w", err)
	}
	return out, nil
}

// SetDescription changes the description of the project's repository called
// name, or returns an error wrapping store.ErrNotFound.
func (s *Service) SetDescription(ctx context.Context, projectID, name, description string) error {
	res, err := s.db.ExecContext(ctx,
		"UPDATE repositories SET description = ? WHERE project_id = ? AND name = ?", description, projectID, name)
	if err != nil {
		return fmt.Errorf("set description of repository %s: %w", name, err)
	}
	if n, err := res.RowsAffected(); err == nil && n == 0 {
		return fmt.Errorf("set description of repository %s: %w", name, store.ErrNotFound)
	}
	return nil
}

// Delete removes a repository, its push events and its directory. The
// directory is first renamed aside, so a failed delete can put it back and a
// push still streaming into it finishes harmlessly.
func (s *Service) Delete(ctx context.Context, projectID, name string) error {
	r, err := s.Get(ctx, projectID, name)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	full, err := s.dir(r.path)
	if err != nil {
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	trash := filepath.Join(filepath.Dir(full), ".deleted-"+r.ID)
	moved := false
	switch err := os.Rename(full, trash); {
	case err == nil:
		moved = true
	case errors.Is(err, fs.ErrNotExist):
		// Already gone from disk: still delete the row.
	default:
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	err = s.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx, "DELETE FROM repositories WHERE id = ?", r.ID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err == nil && n == 0 {
			return store.ErrNotFound
		}
		return nil
	})
	if err != nil {
		if moved {
			if rerr := os.Rename(trash, full); rerr != nil {
				s.log.Error("repo: put back repository after failed delete", "path", full, "err", rerr)
			}
		}
		return fmt.Errorf("delete repository %s: %w", name, err)
	}
	if moved {
		if err := os.RemoveAll(trash); err != nil {
			s.log.Error("repo: remove deleted repository", "path", trash, "err", err)
		}
	}
	return nil
}

// Limits of PushEvents.
const (
	DefaultPushEvents = 100  // when asked for none
	MaxPushEvents     = 1000 // at most, whatever was asked
)

// PushEvents returns the repository's latest push events, newest first.
func (s *Service) PushEvents(ctx context.Context, repoID string, limit int) ([]PushEvent, error) {
	switch {
	case limit <= 0:
		limit = DefaultPushEvents
	case limit > MaxPushEvents:
		limit = MaxPushEvents
	}
	rows, err := s.db.QueryContext(ctx,
		"SELECT id, repo_id, ref, old_commit, new_commit, pusher, at FROM push_events WHERE repo_id = ? ORDER BY id DESC LIMIT ?",
		repoID, limit)
	if err != nil {
		return nil, fmt.Errorf("push events of %s: %w", repoID, err)
	}
	defer rows.Close()
	var out []PushEvent
	for rows.Next() {
		var e PushEvent
		var at int64
		if err := rows.Scan(&e.ID, &e.RepositoryID, &e.Ref, &e.OldCommit, &e.NewCommit, &e.Pusher, &at); err != nil {
			return nil, fmt.Errorf("push events of %s: %w", repoID, err)
		}
		e.At = store.Time(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("push events of %s: %w", repoID, err)
	}
	return out, nil
}

// Export resolves ref (a branch, tag or commit) in rp and writes the tree of
// that commit into dest (which must exist and should be empty), returning the
// full commit id. Entries that would land outside dest (absolute paths, "..")
// are refused; symbolic links are written as links and never followed here.
func (s *Service) Export(ctx context.Context, rp *Repository, ref, dest string) (string, error) {
	if ref == "" || strings.HasPrefix(ref, "-") || strings.ContainsAny(ref, "\x00\n\r ") {
		return "", fmt.Errorf("export %s: invalid ref %q", rp.Name, ref)
	}
	dir, err := s.dir(rp.path)
	if err != nil {
		return "", err
	}
	env := []string{"PATH=" + s.path, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + dir}
	// One process, not rev-parse then archive: given a commit, git archive
	// records its id in the tar's global header, which untar reads.
	arch := exec.CommandContext(ctx, s.git, "--git-dir", dir, "archive", "--format=tar", ref+"^{commit}")
	arch.Env = env
	var stderr strings.Builder
	arch.Stderr = &stderr
	pipe, err := arch.StdoutPipe()
	if err != nil {
		return "", fmt.Errorf("export %s: %w", rp.Name, err)
	}
	if err := arch.Start(); err != nil {
		return "", fmt.Errorf("export %s: git archive: %w", rp.Name, err)
	}
	commit, xerr := untar(pipe, dest)
	if xerr != nil {
		_, _ = io.Copy(io.Discard, pipe)
	}
	werr := arch.Wait()
	if werr != nil && strings.Contains(stderr.String(), "not a valid object name") {
		return "", fmt.Errorf("export %s: %q is not a branch, tag or commit of the repository", rp.Name, ref)
	}
	if xerr != nil {
		return "", fmt.Errorf("export %s@%s: %w", rp.Name, ref, xerr)
	}
	if werr != nil {
		return "", fmt.Errorf("export %s@%s: git archive: %v: %s", rp.Name, ref, werr, strings.TrimSpace(stderr.String()))
	}
	if len(commit) < 40 {
		return "", fmt.Errorf("export %s@%s: git archive did not name the commit", rp.Name, ref)
	}
	return commit, nil
}

// ChangedFiles lists the paths a push changed between two commits (every
// file of newCommit when oldCommit is all zeros: a new branch or tag).
func (s *Service) ChangedFiles(ctx context.Context, rp *Repository, oldCommit, newCommit string) ([]string, error) {
	for _, c := range []string{oldCommit, newCommit} {
		if len(c) != 40 || strings.Trim(c, "0123456789abcdef") != "" {
			return nil, fmt.Errorf("changed files of %s: %q is not a commit id", rp.Name, c)
		}
	}
	dir, err := s.dir(rp.path)
	if err != nil {
		return nil, err
	}
	args := []string{"--git-dir", dir, "diff", "--name-only", "-z", "--no-renames", oldCommit, newCommit, "--"}
	if strings.Trim(oldCommit, "0") == "" {
		args = []string{"--git-dir", dir, "ls-tree", "-r", "-z", "--name-only", newCommit}
	}
	cmd := exec.CommandContext(ctx, s.git, args...)
	cmd.Env = []string{"PATH=" + s.path, "GIT_CONFIG_NOSYSTEM=1", "GIT_CONFIG_GLOBAL=/dev/null", "HOME=" + dir}
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("changed files of %s: %w", rp.Name, err)
	}
	var files []string
	for _, f := range strings.Split(strings.TrimSuffix(string(out), "\x00"), "\x00") {
		if f != "" {
			files = append(files, f)
		}
	}
	return files, nil
}

// untar extracts a tar stream below dest, refusing any entry whose name
// leaves dest, and returns the comment of its global header (the commit id
// git archive writes). Links are created as links; nothing is ever written
// through one, because every entry's parent directories are checked not to
// be links.
func untar(r io.Reader, dest string) (string, error) {
	tr := tar.NewReader(r)
	comment := ""
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return comment, nil
		}
		if err != nil {
			return "", fmt.Errorf("read archive: %w", err)
		}
		name := strings.TrimSuffix(h.Name, "/")
		if h.Typeflag == tar.TypeXGlobalHeader {
			comment = h.PAXRecords["comment"]
			continue
		}
		if name == "" {
			continue
		}
		if !filepath.IsLocal(name) {
			return "", fmt.Errorf("archive entry %q escapes the destination", h.Name)
		}
		target := filepath.Join(dest, name)
		if err := checkNoLinkParents(dest, name); err != nil {
			return "", err
		}
		switch h.Typeflag {
		case tar.TypeDir:
			if err := os.MkdirAll(target, 0o755); err != nil {
				return "", err
			}
		case tar.TypeReg:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			f, err := os.OpenFile(target, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fs.FileMode(h.Mode)&0o777)
			if err != nil {
				return "", err
			}
			_, err = io.Copy(f, tr)
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return "", err
			}
		case tar.TypeSymlink:
			if err := os.MkdirAll(filepath.Dir(target), 0o755); err != nil {
				return "", err
			}
			if err := os.Symlink(h.Linkname, target); err != nil {
				return "", err
			}
		default:
			// git archive writes only directories, files and links; skip the rest.
		}
	}
}

// checkNoLinkParents refuses a path whose existing parent directories below
// dest include a symbolic link, so no entry is written through one.
func checkNoLinkParents(dest, name string) error {
	parts := strings.Split(filepath.ToSlash(filepath.Dir(name)), "/")
	cur := dest
	for _, p := range parts {
		if p == "." || p == "" {
			continue
		}
		cur = filepath.Join(cur, p)
		fi, err := os.Lstat(cur)
		if errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		if err != nil {
			return err
		}
		if fi.Mode()&fs.ModeSymlink != 0 {
			return fmt.Errorf("archive entry %q goes through the symbolic link %q", name, p)
		}
	}
	return nil
}
