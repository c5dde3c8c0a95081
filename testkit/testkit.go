// Package testkit holds what the workspace's tests share instead of copying:
// random ids here, and in sub-packages building and running binaries (proc),
// the repository root and the stack's env files (localenv), the promtool
// lookup (promtool) and the Redis key layout of a sale (ledgerkeys). It
// imports only the standard library, so any module may use it in tests.
package testkit

import (
	"crypto/rand"
	"encoding/hex"
)

// RandHex returns n random bytes hex-encoded (2n characters): unique sale
// ids, secrets and topic suffixes, so tests sharing the stack never collide.
// crypto/rand.Read never fails (the runtime aborts first), so neither does it.
func RandHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
