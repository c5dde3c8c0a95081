package checkout

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
)

// HoldMetrics observes the expiry sweeper: how many holds it expired and
// how late (now - expires_at when each expired).
type HoldMetrics struct {
	expired  prometheus.Counter
	lateness prometheus.Histogram
}

// NewHoldMetrics registers the sweeper's metrics on reg.
func NewHoldMetrics(reg prometheus.Registerer) *HoldMetrics {
	m := &HoldMetrics{
		expired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blitzbuy_holds_expired_total", Help: "Held orders this instance's sweeper expired (their units went back to the sale).",
		}),
		lateness: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "blitzbuy_hold_expiry_lateness_seconds", Help: "How long after expires_at a hold was expired (each sweep's mean, once per hold it expired).",
			Buckets: telemetry.LatencyBuckets,
		}),
	}
	reg.MustRegister(m.expired, m.lateness)
	return m
}

// Expired implements ExpiryMetrics.
func (m *HoldMetrics) Expired(n int, lateness time.Duration) {
	if m == nil || n == 0 {
		return
	}
	m.expired.Add(float64(n))
	mean := lateness.Seconds() / float64(n)
	for range n {
		m.lateness.Observe(mean)
	}
}
