package events

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

func TestMain(m *testing.M) { os.Exit(storetest.Main(m)) }

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelWarn}))
}

// startBus runs a Bus until the test ends and waits until it is ready.
func startBus(t *testing.T, db *store.DB, tune func(*Bus)) *Bus {
	t.Helper()
	b := New(db, testLogger(t))
	if tune != nil {
		tune(b)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	select {
	case <-b.Ready():
	case err := <-done:
		t.Fatalf("Run returned early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("bus not ready after 10s")
	}
	return b
}

func publish(t *testing.T, db *store.DB, b *Bus, topic string, payload any) {
	t.Helper()
	if err := db.Tx(context.Background(), func(tx *store.Tx) error {
		return b.Publish(context.Background(), tx, topic, payload)
	}); err != nil {
		t.Fatal(err)
	}
}

func receive(t *testing.T, ch <-chan Event) Event {
	t.Helper()
	select {
	case ev, ok := <-ch:
		if !ok {
			t.Fatal("subscription closed")
		}
		return ev
	case <-time.After(10 * time.Second):
		t.Fatal("no event within 10s")
	}
	return Event{}
}

func expectNothing(t *testing.T, ch <-chan Event, wait time.Duration) {
	t.Helper()
	select {
	case ev := <-ch:
		t.Fatalf("unexpected event %d %s %s", ev.ID, ev.Topic, ev.Payload)
	case <-time.After(wait):
	}
}

type note struct {
	N    int    `json:"n"`
	From string `json:"from,omitempty"`
}

func TestAnEventPublishedInACommittedTransactionIsDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := startBus(t, db, nil)
		ch, cancel := b.Subscribe("build")
		defer cancel()
		before := time.Now().Add(-time.Second)
		publish(t, db, b, "build", note{N: 7})
		ev := receive(t, ch)
		if ev.Topic != "build" || ev.ID <= 0 || ev.At.Before(before) {
			t.Fatalf("got %+v", ev)
		}
		var got note
		if err := json.Unmarshal(ev.Payload, &got); err != nil || got.N != 7 {
			t.Fatalf("payload %s: %v", ev.Payload, err)
		}
	})
}

func TestEventsStoredBeforeRunStartsAreNotDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		old := New(db, testLogger(t))
		publish(t, db, old, "build", note{N: 1})
		b := startBus(t, db, nil)
		ch, cancel := b.Subscribe("")
		defer cancel()
		publish(t, db, b, "build", note{N: 2})
		var got note
		_ = json.Unmarshal(receive(t, ch).Payload, &got)
		if got.N != 2 {
			t.Fatalf("first delivered event is %+v, want the one published after Run", got)
		}
	})
}

func TestAnEventPublishedInARolledBackTransactionIsNeverDelivered(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := startBus(t, db, nil)
		ch, cancel := b.Subscribe("*")
		defer cancel()
		boom := errors.New("boom")
		err := db.Tx(context.Background(), func(tx *store.Tx) error {
			if err := b.Publish(context.Background(), tx, "build", note{N: 1}); err != nil {
				return err
			}
			return boom
		})
		if !errors.Is(err, boom) {
			t.Fatalf("Tx: %v", err)
		}
		publish(t, db, b, "build", note{N: 2})
		var got note
		_ = json.Unmarshal(receive(t, ch).Payload, &got)
		if got.N != 2 {
			t.Fatalf("delivered %+v, want only the committed event", got)
		}
		expectNothing(t, ch, 200*time.Millisecond)
	})
}

func TestSubscribersReceiveOnlyTheirTopicAndWildcardsReceiveAll(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := startBus(t, db, nil)
		builds, c1 := b.Subscribe("build")
		defer c1()
		pushes, c2 := b.Subscribe("push")
		defer c2()
		star, c3 := b.Subscribe("*")
		defer c3()
		all, c4 := b.Subscribe("")
		defer c4()
		publish(t, db, b, "push", note{N: 1})
		publish(t, db, b, "build", note{N: 2})
		if ev := receive(t, pushes); ev.Topic != "push" {
			t.Fatalf("push subscriber got %s", ev.Topic)
		}
		if ev := receive(t, builds); ev.Topic != "build" {
			t.Fatalf("build subscriber got %s", ev.Topic)
		}
		for _, ch := range []<-chan Event{star, all} {
			if a, b := receive(t, ch), receive(t, ch); a.Topic != "push" || b.Topic != "build" {
				t.Fatalf("wildcard subscriber got %s, %s", a.Topic, b.Topic)
			}
		}
		expectNothing(t, builds, 100*time.Millisecond)
		expectNothing(t, pushes, 0)
	})
}

func TestPublishRejectsTheWildcardTopics(t *testing.T) {
	db := storetest.SQLite(t)
	b := New(db, testLogger(t))
	for _, topic := range []string{"", "*"} {
		err := db.Tx(context.Background(), func(tx *store.Tx) error {
			return b.Publish(context.Background(), tx, topic, nil)
		})
		if err == nil {
			t.Errorf("Publish(%q) succeeded", topic)
		}
	}
}

// TestTwoProcessesEachDeliverEveryEventExactlyOnce opens the database twice,
// as two server processes would, and publishes from both at once.
func TestTwoProcessesEachDeliverEveryEventExactlyOnce(t *testing.T) {
	for _, dialect := range []string{"sqlite", "postgres"} {
		t.Run(dialect, func(t *testing.T) {
			var dsn string
			if dialect == "sqlite" {
				dsn = filepath.Join(t.TempDir(), "slipway.db")
			} else {
				dsn = storetest.PostgresDSN(t)
			}
			var dbs [2]*store.DB
			var buses [2]*Bus
			var chans [2]<-chan Event
			for i := range dbs {
				db, err := store.Open(context.Background(), dsn)
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { db.Close() })
				dbs[i] = db
				buses[i] = startBus(t, db, func(b *Bus) { b.pollEvery = 200 * time.Millisecond })
				ch, cancel := buses[i].Subscribe("")
				t.Cleanup(cancel)
				chans[i] = ch
			}
			const perProcess, writers = 40, 4
			var wg sync.WaitGroup
			for p := range 2 {
				for w := range writers {
					wg.Go(func() {
						for n := range perProcess / writers {
							if err := dbs[p].Tx(context.Background(), func(tx *store.Tx) error {
								return buses[p].Publish(context.Background(), tx, "tick",
									note{N: w*1000 + n, From: fmt.Sprint(p)})
							}); err != nil {
								t.Error(err)
							}
						}
					})
				}
			}
			wg.Wait()
			for i, ch := range chans {
				got := map[note]int{}
				ids := map[int64]bool{}
				for range 2 * perProcess {
					ev := receive(t, ch)
					var n note
					if err := json.Unmarshal(ev.Payload, &n); err != nil {
						t.Fatal(err)
					}
					got[n]++
					if ids[ev.ID] {
						t.Fatalf("process %d: event %d delivered twice", i, ev.ID)
					}
					ids[ev.ID] = true
				}
				if len(got) != 2*perProcess {
					t.Fatalf("process %d: %d distinct events, want %d", i, len(got), 2*perProcess)
				}
			}
			// Several polls go by: nothing may be delivered a second time.
			for _, ch := range chans {
				expectNothing(t, ch, 700*time.Millisecond)
			}
		})
	}
}

// TestAnEventCommittedAfterAHigherIDIsStillDeliveredOnce holds one
// transaction open while a later one commits, so id N+1 is visible before N.
func TestAnEventCommittedAfterAHigherIDIsStillDeliveredOnce(t *testing.T) {
	db := storetest.Postgres(t)
	b := startBus(t, db, func(b *Bus) { b.pollEvery = 100 * time.Millisecond })
	ch, cancel := b.Subscribe("")
	defer cancel()

	inserted, release := make(chan struct{}), make(chan struct{})
	slow := make(chan error, 1)
	go func() {
		slow <- db.Tx(context.Background(), func(tx *store.Tx) error {
			if err := b.Publish(context.Background(), tx, "slow", note{N: 1}); err != nil {
				return err
			}
			close(inserted)
			<-release
			return nil
		})
	}()
	<-inserted
	publish(t, db, b, "fast", note{N: 2})
	first := receive(t, ch)
	if first.Topic != "fast" {
		t.Fatalf("first delivered %s, want fast", first.Topic)
	}
	time.Sleep(300 * time.Millisecond) // a few polls while the gap is open
	close(release)
	if err := <-slow; err != nil {
		t.Fatal(err)
	}
	second := receive(t, ch)
	if second.Topic != "slow" || second.ID >= first.ID {
		t.Fatalf("then delivered %s id %d (fast was %d)", second.Topic, second.ID, first.ID)
	}
	expectNothing(t, ch, 400*time.Millisecond)
}

// TestALostListenConnectionIsReestablished kills the LISTEN backend; with
// polling effectively off, only a new LISTEN can deliver an event published
// through another connection pool (another process).
func TestALostListenConnectionIsReestablished(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	open := func() *store.DB {
		db, err := store.Open(context.Background(), dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		return db
	}
	db, other := open(), open()
	b := startBus(t, db, func(b *Bus) { b.pollEvery = time.Hour })
	ch, cancel := b.Subscribe("")
	defer cancel()
	publisher := New(other, testLogger(t))

	waitListening := func() {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for time.Now().Before(deadline) {
			var n int
			if err := store.Scan(other.QueryRowContext(context.Background(),
				"SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"), &n); err != nil {
				t.Fatal(err)
			}
			if n > 0 {
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
		t.Fatal("no LISTEN connection within 10s")
	}
	waitListening()
	if _, err := other.ExecContext(context.Background(),
		"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond)
	waitListening()
	publish(t, other, publisher, "after", note{N: 1})
	if ev := receive(t, ch); ev.Topic != "after" {
		t.Fatalf("got %s", ev.Topic)
	}
}

func TestRunClosesSubscriptionsWhenItReturns(t *testing.T) {
	db := storetest.SQLite(t)
	b := New(db, testLogger(t))
	ch, cancel := b.Subscribe("")
	defer cancel() // after Run closed it: must not panic
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- b.Run(ctx) }()
	<-b.Ready()
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ch; ok {
		t.Fatal("channel still open")
	}
	late, _ := b.Subscribe("")
	if _, ok := <-late; ok {
		t.Fatal("subscription after Run returned is open")
	}
	if err := b.Run(context.Background()); err == nil {
		t.Fatal("second Run succeeded")
	}
}

func TestASlowSubscriberLosesItsOldestEventsWithoutBlockingOthers(t *testing.T) {
	b := New(nil, testLogger(t))
	slow, c1 := b.Subscribe("")
	defer c1()
	fast, c2 := b.Subscribe("")
	defer c2()
	received := 0
	for i := range SubscriberBuffer + 10 {
		b.fanOut([]Event{{ID: int64(i + 1), Topic: "t"}})
		<-fast
		received++
	}
	if received != SubscriberBuffer+10 {
		t.Fatalf("fast subscriber got %d", received)
	}
	if got := (<-slow).ID; got != 11 {
		t.Fatalf("slow subscriber's oldest queued event is %d, want 11", got)
	}
	if len(slow) != SubscriberBuffer-1 {
		t.Fatalf("slow subscriber holds %d more", len(slow))
	}
}

func TestTheCursorWaitsForAGapAndGivesUpOnItAfterTheTimeout(t *testing.T) {
	t0 := time.Unix(1000, 0)
	tr := newTracker(10, 10*time.Second)
	for _, id := range []int64{11, 13, 14} {
		if !tr.accept(id, t0) {
			t.Fatalf("accept(%d) = false", id)
		}
	}
	tr.advance(t0)
	if tr.cursor != 11 {
		t.Fatalf("cursor %d, want 11 (12 is missing)", tr.cursor)
	}
	if tr.accept(13, t0.Add(time.Second)) {
		t.Fatal("13 accepted twice")
	}
	// 12 commits late: delivered once, and the cursor catches up.
	if !tr.accept(12, t0.Add(2*time.Second)) {
		t.Fatal("late 12 refused")
	}
	tr.advance(t0.Add(2 * time.Second))
	if tr.cursor != 14 || len(tr.seen) != 0 {
		t.Fatalf("cursor %d seen %v, want 14 and nothing", tr.cursor, tr.seen)
	}
	// 15 never commits: the cursor stays below it for the timeout, then moves on.
	tr.accept(16, t0.Add(3*time.Second))
	tr.advance(t0.Add(12 * time.Second))
	if tr.cursor != 14 {
		t.Fatalf("cursor %d, want 14 while 15 may still commit", tr.cursor)
	}
	tr.accept(17, t0.Add(12*time.Second))
	tr.advance(t0.Add(13*time.Second + time.Millisecond))
	if tr.cursor != 17 {
		t.Fatalf("cursor %d, want 17 once 15 has been missing for 10s", tr.cursor)
	}
	if tr.accept(15, t0.Add(14*time.Second)) {
		t.Fatal("an id below the cursor was accepted")
	}
}

func TestPruneDeletesOnlyEventsOlderThanTheCutoff(t *testing.T) {
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		b := startBus(t, db, nil)
		publish(t, db, b, "push", map[string]int{"n": 1})
		publish(t, db, b, "push", map[string]int{"n": 2})
		ctx := context.Background()
		if n, err := b.Prune(ctx, time.Now().Add(-time.Hour)); err != nil || n != 0 {
			t.Fatalf("prune with an old cutoff: %d, %v", n, err)
		}
		if n, err := b.Prune(ctx, time.Now().Add(time.Second)); err != nil || n != 2 {
			t.Fatalf("prune: %d, %v", n, err)
		}
	})
}
