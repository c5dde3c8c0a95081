//go:build brokenreserve

package reservation

import (
	"context"
	"strings"
)

// This file exists only to prove that the benchmark harness can fail. Built
// with -tags brokenreserve, order-api checks the stock in one Redis call and
// decrements it in another — the classic check-then-act race — so concurrent
// buyers oversell. blitzbench's verifier test (benchmarks/cmd/blitzbench)
// builds order-api this way and expects hot-item to fail with an oversell
// report naming the orders. Never ship a binary built with this tag.

// precheckSoldOut reads the stock in its own round trip (the race).
func (s *Store) precheckSoldOut(ctx context.Context, k keys, qty int64) bool {
	remaining, err := s.client.Do(ctx, s.client.B().Hget().Key(k.sale).Field("remaining").Build()).AsInt64()
	return err == nil && remaining < qty
}

// stockCheck is reserve.lua's stock test; the broken build removes it so the
// script decrements whatever the earlier HGET saw.
const stockCheck = "elseif tonumber(sale[1]) < qty then\n  outcome = 'sold_out'\n"

func init() {
	if !strings.Contains(reserveLua, stockCheck) {
		panic("brokenreserve: reserve.lua's stock check changed; update reserve_broken.go")
	}
	reserveLua = strings.Replace(reserveLua, stockCheck, "", 1)
}
