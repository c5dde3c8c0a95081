package e2e

import (
	"bytes"
	"fmt"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// A client cannot buy 100 % sampling with one header. 1,000 requests each
// carrying a sampled traceparent (flag 01), under the production sampler
// (parentbased_traceidratio 0.1), reach Jaeger as about 100 traces of the
// server's own — each linked to the client's span — not 1,000 children of
// the client's traces. From a trusted caller (BLITZBUY_TRACE_TRUSTED) the
// client's trace is continued: every request sampled, in the client's trace.
func TestClientTraceparentCannotForceSampling(t *testing.T) {
	env := stacktest.Load(t)
	if env.JaegerURL == "" {
		t.Fatal("BLITZBUY_JAEGER_URL missing from the stack settings")
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := proc.Build(t, root, filepath.Join(t.TempDir(), "orderapi"), "./services/cmd/orderapi")

	run := func(t *testing.T, n int, extra ...string) (service string, clientTraces map[string]bool) {
		service = "order-api-sampling-" + testkit.RandHex(4)
		httpAddr, admin := proc.FreeAddr(t), testkit.RandHex(16)
		api := "http://" + httpAddr
		p := proc.Start(t, bin, append([]string{
			"BLITZBUY_HTTP_ADDR=" + httpAddr, "BLITZBUY_METRICS_ADDR=" + proc.FreeAddr(t),
			"BLITZBUY_REDIS_ADDR=" + env.RedisAddr, "BLITZBUY_REDIS_DB=3", "BLITZBUY_KAFKA_BROKERS=" + strings.Join(env.KafkaBrokers, ","),
			"BLITZBUY_POSTGRES_URL=", "BLITZBUY_JWT_SECRET=" + testkit.RandHex(32), "BLITZBUY_ADMIN_TOKEN=" + admin, "BLITZBUY_LOG_LEVEL=warn",
			"OTEL_SERVICE_NAME=" + service, "OTEL_EXPORTER_OTLP_ENDPOINT=" + otlpEndpoint(env),
			"OTEL_TRACES_SAMPLER=parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG=0.1", "OTEL_BSP_SCHEDULE_DELAY=200",
		}, extra...)...)
		proc.WaitReady(t, api+"/readyz", 30*time.Second)
		sale := "sampling-" + testkit.RandHex(4)
		put, _ := http.NewRequest(http.MethodPut, api+"/v1/admin/sales/"+sale, bytes.NewReader([]byte(`{"name":"sampling","stock":1,"per_user_limit":1}`)))
		put.Header.Set("Authorization", "Bearer "+admin)
		put.Header.Set("Content-Type", "application/json")
		if resp, err := http.DefaultClient.Do(put); err != nil || resp.StatusCode != http.StatusCreated {
			t.Fatalf("PUT sale: %v %v", resp, err)
		} else {
			resp.Body.Close()
		}
		clientTraces = map[string]bool{}
		for range n {
			trace := testkit.RandHex(16)
			clientTraces[trace] = true
			req, _ := http.NewRequest(http.MethodGet, api+"/v1/sales/"+sale, nil)
			req.Header.Set("traceparent", "00-"+trace+"-"+testkit.RandHex(8)+"-01")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				t.Fatalf("GET sale: %d", resp.StatusCode)
			}
		}
		// SIGTERM flushes the span batcher before the process exits.
		if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if err := p.Wait(30 * time.Second); err != nil {
			t.Fatalf("order-api after SIGTERM: %v", err)
		}
		return service, clientTraces
	}

	t.Run("untrusted", func(t *testing.T) {
		const n = 1000
		service, client := run(t, n)
		traces := saleReadTraces(t, env.JaegerURL, service)
		// Binomial(1000, 0.1): mean 100, standard deviation 9.5; 50..150 is
		// more than five deviations either way.
		if len(traces) < 50 || len(traces) > 150 {
			t.Errorf("%d of %d requests with a sampled traceparent were sampled, want about 10 %% (50..150)", len(traces), n)
		}
		linked := 0
		for id, links := range traces {
			if client[id] {
				t.Errorf("trace %s is the client's own: its traceparent was continued", id)
			}
			for _, l := range links {
				if client[l] {
					linked++
				}
			}
		}
		if linked != len(traces) {
			t.Errorf("%d of %d sampled traces link to the client's trace, want all", linked, len(traces))
		}
		t.Logf("%d of %d requests sampled (%.1f %%), each linked to its client's trace", len(traces), n, 100*float64(len(traces))/n)
	})
	t.Run("trusted", func(t *testing.T) {
		const n = 100
		service, client := run(t, n, "BLITZBUY_TRACE_TRUSTED=loopback")
		traces := saleReadTraces(t, env.JaegerURL, service)
		continued := 0
		for id := range traces {
			if client[id] {
				continued++
			}
		}
		if continued != n {
			t.Errorf("%d of %d requests from a trusted caller continued the client's sampled trace, want all", continued, n)
		}
	})
}

// saleReadTraces returns the traces of service's GET /v1/sales/{saleID}
// spans in Jaeger, by trace id, with the trace ids each root links to. It
// waits until the count stops growing (the collector indexes asynchronously).
func saleReadTraces(t *testing.T, jaeger, service string) map[string][]string {
	t.Helper()
	q := url.Values{"service": {service}, "operation": {"GET /v1/sales/{saleID}"}, "limit": {"5000"}, "lookback": {"1h"}}
	var out map[string][]string
	for stable, last, deadline := 0, -1, time.Now().Add(30*time.Second); stable < 3 && time.Now().Before(deadline); time.Sleep(500 * time.Millisecond) {
		var jt struct {
			Data []struct {
				TraceID string `json:"traceID"`
				Spans   []struct {
					References []struct {
						RefType string `json:"refType"`
						TraceID string `json:"traceID"`
					} `json:"references"`
				} `json:"spans"`
			} `json:"data"`
		}
		if err := getJSON(t, strings.TrimRight(jaeger, "/")+"/api/traces?"+q.Encode(), &jt); err != nil {
			continue
		}
		out = map[string][]string{}
		for _, tr := range jt.Data {
			var links []string
			for _, sp := range tr.Spans {
				for _, r := range sp.References {
					if r.TraceID != tr.TraceID {
						links = append(links, r.TraceID)
					}
				}
			}
			out[tr.TraceID] = links
		}
		if len(out) == last && last > 0 {
			stable++
		} else {
			stable = 0
		}
		last = len(out)
	}
	if out == nil {
		t.Fatal(fmt.Errorf("no answer from Jaeger's query API at %s", jaeger))
	}
	return out
}
