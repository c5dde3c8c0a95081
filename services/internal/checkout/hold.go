package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The checkout window (issue #14): paying or cancelling a held order, and
// expiring the holds whose window passed. The ledger decides each transition
// atomically and keeps it in a transitions outbox; this layer hands its
// event (OrderPaid, OrderCancelled, OrderExpired) to Kafka and only then
// takes it out of the outbox, as publishThenAck does for reservations. A
// payment or cancellation is answered once its event is acknowledged, so
// "paid" is never only in Redis when the buyer hears it.

// HoldLedger is the ledger's side of the window.
type HoldLedger interface {
	Pay(ctx context.Context, p order.Payment) (order.Order, error)
	Cancel(ctx context.Context, orderID, userID string) (order.Order, error)
	DueSales(ctx context.Context, saleIDs []string) ([]string, error)
	ExpireDue(ctx context.Context, saleID string, limit int64) (order.Expired, error)
	Order(ctx context.Context, orderID string) (order.Order, error)
	SaleIDs(ctx context.Context) ([]string, error)
	Ended(ctx context.Context, saleID string, cutoff time.Time, limit int64) ([]string, error)
	AckEnded(ctx context.Context, saleID, orderID string) error
	Unacked(ctx context.Context, saleID, orderID string) (bool, error)
}

// EndedPublisher sends an ended hold's transition event and waits for the
// broker's ack; like Publisher, it must not give up when ctx is cancelled.
type EndedPublisher interface {
	PublishEnded(ctx context.Context, o order.Order) error
}

// Holds pays, cancels and expires held orders. Safe for concurrent use.
type Holds struct {
	ledger HoldLedger
	pub    EndedPublisher
	log    *slog.Logger
}

// NewHolds returns the window's service.
func NewHolds(ledger HoldLedger, pub EndedPublisher, log *slog.Logger) *Holds {
	if log == nil {
		log = slog.Default()
	}
	return &Holds{ledger: ledger, pub: pub, log: log}
}

// Pay pays a held order and answers once OrderPaid is in Kafka. A retry with
// the same key after a failure (503) finds the order paid and publishes
// what is still unacknowledged; the payment itself is never undone.
func (h *Holds) Pay(ctx context.Context, p order.Payment) (order.Order, error) {
	o, err := h.ledger.Pay(ctx, p)
	if err != nil {
		return order.Order{}, err
	}
	return o, h.settle(ctx, o)
}

// Cancel cancels a held order and answers once OrderCancelled is in Kafka.
func (h *Holds) Cancel(ctx context.Context, orderID, userID string) (order.Order, error) {
	o, err := h.ledger.Cancel(ctx, orderID, userID)
	if err != nil {
		return order.Order{}, err
	}
	return o, h.settle(ctx, o)
}

// settle publishes o's transition if the outbox still holds it, then acks it.
func (h *Holds) settle(ctx context.Context, o order.Order) error {
	un, err := h.ledger.Unacked(ctx, o.SaleID, o.ID)
	if err != nil {
		return fmt.Errorf("transition of %s: %w", o.ID, err)
	}
	if !un {
		return nil
	}
	return h.publishEnded(ctx, o)
}

// publishID publishes the transition of the order with id. An order that
// reads as not found (released after a failed publish, or gone from Redis)
// has no persisted order its transition could apply to: it is dropped from
// the outbox.
func (h *Holds) publishID(ctx context.Context, saleID, id string) error {
	o, err := h.ledger.Order(ctx, id)
	if errors.Is(err, order.ErrNotFound) {
		h.log.InfoContext(ctx, "dropping the transition of an order that is gone", "order_id", id)
		return h.ledger.AckEnded(ctx, saleID, id)
	}
	if err != nil {
		return err
	}
	return h.publishEnded(ctx, o)
}

func (h *Holds) publishEnded(ctx context.Context, o order.Order) error {
	if err := h.pub.PublishEnded(ctx, o); err != nil {
		return fmt.Errorf("transition of %s: %w", o.ID, err) // stays in the outbox: the relay retries
	}
	if err := h.ledger.AckEnded(context.WithoutCancel(ctx), o.SaleID, o.ID); err != nil {
		// Published: a later relay scan publishes it again, a duplicate the
		// writer absorbs.
		h.log.WarnContext(ctx, "ack of a published transition failed", "order_id", o.ID, "err", err)
	}
	return nil
}

// ExpiryMetrics observes the sweeper (nil: not observed).
type ExpiryMetrics interface {
	Expired(n int, lateness time.Duration)
}

// Expire sweeps every sale once: expires the holds whose window passed
// (at most limit per sale) and publishes their OrderExpired events. It
// returns how many holds it expired.
func (h *Holds) Expire(ctx context.Context, limit int64, m ExpiryMetrics) (int, error) {
	sales, err := h.ledger.SaleIDs(ctx)
	if err == nil {
		sales, err = h.ledger.DueSales(ctx, sales)
	}
	if err != nil {
		return 0, err
	}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		total    int
		firstErr error
	)
	fail := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		if firstErr == nil {
			firstErr = err
		}
	}
	for _, sale := range sales {
		e, err := h.ledger.ExpireDue(ctx, sale, limit)
		if err != nil {
			fail(err)
			continue
		}
		if len(e.Orders) == 0 {
			continue
		}
		total += len(e.Orders)
		if m != nil {
			m.Expired(len(e.Orders), e.Lateness)
		}
		for _, id := range e.Orders {
			wg.Go(func() { // concurrent publishes batch into few produce requests
				if err := h.publishID(ctx, sale, id); err != nil {
					fail(err) // in the outbox still: the relay publishes it
				}
			})
		}
	}
	wg.Wait()
	return total, firstErr
}

// RunExpiry sweeps every interval until ctx is done. Every API instance runs
// one: the ledger expires each hold once, whoever comes first, so the
// bound on lateness is the interval plus one sweep, not the instance count.
func (h *Holds) RunExpiry(ctx context.Context, interval time.Duration, limit int64, m ExpiryMetrics) {
	every(ctx, interval, func() {
		if _, err := h.Expire(ctx, limit, m); err != nil && ctx.Err() == nil {
			h.log.Warn("expiry sweep failed", "err", err)
		}
	})
}

// Republish publishes every transition that waited in the outbox longer
// than threshold (its publisher died or failed) and returns how many it
// published: the relay's second duty.
func (h *Holds) Republish(ctx context.Context, threshold time.Duration, limit int64) (int, error) {
	sales, err := h.ledger.SaleIDs(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-threshold)
	n := 0
	var firstErr error
	for _, sale := range sales {
		ids, err := h.ledger.Ended(ctx, sale, cutoff, limit)
		if err != nil {
			firstErr = err
			continue
		}
		for _, id := range ids {
			if err := h.publishID(ctx, sale, id); err != nil {
				if firstErr == nil {
					firstErr = err
				}
				continue
			}
			n++
		}
	}
	return n, firstErr
}

// RunRepublish runs Republish every interval until ctx is done.
func (h *Holds) RunRepublish(ctx context.Context, interval, threshold time.Duration, limit int64) {
	every(ctx, interval, func() {
		if n, err := h.Republish(ctx, threshold, limit); err != nil && ctx.Err() == nil {
			h.log.Warn("transition relay scan failed", "err", err, "published", n)
		} else if n > 0 {
			h.log.Info("relay re-published transitions", "count", n)
		}
	})
}
