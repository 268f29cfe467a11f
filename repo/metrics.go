package repo

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// Metrics counts git traffic. A nil *Metrics counts nothing.
type Metrics struct {
	gitOps     *prometheus.CounterVec
	pushEvents prometheus.Counter
}

// NewMetrics creates the repository metrics and registers them with reg
// (when reg is not nil):
//
//   - slipway_git_operations_total{service, outcome}: smart HTTP exchanges
//     (POST git-upload-pack / git-receive-pack; ref advertisements are not
//     counted), outcome being ok, error, canceled or bad_request. A push or a
//     protocol v0 fetch is one operation.
//   - slipway_push_events_total: ref updates recorded as push events.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		gitOps: f.NewCounterVec(prometheus.CounterOpts{
			Name: "slipway_git_operations_total",
			Help: "Smart HTTP git exchanges served, by service and outcome.",
		}, []string{"service", "outcome"}),
		pushEvents: f.NewCounter(prometheus.CounterOpts{
			Name: "slipway_push_events_total",
			Help: "Ref updates recorded as push events.",
		}),
	}
	// Present every series from the start, so rates need no "absent" care.
	for _, svc := range []string{"git-upload-pack", "git-receive-pack"} {
		for _, outcome := range []string{"ok", "error", "canceled", "bad_request"} {
			m.gitOps.WithLabelValues(svc, outcome)
		}
	}
	return m
}

func (m *Metrics) gitOp(service, outcome string) {
	if m != nil {
		m.gitOps.WithLabelValues(service, outcome).Inc()
	}
}

func (m *Metrics) pushed(n int) {
	if m != nil {
		m.pushEvents.Add(float64(n))
	}
}
