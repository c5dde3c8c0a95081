// Command blitzbench is BlitzBuy's load harness: it drives the real order API
// with open-model load (every request a real order: its own user JWT, its own
// Idempotency-Key, real JSON), waits for the pipeline to drain, checks the
// invariants I1–I5 (and I6 for a sale with a checkout window) against PostgreSQL, Redis and the API's answers, and
// reports against a calibrated ceiling measured in the same run.
//
//	blitzbench run [flags] [scenario|file.yaml ...]   run scenarios (default: all built in)
//	blitzbench gate [flags]                           the short CI regression gate
//	blitzbench compare [--tolerance 0.1] base.json new.json
//	blitzbench calibrate                              measure the bare ceiling only
//	blitzbench list                                   the built-in scenarios
//
// Settings come from the environment `go tool task run` writes to .local/env.
// Load only ever targets loopback addresses.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/calibrate"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/gate"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/refserver"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/requests"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/suite"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

const usage = `usage:
  blitzbench run [--out DIR] [--scale F] [scenario|file.yaml ...]
  blitzbench gate [--out DIR] [--reps N] [--baseline FILE] [--write-baseline]
  blitzbench compare [--tolerance 0.1] BASELINE.json RESULTS.json
  blitzbench calibrate [--seconds 3]
  blitzbench list`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, suite.ErrFailed):
		os.Exit(1)
	case err != nil:
		fmt.Fprintln(os.Stderr, "blitzbench:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string) error {
	if len(args) == 0 {
		return errors.New(usage)
	}
	switch args[0] {
	case "run":
		return cmdRun(ctx, args[1:])
	case "gate":
		return cmdGate(ctx, args[1:])
	case "compare":
		return cmdCompare(args[1:])
	case "calibrate":
		fs := flag.NewFlagSet("calibrate", flag.ContinueOnError)
		secs := fs.Float64("seconds", 3, "calibration length")
		if err := fs.Parse(args[1:]); err != nil {
			return err
		}
		c, err := calibrate.Run(ctx, seconds(*secs), requests.NewSigner([]byte("calibration"), time.Hour))
		if err != nil {
			return err
		}
		fmt.Printf("ceiling %.0f req/s (%d connections, %.1f s), p50 %.3f ms, p99 %.3f ms, generator CPU %.0f %%\n",
			c.CeilingRPS, c.Connections, c.Seconds, c.Latency.P50Ms, c.Latency.P99Ms, 100*c.GeneratorCPUShare)
		return nil
	case "list":
		for _, n := range scenarios.Names() {
			s, err := scenarios.Load(n)
			if err != nil {
				return err
			}
			fmt.Printf("%-12s v%d  %s\n", s.Name, s.Version, s.Description)
		}
		return nil
	case calibrate.Command:
		return serveRef(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func cmdRun(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	out := fs.String("out", "", "directory for results.json and report.html (default .local/bench/<time>)")
	scale := fs.Float64("scale", 1, "multiply every stage's (and search step's) duration: 0.25 for a quick look")
	calSecs := fs.Float64("calibrate-seconds", 3, "length of the calibration run")
	drain := fs.Duration("drain-timeout", 90*time.Second, "longest wait, after the load, for the outbox, Kafka and PostgreSQL to catch up")
	keep := fs.Bool("keep-keys", false, "leave each verified sale's keys in Redis (idempotency records live 24 h) instead of removing them")
	if err := fs.Parse(args); err != nil {
		return err
	}
	names := fs.Args()
	if len(names) == 0 {
		names = scenarios.Default()
	}
	scs, err := suite.Load(names)
	if err != nil {
		return err
	}
	b, f, err := start(ctx, "run "+strings.Join(names, " "), *scale, seconds(*calSecs))
	if err != nil {
		return err
	}
	defer b.Close()
	b.DrainTimeout, b.KeepKeys = *drain, *keep
	if err := b.Run(ctx, scs, f); err != nil {
		return err
	}
	return suite.Finish(f, *out)
}

func cmdGate(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("gate", flag.ContinueOnError)
	out := fs.String("out", "", "directory for results.json and report.html (default .local/bench/gate-<time>)")
	reps := fs.Int("reps", 7, "repetitions; the gate compares their medians")
	baseline := fs.String("baseline", "benchmarks/baselines/gate.json", "results file to compare with")
	write := fs.Bool("write-baseline", false, "write this run as the new baseline instead of comparing")
	keep := fs.Bool("keep-keys", false, "leave each verified sale's keys in Redis")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *reps < 1 {
		return fmt.Errorf("--reps must be >= 1")
	}
	return gate.Run(ctx, gate.Config{Out: *out, Reps: *reps, Baseline: *baseline, WriteBaseline: *write, KeepKeys: *keep}, start)
}

// start reads the settings and hands them to suite.Start: the environment is
// the command's to read.
func start(ctx context.Context, command string, scale float64, calib time.Duration) (*suite.Bench, *results.File, error) {
	st, err := loadSettings()
	if err != nil {
		return nil, nil, err
	}
	return suite.Start(ctx, st, command, scale, calib)
}

// serveRef is the hidden `blitzbench refserver` subcommand, the process
// calibrate.Run starts.
func serveRef(ctx context.Context, args []string) error {
	addr := "127.0.0.1:0"
	if len(args) == 2 && args[0] == "--addr" {
		addr = args[1]
	}
	return refserver.Serve(ctx, addr, func(a string) { fmt.Println(a) })
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// loadSettings reads the environment and refuses any API that is not on
// this machine: load tests only ever target loopback.
func loadSettings() (*suite.Settings, error) {
	get := func(k string) string { return os.Getenv(k) }
	var missing []string
	for _, k := range []string{"BLITZBUY_API_URL", "BLITZBUY_JWT_SECRET", "BLITZBUY_ADMIN_TOKEN", "BLITZBUY_POSTGRES_URL", "BLITZBUY_REDIS_ADDR", "BLITZBUY_KAFKA_BROKERS"} {
		if get(k) == "" {
			missing = append(missing, k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%s not set: run `go tool task run`, then `source .local/env`", strings.Join(missing, ", "))
	}
	u, err := url.Parse(get("BLITZBUY_API_URL"))
	if err != nil || u.Scheme != "http" || u.Host == "" {
		return nil, fmt.Errorf("BLITZBUY_API_URL %q: want http://host:port", get("BLITZBUY_API_URL"))
	}
	host := u.Hostname()
	if ip := net.ParseIP(host); host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return nil, fmt.Errorf("BLITZBUY_API_URL %q: blitzbench only loads this machine (127.0.0.1 or localhost)", u)
	}
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(host, "80")
	}
	db := 0
	if v := get("BLITZBUY_REDIS_DB"); v != "" {
		if db, err = strconv.Atoi(v); err != nil {
			return nil, fmt.Errorf("BLITZBUY_REDIS_DB %q: %w", v, err)
		}
	}
	group := get("BLITZBUY_WRITER_GROUP")
	if group == "" {
		group = "order-writer"
	}
	// The stack's state directory, as infra/local/lib.sh picks it; blitzbench
	// runs from the repository's root, like the .local/bench it writes.
	state := get("BLITZBUY_STATE_DIR")
	if state == "" {
		state = ".local"
	}
	var factor float64
	switch p := get("BLITZBUY_PROFILE"); p {
	case "", "default":
	case "cluster":
		factor = suite.ClusterRateFactor
	default:
		return nil, fmt.Errorf("BLITZBUY_PROFILE %q: want default or cluster", p)
	}
	return &suite.Settings{
		RateFactor: factor,
		API:        u, APIAddr: addr, Secret: []byte(get("BLITZBUY_JWT_SECRET")), AdminToken: get("BLITZBUY_ADMIN_TOKEN"),
		Verify: verify.Config{
			PostgresURL: get("BLITZBUY_POSTGRES_URL"), RedisAddr: get("BLITZBUY_REDIS_ADDR"), RedisDB: db,
			Brokers: strings.Split(get("BLITZBUY_KAFKA_BROKERS"), ","), Group: group, Topic: "orders",
		},
		RunDir: filepath.Join(state, "run"),
	}, nil
}

func cmdCompare(args []string) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	tol := fs.Float64("tolerance", 0.10, "relative change allowed in the bad direction before a metric counts as a regression")
	metrics := fs.String("metrics", "", "comma-separated metrics to compare (default: every directional metric of the baseline)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 2 {
		return errors.New(usage)
	}
	base, err := results.Read(fs.Arg(0))
	if err != nil {
		return err
	}
	cur, err := results.Read(fs.Arg(1))
	if err != nil {
		return err
	}
	var names []string
	if *metrics != "" {
		names = strings.Split(*metrics, ",")
	}
	ds, err := results.Compare(base, cur, results.Tolerance{Default: *tol}, names)
	if err != nil {
		return err
	}
	results.WriteDeltaTable(os.Stdout, ds)
	return gate.Regressed(ds)
}
