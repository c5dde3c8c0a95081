// Package checkout is the application layer of placing an order: reserve
// (the ledger rate-limits in the same step), publish, then take the order out
// of the outbox — or release its stock — and make a replayed request wait for
// the original's publish. The relay that re-publishes stranded reservations
// shares its publish-then-ack. It declares the small interfaces it consumes;
// the adapters (reservation, publish) implement them, and httpapi only
// decodes, calls Place and encodes. This file is the hot path of every order.
package checkout

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Ledger is the hot ledger (Redis): stock, reservations and their outbox.
// Reserve also applies the rate limit, in the same round trip: a limited
// request comes back as a Reservation whose Err is rate_limited, and
// Reservation.RateLimit carries the decision whenever the limit was counted.
type Ledger interface {
	Reserve(ctx context.Context, req order.Request) (order.Reservation, error)
	Release(ctx context.Context, o order.Order, mode order.ReleaseMode) error
	Ack(ctx context.Context, saleID, orderID string) error
	Stage(ctx context.Context, orderID string) (order.Stage, error)
}

// Publisher sends an order's event and waits for the broker's ack. It must
// not give up when ctx is cancelled: a client that hangs up must not turn an
// acknowledged record into a released reservation.
type Publisher interface {
	Publish(ctx context.Context, o order.Order) error
}

// Config tunes the service.
type Config struct {
	// ReplayWait bounds how long a replayed request waits for the original
	// request's in-flight publish; set it above the delivery timeout. 0 means
	// 10 s.
	ReplayWait time.Duration
}

// Service places orders. It is safe for concurrent use.
type Service struct {
	ledger     Ledger
	pub        Publisher
	log        *slog.Logger
	replayWait time.Duration
}

// New returns a Service.
func New(ledger Ledger, pub Publisher, cfg Config, log *slog.Logger) *Service {
	if cfg.ReplayWait <= 0 {
		cfg.ReplayWait = 10 * time.Second
	}
	if log == nil {
		log = slog.Default()
	}
	return &Service{ledger: ledger, pub: pub, log: log, replayWait: cfg.ReplayWait}
}

// Place decides the fate of one order request. A business answer (accepted,
// replayed, sold out, limit, not active, rate limited, unknown sale, reused
// key) comes back as the Outcome with a nil error. A non-nil error means the
// system failed the buyer (Redis or Kafka unwell, a publish that was
// released): the Outcome's Kind is then OutcomeError and the buyer should
// retry with the same Idempotency-Key. RateLimit is set whenever the ledger
// counted the request, even on a later failure.
func (s *Service) Place(ctx context.Context, req order.Request) (order.Outcome, error) {
	res, err := s.ledger.Reserve(ctx, req)
	out := order.Outcome{RateLimit: res.RateLimit}
	switch {
	case err != nil && order.CodeOf(err) != order.CodeInternal: // unknown sale, reused key
		return rejected(out, err, false), nil
	case err != nil:
		return failed(out), fmt.Errorf("reserve: %w", err)
	case res.Err != nil:
		return rejected(out, res.Err, res.Replayed), nil
	}

	if res.Replayed {
		err = s.awaitOriginal(ctx, res.Order)
	} else {
		err = s.publish(ctx, res.Order)
	}
	if err != nil {
		return failed(out), err
	}
	out.Kind, out.Order, out.Replayed = order.KindOf(nil, res.Replayed), res.Order, res.Replayed
	return out, nil
}

func rejected(out order.Outcome, err error, replayed bool) order.Outcome {
	out.Kind, out.Err, out.Replayed = order.KindOf(err, replayed), err, replayed
	return out
}

func failed(out order.Outcome) order.Outcome {
	out.Kind = order.OutcomeError
	return out
}

// publish hands the order to Kafka. On failure it releases the reservation
// (stock, user count, idempotency record) and fails — unless a relay already
// owns the order, in which case the relay publishes it and the acceptance
// stands.
func (s *Service) publish(ctx context.Context, o order.Order) error {
	acked, err := publishThenAck(ctx, s.ledger, s.pub.Publish, o)
	if acked {
		if err != nil {
			// Should the ack fail, the relay re-publishes the order later: a
			// duplicate the writer absorbs, never a loss.
			s.log.WarnContext(ctx, "ack after publish failed; the relay will re-publish", "order_id", o.ID, "err", err)
		}
		return nil
	}
	perr := err
	ctx = context.WithoutCancel(ctx) // a client hanging up must not strand its stock
	err = s.ledger.Release(ctx, o, order.ReleasePublishFailed)
	switch {
	case err == nil:
		return fmt.Errorf("publish failed, reservation released: %w", perr)
	case errors.Is(err, order.ErrNotOwned):
		s.log.InfoContext(ctx, "publish failed but the relay owns the order", "order_id", o.ID, "err", perr)
		return nil
	default:
		// The reservation stays pending; the relay will publish it. The client
		// hears 503 and its retry with the same key replays the acceptance.
		// %v, not %w: the release's error (even not_found) must not become
		// the buyer's answer; this is a failure of the system.
		return fmt.Errorf("publish failed (%w) and release failed (%v): the relay will publish", perr, err)
	}
}

// publishThenAck is the one hand-over of a reserved order to Kafka, shared by
// the API and the relay: publish, and only once the broker acknowledged it,
// take the order out of the outbox. acked reports the broker's ack; err is
// the publish error, or (acked) the ack's.
func publishThenAck(ctx context.Context, outbox acker, publish func(context.Context, order.Order) error, o order.Order) (acked bool, err error) {
	if err := publish(ctx, o); err != nil {
		return false, err
	}
	return true, outbox.Ack(context.WithoutCancel(ctx), o.SaleID, o.ID)
}

// acker is the outbox's side of the hand-over: Ledger and Outbox both have it.
type acker interface {
	Ack(ctx context.Context, saleID, orderID string) error
}

// awaitOriginal makes a replay of an accepted order wait until the original
// request's publish settled, so a replay never answers 202 for an order that
// is then released.
func (s *Service) awaitOriginal(ctx context.Context, o order.Order) error {
	deadline := time.Now().Add(s.replayWait)
	for delay := 2 * time.Millisecond; ; delay = min(delay*2, 100*time.Millisecond) {
		stage, err := s.ledger.Stage(ctx, o.ID)
		if err != nil {
			return fmt.Errorf("replay of %s: reading the reservation: %w", o.ID, err)
		}
		switch stage {
		case order.StagePending:
			// the original request is still publishing; wait below
		case order.StageReleased:
			return order.ErrUnavailable // its publish failed; a retry reserves anew
		default: // published, persisting, confirmed, failed or gone: it was accepted
			return nil
		}
		if time.Now().After(deadline) {
			return nil // still pending: the relay owns it from here and will publish it
		}
		select {
		case <-ctx.Done():
			return order.ErrUnavailable
		case <-time.After(delay):
		}
	}
}
