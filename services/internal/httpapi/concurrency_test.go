package httpapi_test

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// The oversell guard (I1): 2,000 distinct buyers race for 100 units with a
// per-user limit of 1. Exactly 100 win, each with its own order id; everyone
// else hears 409 sold_out; remaining stock is never negative while they race
// and 0 at the end; every winner's event is on the orders topic.
func TestConcurrentBuyersNeverOversell(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	const buyers, stock = 2000, 100
	sale := h.newSale(stock, 1)

	tokens := make([]string, buyers)
	for i := range tokens {
		tokens[i] = h.token(fmt.Sprintf("buyer-%d", i))
	}

	stop := make(chan struct{})
	var minSeen atomic.Int64
	minSeen.Store(stock)
	observer := sync.WaitGroup{}
	observer.Add(1)
	go func() { // watch remaining while the crowd buys: it must never go negative
		defer observer.Done()
		for {
			select {
			case <-stop:
				return
			default:
			}
			s, err := h.Store.Sale(context.Background(), sale, time.Now())
			if err == nil && s.Remaining < minSeen.Load() {
				minSeen.Store(s.Remaining)
			}
		}
	}()

	var (
		mu       sync.Mutex
		orderIDs = map[string]bool{}
		statuses = map[string]int{}
		wg       sync.WaitGroup
		start    = make(chan struct{})
	)
	for i := 0; i < buyers; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.do("POST", "/v1/sales/"+sale+"/orders", tokens[i], map[string]string{"Idempotency-Key": "k-" + fmt.Sprint(i)}, nil)
			mu.Lock()
			defer mu.Unlock()
			switch r.Status {
			case http.StatusAccepted:
				statuses["202"]++
				orderIDs[r.order(t).OrderID] = true
			case http.StatusConflict:
				statuses[string(r.problem(t).Code)]++
			default:
				statuses[fmt.Sprintf("%d %s", r.Status, r.Body)]++
			}
		}()
	}
	close(start)
	wg.Wait()
	close(stop)
	observer.Wait()

	if got := statuses["202"]; got != stock {
		t.Errorf("accepted %d, want %d (statuses %v)", got, stock, statuses)
	}
	if got := len(orderIDs); got != stock {
		t.Errorf("distinct order ids %d, want %d", got, stock)
	}
	if got := statuses[string(order.CodeSoldOut)]; got != buyers-stock {
		t.Errorf("sold_out answers %d, want %d (statuses %v)", got, buyers-stock, statuses)
	}
	if got := minSeen.Load(); got < 0 {
		t.Errorf("remaining stock observed at %d, must never be negative", got)
	}
	if got := h.sale(sale).Remaining; got != 0 {
		t.Errorf("remaining after the race %d, want 0", got)
	}
	if c, err := h.Store.Counters(context.Background(), sale, time.Now()); err != nil || c.Pending != 0 {
		t.Errorf("outbox holds %d orders after every 202 (err %v), want 0: an acked order must leave it", c.Pending, err)
	}
	seen := h.published(orderIDs, 30*time.Second)
	for id := range orderIDs {
		if len(seen[id]) != 1 {
			t.Errorf("order %s published %d times, want 1", id, len(seen[id]))
		}
	}
}

// I3: 200 concurrent replays of one (user, key) make one reservation; every
// answer carries the same order id.
func TestConcurrentReplaysMakeOneOrder(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(10, 5)
	tok := h.token("replayer")
	const n = 200
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		ids      = map[string]int{}
		replayed int
		other    []string
		start    = make(chan struct{})
	)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.do("POST", "/v1/sales/"+sale+"/orders", tok, map[string]string{"Idempotency-Key": "same-key"}, `{"quantity":2}`)
			mu.Lock()
			defer mu.Unlock()
			if r.Status != http.StatusAccepted {
				other = append(other, fmt.Sprintf("%d %s", r.Status, r.Body))
				return
			}
			ids[r.order(t).OrderID]++
			if r.Header.Get("Idempotent-Replayed") == "true" {
				replayed++
			}
		}()
	}
	close(start)
	wg.Wait()
	if len(other) > 0 {
		t.Fatalf("%d answers were not 202, first: %s", len(other), other[0])
	}
	if len(ids) != 1 {
		t.Fatalf("%d distinct order ids, want 1: %v", len(ids), ids)
	}
	if replayed != n-1 {
		t.Errorf("Idempotent-Replayed on %d answers, want %d", replayed, n-1)
	}
	if got := h.sale(sale).Remaining; got != 8 {
		t.Errorf("remaining %d, want 8 (one reservation of 2)", got)
	}
}

// I4: one user firing 10 concurrent requests with different keys under a
// per-user limit of 2 gets exactly 2 accepted.
func TestConcurrentPerUserLimit(t *testing.T) {
	h := newHarness(t, harnessOpts{})
	sale := h.newSale(100, 2)
	tok := h.token("greedy")
	var (
		wg       sync.WaitGroup
		accepted atomic.Int64
		limited  atomic.Int64
		start    = make(chan struct{})
	)
	for i := 0; i < 10; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			r := h.do("POST", "/v1/sales/"+sale+"/orders", tok, map[string]string{"Idempotency-Key": fmt.Sprintf("key-%d", i)}, nil)
			switch {
			case r.Status == http.StatusAccepted:
				accepted.Add(1)
			case r.Status == http.StatusConflict && r.problem(t).Code == order.CodePurchaseLimit:
				limited.Add(1)
			default:
				t.Errorf("unexpected answer %d %s", r.Status, r.Body)
			}
		}()
	}
	close(start)
	wg.Wait()
	if accepted.Load() != 2 || limited.Load() != 8 {
		t.Errorf("accepted %d / limited %d, want 2 / 8", accepted.Load(), limited.Load())
	}
	if got := h.sale(sale).Remaining; got != 98 {
		t.Errorf("remaining %d, want 98", got)
	}
}
