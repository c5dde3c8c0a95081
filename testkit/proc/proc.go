// Package proc builds the workspace's binaries and runs them as child
// processes of a test: started with extra environment and a log file, waited
// for until an HTTP endpoint answers 200, stopped gracefully when the test
// ends, their log shown when it failed.
package proc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// StopTimeout is how long Stop waits after SIGTERM before it kills.
const StopTimeout = 20 * time.Second

// Build runs `go build [flags] -o out pkg` in dir (the repository root for
// "./services/cmd/orderapi", the package folder for ".") and returns out.
func Build(tb testing.TB, dir, out, pkg string, flags ...string) string {
	tb.Helper()
	args := append(append([]string{"build"}, flags...), "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = dir
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("go build %s %v: %v\n%s", pkg, flags, err, b)
	}
	return out
}

// Process is a binary started by Start.
type Process struct {
	tb   testing.TB
	Cmd  *exec.Cmd
	Log  string // path of the file holding its stdout and stderr
	done chan struct{}
	err  error // cmd.Wait's result, set before done is closed
}

// Start runs bin with the test's environment plus env (later pairs win), its
// output in a log file of tb.TempDir(). When tb ends it is stopped (Stop)
// and, if tb failed, its log is written to the test output.
func Start(tb testing.TB, bin string, env ...string) *Process {
	tb.Helper()
	cmd := exec.Command(bin)
	cmd.Env = append(os.Environ(), env...)
	logf, err := os.Create(filepath.Join(tb.TempDir(), filepath.Base(bin)+".log"))
	if err != nil {
		tb.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		tb.Fatalf("start %s: %v", bin, err)
	}
	p := &Process{tb: tb, Cmd: cmd, Log: logf.Name(), done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		logf.Close()
		close(p.done)
	}()
	tb.Cleanup(func() {
		p.Stop()
		if tb.Failed() {
			b, _ := os.ReadFile(p.Log)
			tb.Logf("%s log:\n%s", filepath.Base(bin), b)
		}
	})
	return p
}

// Wait waits up to d for the process to exit and returns how it ended
// (cmd.Wait's error: nil for exit status 0, an *exec.ExitError otherwise).
// A process still running after d is killed and Wait reports so.
func (p *Process) Wait(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		_ = p.Cmd.Process.Kill()
		<-p.done
		return fmt.Errorf("%s did not exit within %s (killed)", filepath.Base(p.Cmd.Path), d)
	}
}

// Stop sends SIGTERM and waits up to StopTimeout for a graceful exit, then
// kills. It returns how the process ended; stopping an exited process only
// returns that again.
func (p *Process) Stop() error {
	select {
	case <-p.done:
		return p.err
	default:
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil && !errors.Is(err, os.ErrProcessDone) {
		p.tb.Logf("SIGTERM %s: %v", filepath.Base(p.Cmd.Path), err)
	}
	return p.Wait(StopTimeout)
}

// Exited reports whether the process has ended.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// WaitReady polls url every 50 ms until it answers 200 OK, failing tb when
// timeout passes first (with the last status or error seen).
func WaitReady(tb testing.TB, url string, timeout time.Duration) {
	tb.Helper()
	if err := waitReady(url, timeout); err != nil {
		tb.Fatal(err)
	}
}

// Ready is WaitReady returning the error instead of failing a test: for a
// goroutine other than the test's (a drill restarting a service), where
// tb.Fatal may not be called.
func Ready(url string, timeout time.Duration) error { return waitReady(url, timeout) }

func waitReady(url string, timeout time.Duration) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := client.Get(url)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %d", resp.StatusCode)
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not ready within %s (last: %v)", url, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// FreeAddr returns a 127.0.0.1:port address nothing listens on right now,
// for a child process to listen on. (Another process may take the port
// before the child does; on a test machine that is rare enough.)
func FreeAddr(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatalf("free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// FreePort is FreeAddr's port.
func FreePort(tb testing.TB) int {
	tb.Helper()
	_, port, err := net.SplitHostPort(FreeAddr(tb))
	if err != nil {
		tb.Fatal(err)
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		tb.Fatal(err)
	}
	return n
}
