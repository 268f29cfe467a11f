package jobs

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/slipway/slipway/store"
)

// metrics are the engine's Prometheus metrics; a nil *metrics records nothing.
type metrics struct {
	outcomes *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(e *Engine, reg prometheus.Registerer) *metrics {
	m := &metrics{
		outcomes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_jobs_outcomes_total",
			Help: "Job attempts by kind and outcome (completed, retried, failed, cancelled, released at shutdown, lost lease).",
		}, []string{"kind", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "slipway_jobs_handler_duration_seconds",
			Help: "Time handlers took per attempt, by kind.",
			// 10ms to about 3h: jobs range from bookkeeping to long builds.
			Buckets: prometheus.ExponentialBuckets(0.01, 4, 11),
		}, []string{"kind"}),
	}
	for _, c := range []prometheus.Collector{m.outcomes, m.duration, &queueCollector{e: e, desc: prometheus.NewDesc("slipway_jobs_queue_depth",
		"Unfinished jobs in the database by state: available (due now), scheduled (due later), retryable (waiting for another attempt), running.",
		[]string{"state"}, nil)}} {
		if err := reg.Register(c); err != nil {
			// Another Engine in this process registered them; the queue
			// depth is the same database-wide anyway.
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				switch existing := are.ExistingCollector.(type) {
				case *prometheus.CounterVec:
					m.outcomes = existing
				case *prometheus.HistogramVec:
					m.duration = existing
				}
				continue
			}
			e.log.Warn("register job metrics", "err", err)
		}
	}
	return m
}

func (m *metrics) observe(kind string, d time.Duration) {
	if m != nil {
		m.duration.WithLabelValues(kind).Observe(d.Seconds())
	}
}

func (m *metrics) outcome(kind, outcome string) {
	if m != nil {
		m.outcomes.WithLabelValues(kind, outcome).Inc()
	}
}

// queueCollector counts unfinished jobs at scrape time: one indexed query, and
// no work at all when nobody scrapes.
type queueCollector struct {
	e    *Engine
	desc *prometheus.Desc
}

func (c *queueCollector) Describe(ch chan<- *prometheus.Desc) { ch <- c.desc }

func (c *queueCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	counts, err := c.e.queueDepth(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.desc, err)
		return
	}
	// Every state is reported, zero included, so that dashboards see it.
	for _, s := range [...]string{"available", "scheduled", "retryable", "running"} {
		ch <- prometheus.MustNewConstMetric(c.desc, prometheus.GaugeValue, float64(counts[s]), s)
	}
}

// queueDepth counts unfinished jobs by the states of the queue depth gauge.
func (e *Engine) queueDepth(ctx context.Context) (map[string]int64, error) {
	rows, err := e.db.QueryContext(ctx, `SELECT
			CASE WHEN state = 'running' THEN 'running'
			     WHEN attempt > 0 THEN 'retryable'
			     WHEN run_at > ? THEN 'scheduled'
			     ELSE 'available' END AS s,
			COUNT(*)
		FROM jobs WHERE state IN ('available', 'running') GROUP BY s`, store.Millis(e.opts.Now()))
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	counts := map[string]int64{}
	for rows.Next() {
		var s string
		var n int64
		if err := rows.Scan(&s, &n); err != nil {
			return nil, err
		}
		counts[s] = n
	}
	return counts, rows.Err()
}
