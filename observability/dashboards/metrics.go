package dashboards

// KnownMetrics returns every series name a dashboard query may select: the
// metrics order-api and order-writer export (histograms by their _bucket
// series, as PromQL selects them) and the Go runtime and process collectors
// both services register. It is the one list of names the dashboards depend
// on; the tests fail when a query selects a name that is not here, so renaming
// a metric in a service means renaming it here and, by the compiler's and the
// tests' hand, in every panel that uses it.
func KnownMetrics() []string {
	return []string{
		// order-api: HTTP RED (internal/telemetry)
		"blitzbuy_http_requests_total",
		"blitzbuy_http_request_duration_seconds_bucket",
		// order-api: order outcomes (internal/httpapi)
		"blitzbuy_orders_total",
		// order-api: the hot ledger of each sale (labelled sale)
		"blitzbuy_sale_stock",
		"blitzbuy_sale_remaining",
		"blitzbuy_sale_persisted_units",
		// order-api: the ledger Redis's memory (INFO memory)
		"blitzbuy_redis_memory_used_bytes",
		"blitzbuy_redis_memory_max_bytes",
		// order-api: the checkout window (internal/reservation, internal/checkout)
		"blitzbuy_sale_hold_units",
		"blitzbuy_holds_overdue",
		"blitzbuy_holds_expired_total",
		"blitzbuy_hold_expiry_lateness_seconds_bucket",
		// order-api: publishing and the relay (internal/publish)
		"blitzbuy_publish_duration_seconds_bucket",
		"blitzbuy_publish_errors_total",
		"blitzbuy_outbox_pending",
		"blitzbuy_relay_published_total",
		// order-writer (internal/writer)
		"blitzbuy_writer_records_consumed_total",
		"blitzbuy_writer_rows_inserted_total",
		"blitzbuy_writer_duplicates_total",
		"blitzbuy_writer_skipped_total",
		"blitzbuy_writer_compensations_total",
		"blitzbuy_writer_retries_total",
		"blitzbuy_writer_dlq_records_total",
		"blitzbuy_writer_retrying",
		"blitzbuy_writer_consumer_lag",
		"blitzbuy_writer_batch_size_bucket",
		"blitzbuy_writer_insert_duration_seconds_bucket",
		"blitzbuy_writer_persist_latency_seconds_bucket",
		// Go runtime and process collectors (client_golang collectors)
		"go_goroutines",
		"go_memstats_heap_inuse_bytes",
		"go_gc_duration_seconds_count",
		"process_cpu_seconds_total",
	}
}
