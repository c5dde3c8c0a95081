package proc

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/testkit"
)

// TestMain doubles as the child process of the Start tests: with
// PROC_TEST_HELPER set, the test binary plays a small service instead of
// running tests.
func TestMain(m *testing.M) {
	if mode := os.Getenv("PROC_TEST_HELPER"); mode != "" {
		helper(mode)
		return
	}
	os.Exit(m.Run())
}

func helper(mode string) {
	fmt.Fprintln(os.Stderr, "helper says hello")
	switch mode {
	case "serve": // /readyz answers 200; SIGTERM exits 0
		term := make(chan os.Signal, 1)
		signal.Notify(term, syscall.SIGTERM)
		ln, err := net.Listen("tcp", os.Getenv("PROC_TEST_ADDR"))
		if err != nil {
			os.Exit(2)
		}
		go func() { _ = http.Serve(ln, http.HandlerFunc(func(http.ResponseWriter, *http.Request) {})) }()
		<-term
		os.Exit(0)
	case "exit3":
		os.Exit(3)
	case "hang": // ignores SIGTERM
		signal.Ignore(syscall.SIGTERM)
		time.Sleep(time.Minute)
	}
}

// fatal runs fn and returns its Fatal message ("" if none).
func fatal(t *testing.T, fn func(tb testing.TB)) string { return testkit.FatalOf(t, fn) }

func TestBuild(t *testing.T) {
	t.Setenv("GOWORK", "off") // the temporary module is not in the workspace
	dir := t.TempDir()
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write("go.mod", "module example.com/hello\n\ngo 1.21\n")
	write("main.go", "package main\n\nimport \"fmt\"\n\nvar greeting = \"hello\"\n\nfunc main() { fmt.Print(greeting) }\n")

	out := filepath.Join(t.TempDir(), "hello")
	if got := Build(t, dir, out, ".", "-ldflags", "-X main.greeting=built"); got != out {
		t.Errorf("Build returned %q, want %q", got, out)
	}
	b, err := exec.Command(out).Output()
	if err != nil || string(b) != "built" {
		t.Errorf("the built binary printed %q (err %v), want %q (flags passed to go build)", b, err, "built")
	}

	write("main.go", "package main\n\nfunc main() { undefined() }\n")
	msg := fatal(t, func(tb testing.TB) { Build(tb, dir, out, ".") })
	if !strings.Contains(msg, "go build .") || !strings.Contains(msg, "undefined") {
		t.Errorf("a failing build reported %q, want the command and the compiler's output", msg)
	}
}

func TestStartServeStop(t *testing.T) {
	addr := FreeAddr(t)
	p := Start(t, os.Args[0], "PROC_TEST_HELPER=serve", "PROC_TEST_ADDR="+addr)
	WaitReady(t, "http://"+addr+"/readyz", 10*time.Second)
	if p.Exited() {
		t.Fatal("the process exited while serving")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("Stop after SIGTERM = %v, want a clean exit", err)
	}
	if !p.Exited() {
		t.Error("Exited() = false after Stop")
	}
	if err := p.Stop(); err != nil {
		t.Errorf("a second Stop = %v, want the same clean exit", err)
	}
	b, err := os.ReadFile(p.Log)
	if err != nil || !strings.Contains(string(b), "helper says hello") {
		t.Errorf("log %s holds %q (err %v), want the process's stderr", p.Log, b, err)
	}
}

func TestWaitReportsExitStatus(t *testing.T) {
	p := Start(t, os.Args[0], "PROC_TEST_HELPER=exit3")
	err := p.Wait(10 * time.Second)
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 3 {
		t.Errorf("Wait = %v, want exit status 3", err)
	}
}

func TestWaitKillsAfterTimeout(t *testing.T) {
	p := Start(t, os.Args[0], "PROC_TEST_HELPER=hang")
	start := time.Now()
	if err := p.Wait(300 * time.Millisecond); err == nil || !strings.Contains(err.Error(), "killed") {
		t.Errorf("Wait on a hanging process = %v, want a killed error", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("Wait took %s, want about its 300 ms timeout", took)
	}
	if !p.Exited() {
		t.Error("the process still runs after Wait killed it")
	}
}

func TestWaitReady(t *testing.T) {
	var calls atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) < 3 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	defer srv.Close()
	if err := waitReady(srv.URL, 5*time.Second); err != nil {
		t.Errorf("got %v, want ready after the third poll", err)
	}
	if got := calls.Load(); got != 3 {
		t.Errorf("got %d polls, want 3", got)
	}

	never := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	defer never.Close()
	err := waitReady(never.URL, 200*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "status 503") {
		t.Errorf("got %v, want a timeout naming the last status, 503", err)
	}
	msg := fatal(t, func(tb testing.TB) { WaitReady(tb, never.URL, 100*time.Millisecond) })
	if !strings.Contains(msg, never.URL) {
		t.Errorf("WaitReady failed the test with %q, want the URL in it", msg)
	}
}

func TestFreeAddr(t *testing.T) {
	addr := FreeAddr(t)
	host, _, err := net.SplitHostPort(addr)
	if err != nil || host != "127.0.0.1" {
		t.Fatalf("FreeAddr = %q (err %v), want 127.0.0.1:<port>", addr, err)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatalf("listen on FreeAddr %s: %v", addr, err)
	}
	ln.Close()
	if p := FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort = %d, want a TCP port", p)
	}
}
