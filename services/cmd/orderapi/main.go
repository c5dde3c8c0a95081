// Command orderapi is BlitzBuy's order API: it reserves stock in Redis,
// publishes OrderPlaced events to Kafka and answers buyers within
// milliseconds. Configuration comes from BLITZBUY_* environment variables
// (see internal/config and docs/operations.md).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/sync/errgroup"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/publish"
	"github.com/blitzbuy/blitzbuy/services/internal/rebuild"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
	"github.com/blitzbuy/blitzbuy/testkit/redisaddr"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "dev"

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET /healthz on BLITZBUY_HTTP_ADDR and exit 0 when it answers 200 (container healthchecks)")
	flag.Parse()
	if *healthcheck {
		os.Exit(probe())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "orderapi:", err)
		os.Exit(1)
	}
}

func probe() int {
	addr := os.Getenv("BLITZBUY_HTTP_ADDR")
	if addr == "" {
		addr = "127.0.0.1:8080"
	}
	return telemetry.Probe(addr)
}

func run(ctx context.Context) error {
	cfg, err := config.LoadAPI()
	if err != nil {
		return err
	}
	log, stopTracing, err := telemetry.Start(ctx, os.Stdout, "order-api", version, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer stopTracing()
	log.Info("starting", append([]any{"version", version}, config.Masked(cfg)...)...)

	a, err := newApp(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer a.close()
	return a.serve(ctx)
}

// app is order-api wired: its clients, the HTTP API and the relay.
type app struct {
	cfg      config.API
	log      *slog.Logger
	producer *publish.Producer
	relay    *checkout.Relay
	// holds pays, cancels and expires held orders (the checkout window).
	holds       *checkout.Holds
	holdMetrics *checkout.HoldMetrics
	api, ops    *http.Server // the API, and metrics (+ pprof) on the admin listener
	closers     []func()
}

// The checkout window's sweeper: every expirySweep it expires up to
// expiryBatch due holds per sale, so a hold ends at most about one sweep
// after its expires_at (docs/api.md states the measured bound).
const (
	expirySweep = 200 * time.Millisecond
	expiryBatch = 500
)

// newApp connects Redis, Kafka and (optionally) PostgreSQL and wires the
// ledger, limiter and producer into checkout, the HTTP API and the relay.
// On error it closes what it had opened and returns no app.
func newApp(ctx context.Context, cfg config.API, log *slog.Logger) (_ *app, err error) {
	a := &app{cfg: cfg, log: log}
	defer func() {
		if err != nil {
			a.close()
		}
	}()
	ropt, err := cfg.RedisOption()
	if err != nil {
		return nil, err
	}
	// Auto-pipelining: concurrent requests share one connection's writes.
	// The default already pipelines; say so explicitly.
	ropt.DisableAutoPipelining, ropt.ConnWriteTimeout = false, 2*time.Second
	// Every connection is counted, so that after a reconnect (a restart, a
	// failover) the ledger checks which node it reached before trusting it.
	node := reservation.NewNodeWatch(func(oldRunID, newRunID string, frozen []string) {
		log.Warn("Redis is a different node than the one the ledger was vouched for (failover or restart): "+
			"its sales are frozen and rebuilt from PostgreSQL", "old_run_id", oldRunID, "run_id", newRunID, "sales", frozen)
	})
	ropt.DialCtxFn = node.Dial(ropt.DialCtxFn)
	rdb, err := rueidis.NewClient(ropt)
	if err != nil {
		return nil, fmt.Errorf("redis %s: %w", redisaddr.Redact(cfg.RedisAddr), err)
	}
	a.closers = append(a.closers, rdb.Close)

	traced := telemetry.TraceRedis(rdb, redisaddr.Redact(cfg.RedisAddr))
	store, err := reservation.New(traced, cfg.Ledger())
	if err != nil {
		return nil, err
	}
	reg := telemetry.NewRegistry()
	_, kafkaHooks := telemetry.Kafka(reg)
	a.producer, err = publish.NewProducer(publish.Config{
		Brokers: cfg.KafkaBrokers, Topic: cfg.OrdersTopic, DeliveryTimeout: cfg.PublishTimeout, Linger: cfg.PublishLinger,
		Opts:    []kgo.Opt{kafkaHooks},
		Metrics: publish.NewMetrics(reg),
	})
	if err != nil {
		return nil, err
	}
	jwtCfg, err := cfg.JWT.Config()
	if err != nil {
		return nil, err
	}
	auth, err := jwtCfg.Authenticator(cfg.AdminToken)
	if err != nil {
		return nil, err
	}

	// The durable ledger answers GET /v1/orders/{id} for confirmed orders and
	// keeps the sale definitions the admin PUT writes.
	var orders httpapi.OrderStore
	var sales httpapi.SaleStore
	if cfg.PostgresURL != "" {
		pool, err := pgxpool.New(ctx, cfg.PostgresURL)
		if err != nil {
			return nil, fmt.Errorf("postgres: %w", err)
		}
		a.closers = append(a.closers, pool.Close)
		pg := pgstore.New(pool)
		orders, sales = pg, pg
		// A sale PostgreSQL defines but Redis lacks was lost by Redis: its
		// orders and reads answer 503 ledger_rebuilding, not 404, and this
		// instance rebuilds it (one instance at a time, by lease) once the
		// pipeline drained.
		auto := rebuild.NewAuto(ctx, &rebuild.Rebuilder{Ledger: store, Durable: pg, Settle: cfg.PublishTimeout + time.Second,
			Lag: rebuild.KafkaLag(a.producer.Admin(), cfg.WriterGroup, cfg.OrdersTopic)}, store.RebuildLease,
			func(sale string, snap pgstore.Snapshot, took time.Duration, err error) {
				if err != nil {
					log.Error("rebuilding a sale Redis lost failed; the next order retries", "sale_id", sale, "err", err)
					return
				}
				log.Warn("rebuilt a sale Redis lost, from PostgreSQL", "sale_id", sale, "orders", len(snap.Orders),
					"units", snap.Units(), "took", took)
			})
		store.WithDefinitions(pg).OnLost(auto.Trigger).WithNodeWatch(node)
	}

	reg.MustRegister(reservation.NewCollector(store))
	httpMetrics := telemetry.NewHTTPMetrics(reg)
	placer := checkout.New(drillLedger(store, log), a.producer,
		checkout.Config{ReplayWait: cfg.PublishTimeout + 2*time.Second}, log)
	a.holds = checkout.NewHolds(store, a.producer, log.With("component", "holds"))
	a.holdMetrics = checkout.NewHoldMetrics(reg)
	api := httpapi.New(httpapi.Deps{
		Checkout: placer, Ledger: store, Orders: orders, Sales: sales, Auth: auth, Log: log, Holds: a.holds,
		Metrics: httpapi.NewMetrics(reg),
		Ready: map[string]httpapi.Checker{
			"redis": func(ctx context.Context) error { return rdb.Do(ctx, rdb.B().Ping().Build()).Error() },
			"kafka": a.producer.Ping,
		},
		Middleware:   []func(http.Handler) http.Handler{telemetry.ServerSpansTrusting(cfg.TraceTrusted), httpMetrics.Middleware},
		SaleCacheTTL: cfg.SaleReadCache,
		AuthLimit:    cfg.AuthLimit(),
	})
	a.relay = checkout.NewRelay(store, a.producer, checkout.RelayConfig{
		Threshold: cfg.RelayThreshold, Interval: cfg.RelayInterval, Lease: 2 * cfg.PublishTimeout,
	}, log.With("component", "relay"))

	a.api = &http.Server{Addr: cfg.HTTPAddr, Handler: api.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	var ops http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
	if cfg.Pprof {
		ops = telemetry.WithPprof(ops)
	}
	a.ops = &http.Server{Addr: cfg.MetricsAddr, ReadHeaderTimeout: 5 * time.Second, Handler: ops}
	return a, nil
}

// close releases the clients (after serve returned).
func (a *app) close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// serve listens and runs the relay until ctx ends or a listener fails, then
// shuts down within BLITZBUY_SHUTDOWN_TIMEOUT: stop accepting, let in-flight
// requests finish (they publish and wait for acks), stop the relay, flush
// the producer.
func (a *app) serve(ctx context.Context) error {
	servers := []*http.Server{a.api, a.ops}
	listeners := make([]net.Listener, len(servers))
	for i, s := range servers {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.Addr, err)
		}
		a.log.Info("listening", "addr", ln.Addr().String())
		listeners[i] = ln
	}
	// The relay outlives the request context: it stops only after the API
	// drained, so orders stranded meanwhile still have an owner.
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan struct{})
	go func() {
		defer close(relayDone)
		var wg sync.WaitGroup
		wg.Go(func() { a.relay.Run(relayCtx) })
		// The checkout window's sweeper and the relay of its transitions.
		wg.Go(func() { a.holds.RunExpiry(relayCtx, expirySweep, expiryBatch, a.holdMetrics) })
		wg.Go(func() {
			a.holds.RunRepublish(relayCtx, a.cfg.RelayInterval, a.cfg.RelayThreshold, expiryBatch)
		})
		wg.Wait()
	}()

	g, gctx := errgroup.WithContext(ctx)
	for i, s := range servers {
		g.Go(func() error {
			if err := s.Serve(listeners[i]); !errors.Is(err, http.ErrServerClosed) {
				return fmt.Errorf("serve %s: %w", s.Addr, err)
			}
			return nil
		})
	}
	g.Go(func() error {
		<-gctx.Done()
		a.log.Info("shutting down: draining requests")
		sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
		defer cancel()
		if err := a.api.Shutdown(sctx); err != nil {
			a.log.Error("http shutdown", "err", err)
		}
		stopRelay()
		<-relayDone
		if err := a.producer.Close(sctx); err != nil {
			a.log.Error("producer flush", "err", err)
		}
		_ = a.ops.Shutdown(sctx)
		a.log.Info("stopped")
		return nil
	})
	return g.Wait()
}
