// Package jobs is Slipway's durable job engine: every long operation
// (pipeline executions, builds, deployments, stack updates) runs as a job
// stored in the jobs table, identical on SQLite and PostgreSQL.
//
// A process claims a job by taking a lease on it and renews the lease while the
// handler runs, so a job whose process died is claimed again within one lease
// length while an hour-long build is never mistaken for a dead one. Jobs run at
// least once: a handler must tolerate being run again after a crash.
package jobs

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	mrand "math/rand/v2"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/store"
)

// State is where a job is in its life.
type State string

// The states a job can be in. Only available, running, completed, failed and
// cancelled are stored; retryable is how an available job that has already
// run (and waits for its next attempt) is reported, so that claiming needs to
// look at one stored state only.
const (
	StateAvailable State = "available"
	StateRetryable State = "retryable"
	StateRunning   State = "running"
	StateCompleted State = "completed"
	StateFailed    State = "failed"
	StateCancelled State = "cancelled"
)

// Finished reports whether s is final: the job will not run again.
func (s State) Finished() bool {
	return s == StateCompleted || s == StateFailed || s == StateCancelled
}

// Job is one unit of work as stored. A handler receives it with State running
// and Attempt counting the attempt in progress (1 for the first).
type Job struct {
	ID          int64
	Kind        string
	Payload     json.RawMessage
	State       State
	Attempt     int // attempts started so far, including one in progress
	MaxAttempts int
	RunAt       time.Time // earliest time of the next (or current) attempt
	CreatedAt   time.Time
	FinishedAt  time.Time // zero until the job is completed, failed or cancelled
	LastError   string    // error of the latest failed attempt, kept after success
	LeaseOwner  string    // process that claimed the job last
	LeaseUntil  time.Time // while running: when the lease expires unless renewed
}

// Decode unmarshals the job's JSON payload into v.
func (j *Job) Decode(v any) error {
	if err := json.Unmarshal(j.Payload, v); err != nil {
		return fmt.Errorf("job %d (%s): decode payload: %w", j.ID, j.Kind, err)
	}
	return nil
}

// Handler runs one attempt of a job. Returning nil completes the job; an error
// schedules a retry with backoff until MaxAttempts, unless it wraps
// ErrCancelled or was made with Permanent. ctx is cancelled when the job is
// cancelled, when its lease is lost, and when the engine shuts down after its
// grace period; handlers must return promptly then.
type Handler func(ctx context.Context, job *Job) error

// Errors a handler returns or finds as the cause of its context
// (context.Cause).
var (
	// ErrCancelled, returned (or wrapped) by a handler, ends the job as
	// cancelled without retry; it is also the cause of a handler's context
	// when the job is cancelled through Engine.Cancel.
	ErrCancelled = errors.New("job cancelled")
	// ErrLeaseLost is the cause of a handler's context when this process no
	// longer holds the job's lease (it could not renew it in time, so another
	// process may run the job now): the handler's result is discarded.
	ErrLeaseLost = errors.New("job lease lost")
	// ErrShutdown is the cause of a handler's context when the engine stops
	// and the grace period is over. A handler that then returns an error gives
	// the job back without using up an attempt.
	ErrShutdown = errors.New("job engine shutting down")
	// ErrFinished is returned by Engine.Cancel for a job that had already
	// completed or failed.
	ErrFinished = errors.New("job already finished")
)

type permanentError struct{ err error }

func (p permanentError) Error() string { return p.err.Error() }
func (p permanentError) Unwrap() error { return p.err }

// Permanent marks err as not worth retrying: the job fails at once.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return permanentError{err}
}

// IsPermanent reports whether err was made (or wraps one made) by Permanent.
func IsPermanent(err error) bool {
	var p permanentError
	return errors.As(err, &p)
}

// Options configure an Engine. Zero values take the documented defaults.
type Options struct {
	// Owner identifies this process in lease_owner; default
	// hostname-pid-random, unique per Engine.
	Owner string
	// Workers is how many handlers run at once; default 8, since jobs are
	// mostly long and waiting on other programs (builds, deployments).
	Workers int
	// Lease is how long a claim lasts without renewal; running jobs renew
	// theirs every Lease/3, so a dead process's jobs run again after at most
	// one Lease. Default 15s.
	Lease time.Duration
	// PollInterval is how often the engine looks for due jobs (and periodic
	// jobs) when nothing woke it; default 1s.
	PollInterval time.Duration
	// ShutdownGrace is how long Run waits, once its context is cancelled, for
	// running handlers before cancelling their contexts; default 10s.
	ShutdownGrace time.Duration
	// Backoff gives the delay before attempt+1 after attempt failed; default
	// 1s·2^(attempt-1) capped at 1h, with ±10% jitter.
	Backoff func(attempt int) time.Duration
	// Logger receives the engine's logs; default slog.Default().
	Logger *slog.Logger
	// Registerer, when set, receives the engine's Prometheus metrics.
	Registerer prometheus.Registerer
	// Now replaces the clock for tests; default time.Now.
	Now func() time.Time
}

// DefaultMaxAttempts is how many attempts a job gets unless MaxAttempts says
// otherwise; with the default backoff that spans about a day.
const DefaultMaxAttempts = 25

// maxErrorLen bounds last_error: a panic's stack is useful, megabytes are not.
const maxErrorLen = 8 << 10

// Engine runs jobs from the database for the kinds registered on it.
type Engine struct {
	db        *store.DB
	opts      Options
	log       *slog.Logger
	handlers  map[string]Handler
	periodics []*periodic
	wake      chan struct{}
	started   atomic.Bool
	metrics   *metrics

	mu   sync.Mutex
	runs map[int64]*run // jobs this engine is running, by id
}

// New returns an Engine on db. Register handlers and periodic jobs, then call
// Run.
func New(db *store.DB, opts Options) *Engine {
	if opts.Owner == "" {
		opts.Owner = defaultOwner()
	}
	if opts.Workers <= 0 {
		opts.Workers = 8
	}
	if opts.Lease <= 0 {
		opts.Lease = 15 * time.Second
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	if opts.ShutdownGrace <= 0 {
		opts.ShutdownGrace = 10 * time.Second
	}
	if opts.Backoff == nil {
		opts.Backoff = DefaultBackoff
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	e := &Engine{
		db:       db,
		opts:     opts,
		log:      log.With("component", "jobs", "owner", opts.Owner),
		handlers: map[string]Handler{},
		wake:     make(chan struct{}, 1),
		runs:     map[int64]*run{},
	}
	if opts.Registerer != nil {
		e.metrics = newMetrics(e, opts.Registerer)
	}
	return e
}

// DefaultBackoff waits 1s·2^(attempt-1), capped at one hour, ±10% so that jobs
// failing together do not retry together.
func DefaultBackoff(attempt int) time.Duration {
	d := time.Hour
	if attempt < 13 { // 2^12 s > 1h
		d = time.Second << max(attempt-1, 0)
	}
	d = min(d, time.Hour)
	jitter := (mrand.Float64()*2 - 1) * 0.1 * float64(d)
	return d + time.Duration(jitter)
}

// Register makes h run jobs of kind. It must be called before Run; a kind is
// registered once.
func (e *Engine) Register(kind string, h Handler) {
	if e.started.Load() {
		panic("jobs: Register after Run")
	}
	if kind == "" || h == nil {
		panic("jobs: Register needs a kind and a handler")
	}
	if _, dup := e.handlers[kind]; dup {
		panic("jobs: kind " + kind + " registered twice")
	}
	e.handlers[kind] = h
}

// EnqueueOption adjusts one enqueued job.
type EnqueueOption func(*enqueueOpts)

type enqueueOpts struct {
	runAt       time.Time
	maxAttempts int
}

// RunAt delays the job's first attempt until t.
func RunAt(t time.Time) EnqueueOption { return func(o *enqueueOpts) { o.runAt = t } }

// MaxAttempts sets how many attempts the job gets before it fails (at least 1).
func MaxAttempts(n int) EnqueueOption { return func(o *enqueueOpts) { o.maxAttempts = max(n, 1) } }

// Enqueue stores a job of kind with payload marshalled as JSON and returns its
// id. Any process sharing the database that registered kind may run it.
func (e *Engine) Enqueue(ctx context.Context, kind string, payload any, opts ...EnqueueOption) (int64, error) {
	var id int64
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		var err error
		id, err = e.EnqueueTx(ctx, tx, kind, payload, opts...)
		return err
	})
	return id, err
}

// EnqueueTx stores a job inside the caller's transaction, so that it exists if
// and only if the caller's own writes commit; local workers are woken on commit.
func (e *Engine) EnqueueTx(ctx context.Context, tx *store.Tx, kind string, payload any, opts ...EnqueueOption) (int64, error) {
	if kind == "" {
		return 0, errors.New("jobs: enqueue: empty kind")
	}
	body, err := json.Marshal(payload)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: marshal payload: %w", kind, err)
	}
	now := e.opts.Now()
	o := enqueueOpts{runAt: now, maxAttempts: DefaultMaxAttempts}
	for _, opt := range opts {
		opt(&o)
	}
	var id int64
	err = store.Scan(tx.QueryRowContext(ctx,
		`INSERT INTO jobs (kind, payload, state, max_attempts, run_at, created_at)
		 VALUES (?, ?, 'available', ?, ?, ?) RETURNING id`,
		kind, string(body), o.maxAttempts, store.Millis(o.runAt), store.Millis(now)), &id)
	if err != nil {
		return 0, fmt.Errorf("jobs: enqueue %s: %w", kind, err)
	}
	if !o.runAt.After(now) {
		tx.OnCommit(e.notify)
	}
	return id, nil
}

// notify wakes the claim loop without ever blocking the committer.
func (e *Engine) notify() {
	select {
	case e.wake <- struct{}{}:
	default:
	}
}

const jobColumns = `id, kind, payload, state, attempt, max_attempts, run_at, created_at,
	finished_at, last_error, lease_owner, lease_until`

// Get returns the stored job with id, or an error wrapping store.ErrNotFound.
func (e *Engine) Get(ctx context.Context, id int64) (*Job, error) {
	j, err := scanJob(e.db.QueryRowContext(ctx, `SELECT `+jobColumns+` FROM jobs WHERE id = ?`, id))
	if errors.Is(err, sql.ErrNoRows) {
		err = fmt.Errorf("%w: %w", store.ErrNotFound, err)
	}
	if err != nil {
		return nil, fmt.Errorf("jobs: get %d: %w", id, err)
	}
	return j, nil
}

type scanner interface{ Scan(dest ...any) error }

func scanJob(row scanner) (*Job, error) {
	var (
		j                                    Job
		payload, state                       string
		runAt, created, finished, leaseUntil int64
	)
	err := row.Scan(&j.ID, &j.Kind, &payload, &state, &j.Attempt, &j.MaxAttempts,
		&runAt, &created, &finished, &j.LastError, &j.LeaseOwner, &leaseUntil)
	if err != nil {
		return nil, err
	}
	j.Payload = json.RawMessage(payload)
	j.State = State(state)
	if j.State == StateAvailable && j.Attempt > 0 {
		j.State = StateRetryable
	}
	j.RunAt = store.Time(runAt)
	j.CreatedAt = store.Time(created)
	if finished != 0 {
		j.FinishedAt = store.Time(finished)
	}
	if leaseUntil != 0 {
		j.LeaseUntil = store.Time(leaseUntil)
	}
	return &j, nil
}

// Cancel stops job id: a job that has not started never will, and a running
// one has its handler's context cancelled (at once in this process, within
// Lease/3 in another). Cancelling a cancelled job is a no-op; a completed or
// failed one gives ErrFinished, an unknown id store.ErrNotFound.
func (e *Engine) Cancel(ctx context.Context, id int64) error {
	now := store.Millis(e.opts.Now())
	res, err := e.db.ExecContext(ctx,
		`UPDATE jobs SET state = 'cancelled', finished_at = ?, lease_until = 0,
		 last_error = CASE WHEN last_error = '' THEN 'cancelled' ELSE last_error END
		 WHERE id = ? AND state IN ('available', 'running')`, now, id)
	if err != nil {
		return fmt.Errorf("jobs: cancel %d: %w", id, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		var state string
		if err := store.Scan(e.db.QueryRowContext(ctx, `SELECT state FROM jobs WHERE id = ?`, id), &state); err != nil {
			return fmt.Errorf("jobs: cancel %d: %w", id, err)
		}
		if State(state) == StateCancelled {
			return nil
		}
		return fmt.Errorf("jobs: cancel %d: %w (%s)", id, ErrFinished, state)
	}
	e.mu.Lock()
	if r := e.runs[id]; r != nil {
		r.cancel(ErrCancelled)
	}
	e.mu.Unlock()
	return nil
}

func defaultOwner() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "unknown"
	}
	var b [3]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

func truncate(s string) string {
	if len(s) <= maxErrorLen {
		return s
	}
	return s[:maxErrorLen] + "…"
}

// Prune deletes jobs that finished (completed, failed or cancelled) before
// the given time and returns how many went.
func (e *Engine) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := e.db.ExecContext(ctx,
		`DELETE FROM jobs WHERE state IN ('completed', 'failed', 'cancelled') AND finished_at > 0 AND finished_at < ?`,
		store.Millis(before))
	if err != nil {
		return 0, fmt.Errorf("prune jobs: %w", err)
	}
	return res.RowsAffected()
}
