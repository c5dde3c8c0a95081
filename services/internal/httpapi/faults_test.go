//go:build faults

package httpapi_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

// Kafka stops in the middle of a sale: orders answer 503 unavailable and leak
// no stock (remaining = stock - accepted); a reservation stranded while the
// broker is away is published by the relay once it is back.
// Run with: go tool task test:faults
func TestFaultKafkaStopped(t *testing.T) {
	h := newHarness(t, harnessOpts{publishTimeout: 2 * time.Second})
	const stock = 50
	sale := h.newSale(stock, 1)
	accepted := 0
	for i := 0; i < 5; i++ {
		if r := h.placeOrder(sale, fmt.Sprintf("before-%d", i), "k", nil); r.Status != http.StatusAccepted {
			t.Fatalf("before the outage: %d %s", r.Status, r.Body)
		}
		accepted++
	}

	stacktest.Stop(t, "kafka")

	var wg sync.WaitGroup
	statuses := make([]int, 10)
	codes := make([]order.Code, 10)
	retryAfter := make([]string, 10)
	for i := range statuses {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := h.placeOrder(sale, fmt.Sprintf("during-%d", i), "k", nil)
			statuses[i], retryAfter[i] = r.Status, r.Header.Get("Retry-After")
			if r.Status != http.StatusAccepted {
				codes[i] = r.problem(t).Code
			}
		}()
	}
	wg.Wait()
	for i := range statuses {
		if statuses[i] == http.StatusAccepted {
			accepted++ // an ack that slipped in before the broker went away would be legal
			continue
		}
		if statuses[i] != http.StatusServiceUnavailable || codes[i] != order.CodeUnavailable || retryAfter[i] == "" {
			t.Errorf("order %d during the outage: %d %q Retry-After %q, want 503 unavailable with Retry-After", i, statuses[i], codes[i], retryAfter[i])
		}
	}
	if got := h.sale(sale).Remaining; got != int64(stock-accepted) {
		t.Errorf("remaining %d during the outage, want stock-accepted = %d (no stock leaked)", got, stock-accepted)
	}
	if r := h.do("GET", "/readyz", "", nil, nil); r.Status != http.StatusServiceUnavailable {
		t.Errorf("/readyz %d with Kafka down, want 503", r.Status)
	}

	// A reservation stranded during the outage (an API replica died after
	// reserving): the relay cannot publish it yet...
	res, err := h.Store.Reserve(context.Background(), order.Request{SaleID: sale, UserID: "stranded", IdempotencyKey: "k", Quantity: 1})
	if err != nil || res.Err != nil {
		t.Fatalf("reserve: %v %v", err, res.Err)
	}
	relay := checkout.NewRelay(scopedOutbox{h.Store, sale}, h.Producer, checkout.RelayConfig{Threshold: 0, Interval: 200 * time.Millisecond, Lease: 3 * time.Second}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if n, err := relay.Scan(context.Background()); n != 0 || err == nil {
		t.Errorf("relay with Kafka down published %d (err %v), want 0 and an error", n, err)
	}

	// ...and drains it once Kafka is back.
	stacktest.Start(t, "kafka")
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := relay.Scan(context.Background())
		c, cerr := h.Store.Counters(context.Background(), sale, time.Now())
		if cerr == nil && c.Pending == 0 {
			t.Logf("relay drained the outbox after Kafka returned (last scan published %d, err %v)", n, err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("outbox still holds %d a minute after Kafka returned (last scan err %v)", c.Pending, err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	seen := h.published(map[string]bool{res.Order.ID: true}, 30*time.Second)
	if len(seen[res.Order.ID]) == 0 {
		t.Errorf("the stranded order %s never reached the topic", res.Order.ID)
	}
	if r := h.placeOrder(sale, "after", "k", nil); r.Status != http.StatusAccepted {
		t.Errorf("after Kafka returned: %d %s, want 202", r.Status, r.Body)
	}
}

// scopedOutbox limits a relay to one sale: other sales' in-flight orders are
// not this drill's to publish.
type scopedOutbox struct {
	*reservation.Store
	sale string
}

func (s scopedOutbox) SaleIDs(context.Context) ([]string, error) { return []string{s.sale}, nil }
