package artifact_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
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

func TestFS_PutThenOpenGivesBackTheSameBytes(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name    string
		content []byte
	}{
		{"empty", nil},
		{"small", []byte("hello\n")},
		{"larger than the copy buffer", bytes.Repeat([]byte("0123456789abcdef"), 100_000)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newFS(t)
			info, err := s.Put(ctx, bytes.NewReader(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			want := artifact.Info{Digest: digestOf(tc.content), Size: int64(len(tc.content))}
			if info != want {
				t.Fatalf("Put = %+v, want %+v", info, want)
			}
			hexd := strings.TrimPrefix(want.Digest, "sha256:")
			if got, want := storedFiles(t, dir, "sha256"), []string{"sha256/" + hexd[:2] + "/" + hexd}; fmt.Sprint(got) != fmt.Sprint(want) {
				t.Fatalf("files on disk = %v, want %v", got, want)
			}
			if got := storedFiles(t, dir, "tmp"); len(got) != 0 {
				t.Fatalf("temporary files left: %v", got)
			}

			rc, oinfo, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatal(err)
			}
			got, err := io.ReadAll(rc)
			if cerr := rc.Close(); cerr != nil {
				t.Fatal(cerr)
			}
			if err != nil {
				t.Fatalf("reading: %v", err)
			}
			if !bytes.Equal(got, tc.content) || oinfo != want {
				t.Fatalf("Open gave %d bytes, %+v; want %d bytes, %+v", len(got), oinfo, len(tc.content), want)
			}
			if sinfo, err := s.Stat(ctx, info.Digest); err != nil || sinfo != want {
				t.Fatalf("Stat = %+v, %v; want %+v", sinfo, err, want)
			}
		})
	}
}

func TestFS_PutOfKnownContentHasTheSHA256Digest(t *testing.T) {
	s, _ := newFS(t)
	info, err := s.Put(context.Background(), strings.NewReader("abc"))
	if err != nil {
		t.Fatal(err)
	}
	const want = "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
	if info.Digest != want || info.Size != 3 {
		t.Fatalf("Put = %+v, want %s size 3", info, want)
	}
}

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

func TestFS_OpenOfADamagedFileFailsAtEOFWithErrCorrupt(t *testing.T) {
	ctx := context.Background()
	content := bytes.Repeat([]byte("artifact "), 10_000)
	for _, tc := range []struct {
		name   string
		damage func([]byte) []byte
	}{
		{"one byte flipped", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)-1] }},
		{"emptied", func([]byte) []byte { return nil }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, dir := newFS(t)
			info, err := s.Put(ctx, bytes.NewReader(content))
			if err != nil {
				t.Fatal(err)
			}
			p := filepath.Join(dir, "sha256", info.Digest[7:9], info.Digest[7:])
			if err := os.Chmod(p, 0o600); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, tc.damage(bytes.Clone(content)), 0o600); err != nil {
				t.Fatal(err)
			}
			rc, _, err := s.Open(ctx, info.Digest)
			if err != nil {
				t.Fatalf("Open: %v (the damage shows only when reading)", err)
			}
			defer rc.Close()
			_, err = io.ReadAll(rc)
			if !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("reading to the end: err = %v, want ErrCorrupt", err)
			}
			if _, err := rc.Read(make([]byte, 1)); !errors.Is(err, artifact.ErrCorrupt) {
				t.Fatalf("Read after the end: err = %v, want ErrCorrupt again", err)
			}

			// Putting the content again repairs a copy of the wrong size
			// (a same-size copy is left alone: Put does not reread it).
			if _, err := s.Put(ctx, bytes.NewReader(content)); err != nil {
				t.Fatal(err)
			}
			if tc.name != "one byte flipped" {
				if got, err := readAll(t, s, info.Digest); err != nil || !bytes.Equal(got, content) {
					t.Fatalf("after a second Put: %d bytes, %v", len(got), err)
				}
			}
		})
	}
}

func TestFS_InvalidDigestsAreRefused(t *testing.T) {
	ctx := context.Background()
	s, _ := newFS(t)
	valid := digestOf([]byte("x"))
	for _, d := range []string{
		"",
		"sha256:",
		valid[7:],                              // no algorithm
		"sha512:" + valid[7:],                  // another algorithm
		"SHA256:" + valid[7:],                  // not canonical
		"sha256:" + strings.ToUpper(valid[7:]), // not canonical
		valid[:len(valid)-1],                   // too short
		valid + "0",                            // too long
		"sha256:../../../../../etc/passwd",
		"sha256:" + strings.Repeat("../", 21) + "a",
		"sha256:ab/" + valid[10:],
		"sha256:" + valid[7:70] + "\x00",
		"sha256:" + valid[7:70] + "g",
		" " + valid,
	} {
		t.Run(fmt.Sprintf("%q", d), func(t *testing.T) {
			if err := artifact.ValidateDigest(d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("ValidateDigest: %v", err)
			}
			if _, _, err := s.Open(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Open: %v", err)
			}
			if _, err := s.Stat(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Stat: %v", err)
			}
			if err := s.Delete(ctx, d); !errors.Is(err, artifact.ErrInvalidDigest) {
				t.Errorf("Delete: %v", err)
			}
		})
	}
	if err := artifact.ValidateDigest(valid); err != nil {
		t.Errorf("ValidateDigest(%q) = %v, want nil", valid, err)
	}
}

func TestFS_AbsentContentIsNotFoundAndDeleteIsIdempotent(t *testing.T) {
	ctx := context.Background()
	s, dir := newFS(t)
	info, err := s.Put(ctx, strings.NewReader("to delete"))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 2 {
		if err := s.Delete(ctx, info.Digest); err != nil {
			t.Fatalf("Delete #%d: %v", i+1, err)
		}
	}
	if _, _, err := s.Open(ctx, info.Digest); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("Open after Delete: %v, want ErrNotFound", err)
	}
	if _, err := s.Stat(ctx, info.Digest); !errors.Is(err, artifact.ErrNotFound) {
		t.Fatalf("Stat after Delete: %v, want ErrNotFound", err)
	}
	if got := storedFiles(t, dir, "sha256"); len(got) != 0 {
		t.Fatalf("files left: %v", got)
	}
}

// failingReader returns some bytes and then an error, like a network
// stream cut in the middle.
type failingReader struct{ n int }

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestFS_AFailedOrCancelledPutLeavesNothing(t *testing.T) {
	s, dir := newFS(t)
	if _, err := s.Put(context.Background(), &failingReader{n: 1 << 20}); err == nil || !strings.Contains(err.Error(), "connection reset") {
		t.Fatalf("Put from a failing reader: %v", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := s.Put(ctx, strings.NewReader("x")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Put with a cancelled context: %v", err)
	}
	if got := append(storedFiles(t, dir, "sha256"), storedFiles(t, dir, "tmp")...); len(got) != 0 {
		t.Fatalf("files left: %v", got)
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

func TestFS_ConcurrentPutsOfTheSameContentAllSucceed(t *testing.T) {
	ctx := context.Background()
	s, dir := newFS(t)
	content := bytes.Repeat([]byte("concurrent "), 50_000)
	const n = 16
	var wg sync.WaitGroup
	infos := make([]artifact.Info, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			infos[i], errs[i] = s.Put(ctx, bytes.NewReader(content))
		})
	}
	wg.Wait()
	for i := range n {
		if errs[i] != nil || infos[i].Digest != digestOf(content) {
			t.Fatalf("Put #%d = %+v, %v", i, infos[i], errs[i])
		}
	}
	if got := storedFiles(t, dir, "sha256"); len(got) != 1 {
		t.Fatalf("files on disk = %v, want one", got)
	}
	if got := storedFiles(t, dir, "tmp"); len(got) != 0 {
		t.Fatalf("temporary files left: %v", got)
	}
	if got, err := readAll(t, s, digestOf(content)); err != nil || !bytes.Equal(got, content) {
		t.Fatalf("reading back: %d bytes, %v", len(got), err)
	}
}
