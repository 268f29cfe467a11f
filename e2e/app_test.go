package e2e

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// waitGone waits (up to limit) until slipway app get NAME answers not found.
func waitGone(t *testing.T, s *server, name string, limit time.Duration) {
	t.Helper()
	deadline := time.Now().Add(limit)
	for {
		out, errs, err := s.cli(s.token, "app", "get", name)
		if err != nil && strings.Contains(errs, "not found") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("application %s is still there: %v\n%s%s\n%s", name, err, out, errs, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// The CLI's way to an application: slipway app create follows it until
// staging is live and names the approval; its owner team pushes to it; a
// preview deletes itself when its time runs out; slipway app delete takes
// everything down.
func TestApp_CreateFollowsToStagingTheOwnerTeamPushesAPreviewExpiresAndDeleteTakesEverythingDown(t *testing.T) {
	needTools(t, "curl")
	s := startServer(t)
	s.mustCLI(s.token, nil, "team", "create", "web")
	s.mustCLI(s.token, nil, "user", "create", "dana")
	s.mustCLI(s.token, nil, "team", "add-member", "web", "dana")
	var tok struct {
		Token string `json:"token"`
	}
	s.mustCLI(s.token, &tok, "token", "create", "--user", "dana")

	cache := "GoCache=" + goCache(t)
	out := s.mustCLI(s.token, nil, "app", "create", "shop", "--blueprint", "go-service", "--param", cache, "--owner", "web")
	for _, want := range []string{"Clone:  git clone " + s.url + "/git/default/shop.git", "Waiting for approval: slipway approve shop Approvals ProductionGate"} {
		if !strings.Contains(out, want) {
			t.Errorf("app create does not say %q:\n%s", want, out)
		}
	}
	m := regexp.MustCompile(`staging is live: (\S+) \(commit [0-9a-f]+\)`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("app create does not say staging is live:\n%s", out)
	}
	if got := answers(t, 4, m[1]+"/"); got["Hello from go-service 1.0.0"] != 4 {
		t.Errorf("staging answers %v", got)
	}
	var app appView
	s.mustCLI(s.token, &app, "app", "get", "shop")
	if url, rev := app.environment("staging"); app.Status != "CREATE_COMPLETE" || url != m[1] || rev == "" || len(app.Environments) != 2 {
		t.Errorf("app get: %+v", app)
	}
	if url, rev := app.environment("production"); url != "" || rev != "" || app.Environments[1].Status != "NOT_CREATED" {
		t.Errorf("production before any approval: %+v", app.Environments[1])
	}

	// A member of the owner team pushes; a user outside it cannot.
	work := t.TempDir()
	mustGit(t, work, "clone", s.gitURL(tok.Token, "shop.git"), "shop")
	repo := filepath.Join(work, "shop")
	if err := os.WriteFile(filepath.Join(repo, "NOTES"), []byte("owned by web\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, repo, "add", "NOTES")
	mustGit(t, repo, "commit", "-qm", "Notes")
	mustGit(t, repo, "push", "-q", "origin", "HEAD:main")
	s.mustCLI(s.token, nil, "user", "create", "eve")
	s.mustCLI(s.token, &tok, "token", "create", "--user", "eve")
	if _, err := git(t, work, "clone", s.gitURL(tok.Token, "shop.git"), "eve"); err == nil {
		t.Error("a user outside the owner team cloned the application's repository")
	}

	// A preview deletes itself once its time has run out.
	s.mustCLI(s.token, nil, "app", "create", "pr-1", "--blueprint", "go-service", "--param", cache, "--ttl", "15s", "--no-wait")
	var preview appView
	waitFor(t, "the preview's staging", func() bool {
		s.mustCLI(s.token, &preview, "app", "get", "pr-1")
		_, rev := preview.environment("staging")
		return rev != ""
	})
	waitGone(t, s, "pr-1", 90*time.Second)
	for _, st := range []string{"pr-1-staging", "pr-1-pipeline"} {
		if _, errs, err := s.cli(s.token, "stack", "describe", st); err == nil || !strings.Contains(errs, "(not_found)") {
			t.Errorf("stack %s after the preview expired: %v %s", st, err, errs)
		}
	}

	// Deleting takes the environment, then the pipeline stack and what it
	// made.
	s.mustCLI(s.token, nil, "app", "delete", "shop", "--yes", "--wait")
	waitGone(t, s, "shop", 10*time.Second)
	for _, what := range [][]string{{"stack", "describe", "shop-staging"}, {"stack", "describe", "shop-pipeline"}, {"repo", "get", "shop"}, {"pipeline", "get", "shop"}} {
		if _, errs, err := s.cli(s.token, what...); err == nil || !strings.Contains(errs, "(not_found)") {
			t.Errorf("%s after the delete: %v %s", strings.Join(what, " "), err, errs)
		}
	}
	if got := answers(t, 1, m[1]+"/"); got["Hello from go-service 1.0.0"] != 0 {
		t.Errorf("staging still answers after the delete: %v", got)
	}
}
