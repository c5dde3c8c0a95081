//go:build faults

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/testkit/localenv"
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

// redisLossDrill runs the real services and blitzbench on a scenario file of
// testdata/, calls lose 4 s into its load, and checks I1-I5 over the run.
func redisLossDrill(t *testing.T, scenario string, lose func(t *testing.T, root string, rdb rueidis.Client) error) {
	root := localenv.Root(t)
	stack := localenv.Stack(t, root)
	bin, env := drillServices(t, root, stack)
	rdb, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{stack["BLITZBUY_REDIS_ADDR"]}})
	if err != nil {
		t.Fatal(err)
	}
	defer rdb.Close()
	// Empty Redis once orders have been accepted for a few seconds.
	sc, out := benchDrill(t, root, bin, env, strings.TrimSuffix(scenario, ".yaml"), "90s", func() error {
		time.Sleep(4 * time.Second)
		return lose(t, root, rdb)
	})
	if sc.Outcomes["ledger_rebuilding"] == 0 {
		t.Errorf("no ledger_rebuilding answer: the flush did not hit the sale (output:\n%s)", out)
	}
}
