package stacksvc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/stack"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// note is a test resource: a named value kept in memory, idempotent by
// token, so the tests can see what exists.
type note struct {
	mu      sync.Mutex
	live    map[string]string // physical ID → value
	byToken map[string]string
}

func (n *note) Schema() stack.Schema {
	return stack.Schema{Properties: map[string]stack.Property{"Text": {Required: true}, "Key": {Update: stack.Replace}}, Attributes: []string{"Text"}}
}

func (n *note) Create(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	text := fmt.Sprint(r.Properties["Text"])
	if text == "fail" {
		return nil, errors.New("cannot create a note saying fail")
	}
	id, ok := n.byToken[r.Token]
	if !ok {
		id = fmt.Sprintf("%s-%s-%d", r.StackName, r.Logical, len(n.byToken)+1)
		n.byToken[r.Token] = id
	}
	n.live[id] = text
	return &stack.Outcome{PhysicalID: id, Attrs: map[string]any{"Text": text}}, nil
}

func (n *note) Update(_ context.Context, r *stack.Request) (*stack.Outcome, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.live[r.PhysicalID] = fmt.Sprint(r.Properties["Text"])
	return &stack.Outcome{Attrs: map[string]any{"Text": r.Properties["Text"]}}, nil
}

func (n *note) Delete(_ context.Context, r *stack.Request) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.live, r.PhysicalID)
	return nil
}

type fixture struct {
	s     *Service
	notes *note
	pr    Project
}

func setup(t *testing.T, db *store.DB) *fixture {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	if _, err := db.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES ('p1', 'p1', 1)"); err != nil {
		t.Fatal(err)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	engine := jobs.New(db, jobs.Options{Logger: log, PollInterval: 50 * time.Millisecond})
	notes := &note{live: map[string]string{}, byToken: map[string]string{}}
	reg := stack.NewRegistry()
	reg.Register("Custom::Note", notes)
	s := New(db, Config{Jobs: engine, Engine: &stack.Engine{Registry: reg}, Log: log, SignalPoll: 20 * time.Millisecond})
	s.Register(engine)
	done := make(chan struct{})
	go func() { defer close(done); _ = engine.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done })
	return &fixture{s: s, notes: notes, pr: Project{ID: "p1", Name: "p1"}}
}

// settle waits for a stack's operation to end and returns the stack.
func (f *fixture) settle(t *testing.T, name string) *Stack {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		st, err := f.s.Get(context.Background(), f.pr.ID, name)
		if errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			t.Fatal(err)
		}
		if !stack.InProgress(st.Status) {
			return st
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("stack %s did not settle", name)
	return nil
}

func (f *fixture) deploy(t *testing.T, name, body string, params map[string]string) *Stack {
	t.Helper()
	if _, err := f.s.Deploy(context.Background(), f.pr, name, Input{TemplateName: name + ".yml", Template: body, Parameters: params}); err != nil {
		t.Fatal(err)
	}
	return f.settle(t, name)
}

const exporter = `
Parameters:
  Text: {Type: String, Default: hello}
  Password: {Type: String, NoEcho: true, Default: s3cret}
Resources:
  N:
    Type: Custom::Note
    Properties: {Text: !Ref Text}
Outputs:
  Id:
    Value: !Ref N
    Export: {Name: shared-note}
`

const importer = `
Resources:
  M:
    Type: Custom::Note
    Properties: {Text: !ImportValue shared-note}
`

func TestDeploy_CreatesUpdatesAndDeletesAStackThroughItsJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		st := f.deploy(t, "app", exporter, nil)
		if st.Status != stack.CreateComplete {
			t.Fatalf("status %s %s", st.Status, st.StatusReason)
		}
		if len(st.Outputs) != 1 || st.Outputs[0].Value != "app-N-1" || st.Outputs[0].ExportName != "shared-note" {
			t.Fatalf("outputs %+v", st.Outputs)
		}
		for _, p := range st.Parameters {
			if p.Key == "Password" && p.Value != "****" {
				t.Fatalf("a NoEcho parameter is shown: %+v", p)
			}
		}
		if _, err := f.s.Deploy(ctx, f.pr, "app", Input{TemplateName: "app.yml", Template: exporter}); !errors.Is(err, ErrNoUpdates) {
			t.Fatalf("same template again: %v", err)
		}
		st = f.deploy(t, "app", exporter, map[string]string{"Text": "bye"})
		if st.Status != stack.UpdateComplete || f.notes.live["app-N-1"] != "bye" {
			t.Fatalf("update: %s %v", st.Status, f.notes.live)
		}
		res, err := f.s.Resources(ctx, st.ID)
		if err != nil || len(res) != 1 || res[0].Status != stack.UpdateComplete {
			t.Fatalf("resources %+v %v", res, err)
		}
		evs, err := f.s.Events(ctx, st.ID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		var seen []string
		for _, e := range evs {
			seen = append(seen, e.Logical+":"+e.Status)
		}
		want := "app:CREATE_IN_PROGRESS N:CREATE_IN_PROGRESS N:CREATE_COMPLETE app:CREATE_COMPLETE app:UPDATE_IN_PROGRESS N:UPDATE_IN_PROGRESS N:UPDATE_COMPLETE app:UPDATE_COMPLETE_CLEANUP_IN_PROGRESS app:UPDATE_COMPLETE"
		if strings.Join(seen, " ") != want {
			t.Fatalf("events\n%s\nwant\n%s", strings.Join(seen, " "), want)
		}
		if _, err := f.s.Delete(ctx, f.pr, "app"); err != nil {
			t.Fatal(err)
		}
		if st := f.settle(t, "app"); st != nil {
			t.Fatalf("after delete: %+v", st)
		}
		if len(f.notes.live) != 0 {
			t.Fatalf("left behind: %v", f.notes.live)
		}
	})
}

func TestExports_AreImportedAndLockedWhileInUse(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.deploy(t, "base", exporter, nil)
		use := f.deploy(t, "user", importer, nil)
		if use.Status != stack.CreateComplete || f.notes.live["user-M-2"] != "base-N-1" {
			t.Fatalf("import: %s %s %v", use.Status, use.StatusReason, f.notes.live)
		}
		if _, err := f.s.Delete(ctx, f.pr, "base"); err == nil || !strings.Contains(err.Error(), "Export shared-note cannot be deleted as it is in use by user") {
			t.Fatalf("delete of an exporter in use: %v", err)
		}
		// Replacing N changes the export's value: the update rolls back.
		changed := strings.Replace(exporter, "Properties: {Text: !Ref Text}", "Properties: {Text: !Ref Text, Key: k2}", 1)
		st := f.deploy(t, "base", changed, nil)
		if st.Status != stack.UpdateRollbackComplete {
			t.Fatalf("status %s", st.Status)
		}
		evs, _ := f.s.Events(ctx, st.ID, 0, 0)
		found := false
		for _, e := range evs {
			found = found || strings.Contains(e.Reason, "Export shared-note cannot be updated as it is in use by user")
		}
		if !found {
			t.Fatalf("no event says why: %+v", evs)
		}
		exps, err := f.s.Exports(ctx, f.pr.ID)
		if err != nil || len(exps) != 1 || exps[0].Value != "base-N-1" || exps[0].Importers[0] != "user" {
			t.Fatalf("exports %+v %v", exps, err)
		}
		// A second stack exporting the same name fails and rolls back.
		other := f.deploy(t, "other", exporter, nil)
		if other.Status != stack.RollbackComplete {
			t.Fatalf("duplicate export: %s", other.Status)
		}
		if _, err := f.s.Deploy(ctx, f.pr, "other", Input{Template: importer}); err == nil || !strings.Contains(err.Error(), "ROLLBACK_COMPLETE state and can not be updated") {
			t.Fatalf("update of a ROLLBACK_COMPLETE stack: %v", err)
		}
		// A missing export fails the create.
		missing := f.deploy(t, "lost", strings.Replace(importer, "shared-note", "nope", 1), nil)
		if missing.Status != stack.RollbackComplete || !strings.Contains(missing.StatusReason, "No export named nope found") {
			t.Fatalf("missing export: %s %q", missing.Status, missing.StatusReason)
		}
	})
}

func TestSignals_ACreationPolicyWaitsForThem(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		body := "Resources:\n  G:\n    Type: Custom::Note\n    CreationPolicy:\n      ResourceSignal: {Count: 2, Timeout: PT1M}\n    Properties: {Text: g}\n"
		for _, c := range []struct {
			name, second, want string
		}{{"ok", "SUCCESS", stack.CreateComplete}, {"bad", "FAILURE", stack.RollbackComplete}} {
			if _, err := f.s.Deploy(ctx, f.pr, c.name, Input{Template: body}); err != nil {
				t.Fatal(err)
			}
			// Signals can only be sent once the resource exists.
			for {
				err := f.s.Signal(ctx, f.pr.ID, c.name, "G", "SUCCESS", "i-1")
				if err == nil {
					break
				}
				if !errors.Is(err, store.ErrNotFound) {
					t.Fatal(err)
				}
				time.Sleep(10 * time.Millisecond)
			}
			if err := f.s.Signal(ctx, f.pr.ID, c.name, "G", c.second, "i-2"); err != nil {
				t.Fatal(err)
			}
			st := f.settle(t, c.name)
			if st.Status != c.want {
				t.Fatalf("%s: %s %s", c.name, st.Status, st.StatusReason)
			}
			if c.second == "FAILURE" && !strings.Contains(st.StatusReason, "Received FAILURE signal with UniqueId i-2") {
				t.Fatalf("reason %q", st.StatusReason)
			}
		}
	})
}

func TestChangeSets_ArePlannedKeptExecutedAndEmptyOnesFail(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		cs, err := f.s.CreateChangeSet(ctx, f.pr, "cs", "first", Input{Template: exporter})
		if err != nil {
			t.Fatal(err)
		}
		if cs.Type != "CREATE" || len(cs.Changes) != 1 || cs.Changes[0].Action != "Add" || cs.ExecutionStatus != ExecAvailable {
			t.Fatalf("change set %+v", cs)
		}
		st, err := f.s.Get(ctx, f.pr.ID, "cs")
		if err != nil || st.Status != stack.ReviewInProgress {
			t.Fatalf("stack shell: %+v %v", st, err)
		}
		if _, err := f.s.ExecuteChangeSet(ctx, f.pr, "cs", "first"); err != nil {
			t.Fatal(err)
		}
		if st := f.settle(t, "cs"); st.Status != stack.CreateComplete {
			t.Fatalf("status %s", st.Status)
		}
		empty, err := f.s.CreateChangeSet(ctx, f.pr, "cs", "again", Input{Template: exporter})
		if err != nil {
			t.Fatal(err)
		}
		if empty.Status != ChangeSetFailed || empty.StatusReason != emptyChangeSetText {
			t.Fatalf("empty change set %+v", empty)
		}
		if _, err := f.s.ExecuteChangeSet(ctx, f.pr, "cs", "again"); !errors.Is(err, ErrState) {
			t.Fatalf("executing an empty change set: %v", err)
		}
		mod, err := f.s.CreateChangeSet(ctx, f.pr, "cs", "modify", Input{Template: exporter, Parameters: map[string]string{"Text": "new"}})
		if err != nil || len(mod.Changes) != 1 || mod.Changes[0].Action != "Modify" || mod.Changes[0].Replacement != "False" {
			t.Fatalf("modify %+v %v", mod, err)
		}
		if err := f.s.DeleteChangeSet(ctx, f.pr.ID, "cs", "modify"); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.ChangeSet(ctx, f.pr.ID, "cs", "modify"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("deleted change set: %v", err)
		}
	})
}

func TestDeploy_RefusesBadTemplatesAndUnknownTypesBeforeAnyJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		_, err := f.s.Deploy(ctx, f.pr, "x", Input{TemplateName: "x.yml", Template: "Resources:\n  A:\n    Type: AWS::Lambda::Function\n"})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "Unrecognized resource types: [AWS::Lambda::Function]") ||
			!strings.Contains(err.Error(), "Custom::Note") {
			t.Fatalf("unknown type: %v", err)
		}
		_, err = f.s.Deploy(ctx, f.pr, "x", Input{TemplateName: "x.yml", Template: "Resources:\n  A:\n    Type: Custom::Note\n    Properties: {Text: !Ref Nope}\n"})
		if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "x.yml:4:") {
			t.Fatalf("bad ref: %v", err)
		}
		if _, err := f.s.Deploy(ctx, f.pr, "9bad", Input{Template: exporter}); !errors.Is(err, ErrInvalid) {
			t.Fatalf("bad name: %v", err)
		}
		if _, err := f.s.Get(ctx, f.pr.ID, "x"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("a refused deploy made a stack: %v", err)
		}
	})
}
