// Package events delivers platform events to every server process sharing the
// database. An event is a row in the events table written in the publisher's
// transaction, so it exists if and only if the change it describes committed;
// each process's Bus reads new rows and hands them to its local subscribers.
//
// Wake-ups come from local commits, from PostgreSQL's LISTEN/NOTIFY (other
// processes) and from a poll every second, the only cross-process source on
// SQLite. Delivery is in id order except for an event whose id was allocated
// early but committed late (PostgreSQL), which is delivered when it appears.
package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/slipway/slipway/store"
)

// Event is one platform event as subscribers receive it. Subscribers share
// one Payload: read it, do not modify it.
type Event struct {
	ID      int64
	Topic   string
	Payload json.RawMessage
	At      time.Time
}

// channel is the PostgreSQL notification channel publishers signal on commit.
const channel = "slipway_events"

// Defaults for the delivery loop.
const (
	// SubscriberBuffer is how many undelivered events a subscriber may have
	// queued before the oldest is dropped.
	SubscriberBuffer = 256
	defaultPoll      = time.Second
	// An id still missing this long after a higher id became visible belongs
	// to a rolled-back transaction: PostgreSQL transactions that publish are short.
	defaultGapTimeout = 10 * time.Second
	readBatch         = 500
)

// Bus publishes events in callers' transactions and delivers committed events
// to this process's subscribers, each exactly once.
type Bus struct {
	db  *store.DB
	log *slog.Logger

	pollEvery  time.Duration
	gapTimeout time.Duration

	wake    chan struct{}
	ready   chan struct{}
	running atomic.Bool

	mu      sync.Mutex
	subs    map[int]*subscriber
	nextSub int
	stopped bool
}

type subscriber struct {
	topic   string // "" for all topics
	ch      chan Event
	dropped int
}

// New returns a Bus over db. Nothing is delivered until Run is called.
func New(db *store.DB, log *slog.Logger) *Bus {
	if log == nil {
		log = slog.Default()
	}
	return &Bus{
		db:         db,
		log:        log,
		pollEvery:  defaultPoll,
		gapTimeout: defaultGapTimeout,
		wake:       make(chan struct{}, 1),
		ready:      make(chan struct{}),
		subs:       map[int]*subscriber{},
	}
}

// Publish records an event in tx. It is delivered (to every process) only if
// tx commits. payload is encoded as JSON.
func (b *Bus) Publish(ctx context.Context, tx *store.Tx, topic string, payload any) error {
	if topic == "" || topic == "*" {
		return fmt.Errorf("publish: topic %q is reserved for subscribing to all topics", topic)
	}
	data, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("publish %s: encode payload: %w", topic, err)
	}
	if _, err := tx.ExecContext(ctx, "INSERT INTO events (topic, payload, at) VALUES (?, ?, ?)",
		topic, string(data), store.Millis(time.Now())); err != nil {
		return fmt.Errorf("publish %s: %w", topic, err)
	}
	if tx.Dialect() == store.Postgres {
		// Sent by PostgreSQL at commit and dropped on rollback; repeats within
		// one transaction collapse into one notification.
		if _, err := tx.ExecContext(ctx, "SELECT pg_notify('"+channel+"', '')"); err != nil {
			return fmt.Errorf("publish %s: notify: %w", topic, err)
		}
	}
	tx.OnCommit(b.poke)
	return nil
}

// Subscribe returns a channel of the events on topic ("" or "*" for every
// topic) and a func that cancels the subscription and closes the channel.
// The channel holds SubscriberBuffer events; when a subscriber falls further
// behind, the oldest queued event is dropped (with a logged warning) so that
// one slow subscriber never delays the others. The channel is also closed
// when Run returns.
func (b *Bus) Subscribe(topic string) (<-chan Event, func()) {
	if topic == "*" {
		topic = ""
	}
	s := &subscriber{topic: topic, ch: make(chan Event, SubscriberBuffer)}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.stopped {
		close(s.ch)
		return s.ch, func() {}
	}
	id := b.nextSub
	b.nextSub++
	b.subs[id] = s
	var once sync.Once
	return s.ch, func() {
		once.Do(func() {
			b.mu.Lock()
			defer b.mu.Unlock()
			if _, ok := b.subs[id]; ok {
				delete(b.subs, id)
				close(s.ch)
			}
		})
	}
}

// Drain empties ch of the events queued behind one just received, so that a
// subscriber that reloads its state on any change reloads once for them
// all.
func Drain(ch <-chan Event) {
	for {
		select {
		case <-ch:
		default:
			return
		}
	}
}

// Ready is closed once Run has read its starting point: events committed
// after that are delivered. It stays open if Run fails before that.
func (b *Bus) Ready() <-chan struct{} { return b.ready }

// Run owns the delivery loop (and, on PostgreSQL, the LISTEN connection). It
// starts after the newest event already stored, so only new events are
// delivered, and returns nil once ctx is done, closing every subscription.
// Run may be called once per Bus.
func (b *Bus) Run(ctx context.Context) error {
	if !b.running.CompareAndSwap(false, true) {
		return errors.New("events: Run called twice")
	}
	defer b.stop()
	var start int64
	if err := store.Scan(b.db.QueryRowContext(ctx, "SELECT COALESCE(MAX(id), 0) FROM events"), &start); err != nil {
		if ctx.Err() != nil {
			return nil
		}
		return fmt.Errorf("events: read starting point: %w", err)
	}
	tr := newTracker(start, b.gapTimeout)
	close(b.ready)

	var wg sync.WaitGroup
	defer wg.Wait()
	if b.db.Dialect() == store.Postgres {
		wg.Go(func() { b.listen(ctx) })
	}
	tick := time.NewTicker(b.pollEvery)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-b.wake:
		case <-tick.C:
		}
		if err := b.deliver(ctx, tr); err != nil && ctx.Err() == nil {
			// The next wake-up or tick retries from the same cursor.
			b.log.Warn("events: read new events", "err", err)
		}
	}
}

func (b *Bus) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

func (b *Bus) stop() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.stopped = true
	for id, s := range b.subs {
		delete(b.subs, id)
		close(s.ch)
	}
}

// deliver reads every event above the cursor, hands the unseen ones to the
// subscribers and moves the cursor past what can no longer appear.
func (b *Bus) deliver(ctx context.Context, tr *tracker) error {
	from := tr.cursor
	for {
		batch, err := b.read(ctx, from)
		if err != nil {
			return err
		}
		now := time.Now()
		fresh := batch[:0]
		for _, ev := range batch {
			if tr.accept(ev.ID, now) {
				fresh = append(fresh, ev)
			}
		}
		b.fanOut(fresh)
		if len(batch) < readBatch {
			break
		}
		from = batch[len(batch)-1].ID
	}
	tr.advance(time.Now())
	return nil
}

func (b *Bus) read(ctx context.Context, after int64) ([]Event, error) {
	rows, err := b.db.QueryContext(ctx,
		"SELECT id, topic, payload, at FROM events WHERE id > ? ORDER BY id LIMIT ?", after, readBatch)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []Event
	for rows.Next() {
		var ev Event
		var payload string
		var at int64
		if err := rows.Scan(&ev.ID, &ev.Topic, &payload, &at); err != nil {
			return nil, err
		}
		ev.Payload = json.RawMessage(payload)
		ev.At = store.Time(at)
		out = append(out, ev)
	}
	return out, rows.Err()
}

func (b *Bus) fanOut(evs []Event) {
	if len(evs) == 0 {
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, ev := range evs {
		for _, s := range b.subs {
			if s.topic != "" && s.topic != ev.Topic {
				continue
			}
			select {
			case s.ch <- ev:
				continue
			default:
			}
			// Full: make room by dropping the oldest queued event. Only this
			// loop sends, so the second send can fail only if the subscriber
			// raced us to drain it, which leaves room anyway.
			select {
			case <-s.ch:
				s.dropped++
			default:
			}
			select {
			case s.ch <- ev:
			default:
				s.dropped++
			}
		}
	}
	for _, s := range b.subs {
		if s.dropped > 0 {
			b.log.Warn("events: slow subscriber, dropped oldest events",
				"topic", s.topic, "dropped", s.dropped, "buffer", SubscriberBuffer)
			s.dropped = 0
		}
	}
}

// listen keeps a LISTEN connection open, waking the loop on each
// notification, and reconnects with backoff when it fails.
func (b *Bus) listen(ctx context.Context) {
	backoff := time.Second
	for {
		began := time.Now()
		err := b.listenOnce(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(began) > time.Minute {
			backoff = time.Second
		}
		b.log.Warn("events: LISTEN connection lost, polling until it is back",
			"err", err, "retry_in", backoff)
		select {
		case <-ctx.Done():
			return
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 30*time.Second)
	}
}

func (b *Bus) listenOnce(ctx context.Context) error {
	conn, err := pgx.Connect(ctx, b.db.DSN())
	if err != nil {
		return fmt.Errorf("connect: %w", err)
	}
	defer func() {
		cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = conn.Close(cctx)
	}()
	if _, err := conn.Exec(ctx, "LISTEN "+channel); err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	// Notifications sent while we were not listening are lost: read now.
	b.poke()
	for {
		if _, err := conn.WaitForNotification(ctx); err != nil {
			return fmt.Errorf("wait for notification: %w", err)
		}
		b.poke()
	}
}

// tracker remembers what has been delivered. On PostgreSQL identity values
// are allocated at insert but become visible at commit, so id 11 may be read
// before id 10: the cursor stops below such a gap and the ids above it that
// were already delivered are remembered, until the gap fills or is old
// enough to be a rolled-back id.
type tracker struct {
	// cursor: every id <= cursor was delivered or given up.
	cursor int64
	// seen holds the delivered ids above cursor and when each was first read.
	seen    map[int64]time.Time
	timeout time.Duration
}

func newTracker(cursor int64, timeout time.Duration) *tracker {
	return &tracker{cursor: cursor, seen: map[int64]time.Time{}, timeout: timeout}
}

// accept reports whether id is new and must be delivered.
func (t *tracker) accept(id int64, now time.Time) bool {
	if id <= t.cursor {
		return false
	}
	if _, ok := t.seen[id]; ok {
		return false
	}
	t.seen[id] = now
	return true
}

// advance moves the cursor over delivered ids and over gaps that have been
// open longer than the timeout.
func (t *tracker) advance(now time.Time) {
	if len(t.seen) == 0 {
		return
	}
	ids := slices.Sorted(maps.Keys(t.seen))
	// A missing id x became a gap when the first id above it was read:
	// noticed[i] is the earliest read time among ids[i:].
	noticed := make([]time.Time, len(ids))
	for i := len(ids) - 1; i >= 0; i-- {
		noticed[i] = t.seen[ids[i]]
		if i+1 < len(ids) && noticed[i+1].Before(noticed[i]) {
			noticed[i] = noticed[i+1]
		}
	}
	for i, id := range ids {
		if id != t.cursor+1 && now.Sub(noticed[i]) < t.timeout {
			return
		}
		delete(t.seen, id)
		t.cursor = id
	}
}

// Prune deletes events older than before and returns how many went. Events
// are for live delivery; what must last (push events, executions) lives in
// its owner's tables.
func (b *Bus) Prune(ctx context.Context, before time.Time) (int64, error) {
	res, err := b.db.ExecContext(ctx, "DELETE FROM events WHERE at < ?", store.Millis(before))
	if err != nil {
		return 0, fmt.Errorf("prune events: %w", err)
	}
	return res.RowsAffected()
}
