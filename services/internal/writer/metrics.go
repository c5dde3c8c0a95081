package writer

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Metrics are the writer's Prometheus series (labels are small fixed sets).
type Metrics struct {
	consumed, inserted, duplicates, compensations prometheus.Counter
	skipped, retries, dlq, transitions            *prometheus.CounterVec
	batchSize, insertSeconds, persistLatency      prometheus.Histogram
	outage                                        prometheus.Gauge
	Lag                                           *prometheus.GaugeVec
}

// NewMetrics registers the writer's metrics on reg (nil: not registered).
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		consumed:      prometheus.NewCounter(prometheus.CounterOpts{Name: "blitzbuy_writer_records_consumed_total", Help: "Records read from the orders topic."}),
		inserted:      prometheus.NewCounter(prometheus.CounterOpts{Name: "blitzbuy_writer_rows_inserted_total", Help: "Order rows inserted into PostgreSQL."}),
		duplicates:    prometheus.NewCounter(prometheus.CounterOpts{Name: "blitzbuy_writer_duplicates_total", Help: "Events whose order was already persisted (redelivery, relay re-publish)."}),
		compensations: prometheus.NewCounter(prometheus.CounterOpts{Name: "blitzbuy_writer_compensations_total", Help: "Valid orders rejected by the database whose reservation was released (saga)."}),
		skipped:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "blitzbuy_writer_skipped_total", Help: "Events not persisted because their reservation was released or compensated, by stage."}, []string{"reason"}),
		retries:       prometheus.NewCounterVec(prometheus.CounterOpts{Name: "blitzbuy_writer_retries_total", Help: "Batch attempts that failed transiently and were retried, by reason."}, []string{"reason"}),
		dlq:           prometheus.NewCounterVec(prometheus.CounterOpts{Name: "blitzbuy_writer_dlq_records_total", Help: "Records sent to orders.dlq, by reason."}, []string{"reason"}),
		transitions: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "blitzbuy_writer_transitions_total",
			Help: "Checkout-window transitions by the hold they end in (paid, expired, cancelled) and outcome: applied (when it ended the persisted hold, also for one that arrived early), early (kept until its order is persisted), duplicate, refused (dead-lettered)."},
			[]string{"type", "outcome"}),
		batchSize: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "blitzbuy_writer_batch_size", Help: "Records per batch.",
			Buckets: prometheus.ExponentialBuckets(1, 4, 8)}),
		insertSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "blitzbuy_writer_insert_duration_seconds", Help: "Duration of one batch insert transaction.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14)}),
		persistLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "blitzbuy_writer_persist_latency_seconds", Help: "End-to-end latency from reservation (reserved_at) to the committed row.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2, 14)}),
		outage: prometheus.NewGauge(prometheus.GaugeOpts{Name: "blitzbuy_writer_retrying", Help: "1 while the writer is retrying a failed batch (database or broker outage)."}),
		Lag:    prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "blitzbuy_writer_consumer_lag", Help: "Records not yet committed by the writer's group, per partition."}, []string{"partition"}),
	}
	// Every label value exists from the start, so rates and alerts see 0, not "no data".
	for _, r := range []string{ReasonMalformed, ReasonUnknownSchema, ReasonInvalid, ReasonConstraint, ReasonUnvouched} {
		m.dlq.WithLabelValues(r)
	}
	for _, h := range []order.Hold{order.HoldPaid, order.HoldExpired, order.HoldCancelled} {
		for _, o := range []string{TransitionApplied, TransitionEarly, TransitionDuplicate, TransitionRefused} {
			m.transitions.WithLabelValues(string(h), o)
		}
	}
	for _, r := range []string{"redis", "kafka", "commit", "connection", "timeout", "serialization_failure", "deadlock",
		"database_shutdown", "insufficient_resources", "database_error", "database_unavailable"} {
		m.retries.WithLabelValues(r)
	}
	for _, st := range skipStages {
		m.skipped.WithLabelValues(string(st))
	}
	if reg != nil {
		reg.MustRegister(m.consumed, m.inserted, m.duplicates, m.compensations, m.skipped, m.retries, m.dlq, m.transitions,
			m.batchSize, m.insertSeconds, m.persistLatency, m.outage, m.Lag)
	}
	return m
}
