package checkout_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The relay's branches with fakes; relay_test.go runs it against the real
// Redis and Kafka.

func strandedLedger(ids ...string) *fakeLedger {
	l := newLedger()
	for _, id := range ids {
		o := pendingOrder(request(id), id)
		l.stages[id] = order.StagePending
		l.stale[id] = o
	}
	return l
}

func TestRelayScanPublishesAndAcks(t *testing.T) {
	l, p := strandedLedger("a", "b", "c"), &fakePublisher{}
	n, err := checkout.NewRelay(l, p, checkout.RelayConfig{Interval: time.Second}, quiet()).Scan(context.Background())
	if err != nil || n != 3 {
		t.Fatalf("Scan = %d, %v; want 3, nil", n, err)
	}
	if _, _, acked := l.snapshot(); len(acked) != 3 {
		t.Errorf("acked %v, want all three out of the outbox", acked)
	}
}

func TestRelayPublishFailureLeavesTheOutbox(t *testing.T) {
	l := strandedLedger("a")
	p := &fakePublisher{publish: func(context.Context, order.Order) error { return errBroken }}
	n, err := checkout.NewRelay(l, p, checkout.RelayConfig{Interval: time.Second}, quiet()).Scan(context.Background())
	if !errors.Is(err, errBroken) || n != 0 {
		t.Fatalf("Scan = %d, %v; want 0 and the publish error", n, err)
	}
	if _, _, acked := l.snapshot(); len(acked) != 0 {
		t.Errorf("acked %v without a broker ack, want nothing (a later scan retries)", acked)
	}
}

func TestRelayAckFailureCountsThePublish(t *testing.T) {
	l, p := strandedLedger("a"), &fakePublisher{}
	l.ackErr = errBroken
	n, err := checkout.NewRelay(l, p, checkout.RelayConfig{Interval: time.Second}, quiet()).Scan(context.Background())
	if !errors.Is(err, errBroken) || n != 1 {
		t.Fatalf("Scan = %d, %v; want 1 published and the ack's error", n, err)
	}
}
