package repo

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/rand"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/events"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

var zeros = strings.Repeat("0", 40)

func TestValidateNameAcceptsPlainNamesAndRejectsEverythingElse(t *testing.T) {
	for _, tc := range []struct {
		name string
		ok   bool
	}{
		{"app", true},
		{"My_Repo-2.0", true},
		{".dotfiles", true},
		{"a", true},
		{strings.Repeat("x", 100), true},
		{"", false},
		{strings.Repeat("x", 101), false},
		{".", false},
		{"..", false},
		{"../x", false},
		{"a/../b", false},
		{"a..b", false},
		{"a/b", false},
		{`a\b`, false},
		{"/etc", false},
		{"x.git", false},
		{"x.GIT", false},
		{"with space", false},
		{"nul\x00", false},
		{"ünïcode", false},
		{"semi;colon", false},
	} {
		err := ValidateName(tc.name)
		if (err == nil) != tc.ok {
			t.Errorf("ValidateName(%q) = %v, want ok=%v", tc.name, err, tc.ok)
		}
		if err != nil && !strings.Contains(err.Error(), "letters, digits") {
			t.Errorf("ValidateName(%q) error does not say what is allowed: %v", tc.name, err)
		}
	}
}

func TestPathsThatWouldLeaveTheRootAreRefused(t *testing.T) {
	s := NewService(nil, t.TempDir(), nil, nil, nil)
	for _, rel := range []string{"", "../x.git", "a/../../x.git", "/etc/x.git", ".."} {
		if _, err := s.dir(rel); err == nil {
			t.Errorf("dir(%q) accepted", rel)
		}
	}
	for _, project := range []string{"", ".", "..", "a/b", `a\b`} {
		if _, err := relPath(project, "x"); err == nil {
			t.Errorf("relPath(%q, x) accepted", project)
		}
	}
	// A Repository whose stored path escapes is never served.
	rec := &responseRecorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "/x.git/info/refs?service=git-upload-pack", nil)
	s.ServeGit(rec, r, &Repository{ID: "x", path: "../../etc"}, "git-upload-pack", testPusher)
	if rec.status != http.StatusInternalServerError {
		t.Fatalf("status %d", rec.status)
	}
}

type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (r *responseRecorder) Header() http.Header { return r.header }
func (r *responseRecorder) Write(p []byte) (int, error) {
	if r.status == 0 {
		r.status = http.StatusOK
	}
	return r.body.Write(p)
}
func (r *responseRecorder) WriteHeader(code int) { r.status = code }

func TestCreateMakesAConfiguredBareRepositoryAndARow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		r := f.create(t, "app")
		got, err := f.svc.Get(context.Background(), f.projectID, "app")
		if err != nil || got.ID != r.ID || got.Name != "app" || got.ProjectID != f.projectID {
			t.Fatalf("Get: %+v %v", got, err)
		}
		dir := f.serverDir("app")
		if v := git(t, dir, "config", "--get", "uploadpack.allowFilter"); v != "true" {
			t.Errorf("uploadpack.allowFilter = %q", v)
		}
		if v := git(t, dir, "config", "--get", "uploadpack.allowAnySHA1InWant"); v != "false" {
			t.Errorf("uploadpack.allowAnySHA1InWant = %q", v)
		}
		if v := git(t, dir, "rev-parse", "--is-bare-repository"); v != "true" {
			t.Errorf("not bare: %q", v)
		}
		if _, err := os.Stat(filepath.Join(dir, "hooks")); err == nil {
			t.Error("hooks directory created: no templates wanted")
		}
		f.create(t, "lib")
		list, err := f.svc.List(context.Background(), f.projectID)
		if err != nil || len(list) != 2 || list[0].Name != "app" || list[1].Name != "lib" {
			t.Fatalf("List: %+v %v", list, err)
		}
		if _, err := f.svc.Get(context.Background(), f.projectID, "nope"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get missing: %v", err)
		}
		// No temporary directory is left behind.
		entries, _ := os.ReadDir(filepath.Join(f.root, f.projectName))
		for _, e := range entries {
			if !strings.HasSuffix(e.Name(), ".git") {
				t.Errorf("left behind: %s", e.Name())
			}
		}
	})
}

func TestCreatingAnExistingNameIsAConflict(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		f.create(t, "app")
		_, err := f.svc.Create(context.Background(), f.projectID, f.projectName, "app", "")
		if !errors.Is(err, store.ErrConflict) {
			t.Fatalf("second Create: %v", err)
		}
		if _, err := f.svc.Create(context.Background(), f.projectID, f.projectName, "../app", ""); err == nil {
			t.Fatal("Create accepted a traversal name")
		}
	})
}

func TestCreateAfterAFailedInitLeavesNoRowAndThenSucceeds(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		realGit := f.svc.git
		f.svc.git = "/bin/false"
		if _, err := f.svc.Create(context.Background(), f.projectID, f.projectName, "app", ""); err == nil {
			t.Fatal("Create succeeded with a failing git")
		}
		if _, err := f.svc.Get(context.Background(), f.projectID, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("row after failed create: %v", err)
		}
		if entries, _ := os.ReadDir(filepath.Join(f.root, f.projectName)); len(entries) != 0 {
			t.Fatalf("left on disk: %v", entries)
		}
		f.svc.git = realGit
		f.create(t, "app")
	})
}

func TestCreateWithADirectoryInTheWayLeavesNoRow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		stale := f.serverDir("app")
		if err := os.MkdirAll(filepath.Join(stale, "objects"), 0o700); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Create(context.Background(), f.projectID, f.projectName, "app", ""); err == nil {
			t.Fatal("Create succeeded over an existing directory")
		}
		if _, err := f.svc.Get(context.Background(), f.projectID, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("row after failed create: %v", err)
		}
		if _, err := os.Stat(filepath.Join(stale, "objects")); err != nil {
			t.Fatalf("the directory in the way was touched: %v", err)
		}
	})
}

// nextPush waits for a push event on the bus.
func nextPush(t *testing.T, ch <-chan events.Event) PushPayload {
	t.Helper()
	select {
	case ev := <-ch:
		var p PushPayload
		if err := json.Unmarshal(ev.Payload, &p); err != nil {
			t.Fatal(err)
		}
		return p
	case <-time.After(10 * time.Second):
		t.Fatal("no push event on the bus within 10s")
	}
	return PushPayload{}
}

func TestPushesRecordOneEventPerUpdatedRefAndClonesGetTheCommits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		r := f.create(t, "app")
		bus, cancel := f.bus.Subscribe(TopicPush)
		defer cancel()
		ctx := context.Background()

		work := clone(t, f.url("app"))
		c1 := commitFile(t, work, "README", "hello\n")
		git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")

		evs, err := f.svc.PushEvents(ctx, r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 1 {
			t.Fatalf("%d push events after the first push, want 1: %+v", len(evs), evs)
		}
		if e := evs[0]; e.Ref != "refs/heads/main" || e.OldCommit != zeros || e.NewCommit != c1 ||
			e.Pusher != testPusher || e.RepositoryID != r.ID || time.Since(e.At) > time.Minute {
			t.Fatalf("event %+v", e)
		}
		if p := nextPush(t, bus); p != (PushPayload{RepositoryID: r.ID, ProjectID: f.projectID, Repository: "app",
			Ref: "refs/heads/main", Old: zeros, New: c1, Pusher: testPusher}) {
			t.Fatalf("bus payload %+v", p)
		}

		back := clone(t, f.url("app"))
		if got := git(t, back, "rev-parse", "HEAD"); got != c1 {
			t.Fatalf("clone has %s, want %s", got, c1)
		}

		// Two branches in one push: two events.
		git(t, work, "branch", "feature")
		c2 := commitFile(t, work, "main.go", "package main\n")
		git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main", "feature:refs/heads/feature")
		evs, _ = f.svc.PushEvents(ctx, r.ID, 10)
		if len(evs) != 3 {
			t.Fatalf("%d push events after pushing two refs, want 3: %+v", len(evs), evs)
		}
		got := map[string]PushEvent{evs[0].Ref: evs[0], evs[1].Ref: evs[1]}
		if e := got["refs/heads/main"]; e.OldCommit != c1 || e.NewCommit != c2 {
			t.Fatalf("main event %+v", e)
		}
		if e := got["refs/heads/feature"]; e.OldCommit != zeros || e.NewCommit != c1 {
			t.Fatalf("feature event %+v", e)
		}
		if evs[2].NewCommit != c1 || evs[0].ID < evs[2].ID {
			t.Fatalf("not newest first: %+v", evs)
		}
		nextPush(t, bus)
		nextPush(t, bus)

		git(t, back, "fetch", "-q", "origin")
		if got := git(t, back, "rev-parse", "origin/main"); got != c2 {
			t.Fatalf("fetch got %s, want %s", got, c2)
		}

		// Deleting a branch: one event with new = zeros.
		git(t, work, "push", "-q", "origin", ":refs/heads/feature")
		evs, _ = f.svc.PushEvents(ctx, r.ID, 1)
		if len(evs) != 1 || evs[0].Ref != "refs/heads/feature" || evs[0].OldCommit != c1 || evs[0].NewCommit != zeros {
			t.Fatalf("delete event %+v", evs)
		}
		if p := nextPush(t, bus); p.New != zeros || p.Ref != "refs/heads/feature" {
			t.Fatalf("delete payload %+v", p)
		}

		// A push the server refuses (a non-fast-forward is refused by the
		// client here, a bad ref name by git) records nothing.
		if out, err := tryGit(work, nil, "push", "origin", "HEAD:refs/heads/bad..name"); err == nil {
			t.Fatalf("bad ref name accepted: %s", out)
		}
		// A forced non-fast-forward push is allowed and recorded once.
		git(t, work, "reset", "-q", "--hard", c1)
		git(t, work, "push", "-q", "--force", "origin", "HEAD:refs/heads/main")
		evs, _ = f.svc.PushEvents(ctx, r.ID, 0)
		if len(evs) != 5 || evs[0].OldCommit != c2 || evs[0].NewCommit != c1 {
			t.Fatalf("after forced push: %+v", evs)
		}
	})
}

func TestCloneWorksWithProtocolVersionsTwoAndZero(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	work := clone(t, f.url("app"))
	c1 := commitFile(t, work, "a.txt", "a\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")

	for _, v := range []string{"2", "0"} {
		dir := filepath.Join(t.TempDir(), "v"+v)
		out, err := tryGit(filepath.Dir(dir), gitEnv(dir, "GIT_TRACE_PACKET=1"),
			"-c", "protocol.version="+v, "clone", f.url("app"), dir)
		if err != nil {
			t.Fatalf("protocol v%s clone: %v\n%s", v, err, out)
		}
		if v2 := strings.Contains(out, "< version 2"); v2 != (v == "2") {
			t.Errorf("protocol v%s clone: server spoke version 2 = %v", v, v2)
		}
		if got := git(t, dir, "rev-parse", "HEAD"); got != c1 {
			t.Errorf("protocol v%s clone has %s", v, got)
		}
	}
	// A partial clone uses uploadpack.allowFilter.
	dir := filepath.Join(t.TempDir(), "partial")
	git(t, filepath.Dir(dir), "clone", "-q", "--filter=blob:none", f.url("app"), dir)
	if got := git(t, dir, "config", "remote.origin.partialclonefilter"); got != "blob:none" {
		t.Errorf("partial clone filter %q", got)
	}
}

func TestAGzipEncodedUploadPackRequestIsServed(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	work := clone(t, f.url("app"))
	c1 := commitFile(t, work, "a.txt", "a\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")

	// A protocol v0 negotiation: want the commit, have nothing, done.
	req := pktLine("want "+c1+" ofs-delta\n") + "0000" + pktLine("done\n")
	post := func(body []byte, gz bool) (int, []byte) {
		r, _ := http.NewRequest(http.MethodPost, f.url("app")+"/git-upload-pack", bytes.NewReader(body))
		r.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		if gz {
			r.Header.Set("Content-Encoding", "gzip")
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); resp.StatusCode == 200 && ct != "application/x-git-upload-pack-result" {
			t.Errorf("Content-Type %q", ct)
		}
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	var zipped bytes.Buffer
	zw := gzip.NewWriter(&zipped)
	zw.Write([]byte(req))
	zw.Close()

	status, gzBody := post(zipped.Bytes(), true)
	if status != 200 || !bytes.HasPrefix(gzBody, []byte("0008NAK\nPACK")) {
		t.Fatalf("gzip request: %d %.40q", status, gzBody)
	}
	status, plainBody := post([]byte(req), false)
	if status != 200 || !bytes.Equal(gzBody, plainBody) {
		t.Fatalf("plain request: %d, same answer as gzip: %v", status, bytes.Equal(gzBody, plainBody))
	}
	// A gzip header on a body that is not gzip is a bad request, not a git error.
	if status, _ := post([]byte(req), true); status != http.StatusBadRequest {
		t.Fatalf("bogus gzip: %d", status)
	}
}

func TestRequestsThatAreNotSmartHTTPAreRefused(t *testing.T) {
	get := func(target string) *http.Request {
		r, _ := http.NewRequest(http.MethodGet, "http://x/p/app.git"+target, nil)
		return r
	}
	post := func(target string) *http.Request {
		r, _ := http.NewRequest(http.MethodPost, "http://x/p/app.git"+target, nil)
		return r
	}
	for _, tc := range []struct {
		r       *http.Request
		subpath string
		want    string
	}{
		{get("/info/refs?service=git-upload-pack"), "/info/refs", "git-upload-pack"},
		{get("/info/refs?service=git-receive-pack"), "/info/refs", "git-receive-pack"},
		{post("/git-upload-pack"), "/git-upload-pack", "git-upload-pack"},
		{post("/git-receive-pack"), "/git-receive-pack", "git-receive-pack"},
		{get("/info/refs"), "/info/refs", ""}, // dumb HTTP
		{get("/HEAD"), "/HEAD", ""},
		{get("/objects/info/packs"), "/objects/info/packs", ""},
		{get("/info/refs?service=git-upload-archive"), "/info/refs", ""},
		{get("/git-upload-pack"), "/git-upload-pack", ""},
		{post("/info/refs?service=git-upload-pack"), "/info/refs", ""},
		{post("/git-upload-archive"), "/git-upload-archive", ""},
		{post("/../git-upload-pack"), "/../git-upload-pack", ""},
	} {
		got, ok := GitRequest(tc.r, tc.subpath)
		if got != tc.want || ok != (tc.want != "") {
			t.Errorf("%s %s: got %q %v, want %q", tc.r.Method, tc.r.URL, got, ok, tc.want)
		}
	}

	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	do := func(method, target, contentType string) int {
		r, _ := http.NewRequest(method, f.url("app")+target, strings.NewReader("0000"))
		if contentType != "" {
			r.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if got := do(http.MethodPost, "/git-upload-pack", "text/plain"); got != http.StatusUnsupportedMediaType {
		t.Errorf("wrong Content-Type: %d", got)
	}
	if got := do(http.MethodPost, "/git-receive-pack", "application/x-git-upload-pack-request"); got != http.StatusUnsupportedMediaType {
		t.Errorf("Content-Type of the other service: %d", got)
	}
	if got := do(http.MethodGet, "/info/refs", ""); got != http.StatusForbidden {
		t.Errorf("dumb HTTP: %d", got)
	}
	// ServeGit itself checks the service against the request.
	rp, _ := f.svc.Get(context.Background(), f.projectID, "app")
	rec := &responseRecorder{header: http.Header{}}
	r, _ := http.NewRequest(http.MethodGet, "/info/refs?service=git-upload-pack", nil)
	f.svc.ServeGit(rec, r, rp, "git-receive-pack", testPusher)
	if rec.status != http.StatusBadRequest {
		t.Errorf("mismatched service: %d", rec.status)
	}
}

func TestOnlyASafeGitProtocolHeaderReachesGit(t *testing.T) {
	for v, ok := range map[string]bool{
		"version=2":            true,
		"version=2:object=x1":  true,
		"":                     false,
		"version=2;rm":         false,
		"version=2\nX=1":       false,
		"version=":             false,
		"=2":                   false,
		"version=2:":           false,
		"GIT_DIR=/etc version": false,
	} {
		if safeProtocol(v) != ok {
			t.Errorf("safeProtocol(%q) = %v", v, !ok)
		}
	}
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	advertise := func(header string) string {
		r, _ := http.NewRequest(http.MethodGet, f.url("app")+"/info/refs?service=git-upload-pack", nil)
		r.Header.Set("Git-Protocol", header)
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if ct := resp.Header.Get("Content-Type"); ct != "application/x-git-upload-pack-advertisement" {
			t.Errorf("Content-Type %q", ct)
		}
		if cc := resp.Header.Get("Cache-Control"); !strings.Contains(cc, "no-cache") {
			t.Errorf("Cache-Control %q", cc)
		}
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	if got := advertise("version=2"); !strings.HasPrefix(got, "000eversion 2\n") {
		t.Errorf("v2 advertisement starts %.40q", got)
	}
	if got := advertise("version=2;x"); !strings.HasPrefix(got, "001e# service=git-upload-pack\n0000") {
		t.Errorf("unsafe header: advertisement starts %.40q", got)
	}
}

func TestConcurrentPushesToOneBranchLetExactlyOneWin(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		r := f.create(t, "app")
		seed := clone(t, f.url("app"))
		base := commitFile(t, seed, "base.txt", "base\n")
		git(t, seed, "push", "-q", "origin", "HEAD:refs/heads/main")

		a, b := clone(t, f.url("app")), clone(t, f.url("app"))
		ca := commitFile(t, a, "a.txt", "from a\n")
		cb := commitFile(t, b, "b.txt", "from b\n")

		// Both pushes reach git receive-pack together, each believing main
		// is at base: git's ref lock decides.
		arrived, gate := make(chan struct{}, 2), make(chan struct{})
		go func() {
			timeout := time.After(10 * time.Second)
			for range 2 {
				select {
				case <-arrived:
				case <-timeout:
				}
			}
			close(gate)
		}()
		f.mu.Lock()
		f.beforePush = func() { arrived <- struct{}{}; <-gate }
		f.mu.Unlock()

		type result struct {
			out string
			err error
		}
		var wg sync.WaitGroup
		results := make([]result, 2)
		for i, dir := range []string{a, b} {
			wg.Go(func() {
				out, err := tryGit(dir, nil, "push", "origin", "HEAD:refs/heads/main")
				results[i] = result{out, err}
			})
		}
		wg.Wait()
		winners := 0
		var winner string
		for i, res := range results {
			if res.err == nil {
				winners++
				winner = []string{ca, cb}[i]
			} else if !strings.Contains(res.out, "rejected") {
				t.Errorf("loser's push failed abnormally: %v\n%s", res.err, res.out)
			}
		}
		if winners != 1 {
			t.Fatalf("%d pushes won:\n%s\n---\n%s", winners, results[0].out, results[1].out)
		}
		dir := f.serverDir("app")
		if got := git(t, dir, "rev-parse", "refs/heads/main"); got != winner {
			t.Fatalf("main is %s, winner pushed %s", got, winner)
		}
		git(t, dir, "fsck", "--strict", "--no-progress")
		evs, err := f.svc.PushEvents(context.Background(), r.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(evs) != 2 || evs[0].OldCommit != base || evs[0].NewCommit != winner {
			t.Fatalf("push events %+v, want the seed push and exactly one winner", evs)
		}
	})
}

func TestDeleteRemovesTheRowTheDirectoryAndThePushEvents(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := newFixture(t, db, nil)
		r := f.create(t, "app")
		work := clone(t, f.url("app"))
		commitFile(t, work, "a.txt", "a\n")
		git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")

		ctx := context.Background()
		if err := f.svc.Delete(ctx, f.projectID, "app"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.Get(ctx, f.projectID, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("Get after delete: %v", err)
		}
		if entries, _ := os.ReadDir(filepath.Join(f.root, f.projectName)); len(entries) != 0 {
			t.Fatalf("left on disk: %v", entries)
		}
		if evs, _ := f.svc.PushEvents(ctx, r.ID, 0); len(evs) != 0 {
			t.Fatalf("push events survive: %+v", evs)
		}
		if err := f.svc.Delete(ctx, f.projectID, "app"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second Delete: %v", err)
		}
		// The name can be used again.
		f.create(t, "app")
	})
}

func TestMetricsCountGitOperationsAndPushEvents(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	f := newFixture(t, storetest.SQLite(t), m)
	f.create(t, "app")
	work := clone(t, f.url("app"))
	commitFile(t, work, "a.txt", "a\n")
	git(t, work, "branch", "b2")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main", "b2:refs/heads/b2")
	clone(t, f.url("app"))

	values, series := gather(t, reg)
	if got := values[`slipway_git_operations_total{outcome="ok",service="git-receive-pack"}`]; got != 1 {
		t.Errorf("receive-pack ok = %v, want 1", got)
	}
	if got := values[`slipway_git_operations_total{outcome="ok",service="git-upload-pack"}`]; got < 1 {
		t.Errorf("upload-pack ok = %v", got)
	}
	if got := values["slipway_push_events_total"]; got != 2 {
		t.Errorf("push events = %v, want 2", got)
	}
	if series != 9 {
		t.Errorf("gathered %d series, want 2 services x 4 outcomes + 1: %v", series, values)
	}
	var none *Metrics
	none.gitOp("git-upload-pack", "ok") // a nil *Metrics is valid
	none.pushed(1)
}

// gather reads every counter of reg as "name{label="value",...}" -> value.
func gather(t *testing.T, reg *prometheus.Registry) (map[string]float64, int) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, l.GetName()+`="`+l.GetValue()+`"`)
			}
			key := mf.GetName()
			if len(labels) > 0 {
				key += "{" + strings.Join(labels, ",") + "}"
			}
			out[key] = m.GetCounter().GetValue()
		}
	}
	return out, len(out)
}

func TestPushWatchReadsCommandsAndReportsSplitAnywhere(t *testing.T) {
	a, b := strings.Repeat("a", 40), strings.Repeat("b", 40)
	request := pktLine("shallow "+a+"\n") +
		pktLine(zeros+" "+a+" refs/heads/main\x00report-status side-band-64k agent=git/2\n") +
		pktLine(a+" "+b+" refs/heads/dev\n") +
		pktLine(b+" "+zeros+" refs/tags/old\n") +
		"0000" + "PACK\x00\x00\x00\x02 ...pack bytes, never parsed 0000"
	report := pktLine("unpack ok\n") + pktLine("ok refs/heads/main\n") +
		pktLine("ng refs/heads/dev failed to update ref\n") + "0000"
	var response string
	response += pktLine("\x02progress message\n")
	for i := 0; i < len(report); i += 7 { // the side band splits the report anywhere
		response += pktLine("\x01" + report[i:min(i+7, len(report))])
	}
	response += "0000"

	w := newPushWatch()
	in := w.request(iotest1(strings.NewReader(request)))
	got, err := io.ReadAll(in)
	if err != nil || string(got) != request {
		t.Fatalf("request not passed through: %v", err)
	}
	out := w.response()
	for i := range len(response) {
		out.Write([]byte{response[i]})
	}
	cmds, status, why := w.result()
	if why != "" {
		t.Fatal(why)
	}
	want := []command{{zeros, a, "refs/heads/main"}, {a, b, "refs/heads/dev"}, {b, zeros, "refs/tags/old"}}
	if len(cmds) != 3 || cmds[0] != want[0] || cmds[1] != want[1] || cmds[2] != want[2] {
		t.Fatalf("commands %+v", cmds)
	}
	if ok, seen := status["refs/heads/main"]; !ok || !seen {
		t.Errorf("main status %v %v", ok, seen)
	}
	if ok, seen := status["refs/heads/dev"]; ok || !seen {
		t.Errorf("dev status %v %v", ok, seen)
	}
	if _, seen := status["refs/tags/old"]; seen {
		t.Error("old reported")
	}

	bad := newPushWatch()
	io.ReadAll(bad.request(strings.NewReader(pktLine("nonsense\n") + "0000")))
	if _, _, why := bad.result(); why == "" {
		t.Error("malformed command accepted")
	}
	cut := newPushWatch()
	io.ReadAll(cut.request(strings.NewReader(pktLine(zeros + " " + a + " refs/heads/main\n"))))
	if _, _, why := cut.result(); why == "" {
		t.Error("a command list without its flush accepted")
	}
}

// iotest1 reads one byte at a time, like the worst network.
func iotest1(r io.Reader) io.Reader { return &oneByte{r} }

type oneByte struct{ r io.Reader }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	return o.r.Read(p[:1])
}

// TestAPushStreamsWithoutHoldingThePackInMemory pushes 24 MiB of random
// data: the server process may allocate only a small fraction of that.
func TestAPushStreamsWithoutHoldingThePackInMemory(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	r := f.create(t, "big")
	work := clone(t, f.url("big"))
	const size = 24 << 20
	data := make([]byte, size)
	rand.Read(data)
	if err := os.WriteFile(filepath.Join(work, "big.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}
	data = nil
	git(t, work, "add", "big.bin")
	git(t, work, "commit", "-q", "-m", "big")
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	runtime.ReadMemStats(&after)
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > size/4 {
		t.Fatalf("serving a %d MiB push allocated %d MiB", size>>20, alloc>>20)
	}
	if evs, _ := f.svc.PushEvents(context.Background(), r.ID, 0); len(evs) != 1 {
		t.Fatalf("push events %+v", evs)
	}
}

// TestUnreportedUpdatesCountWhenTheRefHoldsTheNewValue covers a response cut
// short before git's report: the refs themselves decide.
func TestUnreportedUpdatesCountWhenTheRefHoldsTheNewValue(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	r := f.create(t, "app")
	work := clone(t, f.url("app"))
	c1 := commitFile(t, work, "a.txt", "a\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	other := strings.Repeat("e", 40)

	w := newPushWatch()
	request := pktLine(zeros+" "+c1+" refs/heads/main\x00report-status\n") + // holds c1: applied
		pktLine(zeros+" "+other+" refs/heads/lost\n") + // absent: not applied
		pktLine(c1+" "+zeros+" refs/heads/gone\n") + // absent, a deletion: applied
		"0000"
	io.ReadAll(w.request(strings.NewReader(request)))
	rp, _ := f.svc.Get(context.Background(), f.projectID, "app")
	f.svc.recordPush(context.Background(), rp, f.serverDir("app"), "bob", w, true)

	evs, _ := f.svc.PushEvents(context.Background(), r.ID, 0)
	if len(evs) != 3 {
		t.Fatalf("push events %+v, want the real push and two found by reading refs", evs)
	}
	refs := map[string]bool{}
	for _, e := range evs[:2] {
		refs[e.Ref] = e.Pusher == "bob"
	}
	if !refs["refs/heads/main"] || !refs["refs/heads/gone"] {
		t.Fatalf("recorded %v", refs)
	}
}

func TestMaintainPacksLooseObjectsThatPushesLeft(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	dir := f.serverDir("app")
	if got := git(t, dir, "config", "--file", "config", "receive.autogc"); got != "false" {
		t.Fatalf("receive.autogc = %q: pushes would start gc themselves", got)
	}
	work := clone(t, f.url("app"))
	// gc --auto estimates loose objects from the objects/17 directory alone,
	// so push blobs whose ids start with 17, as a busy repository has.
	for i, n := 0, 0; n < 3; i++ {
		content := fmt.Sprintf("version %d\n", i)
		if sum := sha1.Sum([]byte(fmt.Sprintf("blob %d\x00%s", len(content), content))); sum[0] != 0x17 {
			continue
		}
		commitFile(t, work, fmt.Sprintf("f%d.txt", n), content)
		n++
	}
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	loose := func() string {
		for _, line := range strings.Split(git(t, dir, "count-objects", "-v"), "\n") {
			if v, ok := strings.CutPrefix(line, "count: "); ok {
				return v
			}
		}
		return ""
	}
	if loose() == "0" {
		t.Fatal("small pushes left no loose objects; the test proves nothing")
	}
	// Lower the threshold (6,700 by default) to what three such blobs pass.
	git(t, dir, "config", "--file", "config", "gc.auto", "256")
	if err := f.svc.Maintain(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := loose(); n != "0" {
		t.Fatalf("%s loose objects after Maintain", n)
	}
	git(t, dir, "fsck", "--strict")
}

func TestUploadPackOverPlainHTTPHandsTheConnectionToGit(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	f.create(t, "app")
	work := clone(t, f.url("app"))
	c1 := commitFile(t, work, "a.txt", "a\n")
	git(t, work, "push", "-q", "origin", "HEAD:refs/heads/main")
	post := func(body io.Reader) *http.Response {
		r, _ := http.NewRequest(http.MethodPost, f.url("app")+"/git-upload-pack", body)
		r.Header.Set("Content-Type", "application/x-git-upload-pack-request")
		resp, err := http.DefaultClient.Do(r)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { resp.Body.Close() })
		return resp
	}
	resp := post(strings.NewReader(pktLine("want "+c1+" ofs-delta\n") + "0000" + pktLine("done\n")))
	b, _ := io.ReadAll(resp.Body)
	// The pack is delimited by the connection closing: git wrote it straight
	// to the socket, with no chunked framing from the server in between.
	if resp.StatusCode != 200 || !resp.Close || len(resp.TransferEncoding) != 0 || !bytes.HasPrefix(b, []byte("0008NAK\nPACK")) {
		t.Fatalf("status %d, close %v, transfer encoding %v, body %.20q", resp.StatusCode, resp.Close, resp.TransferEncoding, b)
	}
	// A negotiation far larger than git ever sends is refused, not buffered.
	huge := io.MultiReader(strings.NewReader(pktLine("want "+c1+"\n")), io.LimitReader(zeroReader{}, maxDirectRequest+1))
	if resp := post(huge); resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized request: %d", resp.StatusCode)
	}
}

type zeroReader struct{}

func (zeroReader) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

func TestMaintainSettlesDeletesACrashInterrupted(t *testing.T) {
	f := newFixture(t, storetest.SQLite(t), nil)
	ctx := context.Background()
	kept := f.create(t, "kept")
	gone := f.create(t, "gone")
	// A crash after moving "kept" aside but before deleting its row...
	keptAside := filepath.Join(f.root, f.projectName, ".deleted-"+kept.ID)
	if err := os.Rename(f.serverDir("kept"), keptAside); err != nil {
		t.Fatal(err)
	}
	// ...and one after deleting the row of "gone" but before removing it.
	goneAside := filepath.Join(f.root, f.projectName, ".deleted-"+gone.ID)
	if err := os.Rename(f.serverDir("gone"), goneAside); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.ExecContext(ctx, "DELETE FROM repositories WHERE id = ?", gone.ID); err != nil {
		t.Fatal(err)
	}
	if err := f.svc.Maintain(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(f.serverDir("kept"), "HEAD")); err != nil {
		t.Fatalf("kept repository not restored: %v", err)
	}
	for _, p := range []string{keptAside, goneAside} {
		if _, err := os.Stat(p); !errors.Is(err, fs.ErrNotExist) {
			t.Errorf("%s still on disk: %v", p, err)
		}
	}
	clone(t, f.url("kept"))
}
