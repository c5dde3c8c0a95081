package telemetry

import (
	"net/http"
	"net/http/pprof"

	"github.com/go-chi/chi/v5"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.37.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/sourceaddr"
)

// untraced paths: probes and scrapes would drown the traces people look for.
var untraced = map[string]bool{"/healthz": true, "/readyz": true, "/metrics": true}

// ServerSpans is ServerSpansTrusting with no trusted caller: every inbound
// traceparent becomes a link.
func ServerSpans(next http.Handler) http.Handler { return ServerSpansTrusting(nil)(next) }

// ServerSpansTrusting (chi middleware) starts a server span per request,
// names it after the chi route pattern once routing is done, and answers
// with the W3C `traceresponse` header so a client can open its trace in
// Jaeger.
//
// An inbound W3C traceparent is continued (the span is its child, and the
// parent-based sampler follows its sampled flag) only from a caller in
// trusted — a gateway or service of your own. From anyone else it would let
// the client decide sampling, and 100 % sampling costs the API about a
// quarter of its throughput: the span starts a new trace, sampled by the
// sampler's own ratio, with a link to the client's span context (its trace
// id kept for correlation), and the client's baggage is dropped.
func ServerSpansTrusting(trusted sourceaddr.Set) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler { return serverSpans(trusted, next) }
}

func serverSpans(trusted sourceaddr.Set, next http.Handler) http.Handler {
	tracer := otel.Tracer("github.com/blitzbuy/blitzbuy/services/internal/telemetry")
	prop := otel.GetTextMapPropagator()
	link := propagation.TraceContext{}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if untraced[r.URL.Path] {
			next.ServeHTTP(w, r)
			return
		}
		ctx := r.Context()
		opts := []trace.SpanStartOption{trace.WithSpanKind(trace.SpanKindServer),
			trace.WithAttributes(semconv.HTTPRequestMethodKey.String(r.Method), semconv.URLPath(r.URL.Path))}
		switch {
		case trusted.Contains(r.RemoteAddr):
			ctx = prop.Extract(ctx, propagation.HeaderCarrier(r.Header))
		case r.Header.Get("traceparent") != "":
			if sc := trace.SpanContextFromContext(link.Extract(ctx, propagation.HeaderCarrier(r.Header))); sc.IsValid() {
				opts = append(opts, trace.WithNewRoot(), trace.WithLinks(trace.Link{SpanContext: sc,
					Attributes: []attribute.KeyValue{attribute.String("blitzbuy.link", "client traceparent (untrusted caller)")}}))
			}
		}
		ctx, span := tracer.Start(ctx, r.Method, opts...)
		defer span.End()
		sc := span.SpanContext()
		w.Header().Set("traceresponse", "00-"+sc.TraceID().String()+"-"+sc.SpanID().String()+"-"+sc.TraceFlags().String())
		rec := recorderFor(w)
		next.ServeHTTP(rec, r.WithContext(ctx))
		// Used as chi middleware, the route context is chi's own and now holds
		// the matched pattern (low-cardinality span names).
		if rctx := chi.RouteContext(ctx); rctx != nil && rctx.RoutePattern() != "" {
			pattern := rctx.RoutePattern()
			span.SetName(r.Method + " " + pattern)
			span.SetAttributes(semconv.HTTPRoute(pattern))
		}
		span.SetAttributes(semconv.HTTPResponseStatusCode(rec.status))
		if rec.status >= 500 {
			span.SetStatus(codes.Error, http.StatusText(rec.status))
		}
		if v := rec.Header().Get("Idempotent-Replayed"); v != "" {
			span.SetAttributes(attribute.Bool("blitzbuy.idempotent_replayed", true))
		}
	})
}

// statusRecorder remembers the status a handler answered. It is the one
// ResponseWriter wrapper of the order path: ServerSpans and
// HTTPMetrics.Middleware share it (recorderFor), so stacking both costs one
// allocation, not two.
type statusRecorder struct {
	http.ResponseWriter
	status int
}

// recorderFor returns w itself when an outer middleware already wraps it in
// a statusRecorder, and a new one around w otherwise.
func recorderFor(w http.ResponseWriter) *statusRecorder {
	if rec, ok := w.(*statusRecorder); ok {
		return rec
	}
	return &statusRecorder{ResponseWriter: w, status: http.StatusOK}
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

func (r *statusRecorder) Unwrap() http.ResponseWriter { return r.ResponseWriter }

// WithPprof serves Go's profiler under /debug/pprof/ beside h (everything
// else). Mount it only on the loopback admin listener, and only when asked
// (BLITZBUY_PPROF=true): profiles reveal internals and cost CPU while taken.
func WithPprof(h http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	mux.Handle("/", h)
	return mux
}
