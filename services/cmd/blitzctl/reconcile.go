package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/rebuild"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
)

// errDrift: the hot ledger disagrees with the durable one (exit status 1).
var errDrift = errors.New("drift")

// ledgers are the three places a sale's truth lives in.
type ledgers struct {
	redis *reservation.Store
	pg    *pgstore.Store
	lag   rebuild.Lag // the writer group's lag on the orders topic
}

// figures is one look at a sale in each of them.
type figures struct {
	redis   reservation.LedgerState
	pg      pgstore.Snapshot
	pgFound bool
	lag     int64 // the writer group's lag on the orders topic
	lagErr  error
}

// quiescent: nothing is in flight, so Redis must equal PostgreSQL exactly.
func (f figures) quiescent() bool { return rebuild.Drained(f.redis, f.lag, f.lagErr) }

// reconcile compares a sale's hot ledger (Redis) with the durable one
// (PostgreSQL) and what is still in flight (the outbox, the writer's lag on
// Kafka), prints the drift and fails with errDrift when there is any. With
// --repair it rebuilds the hot ledger: freeze the sale, wait until nothing
// is in flight, restore Redis from PostgreSQL, and check again.
func reconcile(args []string, out io.Writer) error {
	// order-api's own settings: the same Redis database, topic, writer group,
	// idempotency TTL and publish timeout as the service whose ledger this is.
	cfg, err := config.LoadAPI()
	if err != nil {
		return fmt.Errorf("%w (source .local/env)", err)
	}
	if cfg.PostgresURL == "" {
		return fmt.Errorf("BLITZBUY_POSTGRES_URL must be set (source .local/env)")
	}
	fs := flag.NewFlagSet("reconcile", flag.ContinueOnError)
	sale := fs.String("sale", "", "sale id")
	repair := fs.Bool("repair", false, "rebuild Redis from PostgreSQL (the sale pauses meanwhile)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long --repair waits for the pipeline to drain")
	settle := fs.Duration("settle", cfg.PublishTimeout+time.Second,
		"how long --repair waits after the freeze for orders still being handed to Kafka (the publish timeout + 1 s)")
	group := fs.String("group", cfg.WriterGroup, "the writers' consumer group")
	topic := fs.String("topic", cfg.OrdersTopic, "the orders topic")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if !order.ValidSaleID(*sale) {
		return fmt.Errorf("--sale must be a sale id (1-64 characters of [A-Za-z0-9_-])")
	}
	ctx := context.Background()
	l, closeAll, err := connect(ctx, cfg, *group, *topic)
	if err != nil {
		return err
	}
	defer closeAll()

	f, err := l.look(ctx, *sale)
	if err != nil {
		return err
	}
	if !f.pgFound && !f.redis.Exists {
		return fmt.Errorf("neither Redis nor PostgreSQL knows sale %q", *sale)
	}
	report(out, *sale, f)
	d := drift(f)
	printDrift(out, d)
	if !*repair {
		if len(d) > 0 {
			return errDrift
		}
		return nil
	}
	if !f.pgFound {
		return fmt.Errorf("%w: PostgreSQL has no definition of sale %q; re-PUT it through the admin API first", errDrift, *sale)
	}
	fmt.Fprintf(out, "repair: freezing %s (its orders answer ledger_rebuilding) and waiting for the pipeline to drain\n", *sale)
	rb := rebuild.Rebuilder{Ledger: l.redis, Durable: l.pg, Lag: l.lag, Timeout: *timeout, Settle: *settle}
	if _, err := rb.Rebuild(ctx, *sale); err != nil {
		return fmt.Errorf("repair: %w; the sale stays frozen, run --repair again", err)
	}
	if f, err = l.look(ctx, *sale); err != nil {
		return err
	}
	fmt.Fprintln(out, "repair: restored from PostgreSQL")
	report(out, *sale, f)
	d = drift(f)
	printDrift(out, d)
	if len(d) > 0 {
		return errDrift
	}
	return nil
}

func connect(ctx context.Context, cfg config.API, group, topic string) (*ledgers, func(), error) {
	var closers []func()
	closeAll := func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	ropt, err := cfg.RedisOption()
	if err != nil {
		return nil, nil, err
	}
	ropt.DisableCache = true
	rdb, err := rueidis.NewClient(ropt)
	if err != nil {
		return nil, nil, fmt.Errorf("redis: %w", err)
	}
	closers = append(closers, rdb.Close)
	store, err := reservation.New(rdb, cfg.Reservation())
	if err != nil {
		closeAll()
		return nil, nil, err
	}
	pool, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("postgres: %w", err)
	}
	closers = append(closers, pool.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.KafkaBrokers...))
	if err != nil {
		closeAll()
		return nil, nil, fmt.Errorf("kafka: %w", err)
	}
	closers = append(closers, cl.Close)
	return &ledgers{redis: store, pg: pgstore.New(pool), lag: rebuild.KafkaLag(kadm.NewClient(cl), group, topic)}, closeAll, nil
}

func (l *ledgers) look(ctx context.Context, sale string) (figures, error) {
	var f figures
	var err error
	if f.redis, err = l.redis.State(ctx, sale); err != nil {
		return f, err
	}
	f.pg, err = l.pg.SaleSnapshot(ctx, sale)
	switch {
	case err == nil:
		f.pgFound = true
	case !errors.Is(err, order.ErrNotFound):
		return f, err
	}
	f.lag, f.lagErr = l.lag(ctx)
	return f, nil
}

// drift lists every disagreement between the two ledgers. Some hold at any
// moment (Redis never knows less than PostgreSQL persisted); equality only
// holds once nothing is in flight.
func drift(f figures) []string {
	var d []string
	switch {
	case !f.pgFound:
		return []string{"PostgreSQL has no definition of this sale (created before definitions were durable?): re-PUT it"}
	case !f.redis.Exists:
		d = append(d, fmt.Sprintf("Redis has no sale hash, PostgreSQL defines the sale with %d units persisted: Redis lost its data", f.pg.Units()))
		return d
	}
	spec := f.pg.Spec
	if f.redis.Stock != spec.Stock {
		d = append(d, fmt.Sprintf("stock: Redis %d, PostgreSQL %d", f.redis.Stock, spec.Stock))
	}
	if f.redis.Limit != spec.PerUserLimit {
		d = append(d, fmt.Sprintf("per-user limit: Redis %d, PostgreSQL %d", f.redis.Limit, spec.PerUserLimit))
	}
	units, byUser := f.pg.Units(), f.pg.ByUser()
	exact := f.quiescent()
	switch sold := f.redis.Sold(); {
	case sold < units:
		d = append(d, fmt.Sprintf("sold: Redis %d < %d persisted: Redis lost reservations (it would sell them again)", sold, units))
	case exact && sold != units:
		d = append(d, fmt.Sprintf("sold: Redis %d, persisted %d, nothing in flight: %d units stranded", sold, units, sold-units))
	}
	users := make([]string, 0, len(byUser)+len(f.redis.Users))
	for u := range byUser {
		users = append(users, u)
	}
	for u := range f.redis.Users {
		if _, ok := byUser[u]; !ok {
			users = append(users, u)
		}
	}
	sort.Strings(users)
	const maxUsers = 20
	var bad int
	for _, u := range users {
		held, persisted := f.redis.Users[u], byUser[u]
		if held < persisted || (exact && held != persisted) {
			if bad++; bad <= maxUsers {
				d = append(d, fmt.Sprintf("user %q: Redis holds %d, PostgreSQL %d", u, held, persisted))
			}
		}
	}
	if bad > maxUsers {
		d = append(d, fmt.Sprintf("… and %d more users", bad-maxUsers))
	}
	return d
}

func report(out io.Writer, sale string, f figures) {
	fmt.Fprintf(out, "sale %s\n", sale)
	fmt.Fprintf(out, "  %-10s %12s %12s\n", "", "Redis", "PostgreSQL")
	pgStock, pgUnits, pgBuyers := "-", "-", "-"
	if f.pgFound {
		pgStock, pgUnits, pgBuyers = fmt.Sprint(f.pg.Spec.Stock), fmt.Sprint(f.pg.Units()), fmt.Sprint(len(f.pg.ByUser()))
	}
	rStock, rSold := "-", "-"
	if f.redis.Exists {
		rStock, rSold = fmt.Sprint(f.redis.Stock), fmt.Sprint(f.redis.Sold())
	}
	fmt.Fprintf(out, "  %-10s %12s %12s\n", "stock", rStock, pgStock)
	fmt.Fprintf(out, "  %-10s %12s %12s\n", "sold", rSold, pgUnits)
	fmt.Fprintf(out, "  %-10s %12d %12s\n", "buyers", len(f.redis.Users), pgBuyers)
	lag := fmt.Sprint(f.lag)
	if f.lagErr != nil {
		lag = "unknown (" + f.lagErr.Error() + ")"
	}
	fmt.Fprintf(out, "  in flight: outbox %d, writer lag %s\n", f.redis.Pending, lag)
}

func printDrift(out io.Writer, d []string) {
	if len(d) == 0 {
		fmt.Fprintln(out, "drift: none")
		return
	}
	fmt.Fprintf(out, "drift: %d\n", len(d))
	for _, line := range d {
		fmt.Fprintln(out, "  - "+line)
	}
}
