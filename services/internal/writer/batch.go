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
	// ReasonUnvouched: no live reservation backs the order (Redis lost it, or
	// the event is a replay or a forgery) and the durable ledger would not
	// vouch for it (past the stock or the per-user limit, or an unknown sale).
	// A transition is unvouched when the persisted order contradicts it
	// (another buyer or quantity, no window, a hold that ended otherwise, an
	// expiry before the window's end).
	ReasonUnvouched = "unvouched"
)

// Transition outcomes (the `outcome` label of
// blitzbuy_writer_transitions_total).
const (
	TransitionApplied   = "applied"   // ended the persisted order's hold (now, or as the order arrived)
	TransitionEarly     = "early"     // the order is not persisted yet: kept for its insert
	TransitionDuplicate = "duplicate" // applied or kept already (redelivery)
	TransitionRefused   = "refused"   // contradicted by the persisted order: dead-lettered (unvouched)
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
	// unbacked: its reservation is gone from Redis, so only the durable
	// ledger can vouch for it (pgstore.InsertVouched).
	unbacked bool
}

func (it item) ref() order.Ref { return order.Ref{SaleID: it.ev.SaleID, OrderID: it.ev.OrderID} }

func (it item) row() pgstore.Row { return pgstore.Row{OrderPlaced: it.ev, TraceID: traceID(it.rec)} }

// transition is a decoded OrderPaid, OrderExpired or OrderCancelled. It is
// not a reservation: it needs no claim in Redis, no confirmation and no
// compensation, only its batch's transaction.
type transition struct {
	rec *kgo.Record
	ev  order.OrderTransition
}

func (t transition) row() pgstore.Transition {
	return pgstore.Transition{OrderTransition: t.ev, TraceID: traceID(t.rec)}
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

// process runs one attempt over a batch: decode, claim, insert, compensate,
// dead-letter, observe. It returns the orders now persisted (for the
// finishing stage to confirm), or an error only for transient failures (the
// whole batch is retried; every step is idempotent).
func (w *Writer) process(ctx context.Context, recs []*kgo.Record, attempt int, firstFailure time.Time) (persisted []order.Ref, err error) {
	items, trans, bad, spans := w.decode(recs)
	// Every record's span ends with this attempt's outcome (the named err),
	// skipped and rejected records included; a retry starts new spans.
	defer func() {
		for _, sp := range spans {
			endSpan(sp, err)
		}
	}()
	if items, err = w.claim(ctx, items); err != nil {
		return nil, err
	}
	backed, unbacked := splitBacked(items)
	var rejected []rejection
	var unvouched []poison
	if persisted, rejected, unvouched, err = w.insert(ctx, backed, trans); err != nil {
		return nil, err
	}
	bad = append(bad, unvouched...)
	vouched, refused, err := w.insertUnbacked(ctx, unbacked)
	if err != nil {
		return nil, err
	}
	persisted = append(persisted, vouched...)
	bad = append(bad, refused...)
	if err = w.compensate(ctx, rejected); err != nil {
		return nil, err
	}
	for _, r := range rejected {
		bad = append(bad, poison{rec: r.it.rec, reason: ReasonConstraint, err: r.err})
	}
	if err := w.deadLetter(ctx, bad, attempt, firstFailure); err != nil {
		return nil, &transientError{"kafka", err}
	}
	w.observe(items)
	return persisted, nil
}

// decode parses the batch, by each record's event-type header: none (the
// producers before issue #14 did not always set it) or OrderPlaced is an
// order, OrderPaid/OrderExpired/OrderCancelled a transition, anything else
// an event this writer does not know (unknown_schema). Poison records are
// set aside for the DLQ; an order or a transition seen twice in one batch
// (the relay and the API both published it) is counted as a duplicate and
// kept once; every kept record gets its "orders process" span, returned
// apart because later steps drop items.
func (w *Writer) decode(recs []*kgo.Record) (items []item, trans []transition, bad []poison, spans []trace.Span) {
	items = make([]item, 0, len(recs))
	seen := make(map[string]bool, len(recs))
	seenT := map[string]bool{}
	for _, r := range recs {
		switch typ := header(r, order.HeaderEventType); {
		case typ == "" || typ == order.OrderPlacedType:
		case order.IsTransitionType(typ):
			ev, err := order.DecodeTransition(typ, r.Value)
			if err != nil {
				bad = append(bad, poison{rec: r, reason: decodeReason(err), err: err})
				continue
			}
			if seenT[ev.OrderID] {
				w.m.transitions.WithLabelValues(string(ev.Hold()), TransitionDuplicate).Inc()
				continue
			}
			seenT[ev.OrderID] = true
			if w.cfg.Tracer != nil {
				_, span := w.cfg.Tracer.WithProcessSpan(r)
				spans = append(spans, span)
			}
			trans = append(trans, transition{rec: r, ev: ev})
			continue
		default:
			err := fmt.Errorf("%w: event type %q", order.ErrUnknownEventSchema, typ)
			bad = append(bad, poison{rec: r, reason: ReasonUnknownSchema, err: err})
			continue
		}
		ev, err := order.DecodeOrderPlaced(r.Value)
		if err != nil {
			bad = append(bad, poison{rec: r, reason: decodeReason(err), err: err})
			continue
		}
		if seen[ev.OrderID] {
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
	return items, trans, bad, spans
}

// claim takes the reservations so the API can no longer release them, and
// drops the orders whose reservation no longer backs them: released by the
// API (their buyers heard 503) or already compensated.
func (w *Writer) claim(ctx context.Context, items []item) ([]item, error) {
	refs := make([]order.Ref, len(items))
	for i, it := range items {
		refs[i] = it.ref()
	}
	claims, err := w.ledger.ClaimForPersist(ctx, refs)
	if err != nil {
		return nil, &transientError{"redis", err}
	}
	keep := items[:0]
	for i, it := range items {
		if slices.Contains(skipStages, claims[i]) {
			w.m.skipped.WithLabelValues(string(claims[i])).Inc()
			w.log.Info("not persisting an order its reservation no longer backs", "order_id", it.ev.OrderID, "stage", claims[i])
			continue
		}
		it.unbacked = claims[i] == order.StageGone
		keep = append(keep, it)
	}
	return keep, nil
}

func splitBacked(items []item) (backed, unbacked []item) {
	for _, it := range items {
		if it.unbacked {
			unbacked = append(unbacked, it)
		} else {
			backed = append(backed, it)
		}
	}
	return backed, unbacked
}

// insertUnbacked writes the orders no live reservation backs where the
// durable ledger vouches for them, and quarantines the others in the DLQ
// (reason unvouched): nothing was reserved for them in Redis, so there is
// nothing to compensate, and persisting them could oversell.
func (w *Writer) insertUnbacked(ctx context.Context, items []item) (persisted []order.Ref, refused []poison, err error) {
	if len(items) == 0 {
		return nil, nil, nil
	}
	rows := make([]pgstore.Row, len(items))
	byID := make(map[string]item, len(items))
	for i, it := range items {
		rows[i] = it.row()
		byID[it.ev.OrderID] = it
	}
	ictx, span := w.insertSpan(ctx, items)
	t0 := time.Now()
	res, refusals, err := w.store.InsertVouched(ictx, rows)
	endSpan(span, err)
	w.m.insertSeconds.Observe(time.Since(t0).Seconds())
	switch {
	case err == nil:
	case isPermanent(err):
		// A row breaks the statement (say, another order holds its
		// Idempotency-Key): none is vouched for; quarantine them all.
		for _, it := range items {
			refused = append(refused, poison{rec: it.rec, reason: ReasonUnvouched, err: err})
		}
		return nil, refused, nil
	default:
		return nil, nil, &transientError{transientReason(err), err}
	}
	w.countInserted(res)
	for _, id := range append(res.Inserted, res.Duplicates...) {
		persisted = append(persisted, byID[id].ref())
	}
	for _, r := range refusals {
		w.log.Warn("not persisting an order no reservation backs and the durable ledger does not vouch for", "order_id", r.OrderID, "reason", r.Reason)
		refused = append(refused, poison{rec: byID[r.OrderID].rec, reason: ReasonUnvouched, err: errors.New(r.Reason)})
	}
	return persisted, refused, nil
}

// rejection is a valid order the database refused for good.
type rejection struct {
	it  item
	err error
}

// insert writes the claimed orders and applies the batch's transitions in
// one transaction. When one row breaks it (a permanent error), it finds that
// row by writing the others one by one, and applies the transitions on their
// own; the rows refused that way are returned as rejections, the
// transitions the database refuses or the durable ledger contradicts as
// poison.
func (w *Writer) insert(ctx context.Context, items []item, trans []transition) (persisted []order.Ref, rejected []rejection, bad []poison, err error) {
	if len(items) == 0 && len(trans) == 0 {
		return nil, nil, nil, nil
	}
	rows := make([]pgstore.Row, len(items))
	for i, it := range items {
		rows[i] = it.row()
	}
	ictx, span := w.insertSpan(ctx, items)
	t0 := time.Now()
	res, tres, err := w.store.ApplyBatch(ictx, rows, transitionRows(trans))
	endSpan(span, err)
	w.m.insertSeconds.Observe(time.Since(t0).Seconds())
	switch {
	case err == nil:
		w.countInserted(res)
		for _, it := range items {
			persisted = append(persisted, it.ref())
		}
		return persisted, nil, w.transitionOutcomes(trans, tres), nil
	case isPermanent(err):
		if persisted, rejected, err = w.insertOneByOne(ctx, items); err != nil {
			return nil, nil, nil, err
		}
		if bad, err = w.applyTransitions(ctx, trans); err != nil {
			return nil, nil, nil, err
		}
		return persisted, rejected, bad, nil
	default:
		return nil, nil, nil, &transientError{transientReason(err), err}
	}
}

func transitionRows(trans []transition) []pgstore.Transition {
	if len(trans) == 0 {
		return nil
	}
	ts := make([]pgstore.Transition, len(trans))
	for i, t := range trans {
		ts[i] = t.row()
	}
	return ts
}

func (w *Writer) countInserted(res pgstore.InsertResult) {
	w.m.inserted.Add(float64(len(res.Inserted)))
	w.m.duplicates.Add(float64(len(res.Duplicates)))
	for h, n := range res.EarlyApplied {
		w.m.transitions.WithLabelValues(string(h), TransitionApplied).Add(float64(n))
	}
}

// applyTransitions is insert's fallback for the transitions: together on
// their own, and when one of them breaks that too, one by one; one the
// database refuses for good is dead-lettered (a constraint violation: there
// is no reservation to compensate).
func (w *Writer) applyTransitions(ctx context.Context, trans []transition) (bad []poison, err error) {
	if len(trans) == 0 {
		return nil, nil
	}
	tres, err := w.store.ApplyTransitions(ctx, transitionRows(trans))
	switch {
	case err == nil:
		return w.transitionOutcomes(trans, tres), nil
	case !isPermanent(err):
		return nil, &transientError{transientReason(err), err}
	case len(trans) == 1:
		return []poison{{rec: trans[0].rec, reason: ReasonConstraint, err: err}}, nil
	}
	for _, t := range trans {
		b, err := w.applyTransitions(ctx, []transition{t})
		if err != nil {
			return nil, err
		}
		bad = append(bad, b...)
	}
	return bad, nil
}

// transitionOutcomes counts what became of each transition and returns the
// ones the durable ledger refused (the persisted order contradicts them: a
// forged or corrupted event) as poison, reason unvouched.
func (w *Writer) transitionOutcomes(trans []transition, res pgstore.TransitionResult) (refused []poison) {
	byID := make(map[string]transition, len(trans))
	for _, t := range trans {
		byID[t.ev.OrderID] = t
	}
	count := func(ids []string, outcome string) {
		for _, id := range ids {
			w.m.transitions.WithLabelValues(string(byID[id].ev.Hold()), outcome).Inc()
		}
	}
	count(res.Applied, TransitionApplied)
	count(res.Early, TransitionEarly)
	count(res.Duplicates, TransitionDuplicate)
	for _, r := range res.Refused {
		t := byID[r.OrderID]
		w.m.transitions.WithLabelValues(string(t.ev.Hold()), TransitionRefused).Inc()
		w.log.Warn("not applying a transition the persisted order contradicts", "order_id", r.OrderID, "type", t.ev.Type, "reason", r.Reason)
		refused = append(refused, poison{rec: t.rec, reason: ReasonUnvouched, err: errors.New(r.Reason)})
	}
	return refused
}

// insertOneByOne is insert's fallback: each row alone, so one refused row
// does not keep the others out.
func (w *Writer) insertOneByOne(ctx context.Context, items []item) (persisted []order.Ref, rejected []rejection, err error) {
	for _, it := range items {
		ins, err := w.store.InsertOne(ctx, it.row())
		switch {
		case err == nil:
			if ins {
				w.m.inserted.Inc()
			} else {
				w.m.duplicates.Inc()
			}
			persisted = append(persisted, it.ref())
		case isPermanent(err):
			rejected = append(rejected, rejection{it: it, err: err})
		default:
			return nil, nil, &transientError{transientReason(err), err}
		}
	}
	return persisted, rejected, nil
}

// compensate is the saga's last step: a valid order the database refuses for
// good gives its stock back.
func (w *Writer) compensate(ctx context.Context, rejected []rejection) error {
	for _, r := range rejected {
		ev := r.it.ev
		o := order.Order{ID: ev.OrderID, SaleID: ev.SaleID, UserID: ev.UserID,
			Quantity: ev.Quantity, IdempotencyKey: ev.IdempotencyKey}
		err := w.ledger.Release(ctx, o, order.ReleaseRejected)
		switch {
		case err == nil:
			w.m.compensations.Inc()
			w.log.Warn("order rejected by the database; reservation released", "order_id", o.ID)
		case errors.Is(err, order.ErrNotOwned), errors.Is(err, order.ErrNotFound):
			// already compensated (a retried batch), or no reservation to return
		default:
			return &transientError{"redis", err}
		}
	}
	return nil
}

// observe records, for every claimed order (persisted or rejected), how long
// it took from its reservation to the end of its batch.
func (w *Writer) observe(items []item) {
	now := w.now()
	for _, it := range items {
		w.m.persistLatency.Observe(now.Sub(it.ev.ReservedAt).Seconds())
	}
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
