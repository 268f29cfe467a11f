package build

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strings"
)

// Unpack extracts the zip archive in file (size bytes) below dest, which
// must exist. It is the reverse of Pack: permission bits, modification
// times and symbolic links come back as they were packed.
//
// Nothing is ever written outside dest: an entry whose name is absolute or
// leaves dest (through ".." or through a link an earlier entry made) is an
// error naming it, and so is a link whose target leaves dest, so the build
// that later follows it cannot be led out either. Entries that are neither
// files, directories nor links are refused.
func Unpack(ctx context.Context, file io.ReaderAt, size int64, dest string) error {
	zr, err := zip.NewReader(file, size)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	buf := make([]byte, packBufferSize)
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := unpackEntry(root, f, buf); err != nil {
			return fmt.Errorf("unpack %s: %w", f.Name, err)
		}
	}
	return nil
}

func unpackEntry(root *os.Root, f *zip.File, buf []byte) error {
	name := strings.TrimSuffix(f.Name, "/")
	if name == "" || strings.Contains(name, "\\") || !fs.ValidPath(name) {
		return errors.New("the entry's path is absolute or leaves the destination")
	}
	mode := f.Mode()
	if dir := path.Dir(name); dir != "." {
		if err := root.MkdirAll(dir, 0o755); err != nil {
			return err
		}
	}
	switch {
	case mode.IsDir():
		if err := root.MkdirAll(name, mode.Perm()|0o700); err != nil {
			return err
		}
		return nil
	case mode&fs.ModeSymlink != 0:
		target, err := readLinkEntry(f)
		if err != nil {
			return err
		}
		if strings.HasPrefix(target, "/") || !fs.ValidPath(path.Join(path.Dir(name), target)) {
			return fmt.Errorf("the link's target %q leaves the destination", target)
		}
		return root.Symlink(target, name)
	case mode.IsRegular():
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode.Perm())
		if err != nil {
			return err
		}
		if _, err := io.CopyBuffer(out, struct{ io.Reader }{rc}, buf); err != nil {
			out.Close()
			return err
		}
		if err := out.Close(); err != nil {
			return err
		}
		// The mode given to OpenFile is filtered by the umask; the archive's is not.
		if err := root.Chmod(name, mode.Perm()); err != nil {
			return err
		}
		return root.Chtimes(name, f.Modified, f.Modified)
	}
	return fmt.Errorf("unsupported entry type %v", mode.Type())
}

// readLinkEntry reads a link entry's target (bounded: a target is a path).
func readLinkEntry(f *zip.File) (string, error) {
	rc, err := f.Open()
	if err != nil {
		return "", err
	}
	defer rc.Close()
	b, err := io.ReadAll(io.LimitReader(rc, 4097))
	if err != nil {
		return "", err
	}
	if len(b) > 4096 || len(b) == 0 {
		return "", errors.New("the link's target is empty or too long")
	}
	return string(b), nil
}
