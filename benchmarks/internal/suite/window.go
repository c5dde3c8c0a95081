package suite

import (
	"context"
	"sync"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/checkout"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

// ledgerEvery is how often the sale hash is read during a run with a
// checkout window: each read is one HMGET (atomic), I6 checks every one.
const ledgerEvery = 100 * time.Millisecond

// window is a run's checkout window: the harness's buyers (the actor) and a
// poll of the sale hash, from before the load to the end of the drain.
type window struct {
	actor *checkout.Actor
	sale  verify.Sale
	seed  uint64

	mu      sync.Mutex
	samples []verify.Ledger
	unread  int64
	quit    chan struct{}
	done    chan struct{}
}

// watchWindow starts sampling sale's hash and returns the actor that pays
// and cancels for the run's winners (load.Config.OnAccepted).
func (b *Bench) watchWindow(ctx context.Context, sale verify.Sale, plan scenarios.Checkout, reqs []load.Request) *window {
	w := &window{sale: sale, seed: b.seed, quit: make(chan struct{}), done: make(chan struct{})}
	w.actor = checkout.New(ctx, checkout.Config{API: b.st.API, Plan: plan, Hold: time.Duration(sale.HoldSeconds) * time.Second,
		Seed: b.seed, Reqs: reqs, Timeout: 10 * time.Second})
	go func() {
		defer close(w.done)
		t := time.NewTicker(ledgerEvery)
		defer t.Stop()
		for {
			l, err := b.check.Ledger(ctx, sale.ID)
			w.mu.Lock()
			if err != nil {
				w.unread++
			} else {
				w.samples = append(w.samples, l)
			}
			w.mu.Unlock()
			select {
			case <-w.quit:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return w
}

// stop ends the sampling and returns what I6 needs of it (the caller adds
// the run's start and the winners).
func (w *window) stop() *verify.Window {
	close(w.quit)
	<-w.done
	return &verify.Window{HoldSeconds: w.sale.HoldSeconds, Seed: w.seed, Samples: w.samples, Unread: w.unread}
}

// ledgerTimeline adds the sale hash's units by state (the last sample of
// each second) to the timeline's points.
func ledgerTimeline(points []results.Point, run *load.Run, ls []verify.Ledger) []results.Point {
	for _, l := range ls {
		t := l.At.Sub(run.Start)
		if t < 0 || !l.Read {
			continue
		}
		i := int(t / time.Second)
		for len(points) <= i {
			points = append(points, results.Point{T: float64(len(points))})
		}
		points[i].Remaining, points[i].Held, points[i].Paid = l.Remaining, l.Held, l.Paid
		points[i].Ledger = true
	}
	return points
}
