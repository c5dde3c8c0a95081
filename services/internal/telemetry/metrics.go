package telemetry

import (
	"context"
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/otel/trace"
)

// LatencyBuckets suit a hot path measured in milliseconds (0.5 ms … ~4 s).
var LatencyBuckets = []float64{.0005, .001, .002, .005, .01, .02, .05, .1, .25, .5, 1, 2, 4}

// HTTPMetrics is RED for the API: requests by route, method and status
// class, and a latency histogram by route and method whose observations carry
// the trace id as an exemplar (Grafana jumps from a slow point to its trace).
type HTTPMetrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

// NewHTTPMetrics registers the RED metrics on reg.
func NewHTTPMetrics(reg prometheus.Registerer) *HTTPMetrics {
	m := &HTTPMetrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "blitzbuy_http_requests_total", Help: "HTTP requests by route pattern, method and status class.",
		}, []string{"route", "method", "code_class"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "blitzbuy_http_request_duration_seconds", Help: "HTTP request latency by route pattern and method (exemplars: trace_id).",
			Buckets: LatencyBuckets,
		}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

var codeClasses = [...]string{"1xx", "1xx", "2xx", "3xx", "4xx", "5xx"}

// Middleware (chi) records every request but the probes and scrapes.
func (m *HTTPMetrics) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		t0 := time.Now()
		rec := recorderFor(w)
		next.ServeHTTP(rec, r)
		route := "unmatched"
		if rctx := chi.RouteContext(r.Context()); rctx != nil && rctx.RoutePattern() != "" {
			route = rctx.RoutePattern()
		}
		class := "5xx"
		if c := rec.status / 100; c >= 1 && c <= 5 {
			class = codeClasses[c]
		}
		m.requests.WithLabelValues(route, r.Method, class).Inc()
		ObserveWithTrace(m.duration.WithLabelValues(route, r.Method), time.Since(t0).Seconds(), r.Context())
	})
}

// ObserveWithTrace records v with the context's trace id as an exemplar when
// the span is sampled (an unsampled id would link to nothing).
func ObserveWithTrace(o prometheus.Observer, v float64, ctx context.Context) {
	sc := trace.SpanContextFromContext(ctx)
	if eo, ok := o.(prometheus.ExemplarObserver); ok && sc.IsSampled() {
		eo.ObserveWithExemplar(v, prometheus.Labels{"trace_id": sc.TraceID().String()})
		return
	}
	o.Observe(v)
}
