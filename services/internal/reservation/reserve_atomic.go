//go:build !brokenreserve

package reservation

import "context"

// precheckSoldOut is false in every real build: the stock check and the
// decrement happen in one atomic script. See reserve_broken.go.
func (s *Store) precheckSoldOut(context.Context, keys, int64) bool { return false }
