package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Metrics counts order outcomes and refused authentications.
type Metrics struct {
	orders      *prometheus.CounterVec
	authLimited prometheus.Counter
}

// NewMetrics registers the order metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{orders: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blitzbuy_orders_total", Help: "Order requests by outcome (accepted, replayed, sold_out, limit, not_active, rate_limited, rejected, error).",
	}, []string{"outcome"}),
		authLimited: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "blitzbuy_auth_limited_total", Help: "Requests answered 429 because their source address is past its failed-authentication limit (BLITZBUY_AUTH_FAIL_LIMIT).",
		}),
	}
	for _, o := range order.OutcomeKinds {
		m.orders.WithLabelValues(string(o)) // every series exists from the start (rates are never "no data")
	}
	reg.MustRegister(m.orders, m.authLimited)
	return m
}

func (m *Metrics) outcome(o order.OutcomeKind) {
	if m != nil {
		m.orders.WithLabelValues(string(o)).Inc()
	}
}
