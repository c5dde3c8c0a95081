// Package ledgerkeys is the Redis key layout of BlitzBuy's hot ledger, for
// code that reads or cleans it from outside services/internal/reservation:
// the benchmark verifier and the tests. Every key of a sale carries the hash
// tag {sale:<id>}, which keeps them in one cluster slot so one Lua script may
// touch them all. reservation's tests check that its own key functions
// produce exactly these names, so the two cannot drift apart silently.
package ledgerkeys

import (
	"crypto/sha256"
	"encoding/hex"
)

// SalesIndex is the set of every sale id (SMEMBERS blitzbuy:sales).
const SalesIndex = "blitzbuy:sales"

// Sale is the sale hash (name, stock, remaining, limit, starts_ms, ends_ms,
// hold_ms; with a checkout window also held, paid, expired, cancelled),
// and also the hash tag every other key of the sale begins with.
func Sale(saleID string) string { return "{sale:" + saleID + "}" }

// Users is the hash of user id -> quantity held by live reservations.
func Users(saleID string) string { return Sale(saleID) + ":users" }

// Pending is the outbox: a sorted set of order ids scored by reserved-at.
func Pending(saleID string) string { return Sale(saleID) + ":pending" }

// Holds is the checkout window's live holds (issue #14): a sorted set of
// order ids scored by expires_ms.
func Holds(saleID string) string { return Sale(saleID) + ":holds" }

// Ended is the transitions outbox: a sorted set of the order ids whose hold
// ended (paid, expired, cancelled) and whose event Kafka has not yet
// acknowledged, scored by when the hold ended.
func Ended(saleID string) string { return Sale(saleID) + ":ended" }

// PayIdem is the idempotency record of a payment of (userID, key): the same
// digest as Idem's, under its own prefix.
func PayIdem(saleID, userID, key string) string {
	return Sale(saleID) + ":payidem:" + Idem(saleID, userID, key)[len(Sale(saleID)+":idem:"):]
}

// Order is the hash of one reservation.
func Order(saleID, orderID string) string { return Sale(saleID) + ":order:" + orderID }

// RateLimit is the rate-limit window of (sale, user): a sorted set of the
// user's order requests in the sale's last window, scored by time (ms).
func RateLimit(saleID, userID string) string { return Sale(saleID) + ":rl:" + userID }

// Idem is the idempotency record of (userID, key) in a sale. The pair is
// hashed (SHA-256 of user, NUL, key; first 20 bytes in hex) so no choice of
// user id and key collides with another pair.
func Idem(saleID, userID, key string) string {
	h := sha256.New()
	h.Write([]byte(userID))
	h.Write([]byte{0})
	h.Write([]byte(key))
	return Sale(saleID) + ":idem:" + hex.EncodeToString(h.Sum(nil)[:20])
}

// Pattern is the SCAN MATCH pattern of every key of a sale. Sale ids are
// [A-Za-z0-9_-] (order.ValidSaleID), so no glob character needs escaping.
func Pattern(saleID string) string { return Sale(saleID) + "*" }
