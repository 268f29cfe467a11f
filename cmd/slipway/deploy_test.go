package main

import (
	"archive/zip"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/client"
)

func discardLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestParseTags(t *testing.T) {
	for _, c := range []struct {
		words []string
		want  map[string]string
	}{
		{[]string{""}, map[string]string{}},
		{[]string{"env=prod,role=web"}, map[string]string{"env": "prod", "role": "web"}},
		{[]string{" env = prod , ", "role=", "team=a=b"}, map[string]string{"env": "prod", "role": "", "team": "a=b"}},
	} {
		got, err := parseTags(c.words...)
		if err != nil || !reflect.DeepEqual(got, c.want) {
			t.Errorf("parseTags(%q) = %v, %v; want %v", c.words, got, err, c.want)
		}
	}
	for words, want := range map[string]string{"env": "write KEY=VALUE", "=prod": "write KEY=VALUE", "env=a,env=b": "env is given twice"} {
		if _, err := parseTags(words); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("parseTags(%q) = %v, want %q", words, err, want)
		}
	}
}

func TestClassifyRevision_TellsDigestsDirectoriesAndArchives(t *testing.T) {
	dir := t.TempDir()
	var zipped bytes.Buffer
	zw := zip.NewWriter(&zipped)
	_, _ = zw.Create("appspec.yml")
	_ = zw.Close()
	var gz bytes.Buffer
	gw := gzip.NewWriter(&gz)
	_, _ = gw.Write([]byte("tar would be here"))
	_ = gw.Close()
	zipFile := writeFile(t, dir, "app.zip", zipped.String())
	tgzFile := writeFile(t, dir, "app.tgz", gz.String())
	textFile := writeFile(t, dir, "notes.txt", "not an archive")
	for arg, want := range map[string]revisionKind{"sha256:" + strings.Repeat("ab", 32): revisionDigest, dir: revisionDir, zipFile: revisionFile, textFile: revisionFile} {
		if got, err := classifyRevision(arg); err != nil || got != want {
			t.Errorf("classifyRevision(%s) = %v, %v; want %v", arg, got, err, want)
		}
	}
	if _, err := classifyRevision(filepath.Join(dir, "nosuch")); err == nil || !strings.Contains(err.Error(), "no such file or directory; give a zip, tar or tgz file") {
		t.Errorf("a missing path: %v", err)
	}
	for file, want := range map[string]string{zipFile: "application/zip", tgzFile: "application/gzip", textFile: ""} {
		f, err := os.Open(file)
		if err != nil {
			t.Fatal(err)
		}
		got, err := archiveContentType(f)
		f.Close()
		if got != want || (want == "") != (err != nil) {
			t.Errorf("archiveContentType(%s) = %q, %v; want %q", file, got, err, want)
		}
	}
}

// deployServer is a fake API for deploy create --wait: it takes one
// revision upload (kept in uploaded), one deployment, and answers the
// deployment as it goes from InProgress to ended, status after two reads.
func deployServer(t *testing.T, status string, uploaded *[]byte) *httptest.Server {
	t.Helper()
	var mu sync.Mutex
	reads := 0
	start := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		const base = "/api/v1/projects/default"
		ended := reads >= 2
		switch {
		case r.Method == "POST" && r.URL.Path == base+"/applications/shop/revisions":
			if r.Header.Get("Content-Type") != "application/zip" {
				t.Errorf("revision sent as %s", r.Header.Get("Content-Type"))
			}
			*uploaded, _ = io.ReadAll(r.Body)
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"digest": "sha256:abc", "size": 10, "bundle_type": "zip"}`))
		case r.Method == "POST" && r.URL.Path == base+"/deployments":
			var in client.CreateDeploymentInput
			if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Revision != "sha256:abc" || in.AutoRollback == nil || in.AutoRollback.Enabled {
				t.Errorf("create deployment: %+v %v", in, err)
			}
			w.WriteHeader(201)
			_, _ = w.Write([]byte(`{"id": "d-ONE", "status": "Created"}`))
		case r.Method == "GET" && r.URL.Path == base+"/deployments/d-ONE":
			reads++
			d := client.Deployment{ID: "d-ONE", Status: "InProgress"}
			if ended {
				d.Status = status
				if status == "Failed" {
					d.ErrorCode, d.ErrorMessage = "HEALTH_CONSTRAINTS", "too many instances failed"
					d.Rollback.RollbackDeploymentID = "d-TWO"
				}
			}
			_ = json.NewEncoder(w).Encode(d)
		case r.Method == "GET" && r.URL.Path == base+"/deployments/d-ONE/instances":
			e := client.LifecycleEvent{Name: "BeforeInstall", Status: "InProgress", StartedAt: start}
			if ended {
				e.Status, e.EndedAt = status, start.Add(1500*time.Millisecond)
				if status == "Failed" {
					e.Diagnostics = &client.AgentDiagnostics{ErrorCode: "ScriptFailed", Message: "Script at specified location: install.sh run as user root failed with exit code 1"}
				}
			}
			_ = json.NewEncoder(w).Encode([]client.DeploymentTarget{{InstanceID: "mi-1", Status: e.Status,
				Events: []client.LifecycleEvent{{Name: "ApplicationStop", Status: "Succeeded", StartedAt: start, EndedAt: start}, e}}})
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestDeployCreate_UploadsADirectoryAndFollowsTheDeployment(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "appspec.yml", "version: 0.0\nos: linux\n")
	writeFile(t, dir, "index.html", "hello\n")
	if err := os.MkdirAll(filepath.Join(dir, ".git"), 0o755); err != nil {
		t.Fatal(err)
	}
	writeFile(t, dir, ".git/config", "secret\n")
	var uploaded []byte
	srv := deployServer(t, "Succeeded", &uploaded)
	out, err := run(t, "deploy", "create", "shop", "prod", "--revision", dir, "--no-rollback", "--wait", "--url", srv.URL, "--token", "t")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	zr, err := zip.NewReader(bytes.NewReader(uploaded), int64(len(uploaded)))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range zr.File {
		names = append(names, f.Name)
	}
	if !slices.Equal(names, []string{"appspec.yml", "index.html"}) {
		t.Errorf("uploaded %v", names)
	}
	// One line per event as its status changes, Pending aside.
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{"mi-1 ApplicationStop Succeeded", "mi-1 BeforeInstall InProgress", "mi-1 BeforeInstall Succeeded 2s",
		"Deployment d-ONE Succeeded"} {
		if !strings.Contains(words, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Count(out, "ApplicationStop") != 1 {
		t.Errorf("an unchanged event printed twice:\n%s", out)
	}
}

func TestDeployCreate_AFailedDeploymentSaysWhyAndExitsNonZero(t *testing.T) {
	dir := t.TempDir()
	writeFile(t, dir, "appspec.yml", "version: 0.0\nos: linux\n")
	var uploaded []byte
	srv := deployServer(t, "Failed", &uploaded)
	out, err := run(t, "deploy", "create", "shop", "prod", "--revision", dir, "--no-rollback", "--wait", "--url", srv.URL, "--token", "t")
	var ee *exitError
	if !errors.As(err, &ee) || ee.code != 1 {
		t.Fatalf("want an exit status of 1, got %v\n%s", err, out)
	}
	for _, want := range []string{"install.sh run as user root failed with exit code 1", "HEALTH_CONSTRAINTS: too many instances failed", "Rollback started: d-TWO"} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if _, err := run(t, "deploy", "create", "shop", "prod", "--revision", t.TempDir(), "--url", srv.URL, "--token", "t"); err == nil ||
		!strings.Contains(err.Error(), "no appspec.yml at its root") {
		t.Errorf("a directory without appspec.yml: %v", err)
	}
}

func TestLogs_ADeploymentNeedsAnInstanceAndSaysWhichThereAre(t *testing.T) {
	for id, want := range map[string]bool{"d-AB12CD34E": true, "d-web:3": false, "web:3": false} {
		if isDeploymentID(id) != want {
			t.Errorf("isDeploymentID(%q) = %v", id, !want)
		}
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/projects/default/deployments/d-ONE/instances" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		_, _ = w.Write([]byte(`[{"instance_id": "mi-1"}, {"instance_id": "i-2"}]`))
	}))
	defer srv.Close()
	_, err := run(t, "logs", "d-ONE", "--url", srv.URL, "--token", "t")
	if err == nil || !strings.Contains(err.Error(), "give --instance INSTANCE, one of mi-1, i-2") {
		t.Errorf("logs without --instance: %v", err)
	}
}

func TestAgent_RegistersWithAUserTokenOnceAndKeepsTheCredential(t *testing.T) {
	registered := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != "POST" || r.URL.Path != "/api/v1/projects/ops/on-premises-instances" || r.Header.Get("Authorization") != "Bearer user-token" {
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
		var in struct {
			Name string
			Tags map[string]string
		}
		if err := json.NewDecoder(r.Body).Decode(&in); err != nil || in.Name != "web-1" || in.Tags["role"] != "web" {
			t.Errorf("registration %+v %v", in, err)
		}
		registered++
		w.WriteHeader(201)
		_, _ = w.Write([]byte(`{"host": {"id": "mi-1", "name": "web-1", "tags": {"role": "web"}}, "token": "swa_secret"}`))
	}))
	defer srv.Close()
	dir := t.TempDir()
	h := &hostAgent{server: srv.URL, token: "user-token", project: "ops", name: "web-1", tags: map[string]string{"role": "web"},
		dataDir: dir, log: discardLog()}
	for range 2 {
		c, err := h.connect(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if c.Token != "swa_secret" || c.BaseURL != srv.URL {
			t.Errorf("client %s with %q", c.BaseURL, c.Token)
		}
	}
	if registered != 1 {
		t.Errorf("registered %d times", registered)
	}
	fi, err := os.Stat(filepath.Join(dir, "agent.json"))
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("agent.json: %v %v", fi, err)
	}
	// A later start needs neither the token nor the server.
	h = &hostAgent{dataDir: dir, log: discardLog()}
	if c, err := h.connect(context.Background()); err != nil || c.Token != "swa_secret" || c.BaseURL != srv.URL {
		t.Errorf("from the saved credential: %v", err)
	}
}

func TestAgentServer_PermanentAnswersRefusalsAndLongLogs(t *testing.T) {
	var mu sync.Mutex
	var logged []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fail := func(status int) {
			w.WriteHeader(status)
			_, _ = w.Write([]byte(`{"error": {"code": "x", "message": "refused"}}`))
		}
		switch r.URL.Path {
		case "/api/v1/agent/commands/c-gone/ack":
			fail(404)
		case "/api/v1/agent/commands/c-ended/complete":
			fail(409)
		case "/api/v1/agent/commands/c-busy/ack":
			fail(503)
		case "/api/v1/agent/commands/c-1/log":
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			logged = append(logged, string(b))
			mu.Unlock()
			w.WriteHeader(204)
		case "/api/v1/agent/commands":
			fail(401)
		default:
			t.Errorf("unexpected request %s %s", r.Method, r.URL)
		}
	}))
	defer srv.Close()
	ctx, stop := context.WithCancelCause(context.Background())
	defer stop(nil)
	s := &agentServer{c: client.New(srv.URL, "swa_x"), refused: stop}
	if _, err := s.Ack(ctx, "c-gone"); !agent.IsPermanent(err) {
		t.Errorf("a command gone: %v", err)
	}
	if err := s.Complete(ctx, "c-ended", agent.CommandSucceeded, agent.Diagnostics{}); !agent.IsPermanent(err) {
		t.Errorf("a command ended: %v", err)
	}
	if _, err := s.Ack(ctx, "c-busy"); err == nil || agent.IsPermanent(err) {
		t.Errorf("a server busy: %v", err)
	}
	// Twice maxLogChunk bytes and one: the cuts fall inside runes.
	text := "!" + strings.Repeat("é", maxLogChunk)
	if err := s.Log(ctx, "c-1", text); err != nil {
		t.Fatal(err)
	}
	if len(logged) != 3 || strings.Join(logged, "") != text {
		t.Errorf("log sent in %d pieces", len(logged))
	}
	for _, piece := range logged {
		if len(piece) > maxLogChunk || !utf8.ValidString(piece) {
			t.Errorf("a piece of %d bytes, valid UTF-8 %v", len(piece), utf8.ValidString(piece))
		}
	}
	if _, err := s.Poll(ctx, 0); err == nil || ctx.Err() == nil {
		t.Fatalf("a refused credential did not stop the agent: %v", err)
	}
	var refused *refusedError
	if !errors.As(context.Cause(ctx), &refused) || !strings.Contains(refused.Error(), "the host was revoked") {
		t.Errorf("cause %v", context.Cause(ctx))
	}
}
