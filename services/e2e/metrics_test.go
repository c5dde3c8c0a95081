package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// mayBeEmpty lists the expressions that legitimately return no series after
// a healthy burst of traffic, each with its reason. Matching is by substring.
var mayBeEmpty = map[string]string{
	"blitzbuy_writer_dlq_records_total":   "no poison record is sent during the burst: DLQ rates are 0 or empty",
	"blitzbuy_writer_retries_total":       "the database stays up: no retries",
	"blitzbuy_writer_compensations_total": "no order is rejected by the database",
	"blitzbuy_publish_errors_total":       "Kafka stays up: no publish errors",
	"blitzbuy_relay_published_total":      "nothing is stranded: the relay has nothing to publish",
	"blitzbuy_writer_skipped_total":       "no reservation is released after a failed publish",
	`code_class="5xx"`:                    "no request fails with a 5xx during the burst",
}

// After a burst of real traffic: /metrics exposes exemplars on the latency
// histograms (OpenMetrics), the local Prometheus returns them from
// /api/v1/query_exemplars, and every dashboard panel and alert rule
// expression parses and answers from the real Prometheus.
func TestMetricsExemplarsDashboardsAndAlerts(t *testing.T) {
	s := startSystem(t)
	sale := s.newSale(t, 40)
	accepted := 0
	for i := 0; i < 60; i++ { // 40 accepted, 20 sold out
		resp, _ := s.order(t, sale, "burst-"+strconv.Itoa(i))
		if resp.StatusCode == http.StatusAccepted {
			accepted++
		}
	}
	if accepted != 40 {
		t.Fatalf("accepted %d of 60 against 40 units, want 40", accepted)
	}
	holdBurst(t, s)

	t.Run("exemplars in /metrics", func(t *testing.T) {
		req, _ := http.NewRequest("GET", "http://"+apiMetricsAddr+"/metrics", nil)
		req.Header.Set("Accept", "application/openmetrics-text; version=1.0.0")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/openmetrics-text") {
			t.Fatalf("Content-Type %q, want OpenMetrics", resp.Header.Get("Content-Type"))
		}
		ex := regexp.MustCompile(`(?m)^blitzbuy_http_request_duration_seconds_bucket\{[^}]*route="/v1/sales/\{saleID\}/orders"[^}]*\} \d+ # \{trace_id="[0-9a-f]{32}"\}`)
		if !ex.Match(b) {
			t.Errorf("no exemplar with a trace_id on the order route's latency buckets")
		}
		if !regexp.MustCompile(`(?m)^blitzbuy_publish_duration_seconds_bucket\{.*# \{trace_id="[0-9a-f]{32}"\}`).Match(b) {
			t.Errorf("no exemplar on the publish latency buckets")
		}
	})

	t.Run("exemplars in Prometheus", func(t *testing.T) {
		deadline := time.Now().Add(45 * time.Second)
		for {
			var res struct {
				Status string `json:"status"`
				Data   []struct {
					Exemplars []struct {
						Labels map[string]string `json:"labels"`
					} `json:"exemplars"`
				} `json:"data"`
			}
			err := promQuery(t, s.env.PrometheusURL, "/api/v1/query_exemplars", url.Values{
				"query": {`blitzbuy_http_request_duration_seconds_bucket{route="/v1/sales/{saleID}/orders"}`},
				"start": {strconv.FormatInt(time.Now().Add(-10*time.Minute).Unix(), 10)},
				"end":   {strconv.FormatInt(time.Now().Add(time.Minute).Unix(), 10)},
			}, &res)
			found := false
			for _, d := range res.Data {
				for _, e := range d.Exemplars {
					if len(e.Labels["trace_id"]) == 32 {
						found = true
					}
				}
			}
			if err == nil && found {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("Prometheus returned no exemplar with a trace_id within 45 s (err %v, %+v)", err, res)
			}
			time.Sleep(time.Second)
		}
	})

	exprs := expressions(t)
	alerts, panels := 0, 0
	for _, e := range exprs {
		if e.alert {
			alerts++
		} else {
			panels++
		}
	}
	if alerts == 0 || panels == 0 {
		t.Fatalf("found %d alert and %d dashboard expressions; both must exist", alerts, panels)
	}
	// Two scrapes after the burst, so rate() windows have samples.
	time.Sleep(11 * time.Second)
	for _, e := range exprs {
		t.Run(e.source, func(t *testing.T) {
			q := grafanaVars.Replace(e.expr)
			var empty bool
			var lastErr error
			// Retry only what must return data; an alert (empty while it does
			// not fire) or a listed expression is judged on its first answer.
			patience := 30 * time.Second
			if e.alert || allowedEmpty(q) != "" {
				patience = 0
			}
			deadline := time.Now().Add(patience)
			for {
				var res struct {
					Status string `json:"status"`
					Error  string `json:"error"`
					Data   struct {
						Result []json.RawMessage `json:"result"`
					} `json:"data"`
				}
				lastErr = promQuery(t, s.env.PrometheusURL, "/api/v1/query", url.Values{"query": {q}}, &res)
				if lastErr != nil && strings.Contains(lastErr.Error(), "bad_data") {
					t.Fatalf("does not parse: %s\n%v", q, lastErr)
				}
				if lastErr == nil && len(res.Data.Result) > 0 {
					return
				}
				empty = lastErr == nil
				if time.Now().After(deadline) {
					break
				}
				time.Sleep(time.Second)
			}
			if !empty {
				t.Fatalf("query failed: %s\n%v", q, lastErr)
			}
			if e.alert {
				// An alert expression is empty while it does not fire; what must
				// hold is that every metric it reads exists, or it could never fire.
				for _, m := range metricNames(q) {
					var res struct {
						Data struct {
							Result []json.RawMessage `json:"result"`
						} `json:"data"`
					}
					if err := promQuery(t, s.env.PrometheusURL, "/api/v1/query", url.Values{"query": {"count(" + m + ")"}}, &res); err != nil || len(res.Data.Result) == 0 {
						t.Errorf("alert reads %s, which Prometheus has no series of (err %v): the rule could never fire", m, err)
					}
				}
				return
			}
			if why := allowedEmpty(q); why != "" {
				t.Logf("empty, allowed: %s", why)
				return
			}
			t.Errorf("returned no data after the burst: %s", q)
		})
	}
}

func allowedEmpty(q string) string {
	for k, why := range mayBeEmpty {
		if strings.Contains(q, k) {
			return why
		}
	}
	return ""
}

var grafanaVars = strings.NewReplacer("$__rate_interval", "1m", "$__interval", "15s", "$__range", "10m",
	"${__range}", "10m", "$__range_s", "600")

var metricName = regexp.MustCompile(`\b(?:blitzbuy|go|process)_[a-zA-Z0-9_]+\b`)

func metricNames(expr string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range metricName.FindAllString(expr, -1) {
		if !seen[m] {
			seen[m] = true
			out = append(out, m)
		}
	}
	return out
}

type expression struct {
	source string
	expr   string
	alert  bool
}

// expressions collects every "expr" of every dashboard JSON and every alert
// or recording rule under observability/.
func expressions(t *testing.T) []expression {
	t.Helper()
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	var out []expression
	dash, _ := filepath.Glob(filepath.Join(root, "observability", "grafana", "dashboards", "*.json"))
	for _, f := range dash {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		n := 0
		walk(v, func(expr string) {
			n++
			out = append(out, expression{source: fmt.Sprintf("%s#%d", filepath.Base(f), n), expr: expr})
		})
	}
	rules, _ := filepath.Glob(filepath.Join(root, "observability", "prometheus", "rules", "*.yml"))
	for _, f := range rules {
		if strings.HasSuffix(f, "_test.yml") {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var rf struct {
			Groups []struct {
				Rules []struct {
					Alert  string `yaml:"alert"`
					Record string `yaml:"record"`
					Expr   string `yaml:"expr"`
				} `yaml:"rules"`
			} `yaml:"groups"`
		}
		if err := yaml.Unmarshal(b, &rf); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, g := range rf.Groups {
			for _, r := range g.Rules {
				out = append(out, expression{source: filepath.Base(f) + "/" + r.Alert + r.Record, expr: r.Expr, alert: r.Alert != ""})
			}
		}
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].source < out[j].source })
	return out
}

func walk(v any, fn func(string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if s, ok := val.(string); ok && k == "expr" && s != "" {
				fn(s)
				continue
			}
			walk(val, fn)
		}
	case []any:
		for _, val := range x {
			walk(val, fn)
		}
	}
}

// holdBurst gives the checkout window's panels and alert data: a sale with
// a one-second window, one order paid, one cancelled, two left to expire
// (this system's order-api sweeps them).
func holdBurst(t *testing.T, s *system) {
	t.Helper()
	sale := "e2e-hold-" + testkit.RandHex(4)
	if resp, body := s.call(t, "PUT", "/v1/admin/sales/"+sale, s.admin, nil,
		map[string]any{"name": "e2e hold", "stock": 4, "per_user_limit": 1, "hold_seconds": 1}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the held sale: %d %s", resp.StatusCode, body)
	}
	for i := range 4 {
		user := "hold-" + strconv.Itoa(i)
		resp, body := s.order(t, sale, user)
		if resp.StatusCode != http.StatusAccepted {
			t.Fatalf("held order %d: %d %s", i, resp.StatusCode, body)
		}
		var o httpapi.OrderResponse
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		tok, _ := httpapi.SignUserToken([]byte(s.secret), user, time.Hour)
		switch i {
		case 0:
			if r, b := s.call(t, "POST", "/v1/orders/"+o.OrderID+"/payment", tok, map[string]string{"Idempotency-Key": "pay"},
				map[string]any{"payment_ref": "psp-" + user}); r.StatusCode != http.StatusOK {
				t.Fatalf("payment: %d %s", r.StatusCode, b)
			}
		case 1:
			if r, b := s.call(t, "POST", "/v1/orders/"+o.OrderID+"/cancel", tok, nil, nil); r.StatusCode != http.StatusOK {
				t.Fatalf("cancel: %d %s", r.StatusCode, b)
			}
		}
	}
}
