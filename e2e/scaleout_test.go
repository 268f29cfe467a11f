package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/slipway/slipway/store/storetest"
)

// TestScaleOut_TwoServersShareOnePostgreSQL starts two server processes at
// once on one PostgreSQL database and one data directory, as a company past
// one machine runs them, and uses them interchangeably.
func TestScaleOut_TwoServersShareOnePostgreSQL(t *testing.T) {
	if testing.Short() {
		t.Skip("starts PostgreSQL and two servers")
	}
	dsn := storetest.PostgresDSN(t)
	data := t.TempDir()
	servers := make([]*server, 2)
	var wg sync.WaitGroup
	for i := range servers {
		servers[i] = &server{t: t, data: data, addr: freeAddr(t), extra: []string{"--database", dsn}}
		servers[i].url = "http://" + servers[i].addr
		wg.Add(1)
		// Both migrate and bootstrap at the same moment.
		go func(s *server) { defer wg.Done(); s.start() }(servers[i])
	}
	wg.Wait()
	for _, s := range servers {
		t.Cleanup(s.stop)
	}
	a, b := servers[0], servers[1]
	if strings.Contains(a.log.String()+b.log.String(), dsn) {
		t.Fatal("the database URL appears in a server log")
	}
	token := a.token // both read the same admin-token file

	a.mustCLI(token, nil, "repo", "create", "shared")
	work := t.TempDir()
	mustGit(t, work, "clone", "-q", b.gitURL(token, "shared.git"), "w")
	dir := filepath.Join(work, "w")
	if err := os.WriteFile(filepath.Join(dir, "x"), []byte("x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustGit(t, dir, "add", ".")
	mustGit(t, dir, "commit", "-q", "-m", "through b")
	mustGit(t, dir, "push", "-q", "origin", "HEAD:refs/heads/main")
	mustGit(t, dir, "commit", "-q", "--allow-empty", "-m", "through a")
	mustGit(t, dir, "push", "-q", a.gitURL(token, "shared.git"), "HEAD:refs/heads/main")

	for _, s := range servers {
		var evs []pushEvent
		s.mustCLI(token, &evs, "repo", "events", "shared")
		if len(evs) != 2 {
			t.Fatalf("%s sees %d push events, want 2: %+v", s.url, len(evs), evs)
		}
	}
	// Periodic housekeeping ran once per interval across both processes.
	waitFor(t, "housekeeping on one of the servers", func() bool {
		return strings.Contains(a.metrics(token)+b.metrics(token), `slipway_jobs_outcomes_total{kind="repo.maintain",outcome="completed"} 1`)
	})
	both := a.metrics(token) + b.metrics(token)
	if n := strings.Count(both, `slipway_jobs_outcomes_total{kind="repo.maintain",outcome="completed"}`); n != 1 {
		t.Fatalf("repo.maintain ran in %d processes, want exactly one", n)
	}
}
