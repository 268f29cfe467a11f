package repo

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const testPusher = "alice"

// fixture is one project on a Service served over real HTTP by a small mux
// standing in for the real (authenticating) router.
type fixture struct {
	db          *store.DB
	svc         *Service
	bus         *events.Bus
	srv         *httptest.Server
	root        string
	projectID   string
	projectName string

	mu         sync.Mutex
	beforePush func() // called before each POST git-receive-pack is served
}

func newFixture(tb testing.TB, db *store.DB, m *Metrics) *fixture {
	tb.Helper()
	log := slog.New(slog.NewTextHandler(tb.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
	f := &fixture{db: db, root: filepath.Join(tb.TempDir(), "repos"), projectID: store.NewID(), projectName: "acme"}
	if _, err := db.ExecContext(context.Background(),
		"INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)",
		f.projectID, f.projectName, store.Millis(time.Now())); err != nil {
		tb.Fatal(err)
	}
	f.bus = events.New(db, log)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- f.bus.Run(ctx) }()
	tb.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			tb.Errorf("bus: %v", err)
		}
	})
	<-f.bus.Ready()
	f.svc = NewService(db, f.root, f.bus, log, m)

	mux := http.NewServeMux()
	mux.HandleFunc("/{project}/{repo}/{rest...}", func(w http.ResponseWriter, r *http.Request) {
		name, ok := strings.CutSuffix(r.PathValue("repo"), ".git")
		if !ok || r.PathValue("project") != f.projectName {
			http.NotFound(w, r)
			return
		}
		service, ok := GitRequest(r, "/"+r.PathValue("rest"))
		if !ok {
			http.Error(w, "not a smart HTTP request", http.StatusForbidden)
			return
		}
		rp, err := f.svc.Get(r.Context(), f.projectID, name)
		if err != nil {
			http.NotFound(w, r)
			return
		}
		if r.Method == http.MethodPost && service == "git-receive-pack" {
			f.mu.Lock()
			hook := f.beforePush
			f.mu.Unlock()
			if hook != nil {
				hook()
			}
		}
		f.svc.ServeGit(w, r, rp, service, testPusher)
	})
	f.srv = httptest.NewServer(mux)
	tb.Cleanup(f.srv.Close)
	return f
}

func (f *fixture) url(name string) string {
	return f.srv.URL + "/" + f.projectName + "/" + name + ".git"
}

func (f *fixture) create(tb testing.TB, name string) *Repository {
	tb.Helper()
	r, err := f.svc.Create(context.Background(), f.projectID, f.projectName, name, "")
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

func (f *fixture) serverDir(name string) string {
	return filepath.Join(f.root, f.projectName, name+".git")
}

// gitEnv is a hermetic environment for the git client.
func gitEnv(home string, extra ...string) []string {
	return append([]string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + home,
		"GIT_CONFIG_GLOBAL=/dev/null",
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_CONFIG_COUNT=1",
		"GIT_CONFIG_KEY_0=init.defaultBranch",
		"GIT_CONFIG_VALUE_0=main",
		"GIT_AUTHOR_NAME=Test Author",
		"GIT_AUTHOR_EMAIL=author@example.com",
		"GIT_COMMITTER_NAME=Test Committer",
		"GIT_COMMITTER_EMAIL=committer@example.com",
		"GIT_TERMINAL_PROMPT=0",
		"LC_ALL=C",
	}, extra...)
}

// tryGit runs the git client in dir and returns its combined output.
func tryGit(dir string, env []string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	if env == nil {
		env = gitEnv(dir)
	}
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func git(tb testing.TB, dir string, args ...string) string {
	tb.Helper()
	out, err := tryGit(dir, nil, args...)
	if err != nil {
		tb.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(out)
}

// commitFile writes a file in the work tree dir and commits it.
func commitFile(tb testing.TB, dir, name, content string) string {
	tb.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
		tb.Fatal(err)
	}
	git(tb, dir, "add", name)
	git(tb, dir, "commit", "-q", "-m", "change "+name)
	return git(tb, dir, "rev-parse", "HEAD")
}

// clone clones url into a new temp directory and returns it.
func clone(tb testing.TB, url string, args ...string) string {
	tb.Helper()
	dir := filepath.Join(tb.TempDir(), "work")
	git(tb, filepath.Dir(dir), append(append([]string{"clone", "-q"}, args...), url, dir)...)
	return dir
}
