package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// One test per branch of the order saga, with in-memory fakes: they run
// under -short with no stack. The same branches against the real Redis and
// Kafka are in internal/httpapi and internal/reservation.

func newService(l *fakeLedger, p *fakePublisher) *checkout.Service {
	return checkout.New(l, p, checkout.Config{ReplayWait: time.Second}, quiet())
}

func TestPlaceAccepted(t *testing.T) {
	l, p := newLedger(), &fakePublisher{}
	out, err := newService(l, p).Place(context.Background(), request("k1"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if out.Kind != order.OutcomeAccepted || out.Err != nil || out.Replayed {
		t.Errorf("outcome = %+v, want accepted, no error, not replayed", out)
	}
	if out.Order.ID != "o-k1" || out.Order.Status != order.StatusPending {
		t.Errorf("order = %+v, want o-k1 pending", out.Order)
	}
	_, released, acked := l.snapshot()
	if len(p.published) != 1 || len(acked) != 1 || len(released) != 0 {
		t.Errorf("published %v acked %v released %v, want the order published and acked once, nothing released", p.published, acked, released)
	}
	if got := l.stages["o-k1"]; got != order.StagePublished {
		t.Errorf("stage after ack = %q, want published", got)
	}
	// What this 202 means (docs/api.md, "What a 202 means", path 1): the
	// broker acknowledged the order before Place returned.
	if p.published[0] != "o-k1" {
		t.Errorf("published %v, want o-k1 before the answer", p.published)
	}
}

func TestPlaceBusinessRejections(t *testing.T) {
	tests := []struct {
		name     string
		answer   order.Reservation
		err      error
		wantKind order.OutcomeKind
		wantCode order.Code
	}{
		{name: "sold out", answer: order.Reservation{Err: order.ErrSoldOut}, wantKind: order.OutcomeSoldOut, wantCode: order.CodeSoldOut},
		{name: "purchase limit", answer: order.Reservation{Err: order.ErrPurchaseLimit}, wantKind: order.OutcomeLimit, wantCode: order.CodePurchaseLimit},
		{name: "sale not active", answer: order.Reservation{Err: order.ErrSaleNotActive}, wantKind: order.OutcomeNotActive, wantCode: order.CodeSaleNotActive},
		{name: "unknown sale", err: order.ErrNotFound, wantKind: order.OutcomeRejected, wantCode: order.CodeNotFound},
		{name: "invalid quantity", err: order.Errorf(order.CodeInvalidRequest, "quantity must be at least 1"), wantKind: order.OutcomeRejected, wantCode: order.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l, p := newLedger(), &fakePublisher{}
			l.reserve = func(order.Request) (order.Reservation, error) { return tc.answer, tc.err }
			out, err := newService(l, p).Place(context.Background(), request("k"))
			if err != nil {
				t.Fatalf("Place: %v, want a business answer (nil error)", err)
			}
			if out.Kind != tc.wantKind || order.CodeOf(out.Err) != tc.wantCode {
				t.Errorf("outcome %q code %q, want %q code %q", out.Kind, order.CodeOf(out.Err), tc.wantKind, tc.wantCode)
			}
			if len(p.published) != 0 {
				t.Errorf("published %v for a rejection, want nothing", p.published)
			}
		})
	}
}

func TestPlaceRateLimited(t *testing.T) {
	l, p := newLedger(), &fakePublisher{}
	decision := order.RateLimit{Allowed: false, Limit: 5, Remaining: 0, Reset: 1500 * time.Millisecond}
	limited := order.Errorf(order.CodeRateLimited, "too many order requests; retry in 2 s")
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Err: limited, RateLimit: decision}, nil
	}
	out, err := newService(l, p).Place(context.Background(), request("k"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if out.Kind != order.OutcomeRateLimited || order.CodeOf(out.Err) != order.CodeRateLimited {
		t.Errorf("outcome %q code %q, want rate_limited", out.Kind, order.CodeOf(out.Err))
	}
	if out.RateLimit != decision {
		t.Errorf("RateLimit = %+v, want the ledger's decision %+v", out.RateLimit, decision)
	}
	if len(p.published) != 0 {
		t.Errorf("published %v for a limited request, want nothing", p.published)
	}
}

func TestPlaceAcceptedKeepsTheRateLimit(t *testing.T) {
	l := newLedger()
	decision := order.RateLimit{Allowed: true, Limit: 5, Remaining: 4, Reset: time.Minute}
	l.reserve = func(req order.Request) (order.Reservation, error) {
		return order.Reservation{Order: pendingOrder(req, "o-k"), RateLimit: decision}, nil
	}
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if err != nil || out.Kind != order.OutcomeAccepted {
		t.Fatalf("Place = %q, %v; want accepted", out.Kind, err)
	}
	if out.RateLimit != decision {
		t.Errorf("RateLimit = %+v, want %+v (the headers of an accepted order)", out.RateLimit, decision)
	}
}

func TestPlaceReserveUnavailable(t *testing.T) {
	l := newLedger()
	l.reserve = func(order.Request) (order.Reservation, error) { return order.Reservation{}, errBroken }
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if !errors.Is(err, errBroken) || out.Kind != order.OutcomeError || order.CodeOf(err) != order.CodeInternal {
		t.Fatalf("Place = %q, %v (code %q); want a non-domain error", out.Kind, err, order.CodeOf(err))
	}
}

func TestPlaceReusedKeyKeepsTheRateLimit(t *testing.T) {
	l := newLedger()
	decision := order.RateLimit{Allowed: true, Limit: 5, Remaining: 2, Reset: time.Second}
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{RateLimit: decision}, order.ErrIdempotencyKeyReused
	}
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if err != nil || order.CodeOf(out.Err) != order.CodeIdempotencyKeyReused {
		t.Fatalf("Place = %+v, %v; want idempotency_key_reused", out, err)
	}
	if out.RateLimit != decision {
		t.Errorf("RateLimit = %+v, want %+v (the request was counted)", out.RateLimit, decision)
	}
}

func TestPlaceReplaySameBody(t *testing.T) {
	l, p := newLedger(), &fakePublisher{}
	first := pendingOrder(request("k"), "o-first")
	l.stages[first.ID] = order.StagePublished
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Order: first, Replayed: true}, nil
	}
	out, err := newService(l, p).Place(context.Background(), request("k"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if out.Kind != order.OutcomeReplayed || !out.Replayed || out.Order.ID != first.ID {
		t.Errorf("outcome %+v, want the first order replayed", out)
	}
	if len(p.published) != 0 {
		t.Errorf("a replay published %v, want nothing (the first request did)", p.published)
	}
}

func TestPlaceReplayDifferentBody(t *testing.T) {
	l := newLedger()
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{}, order.ErrIdempotencyKeyReused
	}
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if out.Kind != order.OutcomeRejected || !errors.Is(out.Err, order.ErrIdempotencyKeyReused) || out.Replayed {
		t.Errorf("outcome %+v, want rejected idempotency_key_reused, not replayed", out)
	}
}

func TestPlaceReplayedRejection(t *testing.T) {
	l := newLedger()
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Replayed: true, Err: order.ErrSoldOut}, nil
	}
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if err != nil {
		t.Fatalf("Place: %v", err)
	}
	if out.Kind != order.OutcomeSoldOut || !out.Replayed || !errors.Is(out.Err, order.ErrSoldOut) {
		t.Errorf("outcome %+v, want sold_out answered again (replayed)", out)
	}
}

func TestPlacePublishFailsReleases(t *testing.T) {
	l := newLedger()
	p := &fakePublisher{publish: func(context.Context, order.Order) error { return errBroken }}
	out, err := newService(l, p).Place(context.Background(), request("k"))
	if !errors.Is(err, errBroken) || out.Kind != order.OutcomeError || order.CodeOf(err) != order.CodeInternal {
		t.Fatalf("Place = %q, %v; want a non-domain error (503)", out.Kind, err)
	}
	_, released, acked := l.snapshot()
	if len(released) != 1 || released[0] != "o-k" || len(acked) != 0 {
		t.Errorf("released %v acked %v, want o-k released and nothing acked", released, acked)
	}
}

func TestPlacePublishFailsRelayOwns(t *testing.T) {
	l := newLedger()
	p := &fakePublisher{publish: func(context.Context, order.Order) error { return errBroken }}
	l.releaseErr = order.ErrNotOwned // a relay took the lease while the publish was failing
	out, err := newService(l, p).Place(context.Background(), request("k"))
	if err != nil || out.Kind != order.OutcomeAccepted || out.Order.ID != "o-k" {
		t.Fatalf("Place = %+v, %v; want accepted (the relay publishes it)", out, err)
	}
	// What this 202 means (docs/api.md, "What a 202 means", path 2): no broker
	// ack yet; the order stays in the outbox, held, for the relay.
	_, released, acked := l.snapshot()
	if len(released) != 0 || len(acked) != 0 || l.stages["o-k"] != order.StagePending {
		t.Errorf("released %v acked %v stage %q, want the reservation kept pending in the outbox", released, acked, l.stages["o-k"])
	}
}

func TestPlacePublishAndReleaseFail(t *testing.T) {
	for _, tc := range []struct {
		name       string
		releaseErr error
	}{
		{name: "redis down", releaseErr: errBroken},
		// not_found from the release must not become the buyer's 404.
		{name: "reservation unknown", releaseErr: order.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			l.releaseErr = tc.releaseErr
			p := &fakePublisher{publish: func(context.Context, order.Order) error { return errBroken }}
			out, err := newService(l, p).Place(context.Background(), request("k"))
			if err == nil || out.Kind != order.OutcomeError {
				t.Fatalf("Place = %q, %v; want a failure", out.Kind, err)
			}
			if code := order.CodeOf(err); code != order.CodeInternal {
				t.Errorf("code %q, want a non-domain error (503, the relay publishes later)", code)
			}
		})
	}
}

func TestPlaceAckFailsAfterPublish(t *testing.T) {
	l, p := newLedger(), &fakePublisher{}
	l.ackErr = errBroken
	out, err := newService(l, p).Place(context.Background(), request("k"))
	if err != nil || out.Kind != order.OutcomeAccepted {
		t.Fatalf("Place = %q, %v; want accepted (the broker has it; the relay re-publishes)", out.Kind, err)
	}
	_, released, _ := l.snapshot()
	if len(released) != 0 {
		t.Errorf("released %v after the broker's ack, want nothing", released)
	}
}

func TestPlaceReplayWaitsForInFlightPublish(t *testing.T) {
	tests := []struct {
		name     string
		stages   []order.Stage
		wantErr  error
		wantKind order.OutcomeKind
	}{
		{name: "original published", stages: []order.Stage{order.StagePending, order.StagePending, order.StagePublished}, wantKind: order.OutcomeReplayed},
		{name: "original persisted", stages: []order.Stage{order.StagePending, order.StageConfirmed}, wantKind: order.OutcomeReplayed},
		{name: "original released", stages: []order.Stage{order.StagePending, order.StageReleased}, wantErr: order.ErrUnavailable, wantKind: order.OutcomeError},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			l := newLedger()
			l.stageSeq = tc.stages
			first := pendingOrder(request("k"), "o-first")
			l.reserve = func(order.Request) (order.Reservation, error) {
				return order.Reservation{Order: first, Replayed: true}, nil
			}
			out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
			if !errors.Is(err, tc.wantErr) || out.Kind != tc.wantKind {
				t.Fatalf("Place = %q, %v; want %q, %v", out.Kind, err, tc.wantKind, tc.wantErr)
			}
			if l.stageSeq[0] != tc.stages[len(tc.stages)-1] {
				t.Errorf("the replay stopped polling at %q, want it to wait for %q", l.stageSeq[0], tc.stages[len(tc.stages)-1])
			}
		})
	}
}

func TestPlaceReplayStillPendingAfterWait(t *testing.T) {
	l := newLedger()
	l.stageSeq = []order.Stage{order.StagePending}
	first := pendingOrder(request("k"), "o-first")
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Order: first, Replayed: true}, nil
	}
	s := checkout.New(l, &fakePublisher{}, checkout.Config{ReplayWait: 20 * time.Millisecond}, quiet())
	out, err := s.Place(context.Background(), request("k"))
	if err != nil || out.Kind != order.OutcomeReplayed {
		t.Fatalf("Place = %q, %v; want replayed (past the wait the relay owns the order)", out.Kind, err)
	}
	// What this 202 means (docs/api.md, "What a 202 means", path 3): the
	// original publish has not settled; the reservation is left as it is,
	// neither released nor acked by the replay.
	_, released, acked := l.snapshot()
	if len(released) != 0 || len(acked) != 0 {
		t.Errorf("released %v acked %v, want the replay to touch nothing", released, acked)
	}
}

func TestPlaceReplayClientGone(t *testing.T) {
	l := newLedger()
	l.stageSeq = []order.Stage{order.StagePending}
	first := pendingOrder(request("k"), "o-first")
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Order: first, Replayed: true}, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	out, err := newService(l, &fakePublisher{}).Place(ctx, request("k"))
	if !errors.Is(err, order.ErrUnavailable) || out.Kind != order.OutcomeError {
		t.Fatalf("Place = %q, %v; want unavailable once the client is gone", out.Kind, err)
	}
}

func TestPlaceReplayStageUnreadable(t *testing.T) {
	l := newLedger()
	l.stageErr = errBroken
	first := pendingOrder(request("k"), "o-first")
	l.reserve = func(order.Request) (order.Reservation, error) {
		return order.Reservation{Order: first, Replayed: true}, nil
	}
	out, err := newService(l, &fakePublisher{}).Place(context.Background(), request("k"))
	if !errors.Is(err, errBroken) || out.Kind != order.OutcomeError || order.CodeOf(err) != order.CodeInternal {
		t.Fatalf("Place = %q, %v; want a non-domain error", out.Kind, err)
	}
}

// A client that hangs up while its order is being published must not turn
// an acknowledged record into a released reservation: the publish runs to
// its end, and the ack does not see the cancellation.
func TestPlaceClientHangsUpMidPublish(t *testing.T) {
	l := newLedger()
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakePublisher{publish: func(pctx context.Context, _ order.Order) error {
		cancel() // the client hangs up while the broker is acking
		return nil
	}}
	out, err := newService(l, p).Place(ctx, request("k"))
	if err != nil || out.Kind != order.OutcomeAccepted {
		t.Fatalf("Place = %q, %v; want accepted", out.Kind, err)
	}
	_, released, acked := l.snapshot()
	if len(acked) != 1 || len(released) != 0 {
		t.Errorf("acked %v released %v, want acked once and nothing released", acked, released)
	}
}

// The client hangs up and the publish then fails: the release must still
// happen (it does not inherit the cancellation), or the stock is stranded.
func TestPlaceClientHangsUpThenPublishFails(t *testing.T) {
	l := newLedger()
	ctx, cancel := context.WithCancel(context.Background())
	p := &fakePublisher{publish: func(context.Context, order.Order) error {
		cancel()
		return context.Canceled
	}}
	releasedCtxErr := make(chan error, 1)
	inner := l
	ledger := ctxRecordingLedger{fakeLedger: inner, onRelease: func(ctx context.Context) { releasedCtxErr <- ctx.Err() }}
	s := checkout.New(ledger, p, checkout.Config{ReplayWait: time.Second}, quiet())
	if _, err := s.Place(ctx, request("k")); err == nil {
		t.Fatal("Place succeeded, want a failure (the publish failed)")
	}
	if err := <-releasedCtxErr; err != nil {
		t.Errorf("release ran with a cancelled context (%v), want one that outlives the client", err)
	}
	if _, released, _ := inner.snapshot(); len(released) != 1 {
		t.Errorf("released %v, want the order released", released)
	}
}

type ctxRecordingLedger struct {
	*fakeLedger
	onRelease func(context.Context)
}

func (c ctxRecordingLedger) Release(ctx context.Context, o order.Order, mode order.ReleaseMode) error {
	c.onRelease(ctx)
	return c.fakeLedger.Release(ctx, o, mode)
}
