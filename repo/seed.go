package repo

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ErrNotEmpty says a repository already has the branch being seeded.
var ErrNotEmpty = errors.New("the branch already exists")

// Seed makes the first commit of branch in an empty branch of rp from the
// files of content (the starter code of a blueprint), as author
// ("Name <email>"), and records the push event that starts the pipelines
// watching the branch, as a push by pusher would. Files named *.sh are
// committed executable. A branch that already exists is left alone
// (ErrNotEmpty): the ref is created only if absent, atomically.
func (s *Service) Seed(ctx context.Context, rp *Repository, branch string, content fs.FS, message, author, pusher string) (string, error) {
	if branch == "" || strings.HasPrefix(branch, "-") || strings.ContainsAny(branch, "\x00\n\r :~^?*[\\") {
		return "", fmt.Errorf("seed %s: invalid branch %q", rp.Name, branch)
	}
	dir, err := s.repoDir(ctx, rp)
	if err != nil {
		return "", err
	}
	work, err := os.MkdirTemp("", "slipway-seed-")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(work)
	tree := filepath.Join(work, "tree")
	if err := copyFS(tree, content); err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	name, email := splitAuthor(author)
	git := func(stdin io.Reader, args ...string) (string, error) {
		cmd := s.command(ctx, "", append([]string{"--git-dir", dir, "--work-tree", tree}, args...)...)
		cmd.Env = append(cmd.Env, "GIT_INDEX_FILE="+filepath.Join(work, "index"),
			"GIT_AUTHOR_NAME="+name, "GIT_AUTHOR_EMAIL="+email, "GIT_COMMITTER_NAME="+name, "GIT_COMMITTER_EMAIL="+email)
		cmd.Stdin = stdin
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			return "", fmt.Errorf("git %s: %v: %s", args[0], err, strings.TrimSpace(stderr.String()))
		}
		return strings.TrimSpace(string(out)), nil
	}
	if _, err := git(nil, "add", "-A", "."); err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	treeID, err := git(nil, "write-tree")
	if err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	commit, err := git(strings.NewReader(message), "commit-tree", treeID)
	if err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	ref := "refs/heads/" + branch
	zero := strings.Repeat("0", len(commit))
	if _, err := git(nil, "update-ref", ref, commit, zero); err != nil {
		if strings.Contains(err.Error(), "already exists") || strings.Contains(err.Error(), "but expected") {
			return "", fmt.Errorf("seed %s: branch %s: %w", rp.Name, branch, ErrNotEmpty)
		}
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	// An empty repository's HEAD names the default branch; point it at the
	// seeded one so that clones check it out.
	if _, err := git(nil, "symbolic-ref", "HEAD", ref); err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	if err := s.insertPushEvents(ctx, rp, pusher, []command{{Old: zero, New: commit, Ref: ref}}); err != nil {
		return "", fmt.Errorf("seed %s: %w", rp.Name, err)
	}
	return commit, nil
}

func splitAuthor(a string) (name, email string) {
	name, email, ok := strings.Cut(a, "<")
	if !ok {
		return strings.TrimSpace(a), "slipway@localhost"
	}
	return strings.TrimSpace(name), strings.TrimSuffix(strings.TrimSpace(email), ">")
}

// copyFS writes the regular files and directories of content below dir;
// names come from an fs.FS, so none leads out of dir.
func copyFS(dir string, content fs.FS) error {
	return fs.WalkDir(content, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		target := filepath.Join(dir, filepath.FromSlash(p))
		switch {
		case d.IsDir():
			return os.MkdirAll(target, 0o755)
		case !d.Type().IsRegular():
			return fmt.Errorf("%s: only files and directories can be seeded", p)
		}
		mode := os.FileMode(0o644)
		if strings.HasSuffix(p, ".sh") {
			mode = 0o755
		}
		src, err := content.Open(p)
		if err != nil {
			return err
		}
		defer src.Close()
		dst, err := os.OpenFile(target, os.O_CREATE|os.O_WRONLY|os.O_EXCL, mode)
		if err != nil {
			return err
		}
		if _, err := io.Copy(dst, src); err != nil {
			dst.Close()
			return err
		}
		return dst.Close()
	})
}
