// Package unpack extracts zip, tar and gzip'd tar archives below a
// directory without ever writing outside it.
//
// The rules are the same for every format: an entry whose name is absolute
// or leaves the directory (through ".." or through a link an earlier entry
// made) is an error naming it, and so is a link whose target leaves the
// directory, so whatever later follows the link cannot be led out either.
// Entries that are neither files, directories nor links (devices, fifos)
// are refused.
package unpack

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"strconv"
	"strings"
	"time"
)

// bufferSize is the size of the copy buffer and of the read-ahead of
// streamed archives.
const bufferSize = 256 << 10

// The archive formats, as CodeDeploy's BundleType names them.
const (
	FormatZip = "zip"
	FormatTar = "tar"
	FormatTgz = "tgz"
)

// Detect returns the format of the archive r holds, "zip", "tar" or "tgz",
// from its first bytes.
func Detect(r io.ReaderAt) (string, error) {
	head := make([]byte, 512)
	n, err := r.ReadAt(head, 0)
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("detect archive format: %w", err)
	}
	head = head[:n]
	switch {
	// A zip starts with a local file header, or is empty and holds only
	// its end of central directory record.
	case bytes.HasPrefix(head, []byte("PK\x03\x04")), bytes.HasPrefix(head, []byte("PK\x05\x06")):
		return FormatZip, nil
	case bytes.HasPrefix(head, []byte{0x1f, 0x8b}):
		return FormatTgz, nil
	case isTarHeader(head):
		return FormatTar, nil
	}
	return "", errors.New("not a zip, tar or tgz archive")
}

// isTarHeader reports whether b is a ustar (POSIX or GNU) header block
// whose checksum is right. Old tars summed signed bytes; both sums are
// accepted, as tar does.
func isTarHeader(b []byte) bool {
	if len(b) < 512 {
		return false
	}
	magic := string(b[257:265])
	if magic != "ustar\x0000" && magic != "ustar  \x00" {
		return false
	}
	field := strings.TrimRight(string(b[148:156]), " \x00")
	want, err := strconv.ParseInt(strings.TrimLeft(field, " "), 8, 64)
	if err != nil {
		return false
	}
	var unsigned, signed int64
	for i, c := range b[:512] {
		if i >= 148 && i < 156 {
			c = ' ' // the checksum is computed with its own field blank
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return want == unsigned || want == signed
}

// File extracts the archive at path below dest, which must exist. format
// is "zip", "tar" or "tgz"; "" detects it.
func File(ctx context.Context, path, format, dest string) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("unpack: %w", err)
	}
	defer f.Close()
	if format == "" {
		if format, err = Detect(f); err != nil {
			return fmt.Errorf("unpack %s: %w", path, err)
		}
	}
	switch format {
	case FormatZip:
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("unpack: %w", err)
		}
		return Zip(ctx, f, fi.Size(), dest)
	case FormatTar:
		return Tar(ctx, bufio.NewReaderSize(f, bufferSize), dest)
	case FormatTgz:
		zr, err := gzip.NewReader(bufio.NewReaderSize(f, bufferSize))
		if err != nil {
			return fmt.Errorf("unpack %s: %w", path, err)
		}
		defer zr.Close()
		if err := Tar(ctx, zr, dest); err != nil {
			return err
		}
		// tar stops at its end marker; reading on to the end of the
		// stream is what checks gzip's checksum.
		if _, err := io.Copy(io.Discard, zr); err != nil {
			return fmt.Errorf("unpack %s: %w", path, err)
		}
		return nil
	}
	return fmt.Errorf("unpack %s: unknown archive format %q; the formats are zip, tar and tgz", path, format)
}

// checkName checks an entry's name, without its trailing slash.
func checkName(name string) error {
	// A backslash is a separator to the Windows tools that make many zips,
	// so a name with one may mean to leave the destination there.
	if name == "" || strings.Contains(name, "\\") || !fs.ValidPath(name) {
		return errors.New("the entry's path is absolute or leaves the destination")
	}
	return nil
}

// checkLinkTarget checks the target of the link named name.
func checkLinkTarget(name, target string) error {
	if strings.HasPrefix(target, "/") || !fs.ValidPath(path.Join(path.Dir(name), target)) {
		return fmt.Errorf("the link's target %q leaves the destination", target)
	}
	return nil
}

// mkParent makes the directories name is in.
func mkParent(root *os.Root, name string) error {
	if dir := path.Dir(name); dir != "." {
		return root.MkdirAll(dir, 0o755)
	}
	return nil
}

// writeFile writes r to the new file name with mode perm (not filtered by
// the umask) and modification time mtime.
func writeFile(root *os.Root, name string, r io.Reader, perm fs.FileMode, mtime time.Time, buf []byte) error {
	out, err := root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, perm)
	if err != nil {
		return err
	}
	if _, err := io.CopyBuffer(out, struct{ io.Reader }{r}, buf); err != nil {
		out.Close()
		return err
	}
	if err := out.Close(); err != nil {
		return err
	}
	// The mode given to OpenFile is filtered by the umask; the archive's is not.
	if err := root.Chmod(name, perm); err != nil {
		return err
	}
	return root.Chtimes(name, mtime, mtime)
}
