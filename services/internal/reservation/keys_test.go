package reservation_test

import (
	"testing"

	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
)

// The verifier and the tests name and clean this package's Redis keys
// through testkit/ledgerkeys; this test keeps the two layouts one.
func TestKeysMatchLedgerkeys(t *testing.T) {
	for _, c := range []struct{ sale, order, user, key string }{
		{"s1", "s1.0190a1b2-c3d4-7e5f-8a9b-0c1d2e3f4a5b", "alice", "k1"},
		{"hot-item_2", "hot-item_2.x", "u-42", ""},
		{"a", "a.b", "ab", "c"},
	} {
		sale, users, pending := reservation.SaleKeys(c.sale)
		holds, ended := reservation.HoldKeys(c.sale)
		for _, k := range []struct{ name, got, want string }{
			{"sale", sale, ledgerkeys.Sale(c.sale)},
			{"users", users, ledgerkeys.Users(c.sale)},
			{"pending", pending, ledgerkeys.Pending(c.sale)},
			{"order", reservation.OrderKey(c.sale, c.order), ledgerkeys.Order(c.sale, c.order)},
			{"idem", reservation.IdemKey(c.sale, c.user, c.key), ledgerkeys.Idem(c.sale, c.user, c.key)},
			{"rate limit", reservation.RateKey(c.sale, c.user), ledgerkeys.RateLimit(c.sale, c.user)},
			{"holds", holds, ledgerkeys.Holds(c.sale)},
			{"ended", ended, ledgerkeys.Ended(c.sale)},
			{"payment idem", reservation.PayIdemKey(c.sale, c.user, c.key), ledgerkeys.PayIdem(c.sale, c.user, c.key)},
		} {
			if k.got != k.want {
				t.Errorf("sale %s: %s key: got %q, want %q (ledgerkeys)", c.sale, k.name, k.got, k.want)
			}
		}
	}
	if reservation.SalesIndex != ledgerkeys.SalesIndex {
		t.Errorf("sales index: got %q, want %q (ledgerkeys)", reservation.SalesIndex, ledgerkeys.SalesIndex)
	}
}
