//go:build crashdrill

package main

import (
	"context"
	"log/slog"
	"os"
	"syscall"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// This file exists only for the relay's fault drill (crash_test.go), which
// builds order-api with -tags crashdrill: with BLITZBUY_TEST_CRASH_AFTER_RESERVE
// set to true, the process SIGKILLs itself right after its first
// reservation, before publishing, stranding the order in the outbox. Never
// ship a binary built with this tag.

func drillLedger(l checkout.Ledger, log *slog.Logger) checkout.Ledger {
	if os.Getenv("BLITZBUY_TEST_CRASH_AFTER_RESERVE") != "true" {
		return l
	}
	log.Warn("BLITZBUY_TEST_CRASH_AFTER_RESERVE is set: the process kills itself after its first reservation")
	return crashAfterReserve{l, log}
}

type crashAfterReserve struct {
	checkout.Ledger
	log *slog.Logger
}

func (c crashAfterReserve) Reserve(ctx context.Context, req order.Request) (order.Reservation, error) {
	res, err := c.Ledger.Reserve(ctx, req)
	if err == nil && res.Err == nil && !res.Replayed {
		c.log.Warn("test hook: SIGKILL after reserve", "order_id", res.Order.ID)
		_ = syscall.Kill(os.Getpid(), syscall.SIGKILL)
		select {} // never publish
	}
	return res, err
}
