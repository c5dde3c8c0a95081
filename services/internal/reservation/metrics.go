package reservation

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/rueidis"
)

// Collector exports each sale's live ledger on every scrape: stock,
// remaining, sold (stock - remaining) and the outbox size. Sale ids are
// chosen by admins and few, so they are a bounded label. It also exports
// the memory Redis uses and its maxmemory (INFO memory): at maxmemory Redis
// refuses new orders (noeviction), so that ratio is alerted on before.
type Collector struct {
	store   *Store
	timeout time.Duration
	max     int

	stock, remaining, sold, pending, pendingTotal *prometheus.Desc
	memUsed, memMax                               *prometheus.Desc
	holdUnits, overdue                            *prometheus.Desc
}

var _ prometheus.Collector = (*Collector)(nil)

// NewCollector returns a collector over store (at most 1,000 sales per scrape).
func NewCollector(store *Store) *Collector {
	l := []string{"sale"}
	return &Collector{
		store: store, timeout: 2 * time.Second, max: 1000,
		stock:        prometheus.NewDesc("blitzbuy_sale_stock", "Units a sale offers in all.", l, nil),
		remaining:    prometheus.NewDesc("blitzbuy_sale_remaining", "Units a sale still has (Redis, the hot ledger).", l, nil),
		sold:         prometheus.NewDesc("blitzbuy_sale_sold", "Units held by live reservations or persisted (stock - remaining).", l, nil),
		pending:      prometheus.NewDesc("blitzbuy_sale_outbox_pending", "Reservations of a sale not yet acknowledged by Kafka.", l, nil),
		pendingTotal: prometheus.NewDesc("blitzbuy_outbox_pending", "Reservations not yet acknowledged by Kafka, all sales.", nil, nil),
		memUsed:      prometheus.NewDesc("blitzbuy_redis_memory_used_bytes", "Memory the ledger's Redis uses (INFO memory used_memory).", nil, nil),
		memMax:       prometheus.NewDesc("blitzbuy_redis_memory_max_bytes", "The ledger's Redis maxmemory (0: unbounded); at it, orders are refused with 503.", nil, nil),
		holdUnits: prometheus.NewDesc("blitzbuy_sale_hold_units", "A sale's checkout-window units by state: held (awaiting payment), paid, expired, cancelled (returned).",
			[]string{"sale", "state"}, nil),
		overdue: prometheus.NewDesc("blitzbuy_holds_overdue", "Held orders whose window ended more than 1 s ago and that are not expired yet (the sweeper is behind), all sales.", nil, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.stock, c.remaining, c.sold, c.pending, c.pendingTotal, c.memUsed, c.memMax, c.holdUnits, c.overdue} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: two pipelined round trips.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	ids, err := c.store.SaleIDs(ctx)
	if err != nil {
		ch <- prometheus.NewInvalidMetric(c.pendingTotal, err)
		return
	}
	if len(ids) > c.max {
		ids = ids[:c.max]
	}
	cl := c.store.client
	cmds := make(rueidis.Commands, 0, 3*len(ids)+1)
	overdueBefore := strconv.FormatInt(time.Now().Add(-time.Second).UnixMilli(), 10)
	for _, id := range ids {
		k := saleKeys(id)
		cmds = append(cmds, cl.B().Hmget().Key(k.sale).Field("stock", "remaining", "hold_ms", "held", "paid", "expired", "cancelled").Build(),
			cl.B().Zcard().Key(k.pending).Build(), cl.B().Zcount().Key(k.holds).Min("-inf").Max(overdueBefore).Build())
	}
	cmds = append(cmds, cl.B().Info().Section("memory").Build())
	res := cl.DoMulti(ctx, cmds...)
	// Without an answer the two memory series are absent from this scrape
	// rather than failing it: the ledger series above still count.
	if info, err := res[len(res)-1].ToString(); err == nil {
		used, err1 := strconv.ParseFloat(infoField(info, "used_memory"), 64)
		limit, err2 := strconv.ParseFloat(infoField(info, "maxmemory"), 64)
		if err1 == nil && err2 == nil {
			ch <- prometheus.MustNewConstMetric(c.memUsed, prometheus.GaugeValue, used)
			ch <- prometheus.MustNewConstMetric(c.memMax, prometheus.GaugeValue, limit)
		}
	}
	var total, overdue float64
	for i, id := range ids {
		vals, err := res[3*i].ToArray()
		if err != nil || len(vals) != 7 {
			continue
		}
		field := func(j int) string { v, _ := vals[j].ToString(); return v }
		stock, err1 := strconv.ParseFloat(field(0), 64)
		remaining, err2 := strconv.ParseFloat(field(1), 64)
		pending, err3 := res[3*i+1].AsInt64()
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		if late, err := res[3*i+2].AsInt64(); err == nil {
			overdue += float64(late)
		}
		if field(2) != "" && field(2) != "0" { // a sale with a checkout window
			for j, state := range []string{"held", "paid", "expired", "cancelled"} {
				n, _ := strconv.ParseFloat(field(3+j), 64)
				ch <- prometheus.MustNewConstMetric(c.holdUnits, prometheus.GaugeValue, n, id, state)
			}
		}
		total += float64(pending)
		ch <- prometheus.MustNewConstMetric(c.stock, prometheus.GaugeValue, stock, id)
		ch <- prometheus.MustNewConstMetric(c.remaining, prometheus.GaugeValue, remaining, id)
		ch <- prometheus.MustNewConstMetric(c.sold, prometheus.GaugeValue, stock-remaining, id)
		ch <- prometheus.MustNewConstMetric(c.pending, prometheus.GaugeValue, float64(pending), id)
	}
	ch <- prometheus.MustNewConstMetric(c.pendingTotal, prometheus.GaugeValue, total)
	ch <- prometheus.MustNewConstMetric(c.overdue, prometheus.GaugeValue, overdue)
}
