package unpack

import (
	"archive/zip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"strings"
)

// Zip extracts the zip archive in file (size bytes) below dest, which must
// exist. Permission bits, modification times and symbolic links come back
// as they were packed.
func Zip(ctx context.Context, file io.ReaderAt, size int64, dest string) error {
	zr, err := zip.NewReader(file, size)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer root.Close()
	buf := make([]byte, bufferSize)
	for _, f := range zr.File {
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := zipEntry(root, f, buf); err != nil {
			return fmt.Errorf("unpack %s: %w", f.Name, err)
		}
	}
	return nil
}

func zipEntry(root *os.Root, f *zip.File, buf []byte) error {
	name := strings.TrimSuffix(f.Name, "/")
	if err := checkName(name); err != nil {
		return err
	}
	mode := f.Mode()
	if err := mkParent(root, name); err != nil {
		return err
	}
	switch {
	case mode.IsDir():
		return root.MkdirAll(name, mode.Perm()|0o700)
	case mode&fs.ModeSymlink != 0:
		target, err := readLinkEntry(f)
		if err != nil {
			return err
		}
		if err := checkLinkTarget(name, target); err != nil {
			return err
		}
		return root.Symlink(target, name)
	case mode.IsRegular():
		rc, err := f.Open()
		if err != nil {
			return err
		}
		defer rc.Close()
		return writeFile(root, name, rc, mode.Perm(), f.Modified, buf)
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
