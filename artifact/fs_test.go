package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/artifact"
)

func newFS(t *testing.T) (*artifact.FS, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := artifact.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	return s, dir
}

func digestOf(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// storedFiles lists the regular files under dir/sub.
func storedFiles(t *testing.T, dir, sub string) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join(dir, sub), func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.Type().IsRegular() {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func readAll(t *testing.T, s artifact.Store, digest string) ([]byte, error) {
	t.Helper()
	rc, _, err := s.Open(context.Background(), digest)
	if err != nil {
		t.Fatalf("Open(%s): %v", digest, err)
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestFS_Store runs the Store conformance suite on the filesystem store.
func TestFS_Store(t *testing.T) {
	testStore(t, func(t *testing.T) storeUnderTest {
		s, dir := newFS(t)
		path := func(digest string) string { return "sha256/" + digest[7:9] + "/" + digest[7:] }
		return storeUnderTest{
			Store:    s,
			stored:   func(t *testing.T) []string { return storedFiles(t, dir, "sha256") },
			temps:    func(t *testing.T) []string { return storedFiles(t, dir, "tmp") },
			location: path,
			overwrite: func(t *testing.T, digest string, b []byte) {
				t.Helper()
				p := filepath.Join(dir, filepath.FromSlash(path(digest)))
				// Stored files are read-only.
				if err := os.Chmod(p, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(p, b, 0o600); err != nil {
					t.Fatal(err)
				}
			},
		}
	})
}

// TestFS_PutOfTheSameContentTwiceKeepsOneFile checks, beyond the suite,
// that the second Put leaves the stored file itself alone.
func TestFS_PutOfTheSameContentTwiceKeepsOneFile(t *testing.T) {
	ctx := context.Background()
	s, dir := newFS(t)
	first, err := s.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	fi1, err := os.Stat(filepath.Join(dir, "sha256", first.Digest[7:9], first.Digest[7:]))
	if err != nil {
		t.Fatal(err)
	}
	second, err := s.Put(ctx, strings.NewReader("same"))
	if err != nil {
		t.Fatal(err)
	}
	if first != second {
		t.Fatalf("second Put = %+v, first %+v", second, first)
	}
	if got := storedFiles(t, dir, "sha256"); len(got) != 1 {
		t.Fatalf("files on disk = %v, want one", got)
	}
	if got := storedFiles(t, dir, "tmp"); len(got) != 0 {
		t.Fatalf("temporary files left: %v", got)
	}
	fi2, err := os.Stat(filepath.Join(dir, "sha256", first.Digest[7:9], first.Digest[7:]))
	if err != nil {
		t.Fatal(err)
	}
	if !os.SameFile(fi1, fi2) {
		t.Fatal("the second Put replaced the stored file; it should have left it alone")
	}
}

// TestFS_CrashHelper is the process the crash test kills in the middle of a Put.
func TestFS_CrashHelper(t *testing.T) {
	dir := os.Getenv("ARTIFACT_CRASH_DIR")
	if dir == "" {
		t.Skip("helper process for TestFS_ACrashDuringPutLeavesNoArtifact")
	}
	s, err := artifact.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	// 1 MiB arrives, then the stream stalls until the process is killed.
	r := io.MultiReader(bytes.NewReader(bytes.Repeat([]byte{'c'}, 1<<20)), blockingReader{})
	_, _ = s.Put(context.Background(), r)
	t.Fatal("Put returned; it should have been killed")
}

type blockingReader struct{}

func (blockingReader) Read([]byte) (int, error) { select {} }

func TestFS_ACrashDuringPutLeavesNoArtifact(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestFS_CrashHelper$")
	cmd.Env = append(os.Environ(), "ARTIFACT_CRASH_DIR="+dir)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// Wait until the whole MiB is in the temporary file, then kill -9.
	deadline := time.Now().Add(30 * time.Second)
	for {
		if files, _ := os.ReadDir(filepath.Join(dir, "tmp")); len(files) == 1 {
			if fi, err := files[0].Info(); err == nil && fi.Size() == 1<<20 {
				break
			}
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			t.Fatal("the helper never wrote its temporary file")
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()

	s, err := artifact.NewFS(dir)
	if err != nil {
		t.Fatal(err)
	}
	partial := bytes.Repeat([]byte{'c'}, 1<<20)
	if _, err := s.Stat(ctx, digestOf(partial)); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("the partial content is visible: Stat = %v", err)
	}
	if got := storedFiles(t, dir, "sha256"); len(got) != 0 {
		t.Fatalf("files under final names after the crash: %v", got)
	}

	// The store works as before, and the leftover goes once it is old enough.
	info, err := s.Put(ctx, bytes.NewReader(partial))
	if err != nil {
		t.Fatal(err)
	}
	if got, err := readAll(t, s, info.Digest); err != nil || !bytes.Equal(got, partial) {
		t.Fatalf("after the crash: %d bytes, %v", len(got), err)
	}
	if n, err := s.CleanTemp(ctx, time.Hour); err != nil || n != 0 {
		t.Fatalf("CleanTemp(1h) = %d, %v; want 0 (the leftover is fresh)", n, err)
	}
	if n, err := s.CleanTemp(ctx, 0); err != nil || n != 1 {
		t.Fatalf("CleanTemp(0) = %d, %v; want 1", n, err)
	}
	if got := storedFiles(t, dir, "tmp"); len(got) != 0 {
		t.Fatalf("temporary files left: %v", got)
	}
}
