package deploy

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/agent"
	"github.com/slipway/slipway/artifact"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

const project = "p1"

// testEnv is a deployment service with its job engine, and real agents for
// on-premises hosts, each with its own deployment root and install prefix.
type testEnv struct {
	t     *testing.T
	s     *Service
	db    *store.DB
	dir   string
	ctx   context.Context
	hosts []*testHost
}

type testHost struct {
	h      *Host
	root   string // the agent's deployment root
	prefix string // where the revision's destinations are installed
	trace  string // every hook appends a line here
	env    []string
	stop   context.CancelFunc
	done   chan struct{}
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func newEnv(t *testing.T, db *store.DB, hosts int) *testEnv {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	dir := t.TempDir()
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 1)", project, project); err != nil {
		t.Fatal(err)
	}
	arts, err := artifact.NewFS(filepath.Join(dir, "artifacts"))
	if err != nil {
		t.Fatal(err)
	}
	eng := jobs.New(db, jobs.Options{Logger: quiet()})
	s := New(Config{DB: db, Jobs: eng, Artifacts: arts, Log: quiet(), AgentTimeout: 2 * time.Second})
	var wg sync.WaitGroup
	wg.Go(func() { _ = eng.Run(ctx) })
	wg.Go(func() { _ = s.Run(ctx) })
	e := &testEnv{t: t, s: s, db: db, dir: dir, ctx: ctx}
	t.Cleanup(func() {
		for _, h := range e.hosts {
			h.stop()
			<-h.done
		}
		cancel()
		wg.Wait()
	})
	if _, err := s.CreateApplication(ctx, project, "app", ""); err != nil {
		t.Fatal(err)
	}
	for i := range hosts {
		h, _, err := s.RegisterHost(ctx, project, fmt.Sprintf("host%d", i), map[string]string{"env": "test"}, "tester")
		if err != nil {
			t.Fatal(err)
		}
		th := &testHost{h: h, root: filepath.Join(dir, h.Name, "deployment-root"), prefix: filepath.Join(dir, h.Name, "fs"),
			trace: filepath.Join(dir, h.Name, "trace")}
		th.env = append(os.Environ(), "TRACE="+th.trace, "PREFIX="+th.prefix, "HOST="+h.Name)
		e.hosts = append(e.hosts, th)
		e.startAgent(th)
	}
	return e
}

func (e *testEnv) startAgent(h *testHost) {
	ctx, stop := context.WithCancel(e.ctx)
	h.stop, h.done = stop, make(chan struct{})
	layout := agent.Layout{Root: h.root}
	a := &agent.Agent{Server: e.s.AgentServer(h.h.ID), Layout: layout, Installer: &agent.Installer{Layout: layout, Prefix: h.prefix},
		Runner: &agent.Runner{Env: h.env, KillGrace: 100 * time.Millisecond}, Log: quiet(), PollWait: time.Second, Heartbeat: 200 * time.Millisecond}
	go func() {
		defer close(h.done)
		_ = a.Run(ctx)
	}()
}

func (e *testEnv) group(name, config string) *Group {
	e.t.Helper()
	g, err := e.s.CreateGroup(e.ctx, project, "app", name, "", GroupSpec{Config: config,
		TagFilters:   []TagFilter{{Key: "env", Value: "test"}},
		AutoRollback: AutoRollback{Enabled: true, Events: []string{RollbackOnFailure}}})
	if err != nil {
		e.t.Fatal(err)
	}
	return g
}

// revision makes a tgz revision of version v: its appspec installs
// app/ to /opt/app, and each hook appends "EVENT v DEPLOYMENT" to $TRACE.
// validate is ValidateService's script body.
func (e *testEnv) revision(v, validate string, extra map[string]string) string {
	e.t.Helper()
	files := map[string]string{
		"appspec.yml": `version: 0.0
os: linux
files:
  - source: /app
    destination: /opt/app
hooks:
  ApplicationStop:
    - location: scripts/hook.sh
  BeforeInstall:
    - location: scripts/hook.sh
  AfterInstall:
    - location: scripts/hook.sh
  ApplicationStart:
    - location: scripts/start.sh
      timeout: 60
  ValidateService:
    - location: scripts/validate.sh
`,
		"scripts/hook.sh":     "#!/bin/sh\necho \"$LIFECYCLE_EVENT " + v + " $DEPLOYMENT_ID\" >> \"$TRACE\"\necho \"hook $LIFECYCLE_EVENT of " + v + "\"\n",
		"scripts/start.sh":    "echo \"$LIFECYCLE_EVENT " + v + " $DEPLOYMENT_ID\" >> \"$TRACE\"\n",
		"scripts/validate.sh": "echo \"$LIFECYCLE_EVENT " + v + " $DEPLOYMENT_ID\" >> \"$TRACE\"\necho validating " + v + "\n" + validate + "\n",
		"app/version.txt":     v,
	}
	for k, val := range extra {
		files[k] = val
	}
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	names := slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	})
	for _, name := range names {
		mode := int64(0o644)
		if strings.HasSuffix(name, ".sh") {
			mode = 0o755
		}
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: mode, Size: int64(len(files[name])), Typeflag: tar.TypeReg}); err != nil {
			e.t.Fatal(err)
		}
		_, _ = tw.Write([]byte(files[name]))
	}
	_ = tw.Close()
	_ = gz.Close()
	ri, err := e.s.RegisterRevision(e.ctx, project, "app", &buf, v)
	if err != nil {
		e.t.Fatal(err)
	}
	if ri.BundleType != "tgz" {
		e.t.Fatalf("bundle type %s, want tgz", ri.BundleType)
	}
	return ri.Digest
}

func (e *testEnv) deploy(group, digest string) *Deployment {
	e.t.Helper()
	d, err := e.s.Create(e.ctx, project, CreateInput{Application: "app", Group: group, Digest: digest, CreatedBy: "tester"})
	if err != nil {
		e.t.Fatal(err)
	}
	return e.wait(d.ID)
}

func (e *testEnv) wait(id string) *Deployment {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(e.ctx, 60*time.Second)
	defer cancel()
	d, err := e.s.Wait(ctx, project, id)
	if err != nil {
		e.t.Fatalf("deployment %s did not end: %v", id, err)
	}
	return d
}

func (e *testEnv) targets(id string) []*Target {
	e.t.Helper()
	ts, err := e.s.Targets(e.ctx, project, id)
	if err != nil {
		e.t.Fatal(err)
	}
	return ts
}

func (h *testHost) installed(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(h.prefix, "opt/app/version.txt"))
	if err != nil {
		return "(nothing installed: " + err.Error() + ")"
	}
	return string(b)
}

func eventNames(t *Target) []string {
	var out []string
	for _, e := range t.Events {
		out = append(out, e.Name+":"+e.Status)
	}
	return out
}

func TestDeployment_OneAtATimeRunsTheHooksInOrderOnEachHost(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := newEnv(t, db, 2)
		e.group("staging", "")
		v1 := e.revision("v1", "grep -q v1 \"$PREFIX/opt/app/version.txt\"", map[string]string{"app/old.txt": "only in v1"})
		d := e.deploy("staging", v1)
		if d.Status != Succeeded {
			t.Fatalf("deployment %s ended %s %s: %s", d.ID, d.Status, d.ErrorCode, d.ErrorMessage)
		}
		if d.Overview.Succeeded != 2 || d.Config != OneAtATime || d.Creator != CreatorUser {
			t.Errorf("overview %+v config %s creator %s", d.Overview, d.Config, d.Creator)
		}
		ts := e.targets(d.ID)
		want := []string{"ApplicationStop:Skipped", "DownloadBundle:Succeeded", "BeforeInstall:Succeeded", "Install:Succeeded",
			"AfterInstall:Succeeded", "ApplicationStart:Succeeded", "ValidateService:Succeeded"}
		for _, tg := range ts {
			if got := eventNames(tg); !slices.Equal(got, want) {
				t.Errorf("instance %s events:\n got %v\nwant %v", tg.InstanceID, got, want)
			}
		}
		// One at a time: the second host starts after the first ended.
		if len(ts) == 2 && ts[1].StartedAt.Before(ts[0].EndedAt) {
			t.Errorf("second instance started at %v, before the first ended at %v", ts[1].StartedAt, ts[0].EndedAt)
		}
		for _, h := range e.hosts {
			if got := h.installed(t); got != "v1" {
				t.Errorf("%s has %q installed, want v1", h.h.Name, got)
			}
			trace, _ := os.ReadFile(h.trace)
			wantTrace := fmt.Sprintf("BeforeInstall v1 %[1]s\nAfterInstall v1 %[1]s\nApplicationStart v1 %[1]s\nValidateService v1 %[1]s\n", d.ID)
			if string(trace) != wantTrace {
				t.Errorf("%s hooks ran:\n%s\nwant:\n%s", h.h.Name, trace, wantTrace)
			}
		}
		logs, err := e.s.Logs(e.ctx, project, d.ID, e.hosts[0].h.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		var text strings.Builder
		for _, c := range logs {
			text.WriteString(c.Text)
		}
		if !strings.Contains(text.String(), "[stdout]validating v1") && !strings.Contains(text.String(), "validating v1") {
			t.Errorf("the instance's log lacks the ValidateService output:\n%s", text.String())
		}
		g, err := e.s.Group(e.ctx, project, "app", "staging")
		if err != nil {
			t.Fatal(err)
		}
		if g.TargetRevision == nil || g.TargetRevision.Digest != v1 || g.LastSuccess != d.ID {
			t.Errorf("group revision %+v last success %s, want %s from %s", g.TargetRevision, g.LastSuccess, v1, d.ID)
		}

		// The second deployment stops the first revision with its own
		// script, and removes what only it installed.
		v2 := e.revision("v2", "grep -q v2 \"$PREFIX/opt/app/version.txt\"", nil)
		d2 := e.deploy("staging", v2)
		if d2.Status != Succeeded {
			t.Fatalf("second deployment ended %s: %s", d2.Status, d2.ErrorMessage)
		}
		for _, h := range e.hosts {
			if got := h.installed(t); got != "v2" {
				t.Errorf("%s has %q installed, want v2", h.h.Name, got)
			}
			if _, err := os.Stat(filepath.Join(h.prefix, "opt/app/old.txt")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("%s still has v1's old.txt (err %v)", h.h.Name, err)
			}
			trace, _ := os.ReadFile(h.trace)
			if !strings.Contains(string(trace), "ApplicationStop v1 "+d2.ID) {
				t.Errorf("%s: ApplicationStop of the second deployment did not run v1's script:\n%s", h.h.Name, trace)
			}
		}
	})
}

func TestDeployment_AFailedValidationRollsBackToThePreviousRevision(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), 2)
	e.group("staging", "")
	v1 := e.revision("v1", "true", nil)
	if d := e.deploy("staging", v1); d.Status != Succeeded {
		t.Fatalf("first deployment ended %s: %s", d.Status, d.ErrorMessage)
	}
	bad := e.revision("bad", "echo the service does not answer >&2; exit 3", nil)
	d := e.deploy("staging", bad)
	if d.Status != Failed || d.ErrorCode != ErrHealthConstraints {
		t.Fatalf("deployment ended %s %s, want Failed HEALTH_CONSTRAINTS", d.Status, d.ErrorCode)
	}
	ts := e.targets(d.ID)
	if ts[0].Status != Failed || ts[1].Status != Skipped {
		t.Errorf("instances %s, %s; want Failed, Skipped", ts[0].Status, ts[1].Status)
	}
	last := ts[0].Events[len(ts[0].Events)-1]
	if last.Name != "ValidateService" || last.Status != Failed || last.Diagnostics == nil ||
		last.Diagnostics.ErrorCode != "ScriptFailed" || !strings.Contains(last.Diagnostics.LogTail, "does not answer") {
		t.Errorf("ValidateService: %+v %+v", last, last.Diagnostics)
	}
	if !strings.Contains(d.ErrorMessage, "ValidateService") {
		t.Errorf("error message does not name the failed event: %s", d.ErrorMessage)
	}
	rb := d.Rollback.RollbackDeploymentID
	if rb == "" {
		t.Fatalf("no rollback: %+v", d.Rollback)
	}
	r := e.wait(rb)
	if r.Status != Succeeded || r.Creator != CreatorRollback || r.Rollback.RollbackTriggeringDeploymentID != d.ID || r.Revision.Digest != v1 {
		t.Errorf("rollback %s: status %s creator %s info %+v revision %s", r.ID, r.Status, r.Creator, r.Rollback, r.Revision.Digest)
	}
	for _, h := range e.hosts {
		if got := h.installed(t); got != "v1" {
			t.Errorf("after the rollback %s has %q installed, want v1", h.h.Name, got)
		}
	}
	list, err := e.s.List(e.ctx, project, "app", "staging", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 3 || list[0].ID != rb {
		t.Errorf("deployments listed: %d, newest %s; want 3 with the rollback first", len(list), list[0].ID)
	}
}

func TestDeployment_HalfAtATimeFailingOnTwoOfFourRollsBack(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), 4)
	for _, h := range e.hosts[:2] {
		h.env = append(h.env, "BROKEN=1")
		h.stop()
		<-h.done
		e.startAgent(h)
	}
	e.group("production", HalfAtATime)
	v1 := e.revision("v1", "true", nil)
	if d := e.deploy("production", v1); d.Status != Succeeded {
		t.Fatalf("first deployment ended %s: %s", d.Status, d.ErrorMessage)
	}
	bad := e.revision("v2", `test -z "$BROKEN"`, nil)
	d := e.deploy("production", bad)
	if d.Status != Failed || d.ErrorCode != ErrHealthConstraints {
		t.Fatalf("deployment ended %s %s (%s), want Failed HEALTH_CONSTRAINTS", d.Status, d.ErrorCode, d.ErrorMessage)
	}
	var statuses []string
	for _, tg := range e.targets(d.ID) {
		statuses = append(statuses, tg.Status)
	}
	if !slices.Equal(statuses, []string{Failed, Failed, Skipped, Skipped}) {
		t.Errorf("instances %v: the first batch of two fails and the rest is not touched", statuses)
	}
	r := e.wait(d.Rollback.RollbackDeploymentID)
	if r.Status != Succeeded {
		t.Fatalf("rollback ended %s: %s", r.Status, r.ErrorMessage)
	}
	for _, h := range e.hosts {
		if got := h.installed(t); got != "v1" {
			t.Errorf("after the rollback %s has %q installed, want v1", h.h.Name, got)
		}
	}
}

func TestDeployment_AKilledAgentFailsItsInstanceAndTheMinimumDecides(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), 3)
	e.group("all", AllAtOnce)
	slow := e.revision("v1", "true", map[string]string{
		"scripts/start.sh": "echo \"$LIFECYCLE_EVENT v1 $DEPLOYMENT_ID\" >> \"$TRACE\"\nif [ \"$HOST\" = host0 ]; then sleep 30; fi\n"})
	d, err := e.s.Create(e.ctx, project, CreateInput{Application: "app", Group: "all", Digest: slow})
	if err != nil {
		t.Fatal(err)
	}
	// Kill host0's agent while its ApplicationStart runs.
	for {
		b, _ := os.ReadFile(e.hosts[0].trace)
		if strings.Contains(string(b), "ApplicationStart") {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	e.hosts[0].stop()
	<-e.hosts[0].done
	d = e.wait(d.ID)
	if d.Status != Succeeded {
		t.Fatalf("deployment ended %s: %s; all at once needs one success", d.Status, d.ErrorMessage)
	}
	ts := e.targets(d.ID)
	byID := map[string]*Target{}
	for _, tg := range ts {
		byID[tg.InstanceID] = tg
	}
	lost := byID[e.hosts[0].h.ID]
	if lost.Status != Failed {
		t.Fatalf("the killed agent's instance ended %s", lost.Status)
	}
	var msg string
	for _, ev := range lost.Events {
		if ev.Status == Failed && ev.Diagnostics != nil {
			msg = ev.Name + ": " + ev.Diagnostics.Message
		}
	}
	if !strings.Contains(msg, "ApplicationStart") || !strings.Contains(msg, "agent") {
		t.Errorf("failure of the killed agent's instance: %q", msg)
	}
	for _, h := range e.hosts[1:] {
		if byID[h.h.ID].Status != Succeeded {
			t.Errorf("%s ended %s", h.h.Name, byID[h.h.ID].Status)
		}
	}
	// Restarted, the agent reports nothing twice and takes new work.
	e.startAgent(e.hosts[0])
	v2 := e.revision("v2", "true", nil)
	if d := e.deploy("all", v2); d.Status != Succeeded || d.Overview.Succeeded != 3 {
		t.Errorf("deployment after the agent's restart ended %s with %+v: %s", d.Status, d.Overview, d.ErrorMessage)
	}
}

func TestDeployment_OneActivePerGroupAndStop(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), 1)
	e.group("g", "")
	slow := e.revision("v1", "true", map[string]string{"scripts/start.sh": "sleep 30\n"})
	d, err := e.s.Create(e.ctx, project, CreateInput{Application: "app", Group: "g", Digest: slow})
	if err != nil {
		t.Fatal(err)
	}
	_, err = e.s.Create(e.ctx, project, CreateInput{Application: "app", Group: "g", Digest: slow})
	if !errors.Is(err, ErrActive) || !strings.Contains(err.Error(), d.ID) {
		t.Fatalf("a second deployment: %v, want ErrActive naming %s", err, d.ID)
	}
	if _, err := e.s.Stop(e.ctx, project, d.ID, false); err != nil {
		t.Fatal(err)
	}
	// The hook under way finishes or is taken for lost; the deployment
	// ends Stopped either way, and the group is free again.
	e.hosts[0].stop()
	<-e.hosts[0].done
	d = e.wait(d.ID)
	if d.Status != Stopped || d.ErrorCode != ErrManualStop {
		t.Fatalf("stopped deployment ended %s %s", d.Status, d.ErrorCode)
	}
	e.startAgent(e.hosts[0])
	ok := e.revision("v2", "true", nil)
	if d := e.deploy("g", ok); d.Status != Succeeded {
		t.Errorf("deployment after the stop ended %s: %s", d.Status, d.ErrorMessage)
	}
}

func TestDeployment_RefusesUnknownRevisionsAndEmptyGroups(t *testing.T) {
	e := newEnv(t, storetest.SQLite(t), 0)
	e.group("g", "")
	_, err := e.s.Create(e.ctx, project, CreateInput{Application: "app", Group: "g", Digest: "sha256:" + strings.Repeat("a", 64)})
	if !errors.Is(err, store.ErrNotFound) || !strings.Contains(err.Error(), "register it first") {
		t.Errorf("unknown digest: %v", err)
	}
	v1 := e.revision("v1", "true", nil)
	d := e.deploy("g", v1)
	if d.Status != Failed || d.ErrorCode != ErrNoInstances || !strings.Contains(d.ErrorMessage, "tag filters") {
		t.Errorf("deployment to no instance: %s %s %s", d.Status, d.ErrorCode, d.ErrorMessage)
	}
	if _, err := e.s.RegisterRevision(e.ctx, project, "app", strings.NewReader("not an archive at all"), ""); err == nil {
		t.Error("a revision that is no archive was registered")
	}
}

// BenchmarkCommandDelivery measures how long a command takes to reach an
// idle agent waiting in a long poll (the goal: p50 under 10 ms).
func BenchmarkCommandDelivery(b *testing.B) {
	db := storetest.SQLite(b)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, 1)", project, project); err != nil {
		b.Fatal(err)
	}
	arts, err := artifact.NewFS(b.TempDir())
	if err != nil {
		b.Fatal(err)
	}
	s := New(Config{DB: db, Artifacts: arts, Log: quiet(), AgentTimeout: time.Minute})
	if _, err := s.CreateApplication(ctx, project, "app", ""); err != nil {
		b.Fatal(err)
	}
	h, _, err := s.RegisterHost(ctx, project, "idle", map[string]string{"env": "b"}, "bench")
	if err != nil {
		b.Fatal(err)
	}
	g, err := s.CreateGroup(ctx, project, "app", "g", "", GroupSpec{TagFilters: []TagFilter{{Key: "env", Value: "b"}}})
	if err != nil {
		b.Fatal(err)
	}
	ri, err := s.RegisterRevision(ctx, project, "app", bytes.NewReader(tgzOf(b)), "")
	if err != nil {
		b.Fatal(err)
	}
	d, err := s.Create(ctx, project, CreateInput{Application: "app", Group: "g", Digest: ri.Digest})
	if err != nil {
		b.Fatal(err)
	}
	got := make(chan time.Time)
	pctx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		for pctx.Err() == nil {
			if c, _ := s.Poll(pctx, h.ID, 10*time.Second); c != nil {
				got <- time.Now()
			}
		}
	}()
	var lat []time.Duration
	b.ResetTimer()
	for i := range b.N {
		time.Sleep(2 * time.Millisecond) // the agent is idle, waiting
		start := time.Now()
		if _, err := s.command(ctx, d, g, h.ID, fmt.Sprintf("Event%d", i)); err != nil {
			b.Fatal(err)
		}
		lat = append(lat, (<-got).Sub(start))
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
}

func tgzOf(t testing.TB) []byte {
	var buf bytes.Buffer
	gz := gzip.NewWriter(&buf)
	tw := tar.NewWriter(gz)
	body := "version: 0.0\nos: linux\n"
	if err := tw.WriteHeader(&tar.Header{Name: "appspec.yml", Mode: 0o644, Size: int64(len(body))}); err != nil {
		t.Fatal(err)
	}
	_, _ = tw.Write([]byte(body))
	_ = tw.Close()
	_ = gz.Close()
	return buf.Bytes()
}
