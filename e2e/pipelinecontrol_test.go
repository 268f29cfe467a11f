package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// stageWait is what `pipeline execution --output json` says of where an
// execution is: in a stage, or waiting to enter it.
type stageWait struct {
	Status  string `json:"status"`
	Stage   string `json:"stage"`
	Waiting bool   `json:"waiting"`
	Actions []struct {
		Stage  string `json:"stage"`
		Action string `json:"action"`
	} `json:"actions"`
}

// waitWaiting polls `pipeline execution ID` until the execution waits to
// enter stage.
func waitWaiting(t *testing.T, s *server, id, stage string) *stageWait {
	t.Helper()
	deadline := time.Now().Add(pipelineDeadline)
	for {
		var e stageWait
		s.mustCLI(s.token, &e, "pipeline", "execution", id)
		if e.Status == "InProgress" && e.Stage == stage && e.Waiting {
			return &e
		}
		if e.Status != "InProgress" || time.Now().After(deadline) {
			t.Fatalf("execution %s does not wait for %s: %+v\n%s", id, stage, e, s.log)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// atApproval holds when an execution waits at its manual approval (or has
// ended, so that waiting for it does not outlast a failure).
func atApproval(e *pipelineExecution) bool {
	a := e.action("Approve")
	return ended(e) || a != nil && a.Status == "InProgress"
}

func TestPipelineControl_RetryAfterAFixStopAndATransitionHeldThenLetThrough(t *testing.T) {
	s := startServer(t)
	// The build fails while the parameter says so; the build reads it when
	// it runs, so a retry after changing it runs on the fixed value.
	s.mustCLI(s.token, nil, "repo", "create", "app")
	s.mustCLI(s.token, nil, "param", "set", "fail", "1")
	s.mustCLI(s.token, nil, "build", "project", "create", "app-build", "--env", "FAIL=parameter-store:fail")
	file := filepath.Join(t.TempDir(), "pipeline.yml")
	if err := os.WriteFile(file, []byte(releasePipeline), 0o644); err != nil {
		t.Fatal(err)
	}
	s.mustCLI(s.token, nil, "pipeline", "create", "--file", file)
	pushFiles(t, s, "app", map[string]string{"buildspec.yml": shellBuildspec(`test "$FAIL" != 1`)})
	id := firstExecution(t, s, "release")
	e := waitExecution(t, s, id, "the failed build", ended)
	if e.Status != "Failed" || e.Stage != "Build" {
		t.Fatalf("execution: %+v", e)
	}
	if table := s.mustCLI(s.token, nil, "pipeline", "execution", id); !strings.Contains(table, "slipway pipeline retry "+id+" --stage Build") {
		t.Errorf("pipeline execution of a failed execution names no retry:\n%s", table)
	}

	// Fixed, the stage runs again on the same execution and goes on.
	s.mustCLI(s.token, nil, "param", "set", "fail", "0")
	var retried pipelineExecution
	s.mustCLI(s.token, &retried, "pipeline", "retry", id, "--stage", "Build")
	if retried.ID != id || retried.Status != "InProgress" {
		t.Fatalf("retried: %+v", retried)
	}
	e = waitExecution(t, s, id, "the approval after the retry", atApproval)
	var builds []actionExecution
	for _, a := range e.Actions {
		if a.Stage == "Build" {
			builds = append(builds, a)
		}
	}
	if e.Status != "InProgress" || len(builds) != 2 || builds[0].Status != "Failed" || builds[1].Status != "Succeeded" {
		t.Fatalf("after the retry: %+v", e)
	}
	table := s.mustCLI(s.token, nil, "pipeline", "execution", id)
	for _, want := range []string{"Build (attempt 2)", "slipway logs " + builds[1].ExternalID, "waiting for approval"} {
		if !strings.Contains(table, want) {
			t.Errorf("pipeline execution lacks %q:\n%s", want, table)
		}
	}
	if _, errs, err := s.cli(s.token, "pipeline", "retry", id, "--stage", "Build"); err == nil || !strings.Contains(errs, "only a failed stage can be retried") {
		t.Fatalf("retry of a running execution: %v\n%s", err, errs)
	}

	// Stopped, with the approval abandoned.
	s.mustCLI(s.token, nil, "pipeline", "stop", id, "--abandon", "--reason", "wrong release")
	e = waitExecution(t, s, id, "the stop", func(e *pipelineExecution) bool { return e.Status != "InProgress" && e.Status != "Stopping" })
	if a := e.action("Approve"); e.Status != "Stopped" || e.Reason != "stopped by admin: wrong release" || a == nil || a.Status != "Abandoned" {
		t.Fatalf("stopped: %+v", e)
	}
	if _, errs, err := s.cli(s.token, "pipeline", "stop", id); err == nil || !strings.Contains(errs, "not in progress") {
		t.Fatalf("second stop: %v\n%s", err, errs)
	}

	// A disabled transition holds the next execution in front of the
	// approval, until it is enabled.
	s.mustCLI(s.token, nil, "pipeline", "disable-transition", "release", "Approve", "--reason", "release freeze")
	if out := s.mustCLI(s.token, nil, "pipeline", "get", "release"); !strings.Contains(out, "the transition into Approve: release freeze") {
		t.Fatalf("pipeline get:\n%s", out)
	}
	next := strings.TrimSpace(s.mustCLI(s.token, nil, "pipeline", "start", "release"))
	w := waitWaiting(t, s, next, "Approve")
	for _, a := range w.Actions {
		if a.Stage == "Approve" {
			t.Fatalf("the approval started behind a disabled transition: %+v", w)
		}
	}
	table = s.mustCLI(s.token, nil, "pipeline", "execution", next)
	for _, want := range []string{"Approve (waiting to enter)", "disabled: release freeze", "slipway pipeline enable-transition release Approve"} {
		if !strings.Contains(table, want) {
			t.Errorf("pipeline execution lacks %q:\n%s", want, table)
		}
	}
	var pl struct {
		Disabled map[string]string `json:"disabled_transitions"`
	}
	s.mustCLI(s.token, &pl, "pipeline", "enable-transition", "release", "Approve")
	if len(pl.Disabled) != 0 {
		t.Fatalf("after enable-transition: %+v", pl.Disabled)
	}
	if e = waitExecution(t, s, next, "the approval after enable-transition", atApproval); e.Status != "InProgress" {
		t.Fatalf("after enable-transition: %+v", e)
	}

	// Without --abandon the waiting approval is abandoned all the same.
	s.mustCLI(s.token, nil, "pipeline", "stop", next)
	e = waitExecution(t, s, next, "the stop", func(e *pipelineExecution) bool { return e.Status != "InProgress" && e.Status != "Stopping" })
	if e.Status != "Stopped" || e.Reason != "stopped by admin" {
		t.Fatalf("stopped without --abandon: %+v", e)
	}
}
