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
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/httpapi"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/publish"
	"github.com/blitzbuy/blitzbuy/services/internal/ratelimit"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
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

	rdb, err := rueidis.NewClient(rueidis.ClientOption{
		InitAddress: []string{cfg.RedisAddr},
		SelectDB:    cfg.RedisDB,
		// Auto-pipelining: concurrent requests share one connection's writes.
		// The default already pipelines; say so explicitly.
		DisableAutoPipelining: false,
		ConnWriteTimeout:      2 * time.Second,
	})
	if err != nil {
		return fmt.Errorf("redis %s: %w", cfg.RedisAddr, err)
	}
	defer rdb.Close()

	traced := telemetry.TraceRedis(rdb, cfg.RedisAddr)
	store, err := reservation.New(traced, reservation.Config{IdempotencyTTL: cfg.IdempotencyTTL})
	if err != nil {
		return err
	}
	limiter, err := ratelimit.New(traced, cfg.RateLimit, cfg.RateWindow)
	if err != nil {
		return err
	}
	reg := telemetry.NewRegistry()
	_, kafkaHooks := telemetry.Kafka(reg)
	producer, err := publish.NewProducer(publish.Config{
		Brokers: cfg.KafkaBrokers, Topic: cfg.OrdersTopic, DeliveryTimeout: cfg.PublishTimeout, Linger: cfg.PublishLinger,
		Opts:    []kgo.Opt{kafkaHooks},
		Metrics: publish.NewMetrics(reg),
	})
	if err != nil {
		return err
	}
	auth, err := httpapi.NewAuthenticator(cfg.JWTSecret, cfg.AdminToken)
	if err != nil {
		return err
	}

	// The durable ledger answers GET /v1/orders/{id} for confirmed orders.
	var orders httpapi.OrderStore
	if cfg.PostgresURL != "" {
		pool, err := pgxpool.New(ctx, cfg.PostgresURL)
		if err != nil {
			return fmt.Errorf("postgres: %w", err)
		}
		defer pool.Close()
		orders = pgstore.New(pool)
	}

	reg.MustRegister(reservation.NewCollector(store))
	httpMetrics := telemetry.NewHTTPMetrics(reg)

	deps := httpapi.Deps{
		Reserver: store, Publisher: producer, Limiter: limiter, Orders: orders, Auth: auth, Log: log,
		Metrics: httpapi.NewMetrics(reg),
		Ready: map[string]httpapi.Checker{
			"redis": func(ctx context.Context) error { return rdb.Do(ctx, rdb.B().Ping().Build()).Error() },
			"kafka": producer.Ping,
		},
		Middleware: []func(http.Handler) http.Handler{telemetry.ServerSpans, httpMetrics.Middleware},
	}
	if cfg.TestCrashAfterReserve {
		log.Warn("BLITZBUY_TEST_CRASH_AFTER_RESERVE is set: the process kills itself after its first reservation")
		deps.AfterReserve = func(o order.Order) {
			log.Warn("test hook: SIGKILL after reserve", "order_id", o.ID)
			_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
			select {} // never publish
		}
	}
	api := httpapi.New(deps, httpapi.Options{ReplayWait: cfg.PublishTimeout + 2*time.Second})

	relay := publish.NewRelay(store, producer, publish.RelayConfig{
		Threshold: cfg.RelayThreshold, Interval: cfg.RelayInterval, Lease: 2 * cfg.PublishTimeout,
	}, log.With("component", "relay"))
	relayCtx, stopRelay := context.WithCancel(context.WithoutCancel(ctx))
	defer stopRelay()
	relayDone := make(chan struct{})
	go func() { defer close(relayDone); relay.Run(relayCtx) }()

	srv := &http.Server{Addr: cfg.HTTPAddr, Handler: api.Handler(), ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout: 10 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second}
	var admin http.Handler = promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg})
	if cfg.Pprof {
		admin = telemetry.WithPprof(admin)
	}
	metrics := &http.Server{Addr: cfg.MetricsAddr, ReadHeaderTimeout: 5 * time.Second, Handler: admin}

	errc := make(chan error, 2)
	for _, s := range []*http.Server{srv, metrics} {
		ln, err := net.Listen("tcp", s.Addr)
		if err != nil {
			return fmt.Errorf("listen %s: %w", s.Addr, err)
		}
		log.Info("listening", "addr", ln.Addr().String())
		go func() {
			if err := s.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
				errc <- err
			}
		}()
	}

	select {
	case <-ctx.Done():
		log.Info("shutting down: draining requests")
	case err := <-errc:
		log.Error("server failed", "err", err)
	}
	// Stop accepting, let in-flight requests finish (they publish and wait for
	// acks), then stop the relay, flush the producer and close.
	sctx, cancel := context.WithTimeout(context.Background(), cfg.ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Error("http shutdown", "err", err)
	}
	stopRelay()
	<-relayDone
	if err := producer.Close(sctx); err != nil {
		log.Error("producer flush", "err", err)
	}
	_ = metrics.Shutdown(sctx)
	log.Info("stopped")
	return nil
}
