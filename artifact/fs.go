package artifact

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"
)

// FS is a Store in a local directory. Content lives at dir/sha256/ab/<hex>
// (the first two hex digits fan the files out over 256 directories). Put
// writes into dir/tmp, on the same filesystem, fsyncs and then renames, so
// a crash never leaves a partial file under a final name: what is left in
// dir/tmp is invisible and CleanTemp removes it.
type FS struct {
	dir string
}

var _ Store = (*FS)(nil)

// Stored files are read-only: content-addressed files never change, and a
// stray write would otherwise only be caught when the content is next read.
const fsFileMode = 0o440

// NewFS returns a filesystem store rooted at dir, creating the directories
// it needs.
func NewFS(dir string) (*FS, error) {
	if dir == "" {
		return nil, errors.New("artifact store: empty directory name")
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("artifact store: %w", err)
	}
	s := &FS{dir: abs}
	for _, d := range []string{s.contentDir(), s.tempDir()} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			return nil, fmt.Errorf("artifact store: %w", err)
		}
	}
	return s, nil
}

func (s *FS) contentDir() string { return filepath.Join(s.dir, "sha256") }
func (s *FS) tempDir() string    { return filepath.Join(s.dir, "tmp") }

// path is only ever called with the hex part of a validated digest.
func (s *FS) path(hexDigest string) string {
	return filepath.Join(s.contentDir(), hexDigest[:2], hexDigest)
}

// Put implements Store. Content that is already stored (same digest and
// size) costs only the read and the temporary file: no fsync, no rename.
func (s *FS) Put(ctx context.Context, r io.Reader) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("artifact put: %w", err)
	}
	f, err := os.CreateTemp(s.tempDir(), "put-*")
	if err != nil {
		return Info{}, fmt.Errorf("artifact put: %w", err)
	}
	tmp := f.Name()
	renamed := false
	defer func() {
		if f != nil {
			_ = f.Close()
		}
		if !renamed {
			_ = os.Remove(tmp)
		}
	}()

	h := sha256.New()
	n, err := io.CopyBuffer(io.MultiWriter(f, h), ctxReader{ctx, r}, make([]byte, 256<<10))
	if err != nil {
		return Info{}, fmt.Errorf("artifact put: %w", err)
	}
	hexDigest := hex.EncodeToString(h.Sum(nil))
	info := Info{Digest: digestPrefix + hexDigest, Size: n}
	final := s.path(hexDigest)
	// A file of another size under the name is a damaged copy: the rename
	// below replaces it.
	if fi, err := os.Stat(final); err == nil && fi.Mode().IsRegular() && fi.Size() == n {
		return info, nil
	}

	if err := f.Chmod(fsFileMode); err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	if err := f.Sync(); err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	err = f.Close()
	f = nil
	if err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	fanDir := filepath.Dir(final)
	if err := mkdirDurable(fanDir); err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	if err := os.Rename(tmp, final); err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	renamed = true
	// The rename is durable only once its directory is synced.
	if err := syncDir(fanDir); err != nil {
		return Info{}, fmt.Errorf("artifact put %s: %w", info.Digest, err)
	}
	return info, nil
}

// Open implements Store.
func (s *FS) Open(ctx context.Context, digest string) (io.ReadCloser, Info, error) {
	if err := ctx.Err(); err != nil {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return nil, Info{}, fmt.Errorf("artifact open: %w", err)
	}
	f, err := os.Open(s.path(hexDigest))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, err)
	}
	fi, err := f.Stat()
	if err == nil && !fi.Mode().IsRegular() {
		err = fmt.Errorf("%w: not a regular file", ErrCorrupt)
	}
	if err != nil {
		_ = f.Close()
		return nil, Info{}, fmt.Errorf("artifact open %s: %w", digest, err)
	}
	return NewVerifyingReader(f, digest), Info{Digest: digest, Size: fi.Size()}, nil
}

// Stat implements Store. It does not read the content, so it cannot tell
// whether the content is intact; Open does.
func (s *FS) Stat(ctx context.Context, digest string) (Info, error) {
	if err := ctx.Err(); err != nil {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return Info{}, fmt.Errorf("artifact stat: %w", err)
	}
	fi, err := os.Stat(s.path(hexDigest))
	if errors.Is(err, fs.ErrNotExist) {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, ErrNotFound)
	}
	if err != nil {
		return Info{}, fmt.Errorf("artifact stat %s: %w", digest, err)
	}
	if !fi.Mode().IsRegular() {
		return Info{}, fmt.Errorf("artifact stat %s: %w: not a regular file", digest, ErrCorrupt)
	}
	return Info{Digest: digest, Size: fi.Size()}, nil
}

// Delete implements Store.
func (s *FS) Delete(ctx context.Context, digest string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("artifact delete %s: %w", digest, err)
	}
	hexDigest, err := digestHex(digest)
	if err != nil {
		return fmt.Errorf("artifact delete: %w", err)
	}
	if err := os.Remove(s.path(hexDigest)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("artifact delete %s: %w", digest, err)
	}
	return nil
}

// CleanTemp removes temporary files older than olderThan, which a crash
// during Put leaves behind, and returns how many it removed. The age keeps
// it from removing the file of a Put still running (in this process or in
// another one sharing the directory); run it from a periodic job.
func (s *FS) CleanTemp(ctx context.Context, olderThan time.Duration) (int, error) {
	entries, err := os.ReadDir(s.tempDir())
	if err != nil {
		return 0, fmt.Errorf("artifact clean: %w", err)
	}
	cutoff := time.Now().Add(-olderThan)
	removed := 0
	for _, e := range entries {
		if err := ctx.Err(); err != nil {
			return removed, fmt.Errorf("artifact clean: %w", err)
		}
		fi, err := e.Info()
		if errors.Is(err, fs.ErrNotExist) {
			continue // its Put finished meanwhile
		}
		if err != nil {
			return removed, fmt.Errorf("artifact clean: %w", err)
		}
		if !fi.ModTime().Before(cutoff) {
			continue
		}
		err = os.Remove(filepath.Join(s.tempDir(), e.Name()))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return removed, fmt.Errorf("artifact clean: %w", err)
		}
		if err == nil {
			removed++
		}
	}
	return removed, nil
}

// mkdirDurable creates dir if it is missing and syncs its parent, so the
// new directory entry survives a crash along with the file renamed into it.
func mkdirDurable(dir string) error {
	err := os.Mkdir(dir, 0o750)
	if errors.Is(err, fs.ErrExist) {
		return nil
	}
	if err != nil {
		return err
	}
	return syncDir(filepath.Dir(dir))
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
