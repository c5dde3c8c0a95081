package reservation

// The key functions, for keys_test.go (package reservation_test) to compare
// with testkit/ledgerkeys.
var (
	OrderKey   = orderKey
	IdemKey    = idemKey
	RateKey    = rateKey
	PayIdemKey = payIdemKey
	SalesIndex = salesIndex
)

// SaleKeys returns saleKeys(saleID) as (sale, users, pending).
func SaleKeys(saleID string) (sale, users, pending string) {
	k := saleKeys(saleID)
	return k.sale, k.users, k.pending
}

// HoldKeys returns saleKeys(saleID)'s checkout window keys: (holds, ended).
func HoldKeys(saleID string) (holds, ended string) {
	k := saleKeys(saleID)
	return k.holds, k.ended
}

// CountDial counts a connection on w without dialling one.
func CountDial(w *NodeWatch) { w.dials.Add(1) }
