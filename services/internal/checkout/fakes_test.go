package checkout_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// In-memory fakes of what checkout consumes. They model the ledger's rules
// that the saga depends on (a release is refused once the relay or the
// broker owns the order; a replay answers from the first request), not the
// Lua scripts themselves: those are tested against the real Redis in
// internal/reservation.

var (
	_ checkout.Ledger      = (*fakeLedger)(nil)
	_ checkout.Publisher   = (*fakePublisher)(nil)
	_ checkout.Outbox      = (*fakeLedger)(nil)
	_ checkout.Republisher = (*fakePublisher)(nil)
)

var errBroken = errors.New("connection refused (injected)")

type fakeLedger struct {
	mu sync.Mutex
	// reserve answers Reserve; nil means "accept a fresh order".
	reserve func(req order.Request) (order.Reservation, error)
	// stages holds each order's stage; Stage reads it, Reserve writes pending.
	stages map[string]order.Stage
	// stageSeq, when set, is what successive Stage calls answer (then the
	// last one again).
	stageSeq []order.Stage
	stageErr error
	// releaseErr, when set, is what Release answers (else it releases a
	// pending order and refuses any other stage with ErrNotOwned).
	releaseErr error
	ackErr     error
	reserved   []order.Request
	released   []string
	acked      []string
	// stale lists the outbox's stranded orders for the relay.
	stale map[string]order.Order
}

func newLedger() *fakeLedger {
	return &fakeLedger{stages: map[string]order.Stage{}, stale: map[string]order.Order{}}
}

func (l *fakeLedger) Reserve(_ context.Context, req order.Request) (order.Reservation, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.reserved = append(l.reserved, req)
	if l.reserve != nil {
		return l.reserve(req)
	}
	o := pendingOrder(req, "o-"+req.IdempotencyKey)
	l.stages[o.ID] = order.StagePending
	return order.Reservation{Order: o}, nil
}

func pendingOrder(req order.Request, id string) order.Order {
	return order.Order{ID: id, SaleID: req.SaleID, UserID: req.UserID, Quantity: req.Quantity,
		Status: order.StatusPending, IdempotencyKey: req.IdempotencyKey, ReservedAt: time.UnixMilli(1_700_000_000_000).UTC()}
}

func (l *fakeLedger) Release(_ context.Context, o order.Order, mode order.ReleaseMode) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if mode != order.ReleasePublishFailed {
		return errors.New("unexpected release mode " + string(mode))
	}
	if l.releaseErr != nil {
		return l.releaseErr
	}
	if l.stages[o.ID] != order.StagePending {
		return order.ErrNotOwned
	}
	l.stages[o.ID] = order.StageReleased
	l.released = append(l.released, o.ID)
	return nil
}

func (l *fakeLedger) Ack(_ context.Context, _, orderID string) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ackErr != nil {
		return l.ackErr
	}
	l.acked = append(l.acked, orderID)
	if l.stages[orderID] == order.StagePending {
		l.stages[orderID] = order.StagePublished
	}
	delete(l.stale, orderID)
	return nil
}

func (l *fakeLedger) Stage(_ context.Context, orderID string) (order.Stage, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.stageErr != nil {
		return order.StageGone, l.stageErr
	}
	if len(l.stageSeq) > 0 {
		st := l.stageSeq[0]
		if len(l.stageSeq) > 1 {
			l.stageSeq = l.stageSeq[1:]
		}
		return st, nil
	}
	if st, ok := l.stages[orderID]; ok {
		return st, nil
	}
	return order.StageGone, nil
}

func (l *fakeLedger) SaleIDs(context.Context) ([]string, error) { return []string{"s"}, nil }

func (l *fakeLedger) Stale(_ context.Context, saleID string, _ time.Time, limit int64) ([]string, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	var ids []string
	for id, o := range l.stale {
		if o.SaleID == saleID && int64(len(ids)) < limit {
			ids = append(ids, id)
		}
	}
	return ids, nil
}

func (l *fakeLedger) Claim(_ context.Context, _, orderID string, _ time.Duration) (order.Order, bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	o, ok := l.stale[orderID]
	return o, ok, nil
}

func (l *fakeLedger) snapshot() (reserved int, released, acked []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.reserved), append([]string(nil), l.released...), append([]string(nil), l.acked...)
}

type fakePublisher struct {
	mu sync.Mutex
	// publish answers Publish and Relayed; nil means "acknowledged".
	publish   func(ctx context.Context, o order.Order) error
	published []string
}

func (p *fakePublisher) Publish(ctx context.Context, o order.Order) error {
	var err error
	if p.publish != nil {
		err = p.publish(ctx, o)
	}
	if err == nil {
		p.mu.Lock()
		p.published = append(p.published, o.ID)
		p.mu.Unlock()
	}
	return err
}

func (p *fakePublisher) Relayed(ctx context.Context, o order.Order) error { return p.Publish(ctx, o) }

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func request(key string) order.Request {
	return order.Request{SaleID: "s", UserID: "u1", IdempotencyKey: key, Quantity: 1}
}
