//go:build browser

package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// The console test's own instances; observability/prometheus/prometheus.yml
// scrapes them (not the end-to-end test's 19464/19465, so both may run at
// once).
const (
	consoleAPIMetricsAddr    = "127.0.0.1:19466"
	consoleWriterMetricsAddr = "127.0.0.1:19467"
)

// coreQuery is the query the test opens in Prometheus' own graph page: the
// order rate, the first thing anyone looks at during a sale.
const coreQuery = `rate(blitzbuy_orders_total[1m])`

// panelState is what the browser sees of one console panel.
type panelState struct {
	ID      string   `json:"id"`
	Kind    string   `json:"kind"`
	Title   string   `json:"title"`
	Errors  []string `json:"errors"`
	Lines   int      `json:"lines"`   // plotted series paths with at least two points
	Values  []string `json:"values"`  // a stat's value cells
	NoData  int      `json:"nodata"`  // a stat's "no data" rows
	Loading int      `json:"loading"` // a graph still waiting for Prometheus
}

// panelsJS reads every panel of a console page (observability/dashboards'
// consoles.go writes the classes it looks for; Rickshaw draws each series as
// an SVG path of class "path").
const panelsJS = `Array.from(document.querySelectorAll(".blitzbuy-panel")).map(p => ({
	id: p.id,
	kind: p.dataset.kind,
	title: (p.querySelector("h5") || {}).textContent || "",
	errors: Array.from(p.querySelectorAll(".prom_graph_error")).map(e => e.textContent),
	lines: Array.from(p.querySelectorAll("svg path.path")).filter(e => {
		const d = e.getAttribute("d") || "";
		return !d.includes("NaN") && (d.match(/[-0-9.e]+,[-0-9.e]+/g) || []).length >= 2;
	}).length,
	values: Array.from(p.querySelectorAll(".blitzbuy-value")).map(e => e.textContent.trim()),
	nodata: p.querySelectorAll(".blitzbuy-nodata").length,
	loading: p.querySelectorAll(".prom_graph_loading").length,
}))`

// TestConsolesDrawData loads every console page that
// observability/prometheus/consoles holds into headless Chromium from the
// stack's Prometheus, after placing real orders through a real order-api and
// order-writer, and checks each panel drew data: a graph has a plotted line of
// at least two points and no error, a stat has a value and no "no data" row.
// Then Prometheus' graph page must plot the core query. Screenshots go to
// .local/screens/. Run it with `go tool task test:consoles`; point it at
// another Prometheus with BLITZBUY_PROMETHEUS_URL (that Prometheus must run
// with the repository's scrape config and console flags).
func TestConsolesDrawData(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		t.Fatal("chromium is not installed: `go tool task test:consoles` installs it (Debian package chromium)")
	}
	root, err := stacktest.RepoRoot()
	if err != nil {
		t.Fatal(err)
	}
	pages, err := filepath.Glob(filepath.Join(root, "observability", "prometheus", "consoles", "blitzbuy-*.html"))
	if err != nil || len(pages) == 0 {
		t.Fatalf("no console pages in observability/prometheus/consoles (%v): run `go tool task dashboards`", err)
	}
	s := startSystemOn(t, consoleAPIMetricsAddr, consoleWriterMetricsAddr)
	prom := strings.TrimRight(s.env.PrometheusURL, "/")
	requireConsoles(t, prom)

	placeOrders(t, s, 20*time.Second)
	// The panels plot rates and quantiles over 1 minute: wait until
	// Prometheus has scraped this system's orders into both services' series.
	for _, q := range []string{
		fmt.Sprintf(`sum(rate(blitzbuy_orders_total{instance=%q,outcome="accepted"}[1m])) > 0`, consoleAPIMetricsAddr),
		fmt.Sprintf(`sum(rate(blitzbuy_writer_rows_inserted_total{instance=%q}[1m])) > 0`, consoleWriterMetricsAddr),
		fmt.Sprintf(`sum(rate(blitzbuy_holds_expired_total{instance=%q}[1m])) > 0`, consoleAPIMetricsAddr),
	} {
		waitForQuery(t, prom, q, 45*time.Second)
	}

	screens := filepath.Join(root, ".local", "screens")
	if err := os.MkdirAll(screens, 0o755); err != nil {
		t.Fatal(err)
	}
	ctx := browser(t, chromium)

	for _, page := range pages {
		name := filepath.Base(page)
		t.Run(strings.TrimSuffix(name, ".html"), func(t *testing.T) {
			want := countPanels(t, page)
			var panels []panelState
			exceptions := watchExceptions(ctx)
			err := chromedp.Run(ctx,
				chromedp.Navigate(prom+"/consoles/"+name),
				// Settled: every panel is on the page and no graph waits for
				// Prometheus any more.
				chromedp.Poll(`document.querySelectorAll(".blitzbuy-panel").length > 0 &&
					document.querySelectorAll(".prom_graph_loading").length === 0`, nil,
					chromedp.WithPollingTimeout(30*time.Second)),
				chromedp.Evaluate(panelsJS, &panels),
			)
			shot(t, ctx, filepath.Join(screens, strings.TrimSuffix(name, ".html")+".png"))
			if err != nil {
				t.Fatalf("load %s: %v (page text: %s)", name, err, pageText(ctx))
			}
			if len(panels) != want {
				t.Errorf("%s: got %d panels in the browser, want %d as generated", name, len(panels), want)
			}
			for _, p := range panels {
				if msg := p.problem(); msg != "" {
					t.Errorf("%s / %q (%s): %s", name, p.Title, p.Kind, msg)
				}
			}
			for _, e := range exceptions() {
				t.Errorf("%s: JavaScript exception: %s", name, e)
			}
		})
	}

	t.Run("graph", func(t *testing.T) {
		u := prom + "/classic/graph?" + url.Values{
			"g0.expr": {coreQuery}, "g0.tab": {"0"}, "g0.range_input": {"5m"},
		}.Encode()
		var lines int
		var errText string
		err := chromedp.Run(ctx,
			chromedp.Navigate(u),
			chromedp.Poll(`document.querySelectorAll(".graph_area svg path.path").length > 0 ||
				Array.from(document.querySelectorAll(".alert-danger, .error")).some(e => e.offsetParent !== null && e.textContent.trim() !== "")`, nil,
				chromedp.WithPollingTimeout(30*time.Second)),
			chromedp.Evaluate(`Array.from(document.querySelectorAll(".graph_area svg path.path")).filter(e =>
				!(e.getAttribute("d") || "").includes("NaN") && ((e.getAttribute("d") || "").match(/[-0-9.e]+,[-0-9.e]+/g) || []).length >= 2).length`, &lines),
			chromedp.Evaluate(`Array.from(document.querySelectorAll(".alert-danger, .error")).filter(e => e.offsetParent !== null).map(e => e.textContent.trim()).join(" | ")`, &errText),
		)
		shot(t, ctx, filepath.Join(screens, "graph.png"))
		if err != nil {
			t.Fatalf("graph page for %s: %v (page text: %s)", coreQuery, err, pageText(ctx))
		}
		if strings.TrimSpace(errText) != "" {
			t.Errorf("graph page for %s shows an error: %s", coreQuery, errText)
		}
		if lines == 0 {
			t.Errorf("graph page for %s: got no plotted line, want one per outcome", coreQuery)
		}
	})
}

// problem says why a panel did not draw data, or "" when it did.
func (p panelState) problem() string {
	switch {
	case len(p.Errors) > 0:
		return "error: " + strings.Join(p.Errors, "; ")
	case p.Loading > 0:
		return "still loading"
	case p.Kind == "graph" && p.Lines == 0:
		return "got no plotted line, want at least one series with two points"
	case p.Kind == "stat" && p.NoData > 0:
		return "got a \"no data\" row, want a value for every query"
	case p.Kind == "stat" && len(p.Values) == 0:
		return "got no value"
	case p.Kind == "stat":
		for _, v := range p.Values {
			if v == "" || strings.Contains(v, "NaN") {
				return fmt.Sprintf("value %q", v)
			}
		}
	case p.Kind != "graph":
		return "unknown panel kind"
	}
	return ""
}

var panelMarker = regexp.MustCompile(`class="[^"]*\bblitzbuy-panel\b`)

// countPanels is how many panels the generator wrote into a page.
func countPanels(t *testing.T, page string) int {
	t.Helper()
	b, err := os.ReadFile(page)
	if err != nil {
		t.Fatal(err)
	}
	return len(panelMarker.FindAll(b, -1))
}

// requireConsoles fails unless Prometheus serves this repository's console
// pages, so a Prometheus started without the flags says so rather than 404.
func requireConsoles(t *testing.T, prom string) {
	t.Helper()
	resp, err := http.Get(prom + "/consoles/index.html")
	if err != nil {
		t.Fatalf("Prometheus at %s: %v", prom, err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s/consoles/index.html: got %d, want 200: start Prometheus with --web.console.templates=observability/prometheus/consoles --web.console.libraries=observability/prometheus/console_libraries (infra/local/stack.sh does)", prom, resp.StatusCode)
	}
}

// placeOrders sells a small stock to more buyers than it has, one order
// every 100 ms for d, so every scrape in between sees new accepted, then
// sold-out, orders (and the writer new batches).
func placeOrders(t *testing.T, s *system, d time.Duration) {
	t.Helper()
	sale := s.newSale(t, 120)
	// A sale with a one-second checkout window, for the checkout panels:
	// every third buyer orders there and every other one of them pays; the
	// rest expire.
	held := "e2e-hold-" + testkit.RandHex(4)
	if resp, body := s.call(t, "PUT", "/v1/admin/sales/"+held, s.admin, nil,
		map[string]any{"name": "e2e hold", "stock": 60, "per_user_limit": 1, "hold_seconds": 1}); resp.StatusCode != http.StatusCreated {
		t.Fatalf("create the held sale: %d %s", resp.StatusCode, body)
	}
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	deadline := time.Now().Add(d)
	accepted, paid := 0, 0
	for i := 0; time.Now().Before(deadline); i++ {
		<-tick.C
		user := fmt.Sprintf("console-%d", i)
		if i%3 != 0 {
			if resp, _ := s.order(t, sale, user); resp.StatusCode == http.StatusAccepted {
				accepted++
			}
			continue
		}
		resp, body := s.order(t, held, user)
		if resp.StatusCode != http.StatusAccepted || i%2 != 0 {
			continue
		}
		var o httpapi.OrderResponse
		if err := json.Unmarshal(body, &o); err != nil {
			t.Fatal(err)
		}
		tok, _ := httpapi.SignUserToken([]byte(s.secret), user, time.Hour)
		if r, _ := s.call(t, "POST", "/v1/orders/"+o.OrderID+"/payment", tok, map[string]string{"Idempotency-Key": "pay"},
			map[string]any{"payment_ref": "psp-" + user}); r.StatusCode == http.StatusOK {
			paid++
		}
	}
	if accepted == 0 || paid == 0 {
		t.Fatalf("%d orders accepted, %d held orders paid: the consoles would have nothing to show", accepted, paid)
	}
	t.Logf("placed orders for %s, %d accepted, %d held orders paid", d, accepted, paid)
}

func waitForQuery(t *testing.T, prom, q string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		var r struct {
			Data struct {
				Result []any `json:"result"`
			} `json:"data"`
		}
		err := promQuery(t, prom, "/api/v1/query", url.Values{"query": {q}}, &r)
		if err == nil && len(r.Data.Result) > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Prometheus at %s: %s still empty after %s (err %v): does it scrape %s and %s?",
				prom, q, timeout, err, consoleAPIMetricsAddr, consoleWriterMetricsAddr)
		}
		time.Sleep(time.Second)
	}
}

// browser starts headless Chromium for the test (as root, as in CI, it
// needs --no-sandbox).
func browser(t *testing.T, chromium string) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(chromium),
		chromedp.NoSandbox,
		chromedp.WindowSize(1400, 1000),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(cancelTimeout)
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", chromium, err)
	}
	return ctx
}

// watchExceptions collects the page's uncaught JavaScript exceptions from
// now on; the returned function lists them.
func watchExceptions(ctx context.Context) func() []string {
	var mu sync.Mutex
	var got []string
	lctx, cancel := context.WithCancel(ctx)
	chromedp.ListenTarget(lctx, func(ev any) {
		if e, ok := ev.(*runtime.EventExceptionThrown); ok {
			mu.Lock()
			defer mu.Unlock()
			msg := e.ExceptionDetails.Text
			if e.ExceptionDetails.Exception != nil {
				msg += " " + e.ExceptionDetails.Exception.Description
			}
			got = append(got, msg)
		}
	})
	return func() []string {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

func shot(t *testing.T, ctx context.Context, path string) {
	t.Helper()
	var png []byte
	if err := chromedp.Run(ctx, chromedp.FullScreenshot(&png, 100)); err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Logf("screenshot %s: %v", path, err)
		return
	}
	t.Logf("screenshot: %s", path)
}

func pageText(ctx context.Context) string {
	var s string
	_ = chromedp.Run(ctx, chromedp.Evaluate(`document.body ? document.body.innerText.slice(0, 500) : ""`, &s))
	return s
}
