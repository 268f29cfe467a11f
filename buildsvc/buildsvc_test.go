package buildsvc

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/build"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/repo"
	"github.com/slipway/slipway/secret"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func newService(t *testing.T, db *store.DB) *Service {
	t.Helper()
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	dir := t.TempDir()
	secrets, err := secret.NewService(db, make([]byte, 32))
	if err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.NewFS(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	return NewService(db, Config{Jobs: jobs.New(db, jobs.Options{Logger: log}), Repos: repo.NewService(db, filepath.Join(dir, "repos"), nil, log, nil),
		Secrets: secrets, Artifacts: arts, WorkDir: filepath.Join(dir, "builds"), Log: log})
}

func TestProjects_AreCreatedWithDefaultsListedFetchedAndDeleted(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		p, err := s.CreateProject(ctx, "p1", "web", Settings{Description: "d",
			Environment: Environment{Variables: []EnvVar{{Name: "A", Value: "1"}, {Name: "PW", Value: "db", Type: "SECRETS_MANAGER"}}}})
		if err != nil {
			t.Fatal(err)
		}
		if p.TimeoutInMinutes != 60 || p.Environment.ComputeType != "BUILD_GENERAL1_SMALL" || p.Cache.Type != "NO_CACHE" ||
			p.Environment.Variables[0].Type != "PLAINTEXT" {
			t.Fatalf("defaults: %+v", p)
		}
		if _, err := s.CreateProject(ctx, "p1", "web", Settings{}); !errors.Is(err, store.ErrConflict) {
			t.Fatalf("duplicate: %v", err)
		}
		got, err := s.GetProject(ctx, "p1", "web")
		if err != nil || got.Description != "d" || len(got.Environment.Variables) != 2 || got.Environment.Variables[1].Type != "SECRETS_MANAGER" {
			t.Fatalf("get: %+v %v", got, err)
		}
		if _, err := s.CreateProject(ctx, "p1", "api_2", Settings{TimeoutInMinutes: 5}); err != nil {
			t.Fatal(err)
		}
		ps, err := s.ListProjects(ctx, "p1")
		if err != nil || len(ps) != 2 || ps[0].Name != "api_2" || ps[1].Name != "web" {
			t.Fatalf("list: %+v %v", ps, err)
		}
		if err := s.DeleteProject(ctx, "p1", "web"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.GetProject(ctx, "p1", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("after delete: %v", err)
		}
		if err := s.DeleteProject(ctx, "p1", "web"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("delete again: %v", err)
		}
	})
}

func TestProjects_RefuseMalformedNamesAndSettings(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		bad := map[string]Settings{
			"p":                       {},
			"has space":               {},
			"dots.no":                 {},
			strings.Repeat("a", 256):  {},
			"short-timeout":           {TimeoutInMinutes: 4},
			"long-timeout":            {TimeoutInMinutes: 2161},
			"bad-compute":             {Environment: Environment{ComputeType: "HUGE"}},
			"bad-var-type":            {Environment: Environment{Variables: []EnvVar{{Name: "A", Type: "S3"}}}},
			"reserved-var":            {Environment: Environment{Variables: []EnvVar{{Name: "CODEBUILD_X"}}}},
			"twice":                   {Environment: Environment{Variables: []EnvVar{{Name: "A"}, {Name: "A"}}}},
			"bad-cache":               {Cache: Cache{Type: "S3"}},
			"escaping-buildspec-path": {Buildspec: "../../etc/passwd"},
		}
		for name, st := range bad {
			if _, err := s.CreateProject(ctx, "p1", name, st); !errors.Is(err, ErrInvalid) {
				t.Errorf("%.20s: got %v, want ErrInvalid", name, err)
			}
		}
		if ps, _ := s.ListProjects(ctx, "p1"); len(ps) != 0 {
			t.Fatalf("refused projects were stored: %+v", ps)
		}
	})
}

func TestStart_NumbersBuildsPerProjectAndEnqueuesTheirJobInTheSameTransaction(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		p, err := s.CreateProject(ctx, "p1", "web", Settings{})
		if err != nil {
			t.Fatal(err)
		}
		for _, bad := range []string{"app@-x", "app@a..b", "../x@main", "app@ref with space"} {
			if _, err := s.Start(ctx, p, bad, "alice"); !errors.Is(err, ErrInvalid) {
				t.Errorf("source %q: %v", bad, err)
			}
		}
		b1, err := s.Start(ctx, p, "app@main", "alice")
		if err != nil {
			t.Fatal(err)
		}
		b2, err := s.Start(ctx, p, "app", "alice")
		if err != nil {
			t.Fatal(err)
		}
		if b1.Number != 1 || b2.Number != 2 || !strings.HasPrefix(b1.ID, "web:") || b1.Status != build.InProgress {
			t.Fatalf("builds: %+v %+v", b1, b2)
		}
		j, err := s.cfg.Jobs.Get(ctx, b1.jobID)
		if err != nil || j.Kind != JobKind {
			t.Fatalf("job: %+v %v", j, err)
		}
		list, err := s.List(ctx, p, 0)
		if err != nil || len(list) != 2 || list[0].ID != b2.ID {
			t.Fatalf("list: %+v %v", list, err)
		}
		// Stopping a build whose job never started marks it STOPPED at once.
		got, err := s.Stop(ctx, "p1", b1.ID)
		if err != nil || got.Status != build.Stopped || got.EndedAt.IsZero() {
			t.Fatalf("stop: %+v %v", got, err)
		}
		if _, err := s.Get(ctx, "other", b1.ID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("another project's build: %v", err)
		}
	})
}

func TestRun_AJobRunAgainAfterACrashMarksTheBuildFaultInsteadOfRunningItTwice(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		p, _ := s.CreateProject(ctx, "p1", "web", Settings{})
		b, err := s.Start(ctx, p, "app@main", "alice")
		if err != nil {
			t.Fatal(err)
		}
		payload, _ := json.Marshal(jobPayload{BuildID: b.ID})
		if err := s.run(ctx, &jobs.Job{ID: b.jobID, Kind: JobKind, Payload: payload, Attempt: 2}); err != nil {
			t.Fatal(err)
		}
		got, _ := s.Get(ctx, "p1", b.ID)
		if got.Status != build.Fault {
			t.Fatalf("status %s", got.Status)
		}
		log, _, _ := s.Log(ctx, b.ID, 0, 1<<20)
		if !strings.Contains(string(log), "the server running the build stopped") {
			t.Fatalf("log: %q", log)
		}
		// A finished build's job does nothing.
		if err := s.run(ctx, &jobs.Job{ID: b.jobID, Kind: JobKind, Payload: payload, Attempt: 3}); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, "p1", b.ID); got.Status != build.Fault {
			t.Fatalf("status changed to %s", got.Status)
		}
	})
}

func TestLog_IsStoredInChunksAndReadFromAnyOffset(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		s := newService(t, db)
		p, _ := s.CreateProject(ctx, "p1", "web", Settings{})
		b, _ := s.Start(ctx, p, "app@main", "alice")
		w := newLogWriter(db, b.ID, s.cfg.Log)
		var want strings.Builder
		line := strings.Repeat("é log line ", 20) + "\n"
		for want.Len() < 3*chunkSize {
			want.WriteString(line)
			// Written a byte at a time at the ends, so chunks cut runes.
			if _, err := w.Write([]byte(line)); err != nil {
				t.Fatal(err)
			}
		}
		w.Write([]byte("bad \xff\x00 bytes\n"))
		w.Close()
		want.WriteString("bad \uFFFD\uFFFD bytes\n")
		var chunks int
		store.Scan(db.QueryRowContext(ctx, "SELECT COUNT(*) FROM build_logs WHERE build_id = ?", b.ID), &chunks)
		if chunks < 3 || chunks > 10 {
			t.Fatalf("%d chunks for %d bytes", chunks, want.Len())
		}
		all, next, err := s.Log(ctx, b.ID, 0, 1<<30)
		if err != nil || string(all) != want.String() || next != int64(len(all)) {
			t.Fatalf("whole log differs (%v): %d bytes, want %d", err, len(all), want.Len())
		}
		for _, off := range []int64{1, chunkSize - 1, chunkSize + 7, int64(len(all)) - 3, int64(len(all))} {
			part, next, err := s.Log(ctx, b.ID, off, 1<<30)
			if err != nil || string(part) != want.String()[off:] || next != int64(len(all)) {
				t.Fatalf("from %d: %v, %d bytes, next %d", off, err, len(part), next)
			}
		}
	})
}
