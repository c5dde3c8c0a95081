package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/chi/v5/middleware"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Benchmarks of the order handler path, in process (httptest.ResponseRecorder,
// no sockets), against the real Redis and Kafka of the local stack. The
// baseline is a bare chi router answering the same 202 JSON, measured in the
// same run: the ratio survives a noisy machine, the absolute numbers do not.
//
//	go test -run '^$' -bench 'OrderPath' -benchtime 3000x -count 5 ./services/internal/httpapi/
//
// Each op reports p50/p99 latency (µs) besides ns/op. See docs/benchmarks.md.

func BenchmarkOrderPath(b *testing.B) {
	b.Run("bare-chi", func(b *testing.B) {
		r := chi.NewRouter()
		r.Use(middleware.Recoverer)
		r.Post("/v1/sales/{saleID}/orders", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Location", "/v1/orders/x")
			w.WriteHeader(http.StatusAccepted)
			_, _ = w.Write([]byte(`{"order_id":"x","sale_id":"s","user_id":"u","quantity":1,"status":"pending"}` + "\n"))
		})
		runOrders(b, r, "bench", func(int) string { return "" })
	})
	b.Run("reserve-only", func(b *testing.B) {
		h := newHarness(b, harnessOpts{wrapPublisher: func(checkout.Publisher) checkout.Publisher {
			return publisherFunc(func(context.Context, order.Order) error { return nil })
		}})
		benchAPI(b, h)
	})
	b.Run("reserve-publish", func(b *testing.B) {
		benchAPI(b, newHarness(b, harnessOpts{}))
	})
}

func benchAPI(b *testing.B, h *apiHarness) {
	sale := h.newSale(1_000_000_000, 1)
	tokens := make([]string, b.N)
	for i := range tokens {
		tokens[i] = h.token(fmt.Sprintf("bench-%d-%d", time.Now().UnixNano(), i))
	}
	runOrders(b, h.handler, sale, func(i int) string { return tokens[i] })
}

// runOrders sends b.N order requests one after another and reports latency
// percentiles; every request is a distinct user with its own key.
func runOrders(b *testing.B, handler http.Handler, sale string, token func(int) string) {
	lat := make([]time.Duration, b.N)
	reqs := make([]*http.Request, b.N)
	for i := range reqs {
		r := httptest.NewRequest("POST", "/v1/sales/"+sale+"/orders", strings.NewReader(`{"quantity":1}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("Authorization", "Bearer "+token(i))
		r.Header.Set("Idempotency-Key", fmt.Sprintf("bench-key-%d", i))
		reqs[i] = r
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		t0 := time.Now()
		handler.ServeHTTP(w, reqs[i])
		lat[i] = time.Since(t0)
		if w.Code != http.StatusAccepted {
			b.Fatalf("request %d: %d %s", i, w.Code, w.Body)
		}
	}
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2])/1e3, "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100])/1e3, "p99-µs")
}
