package writer_test

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// Each record's "orders process" span continues its producer's trace, and
// the batch insert span is the first record's child and links every other
// record it wrote (the e2e test sees a one-record batch; this one a batch of 3).
func TestWriterSpansContinueTracesAndLinkTheBatch(t *testing.T) {
	f := newFixture(t, 1)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	prop := propagation.TraceContext{}
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(prop)
	// Later tests must not record into this test's memory.
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })

	// Three events, each produced under its own (sampled) trace.
	sale, evs := f.events(3)
	producerTracer := tp.Tracer("test-producer")
	parents := map[trace.TraceID]bool{}
	var recs []*kgo.Record
	for _, e := range evs {
		ctx, span := producerTracer.Start(context.Background(), "order placed")
		parents[span.SpanContext().TraceID()] = true
		v, _ := e.Encode()
		r := &kgo.Record{Key: []byte(e.OrderID), Value: v}
		prop.Inject(ctx, kotel.NewRecordCarrier(r))
		span.End()
		recs = append(recs, r)
	}
	f.produceRaw(recs...)

	kt := kotel.NewTracer(kotel.TracerProvider(tp), kotel.TracerPropagator(prop), kotel.ConsumerGroup(f.group))
	cfg := f.config()
	cfg.Tracer = kt
	cfg.BatchWait = 500 * time.Millisecond // the three records land in one batch
	cfg.Opts = []kgo.Opt{kgo.WithHooks(kotel.NewKotel(kotel.WithTracer(kt)).Hooks()...)}
	f.start(cfg)
	f.waitRows(sale, 3, time.Minute)
	_ = tp.ForceFlush(context.Background())

	var process []sdktrace.ReadOnlySpan
	var insert sdktrace.ReadOnlySpan
	deadline := time.Now().Add(10 * time.Second)
	for insert == nil && time.Now().Before(deadline) {
		process = process[:0]
		for _, s := range rec.Ended() {
			switch s.Name() {
			case f.topic + " process":
				process = append(process, s)
			case "orders batch insert":
				insert = s
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	if len(process) != 3 || insert == nil {
		t.Fatalf("%d process spans and batch insert %v, want 3 and one", len(process), insert != nil)
	}
	for _, p := range process {
		if !parents[p.SpanContext().TraceID()] {
			t.Errorf("process span in trace %s, which no producer started", p.SpanContext().TraceID())
		}
	}
	linked := map[trace.SpanID]bool{insert.Parent().SpanID(): true}
	for _, l := range insert.Links() {
		linked[l.SpanContext.SpanID()] = true
	}
	for _, p := range process {
		if !linked[p.SpanContext().SpanID()] {
			t.Errorf("batch insert neither parent nor link of process span %s", p.SpanContext().SpanID())
		}
	}
	if got := len(insert.Links()); got != 2 {
		t.Errorf("batch insert has %d links, want 2 (the parent is the third record)", got)
	}
}
