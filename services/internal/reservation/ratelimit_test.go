package reservation_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// The rate limit inside reserve.lua: a sliding window per (sale, user),
// checked in the reservation's own round trip, against the real Redis.

// limitedStore is a store over f's Redis with limit requests per window.
func (f *fixture) limitedStore(tb testing.TB, limit int64, window time.Duration) *reservation.Store {
	tb.Helper()
	s, err := reservation.New(f.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour, RateLimit: limit, RateWindow: window})
	if err != nil {
		tb.Fatalf("New(limit %d per %s): %v", limit, window, err)
	}
	return s
}

// try makes one order request of one unit with a fresh Idempotency-Key.
func try(tb testing.TB, s *reservation.Store, sale, user string) order.Reservation {
	tb.Helper()
	res, err := s.Reserve(context.Background(), order.Request{SaleID: sale, UserID: user, IdempotencyKey: testkit.RandHex(8), Quantity: 1})
	if err != nil {
		tb.Fatalf("reserve %s/%s: %v", sale, user, err)
	}
	return res
}

func limited(res order.Reservation) bool { return order.CodeOf(res.Err) == order.CodeRateLimited }

func TestRateLimitSettings(t *testing.T) {
	tests := []struct {
		name    string
		limit   int64
		window  time.Duration
		wantErr bool
	}{
		{name: "negative limit", limit: -1, window: time.Second, wantErr: true},
		{name: "window below a millisecond", limit: 5, window: time.Microsecond, wantErr: true},
		{name: "zero window", limit: 5, window: 0, wantErr: true},
		{name: "disabled needs no window", limit: 0, window: 0},
		{name: "valid", limit: 5, window: time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reservation.New(nil, reservation.Config{IdempotencyTTL: 24 * time.Hour, RateLimit: tc.limit, RateWindow: tc.window})
			if (err != nil) != tc.wantErr {
				t.Errorf("New(%d per %s): error %v, want error %v", tc.limit, tc.window, err, tc.wantErr)
			}
		})
	}
}

func TestRateLimitAllowsExactlyTheLimit(t *testing.T) {
	f := newFixture(t)
	tests := []struct {
		name   string
		limit  int64
		window time.Duration
	}{
		{name: "one per minute", limit: 1, window: time.Minute},
		{name: "five per minute", limit: 5, window: time.Minute},
		{name: "ten per ten seconds", limit: 10, window: 10 * time.Second},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := f.limitedStore(t, tc.limit, tc.window)
			sale := f.newSale(t, 100, 100)
			for i := range tc.limit {
				res := try(t, s, sale, "u")
				d := res.RateLimit
				if res.Err != nil || !d.Allowed || d.Limit != tc.limit || d.Remaining != tc.limit-i-1 {
					t.Fatalf("request %d: %v, rate limit %+v; want accepted, limit %d, remaining %d", i+1, res.Err, d, tc.limit, tc.limit-i-1)
				}
				if d.Reset <= 0 || d.Reset > tc.window {
					t.Errorf("request %d: reset %s, want within (0, %s]", i+1, d.Reset, tc.window)
				}
			}
			for i := range 3 {
				res := try(t, s, sale, "u")
				d := res.RateLimit
				if !limited(res) || d.Allowed || d.Limit != tc.limit || d.Remaining != 0 {
					t.Fatalf("request %d over the limit: %v, %+v; want rate_limited, remaining 0", i+1, res.Err, d)
				}
				if d.Reset <= 0 || d.Reset > tc.window {
					t.Errorf("request %d over the limit: reset %s, want within (0, %s]", i+1, d.Reset, tc.window)
				}
			}
			if c := f.counters(t, sale); c.Remaining != 100-tc.limit {
				t.Errorf("remaining %d, want %d: a rate-limited request touches no stock", c.Remaining, 100-tc.limit)
			}
		})
	}
}

// A rate-limited request is not counted, and writes no idempotency record:
// the same key, retried after the window, is a fresh request.
func TestRateLimitedRequestTouchesOnlyItsWindow(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	const limit = 3
	s := f.limitedStore(t, limit, time.Minute)
	sale := f.newSale(t, 100, 100)
	for range limit {
		try(t, s, sale, "u")
	}
	for i := range 20 {
		if res := try(t, s, sale, "u"); !limited(res) {
			t.Fatalf("request %d over the limit: %v, want rate_limited", i+1, res.Err)
		}
	}
	key := ledgerkeys.RateLimit(sale, "u")
	n, err := f.rdb.Do(ctx, f.rdb.B().Zcard().Key(key).Build()).AsInt64()
	if err != nil || n != limit {
		t.Errorf("window %s holds %d requests (%v), want %d: rejections are not counted", key, n, err, limit)
	}
	ttl, err := f.rdb.Do(ctx, f.rdb.B().Pttl().Key(key).Build()).AsInt64()
	if err != nil || ttl <= 0 || ttl > time.Minute.Milliseconds() {
		t.Errorf("window TTL %d ms (%v), want within (0, 60000]", ttl, err)
	}
	res, err := s.Reserve(ctx, order.Request{SaleID: sale, UserID: "u", IdempotencyKey: "limited-key", Quantity: 1})
	if err != nil || !limited(res) {
		t.Fatalf("reserve = %+v, %v; want rate_limited", res, err)
	}
	idem := ledgerkeys.Idem(sale, "u", "limited-key")
	if n, _ := f.rdb.Do(ctx, f.rdb.B().Exists().Key(idem).Build()).AsInt64(); n != 0 {
		t.Errorf("a rate-limited request wrote its idempotency record %s", idem)
	}
}

// The window slides: a request leaves it one window after it was made, not at
// a fixed boundary. The test waits for the Reset the script announces (plus a
// margin) and checks who is let in, never how precise the timing is.
func TestRateLimitWindowSlides(t *testing.T) {
	f := newFixture(t)
	const window = 1500 * time.Millisecond
	const margin = 100 * time.Millisecond
	s := f.limitedStore(t, 2, window)
	// The scenario needs the machine to keep its timing within ~0.5 s; on a
	// stall it is run again with a fresh sale (never skipped).
	for attempt := 1; ; attempt++ {
		if windowSlides(t, s, f.newSale(t, 100, 100), window, margin) {
			return
		}
		if attempt == 3 {
			t.Fatal("the machine stalled in three attempts; the sliding window could not be observed")
		}
		t.Logf("attempt %d: the machine stalled, trying again", attempt)
	}
}

// windowSlides runs the scenario once; false means the timing assumptions
// broke (not the script), so the caller retries.
func windowSlides(t *testing.T, s *reservation.Store, sale string, window, margin time.Duration) bool {
	t.Helper()
	start := time.Now()
	if res := try(t, s, sale, "u"); limited(res) { // A
		t.Fatalf("first request limited: %+v", res.RateLimit)
	}
	time.Sleep(window / 2)
	if res := try(t, s, sale, "u"); limited(res) { // B, half a window later
		t.Fatalf("second request limited: %+v", res.RateLimit)
	}
	res := try(t, s, sale, "u")
	if !limited(res) {
		t.Fatalf("third request %v, want rate_limited", res.Err)
	}
	if d := res.RateLimit.Reset; d <= 0 || d > window {
		t.Fatalf("reset %s, want within (0, %s]", d, window)
	}

	// A leaves the window; B is still in it: exactly one more request fits.
	time.Sleep(res.RateLimit.Reset + margin)
	if time.Since(start) > window+window/2-margin {
		return false
	}
	if res := try(t, s, sale, "u"); limited(res) || res.RateLimit.Remaining != 0 {
		t.Fatalf("after the oldest left: %v %+v, want allowed with remaining 0", res.Err, res.RateLimit)
	}
	res = try(t, s, sale, "u")
	if !limited(res) {
		t.Fatalf("second request after the oldest left: allowed, want rate_limited (B is still in the window)")
	}

	// Then B leaves too.
	time.Sleep(res.RateLimit.Reset + margin)
	if res := try(t, s, sale, "u"); limited(res) {
		t.Fatalf("after B left: %+v, want allowed", res.RateLimit)
	}

	// And a full window later everything is forgotten.
	time.Sleep(window + margin)
	for i := range 2 {
		if res := try(t, s, sale, "u"); limited(res) {
			t.Fatalf("request %d after a quiet window: %+v, want allowed", i+1, res.RateLimit)
		}
	}
	return true
}

func TestRateLimitZeroDisables(t *testing.T) {
	f := newFixture(t)
	sale := f.newSale(t, 1000, 1000)
	for i := range 100 {
		res := try(t, f.store, sale, "u")
		if res.Err != nil || res.RateLimit != (order.RateLimit{}) {
			t.Fatalf("request %d: %v, rate limit %+v; want accepted with no decision", i+1, res.Err, res.RateLimit)
		}
	}
	key := ledgerkeys.RateLimit(sale, "u")
	if n, _ := f.rdb.Do(context.Background(), f.rdb.B().Exists().Key(key).Build()).AsInt64(); n != 0 {
		t.Errorf("a store without a rate limit wrote %s", key)
	}
}

// Users are independent, and so are sales: the window is per (sale, user).
func TestRateLimitPerSaleAndUser(t *testing.T) {
	f := newFixture(t)
	const limit int64 = 2
	s := f.limitedStore(t, limit, time.Minute)
	one, two := f.newSale(t, 100, 100), f.newSale(t, 100, 100)
	for range limit {
		try(t, s, one, "alice")
	}
	if res := try(t, s, one, "alice"); !limited(res) {
		t.Fatalf("alice over the limit in sale one: %v, want rate_limited", res.Err)
	}
	for _, c := range []struct{ sale, user string }{{one, "bob"}, {two, "alice"}} {
		for i := range limit {
			if res := try(t, s, c.sale, c.user); limited(res) || res.RateLimit.Remaining != limit-i-1 {
				t.Fatalf("%s in %s, request %d: %v %+v, want allowed with remaining %d", c.user, c.sale, i+1, res.Err, res.RateLimit, limit-i-1)
			}
		}
		if res := try(t, s, c.sale, c.user); !limited(res) {
			t.Errorf("%s in %s over the limit: allowed", c.user, c.sale)
		}
	}
}

// An unknown sale answers not_found and counts nothing: a caller cannot
// create windows for sales that do not exist.
func TestRateLimitUnknownSaleCountsNothing(t *testing.T) {
	f := newFixture(t)
	s := f.limitedStore(t, 1, time.Minute)
	sale := f.saleID(t) // never created
	for range 3 {
		_, err := s.Reserve(context.Background(), order.Request{SaleID: sale, UserID: "u", IdempotencyKey: testkit.RandHex(8), Quantity: 1})
		if order.CodeOf(err) != order.CodeNotFound {
			t.Fatalf("reserve on an unknown sale: %v, want not_found", err)
		}
	}
	key := ledgerkeys.RateLimit(sale, "u")
	if n, _ := f.rdb.Do(context.Background(), f.rdb.B().Exists().Key(key).Build()).AsInt64(); n != 0 {
		t.Errorf("an unknown sale's request wrote %s", key)
	}
}

// Two stores over one Redis (two API replicas) share a user's window.
func TestRateLimitReplicasShareTheWindow(t *testing.T) {
	f := newFixture(t)
	a, b := f.limitedStore(t, 4, time.Minute), f.limitedStore(t, 4, time.Minute)
	sale := f.newSale(t, 100, 100)
	var allowed int
	for i := range 10 {
		s := a
		if i%2 == 1 {
			s = b
		}
		if !limited(try(t, s, sale, "u")) {
			allowed++
		}
	}
	if allowed != 4 {
		t.Errorf("allowed %d across two replicas, want 4", allowed)
	}
}

func TestRateLimitConcurrentRequestsAllowExactlyTheLimit(t *testing.T) {
	f := newFixture(t)
	const (
		limit      = 5
		goroutines = 50
	)
	s := f.limitedStore(t, limit, time.Minute)
	sale := f.newSale(t, 100, 100)
	var (
		wg       sync.WaitGroup
		allowed  atomic.Int64
		rejected atomic.Int64
		start    = make(chan struct{})
	)
	for range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := s.Reserve(context.Background(), order.Request{SaleID: sale, UserID: "u", IdempotencyKey: testkit.RandHex(8), Quantity: 1})
			switch {
			case err != nil:
				t.Errorf("Reserve: %v", err)
			case !limited(res):
				allowed.Add(1)
			default:
				rejected.Add(1)
				if res.RateLimit.Remaining != 0 {
					t.Errorf("rejected with remaining %d, want 0", res.RateLimit.Remaining)
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	if allowed.Load() != limit || rejected.Load() != goroutines-limit {
		t.Errorf("allowed %d / rejected %d, want %d / %d", allowed.Load(), rejected.Load(), limit, goroutines-limit)
	}
	if c := f.counters(t, sale); c.Remaining != 100-limit {
		t.Errorf("remaining %d, want %d", c.Remaining, 100-limit)
	}
}
