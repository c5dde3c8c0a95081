package stacktest

import (
	"os/exec"
	"path/filepath"
	"testing"
)

// Stop stops one component of the local stack (redis, postgres, kafka…)
// through infra/local/stack.sh and registers a cleanup that starts it again,
// so a fault drill restores the stack even when it fails. Drills that call it
// must run alone (go tool task test:faults), never beside other tests.
func Stop(tb testing.TB, component string) {
	tb.Helper()
	stack(tb, "down", component)
	tb.Cleanup(func() { stack(tb, "up", component) })
}

// Start starts a component stopped by Stop (waiting until it is ready).
func Start(tb testing.TB, component string) {
	tb.Helper()
	stack(tb, "up", component)
}

func stack(tb testing.TB, verb, component string) {
	tb.Helper()
	root, err := RepoRoot()
	if err != nil {
		tb.Fatal(err)
	}
	out, err := exec.Command("bash", filepath.Join(root, "infra", "local", "stack.sh"), verb, component).CombinedOutput()
	if err != nil {
		tb.Fatalf("stack.sh %s %s: %v\n%s", verb, component, err, out)
	}
	tb.Logf("stack.sh %s %s: ok", verb, component)
}
