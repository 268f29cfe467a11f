package jobs_test

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// Environment of the helper process that the crash test starts and kills.
const (
	helperEnv      = "SLIPWAY_JOBS_CRASH_HELPER"
	helperDSNEnv   = "SLIPWAY_JOBS_CRASH_DSN"
	helperReadyEnv = "SLIPWAY_JOBS_CRASH_READY"
	helperOwner    = "doomed-process"
)

// TestHelperProcess is not a test: run by TestEngine_RunsAJobAgainAfterItsProcessIsKilled
// as a child process, it claims a job whose handler signals readiness and
// then blocks until the process is killed.
func TestHelperProcess(t *testing.T) {
	if os.Getenv(helperEnv) != "1" {
		return
	}
	ctx := context.Background()
	db, err := store.Open(ctx, os.Getenv(helperDSNEnv))
	if err != nil {
		t.Fatal(err)
	}
	e := jobs.New(db, jobs.Options{Owner: helperOwner, Lease: time.Second, PollInterval: 20 * time.Millisecond, Logger: quiet()})
	e.Register("build", func(ctx context.Context, j *jobs.Job) error {
		if err := os.WriteFile(os.Getenv(helperReadyEnv), []byte("claimed"), 0o600); err != nil {
			return err
		}
		select {} // until SIGKILL
	})
	_ = e.Run(ctx)
}

func TestEngine_RunsAJobAgainAfterItsProcessIsKilled(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := jobs.New(db, fast(jobs.Options{Owner: "survivor", Lease: time.Second}))
		var runs atomic.Int32
		e.Register("build", func(ctx context.Context, j *jobs.Job) error { runs.Add(1); return nil })
		id := enqueue(t, e, "build", map[string]string{"ref": "main"})

		ready := filepath.Join(t.TempDir(), "ready")
		cmd := exec.Command(os.Args[0], "-test.run=^TestHelperProcess$")
		cmd.Env = append(os.Environ(), helperEnv+"=1", helperDSNEnv+"="+db.DSN(), helperReadyEnv+"="+ready)
		var out bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan error, 1)
		go func() { exited <- cmd.Wait() }()
		t.Cleanup(func() {
			_ = cmd.Process.Kill()
			<-exited
		})
		deadline := time.After(waitFor)
		for {
			if _, err := os.Stat(ready); err == nil {
				break
			}
			select {
			case err := <-exited:
				t.Fatalf("helper process exited before claiming the job: %v\n%s", err, out.String())
			case <-deadline:
				t.Fatalf("helper process did not claim the job\n%s", out.String())
			case <-time.After(10 * time.Millisecond):
			}
		}
		j, err := e.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State != jobs.StateRunning || j.LeaseOwner != helperOwner || j.Attempt != 1 {
			t.Fatalf("job held by the helper: %+v", j)
		}

		if err := cmd.Process.Kill(); err != nil { // SIGKILL: no cleanup of any kind
			t.Fatal(err)
		}
		if err := <-exited; err == nil || !strings.Contains(err.Error(), "killed") {
			t.Fatalf("helper process: %v, want killed", err)
		}
		exited <- nil // for the cleanup

		start(t, e) // the restarted server
		j = waitState(t, e, id, jobs.StateCompleted)
		if j.Attempt != 2 || runs.Load() != 1 || j.LeaseOwner != "survivor" || !strings.Contains(j.LastError, "lease of "+helperOwner+" expired") {
			t.Fatalf("after restart: ran %d times, job %+v", runs.Load(), j)
		}
	})
}
