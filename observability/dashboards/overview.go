package dashboards

//lint:file-ignore SA1019 see dashboards.go: Grafana file provisioning loads the classic (v1) dashboard model.

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// errorBudget is 1 − the 99.9 % availability SLO: the share of order requests
// that may fail with a 5xx over the window the dashboard shows.
const errorBudget = 0.001

// Overview is "Flash sale overview": what buyers get (offered vs accepted,
// latency, errors, the SLO), the oversell guard, and the Go runtime of both
// services.
func Overview() (dashboard.Dashboard, error) {
	order := fmt.Sprintf(`route=%q`, orderRoute)
	order5xx := order + `,code_class="5xx"`
	latency := func(q float64) string {
		return quantile(q, "blitzbuy_http_request_duration_seconds_bucket", order, "", "1m")
	}
	// Counted over the dashboard's own range ($__range), so zooming to the
	// sale shows the budget the sale itself spent.
	failed := fmt.Sprintf(`(sum(increase(blitzbuy_http_requests_total{%s}[$__range])) or vector(0))`, order5xx)
	total := fmt.Sprintf(`clamp_min(sum(increase(blitzbuy_http_requests_total{%s}[$__range])), 1)`, order)
	perSale := func(metric string) string { return fmt.Sprintf("max by (sale) (%s)", metric) }

	b := newBoard(OverviewUID, "Flash sale overview",
		"What buyers get during a BlitzBuy flash sale: offered vs accepted orders, latency with exemplars linking to Jaeger traces, errors against the 99.9 % SLO, the oversell guard (invariant I1) and the Go runtime of order-api and order-writer.").
		WithRow(row("Orders")).
		WithPanel(graph("Offered vs accepted orders",
			"Order requests per second at POST /v1/sales/{saleID}/orders. 'offered' is every request; the other series split it by outcome: accepted (202, reserved and published), replayed (same Idempotency-Key again), sold_out, limit (per-user limit), not_active, rate_limited (429), rejected (invalid request, unknown sale, reused key) and error (503/500: the system failed the buyer). Once stock is gone, sold_out should dominate and accepted drop to zero.",
			"reqps",
			query(`sum(rate(blitzbuy_orders_total[1m]))`, "offered"),
			query(`sum by (outcome) (rate(blitzbuy_orders_total[1m]))`, "{{outcome}}"))).
		WithPanel(withLimit(graph("Order latency P50 / P95 / P99",
			fmt.Sprintf("Server-side latency of POST /v1/sales/{saleID}/orders (reserve in Redis, publish to Kafka, wait for the broker's ack), from the blitzbuy_http_request_duration_seconds histogram over 1 minute. The red dashed line is the %g s P99 objective (alert OrderP99OverObjective). The P99 query has exemplars on: each diamond is one real request whose trace id Grafana links to Jaeger, so a slow point opens its trace.", latencyObjective),
			"s",
			query(latency(0.5), "P50"),
			query(latency(0.95), "P95"),
			query(latency(0.99), "P99").Exemplar(true)), latencyObjective)).
		WithRow(row("Errors and SLO")).
		WithPanel(withLimit(graph("Error ratio (5xx share)",
			fmt.Sprintf("Share of HTTP requests answered with a 5xx (blitzbuy_http_requests_total by code_class): all routes, and the order route alone. 4xx answers (sold out, limits, rate limit) are the product working and are not errors. The red dashed line is %g %% (alert OrderErrorRatioHigh on the order route over 5 minutes).", errorRatioAlert*100),
			"percentunit",
			query(`(sum(rate(blitzbuy_http_requests_total{code_class="5xx"}[1m])) or vector(0)) / sum(rate(blitzbuy_http_requests_total[1m]))`, "all routes"),
			query(fmt.Sprintf(`(sum(rate(blitzbuy_http_requests_total{%s}[1m])) or vector(0)) / sum(rate(blitzbuy_http_requests_total{%s}[1m]))`, order5xx, order), "order route")),
			errorRatioAlert)).
		WithPanel(single("Availability (order route, dashboard range)",
			fmt.Sprintf("Share of order requests over the dashboard's time range that did not fail with a 5xx. The SLO is %g %%: green at or above it, red below.", availabilitySLO*100),
			"percentunit",
			[]dashboard.Threshold{{Color: "red"}, step(availabilitySLO, "green")},
			instant(fmt.Sprintf("1 - %s / %s", failed, total), "availability")).
			Decimals(3)).
		WithPanel(single("Error budget left (99.9 % SLO, dashboard range)",
			fmt.Sprintf("How much of the error budget (%g %% of order requests may fail with a 5xx) is left over the dashboard's time range: 100 %% means no 5xx, 0 %% means the SLO is exactly met, below 0 the SLO is missed. Set the time range to the sale to read what the sale spent.", errorBudget*100),
			"percentunit",
			[]dashboard.Threshold{{Color: "red"}, step(0, "orange"), step(0.25, "green")},
			instant(fmt.Sprintf("1 - (%s / %s) / %g", failed, total, errorBudget), "budget left")).
			Decimals(1)).
		WithRow(row("Oversell guard (I1)")).
		WithPanel(graph("Stock, remaining and persisted units by sale",
			"Per sale: stock (what may be sold), remaining (not yet reserved, in Redis) and persisted units (orders committed to PostgreSQL). Invariant I1: persisted never exceeds stock; stock = remaining + live reservations at every instant. After the pipeline drains (I5), remaining + persisted = stock. A persisted line above its stock line is an oversell (alert OversellGuard).",
			"none",
			query(perSale("blitzbuy_sale_stock"), "{{sale}} stock"),
			query(perSale("blitzbuy_sale_remaining"), "{{sale}} remaining"),
			query(perSale("blitzbuy_sale_persisted_units"), "{{sale}} persisted"))).
		WithPanel(single("Oversell margin (stock − persisted)",
			"Per sale: units still unsold by the durable ledger, stock − persisted. It may reach 0 (sold out) and must never go below: a red value means PostgreSQL holds more units than the sale had (alert OversellGuard, page at once).",
			"none",
			[]dashboard.Threshold{{Color: "red"}, step(0, "green")},
			instant(perSale("blitzbuy_sale_stock")+" - "+perSale("blitzbuy_sale_persisted_units"), "{{sale}}"))).
		WithPanel(graph("In flight (stock − remaining − persisted)",
			"Per sale: units reserved in Redis but not yet persisted: pending in the outbox, on their way through Kafka, or in the writer's current batch. High during a sale, it must fall back to 0 once the pipeline drains (I5); a value that stays above 0 after the sale is stranded stock (check the outbox and the writer's DLQ).",
			"none",
			query(perSale("blitzbuy_sale_stock")+" - "+perSale("blitzbuy_sale_remaining")+" - "+perSale("blitzbuy_sale_persisted_units"), "{{sale}}")).
			Span(6)).
		WithPanel(graph("Redis memory (used vs maxmemory)",
			"Memory the ledger's Redis uses and its maxmemory (INFO memory, exported by order-api). Idempotency records keep about 225 bytes per order request (700 per accepted order) for 24 h. At maxmemory Redis refuses new orders (503 unavailable; nothing is lost, nothing evicted): alert RedisMemoryHigh above 80 %, RedisMemoryUnbounded when maxmemory is 0.",
			"bytes",
			query("max(blitzbuy_redis_memory_used_bytes)", "used"),
			query("max(blitzbuy_redis_memory_max_bytes)", "maxmemory")).
			Span(6)).
		WithRow(row("Checkout window")).
		WithPanel(graph("Checkout window units by state",
			"Units of sales with a checkout window (hold_seconds), summed over sales: held (accepted, awaiting payment until expires_at), paid (final), expired and cancelled (given back to the sale and to the buyer's allowance, once each). Held rises with a sale and falls as buyers pay or windows end; expired is what the crowd may buy again.",
			"none",
			query("sum by (state) (max by (sale, state) (blitzbuy_sale_hold_units))", "{{state}}")).
			Span(8)).
		WithPanel(graph("Holds expired and overdue",
			"Holds the sweepers expire per second (every order-api sweeps every 200 ms), and held orders more than 1 s past their window that are not expired yet. Overdue above 0 for a minute fires HoldExpiryBehind.",
			"short",
			query("sum(rate(blitzbuy_holds_expired_total[1m]))", "expired/s"),
			query("max(blitzbuy_holds_overdue)", "overdue")).
			Span(8)).
		WithPanel(graph("Expiry lateness (P99)",
			"How long after expires_at a hold was expired, P99 over 5 minutes (each sweep's mean, per hold it expired). The sweep interval bounds it (200 ms) plus one sweep's work; docs/api.md states the bound the tests measure.",
			"s",
			query("histogram_quantile(0.99, sum by (le) (rate(blitzbuy_hold_expiry_lateness_seconds_bucket[5m])))", "p99")).
			Span(8)).
		WithRow(row("Go runtime")).
		WithPanel(graph("Goroutines",
			"Live goroutines per service (go_goroutines). Steady under steady load; a line that only climbs is a goroutine leak (e.g. requests stuck waiting for a broker ack).",
			"short",
			query(fmt.Sprintf("sum by (job) (go_goroutines{%s})", serviceJobs), "{{job}}")).
			Span(6)).
		WithPanel(graph("Heap in use",
			"Heap bytes in use per service (go_memstats_heap_inuse_bytes). order-writer grows with its batch size; a heap that keeps growing across GCs is a leak.",
			"bytes",
			query(fmt.Sprintf("sum by (job) (go_memstats_heap_inuse_bytes{%s})", serviceJobs), "{{job}}")).
			Span(6)).
		WithPanel(graph("GC cycles per second",
			"Garbage collections per second per service (rate of go_gc_duration_seconds_count). More allocation per request means more cycles and more CPU taken from serving orders.",
			"short",
			query(fmt.Sprintf("sum by (job) (rate(go_gc_duration_seconds_count{%s}[1m]))", serviceJobs), "{{job}}")).
			Span(6)).
		WithPanel(graph("CPU (cores)",
			"CPU used per service in cores (rate of process_cpu_seconds_total): 1 is one core fully busy. Compare with the machine's cores to see whether a service, not Redis or Kafka, is the bottleneck.",
			"short",
			query(fmt.Sprintf("sum by (job) (rate(process_cpu_seconds_total{%s}[1m]))", serviceJobs), "{{job}}")).
			Span(6))
	return build(b)
}
