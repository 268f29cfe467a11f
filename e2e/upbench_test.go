package e2e

import (
	"fmt"
	"io"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// The README's first command from a clean clone: go run ./cmd/slipway up
// (the build of Slipway, with this machine's Go cache, and its start),
// until it says staging serves the sample. The build is also timed alone,
// in another clean clone.
func BenchmarkReadmeFirstCommand(b *testing.B) {
	needTools(b, "curl")
	root, err := filepath.Abs("..")
	if err != nil {
		b.Fatal(err)
	}
	var builds, ups []time.Duration
	for range b.N {
		clone := func() string {
			dir := filepath.Join(b.TempDir(), "slipway")
			if out, err := exec.Command("git", "clone", "-q", root, dir).CombinedOutput(); err != nil {
				b.Fatalf("git clone: %v\n%s", err, out)
			}
			return dir
		}
		dir := clone()
		mark := time.Now()
		build := exec.Command("go", "build", "-o", filepath.Join(b.TempDir(), "slipway"), "./cmd/slipway")
		build.Dir = dir
		if out, err := build.CombinedOutput(); err != nil {
			b.Fatalf("go build: %v\n%s", err, out)
		}
		builds = append(builds, time.Since(mark))

		dir = clone()
		addr := freeAddr(b)
		cmd := exec.Command("go", "run", "./cmd/slipway", "up", "--listen", addr, "--lb-port-map", "80=0", "--dns-listen", "127.0.0.1:0")
		cmd.Dir = dir
		// go run's child gets the signal too: stop the whole group.
		cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		out := &syncBuffer{}
		cmd.Stdout, cmd.Stderr = out, out
		mark = time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		m := waitLine(b, out, 5*time.Minute, "staging to be live", liveLine(), 0)
		ups = append(ups, time.Since(mark))
		if got := answers(b, 4, m[1]+"/"); got["Hello from go-service 1.0.0"] != 4 {
			b.Errorf("staging answers %v", got)
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		_ = cmd.Wait()
	}
	b.ReportMetric(median(builds).Seconds(), "build-s")
	b.ReportMetric(median(ups).Seconds(), "run-to-staging-s")
	b.ReportMetric(0, "ns/op")
}

// A one-line change to the sample, from git push to staging serving it:
// every answer through the load balancer is the new version (and slipway
// up then says staging is live with its commit). Each iteration pushes one
// change; p50 and the slowest are reported.
func BenchmarkPushToStaging(b *testing.B) {
	needTools(b, "curl")
	s, _ := startUp(b)
	m := waitLine(b, s.stdout, 4*time.Minute, "staging to be live", liveLine(), 0)
	stagingURL := m[1] + "/"
	work := b.TempDir()
	mustGit(b, work, "clone", s.gitURL(s.token, "hello.git"), "hello")
	repo := filepath.Join(work, "hello")
	mainGo := filepath.Join(repo, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		b.Fatal(err)
	}
	var took []time.Duration
	b.ResetTimer()
	for i := range b.N {
		version := fmt.Sprintf("1.1.%d", i)
		if err := os.WriteFile(mainGo, []byte(strings.Replace(string(src), `"1.0.0"`, `"`+version+`"`, 1)), 0o644); err != nil {
			b.Fatal(err)
		}
		mustGit(b, repo, "commit", "-qam", "Version "+version)
		commit := strings.TrimSpace(mustGit(b, repo, "rev-parse", "HEAD"))
		live := regexp.MustCompile(`staging is live: \S+ \(commit (` + commit[:12] + `)\)`)
		mark := time.Now()
		mustGit(b, repo, "push", "-q", "origin", "HEAD:main")
		// Every answer from the new version: both instances run it. (Read
		// in process: a curl per read would take the build's CPU.)
		for !allAnswer(b, stagingURL, "Hello from go-service "+version) {
			if time.Since(mark) > 2*time.Minute {
				b.Fatalf("staging does not serve %s", version)
			}
			time.Sleep(20 * time.Millisecond)
		}
		took = append(took, time.Since(mark))
		waitLine(b, s.stdout, 30*time.Second, "slipway up to say staging runs "+version, live, 0)
	}
	b.StopTimer()
	b.ReportMetric(median(took).Seconds(), "p50-s")
	b.ReportMetric(slices.Max(took).Seconds(), "max-s")
	b.ReportMetric(0, "ns/op")
}

// allAnswer says whether 4 requests in a row to url, a load balancer's
// NAME.lb.localhost URL, are all answered want.
func allAnswer(b *testing.B, url, want string) bool {
	u, err := neturl.Parse(url)
	if err != nil {
		b.Fatal(err)
	}
	for range 4 {
		req, err := http.NewRequest("GET", "http://127.0.0.1:"+u.Port()+u.Path, nil)
		if err != nil {
			b.Fatal(err)
		}
		req.Host = u.Host
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			return false
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || strings.TrimSpace(string(body)) != want {
			return false
		}
	}
	return true
}
