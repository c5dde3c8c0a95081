package telemetry

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"github.com/twmb/franz-go/plugin/kprom"
	"go.opentelemetry.io/otel"
)

// NewRegistry returns a Prometheus registry with the Go runtime and process
// collectors, the base of both services' metrics.
func NewRegistry() *prometheus.Registry {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return reg
}

// Kafka instruments a franz-go client: kotel tracing hooks on the global
// tracer provider and propagator (W3C context in record headers) and kprom
// metrics on reg. It returns the tracer (the writer opens process spans with
// it) and the client option that installs both hooks.
func Kafka(reg prometheus.Registerer, opts ...kotel.TracerOpt) (*kotel.Tracer, kgo.Opt) {
	tracer := kotel.NewTracer(append([]kotel.TracerOpt{
		kotel.TracerProvider(otel.GetTracerProvider()), kotel.TracerPropagator(otel.GetTextMapPropagator()),
	}, opts...)...)
	hooks := kotel.NewKotel(kotel.WithTracer(tracer)).Hooks()
	return tracer, kgo.WithHooks(append(hooks, kprom.NewMetrics("blitzbuy_kafka", kprom.Registerer(reg)))...)
}
