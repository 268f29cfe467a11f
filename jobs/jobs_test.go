package jobs_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

// waitFor is how long a test waits for a state before failing; it is a
// deadline against hangs, not a performance expectation.
const waitFor = 20 * time.Second

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// fast gives an engine short intervals so tests do not wait on defaults.
func fast(o jobs.Options) jobs.Options {
	if o.PollInterval == 0 {
		o.PollInterval = 20 * time.Millisecond
	}
	if o.Lease == 0 {
		o.Lease = 3 * time.Second
	}
	if o.Backoff == nil {
		o.Backoff = func(int) time.Duration { return 10 * time.Millisecond }
	}
	if o.Logger == nil {
		o.Logger = quiet()
	}
	return o
}

// start runs e until the test ends, then checks that Run returned cleanly.
func start(t *testing.T, e *jobs.Engine) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- e.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-errc; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
}

// reopen opens a second handle on db's database, as another server process would.
func reopen(t *testing.T, db *store.DB) *store.DB {
	t.Helper()
	db2, err := store.Open(context.Background(), db.DSN())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db2.Close() })
	return db2
}

func enqueue(t *testing.T, e *jobs.Engine, kind string, payload any, opts ...jobs.EnqueueOption) int64 {
	t.Helper()
	id, err := e.Enqueue(context.Background(), kind, payload, opts...)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// waitState polls until job id is in state want, failing after waitFor.
func waitState(t *testing.T, e *jobs.Engine, id int64, want jobs.State) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for {
		j, err := e.Get(context.Background(), id)
		if err != nil {
			t.Fatal(err)
		}
		if j.State == want {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %d: state %s (attempt %d, last error %q), want %s", id, j.State, j.Attempt, j.LastError, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitUntil polls cond until it holds, failing after waitFor.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(t *testing.T, db *store.DB, where string, args ...any) int {
	t.Helper()
	var n int
	if err := store.Scan(db.QueryRowContext(context.Background(), "SELECT COUNT(*) FROM jobs WHERE "+where, args...), &n); err != nil {
		t.Fatal(err)
	}
	return n
}

type payload struct {
	Repo string            `json:"repo"`
	N    int               `json:"n"`
	Tags map[string]string `json:"tags"`
}

func TestEngine_RunsAnEnqueuedJobOnceAndCompletesIt(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := jobs.New(db, fast(jobs.Options{}))
		var runs atomic.Int32
		got := make(chan payload, 1)
		e.Register("build", func(ctx context.Context, j *jobs.Job) error {
			runs.Add(1)
			var p payload
			if err := j.Decode(&p); err != nil {
				return err
			}
			got <- p
			return nil
		})
		start(t, e)
		want := payload{Repo: "acme/web", N: 7, Tags: map[string]string{"é": "✓"}}
		id := enqueue(t, e, "build", want)
		j := waitState(t, e, id, jobs.StateCompleted)
		if p := <-got; p.Repo != want.Repo || p.N != want.N || p.Tags["é"] != "✓" {
			t.Fatalf("payload %+v, want %+v", p, want)
		}
		if runs.Load() != 1 || j.Attempt != 1 || j.Kind != "build" || j.FinishedAt.IsZero() || j.LastError != "" {
			t.Fatalf("runs %d, job %+v", runs.Load(), j)
		}
	})
}

func TestEngine_RetriesFailuresUntilMaxAttempts(t *testing.T) {
	boom := errors.New("boom")
	tests := []struct {
		name        string
		maxAttempts int
		handler     func(attempt int) error
		want        jobs.State
		wantAttempt int
		wantError   string
	}{
		{
			name:        "a job failing twice completes on its third attempt",
			maxAttempts: 5,
			handler: func(a int) error {
				if a < 3 {
					return fmt.Errorf("attempt %d: %w", a, boom)
				}
				return nil
			},
			want: jobs.StateCompleted, wantAttempt: 3, wantError: "attempt 2: boom",
		},
		{
			name:        "a job that always fails fails after its last attempt",
			maxAttempts: 3,
			handler:     func(a int) error { return fmt.Errorf("attempt %d: %w", a, boom) },
			want:        jobs.StateFailed, wantAttempt: 3, wantError: "attempt 3: boom",
		},
		{
			name:        "a permanent error fails the job at once",
			maxAttempts: 5,
			handler:     func(int) error { return jobs.Permanent(errors.New("bad manifest")) },
			want:        jobs.StateFailed, wantAttempt: 1, wantError: "bad manifest",
		},
		{
			name:        "a panic is a failed attempt that is retried",
			maxAttempts: 5,
			handler: func(a int) error {
				if a == 1 {
					panic("nil map")
				}
				return nil
			},
			want: jobs.StateCompleted, wantAttempt: 2, wantError: "panic: nil map",
		},
		{
			name:        "a handler returning ErrCancelled cancels the job",
			maxAttempts: 5,
			handler:     func(int) error { return fmt.Errorf("pipeline aborted: %w", jobs.ErrCancelled) },
			want:        jobs.StateCancelled, wantAttempt: 1, wantError: "pipeline aborted",
		},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				var mu sync.Mutex
				var backoffs []int
				e := jobs.New(db, fast(jobs.Options{Backoff: func(a int) time.Duration {
					mu.Lock()
					defer mu.Unlock()
					backoffs = append(backoffs, a)
					return 10 * time.Millisecond
				}}))
				kind := strings.ReplaceAll(tt.name, " ", "_")
				e.Register(kind, func(ctx context.Context, j *jobs.Job) error { return tt.handler(j.Attempt) })
				start(t, e)
				id := enqueue(t, e, kind, nil, jobs.MaxAttempts(tt.maxAttempts))
				j := waitState(t, e, id, tt.want)
				if j.Attempt != tt.wantAttempt || !strings.Contains(j.LastError, tt.wantError) {
					t.Fatalf("attempt %d, last error %q; want attempt %d, error containing %q", j.Attempt, j.LastError, tt.wantAttempt, tt.wantError)
				}
				// Every failed attempt that was retried waited for a backoff.
				mu.Lock()
				defer mu.Unlock()
				retried := tt.wantAttempt - 1
				if tt.want != jobs.StateCompleted {
					retried = min(retried, tt.maxAttempts-1)
				}
				if len(backoffs) != retried {
					t.Fatalf("backoff asked for attempts %v, want %d retries", backoffs, retried)
				}
			})
		}
	})
}

func TestDefaultBackoff_DoublesUpToAnHourWithSmallJitter(t *testing.T) {
	tests := []struct {
		attempt int
		want    time.Duration
	}{{1, time.Second}, {2, 2 * time.Second}, {5, 16 * time.Second}, {12, 2048 * time.Second}, {13, time.Hour}, {1000, time.Hour}}
	for _, tt := range tests {
		for range 20 {
			got := jobs.DefaultBackoff(tt.attempt)
			if got < tt.want*9/10 || got > tt.want*11/10 {
				t.Fatalf("DefaultBackoff(%d) = %v, want %v ±10%%", tt.attempt, got, tt.want)
			}
		}
	}
}

func TestEngine_EnqueueTxEnqueuesOnlyWithTheCallersCommit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := jobs.New(db, fast(jobs.Options{PollInterval: time.Hour}))
		done := make(chan int64, 2)
		e.Register("deploy", func(ctx context.Context, j *jobs.Job) error { done <- j.ID; return nil })
		start(t, e)

		rollback := errors.New("rollback")
		err := db.Tx(ctx, func(tx *store.Tx) error {
			if _, err := tx.ExecContext(ctx, "INSERT INTO projects (id, name, created_at) VALUES (?, ?, ?)", "p1", "web", 1); err != nil {
				return err
			}
			if _, err := e.EnqueueTx(ctx, tx, "deploy", map[string]string{"project": "p1"}); err != nil {
				return err
			}
			return rollback
		})
		if !errors.Is(err, rollback) {
			t.Fatal(err)
		}
		if n := count(t, db, "1 = 1"); n != 0 {
			t.Fatalf("%d jobs after rollback, want 0", n)
		}

		// Committed, the job runs although the engine would not poll for an
		// hour: the commit woke it.
		var id int64
		err = db.Tx(ctx, func(tx *store.Tx) error {
			var err error
			id, err = e.EnqueueTx(ctx, tx, "deploy", nil)
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		select {
		case got := <-done:
			if got != id {
				t.Fatalf("ran job %d, want %d", got, id)
			}
		case <-time.After(waitFor):
			t.Fatal("committed job did not run")
		}
	})
}

func TestEngine_TwoEnginesRunEachJobExactlyOnce(t *testing.T) {
	const n = 300
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		var mu sync.Mutex
		ran := map[int64]int{}
		owners := map[string]int{}
		handler := func(owner string) jobs.Handler {
			return func(ctx context.Context, j *jobs.Job) error {
				mu.Lock()
				defer mu.Unlock()
				ran[j.ID]++
				owners[owner]++
				return nil
			}
		}
		a := jobs.New(db, fast(jobs.Options{Owner: "a", Workers: 4}))
		b := jobs.New(reopen(t, db), fast(jobs.Options{Owner: "b", Workers: 4}))
		a.Register("step", handler("a"))
		b.Register("step", handler("b"))
		ctx := context.Background()
		err := db.Tx(ctx, func(tx *store.Tx) error {
			for i := range n {
				if _, err := a.EnqueueTx(ctx, tx, "step", i); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		start(t, a)
		start(t, b)
		waitUntil(t, "every job completed", func() bool { return count(t, db, "state = 'completed'") == n })
		mu.Lock()
		defer mu.Unlock()
		if len(ran) != n {
			t.Fatalf("%d distinct jobs ran, want %d", len(ran), n)
		}
		for id, k := range ran {
			if k != 1 {
				t.Fatalf("job %d ran %d times", id, k)
			}
		}
		t.Logf("jobs per engine: %v", owners)
	})
}

// clock is a fake time source shared by engines, moved by the test.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestEngine_PeriodicJobRunsOncePerIntervalAcrossEngines(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		clk := &clock{t: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
		var runs atomic.Int32
		engines := []*jobs.Engine{
			jobs.New(db, fast(jobs.Options{Owner: "a", Now: clk.Now, PollInterval: 5 * time.Millisecond})),
			jobs.New(reopen(t, db), fast(jobs.Options{Owner: "b", Now: clk.Now, PollInterval: 5 * time.Millisecond})),
		}
		for _, e := range engines {
			e.Register("gc", func(ctx context.Context, j *jobs.Job) error { runs.Add(1); return nil })
			e.Periodic("nightly-gc", time.Hour, "gc", map[string]int{"keep": 10})
			start(t, e)
		}
		// settled waits until want jobs exist and all completed, then gives
		// both engines many polls in which a duplicate would appear.
		settled := func(want int) {
			t.Helper()
			waitUntil(t, fmt.Sprintf("%d periodic jobs completed", want), func() bool {
				return count(t, db, "kind = 'gc' AND state = 'completed'") >= want
			})
			time.Sleep(150 * time.Millisecond)
			if n := count(t, db, "kind = 'gc'"); n != want || runs.Load() != int32(want) {
				t.Fatalf("%d periodic jobs enqueued, %d ran; want %d", n, runs.Load(), want)
			}
		}
		settled(1) // due at first start
		clk.Add(59 * time.Minute)
		settled(1)
		clk.Add(time.Minute)
		settled(2)
		clk.Add(5 * time.Hour) // down for hours: one catch-up run, not five
		settled(3)
	})
}

func TestEngine_RenewsTheLeaseOfALongRunningJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		const lease = time.Second
		var runs atomic.Int32
		running := make(chan struct{})
		a := jobs.New(db, fast(jobs.Options{Owner: "a", Lease: lease}))
		a.Register("long", func(ctx context.Context, j *jobs.Job) error {
			runs.Add(1)
			close(running)
			select {
			case <-time.After(5 * lease / 2):
				return nil
			case <-ctx.Done():
				return context.Cause(ctx)
			}
		})
		b := jobs.New(reopen(t, db), fast(jobs.Options{Owner: "b", Lease: lease}))
		b.Register("long", func(ctx context.Context, j *jobs.Job) error { runs.Add(1); return nil })
		id := enqueue(t, a, "long", nil)
		start(t, a)
		<-running
		start(t, b) // polls every 20ms for expired leases
		j := waitState(t, a, id, jobs.StateCompleted)
		if runs.Load() != 1 || j.Attempt != 1 || j.LeaseOwner != "a" {
			t.Fatalf("ran %d times; attempt %d by %q, want once by a", runs.Load(), j.Attempt, j.LeaseOwner)
		}
	})
}

func TestEngine_RunsAgainAJobWhoseOwnerStoppedRenewing(t *testing.T) {
	tests := []struct {
		name        string
		attempt     int // attempts used when the owner died
		maxAttempts int
		want        jobs.State
	}{
		{"a job with attempts left runs again", 1, 3, jobs.StateCompleted},
		{"a job that died in its last attempt fails", 3, 3, jobs.StateFailed},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				e := jobs.New(db, fast(jobs.Options{}))
				var runs atomic.Int32
				e.Register("orphan", func(ctx context.Context, j *jobs.Job) error { runs.Add(1); return nil })
				id := enqueue(t, e, "orphan", nil, jobs.MaxAttempts(tt.maxAttempts))
				// What a process leaves behind when it dies holding the lease.
				if _, err := db.ExecContext(context.Background(),
					"UPDATE jobs SET state = 'running', attempt = ?, lease_owner = 'dead', lease_until = ? WHERE id = ?",
					tt.attempt, store.Millis(time.Now().Add(-time.Second)), id); err != nil {
					t.Fatal(err)
				}
				start(t, e)
				j := waitState(t, e, id, tt.want)
				if j.Attempt != tt.attempt+1 || !strings.Contains(j.LastError, "lease of dead expired") {
					t.Fatalf("attempt %d, last error %q", j.Attempt, j.LastError)
				}
				if want := int32(0); tt.want == jobs.StateCompleted && runs.Load() != 1 || tt.want == jobs.StateFailed && runs.Load() != want {
					t.Fatalf("handler ran %d times", runs.Load())
				}
			})
		}
	})
}

func TestEngine_CancelStopsAJob(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := jobs.New(db, fast(jobs.Options{}))
		started := make(chan struct{}, 1)
		causes := make(chan error, 1)
		e.Register("build", func(ctx context.Context, j *jobs.Job) error {
			if j.Payload != nil && string(j.Payload) == `"quick"` {
				return nil
			}
			started <- struct{}{}
			<-ctx.Done()
			causes <- context.Cause(ctx)
			return ctx.Err()
		})
		start(t, e)

		running := enqueue(t, e, "build", "slow")
		<-started
		if err := e.Cancel(ctx, running); err != nil {
			t.Fatal(err)
		}
		if cause := <-causes; !errors.Is(cause, jobs.ErrCancelled) {
			t.Fatalf("handler's context cause %v, want ErrCancelled", cause)
		}
		waitState(t, e, running, jobs.StateCancelled)
		if err := e.Cancel(ctx, running); err != nil {
			t.Fatalf("cancelling twice: %v", err)
		}

		later := enqueue(t, e, "build", "slow", jobs.RunAt(time.Now().Add(time.Hour)))
		if err := e.Cancel(ctx, later); err != nil {
			t.Fatal(err)
		}
		if j := waitState(t, e, later, jobs.StateCancelled); j.Attempt != 0 {
			t.Fatalf("cancelled job ran: attempt %d", j.Attempt)
		}

		done := enqueue(t, e, "build", "quick")
		waitState(t, e, done, jobs.StateCompleted)
		if err := e.Cancel(ctx, done); !errors.Is(err, jobs.ErrFinished) {
			t.Fatalf("cancel a completed job: %v, want ErrFinished", err)
		}
		if err := e.Cancel(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("cancel an unknown job: %v, want ErrNotFound", err)
		}
		if _, err := e.Get(ctx, 1<<40); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("get an unknown job: %v, want ErrNotFound", err)
		}
	})
}

// engineGoroutines lists the stacks of goroutines running engine code.
func engineGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "slipway/jobs.(*Engine)") {
			out = append(out, g)
		}
	}
	return out
}

func TestEngine_RunStopsOnCancelAndGivesBackInterruptedJobs(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		e := jobs.New(db, fast(jobs.Options{ShutdownGrace: 200 * time.Millisecond}))
		started := make(chan string, 2)
		e.Register("stubborn", func(ctx context.Context, j *jobs.Job) error {
			started <- "stubborn"
			<-ctx.Done()
			if !errors.Is(context.Cause(ctx), jobs.ErrShutdown) {
				return fmt.Errorf("cause %v, want ErrShutdown", context.Cause(ctx))
			}
			return ctx.Err()
		})
		release := make(chan struct{})
		e.Register("polite", func(ctx context.Context, j *jobs.Job) error {
			started <- "polite"
			<-release // finishes within the grace period
			return nil
		})
		stubborn := enqueue(t, e, "stubborn", nil)
		polite := enqueue(t, e, "polite", nil)
		ctx, cancel := context.WithCancel(context.Background())
		errc := make(chan error, 1)
		go func() { errc <- e.Run(ctx) }()
		<-started
		<-started
		cancel()
		close(release)
		select {
		case err := <-errc:
			if err != nil {
				t.Fatal(err)
			}
		case <-time.After(waitFor):
			t.Fatal("Run did not return after its context was cancelled")
		}
		if j := waitState(t, e, polite, jobs.StateCompleted); j.Attempt != 1 {
			t.Fatalf("polite job: attempt %d", j.Attempt)
		}
		// Interrupted by the shutdown, not failed: available again, with the
		// attempt given back.
		if j := waitState(t, e, stubborn, jobs.StateAvailable); j.Attempt != 0 || j.LastError != "" {
			t.Fatalf("stubborn job after shutdown: %+v", j)
		}
		waitUntil(t, "engine goroutines have exited", func() bool { return len(engineGoroutines()) == 0 })
		if err := e.Run(context.Background()); err == nil {
			t.Fatal("a second Run succeeded")
		}
	})
}

func TestEngine_ExportsMetrics(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		reg := prometheus.NewRegistry()
		e := jobs.New(db, fast(jobs.Options{Registerer: reg}))
		e.Register("ok", func(ctx context.Context, j *jobs.Job) error { return nil })
		id := enqueue(t, e, "ok", nil)
		enqueue(t, e, "ok", nil, jobs.RunAt(time.Now().Add(time.Hour)))
		start(t, e)
		waitState(t, e, id, jobs.StateCompleted)
		gather := func() map[string]float64 {
			families, err := reg.Gather()
			if err != nil {
				t.Fatal(err)
			}
			got := map[string]float64{}
			for _, f := range families {
				for _, m := range f.GetMetric() {
					key := f.GetName()
					for _, l := range m.GetLabel() {
						key += "," + l.GetName() + "=" + l.GetValue()
					}
					switch {
					case m.Counter != nil:
						got[key] = m.Counter.GetValue()
					case m.Gauge != nil:
						got[key] = m.Gauge.GetValue()
					case m.Histogram != nil:
						got[key] = float64(m.Histogram.GetSampleCount())
					}
				}
			}
			return got
		}
		// The outcome is counted just after it is written.
		var got map[string]float64
		waitUntil(t, "the outcome is counted", func() bool {
			got = gather()
			return got["slipway_jobs_outcomes_total,kind=ok,outcome=completed"] == 1
		})
		for key, want := range map[string]float64{
			"slipway_jobs_outcomes_total,kind=ok,outcome=completed": 1,
			"slipway_jobs_handler_duration_seconds,kind=ok":         1,
			"slipway_jobs_queue_depth,state=scheduled":              1,
			"slipway_jobs_queue_depth,state=available":              0,
			"slipway_jobs_queue_depth,state=running":                0,
		} {
			if v, ok := got[key]; !ok || v != want {
				t.Errorf("%s = %v (present %v), want %v", key, v, ok, want)
			}
		}
	})
}

func TestEngine_PruneDeletesOnlyJobsFinishedBeforeTheCutoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		e := jobs.New(db, fast(jobs.Options{}))
		e.Register("done", func(context.Context, *jobs.Job) error { return nil })
		start(t, e)
		finished := enqueue(t, e, "done", nil)
		waitState(t, e, finished, jobs.StateCompleted)
		later := enqueue(t, e, "unregistered", nil, jobs.RunAt(time.Now().Add(time.Hour)))
		if n, err := e.Prune(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("prune with an old cutoff: %d, %v", n, err)
		}
		if n, err := e.Prune(ctx, time.Now().Add(time.Second)); err != nil || n != 1 {
			t.Fatalf("prune: %d, %v", n, err)
		}
		if _, err := e.Get(ctx, finished); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("pruned job still there: %v", err)
		}
		if _, err := e.Get(ctx, later); err != nil {
			t.Fatalf("a job that has not run was pruned: %v", err)
		}
	})
}
