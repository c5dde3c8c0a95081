package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/stacktest"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// reconcile against the real Redis, PostgreSQL and Kafka: a sale whose
// writer has persisted every order (a topic and group of the test's own,
// caught up), then Redis losing part or all of it, and --repair.

type rcFixture struct {
	rdb          rueidis.Client
	store        *reservation.Store
	pool         *pgxpool.Pool
	sale         string
	group, topic string
	orders       []order.Order
}

func newRCFixture(t *testing.T) *rcFixture {
	t.Helper()
	env := stacktest.Load(t)
	ctx := context.Background()
	t.Setenv("BLITZBUY_REDIS_ADDR", env.RedisAddr)
	t.Setenv("BLITZBUY_POSTGRES_URL", env.PostgresURL)
	t.Setenv("BLITZBUY_KAFKA_BROKERS", strings.Join(env.KafkaBrokers, ","))
	t.Setenv("BLITZBUY_JWT_SECRET", testkit.RandHex(32)) // reconcile reads order-api's configuration
	t.Setenv("BLITZBUY_ADMIN_TOKEN", testkit.RandHex(16))
	if _, err := pgstore.Migrate(ctx, env.PostgresURL); err != nil {
		t.Fatal(err)
	}
	f := &rcFixture{sale: "rc-" + testkit.RandHex(4), group: "rc-" + testkit.RandHex(4), topic: "orders-rc-" + testkit.RandHex(4)}

	// A writer group caught up with an (empty) orders topic: lag 0.
	cl, err := kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	adm := kadm.NewClient(cl)
	if _, err := adm.CreateTopic(ctx, 1, 1, nil, f.topic); err != nil {
		t.Fatal(err)
	}
	var offs kadm.Offsets
	offs.Add(kadm.Offset{Topic: f.topic, Partition: 0, At: 0, LeaderEpoch: -1})
	if err := adm.CommitAllOffsets(ctx, f.group, offs); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_, _ = adm.DeleteGroups(context.Background(), f.group)
		_, _ = adm.DeleteTopics(context.Background(), f.topic)
	})

	f.rdb, err = rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.rdb.Close)
	if f.store, err = reservation.New(f.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour}); err != nil {
		t.Fatal(err)
	}
	if f.pool, err = pgxpool.New(ctx, env.PostgresURL); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.pool.Close)
	t.Cleanup(func() {
		stacktest.DeleteSale(f.rdb, f.sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM orders WHERE sale_id = $1`, f.sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sales WHERE sale_id = $1`, f.sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sale_changes WHERE sale_id = $1`, f.sale)
	})

	// The sale, defined in both ledgers, and three units sold and persisted.
	spec := order.SaleSpec{ID: f.sale, Name: "reconcile", Stock: 10, PerUserLimit: 3, StartsAt: time.Now().Add(-time.Hour)}
	if _, _, err := pgstore.New(f.pool).PutSale(ctx, spec, "test:reconcile"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.UpsertSale(ctx, spec); err != nil {
		t.Fatal(err)
	}
	for _, b := range []struct {
		user string
		qty  int64
	}{{"alice", 2}, {"bob", 1}} {
		res, err := f.store.Reserve(ctx, order.Request{SaleID: f.sale, UserID: b.user, IdempotencyKey: "k-" + b.user, Quantity: b.qty})
		if err != nil || res.Err != nil {
			t.Fatalf("reserve: %v %v", err, res.Err)
		}
		if err := f.store.Ack(ctx, f.sale, res.Order.ID); err != nil {
			t.Fatal(err)
		}
		o := res.Order
		if _, err := f.pool.Exec(ctx, `INSERT INTO orders (order_id, sale_id, user_id, quantity, idempotency_key, reserved_at)
			VALUES ($1, $2, $3, $4, $5, $6)`, o.ID, o.SaleID, o.UserID, o.Quantity, o.IdempotencyKey, o.ReservedAt); err != nil {
			t.Fatal(err)
		}
		f.orders = append(f.orders, o)
	}
	return f
}

func (f *rcFixture) reconcile(t *testing.T, extra ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := reconcile(append([]string{"--sale", f.sale, "--group", f.group, "--topic", f.topic, "--timeout", "10s", "--settle", "100ms"}, extra...), &out)
	return out.String(), err
}

func (f *rcFixture) remaining(t *testing.T) int64 {
	t.Helper()
	st, err := f.store.State(context.Background(), f.sale)
	if err != nil {
		t.Fatal(err)
	}
	return st.Remaining
}

func (f *rcFixture) addRemaining(t *testing.T, n int64) {
	t.Helper()
	if err := f.rdb.Do(context.Background(), f.rdb.B().Hincrby().Key(ledgerkeys.Sale(f.sale)).Field("remaining").Increment(n).Build()).Error(); err != nil {
		t.Fatal(err)
	}
}

func TestReconcileAgreeingLedgers(t *testing.T) {
	f := newRCFixture(t)
	out, err := f.reconcile(t)
	if err != nil || !strings.Contains(out, "drift: none") {
		t.Fatalf("reconcile = %v\n%s\nwant no drift", err, out)
	}
}

func TestReconcileRepairsLostReservations(t *testing.T) {
	f := newRCFixture(t)
	f.addRemaining(t, 1) // Redis forgot one sold unit: it would sell it again
	out, err := f.reconcile(t)
	if !errors.Is(err, errDrift) || !strings.Contains(out, "Redis lost reservations") {
		t.Fatalf("reconcile = %v\n%s\nwant drift naming lost reservations", err, out)
	}
	if out, err = f.reconcile(t, "--repair"); err != nil {
		t.Fatalf("repair = %v\n%s", err, out)
	}
	if got := f.remaining(t); got != 7 {
		t.Errorf("remaining after the repair %d, want 7 (10 - 3 persisted)", got)
	}
}

func TestReconcileFindsStrandedUnits(t *testing.T) {
	f := newRCFixture(t)
	f.addRemaining(t, -1) // one unit held by nobody, with nothing in flight
	out, err := f.reconcile(t)
	if !errors.Is(err, errDrift) || !strings.Contains(out, "stranded") {
		t.Fatalf("reconcile = %v\n%s\nwant drift naming stranded units", err, out)
	}
}

func TestReconcileRebuildsASaleRedisLost(t *testing.T) {
	f := newRCFixture(t)
	stacktest.DeleteSale(f.rdb, f.sale) // FLUSHALL, for this sale
	out, err := f.reconcile(t)
	if !errors.Is(err, errDrift) || !strings.Contains(out, "Redis has no sale hash") {
		t.Fatalf("reconcile = %v\n%s\nwant drift: Redis lost the sale", err, out)
	}
	if out, err = f.reconcile(t, "--repair"); err != nil || !strings.Contains(out, "drift: none") {
		t.Fatalf("repair = %v\n%s", err, out)
	}
	alice := f.orders[0]
	res, err := f.store.Reserve(context.Background(), order.Request{SaleID: f.sale, UserID: "alice", IdempotencyKey: "k-alice", Quantity: 2})
	if err != nil || !res.Replayed || res.Order.ID != alice.ID {
		t.Errorf("alice's retry after the rebuild: %+v %v, want the replay of %s", res, err, alice.ID)
	}
	if got := f.remaining(t); got != 7 {
		t.Errorf("remaining %d, want 7", got)
	}
}

func TestReconcileUnknownSale(t *testing.T) {
	f := newRCFixture(t)
	f.sale = "nothing-" + testkit.RandHex(4)
	if _, err := f.reconcile(t); err == nil || errors.Is(err, errDrift) {
		t.Errorf("reconcile of a sale nobody knows: %v, want a usage error (exit 2), not drift", err)
	}
}
