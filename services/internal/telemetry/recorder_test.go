package telemetry

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Stacked as order-api stacks them, the tracing and metrics middleware wrap
// the ResponseWriter once between them, and both see the handler's status.
func TestMiddlewareShareOneRecorder(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewHTTPMetrics(reg)
	var seen http.ResponseWriter
	h := ServerSpans(m.Middleware(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		seen = w
		w.WriteHeader(http.StatusServiceUnavailable)
	})))
	w := httptest.NewRecorder()
	h.ServeHTTP(w, httptest.NewRequest("POST", "/v1/sales/s/orders", nil))
	rec, ok := seen.(*statusRecorder)
	if !ok {
		t.Fatalf("handler got %T, want *statusRecorder", seen)
	}
	if rec.ResponseWriter != http.ResponseWriter(w) {
		t.Errorf("the recorder wraps %T, want the server's writer itself (one wrapper, not two)", rec.ResponseWriter)
	}
	if got := testutil.ToFloat64(m.requests.WithLabelValues("unmatched", "POST", "5xx")); got != 1 {
		t.Errorf("5xx requests counted %v, want 1", got)
	}
	if w.Code != http.StatusServiceUnavailable {
		t.Errorf("status %d, want 503", w.Code)
	}
}
