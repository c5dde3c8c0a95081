//go:build !crashdrill

package main

import (
	"log/slog"

	"github.com/blitzbuy/blitzbuy/services/internal/checkout"
)

// drillLedger is the identity in every real build; the crash drill's build
// (drill_crash.go, -tags crashdrill) wraps the ledger instead.
func drillLedger(l checkout.Ledger, _ *slog.Logger) checkout.Ledger { return l }
