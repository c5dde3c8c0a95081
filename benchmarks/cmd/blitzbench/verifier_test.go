//go:build loadtest

package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/verify"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/localenv"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// TestVerifierCatchesOversell proves the harness can fail: order-api built
// with -tags brokenreserve checks the stock and decrements it in two Redis
// calls, and blitzbench must fail hot-item with an I1 oversell report naming
// orders. The same scenario against the real build must pass every
// invariant, so the failure is the broken script's and not the harness's.
//
// It loads the shared stack hard for a few seconds, so it runs in
// `go tool task test:load`, serially, never beside other tests.
func TestVerifierCatchesOversell(t *testing.T) {
	root := localenv.Root(t)
	stack := localenv.Stack(t, root)
	env := localenv.Environ(stack)
	bin := t.TempDir()
	proc.Build(t, root, filepath.Join(bin, "blitzbench"), "./benchmarks/cmd/blitzbench")
	proc.Build(t, root, filepath.Join(bin, "orderwriter"), "./services/cmd/orderwriter")
	proc.Build(t, root, filepath.Join(bin, "orderapi"), "./services/cmd/orderapi")
	proc.Build(t, root, filepath.Join(bin, "orderapi-broken"), "./services/cmd/orderapi", "-tags", "brokenreserve")

	secret, admin := testkit.RandHex(32), testkit.RandHex(16)
	group := "order-writer-bench-verifier"
	common := append(env, "BLITZBUY_LOG_LEVEL=warn", "OTEL_TRACES_SAMPLER=always_off", "BLITZBUY_METRICS_ADDR=127.0.0.1:0")
	proc.Start(t, filepath.Join(bin, "orderwriter"), append(common, "BLITZBUY_WRITER_GROUP="+group)...)

	run := func(api string) (*results.File, string, error) {
		addr := proc.FreeAddr(t)
		apiProc := proc.Start(t, filepath.Join(bin, api), append(common, "BLITZBUY_HTTP_ADDR="+addr,
			"BLITZBUY_JWT_SECRET="+secret, "BLITZBUY_ADMIN_TOKEN="+admin, "BLITZBUY_RATE_LIMIT=0",
			// Other tests' deliberately stranded orders are not this relay's to publish.
			"BLITZBUY_RELAY_THRESHOLD=10m")...)
		defer apiProc.Stop()
		proc.WaitReady(t, "http://"+addr+"/readyz", 30*time.Second)
		out := t.TempDir()
		cmd := exec.Command(filepath.Join(bin, "blitzbench"), "run", "--calibrate-seconds", "0.5", "--drain-timeout", "60s",
			"--out", out, filepath.Join(root, "benchmarks/cmd/blitzbench/testdata/oversell.yaml"))
		cmd.Dir = root
		cmd.Env = append(append(os.Environ(), env...), "BLITZBUY_API_URL=http://"+addr, "BLITZBUY_JWT_SECRET="+secret,
			"BLITZBUY_ADMIN_TOKEN="+admin, "BLITZBUY_WRITER_GROUP="+group)
		var buf bytes.Buffer
		cmd.Stdout, cmd.Stderr = &buf, &buf
		err := cmd.Run()
		f, rerr := results.Read(filepath.Join(out, "results.json"))
		if rerr != nil {
			t.Fatalf("%s: no results.json (%v); blitzbench said:\n%s", api, rerr, buf.String())
		}
		return f, buf.String(), err
	}

	t.Run("broken reservation fails I1", func(t *testing.T) {
		f, out, err := run("orderapi-broken")
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 {
			t.Fatalf("blitzbench exit = %v, want exit status 1 (a failed run); output:\n%s", err, out)
		}
		i1 := invariant(t, f, "I1")
		if i1.Pass || len(i1.Offending) == 0 {
			t.Fatalf("I1 = %+v, want a failure naming the oversold orders; output:\n%s", i1, out)
		}
		if !strings.Contains(out, "I1 no oversell") || !strings.Contains(out, i1.Offending[0]) {
			t.Errorf("the terminal summary does not report the oversell and its first order id %q:\n%s", i1.Offending[0], out)
		}
		if f.Pass || f.Scenarios[0].Pass {
			t.Errorf("results.json says pass = %v / %v with I1 broken", f.Pass, f.Scenarios[0].Pass)
		}
		t.Logf("I1: %s; offending %v", i1.Detail, i1.Offending[:min(3, len(i1.Offending))])
	})

	t.Run("real reservation passes", func(t *testing.T) {
		f, out, err := run("orderapi")
		for _, id := range []string{"I1", "I2", "I3", "I4", "I5"} {
			if inv := invariant(t, f, id); !inv.Pass {
				t.Errorf("%s = %+v, want pass", id, inv)
			}
		}
		if err != nil {
			t.Errorf("blitzbench exit = %v, want 0; output:\n%s", err, out)
		}
		if got := f.Scenarios[0].Outcomes["accepted"]; got != 100 {
			t.Errorf("accepted = %d, want exactly the stock, 100", got)
		}
		// The generator is always measured (the stack's processes only when
		// their pid files are there, and this test's order-api is not the
		// stack's).
		if c := f.Scenarios[0].CPU; c == nil || c.Requests == 0 || !has(c.USPerRequest, "generator") {
			t.Errorf("cpu = %+v, want the generator's µs per request", c)
		}
		// The run removed its sale from Redis (verify.Cleanup names the keys
		// the way the services lay them out: a layout change leaks here).
		check, err := verify.New(context.Background(), verifyConfig(stack))
		if err != nil {
			t.Fatal(err)
		}
		defer check.Close()
		left, err := check.Leftovers(context.Background(), f.Scenarios[0].SaleID)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) > 0 {
			t.Errorf("keys of sale %s left in Redis after the run: %v", f.Scenarios[0].SaleID, left)
		}
	})
}

func has(m map[string]float64, k string) bool { _, ok := m[k]; return ok }

// verifyConfig is a verify.Config for the stack's settings.
func verifyConfig(stack map[string]string) verify.Config {
	return verify.Config{PostgresURL: stack["BLITZBUY_POSTGRES_URL"], RedisAddr: stack["BLITZBUY_REDIS_ADDR"],
		Brokers: strings.Split(stack["BLITZBUY_KAFKA_BROKERS"], ","), Group: "order-writer", Topic: "orders"}
}
