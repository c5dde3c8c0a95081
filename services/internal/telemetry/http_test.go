package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

// A client's sampled traceparent decides nothing unless the caller is
// trusted: under a parent-based sampler that never samples roots, the
// untrusted request's span is a new, unsampled root linked to the client's
// span; the trusted caller's is the client span's sampled child.
func TestServerSpansTrustOnlyConfiguredCallers(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.ParentBased(sdktrace.NeverSample())), sdktrace.WithSpanProcessor(rec))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{}))
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	const clientTrace, clientSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	trusted, _ := sourceaddr.Parse("10.0.0.0/8")
	var inner trace.SpanContext
	h := ServerSpansTrusting(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	}))
	serve := func(remote string) *httptest.ResponseRecorder {
		req := httptest.NewRequest("POST", "/v1/sales/s/orders", nil)
		req.RemoteAddr = remote
		req.Header.Set("traceparent", "00-"+clientTrace+"-"+clientSpan+"-01")
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		return w
	}

	w := serve("203.0.113.9:4000")
	if inner.TraceID().String() == clientTrace || inner.IsSampled() {
		t.Errorf("untrusted caller: span %s sampled=%v, want a new unsampled trace", inner.TraceID(), inner.IsSampled())
	}
	if got := w.Header().Get("traceresponse"); got == "" || got[3:35] == clientTrace {
		t.Errorf("untrusted caller: traceresponse %q, want the server's own trace", got)
	}

	tp2rec := tracetest.NewSpanRecorder()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithSpanProcessor(tp2rec)))
	h = ServerSpansTrusting(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	}))
	serve("203.0.113.9:4000")
	ended := tp2rec.Ended()
	if len(ended) != 1 {
		t.Fatalf("%d spans recorded, want 1", len(ended))
	}
	if links := ended[0].Links(); len(links) != 1 || links[0].SpanContext.TraceID().String() != clientTrace || links[0].SpanContext.SpanID().String() != clientSpan {
		t.Errorf("untrusted caller: links %+v, want one to the client's span", links)
	}
	if ended[0].Parent().IsValid() {
		t.Errorf("untrusted caller: parent %s, want a root span", ended[0].Parent().SpanID())
	}

	otel.SetTracerProvider(tp)
	h = ServerSpansTrusting(trusted)(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		inner = trace.SpanContextFromContext(r.Context())
	}))
	serve("10.1.2.3:4000")
	if inner.TraceID().String() != clientTrace || !inner.IsSampled() {
		t.Errorf("trusted caller: span %s sampled=%v, want the client's trace, sampled", inner.TraceID(), inner.IsSampled())
	}
}
