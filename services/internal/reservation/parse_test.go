package reservation

import (
	"errors"
	"testing"
	"time"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
)

// reserve.lua's replies, parsed without Redis: each shape the script can
// answer, and the ones it must never answer.
func TestParseReserve(t *testing.T) {
	req := order.Request{SaleID: "s", UserID: "u", IdempotencyKey: "k", Quantity: 2}
	// r appends the rate limit's part of a reply (3 requests left, 60 s to
	// reset) and no checkout window.
	r := func(head ...string) []string { return append(head, "3", "60000", "") }
	allowed := order.RateLimit{Allowed: true, Limit: 5, Remaining: 3, Reset: time.Minute}
	errRateLimited := &order.Error{Code: order.CodeRateLimited}
	tests := []struct {
		name         string
		reply        []string
		wantErr      error
		wantInfra    bool
		wantReplayed bool
		wantReject   error
		wantOrderID  string
		wantRL       order.RateLimit // zero: the default allowed decision below
	}{
		{name: "accepted", reply: r("new", "accepted", "s.id", "2", "1700000000000"), wantOrderID: "s.id"},
		{name: "replayed acceptance", reply: r("replay", "accepted", "s.id", "2", "1700000000000"), wantReplayed: true, wantOrderID: "s.id"},
		{name: "sold out", reply: r("new", "sold_out", "", "2", ""), wantReject: order.ErrSoldOut},
		{name: "limit", reply: r("new", "limit", "", "2", ""), wantReject: order.ErrPurchaseLimit},
		{name: "not active", reply: r("new", "not_active", "", "2", ""), wantReject: order.ErrSaleNotActive},
		{name: "replayed sold out", reply: r("replay", "sold_out", "", "2", ""), wantReplayed: true, wantReject: order.ErrSoldOut},
		{name: "rate limited", reply: []string{"limited", "", "", "", "", "0", "1500", ""}, wantReject: errRateLimited,
			wantRL: order.RateLimit{Allowed: false, Limit: 5, Remaining: 0, Reset: 1500 * time.Millisecond}},
		{name: "key reused", reply: r("reused", "", "", "", ""), wantErr: order.ErrIdempotencyKeyReused},
		{name: "unknown sale", reply: []string{"not_found"}, wantErr: order.ErrNotFound},
		{name: "unknown verb", reply: r("maybe", "", "", "", ""), wantInfra: true},
		{name: "short reply", reply: []string{"new", "accepted"}, wantInfra: true},
		{name: "reply of the script before the rate limit moved in", reply: []string{"new", "accepted", "s.id", "2", "1700000000000"}, wantInfra: true},
		{name: "unknown outcome", reply: r("new", "rate_limited", "", "2", ""), wantInfra: true},
		{name: "bad time", reply: r("new", "accepted", "s.id", "2", "soon"), wantInfra: true},
		{name: "bad rate-limit count", reply: []string{"new", "accepted", "s.id", "2", "1700000000000", "many", "10", ""}, wantInfra: true},
		{name: "reply of the script before the checkout window", reply: []string{"new", "accepted", "s.id", "2", "1700000000000", "3", "60000"}, wantInfra: true},
		{name: "bad expiry", reply: []string{"new", "accepted", "s.id", "2", "1700000000000", "3", "60000", "later"}, wantInfra: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res, err := parseReserve(tc.reply, req, 5)
			switch {
			case tc.wantInfra:
				if err == nil || order.CodeOf(err) != order.CodeInternal {
					t.Fatalf("err = %v, want a non-domain error", err)
				}
				return
			case tc.wantErr != nil:
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("err = %v, want %v", err, tc.wantErr)
				}
				return
			case err != nil:
				t.Fatalf("err = %v", err)
			}
			wantRL := tc.wantRL
			if wantRL == (order.RateLimit{}) {
				wantRL = allowed
			}
			if res.RateLimit != wantRL {
				t.Errorf("rate limit %+v, want %+v", res.RateLimit, wantRL)
			}
			if res.Replayed != tc.wantReplayed || !errors.Is(res.Err, tc.wantReject) || (tc.wantReject == nil && res.Err != nil) {
				t.Errorf("got replayed=%v err=%v, want replayed=%v err=%v", res.Replayed, res.Err, tc.wantReplayed, tc.wantReject)
			}
			if res.Order.ID != tc.wantOrderID {
				t.Errorf("order id %q, want %q", res.Order.ID, tc.wantOrderID)
			}
			if tc.wantOrderID != "" {
				want := order.Order{ID: tc.wantOrderID, SaleID: "s", UserID: "u", Quantity: 2, Status: order.StatusPending,
					IdempotencyKey: "k", ReservedAt: time.UnixMilli(1700000000000).UTC()}
				if res.Order != want {
					t.Errorf("order = %+v, want %+v", res.Order, want)
				}
			}
		})
	}
}

// Without a rate limit the script answers 0 0 for it, and no decision comes back.
func TestParseReserveWithoutRateLimit(t *testing.T) {
	res, err := parseReserve([]string{"new", "sold_out", "", "1", "", "0", "0", ""}, order.Request{SaleID: "s", Quantity: 1}, 0)
	if err != nil || !errors.Is(res.Err, order.ErrSoldOut) {
		t.Fatalf("parse = %+v, %v; want sold_out", res, err)
	}
	if res.RateLimit != (order.RateLimit{}) {
		t.Errorf("rate limit %+v, want none", res.RateLimit)
	}
}

func TestBySaleChunks(t *testing.T) {
	var refs []order.Ref
	for i := 0; i < maxPerCall+3; i++ {
		refs = append(refs, order.Ref{SaleID: "a", OrderID: "x"})
	}
	refs = append(refs, order.Ref{SaleID: "b", OrderID: "y"})
	groups := bySale(refs)
	if len(groups) != 3 {
		t.Fatalf("%d groups, want 3 (a: %d + 3, b: 1)", len(groups), maxPerCall)
	}
	if len(groups[0]) != maxPerCall || len(groups[1]) != 3 || len(groups[2]) != 1 {
		t.Errorf("group sizes %d %d %d, want %d 3 1", len(groups[0]), len(groups[1]), len(groups[2]), maxPerCall)
	}
	if refs[groups[2][0]].SaleID != "b" {
		t.Errorf("last group is of sale %q, want b", refs[groups[2][0]].SaleID)
	}
}

// An acceptance in a sale with a checkout window carries its end.
func TestParseReserveHeld(t *testing.T) {
	req := order.Request{SaleID: "s", UserID: "u", IdempotencyKey: "k", Quantity: 1}
	res, err := parseReserve([]string{"new", "accepted", "s.id", "1", "1700000000000", "0", "0", "1700000030000"}, req, 0)
	if err != nil {
		t.Fatal(err)
	}
	if res.Order.ExpiresAt == nil || !res.Order.ExpiresAt.Equal(time.UnixMilli(1700000030000)) || res.Order.Hold != order.HoldHeld {
		t.Errorf("order %+v, want held until 1700000030000", res.Order)
	}
}
