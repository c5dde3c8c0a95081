package writer

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
)

// DLQ reasons (the `reason` header and the metric label).
const (
	ReasonMalformed     = "malformed"
	ReasonUnknownSchema = "unknown_schema"
	ReasonInvalid       = "invalid"
	ReasonConstraint    = "constraint_violation"
)

// skipStages are the stages whose events are not persisted: the reservation
// no longer backs them. Each stage is its own `reason` label of
// blitzbuy_writer_skipped_total.
var skipStages = []order.Stage{order.StageReleased, order.StageFailed}

type poison struct {
	rec    *kgo.Record
	reason string
	err    error
}

type item struct {
	rec  *kgo.Record
	ev   order.OrderPlaced
	ctx  context.Context
	span trace.Span
}

// insertSpan starts the batch insert span: a child of the first record's
// process span (so that order's trace shows the insert) linking every
// record's process span (so each order can find the batch that wrote it).
func (w *Writer) insertSpan(ctx context.Context, items []item) (context.Context, trace.Span) {
	if w.cfg.Tracer == nil || len(items) == 0 {
		return ctx, nil
	}
	// The first record is the parent; Jaeger folds a link to the parent into
	// the parent reference, so it is not linked twice.
	links := make([]trace.Link, 0, len(items)-1)
	for _, it := range items[1:] {
		links = append(links, trace.Link{SpanContext: trace.SpanContextFromContext(it.ctx)})
	}
	parent := trace.ContextWithSpanContext(ctx, trace.SpanContextFromContext(items[0].ctx))
	return w.tracer.Start(parent, "orders batch insert", trace.WithSpanKind(trace.SpanKindClient), trace.WithLinks(links...),
		trace.WithAttributes(attribute.String("db.system.name", "postgresql"), attribute.String("db.collection.name", "orders"),
			attribute.Int("db.operation.batch.size", len(items))))
}

func endSpan(span trace.Span, err error) {
	if span == nil {
		return
	}
	if err != nil {
		span.RecordError(err)
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// process runs one attempt over a batch: claim, insert, compensate,
// dead-letter. It returns the orders now persisted (for the finishing stage
// to confirm), or an error only for transient failures (the whole batch is
// retried; every step is idempotent).
func (w *Writer) process(ctx context.Context, recs []*kgo.Record, attempt int, firstFailure time.Time) (persisted []order.Ref, err error) {
	var bad []poison
	items := make([]item, 0, len(recs))
	var spans []trace.Span
	seen := make(map[string]bool, len(recs))
	for _, r := range recs {
		ev, err := order.DecodeOrderPlaced(r.Value)
		if err != nil {
			bad = append(bad, poison{rec: r, reason: decodeReason(err), err: err})
			continue
		}
		if seen[ev.OrderID] { // the relay and the API both published it
			w.m.duplicates.Inc()
			continue
		}
		seen[ev.OrderID] = true
		it := item{rec: r, ev: ev}
		if w.cfg.Tracer != nil {
			// "orders process": continues the producer's trace (kotel put the
			// extracted context on the record when it was fetched).
			it.ctx, it.span = w.cfg.Tracer.WithProcessSpan(r)
			spans = append(spans, it.span)
		}
		items = append(items, it)
	}
	defer func() {
		for _, sp := range spans {
			endSpan(sp, err)
		}
	}()

	// Claim the reservations so the API can no longer release them; skip the
	// ones it released (their buyers heard 503) or that were compensated.
	refs := make([]order.Ref, len(items))
	for i, it := range items {
		refs[i] = order.Ref{SaleID: it.ev.SaleID, OrderID: it.ev.OrderID}
	}
	claims, err := w.ledger.ClaimForPersist(ctx, refs)
	if err != nil {
		return nil, &transientError{"redis", err}
	}
	rows := make([]pgstore.Row, 0, len(items))
	keep := items[:0]
	for i, it := range items {
		if slices.Contains(skipStages, claims[i]) {
			w.m.skipped.WithLabelValues(string(claims[i])).Inc()
			w.log.Info("not persisting an order its reservation no longer backs", "order_id", it.ev.OrderID, "stage", claims[i])
			continue
		}
		keep = append(keep, it)
		rows = append(rows, pgstore.Row{OrderPlaced: it.ev, TraceID: traceID(it.rec)})
	}
	items = keep

	var rejected []poison
	var rejectedItems []item
	if len(rows) > 0 {
		ictx, span := w.insertSpan(ctx, items)
		t0 := time.Now()
		res, err := w.store.InsertBatch(ictx, rows)
		endSpan(span, err)
		w.m.insertSeconds.Observe(time.Since(t0).Seconds())
		switch {
		case err == nil:
			w.m.inserted.Add(float64(len(res.Inserted)))
			w.m.duplicates.Add(float64(len(res.Duplicates)))
			for _, it := range items {
				persisted = append(persisted, order.Ref{SaleID: it.ev.SaleID, OrderID: it.ev.OrderID})
			}
		case isPermanent(err):
			// One row breaks the batch: find it, write the others one by one.
			for _, it := range items {
				row := pgstore.Row{OrderPlaced: it.ev, TraceID: traceID(it.rec)}
				ins, err := w.store.InsertOne(ctx, row)
				switch {
				case err == nil:
					if ins {
						w.m.inserted.Inc()
					} else {
						w.m.duplicates.Inc()
					}
					persisted = append(persisted, order.Ref{SaleID: it.ev.SaleID, OrderID: it.ev.OrderID})
				case isPermanent(err):
					rejected = append(rejected, poison{rec: it.rec, reason: ReasonConstraint, err: err})
					rejectedItems = append(rejectedItems, it)
				default:
					return nil, &transientError{transientReason(err), err}
				}
			}
		default:
			return nil, &transientError{transientReason(err), err}
		}
	}

	// Saga: a valid order the database refuses for good gives its stock back.
	for _, it := range rejectedItems {
		o := order.Order{ID: it.ev.OrderID, SaleID: it.ev.SaleID, UserID: it.ev.UserID,
			Quantity: it.ev.Quantity, IdempotencyKey: it.ev.IdempotencyKey}
		err := w.ledger.Release(ctx, o, order.ReleaseRejected)
		switch {
		case err == nil:
			w.m.compensations.Inc()
			w.log.Warn("order rejected by the database; reservation released", "order_id", o.ID)
		case errors.Is(err, order.ErrNotOwned), errors.Is(err, order.ErrNotFound):
			// already compensated (a retried batch), or no reservation to return
		default:
			return nil, &transientError{"redis", err}
		}
	}
	if err := w.deadLetter(ctx, append(bad, rejected...), attempt, firstFailure); err != nil {
		return nil, &transientError{"kafka", err}
	}
	now := w.now()
	for _, it := range items {
		w.m.persistLatency.Observe(now.Sub(it.ev.ReservedAt).Seconds())
	}
	return persisted, nil
}

func decodeReason(err error) string {
	switch {
	case errors.Is(err, order.ErrUnknownEventSchema):
		return ReasonUnknownSchema
	case errors.Is(err, order.ErrInvalidEvent):
		return ReasonInvalid
	default:
		return ReasonMalformed
	}
}

// Dead-letter headers: why, from where, and how hard we tried.
const (
	HeaderReason          = "dlq-reason"
	HeaderError           = "dlq-error"
	HeaderSourceTopic     = "dlq-source-topic"
	HeaderSourcePartition = "dlq-source-partition"
	HeaderSourceOffset    = "dlq-source-offset"
	HeaderAttempts        = "dlq-attempts"
	HeaderFirstFailure    = "dlq-first-failure"
)

// deadLetter copies poison records to the DLQ with the reason in headers and
// waits for the broker's ack; only then may their offsets be committed.
func (w *Writer) deadLetter(ctx context.Context, bad []poison, attempt int, firstFailure time.Time) error {
	if len(bad) == 0 {
		return nil
	}
	if firstFailure.IsZero() {
		firstFailure = w.now()
	}
	out := make([]*kgo.Record, len(bad))
	for i, p := range bad {
		msg := p.err.Error()
		if len(msg) > 1024 {
			msg = msg[:1024]
		}
		hs := append([]kgo.RecordHeader{}, p.rec.Headers...)
		hs = append(hs,
			kgo.RecordHeader{Key: HeaderReason, Value: []byte(p.reason)},
			kgo.RecordHeader{Key: HeaderError, Value: []byte(msg)},
			kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(p.rec.Topic)},
			kgo.RecordHeader{Key: HeaderSourcePartition, Value: []byte(itoa(int64(p.rec.Partition)))},
			kgo.RecordHeader{Key: HeaderSourceOffset, Value: []byte(itoa(p.rec.Offset))},
			kgo.RecordHeader{Key: HeaderAttempts, Value: []byte(itoa(int64(attempt)))},
			kgo.RecordHeader{Key: HeaderFirstFailure, Value: []byte(firstFailure.UTC().Format(time.RFC3339Nano))},
		)
		out[i] = &kgo.Record{Topic: w.cfg.DLQTopic, Key: p.rec.Key, Value: p.rec.Value, Headers: hs, Context: ctx}
	}
	if err := w.cl.ProduceSync(ctx, out...).FirstErr(); err != nil {
		return fmt.Errorf("dead-letter: %w", err)
	}
	for _, p := range bad {
		w.m.dlq.WithLabelValues(p.reason).Inc()
		w.log.Warn("record dead-lettered", "reason", p.reason, "partition", p.rec.Partition, "offset", p.rec.Offset, "err", p.err)
	}
	return nil
}
