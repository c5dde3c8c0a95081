// Package verify checks a finished run against DESIGN.md's invariants I1–I5
// (and I6 for a sale with a checkout window, window.go), reading PostgreSQL
// (the durable ledger), Redis (the hot ledger) and Kafka (the writer's
// consumer lag) directly, and comparing them with the answers the API gave.
// It first waits for the pipeline to drain. It knows the
// storage layout the services document (the Redis keys through
// testkit/ledgerkeys, which reservation's tests hold to its own key
// functions; the orders and sale_totals tables) but imports nothing of
// theirs: it checks the system from outside.
package verify

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/redis/rueidis"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/blitzbuy/blitzbuy/benchmarks/internal/load"
	"github.com/blitzbuy/blitzbuy/benchmarks/internal/results"
	"github.com/blitzbuy/blitzbuy/testkit/ledgerkeys"
	"github.com/blitzbuy/blitzbuy/testkit/redisaddr"
)

// Config says where the stack is.
type Config struct {
	PostgresURL string
	RedisAddr   string
	RedisDB     int
	Brokers     []string
	// Group and Topic are the order writer's consumer group and topic.
	Group, Topic string
}

// Checker holds one connection to each store.
type Checker struct {
	cfg Config
	pg  *pgxpool.Pool
	rdb rueidis.Client
	kcl *kgo.Client
	adm *kadm.Client
}

// New connects to PostgreSQL, Redis and Kafka.
func New(ctx context.Context, cfg Config) (*Checker, error) {
	pg, err := pgxpool.New(ctx, cfg.PostgresURL)
	if err != nil {
		return nil, fmt.Errorf("verify: postgres: %w", err)
	}
	ropt, err := redisaddr.Option(cfg.RedisAddr, cfg.RedisDB)
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("verify: %w", err)
	}
	ropt.DisableCache = true
	rdb, err := rueidis.NewClient(ropt)
	if err != nil {
		pg.Close()
		return nil, fmt.Errorf("verify: redis: %w", err)
	}
	kcl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...))
	if err != nil {
		pg.Close()
		rdb.Close()
		return nil, fmt.Errorf("verify: kafka: %w", err)
	}
	return &Checker{cfg: cfg, pg: pg, rdb: rdb, kcl: kcl, adm: kadm.NewClient(kcl)}, nil
}

// Close releases the connections.
func (c *Checker) Close() {
	c.pg.Close()
	c.rdb.Close()
	c.kcl.Close()
}

// Sale is what a run sold.
type Sale struct {
	ID           string
	Stock, Limit int64
	// HoldSeconds is the checkout window (0: none).
	HoldSeconds int64
}

// Persisted is the number of the sale's orders and units in PostgreSQL, from
// the writer's running totals (one row, cheap enough to poll every second).
func (c *Checker) Persisted(ctx context.Context, sale string) (orders, units int64, err error) {
	err = c.pg.QueryRow(ctx, `SELECT coalesce(sum(orders), 0), coalesce(sum(units), 0) FROM sale_totals WHERE sale_id = $1`, sale).Scan(&orders, &units)
	return orders, units, err
}

// Lag is the writer group's consumer lag on the orders topic, in records.
func (c *Checker) Lag(ctx context.Context) (int64, error) {
	lags, err := c.adm.Lag(ctx, c.cfg.Group)
	if err != nil {
		return 0, err
	}
	l, ok := lags[c.cfg.Group]
	if !ok {
		return 0, fmt.Errorf("no lag for group %q", c.cfg.Group)
	}
	if err := l.Error(); err != nil {
		return 0, err
	}
	return l.Lag.TotalByTopic()[c.cfg.Topic].Lag, nil
}

// Pending is the number of the sale's reservations in the outbox (answered
// or being answered, not yet acknowledged by Kafka or re-published).
func (c *Checker) Pending(ctx context.Context, sale string) (int64, error) {
	return c.rdb.Do(ctx, c.rdb.B().Zcard().Key(ledgerkeys.Pending(sale)).Build()).AsInt64()
}

// Holds is the number of the sale's live checkout holds and of the ended
// holds whose transition event Kafka has not acknowledged yet (both 0 for a
// sale without a window).
func (c *Checker) Holds(ctx context.Context, sale string) (live, ended int64, err error) {
	rs := c.rdb.DoMulti(ctx, c.rdb.B().Zcard().Key(ledgerkeys.Holds(sale)).Build(), c.rdb.B().Zcard().Key(ledgerkeys.Ended(sale)).Build())
	if live, err = rs[0].AsInt64(); err != nil {
		return 0, 0, err
	}
	ended, err = rs[1].AsInt64()
	return live, ended, err
}

// Drain waits until the outbox is empty, the writer's lag is 0 and at least
// `accepted` orders of the sale are persisted, polling every 100 ms, for at
// most timeout. For a sale with a checkout window it also waits until every
// hold has ended and the transitions outbox is empty, so that PostgreSQL
// has every order's final state (the two are read before the lag: a
// transition acknowledged after the lag was read would otherwise escape it). maxLag seeds Drain.MaxLag with what was seen during the load.
// A store that cannot be read is asked again (a drill may have killed a
// broker that is still restarting); only when the timeout passes with the
// last look failed is that an error.
func (c *Checker) Drain(ctx context.Context, sale string, accepted int64, timeout time.Duration, maxLag int64) (results.Drain, error) {
	start := time.Now()
	d := results.Drain{MaxLag: maxLag}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var lastErr error
	for {
		pending, err1 := c.Pending(ctx, sale)
		holds, ended, err4 := c.Holds(ctx, sale)
		lag, err2 := c.Lag(ctx)
		orders, _, err3 := c.Persisted(ctx, sale)
		if lastErr = errors.Join(err1, err2, err3, err4); lastErr == nil {
			d.MaxLag = max(d.MaxLag, lag)
			if pending == 0 && holds == 0 && ended == 0 && lag == 0 && orders >= accepted {
				d.Seconds = time.Since(start).Seconds()
				return d, nil
			}
		}
		select {
		case <-ctx.Done():
			d.Seconds, d.TimedOut = time.Since(start).Seconds(), true
			if lastErr != nil && !errors.Is(lastErr, context.DeadlineExceeded) && !errors.Is(lastErr, context.Canceled) {
				return d, fmt.Errorf("verify: drain: %w", lastErr)
			}
			return d, nil
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// PersistLatency is reserved_at → persisted_at of every persisted order of
// the sale: what a buyer waits until the order reads confirmed.
func (c *Checker) PersistLatency(ctx context.Context, sale string) (results.Latency, error) {
	rows, err := c.pg.Query(ctx, `SELECT (extract(epoch FROM persisted_at - reserved_at) * 1e6)::bigint FROM orders WHERE sale_id = $1 AND status = 'confirmed'`, sale)
	if err != nil {
		return results.Latency{}, err
	}
	defer rows.Close()
	h := load.NewHistogram()
	for rows.Next() {
		var us int64
		if err := rows.Scan(&us); err != nil {
			return results.Latency{}, err
		}
		_ = h.RecordValue(max(us, 0))
	}
	return load.LatencyOf(h), rows.Err()
}

type pgOrder struct {
	user, key, status string
	qty               int64
	// hold is the checkout window's state ("" for a sale without one):
	// held, paid, expired, cancelled; expires and ended its times.
	hold           string
	expires, ended *time.Time
}

// returned reports whether the order's hold ended with its units back in
// the sale: it is persisted, and holds no units.
func (o pgOrder) returned() bool { return o.hold == "expired" || o.hold == "cancelled" }

// Check verifies I1–I5 for one sale after Drain, given every request sent
// and its answer (same index), and I6 when w is not nil (a sale with a
// checkout window: w holds what the run saw of it), with the window's
// figures. Violations are results, not errors; an error means a store could
// not be read.
func (c *Checker) Check(ctx context.Context, sale Sale, reqs []load.Request, res []load.Result, w *Window) ([]results.Invariant, *results.Checkout, error) {
	// PostgreSQL: every order row of the sale.
	rows, err := c.pg.Query(ctx, `SELECT order_id, user_id, idempotency_key, quantity, status, coalesce(hold, ''), expires_at, ended_at
FROM orders WHERE sale_id = $1`, sale.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("verify: read orders: %w", err)
	}
	pg := map[string]pgOrder{}
	for rows.Next() {
		var id string
		var o pgOrder
		if err := rows.Scan(&id, &o.user, &o.key, &o.qty, &o.status, &o.hold, &o.expires, &o.ended); err != nil {
			rows.Close()
			return nil, nil, err
		}
		pg[id] = o
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, nil, err
	}
	// Redis: what is left, and what is still in the outbox.
	final, err := c.Ledger(ctx, sale.ID)
	if err == nil && !final.Read {
		err = errors.New("no such sale")
	}
	if err != nil {
		return nil, nil, fmt.Errorf("verify: read remaining: %w", err)
	}
	pending, err := c.Pending(ctx, sale.ID)
	if err != nil {
		return nil, nil, fmt.Errorf("verify: read outbox: %w", err)
	}
	invs := Evaluate(sale, reqs, res, pg, final.Remaining, pending)
	if w == nil {
		return invs, nil, nil
	}
	w.Final = final
	inv, sum := checkoutWindow(sale, reqs, res, pg, *w)
	return append(invs, inv), sum, nil
}

// Ledger reads the sale hash's counters in one HMGET, which Redis executes
// atomically between two scripts: a consistent view of the hot ledger.
func (c *Checker) Ledger(ctx context.Context, sale string) (Ledger, error) {
	vs, err := c.rdb.Do(ctx, c.rdb.B().Hmget().Key(ledgerkeys.Sale(sale)).
		Field("stock", "remaining", "held", "paid", "expired", "cancelled").Build()).ToArray()
	l := Ledger{At: time.Now()}
	if err != nil {
		return l, err
	}
	n := make([]int64, len(vs))
	for i, v := range vs {
		if v.IsNil() {
			continue // a counter not yet written is 0; no stock is no sale
		}
		if n[i], err = v.AsInt64(); err != nil {
			return l, fmt.Errorf("field %d: %w", i, err)
		}
	}
	l.Read = len(vs) == 6 && !vs[0].IsNil()
	if l.Read {
		l.Stock, l.Remaining, l.Held, l.Paid, l.Expired, l.Cancelled = n[0], n[1], n[2], n[3], n[4], n[5]
	}
	return l, nil
}

// Evaluate is Check's logic on data already read, separated so that it can
// be tested against hand-made violations. It reads the API's answers and
// the orders table once, then judges each invariant on its own.
//
// With a checkout window, an order whose hold expired or was cancelled is
// persisted (I2 and I3 count it) but holds no units: its units were sold
// again, so I1, I4 and I5 count only the live orders' units, and I6
// (checkoutWindow) checks that they came back exactly once.
func Evaluate(sale Sale, reqs []load.Request, res []load.Result, pg map[string]pgOrder, remaining, pending int64) []results.Invariant {
	a := readAnswers(reqs, res)
	a.subtractReturned(reqs, pg)
	l := readLedger(pg)
	return []results.Invariant{
		noOversell(sale, reqs, a, l, remaining),
		noLostOrder(a, pg),
		idempotency(a, l),
		perUserLimit(sale, a, l),
		noLeak(sale, l, remaining, pending),
	}
}

// answer is what the API said to one request.
type answer struct {
	outcome load.Outcome
	orderID string
}

// answers is the API's side of a run: the distinct accepted orders and who
// got them, and every answer the reservation script gave, per (user, key).
type answers struct {
	accepted    map[string]int // order id -> first request index
	acceptedIDs []string       // sorted: UUIDv7, so in creation order
	byKey       map[[2]string][]answer
	units       int64
	perUser     map[string]int64
	// returned is the units of accepted orders whose hold ended with the
	// units back in the sale (by PostgreSQL); units and perUser exclude
	// them.
	returned int64
	// unanswered holds the (user, key) pairs of requests that got no answer
	// the client could act on: the connection broke, or a proxy answered
	// for an instance that died holding the request. Their outcome is
	// unknown to the client (a retry with the same key would tell it), so a
	// row for such a key without a 202 is not a lost order.
	unanswered map[[2]string]bool
}

func readAnswers(reqs []load.Request, res []load.Result) answers {
	a := answers{accepted: map[string]int{}, byKey: map[[2]string][]answer{}, perUser: map[string]int64{},
		unanswered: map[[2]string]bool{}}
	for i := range res {
		r := &res[i]
		if r.Outcome == load.Accepted || r.Outcome == load.AcceptedReplay {
			if _, ok := a.accepted[r.OrderID]; !ok {
				a.accepted[r.OrderID] = i
			}
		}
		if r.Outcome == load.TransportError || r.Outcome == load.HTTPError {
			a.unanswered[[2]string{reqs[i].User, reqs[i].Key}] = true
		}
		switch r.Outcome {
		case load.NotSent, load.TransportError, load.RateLimited, load.Unavailable, load.LedgerRebuilding:
			// no answer from the reservation script: nothing to compare
		default:
			k := [2]string{reqs[i].User, reqs[i].Key}
			a.byKey[k] = append(a.byKey[k], answer{r.Outcome, r.OrderID})
		}
	}
	a.acceptedIDs = sortedKeys(a.accepted)
	for _, id := range a.acceptedIDs {
		q := reqs[a.accepted[id]]
		a.units += int64(q.Qty)
		a.perUser[q.User] += int64(q.Qty)
	}
	return a
}

// subtractReturned takes the accepted orders whose hold expired or was
// cancelled (in PostgreSQL) out of the units the buyers hold.
func (a *answers) subtractReturned(reqs []load.Request, pg map[string]pgOrder) {
	for _, id := range a.acceptedIDs {
		if o, ok := pg[id]; ok && o.returned() {
			q := reqs[a.accepted[id]]
			a.returned += int64(q.Qty)
			a.units -= int64(q.Qty)
			a.perUser[q.User] -= int64(q.Qty)
		}
	}
}

// ledger is PostgreSQL's side: the confirmed orders' units (those that
// still hold them: not expired or cancelled), per user and per (user, key).
type ledger struct {
	units   int64
	perUser map[string]int64
	keys    map[[2]string][]string // (user, key) -> order ids
}

func readLedger(pg map[string]pgOrder) ledger {
	l := ledger{perUser: map[string]int64{}, keys: map[[2]string][]string{}}
	for id, o := range pg {
		if o.status != "confirmed" {
			continue
		}
		l.keys[[2]string{o.user, o.key}] = append(l.keys[[2]string{o.user, o.key}], id)
		if o.returned() {
			continue
		}
		l.units += o.qty
		l.perUser[o.user] += o.qty
	}
	return l
}

// invariant is one verdict: it passes with no offending items, and a failing
// one names (at most 20 of) them.
func invariant(id, name string, offending []string, detail string, args ...any) results.Invariant {
	inv := results.Invariant{ID: id, Name: name, Pass: len(offending) == 0, Detail: fmt.Sprintf(detail, args...)}
	if !inv.Pass {
		inv.Offending = capped(offending)
		inv.Detail += fmt.Sprintf(" — %d offending", len(offending))
	}
	return inv
}

// noOversell is I1: the API never accepted more than the stock, PostgreSQL
// never holds more, Redis never went below zero. The offending orders are
// the accepted ones past the stock, in id (= UUIDv7, creation) order.
func noOversell(sale Sale, reqs []load.Request, a answers, l ledger, remaining int64) results.Invariant {
	var over []string
	if a.units > sale.Stock || l.units > sale.Stock || remaining < 0 {
		// Past the stock in creation order; with returned units in the
		// run that order says nothing (a unit may be sold twice), so then
		// the sale itself is named.
		var units int64
		for _, id := range a.acceptedIDs {
			units += int64(reqs[a.accepted[id]].Qty)
			if units > sale.Stock && a.returned == 0 {
				over = append(over, id)
			}
		}
		if len(over) == 0 {
			over = []string{fmt.Sprintf("sale %s: accepted %d units still held or paid, persisted %d, remaining %d", sale.ID, a.units, l.units, remaining)}
		}
	}
	returned := ""
	if a.returned > 0 {
		returned = fmt.Sprintf(" (%d more came back: expired or cancelled)", a.returned)
	}
	return invariant("I1", "no oversell", over, "stock %d; accepted by the API %d units%s (%d orders); persisted %d; remaining %d",
		sale.Stock, a.units, returned, len(a.acceptedIDs), l.units, remaining)
}

// noLostOrder is I2: every 202 is one confirmed row; no confirmed row
// without a 202, unless its key's request went unanswered (the client cannot
// know; those rows are counted in the detail).
func noLostOrder(a answers, pg map[string]pgOrder) results.Invariant {
	var lost []string
	inDoubt := 0
	for _, id := range a.acceptedIDs {
		if o, ok := pg[id]; !ok {
			lost = append(lost, id+" (not persisted)")
		} else if o.status != "confirmed" {
			lost = append(lost, id+" ("+o.status+")")
		}
	}
	for _, id := range sortedKeys(pg) {
		if _, ok := a.accepted[id]; !ok && pg[id].status == "confirmed" {
			if a.unanswered[[2]string{pg[id].user, pg[id].key}] {
				inDoubt++
				continue
			}
			lost = append(lost, id+" (persisted, never answered 202)")
		}
	}
	return invariant("I2", "no lost order", lost, "%d orders answered 202, %d rows in PostgreSQL (%d of them for a request that got no answer)",
		len(a.acceptedIDs), len(pg), inDoubt)
}

// idempotency is I3: one (user, key) → one order row, and the same answer
// every time it was asked.
func idempotency(a answers, l ledger) results.Invariant {
	var dup []string
	for _, k := range sortedKeys(l.keys) {
		if ids := l.keys[k]; len(ids) > 1 {
			sort.Strings(ids)
			dup = append(dup, fmt.Sprintf("user %s key %s: %d rows %v", k[0], k[1], len(ids), ids))
		}
	}
	keys, repeated := 0, 0
	for _, k := range sortedKeys(a.byKey) {
		as := a.byKey[k]
		keys++
		if len(as) > 1 {
			repeated++
		}
		if d, ok := firstMismatch(as); ok {
			dup = append(dup, fmt.Sprintf("user %s key %s: %s", k[0], k[1], d))
		}
	}
	return invariant("I3", "idempotency", dup, "%d (user, key) pairs answered, %d of them more than once", keys, repeated)
}

// firstMismatch describes the first answer to a (user, key) that differs
// from the first one remembered; an acceptance and its replay are the same
// answer. A sold-out answer is not remembered (docs/api.md): sold-out answers
// before the first other one are skipped, so "sold out, then accepted once
// stock came back" is one request answered twice, while "accepted, then sold
// out" is a broken promise.
func firstMismatch(as []answer) (string, bool) {
	for len(as) > 1 && as[0].outcome == load.SoldOut {
		as = as[1:]
	}
	first := as[0]
	for _, a := range as[1:] {
		same := a.orderID == first.orderID && (a.outcome == first.outcome ||
			(a.outcome == load.AcceptedReplay && first.outcome == load.Accepted) ||
			(a.outcome == load.Accepted && first.outcome == load.AcceptedReplay))
		if !same {
			return fmt.Sprintf("%s %s then %s %s", first.outcome, first.orderID, a.outcome, a.orderID), true
		}
	}
	return "", false
}

// perUserLimit is I4: nobody holds more than the per-user limit, by the
// API's answers or in PostgreSQL.
func perUserLimit(sale Sale, a answers, l ledger) results.Invariant {
	var greedy []string
	for _, u := range sortedKeys(a.perUser) {
		if a.perUser[u] > sale.Limit || l.perUser[u] > sale.Limit {
			greedy = append(greedy, fmt.Sprintf("user %s: accepted %d, persisted %d", u, a.perUser[u], l.perUser[u]))
		}
	}
	for _, u := range sortedKeys(l.perUser) {
		if _, seen := a.perUser[u]; !seen && l.perUser[u] > sale.Limit {
			greedy = append(greedy, fmt.Sprintf("user %s: persisted %d", u, l.perUser[u]))
		}
	}
	return invariant("I4", "per-user limit", greedy, "limit %d per user; %d buyers", sale.Limit, len(l.perUser))
}

// noLeak is I5: after the drain nothing is stranded: remaining + persisted
// = stock and the outbox is empty.
func noLeak(sale Sale, l ledger, remaining, pending int64) results.Invariant {
	var leak []string
	if remaining+l.units != sale.Stock {
		leak = append(leak, fmt.Sprintf("sale %s: remaining %d + persisted %d = %d, stock %d", sale.ID, remaining, l.units, remaining+l.units, sale.Stock))
	}
	if pending != 0 {
		leak = append(leak, fmt.Sprintf("sale %s: %d reservations still in the outbox", sale.ID, pending))
	}
	return invariant("I5", "no leak", leak, "remaining %d + persisted %d vs stock %d; outbox %d", remaining, l.units, sale.Stock, pending)
}

func capped(xs []string) []string {
	if len(xs) > 20 {
		return append(slices.Clone(xs[:20]), fmt.Sprintf("… and %d more", len(xs)-20))
	}
	return xs
}

func sortedKeys[K interface{ ~string | ~[2]string }, V any](m map[K]V) []K {
	ks := make([]K, 0, len(m))
	for k := range m {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return less(ks[i], ks[j]) })
	return ks
}

func less[K interface{ ~string | ~[2]string }](a, b K) bool {
	switch x := any(a).(type) {
	case string:
		return x < any(b).(string)
	case [2]string:
		y := any(b).([2]string)
		return strings.Compare(x[0]+"\x00"+x[1], y[0]+"\x00"+y[1]) < 0
	}
	return false
}

// Cleanup removes a verified bench sale from Redis: its sale hash, buyers,
// outbox, reservations and every idempotency record the run created. Each of
// those records lives 24 h by contract, so repeated runs would otherwise
// grow Redis by gigabytes a day — and the AOF rewrites of a dataset that size
// are exactly the background noise a benchmark must not measure. PostgreSQL
// keeps the orders (the durable ledger). Keys are named, not scanned, so the
// cost is one UNLINK per batch of keys whatever else Redis holds.
//
// It names keys through testkit/ledgerkeys, which reservation's
// TestKeysMatchLedgerkeys holds to the services' layout, and
// TestVerifierCatchesOversell checks that nothing of a cleaned sale is left.
func (c *Checker) Cleanup(ctx context.Context, sale string, reqs []load.Request, res []load.Result) error {
	keys := []string{ledgerkeys.Sale(sale), ledgerkeys.Users(sale), ledgerkeys.Pending(sale),
		ledgerkeys.Holds(sale), ledgerkeys.Ended(sale)}
	seen := map[[2]string]bool{}
	for i := range res {
		if res[i].Outcome == load.NotSent {
			continue
		}
		k := [2]string{reqs[i].User, reqs[i].Key}
		if !seen[k] {
			seen[k] = true
			keys = append(keys, ledgerkeys.Idem(sale, k[0], k[1]))
		}
		if res[i].OrderID != "" {
			keys = append(keys, ledgerkeys.Order(sale, res[i].OrderID))
		}
	}
	for len(keys) > 0 {
		n := min(len(keys), 1000)
		if err := c.rdb.Do(ctx, c.rdb.B().Unlink().Key(keys[:n]...).Build()).Error(); err != nil {
			return fmt.Errorf("verify: cleanup: %w", err)
		}
		keys = keys[n:]
	}
	return c.rdb.Do(ctx, c.rdb.B().Srem().Key(ledgerkeys.SalesIndex).Member(sale).Build()).Error()
}

// Leftovers lists up to 10 keys still under the sale's hash tag (a SCAN of
// the whole keyspace: for tests, not for runs).
func (c *Checker) Leftovers(ctx context.Context, sale string) ([]string, error) {
	var left []string
	var cursor uint64
	for {
		e, err := c.rdb.Do(ctx, c.rdb.B().Scan().Cursor(cursor).Match(ledgerkeys.Pattern(sale)).Count(10000).Build()).AsScanEntry()
		if err != nil {
			return nil, err
		}
		left = append(left, e.Elements...)
		if cursor = e.Cursor; cursor == 0 || len(left) >= 10 {
			return left, nil
		}
	}
}
