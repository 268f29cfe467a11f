package jobs

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"runtime/debug"
	"sort"
	"strings"
	"time"

	"github.com/slipway/slipway/store"
)

// run is one attempt in progress in this engine.
type run struct {
	job    *Job
	cancel context.CancelCauseFunc
	// Guarded by Engine.mu.
	leaseUntil time.Time // as last written by us
	settling   bool      // the handler returned; its outcome is being written
}

// writeTimeout bounds each write of a job's outcome, which must not be
// cancelled with the handler's context.
const writeTimeout = 30 * time.Second

// Run claims and runs jobs of the registered kinds, and enqueues periodic jobs
// when due, until ctx is cancelled. It then stops claiming, waits up to
// ShutdownGrace for running handlers, cancels the contexts of those still
// running (cause ErrShutdown), and returns nil once every handler has
// returned. Run may be called once per Engine.
func (e *Engine) Run(ctx context.Context) error {
	if !e.started.CompareAndSwap(false, true) {
		return errors.New("jobs: Run called twice")
	}
	kinds := make([]string, 0, len(e.handlers))
	for k := range e.handlers {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	claimSQL := claimQuery(e.db.Dialect(), len(kinds))

	// Handlers outlive ctx by the grace period, and leases must be renewed
	// until the last handler returns: both get contexts of their own that
	// keep ctx's values but not its cancellation.
	workCtx, stopWork := context.WithCancelCause(context.WithoutCancel(ctx))
	defer stopWork(nil)
	hbCtx, stopHeartbeat := context.WithCancel(context.WithoutCancel(ctx))
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		e.heartbeat(hbCtx)
	}()
	defer func() {
		stopHeartbeat()
		<-hbDone
	}()

	done := make(chan struct{}, e.opts.Workers) // one send per finished worker
	free := e.opts.Workers
	more := true // the last claim filled every free slot: more jobs may be due
	claimNow, probe := true, false
	poll := time.NewTicker(e.opts.PollInterval)
	defer poll.Stop()
	e.tickPeriodic(ctx)
	for {
		if claimNow && free > 0 && len(kinds) > 0 && ctx.Err() == nil {
			jobs, err := e.claim(ctx, claimSQL, kinds, free, probe)
			if err != nil && ctx.Err() == nil {
				e.log.Warn("claim jobs", "err", err)
			}
			for _, j := range jobs {
				go e.work(workCtx, j, done)
			}
			more = len(jobs) == free
			free -= len(jobs)
		}
		claimNow, probe = false, false
		select {
		case <-ctx.Done():
			e.drain(done, free, stopWork)
			return nil
		case <-e.wake:
			more, claimNow = true, true
		case <-done:
			// Take every slot freed meanwhile so the next claim is a batch.
			free++
			for drained := false; !drained; {
				select {
				case <-done:
					free++
				default:
					drained = true
				}
			}
			claimNow = more
		case <-poll.C:
			e.tickPeriodic(ctx)
			more, claimNow, probe = true, true, true
		}
	}
}

// drain waits for running handlers: ShutdownGrace, then with their contexts
// cancelled, until every worker has reported on done.
func (e *Engine) drain(done <-chan struct{}, free int, stopWork context.CancelCauseFunc) {
	grace := time.NewTimer(e.opts.ShutdownGrace)
	defer grace.Stop()
	graceC := grace.C
	for free < e.opts.Workers {
		select {
		case <-done:
			free++
		case <-graceC:
			graceC = nil
			e.log.Info("shutdown grace period over: cancelling running jobs", "running", e.opts.Workers-free)
			stopWork(ErrShutdown)
		}
	}
}

// claimQuery takes up to n jobs in one statement: jobs whose lease expired
// (their process died) first, then due jobs in run_at order. PostgreSQL skips
// rows another process is claiming; SQLite has a single writer, so it needs
// no lock.
func claimQuery(d store.Dialect, kinds int) string {
	lock := ""
	if d == store.Postgres {
		lock = " FOR UPDATE SKIP LOCKED"
	}
	in := strings.TrimSuffix(strings.Repeat("?, ", kinds), ", ")
	return `WITH expired AS (
		SELECT id FROM jobs WHERE state = 'running' AND lease_until < ? AND kind IN (` + in + `)
		LIMIT ?` + lock + `
	), ready AS (
		SELECT id FROM jobs WHERE state = 'available' AND run_at <= ? AND kind IN (` + in + `)
		ORDER BY run_at, id LIMIT ?` + lock + `
	), picked AS (
		SELECT id FROM expired UNION ALL SELECT id FROM ready LIMIT ?
	)
	UPDATE jobs SET state = 'running', lease_owner = ?, lease_until = ?, attempt = attempt + 1,
		last_error = CASE WHEN state = 'running' THEN 'lease of ' || lease_owner || ' expired' ELSE last_error END
	WHERE id IN (SELECT id FROM picked)
	RETURNING ` + jobColumns
}

// claimable reports, with a read that takes no lock, whether any job could be
// claimed. An idle engine then polls without write transactions, which on
// SQLite would queue behind (and delay) other processes' lease renewals.
func (e *Engine) claimable(ctx context.Context, kinds []string, now time.Time) (bool, error) {
	in := strings.TrimSuffix(strings.Repeat("?, ", len(kinds)), ", ")
	args := make([]any, 0, 2*len(kinds)+2)
	args = append(args, store.Millis(now))
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, store.Millis(now))
	for _, k := range kinds {
		args = append(args, k)
	}
	var one int
	err := store.Scan(e.db.QueryRowContext(ctx, `SELECT 1 FROM jobs WHERE
		(state = 'available' AND run_at <= ? AND kind IN (`+in+`)) OR
		(state = 'running' AND lease_until < ? AND kind IN (`+in+`)) LIMIT 1`, args...), &one)
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}

// claim takes up to n jobs. probe first checks with a read whether there is
// anything to take, for claims that only a poll tick asked for.
func (e *Engine) claim(ctx context.Context, query string, kinds []string, n int, probe bool) ([]*Job, error) {
	now := e.opts.Now()
	if probe {
		if ok, err := e.claimable(ctx, kinds, now); !ok || err != nil {
			return nil, err
		}
	}
	args := make([]any, 0, 2*len(kinds)+7)
	args = append(args, store.Millis(now))
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, n, store.Millis(now))
	for _, k := range kinds {
		args = append(args, k)
	}
	args = append(args, n, n, e.opts.Owner, store.Millis(now.Add(e.opts.Lease)))
	var jobs []*Job
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		jobs = jobs[:0]
		rows, err := tx.QueryContext(ctx, query, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			j, err := scanJob(rows)
			if err != nil {
				return err
			}
			jobs = append(jobs, j)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(jobs, func(a, b int) bool { return jobs[a].ID < jobs[b].ID })
	return jobs, nil
}

// work runs one claimed attempt and records its outcome.
func (e *Engine) work(base context.Context, j *Job, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	ctx, cancel := context.WithCancelCause(base)
	defer cancel(nil)
	r := &run{job: j, cancel: cancel, leaseUntil: j.LeaseUntil}
	e.mu.Lock()
	if old := e.runs[j.ID]; old != nil {
		// Our own earlier attempt missed its renewals and we claimed the
		// job again: the earlier attempt is stale.
		old.cancel(ErrLeaseLost)
	}
	e.runs[j.ID] = r
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		if e.runs[j.ID] == r {
			delete(e.runs, j.ID)
		}
		e.mu.Unlock()
	}()

	if j.Attempt > j.MaxAttempts {
		// The process running the last attempt died holding the lease.
		e.settle(ctx, r, fmt.Errorf("%s after the last attempt", j.LastError))
		return
	}
	start := time.Now()
	err := call(ctx, e.handlers[j.Kind], j)
	e.metrics.observe(j.Kind, time.Since(start))
	e.settle(ctx, r, err)
}

// call runs h, turning a panic into an error so that it counts as a failed
// attempt instead of killing the process.
func call(ctx context.Context, h Handler, j *Job) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v\n%s", p, debug.Stack())
		}
	}()
	return h(ctx, j)
}

// Outcomes, as counted in metrics.
const (
	outcomeCompleted = "completed"
	outcomeRetried   = "retried"
	outcomeFailed    = "failed"
	outcomeCancelled = "cancelled"
	outcomeReleased  = "released" // given back at shutdown
	outcomeLost      = "lost"     // the lease was lost: someone else owns the job
)

// settle records the outcome of an attempt whose handler returned err.
func (e *Engine) settle(ctx context.Context, r *run, err error) {
	e.mu.Lock()
	r.settling = true
	e.mu.Unlock()
	j := r.job
	cause := context.Cause(ctx)
	if ctx.Err() == nil {
		cause = nil
	}
	now := e.opts.Now()
	nowMs := store.Millis(now)
	var (
		outcome string
		set     string
		args    []any
	)
	switch {
	case err == nil:
		outcome, set, args = outcomeCompleted, `state = 'completed', finished_at = ?`, []any{nowMs}
	case errors.Is(cause, ErrLeaseLost):
		e.log.Warn("job lease lost; result discarded", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", err)
		e.metrics.outcome(j.Kind, outcomeLost)
		return
	case errors.Is(cause, ErrCancelled):
		e.metrics.outcome(j.Kind, outcomeCancelled) // Cancel wrote the state
		return
	case errors.Is(cause, ErrShutdown):
		// Interrupted by us, not failed: give the attempt back.
		outcome, set, args = outcomeReleased, `state = 'available', run_at = ?, attempt = attempt - 1`, []any{nowMs}
	case errors.Is(err, ErrCancelled):
		outcome, set, args = outcomeCancelled, `state = 'cancelled', finished_at = ?, last_error = ?`, []any{nowMs, truncate(err.Error())}
	case IsPermanent(err) || j.Attempt >= j.MaxAttempts:
		outcome, set, args = outcomeFailed, `state = 'failed', finished_at = ?, last_error = ?`, []any{nowMs, truncate(err.Error())}
	default:
		next := now.Add(e.opts.Backoff(j.Attempt))
		outcome, set, args = outcomeRetried, `state = 'available', run_at = ?, last_error = ?`, []any{store.Millis(next), truncate(err.Error())}
	}
	query := `UPDATE jobs SET ` + set + `, lease_until = 0
		WHERE id = ? AND state = 'running' AND lease_owner = ? AND attempt = ?`
	args = append(args, j.ID, e.opts.Owner, j.Attempt)

	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), writeTimeout)
	defer cancel()
	var res sql.Result
	var werr error
	for try, wait := 0, 100*time.Millisecond; ; try, wait = try+1, wait*4 {
		if res, werr = e.db.ExecContext(wctx, query, args...); werr == nil || try == 2 {
			break
		}
		select {
		case <-wctx.Done():
		case <-time.After(wait):
		}
	}
	if werr != nil {
		// The lease will expire and another attempt will run the job.
		e.log.Error("record job outcome", "job", j.ID, "kind", j.Kind, "outcome", outcome, "err", werr)
		return
	}
	if n, _ := res.RowsAffected(); n == 0 {
		// Cancelled, or re-claimed after our lease expired, meanwhile.
		e.metrics.outcome(j.Kind, outcomeLost)
		return
	}
	e.metrics.outcome(j.Kind, outcome)
	switch outcome {
	case outcomeFailed:
		e.log.Warn("job failed", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", err)
	case outcomeRetried:
		e.log.Info("job attempt failed; will retry", "job", j.ID, "kind", j.Kind, "attempt", j.Attempt, "err", err)
	}
}

// heartbeat renews the leases of this engine's running jobs every Lease/3
// until ctx is cancelled.
func (e *Engine) heartbeat(ctx context.Context) {
	t := time.NewTicker(max(e.opts.Lease/3, time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			e.renew(ctx)
		}
	}
}

// renew extends every running job's lease in one statement; a job that is no
// longer ours (cancelled, or claimed by another process after our lease
// expired) has its handler's context cancelled.
func (e *Engine) renew(ctx context.Context) {
	e.mu.Lock()
	runs := make([]*run, 0, len(e.runs))
	for _, r := range e.runs {
		runs = append(runs, r)
	}
	e.mu.Unlock()
	if len(runs) == 0 {
		return
	}
	now := e.opts.Now()
	until := now.Add(e.opts.Lease)
	args := make([]any, 0, len(runs)+2)
	args = append(args, store.Millis(until), e.opts.Owner)
	for _, r := range runs {
		args = append(args, r.job.ID)
	}
	renewed := make(map[int64]int, len(runs))
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		clear(renewed)
		rows, err := tx.QueryContext(ctx, `UPDATE jobs SET lease_until = ?
			WHERE state = 'running' AND lease_owner = ? AND id IN (`+
			strings.TrimSuffix(strings.Repeat("?, ", len(runs)), ", ")+`)
			RETURNING id, attempt`, args...)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var id int64
			var attempt int
			if err := rows.Scan(&id, &attempt); err != nil {
				return err
			}
			renewed[id] = attempt
		}
		return rows.Err()
	})
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("renew job leases", "err", err)
		// Past its lease another process may run the job: stop ours.
		e.mu.Lock()
		defer e.mu.Unlock()
		for _, r := range runs {
			if !r.settling && !now.Before(r.leaseUntil) {
				r.cancel(ErrLeaseLost)
			}
		}
		return
	}
	var lost []*run
	e.mu.Lock()
	for _, r := range runs {
		if a, ok := renewed[r.job.ID]; ok && a == r.job.Attempt {
			r.leaseUntil = until
		} else if !r.settling {
			lost = append(lost, r)
		}
	}
	e.mu.Unlock()
	for _, r := range lost {
		cause := ErrLeaseLost
		var state string
		if store.Scan(e.db.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, r.job.ID), &state) == nil &&
			State(state) == StateCancelled {
			cause = ErrCancelled
		}
		r.cancel(cause)
	}
}
