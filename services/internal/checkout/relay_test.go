package checkout_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/publish"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
)

type fixture struct {
	rdb   rueidis.Client
	env   stacktest.Env
	store *reservation.Store
	prod  *publish.Producer
	sale  string
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	env := stacktest.Load(t)
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	store, err := reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	prod, err := publish.NewProducer(publish.Config{Brokers: env.KafkaBrokers, Topic: "orders", DeliveryTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = prod.Close(context.Background()) })
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	sale := "relay-" + hex.EncodeToString(b)
	ctx := context.Background()
	if _, err := store.UpsertSale(ctx, order.SaleSpec{ID: sale, Name: "relay test", Stock: 1000, PerUserLimit: 1,
		StartsAt: time.Now().Add(-time.Minute)}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stacktest.DeleteSale(rdb, sale) })
	return &fixture{rdb: rdb, env: env, store: store, prod: prod, sale: sale}
}

// strand reserves n orders and never publishes them: what a process that
// died between reserve and ack leaves behind.
func (f *fixture) strand(t *testing.T, n int) map[string]bool {
	t.Helper()
	ids := map[string]bool{}
	for i := 0; i < n; i++ {
		res, err := f.store.Reserve(context.Background(), order.Request{SaleID: f.sale,
			UserID: fmt.Sprintf("u%d", i), IdempotencyKey: "k", Quantity: 1})
		if err != nil || res.Err != nil {
			t.Fatalf("reserve: %v %v", err, res.Err)
		}
		ids[res.Order.ID] = true
	}
	return ids
}

func (f *fixture) pending(t *testing.T) int64 {
	t.Helper()
	c, err := f.store.Counters(context.Background(), f.sale, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return c.Pending
}

// scoped limits a relay to the fixture's sale: other tests' in-flight orders
// share the Redis and must not be relayed by this test.
type scoped struct {
	*reservation.Store
	sale string
}

func (s scoped) SaleIDs(context.Context) ([]string, error) { return []string{s.sale}, nil }

func (f *fixture) outbox() checkout.Outbox { return scoped{f.store, f.sale} }

func quietLog() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestRelayPublishesStrandedOrders(t *testing.T) {
	f := newFixture(t)
	tail := stacktest.NewTail(t, f.env, "orders")
	ids := f.strand(t, 5)

	young := checkout.NewRelay(f.outbox(), f.prod, checkout.RelayConfig{Threshold: time.Hour, Interval: time.Second}, quietLog())
	if n, err := young.Scan(context.Background()); err != nil || n != 0 {
		t.Fatalf("scan below the threshold published %d (err %v), want 0: live requests must be left alone", n, err)
	}

	relay := checkout.NewRelay(f.outbox(), f.prod, checkout.RelayConfig{Threshold: 0, Interval: time.Second}, quietLog())
	n, err := relay.Scan(context.Background())
	if err != nil || n != len(ids) {
		t.Fatalf("scan published %d (err %v), want %d", n, err, len(ids))
	}
	if p := f.pending(t); p != 0 {
		t.Errorf("outbox holds %d after the relay published, want 0", p)
	}
	if n, _ := relay.Scan(context.Background()); n != 0 {
		t.Errorf("second scan published %d, want 0", n)
	}
	counts := readOrders(t, tail, ids)
	for id := range ids {
		if counts[id] != 1 {
			t.Errorf("order %s on the topic %d times, want 1", id, counts[id])
		}
	}
}

// Several API replicas each run a relay: together they publish every
// stranded order, and the claim lease keeps them from doubling up.
func TestRelayReplicasShareTheOutbox(t *testing.T) {
	f := newFixture(t)
	tail := stacktest.NewTail(t, f.env, "orders")
	ids := f.strand(t, 60)

	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		total int
	)
	for r := 0; r < 3; r++ {
		relay := checkout.NewRelay(f.outbox(), f.prod, checkout.RelayConfig{Threshold: 0, Interval: time.Second, Lease: time.Minute}, quietLog())
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := relay.Scan(context.Background())
			if err != nil {
				t.Errorf("scan: %v", err)
			}
			mu.Lock()
			total += n
			mu.Unlock()
		}()
	}
	wg.Wait()
	if total != len(ids) {
		t.Errorf("replicas published %d in all, want %d (each order once)", total, len(ids))
	}
	if p := f.pending(t); p != 0 {
		t.Errorf("outbox holds %d, want 0", p)
	}
	counts := readOrders(t, tail, ids)
	for id := range ids {
		if counts[id] != 1 {
			t.Errorf("order %s on the topic %d times, want 1", id, counts[id])
		}
	}
}

// readOrders reads the topic until every id was seen, then a little longer to
// catch duplicates, and counts each id's events.
func readOrders(t *testing.T, tail *stacktest.Tail, ids map[string]bool) map[string]int {
	t.Helper()
	counts := map[string]int{}
	var allSeenAt time.Time
	tail.Read(t, 30*time.Second, func(r *kgo.Record) {
		if e, err := order.DecodeOrderPlaced(r.Value); err == nil && ids[e.OrderID] {
			counts[e.OrderID]++
		}
	}, func() bool {
		if allSeenAt.IsZero() && len(counts) == len(ids) {
			allSeenAt = time.Now()
		}
		return !allSeenAt.IsZero() && time.Since(allSeenAt) > 500*time.Millisecond
	})
	if len(counts) != len(ids) {
		t.Fatalf("saw %d of %d orders on the topic", len(counts), len(ids))
	}
	return counts
}
