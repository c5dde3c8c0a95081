package rebuild_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/rebuild"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
)

// In-memory fakes: the order of the steps and the bounds, without servers
// (the real Redis and PostgreSQL are in e2e's TestLostSaleIsRebuiltAndResumes
// and blitzctl's reconcile tests).

type fakeLedger struct {
	mu       sync.Mutex
	steps    []string
	pending  int64 // the outbox, drained by one per State call
	restores atomic.Int64
}

func (l *fakeLedger) step(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.steps = append(l.steps, s)
}

func (l *fakeLedger) Freeze(context.Context, string) error { l.step("freeze"); return nil }

func (l *fakeLedger) State(context.Context, string) (reservation.LedgerState, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := reservation.LedgerState{Pending: l.pending}
	if l.pending > 0 {
		l.pending--
	}
	return st, nil
}

func (l *fakeLedger) Restore(_ context.Context, spec order.SaleSpec, persisted []order.Order, _ time.Time) error {
	l.restores.Add(1)
	l.step("restore " + spec.ID)
	return nil
}

type fakeDurable struct{}

func (fakeDurable) SaleSnapshot(_ context.Context, id string) (pgstore.Snapshot, error) {
	return pgstore.Snapshot{Spec: order.SaleSpec{ID: id, Stock: 5}}, nil
}

func TestRebuildWaitsForThePipelineThenRestores(t *testing.T) {
	l := &fakeLedger{pending: 2}
	var lag atomic.Int64
	lag.Store(3)
	rb := &rebuild.Rebuilder{Ledger: l, Durable: fakeDurable{}, Timeout: 10 * time.Second,
		Lag: func(context.Context) (int64, error) {
			if n := lag.Load(); n > 0 {
				lag.Add(-1)
				return n, nil
			}
			return 0, nil
		}}
	if _, err := rb.Rebuild(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if len(l.steps) != 2 || l.steps[0] != "freeze" || l.steps[1] != "restore s" {
		t.Errorf("steps %v, want freeze then restore", l.steps)
	}
	if lag.Load() != 0 || l.pending != 0 {
		t.Errorf("restored with lag %d / outbox %d left, want both drained first", lag.Load(), l.pending)
	}
}

func TestRebuildGivesUpWhenThePipelineDoesNotDrain(t *testing.T) {
	l := &fakeLedger{}
	rb := &rebuild.Rebuilder{Ledger: l, Durable: fakeDurable{}, Timeout: 300 * time.Millisecond,
		Lag: func(context.Context) (int64, error) { return 0, errors.New("group coordinator unavailable") }}
	if _, err := rb.Rebuild(context.Background(), "s"); err == nil {
		t.Fatal("rebuild with an unknown lag: no error")
	}
	if l.restores.Load() != 0 {
		t.Error("restored without knowing the pipeline drained")
	}
}

// Many triggers for one sale run one rebuild; a lease held elsewhere runs none.
func TestAutoRebuildsOnceAtATime(t *testing.T) {
	l := &fakeLedger{}
	done := make(chan string, 10)
	rb := &rebuild.Rebuilder{Ledger: l, Durable: fakeDurable{}, Lag: func(context.Context) (int64, error) { return 0, nil }}
	held := map[string]bool{"elsewhere": true}
	var mu sync.Mutex
	lease := func(_ context.Context, sale string, _ time.Duration) (func(), bool, error) {
		mu.Lock()
		defer mu.Unlock()
		if held[sale] {
			return nil, false, nil
		}
		held[sale] = true
		return func() { mu.Lock(); delete(held, sale); mu.Unlock() }, true, nil
	}
	a := rebuild.NewAuto(context.Background(), rb, lease, func(sale string, _ pgstore.Snapshot, _ time.Duration, err error) {
		if err != nil {
			t.Errorf("rebuild %s: %v", sale, err)
		}
		done <- sale
	})
	for range 50 {
		a.Trigger("s")
		a.Trigger("elsewhere")
	}
	select {
	case got := <-done:
		if got != "s" {
			t.Fatalf("rebuilt %q, want s", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no rebuild within 5 s")
	}
	time.Sleep(100 * time.Millisecond)
	if n := l.restores.Load(); n < 1 || n > 2 {
		t.Errorf("%d restores for 50 triggers, want 1 (2 if a trigger came after the first finished)", n)
	}
	select {
	case got := <-done:
		if got == "elsewhere" {
			t.Error("rebuilt a sale whose lease another instance holds")
		}
	default:
	}
}

// An order reserved just before the loss may still be on its way to Kafka:
// the rebuild looks at the writer's lag only after Settle.
func TestRebuildSettlesBeforeLooking(t *testing.T) {
	l := &fakeLedger{}
	var firstLook time.Time
	start := time.Now()
	rb := &rebuild.Rebuilder{Ledger: l, Durable: fakeDurable{}, Settle: 300 * time.Millisecond,
		Lag: func(context.Context) (int64, error) {
			if firstLook.IsZero() {
				firstLook = time.Now()
			}
			return 0, nil
		}}
	if _, err := rb.Rebuild(context.Background(), "s"); err != nil {
		t.Fatal(err)
	}
	if d := firstLook.Sub(start); d < 300*time.Millisecond {
		t.Errorf("looked at the lag %s after the freeze, want >= Settle (300ms)", d)
	}
}
