package promtool

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

type fakeTB struct {
	testing.TB
	msg string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func path(t *testing.T) (got, fatal string) {
	f := &fakeTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); got = Path(f) }()
	<-done
	return got, f.msg
}

func TestPath(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("PATH", dir)
	if got, msg := path(t); msg == "" || !strings.Contains(msg, "apt-get install prometheus") {
		t.Errorf("with no promtool in PATH: got %q and failure %q, want a failure saying how to install it", got, msg)
	}

	want := filepath.Join(dir, "promtool")
	if err := os.WriteFile(want, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	if got, msg := path(t); got != want || msg != "" {
		t.Errorf("got %q (failure %q), want %q", got, msg, want)
	}
}
