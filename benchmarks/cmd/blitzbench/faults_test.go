//go:build faults

package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/localenv"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// TestFaultRedisLosesEverything: Redis loses all its data in the middle of a
// sale (FLUSHALL). The sale answers ledger_rebuilding while order-api
// rebuilds it from PostgreSQL, then sells on; blitzbench's verifier then
// checks I1-I5 over the whole run: nothing oversold, no 202 lost, replays
// intact, no stock leaked. It empties the shared Redis, so it runs in
// `go tool task test:faults`, alone.
func TestFaultRedisLosesEverything(t *testing.T) {
	redisLossDrill(t, "redis-loss.yaml", func(t *testing.T, root string, rdb rueidis.Client) error {
		return rdb.Do(context.Background(), rdb.B().Flushall().Build()).Error()
	})
}

// TestFaultRedisRestartsWithoutItsAOF: the same, but Redis is stopped, its
// append-only file deleted and Redis started again, empty (a host that lost
// its disk, a container without its volume). Orders answer unavailable
// while Redis is away, then ledger_rebuilding, then sell on.
func TestFaultRedisRestartsWithoutItsAOF(t *testing.T) {
	redisLossDrill(t, "redis-restart.yaml", func(t *testing.T, root string, _ rueidis.Client) error {
		stack := filepath.Join(root, "infra", "local", "stack.sh")
		t.Cleanup(func() { _ = exec.Command("bash", stack, "up", "redis").Run() }) // restore even on failure
		if out, err := exec.Command("bash", stack, "down", "redis").CombinedOutput(); err != nil {
			return fmt.Errorf("stack.sh down redis: %v\n%s", err, out)
		}
		// The AOF only: the directory keeps its owner (the user Redis runs as).
		if err := os.RemoveAll(filepath.Join(stateDir(root), "data", "redis", "appendonlydir")); err != nil {
			return err
		}
		if out, err := exec.Command("bash", stack, "up", "redis").CombinedOutput(); err != nil {
			return fmt.Errorf("stack.sh up redis: %v\n%s", err, out)
		}
		return nil
	})
}

// stateDir is where the local stack keeps its state (infra/local/lib.sh).
func stateDir(root string) string {
	if d := os.Getenv("BLITZBUY_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".local")
}

// redisLossDrill runs the real services and blitzbench on a scenario file of
// testdata/, calls lose 4 s into its load, and checks I1-I5 over the run.
func redisLossDrill(t *testing.T, scenario string, lose func(t *testing.T, root string, rdb rueidis.Client) error) {
	root := localenv.Root(t)
	stack := localenv.Stack(t, root)
	env := localenv.Environ(stack)
	bin := t.TempDir()
	for _, c := range []string{"orderapi", "orderwriter"} {
		proc.Build(t, root, filepath.Join(bin, c), "./services/cmd/"+c)
	}
	proc.Build(t, root, filepath.Join(bin, "blitzbench"), "./benchmarks/cmd/blitzbench")

	secret, admin := testkit.RandHex(32), testkit.RandHex(16)
	// A group of its own, kept between runs: a new one would first read the
	// whole orders topic of the machine.
	group := "order-writer-redis-loss"
	common := append(env, "BLITZBUY_LOG_LEVEL=warn", "OTEL_TRACES_SAMPLER=always_off", "BLITZBUY_METRICS_ADDR=127.0.0.1:0",
		"BLITZBUY_WRITER_GROUP="+group)
	writer := proc.Start(t, filepath.Join(bin, "orderwriter"), common...)
	defer writer.Stop()
	addr := proc.FreeAddr(t)
	api := proc.Start(t, filepath.Join(bin, "orderapi"), append(common, "BLITZBUY_HTTP_ADDR="+addr,
		"BLITZBUY_JWT_SECRET="+secret, "BLITZBUY_ADMIN_TOKEN="+admin, "BLITZBUY_RATE_LIMIT=0")...)
	defer api.Stop()
	proc.WaitReady(t, "http://"+addr+"/readyz", 30*time.Second)

	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{stack["BLITZBUY_REDIS_ADDR"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()

	out := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "blitzbench"), "run", "--calibrate-seconds", "0.5", "--drain-timeout", "90s",
		"--out", out, filepath.Join(root, "benchmarks/cmd/blitzbench/testdata", scenario))
	cmd.Dir = root
	cmd.Env = append(append(os.Environ(), env...), "BLITZBUY_API_URL=http://"+addr, "BLITZBUY_JWT_SECRET="+secret,
		"BLITZBUY_ADMIN_TOKEN="+admin, "BLITZBUY_WRITER_GROUP="+group)
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The load starts after the calibration and the warm-up; empty Redis
	// once orders have been accepted for a few seconds.
	flushed := make(chan error, 1)
	go func() {
		deadline := time.Now().Add(3 * time.Minute)
		started := []byte(strings.TrimSuffix(scenario, ".yaml") + ": 400 req/s for 20 s") // the file's name is its scenario's
		for !bytes.Contains(buf.Bytes(), started) {
			if time.Now().After(deadline) {
				flushed <- fmt.Errorf("the load did not start within 3 minutes")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		time.Sleep(4 * time.Second)
		flushed <- lose(t, root, rdb)
	}()
	runErr := cmd.Wait()
	if err := <-flushed; err != nil {
		t.Fatalf("losing Redis's data: %v; blitzbench said:\n%s", err, buf.String())
	}
	f, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("no results.json (%v); blitzbench said:\n%s", err, buf.String())
	}
	sc := f.Scenarios[0]
	t.Logf("outcomes %v; drain %.1f s", sc.Outcomes, sc.Drain.Seconds)
	for _, id := range []string{"I1", "I2", "I3", "I4", "I5"} {
		if inv := invariant(t, f, id); !inv.Pass {
			t.Errorf("%s = %+v, want pass", id, inv)
		}
	}
	if sc.Outcomes["ledger_rebuilding"] == 0 {
		t.Errorf("no ledger_rebuilding answer: the flush did not hit the sale (output:\n%s)", buf.String())
	}
	if runErr != nil {
		t.Errorf("blitzbench exit = %v, want 0; output:\n%s", runErr, buf.String())
	}
}

// lockedBuffer is a bytes.Buffer the command writes while the test reads it.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// Bytes is a copy of what was written so far.
func (b *lockedBuffer) Bytes() []byte {
	b.mu.Lock()
	defer b.mu.Unlock()
	return bytes.Clone(b.buf.Bytes())
}

func (b *lockedBuffer) String() string { return string(b.Bytes()) }
