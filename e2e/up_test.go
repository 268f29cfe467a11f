package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// appView is what slipway app get --output json says.
type appView struct {
	Name         string `json:"name"`
	Status       string `json:"status"`
	StatusReason string `json:"status_reason"`
	CloneURL     string `json:"clone_url"`
	Pipeline     string `json:"pipeline"`
	Environments []struct {
		Name     string `json:"name"`
		URL      string `json:"url"`
		Status   string `json:"status"`
		Revision string `json:"revision"`
	} `json:"environments"`
}

// environment returns the application's environment called name.
func (a *appView) environment(name string) (url, revision string) {
	for _, e := range a.Environments {
		if e.Name == name {
			return e.URL, e.Revision
		}
	}
	return "", ""
}

// startUp runs slipway up in an empty directory, as the README's first
// command does, and returns once it serves. The sample's builds use this
// machine's warm Go build cache, as they would for a developer who has
// just built Slipway; dir is where it runs.
func startUp(t testing.TB) (s *server, dir string) {
	t.Helper()
	dir = t.TempDir()
	s = &server{t: t, dir: dir, data: filepath.Join(dir, ".slipway"), addr: freeAddr(t), verb: "up", noDataFlag: true,
		env: []string{"GOCACHE=" + goCache(t)}}
	s.url = "http://" + s.addr
	s.start()
	t.Cleanup(s.stop)
	return s, dir
}

// liveLine matches slipway up's line saying staging runs a commit: its
// URL and commit.
func liveLine() *regexp.Regexp {
	return regexp.MustCompile(`staging is live: (\S+) \(commit ([0-9a-f]{7,})\)`)
}

// waitLine waits (up to limit) for a line of out that re matches after
// the first skip such lines, and returns its submatches.
func waitLine(t testing.TB, out *syncBuffer, limit time.Duration, what string, re *regexp.Regexp, skip int) []string {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		if ms := re.FindAllStringSubmatch(out.String(), -1); len(ms) > skip {
			return ms[skip]
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s\noutput:\n%s", what, out)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// processesUnder lists the processes whose executable, working directory
// or command line lies under dir.
func processesUnder(dir string) []string {
	var out []string
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == os.Getpid() {
			continue
		}
		p := filepath.Join("/proc", e.Name())
		exe, _ := os.Readlink(filepath.Join(p, "exe"))
		cwd, _ := os.Readlink(filepath.Join(p, "cwd"))
		cmdline, _ := os.ReadFile(filepath.Join(p, "cmdline"))
		args := strings.ReplaceAll(string(cmdline), "\x00", " ")
		if strings.HasPrefix(exe, dir) || strings.HasPrefix(cwd, dir) || strings.Contains(args, dir) {
			out = append(out, e.Name()+": "+args)
		}
	}
	return out
}

// The README's first command, as a newcomer runs it: slipway up in an
// empty directory makes the sample application, ships it to staging and
// says so, with the one command that approves production; a pushed change
// follows; Ctrl-C stops everything it started.
func TestUp_MakesTheSampleShipsItAndAChangeToStagingThenAfterApprovalToProductionAndStopsEverything(t *testing.T) {
	needTools(t, "curl")
	begin := time.Now()
	s, dir := startUp(t)
	live := liveLine()
	m := waitLine(t, s.stdout, 4*time.Minute, "slipway up to say staging is live", live, 0)
	for _, want := range []string{"serving on " + s.url, "admin token:  .slipway/admin-token", "SLIPWAY_TOKEN=$(cat .slipway/admin-token)",
		"git clone " + s.url + "/git/hello.git"} {
		if !strings.Contains(s.stdout.String(), want) {
			t.Errorf("slipway up does not say %q:\n%s", want, s.stdout)
		}
	}
	stagingURL := m[1]
	t.Logf("slipway up to staging serving: %s", time.Since(begin).Round(time.Millisecond))
	if got := answers(t, 6, stagingURL); got["Hello from go-service 1.0.0"] != 6 {
		t.Fatalf("staging answers %v", got)
	}
	approve := regexp.MustCompile(`slipway approve hello Approvals ProductionGate`)
	waitLine(t, s.stdout, 30*time.Second, "slipway up to print the approve command", approve, 0)
	var app appView
	s.mustCLI(s.token, &app, "app", "get", "hello")
	if url, rev := app.environment("staging"); app.Status != "CREATE_COMPLETE" || url+"/" != stagingURL && url != stagingURL || !strings.HasPrefix(rev, m[2]) {
		t.Errorf("app get: %+v, want staging at %s running %s", app, stagingURL, m[2])
	}
	checkEnvironment(t, s, "staging")

	// A user without the approve role is refused; one given it approves.
	s.mustCLI(s.token, nil, "user", "create", "dev")
	s.mustCLI(s.token, nil, "user", "create", "lead")
	var tok struct {
		Token string `json:"token"`
	}
	s.mustCLI(s.token, &tok, "token", "create", "--user", "dev")
	devToken := tok.Token
	s.mustCLI(s.token, &tok, "token", "create", "--user", "lead")
	leadToken := tok.Token
	s.mustCLI(s.token, nil, "grant", "project", "dev", "read")
	s.mustCLI(s.token, nil, "grant", "pipeline/hello", "lead", "approve")
	if out, errs, err := s.cli(devToken, "approve", "hello", "Approvals", "ProductionGate"); err == nil || !strings.Contains(errs, "permission") {
		t.Fatalf("approval by a user without the approve role: %v\n%s%s", err, out, errs)
	}
	s.mustCLI(leadToken, nil, "approve", "hello", "Approvals", "ProductionGate", "--comment", "first release")
	waitFor(t, "production to serve the sample", func() bool {
		s.mustCLI(s.token, &app, "app", "get", "hello")
		_, rev := app.environment("production")
		return rev != ""
	})
	checkEnvironment(t, s, "production")

	// A one-line change: clone, edit, push; slipway up says when staging
	// runs it, and production follows the approval.
	work := t.TempDir()
	mustGit(t, work, "clone", s.gitURL(s.token, "hello.git"), "hello")
	repo := filepath.Join(work, "hello")
	mainGo := filepath.Join(repo, "main.go")
	src, err := os.ReadFile(mainGo)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mainGo, []byte(strings.Replace(string(src), `"1.0.0"`, `"1.0.1"`, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, repo, "commit", "-qam", "Version 1.0.1")
	mark := time.Now()
	mustGit(t, repo, "push", "-q", "origin", "HEAD:main")
	commit := strings.TrimSpace(mustGit(t, repo, "rev-parse", "HEAD"))
	m = waitLine(t, s.stdout, 2*time.Minute, "slipway up to say staging runs the change", live, 1)
	t.Logf("push to staging serving the change: %s", time.Since(mark).Round(time.Millisecond))
	if !strings.HasPrefix(commit, m[2]) {
		t.Errorf("staging is live with %s, pushed %s", m[2], commit)
	}
	if got := answers(t, 6, stagingURL); got["Hello from go-service 1.0.1"] != 6 {
		t.Errorf("staging after the change answers %v", got)
	}
	waitLine(t, s.stdout, 30*time.Second, "slipway up to print the approve command again", approve, 1)
	s.mustCLI(leadToken, nil, "approve", "hello", "Approvals", "ProductionGate")
	waitFor(t, "production to run the change", func() bool {
		s.mustCLI(s.token, &app, "app", "get", "hello")
		_, rev := app.environment("production")
		return rev == commit
	})
	prodURL, _ := app.environment("production")
	if got := answers(t, 6, prodURL+"/"); got["Hello from go-service 1.0.1"] != 6 {
		t.Errorf("production after the approval answers %v", got)
	}

	// Ctrl-C stops the server and every process it started.
	if len(processesUnder(dir)) == 0 {
		t.Fatal("no process runs under the data directory: the check below would prove nothing")
	}
	if err := s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("slipway up exited with %v after Ctrl-C\n%s", err, s.log)
		}
	case <-time.After(60 * time.Second):
		_ = s.cmd.Process.Kill()
		<-done
		t.Fatalf("slipway up did not stop within 60s of Ctrl-C\n%s", s.log)
	}
	var left []string
	waitFor(t, "every process slipway up started to end", func() bool {
		left = processesUnder(dir)
		return len(left) == 0
	})

	// A second start reuses everything: the sample is there, and serves
	// what was approved.
	s.start()
	m = waitLine(t, s.stdout, 2*time.Minute, "the second start to say staging is live", live, 0)
	if !strings.HasPrefix(commit, m[2]) {
		t.Errorf("after a restart staging is live with %s, want %s", m[2], commit)
	}
	var apps []appView
	s.mustCLI(s.token, &apps, "app", "list")
	if len(apps) != 1 || apps[0].Name != "hello" {
		t.Errorf("apps after a restart: %+v", apps)
	}
}
