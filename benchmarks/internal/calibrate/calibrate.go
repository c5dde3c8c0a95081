// Package calibrate measures the bare ceiling every blitzbench rate is a
// ratio of: the reference server (internal/refserver) in its own process,
// driven closed-loop by the same generator with the same connection
// settings and requests shaped like real orders. A ratio to a ceiling
// measured seconds earlier on the same machine is what stays comparable
// across machines and noisy neighbours.
package calibrate

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/requests"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// Conns is the closed-model concurrency of the calibration: enough
// to saturate two cores, few enough that the kernel is not the bottleneck.
const Conns = 64

// Command is the subcommand of the running binary that serves the
// reference server and prints its address: Run starts it as
// `<this binary> refserver --addr 127.0.0.1:0`, so a command that calibrates
// must dispatch it (a separate process keeps the server's CPU apart from
// the generator's).
const Command = "refserver"

// Run measures the ceiling for d: the reference server (chi, no-op order
// route) started through Command, driven with Conns connections.
func Run(ctx context.Context, d time.Duration, sign requests.Signer) (*results.Calibration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, Command, "--addr", "127.0.0.1:0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("calibration: start the reference server: %w", err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		return nil, fmt.Errorf("calibration: reference server did not report its address: %w", err)
	}
	addr := strings.TrimSpace(line)

	// Enough distinct requests for d at a generous ceiling; a worker that
	// runs out simply stops (Closed bounds by count and time).
	n := int(d.Seconds() * 80_000)
	reqs, err := requests.Honest(sign, "calibration", n, 1)
	if err != nil {
		return nil, err
	}
	cfg := load.Config{Addr: addr, Path: "/v1/sales/calibration/orders", Timeout: 10 * time.Second}
	run, err := load.Closed(ctx, cfg, Conns, d, reqs)
	if err != nil {
		return nil, err
	}
	s := load.Summarize(run, "closed")
	if bad := s.Load.Requests - s.Count(load.Accepted); bad != 0 {
		return nil, fmt.Errorf("calibration: %d of %d answers were not 202 (%v)", bad, s.Load.Requests, s.Outcomes)
	}
	return &results.Calibration{
		Server:      "refserver: net/http + chi, no-op POST /v1/sales/{id}/orders (same timeouts as order-api)",
		Connections: Conns, Seconds: s.Load.Seconds, Requests: s.Load.Requests,
		CeilingRPS: s.Load.AchievedRPS, Latency: s.Latency, GeneratorCPUShare: s.Generator.CPUShare,
	}, nil
}
