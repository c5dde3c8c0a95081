// Package testkit holds what the workspace's tests share instead of copying:
// random ids here, and in sub-packages building and running binaries (proc),
// the repository root and the stack's env files (localenv), the promtool
// lookup (promtool) and the Redis key layout of a sale (ledgerkeys). It
// imports only the standard library, so any module may use it in tests.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"runtime"
	"testing"
)

// RandHex returns n random bytes hex-encoded (2n characters): unique sale
// ids, secrets and topic suffixes, so tests sharing the stack never collide.
// crypto/rand.Read never fails (the runtime aborts first), so neither does it.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// FatalOf runs fn with a testing.TB whose Fatal and Fatalf stop fn (as the
// real ones stop a test) and returns the message, "" if fn never called
// them: how testkit's own tests check that a helper fails the way it says.
func FatalOf(t testing.TB, fn func(tb testing.TB)) string {
	f := &fatalTB{TB: t}
	done := make(chan struct{})
	go func() { defer close(done); fn(f) }()
	<-done
	return f.msg
}

type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper() {}

func (f *fatalTB) Fatalf(format string, args ...any) {
	f.msg = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func (f *fatalTB) Fatal(args ...any) { f.Fatalf("%s", fmt.Sprint(args...)) }
