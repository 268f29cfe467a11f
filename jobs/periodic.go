package jobs

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/slipway/slipway/store"
)

// periodic is one schedule; only Run's goroutine touches it once Run started.
type periodic struct {
	name     string
	interval time.Duration
	kind     string
	payload  json.RawMessage
	opts     []EnqueueOption
	inserted bool      // its row is known to exist
	next     time.Time // next_run_at as last read: nothing to do before then
}

// Periodic enqueues a job of kind with payload once per interval across all
// processes sharing the database: name identifies the schedule there, so
// every process must give the same schedule the same name. The first job is
// enqueued as soon as the first process runs. Periodic must be called before
// Run. A job that runs longer than interval may overlap the next one.
func (e *Engine) Periodic(name string, interval time.Duration, kind string, payload any, opts ...EnqueueOption) {
	if e.started.Load() {
		panic("jobs: Periodic after Run")
	}
	if name == "" || kind == "" || interval <= 0 {
		panic("jobs: Periodic needs a name, a kind and a positive interval")
	}
	for _, p := range e.periodics {
		if p.name == name {
			panic("jobs: periodic " + name + " registered twice")
		}
	}
	body, err := json.Marshal(payload)
	if err != nil {
		panic(fmt.Sprintf("jobs: periodic %s: marshal payload: %v", name, err))
	}
	e.periodics = append(e.periodics, &periodic{
		name: name, interval: max(interval, time.Millisecond), kind: kind, payload: body, opts: opts,
	})
}

// tickPeriodic enqueues the periodic jobs that are due.
func (e *Engine) tickPeriodic(ctx context.Context) {
	for _, p := range e.periodics {
		now := e.opts.Now()
		if now.Before(p.next) {
			continue
		}
		if err := e.firePeriodic(ctx, p, now); err != nil && ctx.Err() == nil {
			e.log.Warn("periodic job", "name", p.name, "err", err)
		}
	}
}

// firePeriodic moves the schedule's next_run_at forward if it is due and, in
// the same transaction, enqueues the job: of several processes due at once,
// only the one whose UPDATE changed the row enqueues.
func (e *Engine) firePeriodic(ctx context.Context, p *periodic, now time.Time) error {
	nowMs, iv := store.Millis(now), p.interval.Milliseconds()
	if !p.inserted {
		if _, err := e.db.ExecContext(ctx,
			`INSERT INTO periodic (name, next_run_at) VALUES (?, ?) ON CONFLICT (name) DO NOTHING`,
			p.name, nowMs); err != nil {
			return err
		}
		p.inserted = true
	}
	// Keep the cadence (next = previous + interval) unless we are a whole
	// interval late; a next_run_at further away than one interval was set
	// with a longer interval and is treated as due.
	err := e.db.Tx(ctx, func(tx *store.Tx) error {
		res, err := tx.ExecContext(ctx,
			`UPDATE periodic SET next_run_at =
				CASE WHEN next_run_at <= ? AND next_run_at + ? > ? THEN next_run_at + ? ELSE ? END
			 WHERE name = ? AND (next_run_at <= ? OR next_run_at > ?)`,
			nowMs, iv, nowMs, iv, nowMs+iv, p.name, nowMs, nowMs+iv)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n == 0 {
			return err
		}
		_, err = e.EnqueueTx(ctx, tx, p.kind, p.payload, p.opts...)
		return err
	})
	if err != nil {
		return err
	}
	var next int64
	if err := store.Scan(e.db.QueryRowContext(ctx, `SELECT next_run_at FROM periodic WHERE name = ?`, p.name), &next); err != nil {
		return err
	}
	p.next = store.Time(next)
	return nil
}
