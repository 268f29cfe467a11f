package jobs_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slipway/slipway/jobs"
	"github.com/slipway/slipway/store"
	"github.com/slipway/slipway/store/storetest"
)

// benchEmptyJobs enqueues b.N jobs, then measures how long one engine takes
// to claim, run (an empty handler) and complete them all.
func benchEmptyJobs(b *testing.B, db *store.DB) {
	ctx := context.Background()
	e := jobs.New(db, jobs.Options{Logger: quiet(), PollInterval: 50 * time.Millisecond})
	var left atomic.Int64
	left.Store(int64(b.N))
	all := make(chan struct{})
	e.Register("noop", func(ctx context.Context, j *jobs.Job) error {
		if left.Add(-1) == 0 {
			close(all)
		}
		return nil
	})
	err := db.Tx(ctx, func(tx *store.Tx) error {
		for range b.N {
			if _, err := e.EnqueueTx(ctx, tx, "noop", nil); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		b.Fatal(err)
	}
	runCtx, stop := context.WithCancel(ctx)
	errc := make(chan error, 1)
	b.ResetTimer()
	begin := time.Now()
	go func() { errc <- e.Run(runCtx) }()
	<-all
	stop() // Run returns once the last outcomes are written
	if err := <-errc; err != nil {
		b.Fatal(err)
	}
	elapsed := time.Since(begin)
	b.StopTimer()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	var n int
	if err := store.Scan(db.QueryRowContext(ctx, "SELECT COUNT(*) FROM jobs WHERE state = 'completed'"), &n); err != nil || n != b.N {
		b.Fatalf("%d jobs completed (%v), want %d", n, err, b.N)
	}
}

func BenchmarkEngine_EmptyJobsSQLite(b *testing.B) { benchEmptyJobs(b, storetest.SQLite(b)) }

func BenchmarkEngine_EmptyJobsPostgres(b *testing.B) { benchEmptyJobs(b, storetest.Postgres(b)) }
