package httpapi

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Metrics counts order outcomes.
type Metrics struct{ orders *prometheus.CounterVec }

// NewMetrics registers the order metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{orders: prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "blitzbuy_orders_total", Help: "Order requests by outcome (accepted, replayed, sold_out, limit, not_active, rate_limited, rejected, error).",
	}, []string{"outcome"})}
	for _, o := range order.OutcomeKinds {
		m.orders.WithLabelValues(string(o)) // every series exists from the start (rates are never "no data")
	}
	reg.MustRegister(m.orders)
	return m
}

func (m *Metrics) outcome(o order.OutcomeKind) {
	if m != nil {
		m.orders.WithLabelValues(string(o)).Inc()
	}
}
