package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Order outcomes: the `outcome` label of blitzbuy_orders_total (a fixed set).
const (
	OutcomeAccepted    = "accepted"
	OutcomeReplayed    = "replayed"
	OutcomeSoldOut     = "sold_out"
	OutcomeLimit       = "limit"
	OutcomeNotActive   = "not_active"
	OutcomeRateLimited = "rate_limited"
	OutcomeRejected    = "rejected" // invalid request, unknown sale, reused key
	OutcomeError       = "error"    // 503/500: the system failed the buyer
)

// Metrics counts order outcomes.
type Metrics struct{ orders *prometheus.CounterVec }

// NewMetrics registers the order metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{orders: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blitzbuy_orders_total", Help: "Order requests by outcome (accepted, replayed, sold_out, limit, not_active, rate_limited, rejected, error).",
	}, []string{"outcome"})}
	for _, o := range []string{OutcomeAccepted, OutcomeReplayed, OutcomeSoldOut, OutcomeLimit, OutcomeNotActive,
		OutcomeRateLimited, OutcomeRejected, OutcomeError} {
		m.orders.WithLabelValues(o) // every series exists from the start (rates are never "no data")
	}
	reg.MustRegister(m.orders)
	return m
}

func (m *Metrics) outcome(o string) {
	if m != nil {
		m.orders.WithLabelValues(o).Inc()
	}
}

// outcomeOf maps an answer's error to its outcome label.
func outcomeOf(err error, replayed bool) string {
	switch order.CodeOf(err) {
	case order.CodeSoldOut:
		return OutcomeSoldOut
	case order.CodePurchaseLimit:
		return OutcomeLimit
	case order.CodeSaleNotActive:
		return OutcomeNotActive
	case order.CodeRateLimited:
		return OutcomeRateLimited
	case order.CodeUnavailable, order.CodeInternal:
		return OutcomeError
	}
	if err == nil {
		if replayed {
			return OutcomeReplayed
		}
		return OutcomeAccepted
	}
	return OutcomeRejected
}
