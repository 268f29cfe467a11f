package e2e

import (
	"context"
	"crypto/rand"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/client"
)

// The figures of the README's performance table:
//
//	go test -run '^$' -bench . -benchtime 1x ./e2e/

func median(ds []time.Duration) time.Duration {
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[len(s)/2]
}

// pushTimes commits one small file and times `git push` alone, n times.
func pushTimes(b *testing.B, dir string, n int) []time.Duration {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(fmt.Sprintf("change %d %d\n", i, time.Now().UnixNano())), 0o644); err != nil {
			b.Fatal(err)
		}
		mustGit(b, dir, "add", "f.txt")
		mustGit(b, dir, "commit", "-q", "-m", "change")
		start := time.Now()
		mustGit(b, dir, "push", "-q", "origin", "HEAD:refs/heads/main")
		ds = append(ds, time.Since(start))
	}
	return ds
}

// BenchmarkPushOneFileCommit compares a push to Slipway over HTTP with the
// same push to a local bare repository over file:// (the floor).
func BenchmarkPushOneFileCommit(b *testing.B) {
	s := startServer(b)
	s.mustCLI(s.token, nil, "repo", "create", "bench")
	work := b.TempDir()
	mustGit(b, work, "init", "-q", "--bare", "floor.git")
	mustGit(b, work, "clone", "-q", s.gitURL(s.token, "bench.git"), "http")
	mustGit(b, work, "clone", "-q", "file://"+filepath.Join(work, "floor.git"), "file")
	for i := 0; i < b.N; i++ {
		httpT := median(pushTimes(b, filepath.Join(work, "http"), 20))
		fileT := median(pushTimes(b, filepath.Join(work, "file"), 20))
		b.ReportMetric(float64(httpT.Microseconds())/1000, "http-median-ms")
		b.ReportMetric(float64(fileT.Microseconds())/1000, "file-median-ms")
		b.ReportMetric(float64(httpT)/float64(fileT), "ratio")
	}
}

// BenchmarkClone50MB compares a clone of a repository with ~50 MB of
// history over HTTP with a clone of the same repository over file://.
func BenchmarkClone50MB(b *testing.B) {
	s := startServer(b)
	s.mustCLI(s.token, nil, "repo", "create", "big")
	work := b.TempDir()
	src := filepath.Join(work, "src")
	mustGit(b, work, "init", "-q", "src")
	chunk := make([]byte, 1<<20)
	for i := 0; i < 50; i++ {
		_, _ = rand.Read(chunk)
		if err := os.WriteFile(filepath.Join(src, "blob"+strconv.Itoa(i%10)), chunk, 0o644); err != nil {
			b.Fatal(err)
		}
		mustGit(b, src, "add", ".")
		mustGit(b, src, "commit", "-q", "-m", "commit "+strconv.Itoa(i))
	}
	mustGit(b, src, "push", "-q", s.gitURL(s.token, "big.git"), "HEAD:refs/heads/main")
	// The floor reads the very repository the server serves.
	floor := filepath.Join(s.data, "repos", "default", "big.git")
	size := mustGit(b, floor, "count-objects", "-vH")
	b.Logf("repository: %s", strings.ReplaceAll(size, "\n", "; "))
	clone := func(url string) time.Duration {
		dst := filepath.Join(work, "c")
		os.RemoveAll(dst)
		start := time.Now()
		mustGit(b, work, "clone", "-q", "--bare", url, dst)
		return time.Since(start)
	}
	for i := 0; i < b.N; i++ {
		var h, f []time.Duration
		for j := 0; j < 5; j++ {
			h = append(h, clone(s.gitURL(s.token, "big.git")))
			f = append(f, clone("file://"+floor))
		}
		b.ReportMetric(float64(median(h).Milliseconds()), "http-median-ms")
		b.ReportMetric(float64(median(f).Milliseconds()), "file-median-ms")
		b.ReportMetric(float64(median(h))/float64(median(f)), "ratio")
	}
}

// BenchmarkIdleMemory reports the resident memory of a server that has
// started and sat idle for two seconds.
func BenchmarkIdleMemory(b *testing.B) {
	for i := 0; i < b.N; i++ {
		s := startServer(b)
		time.Sleep(2 * time.Second)
		status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", s.cmd.Process.Pid))
		if err != nil {
			b.Skip("no /proc on this system")
		}
		for _, line := range strings.Split(string(status), "\n") {
			if f := strings.Fields(line); len(f) == 3 && f[0] == "VmRSS:" {
				kb, _ := strconv.Atoi(f[1])
				b.ReportMetric(float64(kb)/1024, "rss-MB")
			}
		}
		s.stop()
	}
}

// timeCmd runs a command n times and returns the median wall time.
func timeCmd(b *testing.B, n int, name string, args ...string) time.Duration {
	var ds []time.Duration
	for i := 0; i < n; i++ {
		cmd := exec.Command(name, args...)
		start := time.Now()
		if out, err := cmd.CombinedOutput(); err != nil {
			b.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		ds = append(ds, time.Since(start))
	}
	return median(ds)
}

// BenchmarkBuildRunTrue is the whole wall time of `slipway build run` for a
// buildspec whose only command is `true`, process start included.
func BenchmarkBuildRunTrue(b *testing.B) {
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "buildspec.yml"), []byte("version: 0.2\nphases:\n  build:\n    commands:\n      - \"true\"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	for i := 0; i < b.N; i++ {
		b.ReportMetric(float64(timeCmd(b, 21, binary, "build", "run", dir).Microseconds())/1000, "median-ms")
	}
}

// BenchmarkBuildRunLog100MB compares a build whose command prints 100 MB
// (its log going to a file) with the same command writing to /dev/null.
func BenchmarkBuildRunLog100MB(b *testing.B) {
	dir := b.TempDir()
	const print = "head -c 100000000 /dev/zero | tr '\\\\0' x | fold -w 99"
	if err := os.WriteFile(filepath.Join(dir, "buildspec.yml"), []byte("version: 0.2\nphases:\n  build:\n    commands:\n      - "+print+"\n"), 0o644); err != nil {
		b.Fatal(err)
	}
	logFile := filepath.Join(b.TempDir(), "build.log")
	for i := 0; i < b.N; i++ {
		// Interleaved, so both see the same load on a shared machine.
		var ds, bs []time.Duration
		for j := 0; j < 7; j++ {
			ds = append(ds, timeCmd(b, 1, "sh", "-c", strings.ReplaceAll(print, `\\`, `\`)+" > /dev/null"))
			bs = append(bs, timeCmd(b, 1, "sh", "-c", binary+" build run "+dir+" > "+logFile))
		}
		direct, build := median(ds), median(bs)
		fi, err := os.Stat(logFile)
		if err != nil || fi.Size() < 100_000_000 {
			b.Fatalf("log not intact: %v %v", fi, err)
		}
		b.ReportMetric(float64(direct.Milliseconds()), "direct-ms")
		b.ReportMetric(float64(build.Milliseconds()), "build-ms")
		b.ReportMetric(float64(build)/float64(direct), "ratio")
	}
}

// BenchmarkServerBuildStartToFirstCommand is the time from a build's start
// (as the server records it when the API call arrives) to its first command
// running (the start of its first command phase), over 21 builds of a
// pushed repository whose buildspec runs `true`: job pickup, source export
// from Git, workspace and sandbox included.
func BenchmarkServerBuildStartToFirstCommand(b *testing.B) {
	s := startServer(b)
	s.mustCLI(s.token, nil, "repo", "create", "fast")
	pushFiles(b, s, "fast", map[string]string{"buildspec.yml": "version: 0.2\nphases:\n  build:\n    commands:\n      - \"true\"\n"})
	s.mustCLI(s.token, nil, "build", "project", "create", "fast-build")
	c := &client.Client{BaseURL: s.url, Token: s.token, HTTP: http.DefaultClient}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		var ds []time.Duration
		for j := 0; j < 21; j++ {
			started, err := c.StartBuild(ctx, "default", "fast-build", "fast@main")
			if err != nil {
				b.Fatal(err)
			}
			var done *client.Build
			for done == nil || done.Status == "IN_PROGRESS" {
				time.Sleep(5 * time.Millisecond)
				if done, err = c.GetBuild(ctx, "default", started.ID); err != nil {
					b.Fatal(err)
				}
			}
			first := time.Time{}
			for _, p := range done.Phases {
				if p.Name == "INSTALL" || p.Name == "PRE_BUILD" || p.Name == "BUILD" {
					first = p.Start
					break
				}
			}
			if done.Status != "SUCCEEDED" || first.IsZero() {
				b.Fatalf("build %s: %s %+v", done.ID, done.Status, done.Phases)
			}
			ds = append(ds, first.Sub(done.StartedAt))
		}
		b.ReportMetric(float64(median(ds).Microseconds())/1000, "p50-ms")
	}
}

// BenchmarkPushToSourceSucceeded is the time from `git push` returning to
// the pipeline's Source action having succeeded (as the server records
// it), p50 of 21 pushes: the push event, the execution's start, the source
// exported from Git, zipped and stored.
func BenchmarkPushToSourceSucceeded(b *testing.B) {
	s := startServer(b)
	s.mustCLI(s.token, nil, "repo", "create", "fast")
	file := filepath.Join(b.TempDir(), "pipeline.yml")
	decl := `Name: fast
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: fast}
PipelineType: V2
ExecutionMode: PARALLEL
Stages:
  - Name: Source
    Actions:
      - Name: Source
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: fast, BranchName: main}
        OutputArtifacts: [{Name: Source}]
  - Name: Hold
    Actions:
      - Name: Hold
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
`
	if err := os.WriteFile(file, []byte(decl), 0o644); err != nil {
		b.Fatal(err)
	}
	s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)
	work := b.TempDir()
	mustGit(b, work, "clone", "-q", s.gitURL(s.token, "fast.git"), "w")
	dir := filepath.Join(work, "w")
	c := &client.Client{BaseURL: s.url, Token: s.token, HTTP: http.DefaultClient}
	ctx := context.Background()
	for i := 0; i < b.N; i++ {
		var ds []time.Duration
		seen := map[string]bool{}
		for j := 0; j < 21; j++ {
			if err := os.WriteFile(filepath.Join(dir, "f.txt"), []byte(fmt.Sprintf("change %d %d\n", j, time.Now().UnixNano())), 0o644); err != nil {
				b.Fatal(err)
			}
			mustGit(b, dir, "add", "f.txt")
			mustGit(b, dir, "commit", "-q", "-m", "change")
			mustGit(b, dir, "push", "-q", "origin", "HEAD:refs/heads/main")
			pushed := time.Now()
			var source time.Time
			for source.IsZero() {
				es, err := c.ListPipelineExecutions(ctx, "default", "fast", 5)
				if err != nil {
					b.Fatal(err)
				}
				for _, e := range es {
					if seen[e.ID] {
						continue
					}
					full, err := c.GetPipelineExecution(ctx, "default", e.ID)
					if err != nil {
						b.Fatal(err)
					}
					for _, a := range full.Actions {
						if a.Stage == "Source" && a.Status == "Succeeded" {
							source, seen[e.ID] = a.EndedAt, true
						}
					}
				}
				time.Sleep(2 * time.Millisecond)
			}
			ds = append(ds, source.Sub(pushed))
		}
		b.ReportMetric(float64(median(ds).Microseconds())/1000, "p50-ms")
	}
}
