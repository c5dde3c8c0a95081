package checkout

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// Outbox is what the relay needs of the reservation ledger.
type Outbox interface {
	SaleIDs(ctx context.Context) ([]string, error)
	Stale(ctx context.Context, saleID string, cutoff time.Time, limit int64) ([]string, error)
	Claim(ctx context.Context, saleID, orderID string, lease time.Duration) (order.Order, bool, error)
	Ack(ctx context.Context, saleID, orderID string) error
}

// Republisher sends one stranded order's event and waits for the ack
// (counted apart from the API's own publishes).
type Republisher interface {
	Relayed(ctx context.Context, o order.Order) error
}

// RelayConfig tunes the relay.
type RelayConfig struct {
	// Threshold: a reservation pending longer than this is presumed stranded
	// (its API process died between reserve and ack). Must exceed the
	// producer's delivery timeout, so live requests are left alone.
	Threshold time.Duration
	// Interval between scans.
	Interval time.Duration
	// Lease a relay holds on an order while publishing it; another replica
	// may take it over once it lapses.
	Lease time.Duration
	// Batch is the most orders taken per sale per scan.
	Batch int64
}

// Relay re-publishes stranded reservations. Several replicas may run at
// once: the claim lease keeps them from publishing the same order together,
// and a duplicate that slips through is harmless (the writer is idempotent).
type Relay struct {
	outbox Outbox
	pub    Republisher
	cfg    RelayConfig
	log    *slog.Logger
}

// NewRelay returns a relay.
func NewRelay(outbox Outbox, pub Republisher, cfg RelayConfig, log *slog.Logger) *Relay {
	if cfg.Lease <= 0 {
		cfg.Lease = 30 * time.Second
	}
	if cfg.Batch <= 0 {
		cfg.Batch = 256
	}
	return &Relay{outbox: outbox, pub: pub, cfg: cfg, log: log}
}

// Run scans until ctx is done.
func (r *Relay) Run(ctx context.Context) {
	every(ctx, r.cfg.Interval, func() {
		if n, err := r.Scan(ctx); err != nil && ctx.Err() == nil {
			r.log.Warn("relay scan failed", "err", err, "published", n)
		} else if n > 0 {
			r.log.Info("relay re-published stranded orders", "count", n)
		}
	})
}

// every runs fn every interval until ctx is done: the relay's, the expiry
// sweeper's and the transition relay's loops.
func every(ctx context.Context, interval time.Duration, fn func()) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			fn()
		}
	}
}

// Scan publishes every order pending longer than the threshold and returns
// how many it published.
func (r *Relay) Scan(ctx context.Context) (int, error) {
	sales, err := r.outbox.SaleIDs(ctx)
	if err != nil {
		return 0, err
	}
	cutoff := time.Now().Add(-r.cfg.Threshold)
	var (
		mu        sync.Mutex
		published int
		firstErr  error
		wg        sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		if firstErr == nil {
			firstErr = err
		}
		mu.Unlock()
	}
	for _, sale := range sales {
		ids, err := r.outbox.Stale(ctx, sale, cutoff, r.cfg.Batch)
		if err != nil {
			fail(err)
			continue
		}
		for _, id := range ids {
			o, ok, err := r.outbox.Claim(ctx, sale, id, r.cfg.Lease)
			if err != nil {
				fail(err)
				continue
			}
			if !ok {
				continue
			}
			wg.Add(1)
			go func() { // concurrent publishes batch into few produce requests
				defer wg.Done()
				acked, err := publishThenAck(ctx, r.outbox, r.pub.Relayed, o)
				if err != nil {
					fail(err) // unacked: the lease lapses and a later scan retries
				}
				if acked {
					mu.Lock()
					published++
					mu.Unlock()
				}
			}()
		}
	}
	wg.Wait()
	return published, firstErr
}
