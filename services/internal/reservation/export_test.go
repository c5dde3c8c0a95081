package reservation

// The key functions, for keys_test.go (package reservation_test) to compare
// with testkit/ledgerkeys.
var (
	OrderKey   = orderKey
	IdemKey    = idemKey
	RateKey    = rateKey
	SalesIndex = salesIndex
)

// SaleKeys returns saleKeys(saleID) as (sale, users, pending).
func SaleKeys(saleID string) (sale, users, pending string) {
	k := saleKeys(saleID)
	return k.sale, k.users, k.pending
}

// CountDial counts a connection on w without dialling one.
func CountDial(w *NodeWatch) { w.dials.Add(1) }
