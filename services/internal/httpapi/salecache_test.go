package httpapi

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *fakeClock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

func TestSaleCache(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	var reads atomic.Int64
	remaining := atomic.Int64{}
	remaining.Store(10)
	fail := atomic.Bool{}
	read := func(_ context.Context, id string, _ time.Time) (order.Sale, error) {
		reads.Add(1)
		switch {
		case fail.Load():
			return order.Sale{}, errors.New("redis down")
		case id == "missing":
			return order.Sale{}, order.ErrNotFound
		}
		return order.Sale{ID: id, Remaining: remaining.Load()}, nil
	}
	c := newSaleCache(250*time.Millisecond, clock.now, read)
	ctx := context.Background()
	get := func(id string) (int64, error) {
		s, err := c.Sale(ctx, id, clock.now())
		return s.Remaining, err
	}

	if r, _ := get("hot"); r != 10 || reads.Load() != 1 {
		t.Fatalf("first read: remaining %d after %d reads", r, reads.Load())
	}
	remaining.Store(9)
	clock.add(249 * time.Millisecond)
	if r, _ := get("hot"); r != 10 || reads.Load() != 1 {
		t.Errorf("within the TTL: remaining %d after %d reads, want the cached 10 and no read", r, reads.Load())
	}
	clock.add(time.Millisecond)
	if r, _ := get("hot"); r != 9 || reads.Load() != 2 {
		t.Errorf("at the TTL: remaining %d after %d reads, want a fresh 9", r, reads.Load())
	}

	remaining.Store(8)
	c.forget("hot")
	if r, _ := get("hot"); r != 8 {
		t.Errorf("after forget: remaining %d, want a fresh 8", r)
	}

	for range 3 {
		if _, err := get("missing"); !errors.Is(err, order.ErrNotFound) {
			t.Fatalf("unknown sale: %v", err)
		}
	}
	if got := reads.Load(); got != 4 {
		t.Errorf("%d reads after three of an unknown sale, want one (not-found is cached)", got)
	}

	fail.Store(true)
	clock.add(time.Second)
	for range 2 {
		if _, err := get("hot"); err == nil {
			t.Fatal("a failed read answered a sale")
		}
	}
	if got := reads.Load(); got != 6 {
		t.Errorf("%d reads, want each failed read retried (errors are not cached)", got)
	}
	fail.Store(false)

	// A crowd missing at once shares one read.
	clock.add(time.Second)
	before := reads.Load()
	var wg sync.WaitGroup
	for range 200 {
		wg.Go(func() {
			if _, err := get("hot"); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := reads.Load() - before; got < 1 || got > 5 {
		t.Errorf("200 concurrent misses made %d reads, want about one", got)
	}

	// Off: every read goes through.
	off := newSaleCache(0, clock.now, read)
	before = reads.Load()
	for range 3 {
		_, _ = off.Sale(ctx, "hot", clock.now())
	}
	if got := reads.Load() - before; got != 3 {
		t.Errorf("TTL 0: %d reads of 3", got)
	}
}

// A read that began before the admin's change does not store what it saw.
func TestSaleCacheForgetDuringRead(t *testing.T) {
	clock := &fakeClock{t: time.Unix(1_800_000_000, 0)}
	started, release := make(chan struct{}), make(chan struct{})
	var version atomic.Int64
	first := atomic.Bool{}
	first.Store(true)
	c := newSaleCache(time.Minute, clock.now, func(context.Context, string, time.Time) (order.Sale, error) {
		v := version.Load()
		if first.CompareAndSwap(true, false) {
			close(started)
			<-release
		}
		return order.Sale{ID: "s", Stock: v}, nil
	})
	done := make(chan int64)
	go func() {
		s, _ := c.Sale(context.Background(), "s", clock.now())
		done <- s.Stock
	}()
	<-started
	version.Store(1)
	c.forget("s") // the admin PUT
	close(release)
	if got := <-done; got != 0 {
		t.Fatalf("the in-flight read answered stock %d, want the old 0 it read", got)
	}
	if s, _ := c.Sale(context.Background(), "s", clock.now()); s.Stock != 1 {
		t.Errorf("after the change: stock %d, want 1 (the stale read must not have been cached)", s.Stock)
	}
}

func TestValidateSaleCacheTTL(t *testing.T) {
	for _, d := range []time.Duration{0, time.Millisecond, MaxSaleCacheTTL} {
		if err := ValidateSaleCacheTTL(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
	for _, d := range []time.Duration{-1, MaxSaleCacheTTL + 1} {
		if err := ValidateSaleCacheTTL(d); !errors.Is(err, ErrSaleCacheTTL) {
			t.Errorf("%s: %v, want ErrSaleCacheTTL", d, err)
		}
	}
}
