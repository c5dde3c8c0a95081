package dashboards

//lint:file-ignore SA1019 see dashboards.go: Grafana file provisioning loads the classic (v1) dashboard model.

import (
	"fmt"

	"github.com/grafana/grafana-foundation-sdk/go/common"
	"github.com/grafana/grafana-foundation-sdk/go/dashboard"
)

// Pipeline is "Order pipeline": an accepted order's way from order-api
// through Kafka into PostgreSQL (publish, outbox and relay, consumer lag,
// batches, inserts) and every way it can fail (retries, DLQ, compensation).
func Pipeline() (dashboard.Dashboard, error) {
	// Every writer replica reports the lag of the whole group, so the lag of
	// a partition is the max over replicas, not their sum.
	lagRecords := "sum(max by (partition) (blitzbuy_writer_consumer_lag))"
	lagSeconds := lagRecords + " / clamp_min(sum(rate(blitzbuy_writer_records_consumed_total[5m])), 1)"

	b := newBoard(PipelineUID, "Order pipeline",
		"An accepted order's way from order-api through Kafka into PostgreSQL: publish latency and errors, the outbox and relay, consumer lag, batches and inserts, end-to-end persist latency, and the failure paths (retries, dead letters, compensations).").
		WithRow(row("Publish (order-api → Kafka)")).
		WithPanel(graph("Publish latency P50 / P99",
			"Time from handing an OrderPlaced event to the producer until the broker acknowledges it (acks=all), by source: api (the request path, which the buyer waits for) and relay (re-publishes of stranded reservations). From blitzbuy_publish_duration_seconds over 1 minute; the P99 query has exemplars on, linking slow publishes to their Jaeger traces.",
			"s",
			query(quantile(0.5, "blitzbuy_publish_duration_seconds_bucket", "", "source", "1m"), "P50 {{source}}"),
			query(quantile(0.99, "blitzbuy_publish_duration_seconds_bucket", "", "source", "1m"), "P99 {{source}}").Exemplar(true))).
		WithPanel(graph("Publish errors by reason",
			"Publishes that failed per second (blitzbuy_publish_errors_total), by reason: timeout (no ack within BLITZBUY_PUBLISH_TIMEOUT), broker (Kafka refused), canceled, other. On the request path each failure releases the reservation and answers 503, unless the relay already owns the order.",
			"ops",
			query("sum by (reason) (rate(blitzbuy_publish_errors_total[1m]))", "{{reason}}"))).
		WithPanel(withLimit(graph("Outbox pending",
			fmt.Sprintf("Reservations in the outbox (blitzbuy_outbox_pending): reserved in Redis, not yet acknowledged by Kafka. A few during a sale is normal (orders in flight); a count that stays high means publishes are not being acknowledged and the relay is catching up. The red dashed line is %d (alert RelayBacklog after 2 minutes).", relayBacklogAlert),
			"short",
			query("max without (instance) (blitzbuy_outbox_pending)", "")), relayBacklogAlert)).
		WithPanel(graph("Relay re-publishes",
			"Stranded reservations the relay re-published per second (rate of blitzbuy_relay_published_total): orders whose request died or timed out between reserve and ack. Zero in a healthy sale; non-zero after a crash or a Kafka outage, until the outbox is empty.",
			"ops",
			query("sum(rate(blitzbuy_relay_published_total[1m]))", "re-published"))).
		WithRow(row("Consume (Kafka → order-writer)")).
		WithPanel(graph("Consumer lag (records)",
			"Records on the orders topic that order-writer's group has not committed yet (blitzbuy_writer_consumer_lag), in total and per partition. Accepted orders waiting here are safe in Kafka but not yet in PostgreSQL (GET shows them pending). Every writer replica reports the whole group's lag, hence max per partition.",
			"short",
			query(lagRecords, "total"),
			query("max by (partition) (blitzbuy_writer_consumer_lag)", "partition {{partition}}"))).
		WithPanel(withLimit(graph("Consumer lag (seconds to catch up)",
			fmt.Sprintf("Lag divided by the rate the writer consumes (over 5 minutes, at least 1 record/s): roughly how long the newest order waits before it is persisted. The red dashed line is %d s (alert ConsumerLagHigh after 2 minutes). When the writer is stalled the rate floor of 1/s makes this read as the lag in records.", consumerLagAlert),
			"s",
			query(lagSeconds, "seconds behind")), consumerLagAlert)).
		WithPanel(graph("Consumed, inserted and duplicate records",
			"Per second: records read from the orders topic (blitzbuy_writer_records_consumed_total), order rows inserted into PostgreSQL (blitzbuy_writer_rows_inserted_total), and events whose order was already persisted (blitzbuy_writer_duplicates_total: redeliveries and relay re-publishes, absorbed by ON CONFLICT DO NOTHING). In steady state consumed ≈ inserted + duplicates + skipped + dead-lettered.",
			"ops",
			query("sum(rate(blitzbuy_writer_records_consumed_total[1m]))", "consumed"),
			query("sum(rate(blitzbuy_writer_rows_inserted_total[1m]))", "inserted"),
			query("sum(rate(blitzbuy_writer_duplicates_total[1m]))", "duplicates"))).
		WithPanel(graph("Batch size P50 / P99",
			"Records per batch transaction (blitzbuy_writer_batch_size), over 1 minute. Small batches at high load mean the writer is latency-bound (BLITZBUY_WRITER_BATCH_WAIT expires first); batches near BLITZBUY_WRITER_BATCH_SIZE mean it is throughput-bound and lag will grow.",
			"short",
			query(quantile(0.5, "blitzbuy_writer_batch_size_bucket", "", "", "1m"), "P50"),
			query(quantile(0.99, "blitzbuy_writer_batch_size_bucket", "", "", "1m"), "P99"))).
		WithRow(row("Persist (order-writer → PostgreSQL)")).
		WithPanel(graph("Insert latency P50 / P99",
			"Duration of one batch insert transaction in PostgreSQL (blitzbuy_writer_insert_duration_seconds), over 1 minute. Rising with a flat batch size means the database is slowing down.",
			"s",
			query(quantile(0.5, "blitzbuy_writer_insert_duration_seconds_bucket", "", "", "1m"), "P50"),
			query(quantile(0.99, "blitzbuy_writer_insert_duration_seconds_bucket", "", "", "1m"), "P99"))).
		WithPanel(graph("End-to-end persist latency P50 / P99",
			"From reservation in Redis (reserved_at) to the committed row in PostgreSQL (blitzbuy_writer_persist_latency_seconds), over 1 minute: publish, Kafka, batching and the insert together. This is how long an accepted order reads 'pending' before it reads 'confirmed'.",
			"s",
			query(quantile(0.5, "blitzbuy_writer_persist_latency_seconds_bucket", "", "", "1m"), "P50"),
			query(quantile(0.99, "blitzbuy_writer_persist_latency_seconds_bucket", "", "", "1m"), "P99"))).
		WithRow(row("Failures")).
		WithPanel(graph("Batch retries by reason",
			"Batch attempts that failed transiently and will be retried with backoff, per 5 minutes (blitzbuy_writer_retries_total), by reason: connection, database_shutdown, redis, kafka, timeout, serialization_failure, deadlock… Nothing is dead-lettered for these: the writer retries forever.",
			"short",
			query("sum by (reason) (increase(blitzbuy_writer_retries_total[5m]))", "{{reason}}"))).
		WithPanel(graph("Writer retrying",
			"1 while a writer replica is stuck retrying a failed batch (blitzbuy_writer_retrying): fetching is paused and /readyz answers 503. Brief blips are normal; a long 1 means PostgreSQL, Redis or Kafka is down for the writer (alert WriterRetrying after 1 minute).",
			"none",
			query("max by (instance) (blitzbuy_writer_retrying)", "{{instance}}")).
			Min(0).
			Max(1).
			LineInterpolation(common.LineInterpolationStepAfter)).
		WithPanel(graph("Dead-lettered records by reason",
			"Records sent to orders.dlq per 5 minutes (blitzbuy_writer_dlq_records_total), by reason: malformed, unknown_schema, invalid, constraint_violation. Should be zero: each one is a record the writer will never persist (alert DLQGrowing).",
			"short",
			query("sum by (reason) (increase(blitzbuy_writer_dlq_records_total[5m]))", "{{reason}}")).
			Span(8)).
		WithPanel(graph("Compensations",
			"Valid orders the database permanently refused whose reservation was released in Redis (saga), per 5 minutes (blitzbuy_writer_compensations_total). The buyer's order reads 'failed' and the stock goes back on sale. Should be zero.",
			"short",
			query("sum(increase(blitzbuy_writer_compensations_total[5m]))", "compensated")).
			Span(8)).
		WithPanel(graph("Skipped events by stage",
			"Events not persisted because their reservation no longer backs them, per 5 minutes (blitzbuy_writer_skipped_total), by stage: released (publish failed and the stock went back, yet the event reached Kafka) or failed (already compensated). Expected after Kafka timeouts; the order was never confirmed to the buyer.",
			"short",
			query("sum by (reason) (increase(blitzbuy_writer_skipped_total[5m]))", "{{reason}}")).
			Span(8))
	return build(b)
}
