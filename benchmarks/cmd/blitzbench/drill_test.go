//go:build faults

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/testkit"
	"github.com/blitzbuy/blitzbuy/testkit/localenv"
	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// What every drill shares: the real services (the default-profile drills
// start their own), blitzbench on a scenario of testdata/, a fault injected
// once the load runs, and the verifier's I1-I5 over the whole run.

// drillServices builds order-api, order-writer and blitzbench, starts the
// two services against the stack (order-api with apiEnv on top), and returns
// the directory of the binaries and the environment blitzbench needs to
// load that order-api. Both services stop when t ends.
func drillServices(t *testing.T, root string, stack map[string]string, apiEnv ...string) (bin string, benchEnv []string) {
	d := newDrill(t, root, stack, apiEnv...)
	return d.bin, d.benchEnv
}

// drill is the services a drill runs, for the drills that kill and restart
// them (checkout_faults_test.go).
type drill struct {
	bin               string
	apiEnv, writerEnv []string
	apiAddr           string
	benchEnv          []string
	mu                sync.Mutex
	api, writer       *proc.Process
}

func newDrill(t *testing.T, root string, stack map[string]string, apiEnv ...string) *drill {
	env := localenv.Environ(stack)
	d := &drill{bin: t.TempDir()}
	for _, c := range []string{"orderapi", "orderwriter", "blitzbench"} {
		pkg := "./services/cmd/" + c
		if c == "blitzbench" {
			pkg = "./benchmarks/cmd/blitzbench"
		}
		proc.Build(t, root, filepath.Join(d.bin, c), pkg)
	}
	secret, admin := testkit.RandHex(32), testkit.RandHex(16)
	// A group of its own, kept between runs: a new one would first read the
	// whole orders topic of the machine.
	group := "order-writer-redis-loss"
	common := append(slices.Clone(env), "BLITZBUY_LOG_LEVEL=warn", "OTEL_TRACES_SAMPLER=always_off", "BLITZBUY_METRICS_ADDR=127.0.0.1:0",
		"BLITZBUY_WRITER_GROUP="+group)
	d.writerEnv = common
	d.startWriter(t)
	d.apiAddr = proc.FreeAddr(t)
	d.apiEnv = append(append(slices.Clone(common), "BLITZBUY_HTTP_ADDR="+d.apiAddr, "BLITZBUY_JWT_SECRET="+secret, "BLITZBUY_ADMIN_TOKEN="+admin,
		"BLITZBUY_RATE_LIMIT=0"), apiEnv...)
	if err := d.startAPI(t); err != nil {
		t.Fatal(err)
	}
	d.benchEnv = append(slices.Clone(env), "BLITZBUY_API_URL=http://"+d.apiAddr, "BLITZBUY_JWT_SECRET="+secret,
		"BLITZBUY_ADMIN_TOKEN="+admin, "BLITZBUY_WRITER_GROUP="+group)
	return d
}

// startAPI starts order-api (again, after a kill: same address, same
// secrets) and waits until it is ready. It may run in a fault's goroutine,
// so it returns its error rather than failing t.
func (d *drill) startAPI(t *testing.T) error {
	p := proc.Start(t, filepath.Join(d.bin, "orderapi"), d.apiEnv...)
	d.mu.Lock()
	d.api = p
	d.mu.Unlock()
	return proc.Ready("http://"+d.apiAddr+"/readyz", 30*time.Second)
}

// startWriter starts order-writer (again).
func (d *drill) startWriter(t *testing.T) {
	p := proc.Start(t, filepath.Join(d.bin, "orderwriter"), d.writerEnv...)
	d.mu.Lock()
	d.writer = p
	d.mu.Unlock()
}

// kill sends SIGKILL to p and waits for it to be gone.
func kill(p *proc.Process) error {
	if err := p.Cmd.Process.Kill(); err != nil {
		return err
	}
	_ = p.Wait(10 * time.Second)
	return nil
}

// benchDrill runs bin/blitzbench on testdata/<scenario>.yaml with env on top
// of the test's, calls fault once the scenario's load has started (fault
// waits as it needs), and checks I1-I5 and blitzbench's exit status over
// the whole run. It returns the scenario's results and blitzbench's output.
func benchDrill(t *testing.T, root, bin string, env []string, scenario, drain string, fault func() error) (results.Scenario, string) {
	t.Helper()
	out := t.TempDir()
	cmd := exec.Command(filepath.Join(bin, "blitzbench"), "run", "--calibrate-seconds", "0.5", "--drain-timeout", drain,
		"--out", out, filepath.Join(root, "benchmarks/cmd/blitzbench/testdata", scenario+".yaml"))
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var buf lockedBuffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// The load starts after the warm-up and the calibration, with the line
	// "<scenario>: <rate> req/s for <n> s" (the file's name is its scenario's).
	faulted := make(chan error, 1)
	go func() {
		started := "blitzbench: " + scenario + ": "
		deadline := time.Now().Add(4 * time.Minute)
		for !strings.Contains(buf.String(), started) {
			if time.Now().After(deadline) {
				faulted <- fmt.Errorf("the load did not start within 4 minutes")
				return
			}
			time.Sleep(100 * time.Millisecond)
		}
		faulted <- fault()
	}()
	runErr := cmd.Wait()
	if err := <-faulted; err != nil {
		t.Fatalf("the fault: %v; blitzbench said:\n%s", err, buf.String())
	}
	f, err := results.Read(filepath.Join(out, "results.json"))
	if err != nil {
		t.Fatalf("no results.json (%v); blitzbench said:\n%s", err, buf.String())
	}
	sc := f.Scenarios[0]
	t.Logf("outcomes %v; drain %.1f s", sc.Outcomes, sc.Drain.Seconds)
	for _, s := range sc.Timeline {
		t.Logf("  t=%2.0f s  %v  p50 %.0f ms  p99 %.0f ms", s.T, s.Outcomes, s.P50Ms, s.P99Ms)
	}
	for _, id := range []string{"I1", "I2", "I3", "I4", "I5"} {
		if inv := invariant(t, f, id); !inv.Pass {
			t.Errorf("%s = %+v, want pass", id, inv)
		}
	}
	if runErr != nil {
		t.Errorf("blitzbench exit = %v, want 0; output:\n%s", runErr, buf.String())
	}
	return sc, buf.String()
}

// stateDir is where the local stack keeps its state (infra/local/lib.sh).
func stateDir(root string) string {
	if d := os.Getenv("BLITZBUY_STATE_DIR"); d != "" {
		return d
	}
	return filepath.Join(root, ".local")
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
