package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/publish"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// BenchmarkTracingOverhead measures order throughput (concurrent, in process,
// real Redis and Kafka) with every tracing layer of order-api wired exactly
// as in production — server span, reserve span, the Redis decorator and the
// kotel producer hooks, exporting over OTLP to the local Jaeger — under three
// samplers: tracing off (no-op provider), the production default
// (parentbased_traceidratio 0.1) and 100 %.
//
//	go test -run '^$' -bench TracingOverhead -benchtime 4000x -count 5 ./services/internal/httpapi/
func BenchmarkTracingOverhead(b *testing.B) {
	env := stacktest.Load(b)
	for _, tc := range []struct {
		name    string
		sampler sdktrace.Sampler // nil: tracing off
	}{
		{"off", nil},
		{"ratio-0.1", sdktrace.ParentBased(sdktrace.TraceIDRatioBased(0.1))},
		{"always", sdktrace.ParentBased(sdktrace.AlwaysSample())},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var tp trace.TracerProvider = noop.NewTracerProvider()
			if tc.sampler != nil {
				exp, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpoint("127.0.0.1:4318"), otlptracehttp.WithInsecure())
				if err != nil {
					b.Fatal(err)
				}
				sdk := sdktrace.NewTracerProvider(sdktrace.WithSampler(tc.sampler), sdktrace.WithBatcher(exp))
				defer func() { _ = sdk.Shutdown(context.Background()) }()
				tp = sdk
			}
			otel.SetTracerProvider(tp)
			otel.SetTextMapPropagator(propagation.TraceContext{})
			benchThroughput(b, env, tp)
		})
	}
}

func benchThroughput(b *testing.B, env stacktest.Env, tp trace.TracerProvider) {
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}})
	if err != nil {
		b.Fatal(err)
	}
	defer rdb.Close()
	store, err := reservation.New(telemetry.TraceRedis(rdb, env.RedisAddr), reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		b.Fatal(err)
	}
	k := kotel.NewKotel(kotel.WithTracer(kotel.NewTracer(kotel.TracerProvider(tp))))
	prod, err := publish.NewProducer(publish.Config{Brokers: env.KafkaBrokers, Topic: "orders", DeliveryTimeout: 10 * time.Second,
		Opts: []kgo.Opt{kgo.WithHooks(k.Hooks()...)}})
	if err != nil {
		b.Fatal(err)
	}
	defer prod.Close(context.Background())
	secret, admin := testkit.RandHex(32), testkit.RandHex(16)
	auth, _ := httpapi.NewAuthenticator(secret, admin)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	handler := httpapi.New(httpapi.Deps{Checkout: checkout.New(store, prod, checkout.Config{}, log), Ledger: store, Auth: auth,
		Log:        log,
		Middleware: []func(http.Handler) http.Handler{telemetry.ServerSpans}}).Handler()

	sale := fmt.Sprintf("trace-bench-%s", testkit.RandHex(4))
	if _, err := store.UpsertSale(context.Background(), order.SaleSpec{ID: sale, Name: "bench", Stock: 1_000_000_000,
		PerUserLimit: 1, StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i], _ = httpapi.SignUserToken([]byte(secret), fmt.Sprintf("tb-%s-%d", sale, i), time.Hour)
	}
	var next atomic.Int64
	b.SetParallelism(32) // 64 requests in flight on 2 cores: the shape of a crowd
	b.ResetTimer()
	t0 := time.Now()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			i := next.Add(1) - 1
			r := httptest.NewRequest("POST", "/v1/sales/"+sale+"/orders", strings.NewReader(`{"quantity":1}`))
			r.Header.Set("Content-Type", "application/json")
			r.Header.Set("Authorization", "Bearer "+tokens[i])
			r.Header.Set("Idempotency-Key", "k")
			w := httptest.NewRecorder()
			handler.ServeHTTP(w, r)
			if w.Code != http.StatusAccepted {
				b.Errorf("status %d %s", w.Code, w.Body)
				return
			}
		}
	})
	b.ReportMetric(float64(b.N)/time.Since(t0).Seconds(), "orders/s")
}
