// Command blitzbench is BlitzBuy's load harness: it drives the real order API
// with open-model load (every request a real order: its own user JWT, its own
// Idempotency-Key, real JSON), waits for the pipeline to drain, checks the
// invariants I1–I5 against PostgreSQL, Redis and the API's answers, and
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
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/benchmarks/scenarios"
)

const usage = `usage:
  blitzbench run [--out DIR] [--scale F] [scenario|file.yaml ...]
  blitzbench gate [--out DIR] [--reps N] [--baseline FILE] [--write-baseline]
  blitzbench compare [--tolerance 0.1] BASELINE.json RESULTS.json
  blitzbench calibrate [--seconds 3]
  blitzbench list`

// errFailed marks a run that completed but did not pass: exit 1 without a
// second error line.
var errFailed = errors.New("failed")

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:])
	stop()
	switch {
	case errors.Is(err, errFailed):
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
		c, err := calibrate(ctx, seconds(*secs), newSigner([]byte("calibration"), time.Hour))
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
	case "refserver":
		return serveRef(ctx, args[1:])
	case "-h", "--help", "help":
		fmt.Println(usage)
		return nil
	}
	return fmt.Errorf("unknown command %q\n%s", args[0], usage)
}

func seconds(s float64) time.Duration { return time.Duration(s * float64(time.Second)) }

// settings is the stack blitzbench talks to.
type settings struct {
	api        *url.URL
	apiAddr    string
	secret     []byte
	adminToken string
	verify     verify.Config
}

// loadSettings reads the environment and refuses any API that is not on
// this machine: load tests only ever target loopback.
func loadSettings() (*settings, error) {
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
	return &settings{
		api: u, apiAddr: addr, secret: []byte(get("BLITZBUY_JWT_SECRET")), adminToken: get("BLITZBUY_ADMIN_TOKEN"),
		verify: verify.Config{
			PostgresURL: get("BLITZBUY_POSTGRES_URL"), RedisAddr: get("BLITZBUY_REDIS_ADDR"), RedisDB: db,
			Brokers: strings.Split(get("BLITZBUY_KAFKA_BROKERS"), ","), Group: group, Topic: "orders",
		},
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
	return regressed(ds)
}

// regressed prints and fails on regressed deltas.
func regressed(ds []results.Delta) error {
	n := 0
	for _, d := range ds {
		if d.Regressed {
			n++
		}
	}
	if n > 0 {
		fmt.Printf("\n%d metric(s) regressed beyond the tolerance\n", n)
		return errFailed
	}
	fmt.Println("\nno regression beyond the tolerance")
	return nil
}
