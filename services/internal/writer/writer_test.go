package writer_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
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
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
	"github.com/blitzbuy/blitzbuy/testkit"
)

// fixture: a private topic pair and consumer group on the real Kafka, the
// real PostgreSQL (migrated) and Redis, and helpers to feed and observe a
// writer. Each test uses its own sale ids, so tests never see each other's rows.
type fixture struct {
	t        testing.TB
	env      stacktest.Env
	topic    string
	dlq      string
	group    string
	pool     *pgxpool.Pool
	pg       *pgstore.Store
	ledger   *reservation.Store
	redis    rueidis.Client
	producer *kgo.Client
	adm      *kadm.Client
	// ledgerOverride replaces the Redis ledger (benchmarks only).
	ledgerOverride writer.Ledger
}

func newFixture(t testing.TB, partitions int32) *fixture {
	t.Helper()
	env := stacktest.Load(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if _, err := pgstore.Migrate(ctx, env.PostgresURL); err != nil {
		t.Fatalf("migrate: %v", err)
	}
	pool, err := pgxpool.New(ctx, env.PostgresURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{env.RedisAddr}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(rdb.Close)
	ledger, err := reservation.New(rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	suffix := testkit.RandHex(4)
	f := &fixture{t: t, env: env, topic: "orders-wt-" + suffix, dlq: "orders-wt-" + suffix + ".dlq", group: "order-writer-wt-" + suffix,
		pool: pool, pg: pgstore.New(pool), ledger: ledger, redis: rdb}
	f.producer, err = kgo.NewClient(kgo.SeedBrokers(env.KafkaBrokers...), kgo.DefaultProduceTopic(f.topic),
		kgo.RequiredAcks(kgo.AllISRAcks()), kgo.RecordPartitioner(kgo.StickyKeyPartitioner(nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(f.producer.Close)
	f.adm = kadm.NewClient(f.producer)
	if _, err := f.adm.CreateTopic(ctx, partitions, 1, nil, f.topic); err != nil {
		t.Fatalf("create topic: %v", err)
	}
	if _, err := f.adm.CreateTopic(ctx, 1, 1, nil, f.dlq); err != nil {
		t.Fatalf("create dlq topic: %v", err)
	}
	t.Cleanup(func() {
		c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = f.adm.DeleteGroups(c, f.group)
		_, _ = f.adm.DeleteTopics(c, f.topic, f.dlq)
	})
	return f
}

func (f *fixture) config() writer.Config {
	return writer.Config{Brokers: f.env.KafkaBrokers, Topic: f.topic, DLQTopic: f.dlq, Group: f.group,
		BatchSize: 5000, BatchWait: 20 * time.Millisecond, BackoffMin: 200 * time.Millisecond, BackoffMax: 2 * time.Second,
		Pipelines: 2, ShutdownTimeout: 30 * time.Second}
}

// start runs a writer until the test ends (or stop is called).
func (f *fixture) start(cfg writer.Config) (w *writer.Writer, stop func() error) {
	f.t.Helper()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if testing.Verbose() {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	var ledger writer.Ledger = f.ledger
	if f.ledgerOverride != nil {
		ledger = f.ledgerOverride
	}
	w, err := writer.New(cfg, f.pg, ledger, nil, log)
	if err != nil {
		f.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	var runErr error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case runErr = <-done:
			case <-time.After(60 * time.Second):
				runErr = fmt.Errorf("writer did not stop within 60 s")
			}
		})
		return runErr
	}
	f.t.Cleanup(func() { _ = stop() })
	return w, stop
}

// events builds n valid OrderPlaced events of a fresh sale.
func (f *fixture) events(n int) (sale string, evs []order.OrderPlaced) {
	sale = "wt-" + testkit.RandHex(5)
	evs = make([]order.OrderPlaced, n)
	now := time.Now().UTC()
	for i := range evs {
		id, err := order.NewOrderID(sale)
		if err != nil {
			f.t.Fatal(err)
		}
		evs[i] = order.OrderPlaced{SchemaVersion: 1, OrderID: id, SaleID: sale, UserID: fmt.Sprintf("u%d", i),
			Quantity: 1, IdempotencyKey: "k", ReservedAt: now}
	}
	f.t.Cleanup(func() {
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM orders WHERE sale_id = $1`, sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sale_totals WHERE sale_id = $1`, sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sales WHERE sale_id = $1`, sale)
		_, _ = f.pool.Exec(context.Background(), `DELETE FROM sale_changes WHERE sale_id = $1`, sale)
	})
	// These events have no reservation in Redis: the writer persists them
	// only because the sale's durable definition vouches for them (as after
	// Redis lost its data). Room for every event, sent twice.
	if _, _, err := f.pg.PutSale(context.Background(), order.SaleSpec{ID: sale, Name: "writer test", Stock: int64(2*n + 10),
		PerUserLimit: 10, StartsAt: now.Add(-time.Hour)}, "test:writer"); err != nil {
		f.t.Fatal(err)
	}
	return sale, evs
}

func (f *fixture) produce(evs []order.OrderPlaced) {
	f.t.Helper()
	recs := make([]*kgo.Record, len(evs))
	for i, e := range evs {
		v, err := e.Encode()
		if err != nil {
			f.t.Fatal(err)
		}
		recs[i] = &kgo.Record{Key: []byte(e.OrderID), Value: v}
	}
	f.produceRaw(recs...)
}

func (f *fixture) produceRaw(recs ...*kgo.Record) {
	f.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	if err := f.producer.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		f.t.Fatalf("produce: %v", err)
	}
}

// rows is the number of the sale's persisted orders (pgstore.Persisted: the
// services' one "how many are persisted" query).
func (f *fixture) rows(sale string) int64 {
	f.t.Helper()
	n, _, err := f.pg.Persisted(context.Background(), sale)
	if err != nil {
		f.t.Fatalf("persisted orders of %s: %v", sale, err)
	}
	return n
}

// waitLagZero waits until the writer's group committed everything produced.
func (f *fixture) waitLagZero(w *writer.Writer, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		lag, err := w.Lag(ctx)
		cancel()
		if err == nil && lag == 0 {
			return
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("writer lag %d (err %v) after %s, want 0", lag, err, timeout)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitRows waits until sale has want rows.
func (f *fixture) waitRows(sale string, want int64, timeout time.Duration) {
	f.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		got := f.rows(sale)
		if got == want {
			return
		}
		if got > want || time.Now().After(deadline) {
			f.t.Fatalf("sale %s has %d rows, want %d", sale, got, want)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// dlqRecords reads the fixture's DLQ topic until n records arrived.
func (f *fixture) dlqRecords(n int, timeout time.Duration) []*kgo.Record {
	f.t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(f.env.KafkaBrokers...), kgo.ConsumeTopics(f.dlq),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		f.t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n && ctx.Err() == nil {
		out = append(out, cl.PollFetches(ctx).Records()...)
	}
	return out
}
