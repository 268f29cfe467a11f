package pipelinesvc

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/slipway/slipway/buildsvc"
	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/pipeline"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestControl_RetryAFailedStageStopAndDisabledTransitions(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		if _, err := f.repos.Create(ctx, "p1", "p1", "app", ""); err != nil {
			t.Fatal(err)
		}
		failing := buildsvc.Settings{Environment: buildsvc.Environment{Variables: []buildsvc.EnvVar{{Name: "FAIL", Value: "1"}}}}
		if _, err := f.builds.CreateProject(ctx, "p1", "app-build", failing); err != nil {
			t.Fatal(err)
		}
		f.commit(t, "app", map[string]string{"buildspec.yml": strings.Replace(buildspecOK, "cat version.txt", `test "$FAIL" != 1`, 1)})
		p := f.create(t, declaration)

		// A build that fails, then passes once the project is fixed: the
		// retry runs the failed action again on the same execution.
		x, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e := f.waitFor(t, x.ID, "failed", ended)
		if e.Status != Failed || e.Stage != "Build" {
			t.Fatalf("%s at %s: %s", e.Status, e.Stage, e.Reason)
		}
		if _, err := f.s.Retry(ctx, p, x.ID, "Source", ""); err == nil {
			t.Fatal("a stage that did not fail was retried")
		}
		if _, err := f.builds.UpdateProject(ctx, "p1", "app-build", buildsvc.Settings{}); err != nil {
			t.Fatal(err)
		}
		if _, err := f.s.Retry(ctx, p, x.ID, "Build", RetryFailedActions); err != nil {
			t.Fatal(err)
		}
		e = f.waitFor(t, x.ID, "reached the approval after the retry", atGate)
		if b := latest(e.Actions, "Build")["Build"]; b.Attempt != 2 || b.Status != Succeeded {
			t.Fatalf("build attempt %+v", b)
		}
		if s := latest(e.Actions, "Source")["App"]; s.Attempt != 1 {
			t.Fatalf("the source ran again: %+v", s)
		}

		// Stop while it waits for the approval: the approval is abandoned.
		if _, err := f.s.Stop(ctx, p, x.ID, false, "not this one"); err != nil {
			t.Fatal(err)
		}
		e = f.waitFor(t, x.ID, "stopped", ended)
		if e.Status != Stopped || latest(e.Actions, "Approve")["Gate"].Status != Abandoned {
			t.Fatalf("stopped: %s %+v", e.Status, latest(e.Actions, "Approve"))
		}

		// A disabled transition holds the next execution in front of the stage.
		if err := f.s.SetTransition(ctx, p, "Approve", false, "freeze"); err != nil {
			t.Fatal(err)
		}
		y, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		f.waitFor(t, y.ID, "waited at the disabled transition", func(e *Execution) bool { return e.Waiting && e.Stage == "Approve" })
		if err := f.s.SetTransition(ctx, p, "Approve", true, ""); err != nil {
			t.Fatal(err)
		}
		f.waitFor(t, y.ID, "reached the approval once enabled", atGate)
		if _, err := f.s.Stop(ctx, p, y.ID, true, ""); err != nil {
			t.Fatal(err)
		}
		if e := f.waitFor(t, y.ID, "stopped", ended); e.Status != Stopped {
			t.Fatalf("abandoned: %s", e.Status)
		}
	})
}

func TestApprovals_AnApprovalNobodyDecidesTimesOutAndFailsTheExecution(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		f := setup(t, db)
		ctx := context.Background()
		f.s.cfg.Providers = map[string]ActionProvider{pipeline.CodeCommit: noop{}}
		p := f.create(t, `
Name: slow
RoleArn: arn:aws:iam::000000000000:role/pipeline
ArtifactStore: {Type: S3, Location: artifacts}
Stages:
  - Name: Source
    Actions:
      - Name: App
        ActionTypeId: {Category: Source, Owner: AWS, Provider: CodeCommit, Version: "1"}
        Configuration: {RepositoryName: app, BranchName: main}
        OutputArtifacts: [{Name: Src}]
  - Name: Approve
    Actions:
      - Name: Gate
        ActionTypeId: {Category: Approval, Owner: AWS, Provider: Manual, Version: "1"}
        TimeoutInMinutes: 5
`)
		x, err := f.s.Start(ctx, p, Trigger{Type: TriggerManual, By: "alice"}, "")
		if err != nil {
			t.Fatal(err)
		}
		e := f.waitFor(t, x.ID, "reached the approval", atGate)
		gate := latest(e.Actions, "Approve")["Gate"]
		// The timeout job is due in five minutes; run it now, as the job
		// engine will then.
		var runAt int64
		var payload string
		if err := db.QueryRowContext(ctx, `SELECT run_at, payload FROM jobs WHERE kind = ?`, approvalTimeoutJob).Scan(&runAt, &payload); err != nil {
			t.Fatal(err)
		}
		due := store.Time(runAt)
		if d := due.Sub(gate.StartedAt); d < 4*time.Minute || d > 6*time.Minute {
			t.Fatalf("the timeout is due %v after the approval started", d)
		}
		if err := f.s.approvalTimeoutHandler(ctx, &jobs.Job{Kind: approvalTimeoutJob, Payload: json.RawMessage(payload)}); err != nil {
			t.Fatal(err)
		}
		e = f.waitFor(t, x.ID, "ended", ended)
		if e.Status != Failed || !strings.Contains(e.Reason, "the approval timed out") {
			t.Fatalf("%s: %s", e.Status, e.Reason)
		}
	})
}
