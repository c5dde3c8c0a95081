// Package rebuild restores a sale's hot ledger (Redis) from the durable one
// (PostgreSQL) after Redis lost it: freeze the sale, wait until nothing is in
// flight (the sale's outbox empty, the writers caught up with Kafka), then
// write Redis from PostgreSQL's snapshot. blitzctl reconcile --repair and
// order-api (when it finds a sale Redis lost) share it.
package rebuild

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
)

// Ledger is the hot ledger's side of a rebuild (reservation.Store).
type Ledger interface {
	Freeze(ctx context.Context, saleID string) error
	State(ctx context.Context, saleID string) (reservation.LedgerState, error)
	Restore(ctx context.Context, spec order.SaleSpec, persisted []order.Order, now time.Time) error
}

// Durable is the durable ledger's side (pgstore.Store).
type Durable interface {
	SaleSnapshot(ctx context.Context, saleID string) (pgstore.Snapshot, error)
}

// Lag is the writer group's total lag on the orders topic.
type Lag func(ctx context.Context) (int64, error)

// Rebuilder rebuilds sales. The zero Timeout means 2 minutes.
type Rebuilder struct {
	Ledger  Ledger
	Durable Durable
	Lag     Lag
	// Timeout bounds the wait for the pipeline to drain.
	Timeout time.Duration
	// Settle is how long after the freeze a request that reserved before it
	// may still be handing its order to Kafka: at least the producer's
	// delivery timeout (BLITZBUY_PUBLISH_TIMEOUT). Only after it can a writer
	// lag of 0 mean that every acknowledged order is persisted; a rebuild
	// that looked sooner could miss an order still on its way and offer its
	// units again.
	Settle time.Duration
}

// Rebuild freezes saleID, waits Settle, then until its outbox is empty and
// the writers have caught up, and restores Redis from PostgreSQL. On an error the sale
// stays frozen (its orders answer ledger_rebuilding) and Rebuild may be run
// again.
func (r *Rebuilder) Rebuild(ctx context.Context, saleID string) (pgstore.Snapshot, error) {
	if err := r.Ledger.Freeze(ctx, saleID); err != nil {
		return pgstore.Snapshot{}, err
	}
	select {
	case <-ctx.Done():
		return pgstore.Snapshot{}, ctx.Err()
	case <-time.After(r.Settle):
	}
	if err := r.drained(ctx, saleID); err != nil {
		return pgstore.Snapshot{}, err
	}
	snap, err := r.Durable.SaleSnapshot(ctx, saleID)
	if err != nil {
		return pgstore.Snapshot{}, err
	}
	if err := r.Ledger.Restore(ctx, snap.Spec, snap.Orders, time.Now()); err != nil {
		return pgstore.Snapshot{}, err
	}
	return snap, nil
}

// Drained reports that nothing of a sale is in flight: its outbox is empty
// and the writers' lag is known to be 0, so Redis and PostgreSQL must agree.
func Drained(st reservation.LedgerState, lag int64, lagErr error) bool {
	return st.Pending == 0 && lagErr == nil && lag == 0
}

func (r *Rebuilder) drained(ctx context.Context, saleID string) error {
	timeout := r.Timeout
	if timeout <= 0 {
		timeout = 2 * time.Minute
	}
	deadline := time.Now().Add(timeout)
	for {
		st, err := r.Ledger.State(ctx, saleID)
		if err != nil {
			return err
		}
		lag, lagErr := r.Lag(ctx)
		if Drained(st, lag, lagErr) {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the pipeline did not drain in %s (outbox %d, writer lag %d, %v)", timeout, st.Pending, lag, lagErr)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// Lease takes the cluster-wide right to rebuild a sale (one API instance at
// a time); release gives it back.
type Lease func(ctx context.Context, saleID string, ttl time.Duration) (release func(), ok bool, err error)

// Auto rebuilds lost sales in the background, each at most once at a time
// on this instance and, through the lease, across instances. Trigger is
// cheap and never blocks: order-api calls it whenever it answers
// ledger_rebuilding.
type Auto struct {
	rb    *Rebuilder
	lease Lease
	done  func(saleID string, snap pgstore.Snapshot, took time.Duration, err error)

	ctx     context.Context // ends the rebuilds on shutdown
	mu      sync.Mutex
	running map[string]bool
}

// NewAuto returns an Auto whose rebuilds stop with ctx; done, if not nil,
// hears how each rebuild this instance ran ended.
func NewAuto(ctx context.Context, rb *Rebuilder, lease Lease, done func(saleID string, snap pgstore.Snapshot, took time.Duration, err error)) *Auto {
	return &Auto{rb: rb, lease: lease, done: done, ctx: ctx, running: map[string]bool{}}
}

// Trigger starts rebuilding saleID unless this instance already is.
func (a *Auto) Trigger(saleID string) {
	a.mu.Lock()
	if a.running[saleID] || a.ctx.Err() != nil {
		a.mu.Unlock()
		return
	}
	a.running[saleID] = true
	a.mu.Unlock()
	go func() {
		defer func() {
			a.mu.Lock()
			delete(a.running, saleID)
			a.mu.Unlock()
		}()
		timeout := a.rb.Timeout
		if timeout <= 0 {
			timeout = 2 * time.Minute
		}
		release, ok, err := a.lease(a.ctx, saleID, timeout+30*time.Second)
		if err != nil || !ok {
			return // another instance rebuilds it (or Redis is unwell: the next order triggers again)
		}
		defer release()
		start := time.Now()
		snap, err := a.rb.Rebuild(a.ctx, saleID)
		if a.done != nil {
			a.done(saleID, snap, time.Since(start), err)
		}
	}()
}

// KafkaLag is the Lag of a consumer group on one topic, from the brokers.
func KafkaLag(adm *kadm.Client, group, topic string) Lag {
	return func(ctx context.Context) (int64, error) {
		lags, err := adm.Lag(ctx, group)
		if err != nil {
			return 0, err
		}
		g, ok := lags[group]
		if !ok {
			return 0, fmt.Errorf("no lag for group %q", group)
		}
		if err := g.Error(); err != nil {
			return 0, err
		}
		return g.Lag.TotalByTopic()[topic].Lag, nil
	}
}
