// Package promtool finds the promtool binary for the tests that check
// Prometheus rules and dashboard queries with it.
package promtool

import (
	"os/exec"
	"testing"
)

// Path returns the path of promtool in PATH or fails tb saying how to
// install it: these tests are the only check of what Prometheus loads, so a
// missing tool must not pass silently.
func Path(tb testing.TB) string {
	tb.Helper()
	path, err := exec.LookPath("promtool")
	if err != nil {
		tb.Fatalf("%v", missing(err))
	}
	return path
}

func missing(err error) string {
	return "promtool not found in PATH (" + err.Error() + "): install it with `apt-get install prometheus` " +
		"(Debian ships promtool in that package; `go tool task up` installs it)"
}
