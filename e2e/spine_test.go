package e2e

import (
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

type pushEvent struct {
	ID        int64  `json:"id"`
	Ref       string `json:"ref"`
	OldCommit string `json:"old_commit"`
	NewCommit string `json:"new_commit"`
	Pusher    string `json:"pusher"`
}

func TestSpine_RepositoriesUsersGitAndRestart(t *testing.T) {
	s := startServer(t)
	admin := s.token
	// The server's output reaches the test through a pipe: it may come a
	// moment after the server answers.
	waitLine(t, s.stdout, 10*time.Second, "the first start to say where the admin token is", regexp.MustCompile(`admin-token`), 0)
	if strings.Contains(s.stdout.String()+s.log.String(), admin) {
		t.Fatal("the admin token appears in the server's output")
	}

	var repo struct {
		Name     string `json:"name"`
		CloneURL string `json:"clone_url"`
	}
	s.mustCLI(admin, &repo, "repo", "create", "demo", "--description", "e2e")
	if repo.CloneURL != s.url+"/git/demo.git" {
		t.Fatalf("clone URL %q", repo.CloneURL)
	}
	s.mustCLI(admin, nil, "user", "create", "bob")
	s.mustCLI(admin, nil, "user", "create", "carol")
	var bob, carol struct {
		Token string `json:"token"`
	}
	s.mustCLI(admin, &bob, "token", "create", "--user", "bob", "--name", "laptop")
	s.mustCLI(admin, &carol, "token", "create", "--user", "carol")
	s.mustCLI(admin, nil, "repo", "grant", "demo", "bob", "read")

	// The admin clones the empty repository, commits and pushes.
	work := t.TempDir()
	mustGit(t, work, "clone", s.gitURL(admin, "demo.git"), "demo")
	dir := filepath.Join(work, "demo")
	if err := os.WriteFile(filepath.Join(dir, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-m", "first")
	mustGit(t, dir, "push", "origin", "HEAD:refs/heads/main")
	head := strings.TrimSpace(mustGit(t, dir, "rev-parse", "HEAD"))

	var evs []pushEvent
	s.mustCLI(admin, &evs, "repo", "events", "demo")
	if len(evs) != 1 || evs[0].Ref != "refs/heads/main" || evs[0].NewCommit != head ||
		evs[0].OldCommit != strings.Repeat("0", 40) || evs[0].Pusher != "admin" {
		t.Fatalf("push events: %+v", evs)
	}

	// bob may read: clone works, push is refused with a clear message.
	bobDir := filepath.Join(work, "bob")
	mustGit(t, work, "clone", s.gitURL(bob.Token, "demo.git"), "bob")
	if got := strings.TrimSpace(mustGit(t, bobDir, "rev-parse", "HEAD")); got != head {
		t.Fatalf("bob cloned %s, want %s", got, head)
	}
	mustGit(t, bobDir, "commit", "--allow-empty", "-m", "bob was here")
	out, err := git(t, bobDir, "push", "origin", "HEAD:refs/heads/main")
	if err == nil || !strings.Contains(out, "permission denied") || !strings.Contains(out, "403") {
		t.Fatalf("read-only push: err=%v\n%s", err, out)
	}

	// carol has no role: the repository does not exist for her.
	out, err = git(t, work, "clone", s.gitURL(carol.Token, "demo.git"), "carol")
	if err == nil || !strings.Contains(out, "not found") {
		t.Fatalf("clone without permission: err=%v\n%s", err, out)
	}
	if o, _, err := s.cli(carol.Token, "repo", "get", "demo"); err == nil {
		t.Fatalf("carol can see the repository through the API: %s", o)
	}
	// Anonymous and unknown tokens are asked to authenticate.
	for _, tok := range []string{"", "slw_NOTATOKENNOTATOKENNOTATOK"} {
		out, err = git(t, work, "clone", s.gitURL(tok, "demo.git"), "anon")
		if err == nil || !(strings.Contains(out, "Authentication failed") || strings.Contains(out, "could not read Username")) {
			t.Fatalf("clone with token %q: err=%v\n%s", tok, err, out)
		}
	}

	// Metrics need a token and count requests, git operations, push events and jobs.
	if resp, err := http.Get(s.url + "/metrics"); err != nil || resp.StatusCode != 401 {
		t.Fatalf("anonymous /metrics: %v %v", resp, err)
	}
	waitFor(t, "housekeeping jobs to run and show in /metrics", func() bool {
		m := s.metrics(carol.Token)
		return strings.Contains(m, `slipway_jobs_outcomes_total{kind="repo.maintain",outcome="completed"}`)
	})
	m := s.metrics(carol.Token)
	for _, want := range []string{
		`slipway_http_requests_total{code="201",route="POST /api/v1/projects/{project}/repos"} 1`,
		`slipway_git_operations_total{outcome="ok",service="git-receive-pack"} 1`,
		`slipway_push_events_total 1`,
		`slipway_jobs_queue_depth{state="available"}`,
	} {
		if !strings.Contains(m, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}

	// After a restart the repository, its commits and its events are intact.
	s.stop()
	s.start()
	if strings.Contains(s.stdout.String(), "Created the user") {
		t.Error("a restart created the admin user again")
	}
	again := filepath.Join(work, "again")
	mustGit(t, work, "clone", s.gitURL(admin, "demo.git"), "again")
	if got := strings.TrimSpace(mustGit(t, again, "rev-parse", "HEAD")); got != head {
		t.Fatalf("after restart HEAD is %s, want %s", got, head)
	}
	mustGit(t, again, "commit", "--allow-empty", "-m", "after restart")
	mustGit(t, again, "push", "origin", "HEAD:refs/heads/main")
	s.mustCLI(admin, &evs, "repo", "events", "demo")
	if len(evs) != 2 || evs[1].NewCommit != head || evs[0].OldCommit != head {
		t.Fatalf("events after restart: %+v", evs)
	}

	// The audit log saw the push and the refused push.
	var audit []struct {
		Actor, Action, Outcome string
	}
	s.mustCLI(admin, &audit, "audit", "list")
	var pushes, refused int
	for _, a := range audit {
		if a.Action == "git push" && a.Outcome == "success" {
			pushes++
		}
		if a.Action == "git push" && a.Actor == "bob" && a.Outcome == "failure" {
			refused++
		}
	}
	if pushes < 2 || refused < 1 {
		t.Fatalf("audit log: %d pushes, %d refused: %+v", pushes, refused, audit)
	}
}

func TestCLI_LoginSavesTheServerAndTokenForLaterCommands(t *testing.T) {
	s := startServer(t)
	home := t.TempDir()
	env := append(gitEnv(t), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "SLIPWAY_URL=", "SLIPWAY_TOKEN=")
	run := func(stdin string, args ...string) (string, error) {
		cmd := exec.Command(binary, args...)
		cmd.Env = env
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		return string(out), err
	}
	if out, err := run("slw_wrongwrongwrongwrongwrongwr\n", "login", "--url", s.url); err == nil {
		t.Fatalf("login with a bad token succeeded: %s", out)
	}
	out, err := run(s.token+"\n", "login", "--url", s.url)
	if err != nil || !strings.Contains(out, "as admin") {
		t.Fatalf("login: %v\n%s", err, out)
	}
	saved := filepath.Join(home, ".config", "slipway", "login.json")
	if fi, err := os.Stat(saved); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("saved login: %v %v", fi, err)
	}
	if out, err := run("", "repo", "create", "after-login"); err != nil || !strings.Contains(out, "/git/after-login.git") {
		t.Fatalf("command after login: %v\n%s", err, out)
	}
}

func TestProjects_RepositoriesLiveInTheirProjectsNamespace(t *testing.T) {
	s := startServer(t)
	s.mustCLI(s.token, nil, "project", "create", "payments", "--description", "the payments team")
	var repo struct {
		Project  string `json:"project"`
		CloneURL string `json:"clone_url"`
	}
	s.mustCLI(s.token, &repo, "--project", "payments", "repo", "create", "api")
	if repo.Project != "payments" || repo.CloneURL != s.url+"/git/payments/api.git" {
		t.Fatalf("repository in project: %+v", repo)
	}
	// The same name is free in another project.
	s.mustCLI(s.token, nil, "repo", "create", "api")
	var defaults, payments []struct{ Name string }
	s.mustCLI(s.token, &defaults, "repo", "list")
	cmd := exec.Command(binary, "repo", "list", "--output", "json")
	cmd.Env = append(gitEnv(t), "SLIPWAY_URL="+s.url, "SLIPWAY_TOKEN="+s.token, "SLIPWAY_PROJECT=payments")
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(out, &payments); err != nil || len(payments) != 1 || len(defaults) != 1 {
		t.Fatalf("default: %+v, payments: %+v (%v)", defaults, payments, err)
	}
	work := t.TempDir()
	mustGit(t, work, "clone", "-q", s.gitURL(s.token, "payments/api.git"), "api")

	// A team's grant on the project reaches its repositories.
	s.mustCLI(s.token, nil, "user", "create", "dana")
	var dana struct{ Token string }
	s.mustCLI(s.token, &dana, "token", "create", "--user", "dana")
	if out, err := git(t, work, "clone", "-q", s.gitURL(dana.Token, "payments/api.git"), "dana"); err == nil {
		t.Fatalf("dana cloned without a grant: %s", out)
	}
	s.mustCLI(s.token, nil, "team", "create", "payers")
	s.mustCLI(s.token, nil, "team", "add-member", "payers", "dana")
	s.mustCLI(s.token, nil, "-p", "payments", "grant", "project", "team:payers", "read")
	mustGit(t, work, "clone", "-q", s.gitURL(dana.Token, "payments/api.git"), "dana")
	var teams []struct {
		Name    string
		Members []string
	}
	s.mustCLI(s.token, &teams, "team", "list")
	if len(teams) != 1 || len(teams[0].Members) != 1 || teams[0].Members[0] != "dana" {
		t.Fatalf("teams: %+v", teams)
	}
}
