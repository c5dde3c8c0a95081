package publish

import (
	"context"
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
)

// Metrics of publishing: how long the broker takes to ack, why it fails,
// and what the relay had to rescue.
type Metrics struct {
	duration *prometheus.HistogramVec
	errors   *prometheus.CounterVec
	relayed  prometheus.Counter
}

// NewMetrics registers the publish metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "blitzbuy_publish_duration_seconds", Help: "Time from handing an order to the producer to the broker's ack (exemplars: trace_id).",
			Buckets: telemetry.LatencyBuckets,
		}, []string{"source"}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blitzbuy_publish_errors_total", Help: "Publishes that failed, by reason (timeout, broker, canceled, other).",
		}, []string{"reason"}),
		relayed: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blitzbuy_relay_published_total", Help: "Stranded orders the relay re-published.",
		}),
	}
	for _, r := range []string{"timeout", "broker", "canceled", "other"} {
		m.errors.WithLabelValues(r)
	}
	m.duration.WithLabelValues("api")
	m.duration.WithLabelValues("relay")
	m.duration.WithLabelValues("transition")
	reg.MustRegister(m.duration, m.errors, m.relayed)
	return m
}

func (m *Metrics) observe(ctx context.Context, source string, took time.Duration, err error) {
	if m == nil {
		return
	}
	if err != nil {
		m.errors.WithLabelValues(errorReason(err)).Inc()
		return
	}
	telemetry.ObserveWithTrace(m.duration.WithLabelValues(source), took.Seconds(), ctx)
}

func errorReason(err error) string {
	var ke *kerr.Error
	switch {
	case errors.Is(err, kgo.ErrRecordTimeout), errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, kgo.ErrRecordRetries):
		return "canceled"
	case errors.As(err, &ke):
		return "broker"
	default:
		return "other"
	}
}
