package reservation_test

import (
	"context"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/blitzbuy/blitzbuy/services/internal/order"
	"github.com/blitzbuy/blitzbuy/services/internal/reservation"
)

// gauges gathers c and returns each unlabelled series' value by name, and
// the sale-labelled ones as name{sale}.
func gauges(t *testing.T, c prometheus.Collector) map[string]float64 {
	t.Helper()
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	out := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetValue() + "}"
			}
			out[name] = m.GetGauge().GetValue()
		}
	}
	return out
}

func TestCollectorExportsRedisMemory(t *testing.T) {
	srv := newOOMServer(t) // maxmemory 64 MiB
	store, err := reservation.New(srv.rdb, reservation.Config{IdempotencyTTL: 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := store.UpsertSale(context.Background(), order.SaleSpec{ID: "m", Name: "m", Stock: 7, PerUserLimit: 1,
		StartsAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	c := reservation.NewCollector(store)
	got := gauges(t, c)
	used, _ := srv.memory(t)
	if v, ok := got["blitzbuy_redis_memory_max_bytes"]; !ok || v != 64<<20 {
		t.Errorf("blitzbuy_redis_memory_max_bytes = %v (exported %v), want %d (--maxmemory 64mb)", v, ok, 64<<20)
	}
	// used_memory moves a little between two INFO calls (client buffers).
	if v, ok := got["blitzbuy_redis_memory_used_bytes"]; !ok || v < float64(used)/2 || v > float64(used)*2 {
		t.Errorf("blitzbuy_redis_memory_used_bytes = %v (exported %v), want about used_memory %d", v, ok, used)
	}
	if v := got["blitzbuy_sale_stock{m}"]; v != 7 {
		t.Errorf("blitzbuy_sale_stock{sale=m} = %v, want 7 (the ledger series still there)", v)
	}

	srv.setMax(t, "0")
	if v := gauges(t, c)["blitzbuy_redis_memory_max_bytes"]; v != 0 {
		t.Errorf("blitzbuy_redis_memory_max_bytes after maxmemory 0 = %v, want 0 (unbounded)", v)
	}
}
