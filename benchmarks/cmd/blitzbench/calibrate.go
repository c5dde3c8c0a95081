package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/refserver"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
)

// calibrationConns is the closed-model concurrency of the calibration: enough
// to saturate two cores, few enough that the kernel is not the bottleneck.
const calibrationConns = 64

// calibrate measures the bare ceiling: the reference server (chi, no-op order
// route) in its own process, driven closed-loop by the same generator with
// the same connection settings and requests shaped like real orders.
func calibrate(ctx context.Context, d time.Duration, sign signer) (*results.Calibration, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "refserver", "--addr", "127.0.0.1:0")
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
	reqs, err := honestRequests(sign, "calibration", n, 1)
	if err != nil {
		return nil, err
	}
	cfg := load.Config{Addr: addr, Path: "/v1/sales/calibration/orders", Timeout: 10 * time.Second}
	run, err := load.Closed(ctx, cfg, calibrationConns, d, reqs)
	if err != nil {
		return nil, err
	}
	s := load.Summarize(run, "closed")
	if bad := s.Load.Requests - s.Count(load.Accepted); bad != 0 {
		return nil, fmt.Errorf("calibration: %d of %d answers were not 202 (%v)", bad, s.Load.Requests, s.Outcomes)
	}
	return &results.Calibration{
		Server:      "refserver: net/http + chi, no-op POST /v1/sales/{id}/orders (same timeouts as order-api)",
		Connections: calibrationConns, Seconds: s.Load.Seconds, Requests: s.Load.Requests,
		CeilingRPS: s.Load.AchievedRPS, Latency: s.Latency, GeneratorCPUShare: s.Generator.CPUShare,
	}, nil
}

// serveRef is the hidden `blitzbench refserver` subcommand.
func serveRef(ctx context.Context, args []string) error {
	addr := "127.0.0.1:0"
	if len(args) == 2 && args[0] == "--addr" {
		addr = args[1]
	}
	return refserver.Serve(ctx, addr, func(a string) { fmt.Println(a) })
}
