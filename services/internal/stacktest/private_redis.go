package stacktest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/redis/rueidis"

	"github.com/blitzbuy/blitzbuy/testkit/proc"
)

// PrivateRedis starts a redis-server of the test's own (Debian's binary, as
// the local stack runs) on a free loopback port, without persistence, with
// the extra flags args (e.g. "--maxmemory", "4mb"), and returns its address.
// It is killed when tb ends. Tests that reconfigure Redis (CONFIG SET), fill
// its memory or otherwise need a server nobody else uses take this one: the
// shared stack's Redis is never reconfigured by a test.
func PrivateRedis(tb testing.TB, args ...string) string {
	tb.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		tb.Fatalf("redis-server not found (go tool task up installs it): %v", err)
	}
	port := strconv.Itoa(proc.FreePort(tb))
	dir := tb.TempDir()
	cmd := exec.Command(bin, append([]string{"--bind", "127.0.0.1", "--port", port, "--dir", dir,
		"--save", "", "--appendonly", "no", "--daemonize", "no", "--protected-mode", "yes"}, args...)...)
	logf, err := os.Create(filepath.Join(dir, "redis.log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start redis-server: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	tb.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if tb.Failed() {
			b, _ := os.ReadFile(logf.Name())
			tb.Logf("private redis-server log:\n%s", b)
		}
	})
	addr := "127.0.0.1:" + port
	deadline := time.Now().Add(10 * time.Second)
	for {
		c, err := rueidis.NewClient(rueidis.ClientOption{InitAddress: []string{addr}, DisableRetry: true})
		if err == nil {
			err = c.Do(context.Background(), c.B().Ping().Build()).Error()
			c.Close()
			if err == nil {
				return addr
			}
		}
		select {
		case <-done:
			b, _ := os.ReadFile(logf.Name())
			tb.Fatalf("redis-server %v exited before answering:\n%s", args, b)
		default:
		}
		if time.Now().After(deadline) {
			tb.Fatalf("redis-server on %s: no answer within 10s: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
