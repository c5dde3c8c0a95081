package promtool

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/blitzbuy/blitzbuy/testkit"
)

func path(t *testing.T) (got, fatal string) {
	fatal = testkit.FatalOf(t, func(tb testing.TB) { got = Path(tb) })
	return got, fatal
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
