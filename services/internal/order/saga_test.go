package order_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

func TestKindOf(t *testing.T) {
	tests := []struct {
		name     string
		err      error
		replayed bool
		want     order.OutcomeKind
	}{
		{name: "accepted", want: order.OutcomeAccepted},
		{name: "accepted again", replayed: true, want: order.OutcomeReplayed},
		{name: "sold out", err: order.ErrSoldOut, want: order.OutcomeSoldOut},
		{name: "sold out replayed", err: order.ErrSoldOut, replayed: true, want: order.OutcomeSoldOut},
		{name: "limit", err: order.ErrPurchaseLimit, want: order.OutcomeLimit},
		{name: "not active", err: order.ErrSaleNotActive, want: order.OutcomeNotActive},
		{name: "rate limited", err: order.Errorf(order.CodeRateLimited, "slow down"), want: order.OutcomeRateLimited},
		{name: "unavailable", err: order.ErrUnavailable, want: order.OutcomeError},
		{name: "infrastructure", err: errors.New("dial tcp: refused"), want: order.OutcomeError},
		{name: "unknown sale", err: order.ErrNotFound, want: order.OutcomeRejected},
		{name: "key reused", err: order.ErrIdempotencyKeyReused, want: order.OutcomeRejected},
		{name: "invalid request", err: order.Errorf(order.CodeInvalidRequest, "bad"), want: order.OutcomeRejected},
		{name: "wrapped sold out", err: fmt.Errorf("reserve: %w", order.ErrSoldOut), want: order.OutcomeSoldOut},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := order.KindOf(tc.err, tc.replayed); got != tc.want {
				t.Errorf("KindOf(%v, %v) = %q, want %q", tc.err, tc.replayed, got, tc.want)
			}
		})
	}
}

// The outcome labels are a published contract (dashboards, alerts): the set
// and its order may only grow.
func TestOutcomeKindsAreTheMetricLabels(t *testing.T) {
	want := []string{"accepted", "replayed", "sold_out", "limit", "not_active", "rate_limited", "rejected", "error"}
	if len(order.OutcomeKinds) != len(want) {
		t.Fatalf("%d outcome kinds, want %d", len(order.OutcomeKinds), len(want))
	}
	for i, k := range order.OutcomeKinds {
		if string(k) != want[i] {
			t.Errorf("OutcomeKinds[%d] = %q, want %q", i, k, want[i])
		}
	}
}

func TestOutcomeKindRejection(t *testing.T) {
	tests := []struct {
		kind    order.OutcomeKind
		wantErr error
		wantOK  bool
	}{
		{kind: "accepted", wantOK: true},
		{kind: "sold_out", wantErr: order.ErrSoldOut, wantOK: true},
		{kind: "limit", wantErr: order.ErrPurchaseLimit, wantOK: true},
		{kind: "not_active", wantErr: order.ErrSaleNotActive, wantOK: true},
		{kind: "rate_limited"}, // never a ledger answer
		{kind: "banana"},
		{kind: ""},
	}
	for _, tc := range tests {
		t.Run(string(tc.kind), func(t *testing.T) {
			err, ok := tc.kind.Rejection()
			if ok != tc.wantOK || !errors.Is(err, tc.wantErr) || (tc.wantErr == nil && err != nil) {
				t.Errorf("Rejection() = %v, %v; want %v, %v", err, ok, tc.wantErr, tc.wantOK)
			}
		})
	}
}

func TestStageStatus(t *testing.T) {
	tests := []struct {
		stage  order.Stage
		want   order.Status
		wantOK bool
	}{
		{order.StagePending, order.StatusPending, true},
		{order.StagePublished, order.StatusPending, true},
		{order.StagePersisting, order.StatusPending, true},
		{order.StageConfirmed, order.StatusConfirmed, true},
		{order.StageFailed, order.StatusFailed, true},
		{order.StageReleased, "", false},
		{order.StageGone, "", false},
		{"", "", false},
	}
	for _, tc := range tests {
		t.Run(string(tc.stage), func(t *testing.T) {
			got, ok := tc.stage.Status()
			if got != tc.want || ok != tc.wantOK {
				t.Errorf("Status() = %q, %v; want %q, %v", got, ok, tc.want, tc.wantOK)
			}
		})
	}
}

func TestRateLimitSeconds(t *testing.T) {
	tests := []struct {
		reset           time.Duration
		wantReset, want int
	}{
		{0, 0, 1},
		{time.Millisecond, 1, 1},
		{time.Second, 1, 1},
		{1500 * time.Millisecond, 2, 2},
		{59 * time.Second, 59, 59},
	}
	for _, tc := range tests {
		rl := order.RateLimit{Reset: tc.reset}
		if got := rl.ResetSeconds(); got != tc.wantReset {
			t.Errorf("ResetSeconds(%s) = %d, want %d", tc.reset, got, tc.wantReset)
		}
		if got := rl.RetryAfterSeconds(); got != tc.want {
			t.Errorf("RetryAfterSeconds(%s) = %d, want %d", tc.reset, got, tc.want)
		}
	}
}
