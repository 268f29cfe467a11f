package unpack

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
	"time"
)

// Tar extracts the tar archive read from r below dest, which must exist,
// as tar -xp does: permission bits and modification times are kept (a
// directory's once everything in it is written), symbolic and hard links
// are made, and an entry replaces what an earlier one of the same name
// left. Owners are not restored. Hard links must name an earlier entry.
func Tar(ctx context.Context, r io.Reader, dest string) error {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	tr := tar.NewReader(r)
	buf := make([]byte, bufferSize)
	var dirs []dirTimes
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		d, err := tarEntry(root, h, tr, buf)
		if err != nil {
			return fmt.Errorf("unpack %s: %w", h.Name, err)
		}
		if d != nil {
			dirs = append(dirs, *d)
		}
	}
	// Writing into a directory changes its time, and its mode may forbid
	// writing, so both are set last, innermost first.
	for i := len(dirs) - 1; i >= 0; i-- {
		d := dirs[i]
		if err := root.Chmod(d.name, d.perm); err != nil {
			return fmt.Errorf("unpack %s: %w", d.name, err)
		}
		if err := root.Chtimes(d.name, d.mtime, d.mtime); err != nil {
			return fmt.Errorf("unpack %s: %w", d.name, err)
		}
	}
	return nil
}

// dirTimes is what is set on an extracted directory at the end.
type dirTimes struct {
	name  string
	perm  fs.FileMode
	mtime time.Time
}

// tarName is an entry's name as a path below the destination: tar writes
// names as given, often with a leading "./" (tar -C dir .), which names
// the same place.
func tarName(name string) string {
	name = strings.TrimSuffix(name, "/")
	for strings.HasPrefix(name, "./") {
		name = strings.TrimLeft(name[2:], "/")
	}
	return name
}

// tarEntry extracts one entry and returns the directory it made, if any.
func tarEntry(root *os.Root, h *tar.Header, r io.Reader, buf []byte) (*dirTimes, error) {
	if h.Typeflag == tar.TypeXGlobalHeader {
		return nil, nil // pax defaults for the entries that follow, nothing to make
	}
	name := tarName(h.Name)
	perm := fs.FileMode(h.Mode).Perm()
	if name == "." && h.Typeflag == tar.TypeDir {
		return nil, nil // the destination itself
	}
	if err := checkName(name); err != nil {
		return nil, err
	}
	if err := mkParent(root, name); err != nil {
		return nil, err
	}
	switch h.Typeflag {
	case tar.TypeDir:
		if err := root.MkdirAll(name, perm|0o700); err != nil {
			return nil, err
		}
		return &dirTimes{name: name, perm: perm, mtime: h.ModTime}, nil
	case tar.TypeReg, tar.TypeGNUSparse:
		if err := removeOld(root, name); err != nil {
			return nil, err
		}
		return nil, writeFile(root, name, r, perm, h.ModTime, buf)
	case tar.TypeSymlink:
		if h.Linkname == "" {
			return nil, errors.New("the link's target is empty")
		}
		if err := checkLinkTarget(name, h.Linkname); err != nil {
			return nil, err
		}
		if err := removeOld(root, name); err != nil {
			return nil, err
		}
		return nil, root.Symlink(h.Linkname, name)
	case tar.TypeLink:
		// A hard link's name is that of an earlier entry, from the top of
		// the archive; the root keeps it inside the destination.
		target := tarName(h.Linkname)
		if err := checkName(target); err != nil {
			return nil, fmt.Errorf("the hard link's target %q leaves the destination", h.Linkname)
		}
		if err := removeOld(root, name); err != nil {
			return nil, err
		}
		return nil, root.Link(target, name)
	case tar.TypeChar:
		return nil, errors.New("character devices are not supported")
	case tar.TypeBlock:
		return nil, errors.New("block devices are not supported")
	case tar.TypeFifo:
		return nil, errors.New("fifos are not supported")
	}
	return nil, fmt.Errorf("unsupported entry type %q", h.Typeflag)
}

// removeOld removes what an earlier entry of the same name made, as tar
// does before extracting over it; the link itself, never what it points
// to.
func removeOld(root *os.Root, name string) error {
	if err := root.Remove(name); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
