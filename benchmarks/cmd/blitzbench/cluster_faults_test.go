//go:build faults

package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/testkit/localenv"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// The cluster drills run against the cluster profile's stack and services
// (BLITZBUY_PROFILE=cluster go tool task test:faults, which starts them):
// blitzbench loads the load balancer while one node is killed with SIGKILL,
// and its verifier checks I1-I5 over the whole run. Each drill restarts what
// it killed, also when it fails.

// TestClusterFaultKafkaLeaderKilled: the broker leading most of orders'
// partitions dies. Its partitions elect new leaders among the in-sync
// replicas (min.insync.replicas 2 of 3); orders that were waiting for it
// answer 503 unavailable within the publish timeout, none that was answered
// 202 is lost, nothing is oversold.
func TestClusterFaultKafkaLeaderKilled(t *testing.T) {
	d := newClusterDrill(t)
	sc := d.run(t, "cluster-broker", func(t *testing.T) (string, error) {
		node, err := d.kafkaLeader(t)
		if err != nil {
			return "", err
		}
		t.Cleanup(func() { d.stack(t, "up", "kafka") })
		return fmt.Sprintf("kafka-%d", node), d.kill(fmt.Sprintf("kafka-%d", node))
	}, func(t *testing.T) { d.stack(t, "up", "kafka") })
	// Bounded 503s: at most the publish timeout's worth of the orders bound
	// for the dead leader's partitions, not an outage.
	if u, n := sc.Outcomes["unavailable"], sc.Load.Requests; u > n/5 {
		t.Errorf("%d of %d answers were unavailable, want at most a fifth", u, n)
	}
}

// TestClusterFaultRedisPrimaryKilled: the Redis primary dies. The Sentinels
// promote a replica; order-api finds a node its ledger was not vouched for
// (a replica may lack the last acknowledged writes), freezes the sale and
// rebuilds it from PostgreSQL plus what is in flight, then sells on. No 202
// is lost, nothing is oversold, replays survive.
func TestClusterFaultRedisPrimaryKilled(t *testing.T) {
	d := newClusterDrill(t)
	sc := d.run(t, "cluster-redis", func(t *testing.T) (string, error) {
		node, err := d.redisPrimary()
		if err != nil {
			return "", err
		}
		t.Cleanup(func() { d.stack(t, "up", "redis") })
		return fmt.Sprintf("redis-%d", node), d.kill(fmt.Sprintf("redis-%d", node))
	}, func(t *testing.T) {
		d.waitFailover(t)
		d.stack(t, "up", "redis") // the old primary returns as a replica
	})
	if sc.Outcomes["ledger_rebuilding"] == 0 {
		t.Errorf("no ledger_rebuilding answer: the new primary was trusted without a rebuild (outcomes %v)", sc.Outcomes)
	}
	// The last full second of the load (a trailing point may hold nothing).
	last := sc.Timeline[len(sc.Timeline)-1]
	for i := len(sc.Timeline) - 1; i >= 0 && len(last.Outcomes) == 0; i-- {
		last = sc.Timeline[i]
	}
	if last.Outcomes["accepted"] == 0 {
		t.Errorf("the last second accepted nothing (%v): the sale did not resume", last.Outcomes)
	}
}

// TestClusterFaultInstancesKilled: one order-api and one order-writer die
// at once. The load balancer sends new requests to the other API (a refused
// connection is retried there); the other writer takes the dead one's
// partitions once the group notices (its session timeout) and finishes the
// batches the dead one had not committed, which the writer's idempotent
// insert keeps from being persisted twice. Only the requests the dead API
// held fail, and none of those was answered 202.
func TestClusterFaultInstancesKilled(t *testing.T) {
	d := newClusterDrill(t)
	sc := d.run(t, "cluster-instances", func(t *testing.T) (string, error) {
		t.Cleanup(func() { d.services(t) })
		if err := d.kill("orderapi-1"); err != nil {
			return "", err
		}
		return "orderapi-1 and orderwriter-1", d.kill("orderwriter-1")
	}, func(t *testing.T) { d.services(t) })
	if failed := sc.Outcomes["transport_error"] + sc.Outcomes["http_error"]; failed > 100 {
		t.Errorf("%d requests failed, want only those in flight at the dead API (at most 100)", failed)
	}
}

type clusterDrill struct {
	root  string
	stk   map[string]string // .local/stack.env
	env   map[string]string // .local/env: the running services' URL and secrets
	bin   string
	state string
}

func newClusterDrill(t *testing.T) *clusterDrill {
	root := localenv.Root(t)
	stk := localenv.Stack(t, root)
	if stk["BLITZBUY_PROFILE"] != "cluster" {
		t.Fatalf("the stack's profile is %q: the cluster drills need `BLITZBUY_PROFILE=cluster go tool task test:faults`", stk["BLITZBUY_PROFILE"])
	}
	state := stateDir(root)
	env, err := localenv.ReadFile(filepath.Join(state, "env"))
	if err != nil {
		t.Fatalf("%v: the cluster drills load the running services (`BLITZBUY_PROFILE=cluster go tool task run`)", err)
	}
	d := &clusterDrill{root: root, stk: stk, env: env, bin: t.TempDir(), state: state}
	proc.Build(t, root, filepath.Join(d.bin, "blitzbench"), "./benchmarks/cmd/blitzbench")
	proc.WaitReady(t, env["BLITZBUY_API_URL"]+"/readyz", 60*time.Second)
	return d
}

// run runs testdata/<scenario>.yaml with blitzbench against the running
// services, calls fault 6 s into its load and heal 10 s after that, and
// checks I1-I5 and blitzbench's own thresholds.
func (d *clusterDrill) run(t *testing.T, scenario string, fault func(*testing.T) (string, error), heal func(*testing.T)) results.Scenario {
	t.Helper()
	sc, _ := benchDrill(t, d.root, d.bin, localenv.Environ(d.env), scenario, "120s", func() error {
		time.Sleep(6 * time.Second)
		what, err := fault(t)
		t.Logf("killed %s at %s", what, time.Now().Format("15:04:05.000"))
		if err != nil {
			return err
		}
		time.Sleep(10 * time.Second)
		heal(t)
		return nil
	})
	return sc
}

// kill sends SIGKILL to the process whose pid file is name.
func (d *clusterDrill) kill(name string) error {
	b, err := os.ReadFile(filepath.Join(d.state, "run", name+".pid"))
	if err != nil {
		return err
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("%s.pid: %w", name, err)
	}
	return syscall.Kill(pid, syscall.SIGKILL)
}

// stack runs infra/local/stack.sh with the cluster profile.
func (d *clusterDrill) stack(t *testing.T, args ...string) {
	t.Helper()
	cmd := exec.Command("bash", append([]string{filepath.Join(d.root, "infra/local/stack.sh")}, args...)...)
	cmd.Env = append(os.Environ(), "BLITZBUY_PROFILE=cluster")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("stack.sh %s: %v\n%s", strings.Join(args, " "), err, out)
	}
}

// services starts whichever of the cluster's services is not running.
func (d *clusterDrill) services(t *testing.T) {
	t.Helper()
	cmd := exec.Command("bash", filepath.Join(d.root, "infra/local/run.sh"), "start")
	cmd.Env = append(os.Environ(), "BLITZBUY_PROFILE=cluster")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("run.sh start: %v\n%s", err, out)
	}
}

// kafkaLeader is the node id of the broker leading most of orders'
// partitions (orders are keyed by order id, so every partition carries the
// sale's orders).
func (d *clusterDrill) kafkaLeader(t *testing.T) (int32, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(strings.Split(d.stk["BLITZBUY_KAFKA_BROKERS"], ",")...))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, "orders")
	if err != nil {
		return 0, err
	}
	led := map[int32]int{}
	for _, p := range topics["orders"].Partitions {
		led[p.Leader]++
	}
	best, most := int32(-1), 0
	for node, n := range led {
		if n > most || n == most && node < best {
			best, most = node, n
		}
	}
	if best < 0 {
		return 0, fmt.Errorf("no leader for orders: %+v", topics["orders"])
	}
	t.Logf("broker %d leads %d of orders' %d partitions", best, most, len(topics["orders"].Partitions))
	return best, nil
}

// sentinel is a client of the first Sentinel that answers.
func (d *clusterDrill) sentinel() (rueidis.Client, error) {
	return rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:26379", "127.0.0.1:26380", "127.0.0.1:26381"},
		ForceSingleClient: true, DisableCache: true})
}

// redisPrimary is the node number (1-3, port 6379-6381) of the primary.
func (d *clusterDrill) redisPrimary() (int, error) {
	port, err := d.primaryPort()
	if err != nil {
		return 0, err
	}
	return port - 6379 + 1, nil
}

func (d *clusterDrill) primaryPort() (int, error) {
	s, err := d.sentinel()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	addr, err := s.Do(context.Background(), s.B().Arbitrary("SENTINEL", "get-master-addr-by-name").Args("blitzbuy").Build()).AsStrSlice()
	if err != nil || len(addr) != 2 {
		return 0, fmt.Errorf("sentinel get-master-addr-by-name: %v %v", addr, err)
	}
	return strconv.Atoi(addr[1])
}

// waitFailover waits until the Sentinels name a primary that answers.
func (d *clusterDrill) waitFailover(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if port, err := d.primaryPort(); err == nil {
			c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{"127.0.0.1:" + strconv.Itoa(port)}, DisableCache: true})
			if err == nil {
				role, err := c.Do(context.Background(), c.B().Role().Build()).ToArray()
				c.Close()
				if err == nil && len(role) > 0 {
					if r, _ := role[0].ToString(); r == "master" {
						t.Logf("the Sentinels promoted 127.0.0.1:%d", port)
						return
					}
				}
			}
		}
		time.Sleep(250 * time.Millisecond)
	}
	t.Errorf("no primary answered within 30 s of the kill")
}
