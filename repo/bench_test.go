package repo

import (
	"bufio"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/slipway/slipway/store/storetest"
)

// Run with:
//
//	go test -run '^$' -bench . -benchtime 3s ./repo/
//
// Each pair compares the HTTP handler (which also records push events in
// SQLite and publishes them) with the same git client talking to a local
// bare repository over file://, git's own transport without HTTP.

// benchPush pushes a one-file commit per iteration; the commit is made with
// the timer stopped.
func benchPush(b *testing.B, url string) {
	work := clone(b, url)
	commitFile(b, work, "seed.txt", "seed\n")
	git(b, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		commitFile(b, work, "file.txt", strconv.Itoa(i)+"\n")
		b.StartTimer()
		git(b, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	}
}

func BenchmarkPush_OneFileCommitHTTP(b *testing.B) {
	f := newFixture(b, storetest.SQLite(b), nil)
	f.create(b, "app")
	benchPush(b, f.url("app"))
}

func BenchmarkPush_OneFileCommitFileURL(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "app.git")
	git(b, filepath.Dir(dir), "init", "-q", "--bare", "--template=", dir)
	benchPush(b, "file://"+dir)
}

const historyBytes = 50 << 20

// writeHistory fills the bare repository dir with 50 commits of 1 MiB of
// random (incompressible) data each, through git fast-import.
func writeHistory(b *testing.B, dir string) {
	b.Helper()
	cmd := exec.Command("git", "--git-dir="+dir, "fast-import", "--quiet")
	cmd.Env = gitEnv(dir)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := os.CreateTemp(b.TempDir(), "fast-import")
	if err != nil {
		b.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriter(stdin)
	rng := rand.NewChaCha8([32]byte{1})
	blob := make([]byte, 1<<20)
	const commits = historyBytes / (1 << 20)
	for i := 1; i <= commits; i++ {
		rng.Read(blob)
		fmt.Fprintf(w, "blob\nmark :%d\ndata %d\n", 2*i, len(blob))
		w.Write(blob)
		msg := fmt.Sprintf("commit %d", i)
		fmt.Fprintf(w, "\ncommit refs/heads/main\nmark :%d\ncommitter Bench <bench@example.com> %d +0000\ndata %d\n%s\n",
			2*i+1, 1700000000+i, len(msg), msg)
		if i > 1 {
			fmt.Fprintf(w, "from :%d\n", 2*i-1)
		}
		fmt.Fprintf(w, "M 100644 :%d data/%03d.bin\n\n", 2*i, i)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	stdin.Close()
	if err := cmd.Wait(); err != nil {
		msg, _ := os.ReadFile(out.Name())
		b.Fatalf("fast-import: %v\n%s", err, msg)
	}
}

// benchClone makes a bare clone of url per iteration.
func benchClone(b *testing.B, url string) {
	parent := b.TempDir()
	b.SetBytes(historyBytes)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		dir := filepath.Join(parent, strconv.Itoa(i))
		git(b, parent, "clone", "-q", "--bare", url, dir)
		b.StopTimer()
		os.RemoveAll(dir)
		b.StartTimer()
	}
}

func BenchmarkClone_50MBHistoryHTTP(b *testing.B) {
	f := newFixture(b, storetest.SQLite(b), nil)
	f.create(b, "big")
	writeHistory(b, f.serverDir("big"))
	benchClone(b, f.url("big"))
}

func BenchmarkClone_50MBHistoryFileURL(b *testing.B) {
	dir := filepath.Join(b.TempDir(), "big.git")
	git(b, filepath.Dir(dir), "init", "-q", "--bare", "--template=", "--initial-branch=main", dir)
	writeHistory(b, dir)
	benchClone(b, "file://"+dir)
}
