// Command orderwriter persists OrderPlaced events from Kafka into PostgreSQL
// (the write-behind half of BlitzBuy).
//
//	orderwriter            migrate, then consume until SIGTERM
//	orderwriter migrate    apply the schema migrations and exit
//	orderwriter -healthcheck   GET /healthz on the metrics listener (containers)
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
	"syscall"
	"time"

	"github.com/exaring/otelpgx"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kotel"

	"github.com/blitzbuy/blitzbuy/services/internal/config"
	"github.com/blitzbuy/blitzbuy/services/internal/pgstore"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/services/internal/telemetry"
	"github.com/blitzbuy/blitzbuy/services/internal/writer"
	"github.com/blitzbuy/blitzbuy/testkit/redisaddr"
)

var version = "dev"

func main() {
	healthcheck := flag.Bool("healthcheck", false, "GET /healthz on BLITZBUY_METRICS_ADDR and exit 0 when it answers 200")
	flag.Parse()
	if *healthcheck {
		os.Exit(probe())
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "orderwriter:", err)
		os.Exit(1)
	}
}

func probe() int {
	addr := os.Getenv("BLITZBUY_METRICS_ADDR")
	if addr == "" {
		addr = "127.0.0.1:9465"
	}
	return telemetry.Probe(addr)
}

func run(ctx context.Context, args []string) error {
	cfg, err := config.LoadWriter()
	if err != nil {
		return err
	}
	log, stopTracing, err := telemetry.Start(ctx, os.Stdout, "order-writer", version, cfg.LogLevel)
	if err != nil {
		return err
	}
	defer stopTracing()
	log.Info("starting", append([]any{"version", version}, config.Masked(cfg)...)...)

	v, err := migrateWithRetry(ctx, cfg.PostgresURL, log)
	if err != nil {
		return err
	}
	log.Info("schema migrated", "version", v)
	if len(args) > 0 && args[0] == "migrate" {
		return nil
	}

	poolCfg, err := pgxpool.ParseConfig(cfg.PostgresURL)
	if err != nil {
		return fmt.Errorf("BLITZBUY_POSTGRES_URL: %w", err)
	}
	poolCfg.MaxConns = cfg.PostgresConns
	poolCfg.ConnConfig.Tracer = otelpgx.NewTracer() // Postgres spans under the batch insert span
	pool, err := pgxpool.NewWithConfig(ctx, poolCfg)
	if err != nil {
		return fmt.Errorf("postgres: %w", err)
	}
	defer pool.Close()

	ropt, err := cfg.RedisOption()
	if err != nil {
		return err
	}
	rdb, err := rueidis.NewClient(ropt)
	if err != nil {
		return fmt.Errorf("redis %s: %w", redisaddr.Redact(cfg.RedisAddr), err)
	}
	defer rdb.Close()
	ledger, err := reservation.New(telemetry.TraceRedis(rdb, redisaddr.Redact(cfg.RedisAddr)), cfg.Reservation())
	if err != nil {
		return err
	}

	reg := telemetry.NewRegistry()
	store := pgstore.New(pool)
	reg.MustRegister(pgstore.NewCollector(store))
	kafkaTracer, kafkaHooks := telemetry.Kafka(reg, kotel.ConsumerGroup(cfg.WriterGroup))
	wcfg := cfg.WriterConfig()
	wcfg.Tracer, wcfg.Opts = kafkaTracer, []kgo.Opt{kafkaHooks}
	w, err := writer.New(wcfg, store, ledger, writer.NewMetrics(reg), log)
	if err != nil {
		return err
	}

	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{EnableOpenMetrics: true, Registry: reg}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("ok\n")) })
	mux.HandleFunc("GET /readyz", func(rw http.ResponseWriter, r *http.Request) {
		if !w.Ready() {
			http.Error(rw, "retrying a failed batch (see logs)", http.StatusServiceUnavailable)
			return
		}
		_, _ = rw.Write([]byte("ok\n"))
	})
	var admin http.Handler = mux
	if cfg.Pprof {
		admin = telemetry.WithPprof(mux)
	}
	srv := &http.Server{Addr: cfg.MetricsAddr, Handler: admin, ReadHeaderTimeout: 5 * time.Second}
	ln, err := net.Listen("tcp", cfg.MetricsAddr)
	if err != nil {
		return fmt.Errorf("listen %s: %w", cfg.MetricsAddr, err)
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("metrics listener", "err", err)
		}
	}()
	lagCtx, stopLag := context.WithCancel(ctx)
	defer stopLag()
	go w.ReportLag(lagCtx, 5*time.Second)

	log.Info("consuming", "topic", cfg.OrdersTopic, "group", cfg.WriterGroup, "metrics", ln.Addr().String())
	err = w.Run(ctx)
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	log.Info("stopped", "err", err)
	return err
}

// migrateWithRetry waits for the database at start (it may still be coming up).
func migrateWithRetry(ctx context.Context, url string, log *slog.Logger) (int32, error) {
	for attempt := 1; ; attempt++ {
		v, err := pgstore.Migrate(ctx, url)
		if err == nil || attempt >= 30 || ctx.Err() != nil {
			return v, err
		}
		log.Warn("migration failed, retrying", "attempt", attempt, "err", err)
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(time.Second):
		}
	}
}
